/* SPDX-License-Identifier: MIT */
/*
 * Per-worker timer heap: the deadlines of sleeping fibers (asyncio keeps
 * its call_later handles the same way). A 4-ary min-heap of intrusive
 * timer records ordered by deadline, then by insertion order, so timers
 * with equal deadlines fire first-in first-out. Callers serialise access
 * (a worker's heap is under its timers_lock); the earliest deadline is
 * also published for lock-free peeks (first_ns). The worker's ring wait
 * is bounded by the earliest deadline, so a sleeping fiber costs no
 * kernel timer of its own.
 */
#ifndef WEFT_TIMER_H
#define WEFT_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include <ck_pr.h>

/* What a timer ends when it fires. */
enum timer_kind {
	TIMER_OWNED,		/* an owned wait (io.h): a sleep           */
	TIMER_PARK,		/* a park any waker may end (time.c)       */
};

/*
 * A timer, embedded in whatever waits for it. Touched only under the
 * heap's lock (see struct worker): by the owner worker, and by a fiber
 * removing the timer of its own timed park, from any worker.
 */
struct timer {
	int64_t deadline_ns;	/* absolute, CLOCK_MONOTONIC              */
	uint64_t seq;		/* insertion order, breaks deadline ties  */
	unsigned idx;		/* position in the heap; TIMER_IDLE if none */
	enum timer_kind kind;
};

#define TIMER_IDLE (~0u)

struct timer_heap {
	struct timer **v;	/* v[0] is the earliest                  */
	unsigned n;		/* timers in the heap                    */
	/* v[0]'s deadline, INT64_MAX when empty: stored atomically on
	 * every change, so that other workers can see without the lock
	 * whether a busy owner has left a timer unfired (rescue.c). */
	int64_t first_ns;
	unsigned cap;		/* allocated slots in v                  */
	uint64_t next_seq;	/* seq for the next timer added          */
};

/* An empty heap; allocates nothing until the first add. */
void weft__timer_heap_init(struct timer_heap *h);

/* Free the heap's array. Timers still in it are simply forgotten. */
void weft__timer_heap_fini(struct timer_heap *h);

/* Mark @t as in no heap (call once before first use). */
static inline void weft__timer_init(struct timer *t, enum timer_kind kind)
{
	t->idx = TIMER_IDLE;
	t->kind = kind;
}

static inline bool weft__timer_queued(const struct timer *t)
{
	return t->idx != TIMER_IDLE;
}

/*
 * Add @t, which must not be queued, with deadline @deadline_ns.
 * Returns 0 or -ENOMEM (the heap could not grow; @t stays idle).
 */
int weft__timer_add(struct timer_heap *h, struct timer *t,
		    int64_t deadline_ns);

/* Remove @t if it is queued; a no-op otherwise. O(log n). */
void weft__timer_del(struct timer_heap *h, struct timer *t);

/* The earliest deadline, INT64_MAX if none; any thread, without the
 * lock (a racy peek: the heap may change at once). */
static inline int64_t weft__timer_first_ns(const struct timer_heap *h)
{
	/* Pairs with the store in timer.c's publish(); relaxed. */
	return (int64_t)ck_pr_load_64((const uint64_t *)&h->first_ns);
}

/* The earliest timer, or NULL if the heap is empty. */
static inline struct timer *weft__timer_first(const struct timer_heap *h)
{
	return h->n ? h->v[0] : (struct timer *)0;
}

/*
 * Remove and return the earliest timer if its deadline is at or before
 * @now_ns; NULL otherwise.
 */
struct timer *weft__timer_pop_expired(struct timer_heap *h, int64_t now_ns);

#endif /* WEFT_TIMER_H */
