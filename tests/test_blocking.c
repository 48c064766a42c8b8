/* SPDX-License-Identifier: MIT */
/*
 * The blocking pool: results come back, the worker keeps running other
 * fibers while a call blocks its pool thread, many calls from many fibers
 * all complete, and a cancellation during a call is delivered at the next
 * suspension instead of cutting the call short.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "helpers.h"

static void *add_one(void *arg)
{
	return (void *)((intptr_t)arg + 1);
}

/* A call that blocks its thread, as a foreign library would. */
static void *nap(void *arg)
{
	struct timespec ts = { 0, (long)(intptr_t)arg };

	nanosleep(&ts, NULL);
	return (void *)7;
}

struct res {
	int rc, rc_null, cancel_rc, after_rc;
	void *result;
	unsigned ticks_during;
	int done;
};

static void *ticker(void *arg)
{
	struct res *r = arg;

	while (!__atomic_load_n(&r->done, __ATOMIC_ACQUIRE)) {
		r->ticks_during++;
		weft_sleep_ns(1000000);
	}
	return NULL;
}

static void basic_main(void *arg)
{
	struct res *r = arg;
	weft_fiber *t;

	r->rc_null = weft_blocking(NULL, NULL, NULL);
	weft_spawn(&t, ticker, r, NULL);
	/* One worker: the ticker can only run if the worker is free. */
	r->rc = weft_blocking(nap, (void *)(intptr_t)100000000, &r->result);
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
	weft_join(t, NULL);
}

static void test_worker_runs_other_fibers_during_a_call(void **state)
{
	struct weft_config one = { .workers = 1 };
	struct res r = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&one, basic_main, &r), 0);
	assert_int_equal(r.rc_null, -EINVAL);
	assert_int_equal(r.rc, 0);
	assert_ptr_equal(r.result, (void *)7);
	/* 100 ms of blocking call, 1 ms ticks: plenty ran meanwhile. */
	assert_true(r.ticks_during >= 20);
	watchdog_disarm();
}

#define CALLERS 100
#define CALLS 10

static int wrong;

static void *caller(void *arg)
{
	intptr_t base = (intptr_t)arg * 1000;
	void *out;
	int i;

	for (i = 0; i < CALLS; i++) {
		if (weft_blocking(add_one, (void *)(base + i), &out) ||
		    out != (void *)(base + i + 1))
			__atomic_add_fetch(&wrong, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void many_main(void *arg)
{
	weft_fiber *f[CALLERS];
	intptr_t i;

	(void)arg;
	for (i = 0; i < CALLERS; i++)
		weft_spawn(&f[i], caller, (void *)i, NULL);
	for (i = 0; i < CALLERS; i++)
		weft_join(f[i], NULL);
}

static void test_a_thousand_calls_from_a_hundred_fibers(void **state)
{
	struct weft_config cfg = { .workers = 2, .blocking_threads = 3 };

	(void)state;
	watchdog_arm(__func__, 60);
	assert_int_equal(weft_run(&cfg, many_main, NULL), 0);
	assert_int_equal(wrong, 0);
	watchdog_disarm();
}

static void *call_then_sleep(void *arg)
{
	struct res *r = arg;

	r->cancel_rc = weft_blocking(nap, (void *)(intptr_t)50000000,
				     &r->result);
	/* The cancellation was held back until now. */
	r->after_rc = weft_sleep_ns(1000000000);
	return NULL;
}

static void cancel_main(void *arg)
{
	struct res *r = arg;
	weft_fiber *f;

	weft_spawn(&f, call_then_sleep, r, NULL);
	weft_sleep_ns(10000000);
	weft_cancel(f);
	weft_join(f, NULL);
}

static void test_cancel_waits_for_the_call_then_hits_next_suspension(void **state)
{
	struct weft_config two = { .workers = 2 };
	struct res r = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, cancel_main, &r), 0);
	assert_int_equal(r.cancel_rc, 0);
	assert_ptr_equal(r.result, (void *)7);
	assert_int_equal(r.after_rc, -ECANCELED);
	watchdog_disarm();
}

static void test_blocking_outside_a_fiber_is_eperm(void **state)
{
	(void)state;
	assert_int_equal(weft_blocking(add_one, NULL, NULL), -EPERM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worker_runs_other_fibers_during_a_call),
		cmocka_unit_test(test_a_thousand_calls_from_a_hundred_fibers),
		cmocka_unit_test(test_cancel_waits_for_the_call_then_hits_next_suspension),
		cmocka_unit_test(test_blocking_outside_a_fiber_is_eperm),
	};

	skip_without_backend();
	return cmocka_run_group_tests_name("blocking", tests, NULL, NULL);
}
