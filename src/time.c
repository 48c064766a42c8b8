/* SPDX-License-Identifier: MIT */
/*
 * Time: the clock, sleeping, and per-fiber deadlines. A sleeping fiber
 * parks in an owned wait whose timer sits in its worker's heap (timer.c);
 * the worker fires expired timers in its scheduler context and bounds its
 * ring wait by the earliest one, so a sleep costs no kernel timer.
 * Cancellation of a sleep goes through the owner like any owned wait
 * (io.c). Deadlines are a field of the fiber read by io.c and here.
 */
#include <errno.h>
#include <time.h>

#include "fiber.h"
#include "io.h"
#include "scheduler.h"

uint64_t weft_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int weft_sleep_until(int64_t deadline_ns)
{
	struct worker *w = weft__worker_self();
	struct owned_wait ow;
	struct fiber *f;
	int err;

	if (!w || !w->cur)
		return -EPERM;
	f = w->cur;
	ow.is_timer = true;
	ow.expiry_res = 0;
	/* The fiber's deadline, if it comes first, ends the sleep early. */
	if (f->deadline_ns != WEFT_FOREVER && f->deadline_ns <= deadline_ns) {
		if ((int64_t)weft_now_ns() >= f->deadline_ns)
			return -ETIMEDOUT;
		deadline_ns = f->deadline_ns;
		ow.expiry_res = -ETIMEDOUT;
	}
	weft__timer_init(&ow.timer);
	err = weft__timer_add(&w->timers, &ow.timer, deadline_ns);
	if (err)
		return err;
	return weft__owned_wait(w, &ow);
}

int weft_sleep_ns(uint64_t ns)
{
	uint64_t now = weft_now_ns();

	if (ns > (uint64_t)INT64_MAX - now)
		return weft_sleep_until(INT64_MAX);
	return weft_sleep_until((int64_t)(now + ns));
}

int64_t weft_set_deadline(int64_t deadline_ns)
{
	struct worker *w = weft__worker_self();
	int64_t old;

	if (!w || !w->cur)
		return WEFT_FOREVER;
	old = w->cur->deadline_ns;
	w->cur->deadline_ns = deadline_ns < 0 ? WEFT_FOREVER : deadline_ns;
	return old;
}

int64_t weft__timer_timeout(struct worker *w)
{
	struct timer *t = weft__timer_first(&w->timers);
	int64_t now;

	if (!t)
		return WEFT_FOREVER;
	now = (int64_t)weft_now_ns();
	return t->deadline_ns > now ? t->deadline_ns - now : 0;
}
