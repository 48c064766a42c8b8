/* SPDX-License-Identifier: MIT */
/*
 * The per-worker timer heap declared in timer.h: a 4-ary min-heap of
 * intrusive struct timer records, ordered by (deadline_ns, seq). The
 * caller serialises every call, so nothing here is atomic except the
 * store that publishes the earliest deadline (first_ns) for peeks.
 *
 * Layout: the children of slot i are 4i+1 .. 4i+4 and its parent is
 * (i - 1) / 4. A 4-ary heap is half as deep as a binary one, and the four
 * children of a slot share one cache line of pointers, so a sift down
 * costs about as many cache misses as a binary heap's while a sift up,
 * the common case for an add, is half as long.
 *
 * Invariants, checked by tests/test_timer.c after every operation:
 *  (H1) For every slot i > 0, v[i] does not sort before v[parent(i)].
 *  (H2) For every slot i < n, v[i]->idx == i; a timer in no heap has
 *       idx == TIMER_IDLE.
 *  (H3) first_ns is v[0]->deadline_ns, or INT64_MAX when n == 0.
 * Sifts move a hole rather than swapping, writing each moved timer and
 * its idx once.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"
#include "timer.h"

#define TIMER_ARY 4u
#define TIMER_MIN_CAP 64u

/* Whether @a fires before @b: earlier deadline, then earlier insertion. */
static inline bool timer_before(const struct timer *a, const struct timer *b)
{
	if (a->deadline_ns != b->deadline_ns)
		return a->deadline_ns < b->deadline_ns;
	return a->seq < b->seq;
}

/* Place @t in the heap at the hole @i or above it, restoring (H1). */
static void sift_up(struct timer_heap *h, unsigned i, struct timer *t)
{
	struct timer **v = h->v;

	while (i > 0) {
		unsigned p = (i - 1) / TIMER_ARY;

		if (!timer_before(t, v[p]))
			break;
		v[i] = v[p];
		v[i]->idx = i;
		i = p;
	}
	v[i] = t;
	t->idx = i;
}

/* Place @t in the heap at the hole @i or below it, restoring (H1). */
static void sift_down(struct timer_heap *h, unsigned i, struct timer *t)
{
	struct timer **v = h->v;
	unsigned n = h->n;

	for (;;) {
		unsigned c = i * TIMER_ARY + 1;
		unsigned end;
		unsigned m;

		if (c >= n)
			break;
		end = n - c < TIMER_ARY ? n : c + TIMER_ARY;
		m = c;
		for (c++; c < end; c++)
			if (timer_before(v[c], v[m]))
				m = c;
		if (!timer_before(v[m], t))
			break;
		v[i] = v[m];
		v[i]->idx = i;
		i = m;
	}
	v[i] = t;
	t->idx = i;
}

/* Double the array (or allocate the first one). Returns 0 or -ENOMEM. */
static int grow(struct timer_heap *h)
{
	unsigned cap;
	struct timer **v;

	/* The largest usable index must stay below TIMER_IDLE. */
	if (h->cap > UINT_MAX / 2)
		return -ENOMEM;
	cap = h->cap ? h->cap * 2 : TIMER_MIN_CAP;
	v = realloc(h->v, (size_t)cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	h->v = v;
	h->cap = cap;
	return 0;
}

/* Publish v[0]'s deadline after a change at the root. */
static inline void publish(struct timer_heap *h)
{
	int64_t first = h->n ? h->v[0]->deadline_ns : INT64_MAX;

	/* Relaxed store, read by weft__timer_first_ns() without the lock;
	 * a stale value only delays or hastens a peek. */
	ck_pr_store_64((uint64_t *)&h->first_ns, (uint64_t)first);
}

void weft__timer_heap_init(struct timer_heap *h)
{
	h->v = NULL;
	h->n = 0;
	h->first_ns = INT64_MAX;
	h->cap = 0;
	h->next_seq = 0;
}

void weft__timer_heap_fini(struct timer_heap *h)
{
	free(h->v);
	weft__timer_heap_init(h);
}

/*
 * Add @t with @deadline_ns: O(log n), amortized over the doublings.
 * Serialised by the caller.
 */
int weft__timer_add(struct timer_heap *h, struct timer *t,
		    int64_t deadline_ns)
{
	weft_assert(!weft__timer_queued(t));
	if (unlikely(h->n == h->cap)) {
		int err = grow(h);

		if (err)
			return err;
	}
	t->deadline_ns = deadline_ns;
	t->seq = h->next_seq++;
	sift_up(h, h->n++, t);
	if (t->idx == 0)
		publish(h);
	return 0;
}

/*
 * Fill the hole left by the timer at @i with the last timer, moving it
 * up or down as its order against the hole's neighbours asks.
 */
static void remove_at(struct timer_heap *h, unsigned i)
{
	struct timer *last = h->v[--h->n];

	h->v[i]->idx = TIMER_IDLE;
	if (i == h->n) {
		if (i == 0)
			publish(h);
		return;
	}
	if (i > 0 && timer_before(last, h->v[(i - 1) / TIMER_ARY]))
		sift_up(h, i, last);
	else
		sift_down(h, i, last);
	/* The root changed if it was the hole, or the last timer rose to
	 * it. */
	if (i == 0 || last->idx == 0)
		publish(h);
}

/* Remove @t if it is queued in @h. Serialised by the caller. */
void weft__timer_del(struct timer_heap *h, struct timer *t)
{
	unsigned i = t->idx;

	if (i == TIMER_IDLE)
		return;
	/* A queued timer in another heap, or a stale idx, is a bug. */
	weft_assert(i < h->n && h->v[i] == t);
	remove_at(h, i);
}

/* Remove and return the root if it is due at @now_ns. Serialised. */
struct timer *weft__timer_pop_expired(struct timer_heap *h, int64_t now_ns)
{
	struct timer *t;

	if (h->n == 0)
		return NULL;
	t = h->v[0];
	if (t->deadline_ns > now_ns)
		return NULL;
	remove_at(h, 0);
	return t;
}
