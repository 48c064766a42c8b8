/* SPDX-License-Identifier: MIT */
/*
 * Run queues: each worker's bounded ring and LIFO slot, and the global
 * inject queue. A ring is written by its owner worker only (slots, tail)
 * and consumed from its head by the owner and by any thief thread; the
 * LIFO slot is set by the owner and emptied by the owner or a thief; the
 * inject queue is touched by any thread under its spinlock. The design
 * follows Go's runqput/runqget/runqgrab/runqputslow; see "Run queues" in
 * sched.c for how the scheduler uses them.
 *
 * Ring invariants, relied on by every proof below:
 *  (R1) head and tail are free-running 32-bit counters; position p lives
 *       in slots[p % WEFT_RUNQ_SIZE], and the ring holds [head, tail).
 *  (R2) Only the owner writes tail and the slots, and it writes slot p
 *       only after it has read a head value greater than p - SIZE, so
 *       position p - SIZE (same slot) has been consumed by then.
 *  (R3) head only grows, and only by a CAS from a value the CASer read,
 *       so a successful CAS from h proves head stayed h since it was read
 *       (up to a 2^32 wrap, which cannot happen within one operation).
 *  (R4) head <= tail at all times: consumers advance head only up to a
 *       tail they read, and tail never goes back.
 *
 * ThreadSanitizer cannot see ck_pr, so every hand-off of a node is also
 * announced with weft__hb_release()/weft__hb_acquire() (internal.h); the
 * inject queue's lock (spin.h) annotates itself.
 */
#include <errno.h>
#include <stddef.h>

#include <ck_pr.h>

#include "internal.h"
#include "runq.h"

#define RUNQ_MASK (WEFT_RUNQ_SIZE - 1u)
#define RUNQ_HALF (WEFT_RUNQ_SIZE / 2u)

_Static_assert(WEFT_RUNQ_SIZE >= 2u &&
	       (WEFT_RUNQ_SIZE & (WEFT_RUNQ_SIZE - 1u)) == 0,
	       "WEFT_RUNQ_SIZE must be a power of two of at least 2");

static struct rq_node **slot(struct runq *rq, unsigned pos)
{
	return &rq->slots[pos & RUNQ_MASK];
}

/*
 * Append the chain @first..@last (@count nodes, linked through ->next,
 * @last->next already NULL) in one critical section. Any thread.
 */
static void injq_push_chain(struct injq *q, struct rq_node *first,
			    struct rq_node *last, unsigned count)
{
	spin_lock(&q->lock);
	if (q->tail != NULL)
		q->tail->next = first;
	else
		q->head = first;
	q->tail = last;
	/*
	 * Relaxed: the lock orders len against the list for lock holders;
	 * lock-free readers use it only as a hint (weft__injq_len()).
	 */
	ck_pr_store_uint(&q->len, ck_pr_load_uint(&q->len) + count);
	spin_unlock(&q->lock);
}

/*
 * Publish @count nodes the owner has already stored in slots [t, t +
 * @count) by moving tail past them. Owner only.
 */
static void publish_tail(struct runq *rq, unsigned t, unsigned count)
{
	/*
	 * Release: the slot stores, and the caller's writes to the nodes,
	 * become visible before the new tail. Pairs with the fence_load
	 * between the tail load and the slot loads in weft__runq_steal().
	 */
	ck_pr_fence_release();
	/* Single writer (the owner); ordered by the fence above. */
	ck_pr_store_uint(&rq->tail, t + count);
}

/* See runq.h. */
bool weft__runq_push_full(struct runq *rq, struct rq_node *n, unsigned h,
			  unsigned t, struct injq *q)
{
	struct rq_node *first;
	struct rq_node *prev;
	unsigned i;

	weft_assert(t - h == WEFT_RUNQ_SIZE);
	/*
	 * Claim [h, h + HALF) against the thieves: pairs with the head CAS
	 * in weft__runq_steal(); whoever loses re-reads head. No fence on
	 * either side: unlike a thief, the owner reads the slots after its
	 * CAS, and by (R2) they still hold the nodes it stored, as only the
	 * owner writes slots and it does not push again before we return.
	 */
	if (!ck_pr_cas_uint(&rq->head, h, h + RUNQ_HALF))
		return false;

	/*
	 * Linking the nodes is safe only now: before the CAS a thief could
	 * have taken one and pushed it on a queue that uses ->next.
	 */
	/* Owner's own slot; see (R2). */
	first = ck_pr_load_ptr(slot(rq, h));
	weft__hb_release(first);
	prev = first;
	for (i = 1; i < RUNQ_HALF; i++) {
		/* Owner's own slot; see (R2). */
		struct rq_node *x = ck_pr_load_ptr(slot(rq, h + i));

		weft__hb_release(x);
		prev->next = x;
		/* The node RUNQ_SKIP on from prev (h + i - 1), if the half
		 * has one: the slots hold them in order. Owner's own slot;
		 * see (R2). */
		prev->skip = NULL;
		if (i - 1 + RUNQ_SKIP < RUNQ_HALF)
			prev->skip = ck_pr_load_ptr(slot(rq, h + i - 1 +
							     RUNQ_SKIP));
		prev = x;
	}
	prev->next = n;
	prev->skip = NULL;
	n->next = NULL;
	n->skip = NULL;
	weft__hb_release(n);
	injq_push_chain(q, first, n, RUNQ_HALF + 1);
	return true;
}

void weft__runq_init(struct runq *rq)
{
	unsigned i;

	/*
	 * Before the ring is shared: relaxed stores, nothing to order
	 * against; handing the ring to other threads publishes them.
	 */
	ck_pr_store_uint(&rq->head, 0);
	ck_pr_store_uint(&rq->tail, 0);
	ck_pr_store_ptr(&rq->lifo, NULL);
	rq->solo = false;
	for (i = 0; i < WEFT_RUNQ_SIZE; i++)
		ck_pr_store_ptr(&rq->slots[i], NULL);
}

struct rq_node *weft__runq_pop_shared(struct runq *rq)
{
	for (;;) {
		/* Consumers' CAS target; the CAS below validates it. */
		unsigned h = ck_pr_load_uint(&rq->head);
		/* Owner's own counter; no other thread writes it. */
		unsigned t = ck_pr_load_uint(&rq->tail);
		struct rq_node *x;

		/* By (R4) head was exactly t when read: empty at that moment. */
		if (h == t)
			return NULL;
		/*
		 * The owner wrote this slot itself, so no fence is needed to
		 * see it; if h is stale and the slot was reused, the CAS
		 * below fails.
		 */
		x = ck_pr_load_ptr(slot(rq, h));
		/*
		 * Claim position h against thieves and
		 * weft__runq_push_full(); pairs with the head CAS in
		 * weft__runq_steal() (weft__runq_push_full() is this
		 * thread's own). No fence: the node was stored by this
		 * thread, so nothing from another thread must be made
		 * visible, and the owner overwrites the slot only in a later
		 * push, after this CAS in program order.
		 */
		if (ck_pr_cas_uint(&rq->head, h, h + 1)) {
			weft__hb_acquire(x);
			return x;
		}
	}
}

struct rq_node *weft__runq_lifo_put(struct runq *rq, struct rq_node *n)
{
	struct rq_node *old;

	weft__hb_release(n);
	/*
	 * Release: the caller's writes to @n are visible before @n is in
	 * the slot. Pairs with the acquire fence after the LIFO CAS in
	 * steal_lifo().
	 */
	ck_pr_fence_release();
	/*
	 * Thieves only ever empty the slot, so an empty slot stays empty
	 * until we fill it, and a plain store is enough (the common case:
	 * every spawn and wake-up lands here).
	 */
	if (ck_pr_load_ptr(&rq->lifo) == NULL) {
		ck_pr_store_ptr(&rq->lifo, n);
		return NULL;
	}
	if (rq->solo) {
		/* No thief: a plain exchange. */
		old = ck_pr_load_ptr(&rq->lifo);
		ck_pr_store_ptr(&rq->lifo, n);
		return old;
	}
	/*
	 * Swap, not store: a thief may empty the slot at any time, and its
	 * CAS and our swap decide who owns the displaced node. Pairs with
	 * the CAS in steal_lifo().
	 */
	old = ck_pr_fas_ptr(&rq->lifo, n);
	if (old != NULL)
		weft__hb_acquire(old);
	return old;
}

struct rq_node *weft__runq_lifo_take_full(struct runq *rq)
{
	struct rq_node *x;

	if (rq->solo) {
		/* No thief to race: take it with a plain store. */
		x = ck_pr_load_ptr(&rq->lifo);
		ck_pr_store_ptr(&rq->lifo, NULL);
		return x;
	}
	/*
	 * Swap with NULL: pairs with the CAS in steal_lifo(), and exactly
	 * one of them gets the node. No fence: only this thread
	 * puts nodes in the slot, so their contents are already ours.
	 */
	x = ck_pr_fas_ptr(&rq->lifo, NULL);

	if (x != NULL)
		weft__hb_acquire(x);
	return x;
}

/*
 * Take @victim's LIFO node, its ring having been found empty at tail @t.
 * Returns 0 with *@out set to the node, or to NULL if the ring and the
 * slot were both empty at one moment; -EAGAIN if the caller must look
 * again. Thief only.
 */
static int steal_lifo(struct runq *victim, unsigned t, struct rq_node **out)
{
	/* Set by the owner's fas; ordered after the tail load by the caller. */
	struct rq_node *x = ck_pr_load_ptr(&victim->lifo);

	if (x == NULL) {
		/*
		 * The ring was empty when we read head (see the caller). If
		 * tail is still t, no push happened since, so the ring was
		 * still empty when the slot read NULL: a true empty, not a
		 * spurious one caused by the owner moving a node between
		 * the slot and the ring. Load-load: slot, then tail; pairs
		 * with the release in publish_tail(), which a node moved
		 * from the slot to the ring goes through.
		 */
		ck_pr_fence_load();
		/* Owner's tail; compared with the earlier read. */
		if (ck_pr_load_uint(&victim->tail) != t)
			return -EAGAIN;
		*out = NULL;
		return 0;
	}
	/*
	 * Take the node against the owner: pairs with the swaps in
	 * weft__runq_lifo_put() and weft__runq_lifo_take(). A failed CAS
	 * means the slot changed under us: look again.
	 */
	if (!ck_pr_cas_ptr(&victim->lifo, x, NULL))
		return -EAGAIN;
	/*
	 * Acquire: our later accesses to the node come after the CAS.
	 * Pairs with the release fence in weft__runq_lifo_put().
	 */
	ck_pr_fence_acquire();
	weft__hb_acquire(x);
	*out = x;
	return 0;
}

struct rq_node *weft__runq_steal(struct runq *thief, struct runq *victim,
				 bool take_lifo)
{
	/* Our own tail; only we write it. */
	unsigned tt = ck_pr_load_uint(&thief->tail);
	/* Our head, for the room check only: it can only grow. */
	unsigned th = ck_pr_load_uint(&thief->head);

	weft_assert(thief != victim);
	weft_assert(tt - th <= RUNQ_HALF);

	for (;;) {
		/* Consumers' CAS target; the CAS below validates it. */
		unsigned h = ck_pr_load_uint(&victim->head);
		unsigned t;
		unsigned n;
		unsigned i;
		struct rq_node *last;

		/*
		 * Load-load: head before tail, so by (R4) t >= h and t == h
		 * means the ring was empty when head was read. Pairs with the
		 * release in publish_tail().
		 */
		ck_pr_fence_load();
		/* Victim's tail, published by publish_tail(). */
		t = ck_pr_load_uint(&victim->tail);
		n = t - h;
		if (n == 0 && !take_lifo)
			return NULL;
		if (n == 0) {
			/*
			 * Load-load: the LIFO slot is read after the tail;
			 * steal_lifo() relies on the order head, tail,
			 * slot, tail. Pairs with the release in
			 * publish_tail() and the swap in
			 * weft__runq_lifo_put().
			 */
			ck_pr_fence_load();
			if (steal_lifo(victim, t, &last) == 0)
				return last;
			ck_pr_stall();
			continue;
		}
		n -= n / 2;
		if (n > RUNQ_HALF) {
			/*
			 * h and t were read at different times and the ring
			 * moved in between (n > SIZE/2 needs t - h > SIZE,
			 * impossible in one snapshot). Read them again.
			 */
			ck_pr_stall();
			continue;
		}
		/*
		 * Load-load: slot loads after the tail load. Pairs with the
		 * release fence in publish_tail(), so [h, t) hold the nodes
		 * the owner published.
		 */
		ck_pr_fence_load();
		/*
		 * Copy n - 1 nodes to our own unpublished slots [tt, tt + n -
		 * 1) and keep the last one to run. These are single loads
		 * that may race with the owner reusing a slot, or with other
		 * consumers taking it; then the value is stale and is thrown
		 * away because the CAS fails: a successful CAS from h proves
		 * head stayed h since we read it (R3), so [h, h + n) were
		 * never consumed, so by (R2) the owner had not reused their
		 * slots when we read them. Our slots beyond tt are invisible
		 * to other thieves until we move our tail.
		 */
		for (i = 0; i + 1 < n; i++) {
			/* Validated by the head CAS; see above. */
			struct rq_node *x = ck_pr_load_ptr(slot(victim, h + i));

			/* Our own slot; published by publish_tail(). */
			ck_pr_store_ptr(slot(thief, tt + i), x);
		}
		/* Validated by the head CAS; see above. */
		last = ck_pr_load_ptr(slot(victim, h + n - 1));
		/*
		 * Load-atomic: the slot loads complete before the CAS that
		 * lets the owner reuse the slots. Pairs with the acquire
		 * fence after the head load in weft__runq_push().
		 */
		ck_pr_fence_load_atomic();
		/*
		 * Claim [h, h + n): pairs with the head CAS in
		 * weft__runq_pop(), weft__runq_push_full() and other thieves'
		 * weft__runq_steal().
		 */
		if (!ck_pr_cas_uint(&victim->head, h, h + n)) {
			ck_pr_stall();
			continue;
		}
		/*
		 * Acquire: our later accesses to the nodes stay after the
		 * CAS that made them ours. Pairs with the release fence in
		 * publish_tail() of the victim.
		 */
		ck_pr_fence_acquire();
		for (i = 0; i + 1 < n; i++) {
			/* Our own slot, written above. */
			struct rq_node *x = ck_pr_load_ptr(slot(thief, tt + i));

			weft__hb_acquire(x);
			weft__hb_release(x);
		}
		weft__hb_acquire(last);
		if (n > 1)
			publish_tail(thief, tt, n - 1);
		return last;
	}
}

void weft__injq_init(struct injq *q)
{
	spin_init(&q->lock);
	q->head = NULL;
	q->tail = NULL;
	/* Before the queue is shared: no ordering needed. */
	ck_pr_store_uint(&q->len, 0);
}

void weft__injq_push(struct injq *q, struct rq_node *n)
{
	n->next = NULL;
	n->skip = NULL;
	weft__hb_release(n);
	injq_push_chain(q, n, n, 1);
}

struct rq_node *weft__injq_pop_batch(struct injq *q, struct runq *rq,
				     unsigned max)
{
	struct rq_node *first;
	struct rq_node *x;
	unsigned len;
	unsigned k;
	unsigned i;
	/* Owner's own tail; consumers only ever grow head. */
	unsigned t = ck_pr_load_uint(&rq->tail);

	weft_assert(max >= 1);
	/*
	 * The room check uses a head read now; head only grows, so the room
	 * can only be larger when we push.
	 */
	weft_assert(t - ck_pr_load_uint(&rq->head) + (max - 1) <=
		    WEFT_RUNQ_SIZE);

	/*
	 * Lock-free emptiness check. len changes only under the lock, in
	 * step with the list, so reading 0 means the queue was empty after
	 * the last critical section we can see: the pop linearizes here.
	 */
	if (ck_pr_load_uint(&q->len) == 0)
		return NULL;

	spin_lock(&q->lock);
	first = q->head;
	if (first == NULL) {
		spin_unlock(&q->lock);
		return NULL;
	}
	/* Under the lock; the relaxed load pairs with our own stores. */
	len = ck_pr_load_uint(&q->len);
	k = len < max ? len : max;
	x = first;
	for (i = 1; i < k; i++) {
		/* The nodes were last written on another core, most likely:
		 * ask for one RUNQ_SKIP ahead while we wait for this one. */
		__builtin_prefetch(x->skip);
		x = x->next;
	}
	q->head = x->next;
	if (q->head == NULL)
		q->tail = NULL;
	/* Relaxed; see injq_push_chain(). */
	ck_pr_store_uint(&q->len, len - k);
	spin_unlock(&q->lock);

	/* The k nodes from first on are ours now, detached from the list. */
	weft__hb_acquire(first);
	x = first;
	for (i = 1; i < k; i++) {
		struct rq_node *prev = x;

		x = x->next;
		weft__hb_acquire(x);
		/* Released for the ring's consumers only once we are done
		 * with it, link read included: its next pusher writes the
		 * link (TSan saw that as a race when the release came first). */
		if (prev != first)
			weft__hb_release(prev);
		/* Published by publish_tail() below. */
		ck_pr_store_ptr(slot(rq, t + i - 1), x);
	}
	if (x != first)
		weft__hb_release(x);
	if (k > 1)
		publish_tail(rq, t, k - 1);
	return first;
}
