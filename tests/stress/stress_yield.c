/* SPDX-License-Identifier: MIT */
/*
 * Yield storms. Many fibers yield in a tight loop on two workers, so that
 * they migrate between worker threads all the time; each checks after
 * every yield that its errno value survived (weft saves and restores a
 * fiber's errno across switches; see "Yield point" in weft.h) and counts
 * how often it came back on another worker, and that the runtime's own
 * inline read of its worker (weft__worker_self(), read in the same
 * function before and after the yield) names the thread it now runs on,
 * so no thread-local address survived the switch. A second test checks,
 * loosely, that on one worker two yielding fibers get turns in round
 * robin even when one of them does far more work per turn.
 *
 * errno is read through errno_location(), an out-of-line accessor the
 * compiler cannot treat as const, never through a cached &errno: a cached
 * address would point at the previous worker's errno after a migration,
 * which weft.h forbids.
 *
 * Fibers never call cmocka's assert_*: they record results in plain
 * per-fiber slots (published to the main fiber by weft_join()) and
 * atomics, checked by the test function after weft_run() returns.
 *
 * WEFT_STRESS_ITERS sets the yields per fiber in the storm (default
 * 100,000; fewer under sanitizers); the fairness test runs twice that
 * many turns in all.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"
#include "scheduler.h"
#include "../helpers.h"

#define GROUP "stress_yield"

#define STORM_WORKERS 2u
/* Fibers per worker in the storm: 2 * workers * 50 in all. */
#define STORM_FIBERS (2u * STORM_WORKERS * 50u)
/* Yields per fiber from which some fiber must have migrated. */
#define STORM_MIGRATE_MIN 1000u

/* Busy-loop rounds the hog runs per turn; the light fiber runs none. */
#define HOG_SPIN 2000u

/*
 * The calling thread's errno, found afresh on every call: out of line,
 * and the empty asm keeps the compiler from treating it as const and
 * reusing an address from before a yield.
 */
static __attribute__((noinline)) int *errno_location(void)
{
	__asm__ volatile("");
	return &errno;
}

/* The calling thread, asked afresh on every call (pthread_self() is
 * declared const; the empty asm keeps this call from being reused). */
static __attribute__((noinline)) pthread_t self_thread(void)
{
	__asm__ volatile("");
	return pthread_self();
}

/* Yield storm --------------------------------------------------------- */

/* One storm fiber's results; written by the fiber, read after its join. */
struct storm_slot {
	unsigned idx;
	uint64_t yields;	/* yields done                               */
	uint64_t errno_bad;	/* errno differed after a yield              */
	int first_bad;		/* the first wrong value seen                */
	int first_want;		/* and the value expected there              */
	uint64_t migrations;	/* worker changed across a yield             */
	uint64_t bad_worker;	/* weft_worker_id() out of range             */
	uint64_t stale_self;	/* weft__worker_self() not this thread's     */
	uint64_t done;		/* the fiber reached its end (magic value)   */
};

#define STORM_DONE 0x57011dull

struct storm {
	uint64_t yields;	/* per fiber                                 */
	struct storm_slot slots[STORM_FIBERS];
	uint64_t spawn_errs;
	int first_spawn_err;
	uint64_t join_errs;
	int first_join_err;
	uint64_t bad_results;
	unsigned workers;
};

static struct storm storm;

/* errno values unique to each fiber and each step of its loop. */
static int storm_errno(unsigned idx, uint64_t i)
{
	return (int)(((idx + 1u) << 20) | (unsigned)(i & 0xfffff));
}

static void *storm_fiber(void *arg)
{
	struct storm_slot *s = arg;
	unsigned w = weft_worker_id();
	uint64_t i;

	*errno_location() = storm_errno(s->idx, 0);
	for (i = 0; i < storm.yields; i++) {
		int want = storm_errno(s->idx, i);
		struct worker *before, *after;
		unsigned now;
		int got;

		before = weft__worker_self();
		weft_yield();
		after = weft__worker_self();
		if (!before || !after ||
		    !pthread_equal(after->thread, self_thread()))
			s->stale_self++;
		got = *errno_location();
		if (got != want && s->errno_bad++ == 0) {
			s->first_bad = got;
			s->first_want = want;
		}
		now = weft_worker_id();
		if (now >= STORM_WORKERS)
			s->bad_worker++;
		if (now != w)
			s->migrations++;
		w = now;
		/* A fresh value for the next yield. */
		*errno_location() = storm_errno(s->idx, i + 1);
		if ((i & 1023) == 1023)
			watchdog_progress_add(1024);
	}
	s->yields = i;
	s->done = STORM_DONE;
	return s;
}

static void storm_main(void *arg)
{
	weft_fiber *f[STORM_FIBERS];
	bool spawned[STORM_FIBERS];
	struct weft_stats st = { .size = sizeof(st) };
	unsigned i;

	(void)arg;
	if (weft_stats(&st) == 0)
		storm.workers = st.workers;
	for (i = 0; i < STORM_FIBERS; i++) {
		int err;

		storm.slots[i].idx = i;
		err = weft_spawn(&f[i], storm_fiber, &storm.slots[i], NULL);
		spawned[i] = err == 0;
		if (err && storm.spawn_errs++ == 0)
			storm.first_spawn_err = err;
	}
	for (i = 0; i < STORM_FIBERS; i++) {
		void *got = NULL;
		int err;

		if (!spawned[i])
			continue;
		err = weft_join(f[i], &got);
		if (err) {
			if (storm.join_errs++ == 0)
				storm.first_join_err = err;
		} else if (got != &storm.slots[i]) {
			storm.bad_results++;
		}
	}
}

static void test_yield_storm_keeps_errno_and_migrates(void **state)
{
	uint64_t def = 100000;
	uint64_t errno_bad = 0;
	uint64_t migrations = 0;
	uint64_t bad_worker = 0;
	uint64_t stale_self = 0;
	uint64_t yields = 0;
	unsigned done = 0;
	unsigned i;
	uint64_t t0;
	uint64_t t1;
	int err;

	(void)state;
	if (under_tsan())
		def = 5000;
	else if (under_asan())
		def = 50000;
	memset(&storm, 0, sizeof(storm));
	storm.yields = stress_iters(def);

	watchdog_arm(__func__, 120);
	t0 = now_ns();
	err = weft_run(&(struct weft_config){ .workers = STORM_WORKERS },
		       storm_main, NULL);
	t1 = now_ns();
	watchdog_disarm();
	assert_int_equal(err, 0);

	for (i = 0; i < STORM_FIBERS; i++) {
		struct storm_slot *s = &storm.slots[i];

		done += s->done == STORM_DONE;
		yields += s->yields;
		migrations += s->migrations;
		bad_worker += s->bad_worker;
		stale_self += s->stale_self;
		errno_bad += s->errno_bad;
		if (s->errno_bad)
			fprintf(stderr,
				GROUP ": fiber %u: errno wrong after %llu of "
				"%llu yields; first %d, expected %d\n",
				i, (unsigned long long)s->errno_bad,
				(unsigned long long)s->yields, s->first_bad,
				s->first_want);
	}
	printf(GROUP ": %u fibers x %llu yields on %u workers: %.2f s, "
	       "%.0f ns per yield; %llu migrations\n",
	       STORM_FIBERS, (unsigned long long)storm.yields, storm.workers,
	       (double)(t1 - t0) / 1e9,
	       yields ? (double)(t1 - t0) / (double)yields : 0.0,
	       (unsigned long long)migrations);
	if (storm.spawn_errs)
		fprintf(stderr, GROUP ": %llu spawns failed, first: %s\n",
			(unsigned long long)storm.spawn_errs,
			strerror(-storm.first_spawn_err));
	if (storm.join_errs)
		fprintf(stderr, GROUP ": %llu joins failed, first: %s\n",
			(unsigned long long)storm.join_errs,
			strerror(-storm.first_join_err));
	assert_int_equal(storm.workers, STORM_WORKERS);
	assert_int_equal(storm.spawn_errs, 0);
	assert_int_equal(storm.join_errs, 0);
	assert_int_equal(storm.bad_results, 0);
	assert_int_equal(done, STORM_FIBERS);
	assert_int_equal(yields, (uint64_t)STORM_FIBERS * storm.yields);
	assert_int_equal(bad_worker, 0);
	assert_int_equal(stale_self, 0);
	assert_int_equal(errno_bad, 0);
	/* Thieves take fibers mid-storm only when it lasts a while. */
	if (storm.yields >= STORM_MIGRATE_MIN)
		assert_true(migrations > 0);
}

/* Hog versus light ---------------------------------------------------- */

struct fair {
	uint64_t total;		/* turns to run in all                       */
	uint64_t taken;		/* turns taken so far (one worker: plain)    */
	uint64_t turns[2];	/* per fiber: [0] hog, [1] light             */
	uint64_t sink;		/* keeps the hog's busy loop alive           */
	uint64_t spawn_errs;
	uint64_t join_errs;
};

static struct fair fair;

static void *fair_fiber(void *arg)
{
	unsigned who = (unsigned)(uintptr_t)arg;
	uint64_t x = who + 1;

	while (fair.taken < fair.total) {
		unsigned k;

		fair.taken++;
		fair.turns[who]++;
		if (who == 0)
			for (k = 0; k < HOG_SPIN; k++) {
				x = x * 6364136223846793005ull + 1;
				/* Keep the loop from being folded away. */
				__asm__ volatile("" : "+r"(x));
			}
		if ((fair.taken & 1023) == 0)
			watchdog_progress_add(1024);
		weft_yield();
	}
	fair.sink += x;
	return arg;
}

static void fair_main(void *arg)
{
	weft_fiber *f[2];
	bool ok[2];
	unsigned i;

	(void)arg;
	for (i = 0; i < 2; i++) {
		ok[i] = weft_spawn(&f[i], fair_fiber, (void *)(uintptr_t)i,
				   NULL) == 0;
		fair.spawn_errs += !ok[i];
	}
	for (i = 0; i < 2; i++)
		if (ok[i] && weft_join(f[i], NULL))
			fair.join_errs++;
}

static void test_yield_hog_and_light_take_turns_on_one_worker(void **state)
{
	uint64_t hog;
	uint64_t light;
	uint64_t t0;
	uint64_t t1;
	int err;

	(void)state;
	memset(&fair, 0, sizeof(fair));
	fair.total = 2 * stress_iters(under_tsan() || under_asan() ? 20000
								   : 100000);

	watchdog_arm(__func__, 60);
	t0 = now_ns();
	err = weft_run(&(struct weft_config){ .workers = 1 }, fair_main,
		       NULL);
	t1 = now_ns();
	watchdog_disarm();
	assert_int_equal(err, 0);

	hog = fair.turns[0];
	light = fair.turns[1];
	printf(GROUP ": one worker, %llu turns in %.2f s: hog %llu, "
	       "light %llu\n",
	       (unsigned long long)fair.total, (double)(t1 - t0) / 1e9,
	       (unsigned long long)hog, (unsigned long long)light);
	assert_int_equal(fair.spawn_errs, 0);
	assert_int_equal(fair.join_errs, 0);
	assert_int_equal(hog + light, fair.total);
	assert_true(hog > 0);
	assert_true(light > 0);
	assert_true(hog <= 2 * light);
	assert_true(light <= 2 * hog);
}

/* Entry --------------------------------------------------------------- */

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_yield_storm_keeps_errno_and_migrates),
		cmocka_unit_test(
			test_yield_hog_and_light_take_turns_on_one_worker),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	skip_without_backend();
	return cmocka_run_group_tests_name(GROUP, tests, NULL, NULL);
}
