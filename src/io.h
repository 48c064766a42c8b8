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

/*
 * user_data of the CQEs on a worker's ring: an owned wait's record is a
 * pointer (at least CQE_TAG_MAX); anything smaller is one of these tags.
 */
#define TAG_WAKE 1u		/* a MSG_RING wake-up arrived               */
#define TAG_EVENTFD 2u		/* the eventfd read completed              */
#define TAG_MSG 3u		/* our MSG_RING failed; target in bits 8-31 */
#define TAG_LINK_TIMEOUT 4u	/* a deadline's linked timeout             */
#define TAG_CANCEL 5u		/* an IORING_OP_ASYNC_CANCEL               */
#define CQE_TAG_MAX 4096u

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
