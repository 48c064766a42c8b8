/* SPDX-License-Identifier: MIT */
/*
 * Wait queues, the building block of channels, select and the locks in
 * sync.c: a FIFO of waiter records, each on its waiting fiber's stack,
 * guarded by a small spinlock that lives in the primitive itself.
 *
 * The protocol every primitive follows (see Parking in sched.c):
 *   waiter: lock; take a park token; append a waiter holding it; park
 *           with an unlock callback that releases the lock, so no waker
 *           can see the record before the fiber is off its stack. On
 *           wake-up the result says who ended the park: a waker passes
 *           a result >= 0 and has already unlinked the record; a timer
 *           (-ETIMEDOUT) or a canceller (-ECANCELED) has not, so the
 *           fiber locks again and unlinks itself if still linked.
 *   waker:  under the lock, pop the first waiter and claim its park
 *           (weft__claim_park) *before* acting on it: moving data into
 *           its buffer, handing it a lock or a unit. A failed claim means
 *           a timer or canceller got there first: skip that waiter, it
 *           will find itself unlinked. Queue the claimed fibers only
 *           after unlocking.
 * A spinlock is enough: every critical section is a few pointer moves
 * and one element copy, and a fiber never switches while holding one.
 */
#ifndef WEFT_WAITQ_H
#define WEFT_WAITQ_H

#include <stdbool.h>
#include <stdint.h>

#include <ck_pr.h>

#include "internal.h"
#include "list.h"
#include "scheduler.h"
#include "spin.h"

/* An unlock callback for weft__park(): release the spinlock @arg. */
bool weft__unlock_spin(struct fiber *f, void *arg);

/* Waiters ---------------------------------------------------------------- */

/* A FIFO of waiters; guarded by the spinlock of the primitive it is in.
 * All zero is empty (list.h). */
struct waitq {
	struct list waiters;	/* struct waiter, through link             */
};

struct waiter {
	struct list_node link;		/* on a waitq, then on a wake_list */
	weft_token token;		/* the park a waker must claim     */
	void *elem;			/* channel: the element to move    */
	int index;			/* result a waker passes (select:
					 * the case index)                 */
	bool linked;			/* in a waitq right now            */
	int64_t since_ns;		/* mutex: when it first queued     */
};

static inline bool waitq_empty(const struct waitq *q)
{
	return list_empty(&q->waiters);
}

static inline void waitq_push(struct waitq *q, struct waiter *w)
{
	list_push_back(&q->waiters, &w->link);
	w->linked = true;
}

/* Put @w first (a mutex waiter that lost a race keeps its place). */
static inline void waitq_push_front(struct waitq *q, struct waiter *w)
{
	list_push_front(&q->waiters, &w->link);
	w->linked = true;
}

static inline void waitq_unlink(struct waitq *q, struct waiter *w)
{
	list_remove(&q->waiters, &w->link);
	w->linked = false;
}

static inline struct waiter *waitq_pop(struct waitq *q)
{
	struct list_node *n = list_pop_front(&q->waiters);
	struct waiter *w;

	if (!n)
		return NULL;
	w = list_entry(n, struct waiter, link);
	w->linked = false;
	return w;
}

/*
 * Pop waiters until one's park is claimed, with the result @res plus the
 * waiter's index; return its fiber (to be queued by the caller after
 * unlocking) and the record in *out, or NULL if the queue ran out.
 * Caller holds the queue's lock.
 */
static inline struct fiber *waitq_claim_first(struct waitq *q, int res,
					       struct waiter **out)
{
	struct waiter *w;

	while ((w = waitq_pop(q))) {
		struct fiber *f = weft__claim_park(w->token, res + w->index);

		if (f) {
			if (out)
				*out = w;
			return f;
		}
	}
	return NULL;
}

/*
 * Fibers claimed under a lock, queued after it is released. Linked
 * through their waiter records' link, free once waitq_pop() took them
 * off the queue; a record stays valid until its fiber is queued (it
 * cannot run before). All zero is empty.
 */
struct wake_list {
	struct list waiters;
};

/* Claim every waiter of @q (result @res plus its index) onto @wl.
 * Lock held. */
void weft__waitq_claim_all(struct waitq *q, int res,
			   struct wake_list *wl);

/* The same for at most @max waiters (taken off @q whether or not their
 * claim succeeds); returns how many were taken off. Lock held. */
unsigned weft__waitq_claim_upto(struct waitq *q, int res,
				struct wake_list *wl, unsigned max);

/* Queue every fiber on @wl. After unlocking. */
void weft__wake_list_run(struct wake_list *wl);

/*
 * Park the calling fiber (on @w) as weft__park() does, but end the park with
 * -ETIMEDOUT at @deadline_ns (negative: no limit) or at the fiber's
 * own deadline if that is earlier. The timer sits in the calling
 * worker's heap and is removed before this returns, whoever ended the
 * park. Returns weft__park()'s result, -ETIMEDOUT, or -ENOMEM (the timer
 * heap could not grow: then @unlock has run, nothing was parked).
 * Fiber context only; see time.c.
 */
int weft__park_until(struct worker *w, weft_unlock_fn unlock, void *arg,
		     int64_t deadline_ns);

/*
 * Park on @q, whose lock the caller holds (a spinlock, released by the
 * park), as the fiber's @kind wait on @obj, until a waker claims the park
 * (0), or @deadline_ns (negative: none), the fiber's own deadline or a
 * canceller ends it (-ETIMEDOUT, -ECANCELED). Returns unlocked. Fiber
 * context only.
 */
int weft__waitq_wait(struct worker *w, struct spinlock *lock, struct waitq *q,
		     unsigned kind, const void *obj, int64_t deadline_ns);

/*
 * Time limits, one rule for every call (weft.h, "Time and deadlines"): a
 * negative deadline or timeout is no limit, stored as WEFT_FOREVER, and a
 * deadline of 0 or in the past has passed. A deadline a call takes goes
 * through deadline_norm() (deadline_min() applies it to both sides) and a
 * timeout through deadline_after() before either is kept or handed to the
 * timer heap, which orders any int64_t and would fire a negative one at
 * once.
 */
static inline int64_t deadline_norm(int64_t deadline_ns)
{
	return deadline_ns < 0 ? WEFT_FOREVER : deadline_ns;
}

/*
 * The deadline @timeout_ns from now: WEFT_FOREVER for a negative timeout,
 * and for one too far off to add to the clock (saturated, never wrapped
 * into the past); 0 gives now, which has passed.
 */
static inline int64_t deadline_after(int64_t timeout_ns)
{
	int64_t now;

	if (timeout_ns < 0)
		return WEFT_FOREVER;
	now = weft_now_ns();
	return timeout_ns <= INT64_MAX - now ? now + timeout_ns : WEFT_FOREVER;
}

/* Whether @deadline_ns (negative: never) has come. */
static inline bool deadline_passed(int64_t deadline_ns)
{
	return deadline_ns >= 0 && weft_now_ns() >= deadline_ns;
}

/* The earlier of @a and @b, no limit (any negative) being the latest. */
static inline int64_t deadline_min(int64_t a, int64_t b)
{
	a = deadline_norm(a);
	b = deadline_norm(b);
	if (a == WEFT_FOREVER)
		return b;
	if (b == WEFT_FOREVER)
		return a;
	return a < b ? a : b;
}

#endif /* WEFT_WAITQ_H */
