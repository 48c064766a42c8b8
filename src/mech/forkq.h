/* SPDX-License-Identifier: MIT */
/*
 * The fork deque: the joinable children a worker spawned and has not
 * started yet. The owner pushes and pops at the bottom, newest first, so
 * a parent that joins its child next finds it there and the tree runs
 * depth first with few stacks alive (Cilk's work-first order); thieves
 * take from the top, oldest first, which in fork-join is the biggest
 * piece of the tree left (the Chase-Lev deque, in the fixed-size form of
 * Le, Pop, Cohen and Zappa Nardelli, PPoPP 2013). Elements are the
 * fibers' intrusive rq_node links, as in the run queue (runq.h), and a
 * fiber is in at most one of the two. See "Finding work" in sched.c for
 * where it sits among the queues.
 */
#ifndef WEFT_FORKQ_H
#define WEFT_FORKQ_H

#include <stdbool.h>

#include <ck_cc.h>
#include <ck_pr.h>

#include "internal.h"
#include "runq.h"

#ifndef WEFT_FORKQ_SIZE
#define WEFT_FORKQ_SIZE 256u	/* a power of two; tests shrink it to 4 */
#endif

struct forkq {
	/* Thieves, and the owner taking the last element, advance it by
	 * CAS. */
	unsigned top CK_CC_CACHELINE;
	/* Written by the owner only, read by thieves. */
	unsigned bottom CK_CC_CACHELINE;
	/* Set before the owner starts, then read-only: there are no
	 * thieves (one worker), so pops need no fence and no CAS. */
	bool solo;
	/* Positions [top, bottom) hold nodes; written by the owner only. */
	struct rq_node *slots[WEFT_FORKQ_SIZE] CK_CC_CACHELINE;
};

void weft__forkq_init(struct forkq *q, bool solo);

#define WEFT_FORKQ_MASK (WEFT_FORKQ_SIZE - 1u)

/*
 * Owner only. Add @n at the bottom; false (nothing done) if full. Inline:
 * a spawn of a joinable child does this, and so does every join that
 * finds its child taken back too late (the invariants are in forkq.c).
 */
static inline bool weft__forkq_push(struct forkq *q, struct rq_node *n)
{
	unsigned b = q->bottom;
	/* A stale top only makes the deque look fuller (F3). */
	unsigned t = ck_pr_load_uint(&q->top);

	if ((int)(b - t) >= (int)WEFT_FORKQ_SIZE)
		return false;
	/* The fiber's record before the node is visible to a thief. */
	weft__hb_release(n);
	ck_pr_store_ptr(&q->slots[b & WEFT_FORKQ_MASK], n);
	/* StoreStore: the slot before the bottom that exposes it. Pairs
	 * with the fence in weft__forkq_steal(). */
	ck_pr_fence_store();
	ck_pr_store_uint(&q->bottom, b + 1);
	return true;
}

/* Owner only. Take the newest node, or NULL. */
struct rq_node *weft__forkq_pop(struct forkq *q);

/*
 * Owner only. Take the newest node if it is @n: true if taken, false if
 * the newest is another node, or the deque is empty, or a thief won the
 * race for @n. Nothing else changes when it returns false.
 */
bool weft__forkq_pop_if(struct forkq *q, struct rq_node *n);

/*
 * Owner only. weft__forkq_pop_if() in two steps around a full barrier
 * of the caller's own (a CAS it needs anyway), so that a pop costs no
 * barrier of its own. pop_begin() claims the newest node's position if
 * that node is @n (false: it is not, or the deque is empty; nothing
 * changed). The caller then executes its barrier, and nothing of the
 * deque's, and calls pop_end(): true if @n is now the caller's, false if
 * a thief took it (the deque is then as a pop that lost left it).
 */
static inline bool weft__forkq_pop_begin(struct forkq *q,
					 struct rq_node *n)
{
	unsigned b = q->bottom;

	/* As in weft__forkq_pop_if(): exact for the slots and bottom. */
	if ((int)(b - ck_pr_load_uint(&q->top)) <= 0 ||
	    q->slots[(b - 1) & WEFT_FORKQ_MASK] != n)
		return false;
	/* Claim position b - 1 (F4); the caller's barrier orders this
	 * before pop_end()'s read of top, as pop()'s exchange does. Solo,
	 * no thief can reach it: it is ours already. */
	ck_pr_store_uint(&q->bottom, b - 1);
	return true;
}

/* pop_end() where the claimed position may be the last one. */
bool weft__forkq_pop_end_race(struct forkq *q, unsigned t);

static inline bool weft__forkq_pop_end(struct forkq *q)
{
	unsigned t;

	if (q->solo)
		return true;
	/* After the caller's full barrier: pairs with the fence in
	 * weft__forkq_steal(), as pop()'s exchange does (F4). */
	t = ck_pr_load_uint(&q->top);
	if (likely((int)(q->bottom - t) > 0))
		return true;
	return weft__forkq_pop_end_race(q, t);
}

/*
 * Any thread but the owner. Take the oldest node, or NULL if the deque
 * is empty or another taker won the race for it.
 */
struct rq_node *weft__forkq_steal(struct forkq *q);

/* Nodes held. Any thread; a racy hint. */
static inline unsigned weft__forkq_len(const struct forkq *q)
{
	int n = (int)(ck_pr_load_uint(&q->bottom) - ck_pr_load_uint(&q->top));

	return n > 0 ? (unsigned)n : 0;
}

#endif /* WEFT_FORKQ_H */
