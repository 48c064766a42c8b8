/* SPDX-License-Identifier: MIT */
/*
 * The fork deque (forkq.h): a bounded Chase-Lev deque. The owner pushes
 * and pops at the bottom; thieves take one node at a time at the top.
 * What a spawn and an inline join run (the push, pop_begin() and the
 * common case of pop_end()) is inline in forkq.h; the rest is here.
 *
 * Invariants:
 *  (F1) top and bottom are free-running 32-bit counters; position p lives
 *       in slots[p % WEFT_FORKQ_SIZE], and the deque holds [top, bottom)
 *       whenever no pop is in progress. Differences are taken as signed.
 *  (F2) top only grows, and only by a CAS from a value the CASer read,
 *       so a successful CAS from t proves that nobody else took position
 *       t: each position is taken at most once.
 *  (F3) The owner writes slot p only after reading a top greater than
 *       p - SIZE, so position p - SIZE (the same slot) was taken before;
 *       a thief that read that slot late, for a stale t, fails its CAS
 *       (top > t by then) and throws what it read away.
 *  (F4) The one race between the owner and thieves is for the last node.
 *       pop() lowers bottom first and then, after a full barrier, reads
 *       top; steal() reads top, then (after a full fence) bottom. So if
 *       both go for the same position, the thief saw bottom above it and
 *       the owner saw top at it, and both CAS top: one wins. If the owner
 *       saw top below its position, no thief can reach it: a thief needs
 *       top == position and bottom above it, and bottom is already lower.
 *       pop_begin() and pop_end() are the same pop in two halves, the
 *       caller's own full barrier between them standing in for pop()'s.
 *
 * ThreadSanitizer cannot see ck_pr, so the hand-off of a node from the
 * owner to a thief is also announced with weft__hb_release() and
 * weft__hb_acquire() (internal.h), as in runq.c.
 */
#include <stddef.h>

#include <ck_pr.h>

#include "forkq.h"
#include "internal.h"

_Static_assert(WEFT_FORKQ_SIZE >= 2u &&
	       (WEFT_FORKQ_SIZE & (WEFT_FORKQ_SIZE - 1u)) == 0,
	       "WEFT_FORKQ_SIZE must be a power of two of at least 2");

static struct rq_node **slot(struct forkq *q, unsigned pos)
{
	return &q->slots[pos & WEFT_FORKQ_MASK];
}

void weft__forkq_init(struct forkq *q, bool solo)
{
	q->top = 0;
	q->bottom = 0;
	q->solo = solo;
}

struct rq_node *weft__forkq_pop(struct forkq *q)
{
	unsigned b = q->bottom - 1;
	struct rq_node *n;
	unsigned t;

	if (q->solo) {
		/* Nobody else touches top. */
		if (q->bottom == q->top)
			return NULL;
		ck_pr_store_uint(&q->bottom, b);
		return *slot(q, b);
	}
	/* Claim position b before looking at top (F4): an exchange, whose
	 * lock makes it the StoreLoad at half an mfence's cost here (6 ns
	 * against 12). Pairs with the fence in weft__forkq_steal(). */
	ck_pr_fas_uint(&q->bottom, b);
	t = ck_pr_load_uint(&q->top);
	if ((int)(b - t) < 0) {
		/* Empty: put bottom back where it was. */
		ck_pr_store_uint(&q->bottom, b + 1);
		return NULL;
	}
	n = ck_pr_load_ptr(slot(q, b));
	if (b == t) {
		/* The last node: race the thieves for it. Full barrier;
		 * pairs with the CAS in weft__forkq_steal(). */
		if (!ck_pr_cas_uint(&q->top, t, t + 1))
			n = NULL;
		/* Empty either way: top is t + 1 now. */
		ck_pr_store_uint(&q->bottom, b + 1);
	}
	return n;
}

bool weft__forkq_pop_if(struct forkq *q, struct rq_node *n)
{
	unsigned b = q->bottom;

	/* Only the owner writes slots and bottom, so this look is exact for
	 * them; a stale top can only make the deque look fuller, and then
	 * the pop below finds it empty (F3). */
	if ((int)(b - ck_pr_load_uint(&q->top)) <= 0 || *slot(q, b - 1) != n)
		return false;
	return weft__forkq_pop(q) == n;
}

bool weft__forkq_pop_end_race(struct forkq *q, unsigned t)
{
	unsigned p = q->bottom;

	if (p == t) {
		/* The last node: race the thieves for it. Full barrier;
		 * pairs with the CAS in weft__forkq_steal(). */
		bool won = ck_pr_cas_uint(&q->top, t, t + 1);

		/* Empty either way: top is t + 1 now. */
		ck_pr_store_uint(&q->bottom, p + 1);
		return won;
	}
	/* A thief took it (top passed it): bottom back, empty. */
	ck_pr_store_uint(&q->bottom, p + 1);
	return false;
}

struct rq_node *weft__forkq_steal(struct forkq *q)
{
	unsigned t = ck_pr_load_uint(&q->top);
	struct rq_node *n;
	unsigned b;

	/* top before bottom (F4). Full fence; pairs with the owner's fences
	 * in weft__forkq_push() (the slot before bottom) and
	 * weft__forkq_pop() (bottom before top). */
	ck_pr_fence_memory();
	b = ck_pr_load_uint(&q->bottom);
	if ((int)(b - t) <= 0)
		return NULL;
	n = ck_pr_load_ptr(slot(q, t));
	/* Full barrier; fails if the owner or another thief took it (F2).
	 * Pairs with the CAS in weft__forkq_pop() and other thieves'. */
	if (!ck_pr_cas_uint(&q->top, t, t + 1))
		return NULL;
	/* Pairs with the release in weft__forkq_push(). */
	weft__hb_acquire(n);
	return n;
}
