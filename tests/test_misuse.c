/* SPDX-License-Identifier: MIT */
/*
 * Misuse of the public API gets an error, never a crash: bad arguments,
 * calls outside a fiber or outside weft_run(), joining twice, joining a
 * detached fiber or oneself, stale handles, and a second runtime.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"

static struct weft_config two = { .workers = 2 };

static void *nothing(void *arg)
{
	return arg;
}

static void test_calls_outside_weft_run_are_eperm(void **state)
{
	weft_fiber *f = NULL;
	struct weft_stats st;

	(void)state;
	assert_int_equal(weft_spawn(&f, nothing, NULL, NULL), -EPERM);
	assert_int_equal(weft_go(nothing, NULL), -EPERM);
	assert_int_equal(weft_join((weft_fiber *)(uintptr_t)0x100000001ull,
				   NULL), -EPERM);
	assert_int_equal(weft_detach((weft_fiber *)(uintptr_t)0x100000001ull),
			 -EPERM);
	assert_int_equal(weft_cancel((weft_fiber *)(uintptr_t)0x100000001ull),
			 -EPERM);
	assert_int_equal(weft_stats(&st), -EPERM);
	assert_false(weft_cancelled());
	weft_yield();
}

static void test_weft_run_rejects_bad_arguments(void **state)
{
	struct weft_config c;

	(void)state;
	assert_int_equal(weft_run(NULL, NULL, NULL), -EINVAL);
	c = (struct weft_config){ .workers = WEFT_WORKERS_MAX + 1 };
	assert_int_equal(weft_run(&c, noop_main, NULL), -EINVAL);
	c = (struct weft_config){ .ring_entries = 1u << 20 };
	assert_int_equal(weft_run(&c, noop_main, NULL), -EINVAL);
	c = (struct weft_config){ .stack_size = (size_t)1 << 40 };
	assert_int_equal(weft_run(&c, noop_main, NULL), -EINVAL);
	/* A NULL config means all defaults. */
	assert_int_equal(weft_run(NULL, noop_main, NULL), 0);
}

struct results {
	int spawn_null_fn;
	int spawn_huge_stack;
	int join_self;
	int join_twice_first, join_twice_second;
	int join_detached;
	int detach_twice_first, detach_twice_second;
	int join_garbage;
	int cancel_stale;
	int nested_run;
	int stats;
	uint64_t live;
};

static void *join_self(void *arg)
{
	struct results *r = arg;

	r->join_self = weft_join(weft_self(), NULL);
	return NULL;
}

static void *park_briefly(void *arg)
{
	int i;

	for (i = 0; i < 100; i++)
		weft_yield();
	return arg;
}

static void misuse_main(void *arg)
{
	struct results *r = arg;
	struct weft_spawn_opts huge = { .stack_size = (size_t)1 << 31 };
	struct weft_stats st;
	weft_fiber *f, *g;

	r->spawn_null_fn = weft_spawn(&f, NULL, NULL, NULL);
	r->spawn_huge_stack = weft_spawn(&f, nothing, NULL, &huge);

	weft_spawn(&f, join_self, r, NULL);
	weft_join(f, NULL);

	weft_spawn(&f, nothing, NULL, NULL);
	r->join_twice_first = weft_join(f, NULL);
	r->join_twice_second = weft_join(f, NULL);

	weft_spawn(&f, park_briefly, NULL, NULL);
	weft_detach(f);
	r->join_detached = weft_join(f, NULL);

	weft_spawn(&g, park_briefly, NULL, NULL);
	r->detach_twice_first = weft_detach(g);
	r->detach_twice_second = weft_detach(g);

	r->join_garbage = weft_join((weft_fiber *)(uintptr_t)0xdead0000beefull,
				    NULL);
	weft_spawn(&f, nothing, NULL, NULL);
	weft_join(f, NULL);
	r->cancel_stale = weft_cancel(f);

	r->nested_run = weft_run(NULL, noop_main, NULL);

	r->stats = weft_stats(&st);
	r->live = st.live;
}

static void test_misuse_inside_a_fiber_gets_errors(void **state)
{
	struct results r;

	(void)state;
	memset(&r, 0x55, sizeof(r));
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, misuse_main, &r), 0);
	assert_int_equal(r.spawn_null_fn, -EINVAL);
	assert_int_equal(r.spawn_huge_stack, -EINVAL);
	assert_int_equal(r.join_self, -EDEADLK);
	assert_int_equal(r.join_twice_first, 0);
	assert_int_equal(r.join_twice_second, -ESRCH);
	assert_true(r.join_detached == -EINVAL || r.join_detached == -ESRCH);
	assert_int_equal(r.detach_twice_first, 0);
	assert_true(r.detach_twice_second == -EINVAL ||
		    r.detach_twice_second == -ESRCH);
	assert_int_equal(r.join_garbage, -ESRCH);
	assert_int_equal(r.cancel_stale, -ESRCH);
	assert_int_equal(r.nested_run, -EBUSY);
	assert_int_equal(r.stats, 0);
	/* main, plus the detached fibers that may still be yielding. */
	assert_true(r.live >= 1 && r.live <= 3);
	watchdog_disarm();
}

/* Two fibers join the same target at once: exactly one wins. */
static int double_rc[2];

static void *join_target(void *arg)
{
	weft_fiber **t = arg;
	int rc = weft_join(*t, NULL);

	if (rc == 0)
		__atomic_add_fetch(&double_rc[0], 1, __ATOMIC_RELAXED);
	else if (rc == -EINVAL || rc == -ESRCH)
		__atomic_add_fetch(&double_rc[1], 1, __ATOMIC_RELAXED);
	return NULL;
}

static void double_join_main(void *arg)
{
	weft_fiber *target, *a, *b;

	(void)arg;
	weft_spawn(&target, park_briefly, NULL, NULL);
	weft_spawn(&a, join_target, &target, NULL);
	weft_spawn(&b, join_target, &target, NULL);
	weft_join(a, NULL);
	weft_join(b, NULL);
}

static void test_concurrent_joins_have_one_winner(void **state)
{
	int i;

	(void)state;
	watchdog_arm(__func__, 30);
	for (i = 0; i < 200; i++) {
		double_rc[0] = double_rc[1] = 0;
		assert_int_equal(weft_run(&two, double_join_main, NULL), 0);
		assert_int_equal(double_rc[0], 1);
		assert_int_equal(double_rc[1], 1);
	}
	watchdog_disarm();
}

/* WEFT_WORKERS sets the count a zeroed config gets, as GOMAXPROCS. */
static void record_workers(void *arg)
{
	struct weft_stats st;

	*(unsigned *)arg = weft_stats(&st) == 0 ? st.workers : 0;
}

static void run_with_bad_workers_env(void *arg)
{
	unsigned got = 0;

	setenv("WEFT_WORKERS", arg, 1);
	if (weft_run(NULL, record_workers, &got) == 0 && got >= 1)
		_exit(0);
	_exit(1);
}

static void test_weft_workers_env_sets_the_default(void **state)
{
	static const char *const bad[] = { "0", "-2", "3x", "257" };
	struct weft_config three = { .workers = 3 };
	unsigned got = 0;

	(void)state;
	setenv("WEFT_WORKERS", "5", 1);
	assert_int_equal(weft_run(NULL, record_workers, &got), 0);
	assert_int_equal(got, 5);
	/* An explicit count wins. */
	assert_int_equal(weft_run(&three, record_workers, &got), 0);
	assert_int_equal(got, 3);
	unsetenv("WEFT_WORKERS");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char out[512];
		int status = run_in_child(run_with_bad_workers_env,
					  (void *)bad[i], out, sizeof(out));

		assert_true(status != -1 && WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		assert_non_null(strstr(out, "is not a number from 1 to 256"));
	}
}

/* An internal assertion says one line with one prefix, then aborts. */
static void fail_an_assertion(void *arg)
{
	(void)arg;
	weft__assert_fail("lt", "src/io.c", 260);
}

static void test_assertion_message_is_one_clean_line(void **state)
{
	char out[512];
	int status;

	(void)state;
	status = run_in_child(fail_an_assertion, NULL, out, sizeof(out));
	assert_true(status != -1 && WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_string_equal(out, "weft: assertion failed: lt at src/io.c:260\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_calls_outside_weft_run_are_eperm),
		cmocka_unit_test(test_weft_run_rejects_bad_arguments),
		cmocka_unit_test(test_misuse_inside_a_fiber_gets_errors),
		cmocka_unit_test(test_concurrent_joins_have_one_winner),
		cmocka_unit_test(test_assertion_message_is_one_clean_line),
		cmocka_unit_test(test_weft_workers_env_sets_the_default),
	};

	skip_without_uring();
	return cmocka_run_group_tests_name("misuse", tests, NULL, NULL);
}
