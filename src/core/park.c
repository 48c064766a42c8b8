/* SPDX-License-Identifier: MIT */
/*
 * The one park/ready path every wait in weft goes through: a park's
 * token, the post-switch step that publishes a parked fiber
 * (weft__finish_park, run by whatever context the fiber switched to),
 * and the CAS by which exactly one waker or canceller wins it. The
 * protocol, and why no wake-up is lost, is "Parking a fiber" in sched.c;
 * weft__park() itself, which switches away, is there too.
 */
#include <ck_pr.h>

#include "fiber.h"
#include "scheduler.h"
#include "trace.h"

weft_token weft__park_token(struct worker *w)
{
	struct fiber *f = w->cur;

	f->park_seq = (f->park_seq + 1) & PARK_SEQ_MASK;
	return fiber_token(f, f->park_seq);
}

void weft__finish_park(struct fiber *f, weft_unlock_fn unlock, void *arg)
{
	unsigned seq = f->park_seq;

	/* The fiber's earlier writes (its record, its wait entry) happen
	 * before any waker that finds it. */
	weft__hb_release(f);
	/* Before publication; wakers CAS it from here on. */
	ck_pr_store_uint(&f->park_word, seq << 3 | FIBER_PARKING);
	if (unlock && !unlock(f, arg)) {
		weft__ready(fiber_token(f, seq), 0);
		return;
	}
	/* Fails if a waker already won; then the fiber is theirs. Full
	 * barrier: PARKED before reading the cancel request; pairs with
	 * the fence in weft_cancel(), and with the CAS to READY in
	 * weft__claim_park(). */
	if (!ck_pr_cas_uint(&f->park_word, seq << 3 | FIBER_PARKING,
			    seq << 3 | FIBER_PARKED))
		return;
	if (ck_pr_load_uint(&f->cancel_req) ||
	    ck_pr_load_uint(&weft__sched.shutdown))
		weft__fiber_try_cancel(f);
}

struct fiber *weft__claim_park(weft_token token, int res)
{
	struct fiber *f = weft__fiber_at((uint32_t)(token >> 32) - 1);
	unsigned seq_bits = (unsigned)token;
	unsigned cur = ck_pr_load_uint(&f->park_word);

	/* Exactly one of the wakers and the canceller wins, and only for
	 * the park the token names; full barrier. */
	for (;;) {
		unsigned st = cur & PARK_STATE_MASK;

		if ((cur & ~PARK_STATE_MASK) != seq_bits ||
		    (st != FIBER_PARKING && st != FIBER_PARKED))
			return NULL;
		/* Lost to a concurrent weft__finish_park() step: reload,
		 * retry. Pairs with the CAS to PARKED in weft__finish_park()
		 * and with other wakers' and cancellers' CAS here. */
		if (ck_pr_cas_uint_value(&f->park_word, cur,
					 seq_bits | FIBER_READY, &cur))
			break;
	}
	/* Pairs with the release in weft__finish_park(). */
	weft__hb_acquire(f);
	f->wake_res = res;
	if (unlikely(weft__trace_on)) {
		struct worker *w = weft__worker_self();

		/* A worker's own ring; a foreign thread's wake-up is not
		 * recorded. */
		if (w)
			weft__trace(w, TR_WAKE, f->id, res);
	}
	return f;
}

bool weft__park_over(weft_token token)
{
	const struct fiber *f = weft__fiber_at((uint32_t)(token >> 32) - 1);
	unsigned cur = ck_pr_load_uint(&f->park_word);
	unsigned st = cur & PARK_STATE_MASK;

	/* Before weft__finish_park() the word still holds the previous
	 * park's sequence; from it on, this one's, until the next park. */
	return (cur & ~PARK_STATE_MASK) == (unsigned)token &&
	       st != FIBER_PARKING && st != FIBER_PARKED;
}

bool weft__ready(weft_token token, int res)
{
	struct fiber *f = weft__claim_park(token, res);

	if (!f)
		return false;
	weft__make_runnable(f);
	return true;
}
