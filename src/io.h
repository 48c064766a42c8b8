/* SPDX-License-Identifier: MIT */
/*
 * Waits owned by a worker: an operation in its io_uring, or a timer in its
 * heap. The record lives on the waiting fiber's stack for as long as the
 * wait lasts; only the owner worker reads or writes it once the fiber has
 * parked. See io.c.
 */
#ifndef WEFT_IO_H
#define WEFT_IO_H

#include <stdbool.h>
#include <linux/time_types.h>

#include "scheduler.h"
#include "timer.h"

struct owned_wait {
	struct worker *owner;		/* whose ring or heap holds it      */
	weft_token token;		/* the park to end                  */
	int res;			/* the result the fiber resumes with */
	bool is_timer;			/* a timer, not an SQE               */
	bool cancelled;			/* the owner asked the kernel to stop */
	int expiry_res;			/* timer: the result when it fires  */
	struct timer timer;		/* is_timer: the heap entry         */
	struct __kernel_timespec ts;	/* an SQE's deadline (link timeout) */
};

/* Park the calling fiber in @ow, which the caller has set up and (for an
 * SQE) prepared; returns ow->res. Fiber context; yield point. */
int weft__owned_wait(struct worker *w, struct owned_wait *ow);

#endif /* WEFT_IO_H */
