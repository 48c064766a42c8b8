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
 * The stall watch (weft_config.stall_ms, WEFT_STALL_MS). Every quarter
 * of the threshold it reads each worker's schedule count (w->tick, bumped
 * on every switch) and running fiber (w->cur); a worker whose count has
 * not moved with the same fiber on it for the threshold has a fiber that
 * runs without reaching a yield point, and the monitor names it once on
 * stderr. Two plain loads a worker a look, nothing on the workers' paths
 * but the atomic stores of tick and cur (plain moves on x86). Go's sysmon
 * does the same with its schedtick; it also preempts, which weft cannot.
 * A worker seen stuck at one look already, holding work another could
 * take (queued fibers, an overdue timer), gets an idle worker woken for
 * it (weft__rescue_nudge; the rescue itself is rescue.c's).
 *
 * It keeps sched.clock_ds, the coarse clock a parking fiber stamps its
 * wait with, within WEFT_CLOCK_TICK_MS of the time.
 *
 * The deadlock check (deadlock.c): once a second, and whenever the last
 * worker falls asleep with nothing owned pending (sched.all_asleep), it
 * looks whether every fiber is asleep for good (a kick at most once
 * between two of those looks: sched.all_asleep_armed), and confirms it
 * WEFT_DEADLOCK_CONFIRM_MS later before it reports and ends them.
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

#include "backtrace.h"
#include "fiber.h"
#include "deadlock.h"
#include "dump.h"
#include "monitor.h"
#include "record.h"
#include "scheduler.h"
#include "stack.h"
#include "trace.h"

unsigned weft__shutdown_grace_ms = 2000;

unsigned weft__trim_period_ms = 1000;

/* The wake-up period when trims are off (weft__trim_period_ms = 0). */
#define TRIM_NEVER_MS 3600000u

/* What the stall watch saw of one worker at its last look. */
struct stall_seen {
	unsigned tick;
	const struct fiber *cur;
	struct timespec since;	/* first look with this tick and fiber */
	bool reported;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool started;
	bool shutdown;		/* shutdown has begun */
	bool stop;		/* weft_run is done with us */
	bool all_asleep;	/* a worker says: look for a deadlock */
	unsigned stall_ms;	/* 0: no stall watch */
	struct stall_seen *seen; /* one a worker, the monitor's own */
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

static int64_t ts_ms_between(struct timespec a, struct timespec b)
{
	return (int64_t)(b.tv_sec - a.tv_sec) * 1000 +
	       (b.tv_nsec - a.tv_nsec) / 1000000;
}

static void report_stall(const struct fiber *f, unsigned worker, int64_t ms)
{
	char name[sizeof(f->name)], site[200] = "", line[600];
	void *spawned = ck_pr_load_ptr(&f->spawn_site);
	int n;

	for (size_t i = 0; i < sizeof(name); i++)
		name[i] = ck_pr_load_char(&f->name[i]);
	name[sizeof(name) - 1] = '\0';
	if (spawned)
		weft__describe_pc(site, sizeof(site), spawned);
	n = snprintf(line, sizeof(line),
		     "weft: stall: fiber %" PRIu64 "%s%s%s has run on worker "
		     "%u for %" PRId64 " ms without reaching a yield point (a "
		     "blocking system call, or a loop making no weft call that "
		     "switches); other workers take its ready fibers and "
		     "timers, its I/O waits for it\n%s%s%s",
		     ck_pr_load_64(&f->id), name[0] ? " \"" : "", name,
		     name[0] ? "\"" : "", worker, ms,
		     spawned ? "weft:       spawned at " : "", site,
		     spawned ? "\n" : "");
	if (n > 0)
		(void)!write(2, line, (size_t)n < sizeof(line) ? (size_t)n
							 : sizeof(line) - 1);
}

/* One look of the stall watch at every worker. */
static void stall_look(struct timespec now)
{
	struct sched *s = &weft__sched;

	for (unsigned i = 0; i < s->nr_workers; i++) {
		struct worker *w = s->workers[i];
		struct stall_seen *st = &mon.seen[i];
		unsigned tick = ck_pr_load_uint(&w->tick);
		const struct fiber *cur = ck_pr_load_ptr(&w->cur);
		int64_t ms;

		if (!cur || tick != st->tick || cur != st->cur) {
			st->tick = tick;
			st->cur = cur;
			st->since = now;
			st->reported = false;
			continue;
		}
		/* Stuck for a look at least: if it holds work another
		 * worker could take, make sure one is awake to take it. */
		weft__rescue_nudge(w);
		ms = ts_ms_between(st->since, now);
		if (st->reported || ms < (int64_t)mon.stall_ms)
			continue;
		st->reported = true;
		report_stall(cur, i, ms);
		/* The monitor's own ring: it is its only writer. */
		if (weft__trace_on)
			weft__trace_put(weft__trace_monitor, TR_STALL,
					ck_pr_load_64(&cur->id), (uint64_t)ms,
					i);
	}
}

/* The deadlock check's pace (deadlock.c): a look once a second, and at
 * every all_asleep kick; a confirmation WEFT_DEADLOCK_CONFIRM_MS after a
 * look that saw every fiber asleep. */
#define DEADLOCK_LOOK_MS 1000u

static void *monitor_main(void *arg)
{
	struct timespec now, next_trim, next_stall, report_at = { 0, 0 };
	struct timespec next_look, confirm_at = { 0, 0 };
	bool report_due = false, reported = false;
	bool confirm_due = false, deadlocked = false;
	unsigned period, stall_period = mon.stall_ms / 4 ? mon.stall_ms / 4 : 1;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &now);
	/* Read once per run: tests turn the trims off to drive them. */
	period = weft__trim_period_ms ? weft__trim_period_ms : TRIM_NEVER_MS;
	next_trim = ts_add_ms(now, period);
	next_stall = ts_add_ms(now, stall_period);
	next_look = ts_add_ms(now, DEADLOCK_LOOK_MS);
	pthread_mutex_lock(&mon.lock);
	while (!mon.stop) {
		bool trim, report, stall, look, confirm;
		struct timespec until;

		clock_gettime(CLOCK_MONOTONIC, &now);
		/* Relaxed: a report's clock, read racily. */
		ck_pr_store_32(&weft__sched.clock_ds, weft__clock_ds(&now));
		if (mon.shutdown && !report_due && !reported) {
			report_at = ts_add_ms(now, weft__shutdown_grace_ms);
			report_due = true;
		}
		trim = !ts_before(now, next_trim);
		report = report_due && !ts_before(now, report_at);
		stall = mon.stall_ms && !ts_before(now, next_stall);
		look = !deadlocked && !confirm_due &&
		       (mon.all_asleep || !ts_before(now, next_look));
		confirm = confirm_due && !ts_before(now, confirm_at);
		mon.all_asleep = false;
		if (trim || report || stall || look || confirm) {
			pthread_mutex_unlock(&mon.lock);
			if (look) {
				/* The periodic look lets a worker kick again
				 * (sched.all_asleep_armed); atomic store. */
				if (!ts_before(now, next_look))
					ck_pr_store_uint(
						&weft__sched.all_asleep_armed,
						1);
				confirm_due = weft__deadlock_look();
				confirm_at = ts_add_ms(now,
						       WEFT_DEADLOCK_CONFIRM_MS);
				next_look = ts_add_ms(now, DEADLOCK_LOOK_MS);
			}
			if (confirm) {
				confirm_due = false;
				deadlocked = weft__deadlock_confirm();
			}
			if (stall) {
				stall_look(now);
				next_stall = ts_add_ms(now, stall_period);
			}
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
		until = ts_add_ms(now, WEFT_CLOCK_TICK_MS);
		if (ts_before(next_trim, until))
			until = next_trim;
		if (report_due && ts_before(report_at, until))
			until = report_at;
		if (mon.stall_ms && ts_before(next_stall, until))
			until = next_stall;
		if (confirm_due && ts_before(confirm_at, until))
			until = confirm_at;
		if (!deadlocked && !confirm_due && ts_before(next_look, until))
			until = next_look;
		pthread_cond_timedwait(&mon.cond, &mon.lock, &until);
	}
	pthread_mutex_unlock(&mon.lock);
	return NULL;
}

int weft__monitor_start(unsigned stall_ms)
{
	pthread_condattr_t ca;
	pthread_attr_t attr;
	struct timespec now;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &now);
	/* Before any fiber parks; relaxed, as in monitor_main(). */
	ck_pr_store_32(&weft__sched.clock_ds, weft__clock_ds(&now));
	/* The first all-asleep moment may kick at once; atomic store. */
	ck_pr_store_uint(&weft__sched.all_asleep_armed, 1);
	mon.shutdown = false;
	mon.stop = false;
	mon.all_asleep = false;
	mon.stall_ms = stall_ms;
	mon.seen = NULL;
	if (stall_ms) {
		mon.seen = calloc(weft__sched.nr_workers, sizeof(*mon.seen));
		if (!mon.seen)
			return -ENOMEM;
	}
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
	if (err) {
		free(mon.seen);
		mon.seen = NULL;
	}
	return err;
}

void weft__monitor_shutdown_begun(void)
{
	pthread_mutex_lock(&mon.lock);
	mon.shutdown = true;
	pthread_cond_signal(&mon.cond);
	pthread_mutex_unlock(&mon.lock);
}

void weft__monitor_all_asleep(void)
{
	pthread_mutex_lock(&mon.lock);
	mon.all_asleep = true;
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
	free(mon.seen);
	mon.seen = NULL;
}
