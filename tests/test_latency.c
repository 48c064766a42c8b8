/* SPDX-License-Identifier: MIT */
/*
 * Scheduling latency (src/core/latency.c): the histogram's buckets cover
 * every tick count with no gap and no bucket wider than a quarter of its
 * lower bound; percentiles read off known samples land where they must;
 * and in a run where two fibers on one worker take turns spinning 200 us
 * and yielding, each waits about 200 us between its yield and its next
 * run, which weft_stats and weft_worker_stats report (median between 150
 * and 400 us), with the per-worker counts summing to the total and the
 * errors of weft_worker_stats.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "latency.h"

static void test_buckets_cover_and_are_narrow(void **state)
{
	(void)state;
	for (unsigned b = 0; b + 1 < LAT_BUCKETS - 4; b++) {
		uint64_t lo = lat_bucket_lo(b), hi = lat_bucket_lo(b + 1);

		assert_true(hi > lo);
		assert_int_equal(lat_bucket(lo), b);
		assert_int_equal(lat_bucket(hi - 1), b);
		if (lo >= 4)
			assert_true((hi - lo) * 4 <= lo);
	}
	assert_int_equal(lat_bucket(0), 0);
	assert_true(lat_bucket(UINT64_MAX) < LAT_BUCKETS);
}

static void test_percentiles_of_known_samples(void **state)
{
	static struct latency_hist h;
	struct latency_hist *hp = &h;
	struct latency_figures f;

	(void)state;
	weft__latency_start();
	usleep(20000);
	/* 98 samples of 1000 ticks, 2 of 100000: p50 near 1000, p99 and
	 * max at 100000, all in ticks times the tick rate. */
	for (int i = 0; i < 98; i++)
		lat_note(&h, 1000);
	lat_note(&h, 100000);
	lat_note(&h, 100000);
	weft__latency_figures(&hp, 1, &f);
	assert_int_equal(f.samples, 100);
	assert_true(f.p50_ns > 0);
	assert_true(f.p50_ns <= f.p99_ns && f.p99_ns <= f.max_ns);
	/* Bucket bounds: p50 within a quarter above 1000 ticks' worth. */
	assert_true((double)f.max_ns / (double)f.p50_ns > 100.0 / 1.26);
	assert_true((double)f.max_ns / (double)f.p50_ns <= 100.0);
	assert_int_equal(f.p99_ns, f.max_ns);
}

#define SPIN_US 200
#define TURNS 640

static void *taker(void *arg)
{
	(void)arg;
	for (int i = 0; i < TURNS; i++) {
		uint64_t t0 = now_ns();

		while (now_ns() - t0 < SPIN_US * 1000ull)
			;
		weft_yield();
	}
	return NULL;
}

struct seen {
	struct weft_stats st;
	struct weft_worker_stats w0;
	int err_range, err_null;
};

static void turns_main(void *arg)
{
	struct seen *s = arg;
	weft_fiber *a = check_spawn(taker, NULL), *b = check_spawn(taker, NULL);

	check_join(a);
	check_join(b);
	s->st.size = sizeof(s->st);
	check_eq(weft_stats(&s->st), 0);
	s->w0.size = sizeof(s->w0);
	s->err_range = weft_worker_stats(1, &s->w0);
	check_eq(weft_worker_stats(0, &s->w0), 0);
	s->err_null = weft_worker_stats(0, NULL);
}

static void test_turn_taking_waits_are_reported(void **state)
{
	struct weft_config cfg = { .workers = 1 };
	struct weft_worker_stats w = { .size = sizeof(w) };
	struct seen s = { 0 };

	(void)state;
	watchdog_arm(__func__, 60);
	run_checked(&cfg, turns_main, &s);
	watchdog_disarm();
	print_message("%llu samples: p50 %.1f us, p99 %.1f us, max %.1f us\n",
		      (unsigned long long)s.st.latency_samples,
		      s.st.latency_p50_ns / 1e3, s.st.latency_p99_ns / 1e3,
		      s.st.latency_max_ns / 1e3);
	/* 2 x 640 yields, and the spawns: one in 64 sampled. */
	assert_true(s.st.latency_samples >= 15);
	assert_true(s.st.latency_p50_ns >= 150000);
	assert_true(s.st.latency_p50_ns <= 400000);
	assert_true(s.st.latency_p50_ns <= s.st.latency_p99_ns);
	assert_true(s.st.latency_p99_ns <= s.st.latency_max_ns);
	/* One worker: its share is the whole. */
	assert_int_equal(s.w0.latency_samples, s.st.latency_samples);
	/* The same ticks; ns by a rate read a moment apart. */
	assert_true(s.w0.latency_max_ns * 1000 >= s.st.latency_max_ns * 999 &&
		    s.w0.latency_max_ns * 999 <= s.st.latency_max_ns * 1000);
	assert_int_equal(s.err_range, -EINVAL);
	assert_int_equal(s.err_null, -EINVAL);
	assert_int_equal(weft_worker_stats(0, &w), -EPERM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets_cover_and_are_narrow),
		cmocka_unit_test(test_percentiles_of_known_samples),
		cmocka_unit_test(test_turn_taking_waits_are_reported),
	};

	skip_without_backend();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
