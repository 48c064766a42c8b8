/* SPDX-License-Identifier: MIT */
/*
 * Rescue: what the other workers take over from a stalled one.
 *
 * A fiber that runs without reaching a yield point (a long loop, a
 * blocking system call) holds its worker: nothing else runs there until
 * it yields. weft cannot preempt it, but the rest of the runtime need not
 * wait with it. What a stalled worker holds, and who takes it:
 *
 *  - Fibers ready on it (run queue, LIFO slot, fork deque): stolen, as
 *    any idle worker steals (sched.c, step 7). Making a fiber ready on a
 *    worker that is running a fiber wakes an idle worker for this reason
 *    (weft__make_runnable_on); the monitor's stall watch, when it is on,
 *    wakes one again for a worker that stays stuck with work queued
 *    (weft__rescue_nudge), in case that wake-up was lost to a race.
 *  - Its timers that need nothing of it: sleeps and the timeouts of
 *    timed waits (weft_sleep_*; deadlines on channel, select, condition,
 *    wait-group and semaphore waits). Another worker fires them once they are RESCUE_GRACE_NS
 *    overdue and runs their fibers (weft__timers_rescue, time.c).
 *  - Wake-ups meant for its fibers: nothing to take; a waker queues the
 *    fiber it wakes on its own worker, never on the fiber's last one.
 *
 * What waits for the stalled worker to reach a yield point: I/O in its
 * poller (completions, readiness, the deadlines of that I/O, its
 * cancellation) and cancel requests for its sleeps, because only the
 * owner enters its ring or epoll set and takes its inbox (owned.c).
 *
 * Who looks at the timers, and when:
 *  - a worker out of work, every time it looks for some (find_runnable
 *    and its spinning search): a peek at every busy worker's earliest
 *    deadline (timer_heap.first_ns), no lock and no clock read unless
 *    one is set;
 *  - a busy worker, every 61st schedule (when it looks at the global
 *    queue), at one other worker, a different one each time
 *    (weft__rescue_peek): one or two loads, and a clock read only when
 *    that worker has a timer;
 *  - an idle worker asleep in its poller watches one neighbour, the
 *    worker after it in sched.workers: it bounds its sleep by that
 *    worker's earliest deadline plus the grace (weft__rescue_timeout), so
 *    each busy worker is watched by at most one sleeper and a timer wakes
 *    no herd. A fiber that sets a timer earlier than the watcher will
 *    look, on a worker with more work queued (so that another fiber,
 *    maybe a hog, runs there next), signals the watcher
 *    (weft__rescue_watch). With nothing queued it need not: the worker
 *    goes idle when the fiber parks, or gets work by an enqueue, and an
 *    enqueue wakes an idle worker, which looks again before it sleeps.
 *    On two workers every busy worker is watched this way; on more, a
 *    worker whose watcher is busy is looked at by whichever worker runs
 *    out of work next, or else at the monitor's nudge.
 * The grace keeps workers out of each other's heaps while the owner is
 * merely busy: a healthy worker fires its own timers at least every 61
 * schedules.
 *
 * Ordering of the watch, a Dekker pair:
 *   sleeper: watch_until = INT64_MAX, StoreLoad fence (park_worker's),
 *            read the neighbour's first_ns, store the bound, sleep;
 *   adder:   publish first_ns (timer.c), StoreLoad fence, read the
 *            watcher's idle flag and watch_until; signal if it is idle
 *            and would look later than the new deadline plus the grace.
 * Either the sleeper sees the new deadline, or the adder sees it idle
 * with a bound (INT64_MAX, or one from the older, later deadline) later
 * than the new timer's and signals it.
 */
#include <time.h>

#include <ck_pr.h>

#include "fiber.h"
#include "scheduler.h"

/*
 * CLOCK_MONOTONIC in ns. Not instrumented by ASan: weft__rescue_peek()
 * runs on fibers' stacks, and under detect_stack_use_after_return a
 * frame with an address-taken local (the timespec) makes ASan give the
 * fiber a fake stack of its own, 700 KiB apiece, on first use.
 */
__attribute__((no_sanitize_address)) static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* How overdue a busy worker's timer must be before another fires it. */
#define RESCUE_GRACE_NS 2000000

/* The worker that watches @v's timers while it sleeps, and the one @w
 * watches. */
static inline struct worker *watcher_of(const struct worker *v)
{
	struct sched *s = &weft__sched;

	return s->workers[(v->id + s->nr_workers - 1) % s->nr_workers];
}

static inline struct worker *watched_by(const struct worker *w)
{
	struct sched *s = &weft__sched;

	return s->workers[(w->id + 1) % s->nr_workers];
}

/* When @v's earliest timer is overdue by the grace; INT64_MAX if never. */
static inline int64_t rescue_due(const struct worker *v)
{
	int64_t first;

	/* An idle worker sleeps until its own earliest timer. Relaxed. */
	if (ck_pr_load_uint(&v->idle))
		return INT64_MAX;
	first = weft__timer_first_ns(&v->timers);
	if (first > INT64_MAX - RESCUE_GRACE_NS)
		return INT64_MAX;
	return first + RESCUE_GRACE_NS;
}

/* Count what @w fired for others; true if anything. */
static bool rescued(struct worker *w, unsigned queued)
{
	if (!queued)
		return false;
	/* Owner-written, read by weft_stats(). */
	ck_pr_store_64(&w->nr_rescued, w->nr_rescued + queued);
	return true;
}

void weft__rescue_peek(struct worker *w)
{
	struct sched *s = &weft__sched;
	/* Called when tick is a multiple of 61 (pick_local()): tick / 61
	 * moves on by one a call, so the look goes round the workers. */
	struct worker *v = s->workers[(w->tick / 61) % s->nr_workers];
	int64_t due, now;

	if (v == w || (due = rescue_due(v)) == INT64_MAX)
		return;
	now = now_ns();
	if (due <= now)
		(void)rescued(w, weft__timers_rescue(w, v,
						     now - RESCUE_GRACE_NS));
}

bool weft__rescue_timers(struct worker *w)
{
	struct sched *s = &weft__sched;
	int64_t earliest = INT64_MAX, now;
	unsigned i, queued = 0;

	for (i = 0; i < s->nr_workers; i++) {
		int64_t due;

		if (s->workers[i] == w)
			continue;
		due = rescue_due(s->workers[i]);
		if (due < earliest)
			earliest = due;
	}
	if (earliest == INT64_MAX)
		return false;
	now = now_ns();
	if (earliest > now)
		return false;
	for (i = 0; i < s->nr_workers; i++) {
		struct worker *v = s->workers[i];

		if (v != w && rescue_due(v) <= now)
			queued += weft__timers_rescue(w, v,
						      now - RESCUE_GRACE_NS);
	}
	return rescued(w, queued);
}

int64_t weft__rescue_timeout(struct worker *w)
{
	int64_t due, now;

	if (weft__sched.nr_workers < 2)
		return WEFT_FOREVER;
	due = rescue_due(watched_by(w));
	/* Relaxed: the adder reads it after its fence (see the top). */
	ck_pr_store_64((uint64_t *)&w->watch_until, (uint64_t)due);
	if (due == INT64_MAX)
		return WEFT_FOREVER;
	now = now_ns();
	return due > now ? due - now : 0;
}

void weft__rescue_watch(struct worker *v, int64_t deadline_ns)
{
	struct worker *r;

	/* With nothing else queued, this worker goes idle once the fiber
	 * parks, or takes new work through an enqueue, which wakes an idle
	 * worker, the watcher among them, to look again. Racy hints. */
	if (weft__sched.nr_workers < 2 ||
	    deadline_ns > INT64_MAX - RESCUE_GRACE_NS ||
	    (weft__runq_len(&v->rq) == 0 && weft__forkq_len(&v->fq) == 0))
		return;
	r = watcher_of(v);
	/* StoreLoad: first_ns (stored under the heap's lock) before the
	 * watcher's flags; pairs with the fence in park_worker(). */
	ck_pr_fence_store_load();
	/* Relaxed loads; see "Ordering of the watch". */
	if (ck_pr_load_uint(&r->idle) &&
	    (int64_t)ck_pr_load_64((uint64_t *)&r->watch_until) >
		    deadline_ns + RESCUE_GRACE_NS)
		weft__worker_signal(r);
}

void weft__rescue_nudge(struct worker *v)
{
	int64_t first = weft__timer_first_ns(&v->timers);

	/* Racy hints: a look a few ms apart, not a protocol. */
	if (weft__runq_len(&v->rq) == 0 && weft__forkq_len(&v->fq) == 0 &&
	    (first > INT64_MAX - RESCUE_GRACE_NS ||
	     first + RESCUE_GRACE_NS > now_ns()))
		return;
	/* StoreLoad, as any submitter before weft__wake_one(); pairs with
	 * the fence in park_worker(). */
	ck_pr_fence_store_load();
	weft__wake_one();
}
