/* SPDX-License-Identifier: MIT */
/*
 * The monitor: a thread of weft_run's that watches the runtime from
 * outside the workers, so that it can speak when they cannot (a worker
 * stuck in a system call runs nothing, not even a report).
 *
 * The shutdown report. Once shutdown has begun (the main fiber returned
 * and every fiber was cancelled), a fiber that still does not end keeps
 * weft_run() waiting: one parked where cancellation cannot reach
 * (weft_mutex_lock, a weft_blocking() call), or one that runs without a
 * yield point (a blocking system call, a loop that never checks
 * weft_cancelled()). After a grace period the monitor names each such
 * fiber once on stderr, with what it waits on, and weft_run() keeps
 * waiting: ending them is the program's business.
 *
 * Every second it also gives back stack slabs and chunks of fiber
 * records that stayed unused for a whole second (weft__stack_trim,
 * weft__record_trim), so a burst's memory returns to the
 * system without a slab being unmapped and mapped again while a workload
 * oscillates. Otherwise it sleeps on a condition variable, so it costs
 * one mostly idle thread and nothing on the workers' paths.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ck_pr.h>

#include "fiber.h"
#include "dump.h"
#include "monitor.h"
#include "record.h"
#include "scheduler.h"
#include "stack.h"

unsigned weft__shutdown_grace_ms = 2000;

unsigned weft__trim_period_ms = 1000;

/* The wake-up period when trims are off (weft__trim_period_ms = 0). */
#define TRIM_NEVER_MS 3600000u

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool started;
	bool shutdown;		/* shutdown has begun */
	bool stop;		/* weft_run is done with us */
} mon = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

/* Name every fiber still alive, once; one write, so lines stay whole. */
static void report_stuck(void)
{
	struct weft__fiber_list l;
	char head[160];
	int n;

	/* Out of memory, it still names those it could. */
	(void)weft__fiber_list(&l, true);
	if (l.nr == 0) {
		free(l.text);
		return;
	}
	n = snprintf(head, sizeof(head),
		     "weft: shutdown has waited %u ms for %u fiber%s that "
		     "did not end when cancelled:\n",
		     weft__shutdown_grace_ms, l.nr, l.nr == 1 ? "" : "s");
	if (n > 0)
		(void)!write(2, head, (size_t)n);
	(void)!write(2, l.text, l.len);
	free(l.text);
}

/* @t plus @ms milliseconds. */
static struct timespec ts_add_ms(struct timespec t, unsigned ms)
{
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000;
	if (t.tv_nsec >= 1000000000) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000;
	}
	return t;
}

static bool ts_before(struct timespec a, struct timespec b)
{
	return a.tv_sec < b.tv_sec ||
	       (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

static void *monitor_main(void *arg)
{
	struct timespec now, next_trim, report_at = { 0, 0 };
	bool report_due = false, reported = false;
	unsigned period;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &now);
	/* Read once per run: tests turn the trims off to drive them. */
	period = weft__trim_period_ms ? weft__trim_period_ms : TRIM_NEVER_MS;
	next_trim = ts_add_ms(now, period);
	pthread_mutex_lock(&mon.lock);
	while (!mon.stop) {
		bool trim, report;
		struct timespec until;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (mon.shutdown && !report_due && !reported) {
			report_at = ts_add_ms(now, weft__shutdown_grace_ms);
			report_due = true;
		}
		trim = !ts_before(now, next_trim);
		report = report_due && !ts_before(now, report_at);
		if (trim || report) {
			pthread_mutex_unlock(&mon.lock);
			if (trim) {
				if (weft__trim_period_ms) {
					weft__stack_trim(false);
					weft__record_trim();
				}
				next_trim = ts_add_ms(now, period);
			}
			if (report) {
				report_stuck();
				report_due = false;
				reported = true;
			}
			pthread_mutex_lock(&mon.lock);
			continue;
		}
		until = next_trim;
		if (report_due && ts_before(report_at, until))
			until = report_at;
		pthread_cond_timedwait(&mon.cond, &mon.lock, &until);
	}
	pthread_mutex_unlock(&mon.lock);
	return NULL;
}

int weft__monitor_start(void)
{
	pthread_condattr_t ca;
	pthread_attr_t attr;
	int err;

	mon.shutdown = false;
	mon.stop = false;
	/* Timed waits on CLOCK_MONOTONIC, like every weft time. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&mon.cond);
	pthread_cond_init(&mon.cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	err = -pthread_create(&mon.thread, &attr, monitor_main, NULL);
	pthread_attr_destroy(&attr);
	mon.started = err == 0;
	return err;
}

void weft__monitor_shutdown_begun(void)
{
	pthread_mutex_lock(&mon.lock);
	mon.shutdown = true;
	pthread_cond_signal(&mon.cond);
	pthread_mutex_unlock(&mon.lock);
}

void weft__monitor_stop(void)
{
	if (!mon.started)
		return;
	pthread_mutex_lock(&mon.lock);
	mon.stop = true;
	pthread_cond_signal(&mon.cond);
	pthread_mutex_unlock(&mon.lock);
	pthread_join(mon.thread, NULL);
	mon.started = false;
}
