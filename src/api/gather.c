/* SPDX-License-Identifier: MIT */
/*
 * Gather: joining many fibers at once. weft_join_all is asyncio.gather
 * (wait for all, results in order, cancel the rest if the waiter is
 * cancelled); weft_join_any is asyncio.wait(FIRST_COMPLETED).
 *
 * weft_join_any claims the join of every fiber (join_word CLAIMED, see
 * "Join and detach" in fiber.c) and parks once, publishing the same wake
 * token in all of them; whichever fiber ends first wakes it, and the
 * later ones find the park over. On waking it gives back every claim it
 * does not use, so the losers are exactly as joinable as before.
 */
#include <errno.h>

#include <ck_pr.h>

#include "fiber.h"
#include "scheduler.h"
#include "waitq.h"

int weft_join_all(weft_fiber *const *fs, size_t n, void **results)
{
	int64_t deadline = WEFT_FOREVER;
	int first_err = 0, stopped = 0;
	struct worker *w = weft__may_suspend();
	struct fiber *self;

	if (!w)
		return -EPERM;
	self = w->cur;
	if (n && !fs)
		return -EINVAL;
	/* Last to first: children spawned in order sit newest first on the
	 * fork deque, so each join finds its child at the bottom and, if
	 * nobody has started it, runs it inline (weft_join). */
	for (size_t i = n; i-- > 0;) {
		void *r = NULL;
		int err;

		/* -ENOMEM: the deadline's timer could not be armed; the
		 * joins after go without the deadline, so need none. */
		while ((err = weft_join(fs[i], &r)) == -ECANCELED ||
		       err == -ETIMEDOUT || err == -ENOMEM) {
			/* During shutdown every wait ends at once; the
			 * runtime ends and frees the children itself. */
			if (ck_pr_load_uint(&weft__sched.shutdown))
				return -ECANCELED;
			if (stopped)
				continue;
			/* As gather does: cancel the children still
			 * running, then wait for them after all, past the
			 * deadline if that (or its timer) is what stopped
			 * us. */
			stopped = err;
			for (size_t j = 0; j <= i; j++)
				weft_cancel(fs[j]);
			deadline = weft_set_deadline(WEFT_FOREVER);
		}
		/* A cancel that reached us while the child ran inline could
		 * not end that join (weft_join): it is this call's, as if it
		 * had come a moment later. The fas takes it; pairs with the
		 * store in weft_cancel() (a racing one merges into it). */
		if (!err && !stopped && ck_pr_load_uint(&self->cancel_req) &&
		    ck_pr_fas_uint(&self->cancel_req, 0)) {
			stopped = -ECANCELED;
			for (size_t j = 0; j < i; j++)
				weft_cancel(fs[j]);
			deadline = weft_set_deadline(WEFT_FOREVER);
		}
		if (results)
			results[i] = err ? NULL : r;
		/* The lowest index's error: the first in the caller's order. */
		if (err)
			first_err = err;
	}
	if (stopped)
		weft_set_deadline(deadline);
	return stopped ? stopped : first_err;
}

/*
 * The record behind a handle whose join we hold (JOIN_CLAIMED): it cannot
 * be freed meanwhile, so the handle's index finds it without a check.
 */
static struct fiber *claimed_rec(weft_fiber *h)
{
	return weft__fiber_at((uint32_t)(uintptr_t)h - 1);
}

/* What weft_join_any publishes in each claimed fiber; on its stack. */
struct any_wait {
	weft_fiber *const *fs;	/* the caller's handles, every one claimed */
	size_t n;
	weft_token token;
	unsigned done;		/* atomic: publish_any() is finished with us */
};

/*
 * Post-switch: publish the token in every claimed fiber. If one has
 * ended meanwhile, call the park off (the fiber resumes at once); the
 * tokens already published are harmless, the fiber takes them back.
 *
 * Unlike other unlock callbacks this one reads the waiter's stack after
 * its first publication, when a fiber ending may already have resumed
 * the waiter elsewhere. So the waiter does not touch its claims or leave
 * before @done is set (a short spin, on another worker if at all), and
 * nothing here touches @aw after setting it.
 */
static bool publish_any(struct fiber *self, void *arg)
{
	struct any_wait *aw = arg;
	bool parked = true;

	(void)self;
	for (size_t i = 0; i < aw->n; i++)
		/* Full barrier; fails if the fiber ended (DONE or-ed in).
		 * Pairs with the CAS in weft__fiber_finish(), whose ender
		 * then finds the token. */
		if (!ck_pr_cas_64(&claimed_rec(aw->fs[i])->join_word,
				  JOIN_CLAIMED, JOIN_CLAIMED | aw->token)) {
			parked = false;
			break;
		}
	weft__hb_release(aw);
	/* Release: our reads of @aw before the waiter may reuse it;
	 * pairs with the acquire in weft_join_any(). */
	ck_pr_fence_release();
	ck_pr_store_uint(&aw->done, 1);
	return parked;
}

/*
 * Claim the join of fs[i], or say why not. A handle met twice finds its
 * own earlier claim and is refused like one another fiber is joining:
 * that is the duplicate check, in O(1) a handle and no memory.
 */
static int claim(struct worker *w, weft_fiber *h, uint64_t *old)
{
	struct fiber *f = weft__fiber_lookup(h);

	if (!f)
		return -ESRCH;
	if (f == w->cur)
		return -EDEADLK;
	for (;;) {
		*old = ck_pr_load_64(&f->join_word);
		if (*old != 0 && *old != JOIN_DONE)
			return -EINVAL;
		/* Full barrier; settles the race with detach, joins, exit:
		 * pairs with the CAS in weft_detach(), weft_join() and
		 * weft__fiber_finish(). */
		if (ck_pr_cas_64(&f->join_word, *old, *old | JOIN_CLAIMED))
			return 0;
	}
}

/*
 * Nothing of size n lives on the caller's stack (a fiber's may be 2 KiB):
 * the records are found again from the caller's own handle array, which
 * must stay valid until the call returns.
 */
int weft_join_any(weft_fiber *const *fs, size_t n, void **result)
{
	struct worker *w = weft__may_suspend();
	struct any_wait aw;
	size_t claimed = 0, i;
	bool any_done = false;
	int err = 0, winner = -1;

	if (!w)
		return -EPERM;
	if (n == 0 || !fs || n > INT32_MAX)
		return -EINVAL;
	/* Claim every join, so a duplicate is found even after a fiber
	 * that has ended already. */
	for (i = 0; i < n; i++) {
		uint64_t old;

		err = claim(w, fs[i], &old);
		if (err)
			break;
		claimed++;
		any_done |= old == JOIN_DONE;
	}
	if (!err && !any_done) {
		/* All were running: wait for the first to end. */
		aw.fs = fs;
		aw.n = n;
		aw.done = 0;
		aw.token = weft__park_token(w);
		fiber_waits_on(w->cur, WAIT_JOIN_ANY, n);
		/* Bounded by the fiber's deadline, if it has one. */
		err = weft__park_until(w, publish_any, &aw, WEFT_FOREVER);
		if (err > 0)
			err = 0;
		w = weft__worker_self();
		while (!ck_pr_load_uint(&aw.done))
			ck_pr_stall();
		/* Acquire: pairs with the release in publish_any(). */
		ck_pr_fence_acquire();
		weft__hb_acquire(&aw);
	}
	/* Give back every claim but the winner's (the first ended one,
	 * unless we were cancelled or met a bad handle). */
	for (i = 0; i < claimed; i++) {
		struct fiber *f = claimed_rec(fs[i]);
		uint64_t old;

		/* Take the claim (and token) back with a full-barrier CAS,
		 * unless the fiber ended first: then DONE is set. Pairs
		 * with the CAS in weft__fiber_finish(). */
		do {
			old = ck_pr_load_64(&f->join_word);
		} while (!(old & JOIN_DONE) &&
			 !ck_pr_cas_64(&f->join_word, old, 0));
		if (!(old & JOIN_DONE))
			continue;
		if (!err && winner < 0) {
			winner = (int)i;
			continue;
		}
		/* Ended, but not ours to join: joinable again as DONE. */
		ck_pr_store_64(&f->join_word, JOIN_DONE);
	}
	if (err)
		return err;
	weft_assert(winner >= 0);
	weft__fiber_reap(w, claimed_rec(fs[winner]), result);
	return winner;
}
