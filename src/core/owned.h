/* SPDX-License-Identifier: MIT */
/*
 * Waits owned by a worker: an operation in its io_uring, a descriptor in
 * its epoll set, or a timer in its heap. The record lives on the waiting
 * fiber's stack for as long as the wait lasts; only the owner worker reads
 * or writes it once the fiber has parked, except a sleep's, which another
 * worker may end under the owner's heap lock when the owner is stalled
 * (rescue.c). See owned.c.
 */
#ifndef WEFT_OWNED_H
#define WEFT_OWNED_H

#include <stdbool.h>

#include "list.h"
#include "poller.h"
#include "scheduler.h"
#include "timer.h"

enum owned_kind {
	OWNED_TIMER,	/* a sleep: the timer alone ends it                */
	OWNED_SQE,	/* an io_uring operation (poller_uring.c)          */
	OWNED_FD,	/* an epoll watch, with a timer if it has a deadline */
};

struct owned_wait {
	struct worker *owner;		/* whose ring, set or heap holds it */
	weft_token token;		/* the park to end                  */
	int res;			/* the result the fiber resumes with */
	enum owned_kind kind;
	bool cancelled;			/* the owner asked the kernel to stop */
	bool took_request;		/* cancel_here() consumed weft_cancel()'s
					 * request to end it (owned.c)     */
	bool expired;			/* OWNED_SQE: its deadline did that */
	bool has_timer;			/* OWNED_SQE: its timer was added   */
	int expiry_res;			/* its timer's result when it fires */
	struct timer timer;		/* the heap entry, if it has one    */
	/* OWNED_FD: the watch, linked in the owner's table. */
	struct {
		int fd;
		uint32_t events;	/* EPOLLIN, EPOLLOUT  */
		struct list_node link;	/* on fd_watch.waits */
	} fdw;
};

/* Stamp @ow with its owner and the coming park's token, before anything
 * that may end the wait can see it: a sleep's timer is in the heap, where
 * another worker may fire it (rescue.c), before the fiber parks. */
void weft__owned_begin(struct worker *w, struct owned_wait *ow);

/* Park the calling fiber in @ow, which the caller has begun, set up and
 * (for an SQE) prepared; returns ow->res. Fiber context; yield point. */
int weft__owned_wait(struct worker *w, struct owned_wait *ow);

/* The epoll backend's part of ending an OWNED_FD wait: drop the watch
 * from @w's table (poller_epoll.c). Owner only. */
void weft__epoll_unwatch(struct worker *w, struct owned_wait *ow);

#endif /* WEFT_OWNED_H */
