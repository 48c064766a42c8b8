/* SPDX-License-Identifier: MIT */
/*
 * Time: the clock, sleeping, timed parks, and per-fiber deadlines.
 *
 * Every timer sits in a worker's heap (timer.c); the worker fires expired
 * timers in its scheduler context and bounds its ring wait by the
 * earliest one, so no wait costs a kernel timer. Two kinds:
 *  - A sleep parks in an owned wait (owned.h) that only its timer ends:
 *    it fires, or a cancellation request reaches the owner (owned.c).
 *  - A timed park (weft__park_until) waits in some wait queue (waitq.h)
 *    that any thread may wake, with a timer as a backstop. The timer
 *    holds the park's token; firing it is one more waker racing for the
 *    park, and a timer that loses does nothing. The fiber, whoever woke
 *    it, removes the timer before it returns, if it is still queued:
 *    from the worker it resumed on, which may not be the owner. Hence
 *    the heap's lock. Whoever fires a timer (the owner, or another worker
 *    rescuing a stalled owner's timers, below) reads it only under that
 *    lock, so once the fiber has removed it (under the lock), nobody
 *    touches the record on its stack again.
 * Deadlines are a field of the fiber read by the I/O backends, waitq users and here.
 */
#include <errno.h>
#include <time.h>

#include "fiber.h"
#include "owned.h"
#include "scheduler.h"
#include "trace.h"
#include "waitq.h"

int64_t weft_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* Since boot: 292 years before this overflows. */
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int weft_sleep_until(int64_t deadline_ns)
{
	struct worker *w = weft__may_suspend();
	struct owned_wait ow;
	struct fiber *f;
	bool first;
	int err;

	if (!w)
		return -EPERM;
	f = w->cur;
	ow.kind = OWNED_TIMER;
	ow.expiry_res = 0;
	/* No deadline: until a cancel or the fiber's deadline, on a timer
	 * that never fires, as weft_sleep_ns(INT64_MAX) sleeps. A negative
	 * one in the heap would fire at once. */
	if (deadline_norm(deadline_ns) == WEFT_FOREVER)
		deadline_ns = INT64_MAX;
	/* The fiber's deadline, if it comes first, ends the sleep early. */
	if (f->deadline_ns != WEFT_FOREVER && f->deadline_ns <= deadline_ns) {
		if (weft_now_ns() >= f->deadline_ns)
			return -ETIMEDOUT;
		deadline_ns = f->deadline_ns;
		ow.expiry_res = -ETIMEDOUT;
	}
	fiber_waits_on(f, WAIT_SLEEP, (uint64_t)deadline_ns);
	/* The token before the timer: once in the heap, another worker may
	 * fire it (rescue.c). */
	weft__owned_begin(w, &ow);
	weft__timer_init(&ow.timer, TIMER_OWNED);
	spin_lock(&w->timers_lock);
	err = weft__timer_add(&w->timers, &ow.timer, deadline_ns);
	first = ow.timer.idx == 0;
	spin_unlock(&w->timers_lock);
	if (err)
		return err;
	if (first)
		weft__rescue_watch(w, deadline_ns);
	return weft__owned_wait(w, &ow);
}

int weft_sleep_ns(int64_t ns)
{
	int64_t now = weft_now_ns();

	/* Not a timeout: a negative sleep is no sleep, as 0 is, never the
	 * "no limit" a negative deadline means to weft_sleep_until(). */
	if (ns < 0)
		ns = 0;
	if (ns > INT64_MAX - now)
		return weft_sleep_until(INT64_MAX);
	return weft_sleep_until(now + ns);
}

int64_t weft_set_deadline(int64_t deadline_ns)
{
	struct worker *w = weft__worker_self();
	int64_t old;

	if (!w || !w->cur)
		return WEFT_FOREVER;
	old = w->cur->deadline_ns;
	w->cur->deadline_ns = deadline_norm(deadline_ns);
	return old;
}

int64_t weft__timer_timeout(struct worker *w)
{
	struct timer *t;
	int64_t first, now;

	spin_lock(&w->timers_lock);
	t = weft__timer_first(&w->timers);
	first = t ? t->deadline_ns : WEFT_FOREVER;
	spin_unlock(&w->timers_lock);
	if (first == WEFT_FOREVER)
		return WEFT_FOREVER;
	now = weft_now_ns();
	return first > now ? first - now : 0;
}

/* Timed parks ----------------------------------------------------------- */

/* A timed park's timer; on the parked fiber's stack. */
struct park_timer {
	struct timer timer;
	weft_token token;	/* the park it may end                  */
};

int weft__park_until(struct worker *w, weft_unlock_fn unlock, void *arg,
		     int64_t deadline_ns)
{
	struct fiber *f = w->cur;
	struct park_timer pt;
	bool first;
	int res, err;

	deadline_ns = deadline_min(deadline_ns, f->deadline_ns);
	if (deadline_ns == WEFT_FOREVER)
		return weft__park(w, unlock, arg);
	weft__timer_init(&pt.timer, TIMER_PARK);
	pt.token = fiber_token(f, f->park_seq);
	spin_lock(&w->timers_lock);
	err = weft__timer_add(&w->timers, &pt.timer, deadline_ns);
	first = pt.timer.idx == 0;
	spin_unlock(&w->timers_lock);
	if (err) {
		/* Not parked: a waker that finds the token cannot claim a
		 * running fiber and skips it, as it skips a cancelled one. */
		if (unlock)
			unlock(f, arg);
		return err;
	}
	if (first)
		weft__rescue_watch(w, deadline_ns);
	res = weft__park(w, unlock, arg);
	/* @w is the owner of the timer, not necessarily ours any more. */
	spin_lock(&w->timers_lock);
	weft__timer_del(&w->timers, &pt.timer);
	spin_unlock(&w->timers_lock);
	return res;
}

/* io_uring deadlines one pass of weft__timers_fire() ends, at most. */
#define EXPIRE_SQES 32

void weft__timers_fire(struct worker *w)
{
	/* No more than the run queue holds, so that none spills to the
	 * global queue and sleepers resume in deadline order; the rest
	 * fire on the next pass, as soon as these ran. */
	unsigned room = WEFT_RUNQ_SIZE - weft__runq_len(&w->rq);
	int64_t now = weft_now_ns();
	struct owned_wait *sqes[EXPIRE_SQES];
	unsigned nr_sqes = 0, i;
	struct timer *t;

	spin_lock(&w->timers_lock);
	while (room > 0 && nr_sqes < EXPIRE_SQES &&
	       (t = weft__timer_pop_expired(&w->timers, now))) {
		struct fiber *f;

		if (t->kind == TIMER_OWNED) {
			struct owned_wait *ow =
				container_of(t, struct owned_wait, timer);

			/* The kernel still holds its buffer: ask it to
			 * stop, after the lock (submitting may flush); the
			 * completion ends the wait. */
			if (ow->kind == OWNED_SQE) {
				sqes[nr_sqes++] = ow;
				continue;
			}
			weft__io_complete(w, ow, ow->expiry_res);
			room--;
			continue;
		}
		/* A waker may have won already; then the fiber is on its
		 * way to take the lock and find its timer gone. */
		f = weft__claim_park(container_of(t, struct park_timer,
						  timer)->token, -ETIMEDOUT);
		if (f) {
			weft__enqueue_local(w, f);
			room--;
		}
	}
	spin_unlock(&w->timers_lock);
	/* Nothing ends these meanwhile: only this worker handles their
	 * completions, in its poller pass, and submitting never does. */
	for (i = 0; i < nr_sqes; i++) {
		sqes[i]->expired = true;
		weft__poller->cancel(w, sqes[i]);
	}
}

/*
 * A sleep or timed park stays in its owner's heap until it fires, even
 * when the owner is stalled by a fiber that does not yield; then another
 * worker fires it (rescue.c), under the heap's lock, as the owner would.
 * Only timers that need nothing of the owner: an epoll I/O deadline ends
 * a watch in the owner's epoll set, so it is passed over (set aside and
 * put back). A timer whose fiber is still on its way into the park (the
 * owner has not run its post-switch step yet) cannot be won and must not
 * be dropped: the pass stops there. The lock is only tried: an owner
 * busy with its heap is not stalled.
 */
#define RESCUE_ASIDE 8

unsigned weft__timers_rescue(struct worker *w, struct worker *v,
			     int64_t due_ns)
{
	unsigned room = WEFT_RUNQ_SIZE - weft__runq_len(&w->rq);
	struct timer *aside[RESCUE_ASIDE], *t;
	unsigned nr_aside = 0, queued = 0, i;

	if (!spin_trylock(&v->timers_lock))
		return 0;
	while (room > 0 && nr_aside < RESCUE_ASIDE &&
	       (t = weft__timer_pop_expired(&v->timers, due_ns))) {
		struct fiber *f;

		if (t->kind == TIMER_OWNED) {
			struct owned_wait *ow =
				container_of(t, struct owned_wait, timer);

			if (ow->kind != OWNED_TIMER) {
				aside[nr_aside++] = t;
				continue;
			}
			/* Fails only while the sleeper is still parking:
			 * nothing but a timer ends a sleep, and a cancel
			 * takes this lock first (owned.c). */
			f = weft__claim_park(ow->token, 0);
			if (!f) {
				aside[nr_aside++] = t;
				break;
			}
			ow->res = ow->expiry_res;
			weft__trace(w, TR_IO_DONE, f->id, ow->res);
		} else {
			weft_token token =
				container_of(t, struct park_timer, timer)->token;

			f = weft__claim_park(token, -ETIMEDOUT);
			/* Lost to a waker: the fiber removes nothing, its
			 * timer is gone, as when the owner fires it. */
			if (!f && !weft__park_over(token)) {
				aside[nr_aside++] = t;
				break;
			}
		}
		if (f) {
			weft__enqueue_local(w, f);
			room--;
			queued++;
		}
	}
	/* Back where they were; the heap had room for them a moment ago. */
	for (i = 0; i < nr_aside; i++) {
		int err = weft__timer_add(&v->timers, aside[i],
					  aside[i]->deadline_ns);

		weft_assert(err == 0);
	}
	spin_unlock(&v->timers_lock);
	return queued;
}
