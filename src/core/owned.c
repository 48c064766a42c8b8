/* SPDX-License-Identifier: MIT */
/*
 * Waits owned by a worker (owned.h), and how they are cancelled.
 *
 * An SQE in flight, a descriptor watched in an epoll set and a timer in a
 * heap belong to one worker: only its thread may enter its ring or set or
 * touch its heap, and the wait's record lives on the fiber's stack until
 * the owner lets the fiber go. The owner ends such a wait only in its
 * scheduler context (at the latest every 61 schedules), never on a fiber
 * on its way out, because every fiber that parked on this worker has
 * finished parking by then (see Parking in sched.c): a completion can
 * never race its own park.
 *
 * Cancellation. A canceller (weft_cancel, shutdown) is not allowed to end
 * such a park itself. It pushes the fiber onto the owner's inbox (an MPSC
 * stack) and signals the owner, which then removes the timer and wakes
 * the fiber with -ECANCELED, or asks its backend to withdraw the
 * operation (poller.h): epoll drops the watch at once, io_uring submits
 * IORING_OP_ASYNC_CANCEL and lets the operation's own completion (with
 * -ECANCELED, or its real result if it finished first) wake the fiber.
 * Until that completion arrives the kernel may still write into the
 * buffer, so the call does not return before it. A real result is
 * returned as it is (the bytes it moved are not lost) and the request
 * is kept for the fiber's next suspension (weft__owned_wait()).
 *
 * Only the owner worker's thread runs any of this for a given wait, with
 * one exception: a sleep (a wait on a timer alone) whose owner is stalled
 * is ended by another worker, under the owner's heap lock (rescue.c,
 * weft__timers_rescue in time.c); cancel_here() looks under that lock.
 * That is also why ThreadSanitizer, which cannot see through the kernel,
 * needs no annotations here: a wait is set up, ended and reaped by one
 * thread (or, for a rescued sleep, handed over through the annotated
 * spinlock), and the result reaches a fiber that resumes elsewhere
 * through the run queues, which are annotated (runq.c).
 */
#include <errno.h>

#include <ck_pr.h>

#include "fiber.h"
#include "owned.h"
#include "poller.h"
#include "scheduler.h"
#include "trace.h"
#include "waitq.h"

/* Waiting ----------------------------------------------------------------- */

void weft__owned_begin(struct worker *w, struct owned_wait *ow)
{
	ow->owner = w;
	ow->cancelled = false;
	ow->took_request = false;
	ow->expired = false;
	ow->has_timer = false;
	ow->token = weft__park_token(w);
}

int weft__owned_wait(struct worker *w, struct owned_wait *ow)
{
	struct fiber *f = w->cur;

	/* Read by cancellers after PARKED; the park CAS orders these. */
	f->owned = ow;
	ck_pr_store_ptr(&f->wait_owner, w);
	weft__park(w, NULL, NULL);
	/* The owner ended the wait: nobody refers to @ow any more. */
	ck_pr_store_ptr(&f->wait_owner, NULL);
	f->owned = NULL;
	/* A request was taken to end this wait, but the operation finished
	 * before the kernel could withdraw it: its result stands, and the
	 * request is the next suspension's (weft_cancel()'s contract: the
	 * suspension that reports it consumes it). Only the fiber itself
	 * runs now, so only its own next park reads this. So too if its
	 * deadline ended it in the same pass: the caller reports
	 * -ETIMEDOUT, which consumes no request. */
	if (ow->took_request && (ow->res != -ECANCELED || ow->expired))
		ck_pr_store_uint(&f->cancel_req, 1);
	return ow->res;
}

void weft__io_complete(struct worker *w, struct owned_wait *ow, int res)
{
	struct fiber *f;

	if (ow->kind == OWNED_FD)
		weft__epoll_unwatch(w, ow);
	ow->res = res;
	/* Cannot fail: only the owner ends an owned wait, and it is here. */
	f = weft__claim_park(ow->token, 0);
	weft_assert(f);
	weft__trace(w, TR_IO_DONE, f->id, res);
	/* FIFO, not the LIFO slot: completions and timers handled in one
	 * pass resume in the order they came (a sleeper never overtakes
	 * one with an earlier deadline). */
	weft__enqueue_local(w, f);
}

/* Cancellation --------------------------------------------------------------- */

/*
 * The inbox is a Treiber stack with a single consumer that always takes
 * the whole stack, so there is no ABA: a node cannot be popped and pushed
 * back under a pusher's feet.
 */
static void inbox_push(struct worker *owner, struct fiber *f)
{
	struct fiber *head;

	do {
		head = ck_pr_load_ptr(&owner->inbox);
		f->cancel_next = head;
		/* The link and the record before the node is visible. */
		weft__hb_release(f);
		/* Full barrier; pairs with the swap in inbox_take(). */
	} while (!ck_pr_cas_ptr(&owner->inbox, head, f));
}

/* Take every queued request, newest first. Owner only. */
static struct fiber *inbox_take(struct worker *w)
{
	/* Atomic swap with NULL; pairs with the CAS in inbox_push(). */
	return ck_pr_fas_ptr(&w->inbox, NULL);
}

void weft__owned_cancel(struct fiber *f, struct worker *owner)
{
	/* @owner was read once by the caller: the fiber may have moved on
	 * to another wait since, even one nobody may end early. A stale
	 * owner is harmless (drain_inbox() checks); these are not. */
	if (!owner || owner == WAIT_NO_CANCEL)
		return;
	/* The fiber is in at most one inbox at a time. Full barrier;
	 * pairs with the swap to 0 in drain_inbox(). */
	if (!ck_pr_cas_uint(&f->cancel_queued, 0, 1))
		return;
	/* Pairs with the release in drain_inbox(): the last owner has
	 * read cancel_next before we write it. */
	weft__hb_acquire(&f->cancel_queued);
	inbox_push(owner, f);
	weft__worker_signal(owner);
}

/*
 * End @f's owned wait on this worker with -ECANCELED, if it is still in
 * it. Owner only. A sleep is the one owned wait another worker may end
 * (rescuing a stalled owner's timers, time.c), and it does so only under
 * the heap's lock; so the look at the park and at @f->owned is made under
 * that lock too: if the fiber is still parked here, its record is alive
 * and nobody else can end the wait. False if it had already ended.
 */
static bool cancel_here(struct worker *w, struct fiber *f)
{
	struct owned_wait *ow = NULL;

	spin_lock(&w->timers_lock);
	if ((ck_pr_load_uint(&f->park_word) & PARK_STATE_MASK) ==
		    FIBER_PARKED &&
	    ck_pr_load_ptr(&f->wait_owner) == w) {
		ow = f->owned;
		if (ow->kind == OWNED_TIMER)
			weft__timer_del(&w->timers, &ow->timer);
	}
	spin_unlock(&w->timers_lock);
	if (!ow)
		return false;
	/* Consumed by the wait it ends, given back by weft__owned_wait() if
	 * the operation's own result wins. Shutdown's cancel takes none. */
	ow->took_request = ck_pr_load_uint(&f->cancel_req) != 0;
	ck_pr_store_uint(&f->cancel_req, 0);
	if (ow->kind == OWNED_TIMER)
		weft__io_complete(w, ow, -ECANCELED);
	else
		weft__poller->cancel(w, ow);
	return true;
}

static void drain_inbox(struct worker *w)
{
	struct fiber *next = inbox_take(w);

	while (next) {
		struct fiber *f = next;

		/* Pairs with the release in inbox_push(). */
		weft__hb_acquire(f);
		/* Before the fiber can be queued again and relinked. */
		next = f->cancel_next;
		/* Full barrier: leave the inbox before looking at the wait,
		 * so a new request either sees 0 here or is handled below.
		 * Pairs with the CAS in weft__owned_cancel(). */
		weft__hb_release(&f->cancel_queued);
		ck_pr_fas_uint(&f->cancel_queued, 0);
		/* An entry without a request behind it is stale: a slow
		 * canceller queued it after the request was served (by
		 * this wait or the fiber's own next park). It must not end
		 * the wait the fiber is in now; only a request or shutdown
		 * may. A canceller whose CAS on cancel_queued failed stored
		 * its request (or shutdown) before it; the full barrier
		 * above makes that store visible here. */
		if (!ck_pr_load_uint(&f->cancel_req) &&
		    !ck_pr_load_uint(&weft__sched.shutdown))
			continue;
		if (cancel_here(w, f))
			continue;
		/* The wait it was meant for is over; the request is the
		 * fiber's next suspension's business, or another owner's
		 * if it is parked there now. */
		weft__fiber_try_cancel(f);
	}
}

/* Owner's housekeeping --------------------------------------------------------- */

bool weft__owned_pending(struct worker *w)
{
	/* A racy peek at the inbox; drain_inbox() takes it properly. */
	return w->io_inflight || w->io_unsubmitted ||
	       ck_pr_load_uint(&w->timers.n) ||
	       w->io_backlog || ck_pr_load_ptr(&w->inbox);
}

void weft__owned_poll(struct worker *w)
{
	/* A racy peek; drain_inbox() takes the stack atomically. */
	if (ck_pr_load_ptr(&w->inbox))
		drain_inbox(w);
	/* A racy peek too; the heap is read under its lock. */
	if (ck_pr_load_uint(&w->timers.n))
		weft__timers_fire(w);
	if (w->io_inflight || w->io_unsubmitted || w->io_backlog)
		weft__worker_poll(w, false, 0);
}
