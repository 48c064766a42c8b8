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

int weft_join_all(weft_fiber *const *fs, size_t n, void **results)
{
	int first_err = 0;
	bool cancelled = false;

	if (!weft__may_suspend())
		return -EPERM;
	if (n && !fs)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		void *r = NULL;
		int err;

		while ((err = weft_join(fs[i], &r)) == -ECANCELED) {
			/* During shutdown every wait ends at once; the
			 * runtime ends and frees the children itself. */
			if (ck_pr_load_uint(&weft__sched.shutdown))
				return -ECANCELED;
			if (cancelled)
				continue;
			/* As gather does: cancel the children still
			 * running, then wait for them after all. */
			cancelled = true;
			for (size_t j = i; j < n; j++)
				weft_cancel(fs[j]);
		}
		if (results)
			results[i] = err ? NULL : r;
		if (err && !first_err)
			first_err = err;
	}
	return cancelled ? -ECANCELED : first_err;
}

/* What weft_join_any publishes in each claimed fiber; on its stack. */
struct any_wait {
	struct fiber **fs;	/* the claimed records, on the waiter's stack */
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
		/* Full barrier; fails if the fiber ended (DONE or-ed in). */
		if (!ck_pr_cas_64(&aw->fs[i]->join_word, JOIN_CLAIMED,
				  JOIN_CLAIMED | aw->token)) {
			parked = false;
			break;
		}
	weft__hb_release(aw);
	/* Release: our reads of @aw before the waiter may reuse it. */
	ck_pr_fence_release();
	ck_pr_store_uint(&aw->done, 1);
	return parked;
}

int weft_join_any(weft_fiber *const *fs, size_t n, void **result)
{
	struct worker *w = weft__may_suspend();
	struct fiber *recs[n ? n : 1];
	struct any_wait aw;
	size_t claimed = 0, i;
	int err = 0, winner = -1;

	if (!w)
		return -EPERM;
	if (n == 0 || !fs || n > INT32_MAX)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		recs[i] = weft__fiber_lookup(fs[i]);
		if (!recs[i])
			return -ESRCH;
		if (recs[i] == w->cur)
			return -EDEADLK;
		for (size_t j = 0; j < i; j++)
			if (recs[j] == recs[i])
				return -EINVAL;
	}
	/* Claim every join; stop early at one that has ended already. */
	for (i = 0; i < n; i++) {
		uint64_t old = ck_pr_load_64(&recs[i]->join_word);

		if (old != 0 && old != JOIN_DONE) {
			err = -EINVAL;
			break;
		}
		/* Full barrier; settles the race with detach, joins, exit. */
		if (!ck_pr_cas_64(&recs[i]->join_word, old, old | JOIN_CLAIMED)) {
			i--;
			continue;
		}
		claimed++;
		if (old == JOIN_DONE)
			break;
	}
	if (!err && i == n) {
		/* All were running: wait for the first to end. */
		aw.fs = recs;
		aw.n = n;
		aw.done = 0;
		aw.token = weft__park_token(w);
		if (weft__park(w, publish_any, &aw) == -ECANCELED)
			err = -ECANCELED;
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
		uint64_t old;

		/* Take the claim (and token) back with a full-barrier CAS,
		 * unless the fiber ended first: then DONE is set. */
		do {
			old = ck_pr_load_64(&recs[i]->join_word);
		} while (!(old & JOIN_DONE) &&
			 !ck_pr_cas_64(&recs[i]->join_word, old, 0));
		if (!(old & JOIN_DONE))
			continue;
		if (!err && winner < 0) {
			winner = (int)i;
			continue;
		}
		/* Ended, but not ours to join: joinable again as DONE. */
		ck_pr_store_64(&recs[i]->join_word, JOIN_DONE);
	}
	if (err)
		return err;
	weft_assert(winner >= 0);
	weft__fiber_reap(w, recs[winner], result);
	return winner;
}
