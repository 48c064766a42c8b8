/* SPDX-License-Identifier: MIT */
/*
 * Run queues. Each worker owns a bounded single-producer, multi-consumer
 * ring (the owner pushes and pops at opposite ends, FIFO; thieves take
 * about half in one CAS, as Go's runqgrab does) plus a LIFO slot that
 * thieves may also take. The inject queue is the global overflow and the
 * entry point for fibers made ready outside the workers: a spinlock
 * around an intrusive list. Elements are intrusive rq_node links, so no
 * queue operation allocates. See "Run queues" in sched.c.
 */
#ifndef WEFT_RUNQ_H
#define WEFT_RUNQ_H

#include <stdbool.h>

#include <ck_cc.h>
#include <ck_pr.h>

#include "internal.h"
#include "spin.h"

#ifndef WEFT_RUNQ_SIZE
#define WEFT_RUNQ_SIZE 256u	/* a power of two; tests shrink it to 4 */
#endif

/* How far ahead the inject queue's walk prefetches (struct rq_node). */
#define RUNQ_SKIP 8u

/* An intrusive queue link; embedded in whatever is queued. */
struct rq_node {
	struct rq_node *next;	/* inject-queue link; owned by the queue */
	/*
	 * In the inject queue, the node RUNQ_SKIP links further on in the
	 * same chain, or NULL: a consumer walking the list prefetches it,
	 * so the walk waits for one miss in RUNQ_SKIP, not for each node.
	 * Owned by the queue, like next.
	 */
	struct rq_node *skip;
};

struct runq {
	/* Consumers (owner and thieves) advance head by CAS. */
	unsigned head CK_CC_CACHELINE;
	/* Written by the owner only, read by thieves. */
	unsigned tail CK_CC_CACHELINE;
	/* Set before the owner starts, then read-only: no thief exists (the
	 * runtime has one worker), so the owner's pops need no atomic RMW. */
	bool solo;
	/* LIFO slot: owner fas; thieves cas it to NULL. */
	struct rq_node *lifo CK_CC_CACHELINE;
	/* Slots [head, tail) hold queued nodes; written by the owner only. */
	struct rq_node *slots[WEFT_RUNQ_SIZE] CK_CC_CACHELINE;
};

struct injq {
	struct spinlock lock;
	struct rq_node *head;	/* Protected by lock.                     */
	struct rq_node *tail;	/* Protected by lock.                     */
	unsigned len;		/* Written under lock; read racily as a hint. */
};

void weft__runq_init(struct runq *rq);

/*
 * The ring is full (tail - head == SIZE at @h): move its older half and
 * @n to @q as one chain (Go's runqputslow). Returns false if a consumer
 * moved head first; there is then room, and the caller retries the fast
 * path. Owner only.
 */
bool weft__runq_push_full(struct runq *rq, struct rq_node *n, unsigned h,
			  unsigned t, struct injq *q);

/*
 * Owner only. Append @n. If the ring is full, move half of it and @n to
 * @overflow in one batch (Go's runqputslow) and return true: the caller
 * then knows work went global and may wake a worker. Inline (every yield
 * pushes); runq.c has the invariants.
 */
static inline bool weft__runq_push(struct runq *rq, struct rq_node *n,
				   struct injq *overflow)
{
	for (;;) {
		/* Consumers' head CAS; read before we may overwrite a slot
		 * it freed. The acquire fence below orders it. */
		unsigned h = ck_pr_load_uint(&rq->head);
		/* Owner's own counter; no other thread writes it. */
		unsigned t = ck_pr_load_uint(&rq->tail);

		/* Acquire: our slot store below stays after the head load.
		 * Pairs with the fence_load_atomic before the head CAS in
		 * weft__runq_steal(): a thief whose CAS freed slot t - SIZE
		 * had finished reading it (R2). */
		ck_pr_fence_acquire();
		if (likely(t - h < WEFT_RUNQ_SIZE)) {
			weft__hb_release(n);
			/* Published by the tail store below. */
			ck_pr_store_ptr(&rq->slots[t & (WEFT_RUNQ_SIZE - 1u)],
					n);
			/* Release: the slot store, and the caller's writes to
			 * the node, before the new tail. Pairs with the
			 * fence_load between the tail load and the slot loads
			 * in weft__runq_steal(). */
			ck_pr_fence_release();
			/* Single writer (the owner); ordered by the fence
			 * above. */
			ck_pr_store_uint(&rq->tail, t + 1);
			return false;
		}
		if (weft__runq_push_full(rq, n, h, t, overflow))
			return true;
	}
}

/* weft__runq_pop() where thieves may take from the ring too. */
struct rq_node *weft__runq_pop_shared(struct runq *rq);

/* Owner only. Take the oldest node, or NULL. Does not look at the LIFO
 * slot. Inline: every switch may ask it. */
static inline struct rq_node *weft__runq_pop(struct runq *rq)
{
	unsigned h;
	struct rq_node *x;

	if (!rq->solo)
		return weft__runq_pop_shared(rq);
	/* Nobody else consumes: a plain pop, as from a private ring (the
	 * loads and store stay atomic for readers of the length). No
	 * pairing: one thread. */
	h = ck_pr_load_uint(&rq->head);
	if (h == ck_pr_load_uint(&rq->tail))
		return NULL;
	x = ck_pr_load_ptr(&rq->slots[h & (WEFT_RUNQ_SIZE - 1u)]);
	/* No pairing: the owner's own counter, read racily as a length. */
	ck_pr_store_uint(&rq->head, h + 1);
	return x;
}

/*
 * The node the next pop would take, or NULL, read without claiming it: a
 * hint for prefetching and nothing else, as a thief may take it first.
 * Owner only.
 */
static inline struct rq_node *weft__runq_peek_hint(const struct runq *rq)
{
	/* No pairing: a hint; a stale answer costs one useless prefetch. */
	unsigned h = ck_pr_load_uint(&rq->head);

	if (h == ck_pr_load_uint(&rq->tail))
		return NULL;
	return ck_pr_load_ptr(&rq->slots[h & (WEFT_RUNQ_SIZE - 1u)]);
}

/*
 * Owner only. Put @n in the LIFO slot and return the node it displaced
 * (or NULL); the caller must push a displaced node.
 */
struct rq_node *weft__runq_lifo_put(struct runq *rq, struct rq_node *n);

/* weft__runq_lifo_take() once the slot was seen full. */
struct rq_node *weft__runq_lifo_take_full(struct runq *rq);

/* Owner only. Empty the LIFO slot, returning what was there (or NULL).
 * Inline: every switch looks here first. */
static inline struct rq_node *weft__runq_lifo_take(struct runq *rq)
{
	/* Only the owner fills the slot, so an empty slot stays empty
	 * until we fill it: a plain load saves the locked swap on the
	 * common path. No pairing: a thief only ever empties it. */
	if (ck_pr_load_ptr(&rq->lifo) == NULL)
		return NULL;
	return weft__runq_lifo_take_full(rq);
}

/*
 * Thief only (a worker whose own ring is empty). Move about half of
 * @victim's ring (ceil(n/2) of n) into @thief's ring and return one of
 * them to run now instead of queueing it; if @victim's ring is empty and
 * @take_lifo is set, try its LIFO slot. NULL if there was nothing to take.
 */
struct rq_node *weft__runq_steal(struct runq *thief, struct runq *victim,
				 bool take_lifo);

/* Nodes in the ring plus the LIFO slot. Any thread; a racy hint.
 * Inline: every yield asks it. */
static inline unsigned weft__runq_len(const struct runq *rq)
{
	/* A hint: each field is read once, with no claim to a snapshot. */
	unsigned h = ck_pr_load_uint(&rq->head);
	unsigned t;
	unsigned n;

	/*
	 * Load-load: head before tail, so by (R4) t - h does not wrap
	 * below zero; a stale head can still make it too large, so it is
	 * clamped to the ring size. No pairing: a length hint, and both
	 * words only grow.
	 */
	ck_pr_fence_load();
	/* Owner's tail; a hint only. */
	t = ck_pr_load_uint(&rq->tail);
	n = t - h;
	if (n > WEFT_RUNQ_SIZE)
		n = WEFT_RUNQ_SIZE;
	/* A hint only; may be stale. */
	if (ck_pr_load_ptr(&rq->lifo) != NULL)
		n++;
	return n;
}

void weft__injq_init(struct injq *q);

/* Any thread. Append @n. */
void weft__injq_push(struct injq *q, struct rq_node *n);

/*
 * Owner of @rq only. Take the oldest node of @q to return, and move up to
 * @max - 1 more into @rq (which must have room for them). NULL if empty.
 */
struct rq_node *weft__injq_pop_batch(struct injq *q, struct runq *rq,
				     unsigned max);

/* Any thread; a racy hint. */
static inline unsigned weft__injq_len(const struct injq *q)
{
	return ck_pr_load_uint(&q->len);
}

#endif /* WEFT_RUNQ_H */
