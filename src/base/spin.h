/* SPDX-License-Identifier: MIT */
/*
 * The one spinlock of the runtime: test-and-test-and-set on ck_pr, with
 * the ThreadSanitizer annotations inside it, so that every user gets the
 * same ordering and TSan sees every critical section as ordered after
 * the previous holder's.
 *
 * Contract:
 *  - All zero is unlocked: a spinlock in static, calloc'd or memset
 *    storage needs no spin_init(); spin_init() is for reuse.
 *  - Not recursive: a holder that takes the same lock again spins
 *    forever. There is no owner field and no check.
 *  - Held briefly, never across anything that sleeps or switches: no
 *    syscall that may block, no fiber switch, no wait for another lock
 *    holder's progress other than by taking a lock in a fixed order.
 *    A waiter burns its CPU (ck_pr_stall between looks) and a preempted
 *    holder stalls every waiter, so a critical section is a few pointer
 *    moves and at most one element copy. The one exception is
 *    weft__park(): a fiber may record spin_unlock() as its post-switch
 *    action, which runs on the next context, so the lock is held across
 *    the switch but released before anything else runs on that worker.
 *  - Unfair: whoever swaps first wins; there is no queue of waiters.
 *  - Ordering: spin_lock() and a successful spin_trylock() are acquires
 *    (nothing of the critical section is seen before the swap that won),
 *    spin_unlock() is a release (everything in the critical section is
 *    visible before the store that frees the lock). So a holder sees
 *    every write made by earlier holders inside their critical sections.
 *    Nothing is ordered for accesses outside any critical section.
 *  - Any thread: worker, fiber (which must not switch while holding it)
 *    or a plain thread. Signal handlers must not take one.
 */
#ifndef WEFT_SPIN_H
#define WEFT_SPIN_H

#include <stdbool.h>

#include <ck_pr.h>

#include "internal.h"

struct spinlock {
	unsigned locked;	/* 1 while held; written only by ck_pr    */
};

static inline void spin_init(struct spinlock *l)
{
	ck_pr_store_uint(&l->locked, 0);
}

static inline void spin_lock(struct spinlock *l)
{
	/* Swap; if it was held, only look (no writes to the busy line)
	 * until it seems free, then swap again. No pairing: the swap only
	 * decides who holds the lock, the fences below order. */
	while (ck_pr_fas_uint(&l->locked, 1)) {
		do
			ck_pr_stall();
		while (ck_pr_load_uint(&l->locked));
	}
	/* Acquire: pairs with the release fence in spin_unlock(); the
	 * critical section comes after the swap that won. */
	ck_pr_fence_lock();
	/* ck's atomics are invisible to TSan: the lock is a hand-off. */
	weft__hb_acquire(l);
}

/* Take @l if it is free; never waits. True if taken. */
static inline bool spin_trylock(struct spinlock *l)
{
	/* A plain look first, so that a busy lock's line is not written.
	 * No pairing: the swap decides, the fence below orders. */
	if (ck_pr_load_uint(&l->locked) || ck_pr_fas_uint(&l->locked, 1))
		return false;
	/* Acquire: pairs with the release fence in spin_unlock(). */
	ck_pr_fence_lock();
	weft__hb_acquire(l);
	return true;
}

static inline void spin_unlock(struct spinlock *l)
{
	weft__hb_release(l);
	/* Release: pairs with the acquire fence in spin_lock() and
	 * spin_trylock(); the critical section before the freeing store. */
	ck_pr_fence_unlock();
	ck_pr_store_uint(&l->locked, 0);
}

#endif /* WEFT_SPIN_H */
