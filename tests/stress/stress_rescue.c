/* SPDX-License-Identifier: MIT */
/*
 * Rescue races (src/core/rescue.c): hogs (one for every two workers) keep
 * stalling their workers for 0.5-5 ms at a time (spinning, or in a
 * blocking system call), so other workers keep firing the stalled
 * workers' timers, while the owners fire
 * the same heaps whenever they get free, a canceller cancels the
 * sleepers and the timed receivers at random, and senders race the
 * receivers' timeouts on a channel. Whoever wins each park, nothing may
 * be lost or doubled: every sleep ends at or after its deadline (or with
 * -ECANCELED), every -ETIMEDOUT comes at or after its deadline, and every
 * value sent is received exactly once. Run on 2 workers and on 4 (where
 * each idle worker watches only its neighbour).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "../helpers.h"

#define US 1000ll
#define MS 1000000ll
#define HOGS_MAX 2
#define SLEEPERS 12
#define RECEIVERS 6
#define SENDERS 3
#define RUN_MS 1500

struct run {
	weft_chan *c;
	int stop;			/* atomic: the fibers' loops end */
	uint64_t sent, sent_sum;	/* atomic */
	uint64_t recvd, recvd_sum;	/* atomic */
	uint64_t cancels, timeouts;	/* atomic */
	unsigned workers;
	int64_t worst_late;		/* atomic max, ns */
	weft_fiber *victims[SLEEPERS + RECEIVERS];
	struct weft_stats stats;	/* at the end of the run */
};

static bool stopped(struct run *r)
{
	return __atomic_load_n(&r->stop, __ATOMIC_RELAXED);
}

static uint64_t rand_below(uint64_t *seed, uint64_t n)
{
	*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
	return (*seed >> 33) % n;
}

static void note_late(struct run *r, int64_t late)
{
	int64_t cur = __atomic_load_n(&r->worst_late, __ATOMIC_RELAXED);

	while (late > cur &&
	       !__atomic_compare_exchange_n(&r->worst_late, &cur, late, false,
					    __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
}

static void *hog(void *arg)
{
	struct run *r = arg;
	uint64_t seed = (uintptr_t)weft_self();

	for (unsigned i = 0; !stopped(r); i++) {
		int64_t len = 500 * US + (int64_t)rand_below(&seed, 4500) * US;
		int64_t t0 = (int64_t)now_ns();

		if (i % 4 == 3)
			usleep((useconds_t)(len / US));
		else
			while ((int64_t)now_ns() - t0 < len)
				;
		/* A short sleep, so that its worker goes looking for work
		 * and takes fibers (and so timers) from the others before
		 * it is hogged again. */
		check_eq(weft_sleep_ns(200 * US), 0);
	}
	return NULL;
}

static void *sleeper(void *arg)
{
	struct run *r = arg;
	uint64_t seed = (uintptr_t)weft_self();

	while (!stopped(r)) {
		int64_t dl = weft_now_ns() +
			     (int64_t)rand_below(&seed, 2000) * US;
		int rc = weft_sleep_until(dl);
		int64_t now = weft_now_ns();

		if (rc == -ECANCELED) {
			__atomic_add_fetch(&r->cancels, 1, __ATOMIC_RELAXED);
			continue;
		}
		check_eq(rc, 0);
		check(now >= dl);
		note_late(r, now - dl);
	}
	return NULL;
}

static void *receiver(void *arg)
{
	struct run *r = arg;
	uint64_t seed = (uintptr_t)weft_self();
	uint64_t v;

	while (!stopped(r)) {
		int64_t dl = weft_now_ns() +
			     (int64_t)rand_below(&seed, 2000) * US;
		int64_t old = weft_set_deadline(dl);
		int rc = weft_chan_recv(r->c, &v);
		int64_t now = weft_now_ns();

		weft_set_deadline(old);
		if (rc == 0) {
			__atomic_add_fetch(&r->recvd, 1, __ATOMIC_RELAXED);
			__atomic_add_fetch(&r->recvd_sum, v, __ATOMIC_RELAXED);
		} else if (rc == -ETIMEDOUT) {
			__atomic_add_fetch(&r->timeouts, 1, __ATOMIC_RELAXED);
			check(now >= dl);
		} else {
			check_eq(rc, -ECANCELED);
			__atomic_add_fetch(&r->cancels, 1, __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

static void *sender(void *arg)
{
	struct run *r = arg;
	uint64_t seed = (uintptr_t)weft_self();

	for (uint64_t v = 1; !stopped(r); v++) {
		int64_t dl = weft_now_ns() +
			     (int64_t)rand_below(&seed, 3000) * US;
		int64_t old = weft_set_deadline(dl);
		int rc = weft_chan_send(r->c, &v);

		weft_set_deadline(old);
		if (rc == 0) {
			__atomic_add_fetch(&r->sent, 1, __ATOMIC_RELAXED);
			__atomic_add_fetch(&r->sent_sum, v, __ATOMIC_RELAXED);
		} else {
			check_eq(rc, -ETIMEDOUT);
		}
	}
	return NULL;
}

static void *canceller(void *arg)
{
	struct run *r = arg;
	uint64_t seed = 12345;

	while (!stopped(r)) {
		check_eq(weft_sleep_ns(300 * US), 0);
		check_eq(weft_cancel(r->victims[rand_below(
				 &seed, SLEEPERS + RECEIVERS)]),
			 0);
		watchdog_progress_add(1);
	}
	return NULL;
}

static void rescue_main(void *arg)
{
	struct run *r = arg;
	weft_fiber *others[HOGS_MAX + SENDERS + 1];
	unsigned n = 0, i;

	check_eq(weft_chan_new(&r->c, sizeof(uint64_t), 0), 0);
	for (i = 0; i < SLEEPERS; i++)
		r->victims[i] = check_spawn(sleeper, r);
	for (i = 0; i < RECEIVERS; i++)
		r->victims[SLEEPERS + i] = check_spawn(receiver, r);
	for (i = 0; i < SENDERS; i++)
		others[n++] = check_spawn(sender, r);
	/* Half the workers hogged: the others are free to rescue. */
	for (i = 0; i < r->workers / 2; i++)
		others[n++] = check_spawn(hog, r);
	others[n++] = check_spawn(canceller, r);
	check_eq(weft_sleep_ns(RUN_MS * MS), 0);
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED);
	r->stats.size = sizeof(r->stats);
	check_eq(weft_stats(&r->stats), 0);
	for (i = 0; i < n; i++)
		check_join(others[i]);
	for (i = 0; i < SLEEPERS + RECEIVERS; i++)
		check_join(r->victims[i]);
	weft_chan_free(r->c);
}

static void run_on(unsigned workers)
{
	struct weft_config cfg = { .workers = workers };
	struct run r = { .workers = workers };

	watchdog_arm(__func__, 60);
	run_checked(&cfg, rescue_main, &r);
	watchdog_disarm();
	print_message("%u workers: %llu sent, %llu timeouts, %llu cancels, "
		      "worst sleep lateness %.2f ms, %llu rescued\n", workers,
		      (unsigned long long)r.sent,
		      (unsigned long long)r.timeouts,
		      (unsigned long long)r.cancels,
		      (double)r.worst_late / MS,
		      (unsigned long long)r.stats.rescued);
	assert_int_equal(r.recvd, r.sent);
	assert_int_equal(r.recvd_sum, r.sent_sum);
	assert_true(r.sent > 0);
	assert_true(r.timeouts > 0);
	assert_true(r.cancels > 0);
	/* The races this test is for did happen. */
	assert_true(r.stats.rescued > 0);
}

static void test_rescue_races_two_workers(void **state)
{
	(void)state;
	run_on(2);
}

static void test_rescue_races_four_workers(void **state)
{
	(void)state;
	run_on(4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rescue_races_two_workers),
		cmocka_unit_test(test_rescue_races_four_workers),
	};

	skip_without_backend();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
