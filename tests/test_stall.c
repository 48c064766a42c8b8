/* SPDX-License-Identifier: MIT */
/*
 * The monitor's stall report (weft_config.stall_ms, WEFT_STALL_MS): a
 * fiber that runs past the threshold without a yield point is named once
 * on stderr with its worker, whether it spins or sits in a blocking
 * system call; a fiber as busy that yields is not; the report is off by
 * default, on from the config, and WEFT_STALL_MS overrides the config
 * either way (a bad value is named and ignored). Each case runs weft in
 * a child process whose stderr the test reads (helpers.h run_in_child),
 * on two workers, so the stall leaves the rest of the runtime running,
 * and on one. What the other worker takes over is test_rescue.c's.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"

#define MS 1000000ull

enum what { SPIN, BLOCK, YIELD };

struct child_case {
	enum what what;
	unsigned cfg_stall_ms;
	const char *env;	/* WEFT_STALL_MS, or NULL: unset */
	unsigned workers;	/* 0: two */
};

static const char *const names[] = { "spinner", "blocker", "yielder" };

/* 200 ms of work the way the case says: spin, block, or spin and yield. */
static void *worker_fn(void *arg)
{
	enum what what = *(enum what *)arg;
	uint64_t t0 = now_ns();

	if (what == BLOCK) {
		usleep(200 * 1000);
		return NULL;
	}
	while (now_ns() - t0 < 200 * MS)
		if (what == YIELD)
			weft_yield();
	return NULL;
}

static void case_main(void *arg)
{
	struct child_case *c = arg;
	weft_fiber *f;

	check_eq(weft_spawn(&f, worker_fn, &c->what,
			    &(struct weft_spawn_opts){ .name = names[c->what] }),
		 0);
	check_eq(weft_join(f, NULL), 0);
}

static void child(void *arg)
{
	struct child_case *c = arg;
	struct weft_config cfg = { .workers = c->workers ? c->workers : 2,
				   .stall_ms = c->cfg_stall_ms };

	if (c->env)
		setenv("WEFT_STALL_MS", c->env, 1);
	else
		unsetenv("WEFT_STALL_MS");
	_exit(weft_run(&cfg, case_main, c) == 0 && nr_failed == 0 ? 0 : 1);
}

/* Run @c in a child; its stderr into @out. The child must succeed. */
static void run_case(struct child_case c, char *out, size_t cap)
{
	int status = run_in_child(child, &c, out, cap);

	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("child status %#x; stderr:\n%s", status, out);
}

static unsigned count(const char *hay, const char *needle)
{
	unsigned n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* Exactly one report naming @name, at least the threshold long. */
static void assert_one_report(const char *out, const char *name,
			      unsigned threshold_ms)
{
	char want[64];
	const char *p;
	long ms;

	snprintf(want, sizeof(want), "\"%s\" has run on worker ", name);
	if (count(out, "weft: stall: ") != 1 || !(p = strstr(out, want)))
		fail_msg("want one stall report for %s; stderr:\n%s", name,
			 out);
	p = strstr(p, " for ");
	assert_non_null(p);
	ms = strtol(p + 5, NULL, 10);
	assert_true(ms >= (long)threshold_ms);
	assert_non_null(strstr(out, "without reaching a yield point"));
	/* Where case_main spawned it: an address in this program. */
	assert_non_null(strstr(out, "weft:       spawned at 0x"));
}

static void test_spin_reported(void **state)
{
	char out[8192];

	(void)state;
	run_case((struct child_case){ SPIN, 0, "20" }, out, sizeof(out));
	assert_one_report(out, "spinner", 20);
}

/* On one worker the monitor, a thread of its own, still speaks. */
static void test_spin_reported_one_worker(void **state)
{
	char out[8192];

	(void)state;
	run_case((struct child_case){ SPIN, 0, "20", 1 }, out, sizeof(out));
	assert_one_report(out, "spinner", 20);
	run_case((struct child_case){ BLOCK, 0, "20", 1 }, out, sizeof(out));
	assert_one_report(out, "blocker", 20);
}

static void test_blocking_call_reported(void **state)
{
	char out[8192];

	(void)state;
	run_case((struct child_case){ BLOCK, 0, "20" }, out, sizeof(out));
	assert_one_report(out, "blocker", 20);
}

static void test_yielding_not_reported(void **state)
{
	char out[8192];

	(void)state;
	run_case((struct child_case){ YIELD, 0, "20" }, out, sizeof(out));
	if (strstr(out, "weft: stall"))
		fail_msg("a yielding fiber was reported:\n%s", out);
}

static void test_off_by_default(void **state)
{
	char out[8192];

	(void)state;
	run_case((struct child_case){ SPIN, 0, NULL }, out, sizeof(out));
	assert_null(strstr(out, "weft: stall"));
}

static void test_config_and_env(void **state)
{
	char out[8192];

	(void)state;
	/* From the config alone. */
	run_case((struct child_case){ SPIN, 20, NULL }, out, sizeof(out));
	assert_one_report(out, "spinner", 20);
	/* WEFT_STALL_MS=0 turns the config's report off. */
	run_case((struct child_case){ SPIN, 20, "0" }, out, sizeof(out));
	assert_null(strstr(out, "weft: stall"));
	/* A threshold above the stall: no report. */
	run_case((struct child_case){ SPIN, 0, "5000" }, out, sizeof(out));
	assert_null(strstr(out, "weft: stall"));
	/* A bad value is named, and the config's threshold stands. */
	run_case((struct child_case){ SPIN, 20, "20ms" }, out, sizeof(out));
	assert_non_null(strstr(out, "weft: WEFT_STALL_MS=20ms is not a "
				    "number of ms"));
	assert_one_report(out, "spinner", 20);
}

static void test_config_out_of_range(void **state)
{
	struct weft_config cfg = { .stall_ms = WEFT_STALL_MS_MAX + 1 };

	(void)state;
	assert_int_equal(weft_run(&cfg, noop_main, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spin_reported),
		cmocka_unit_test(test_spin_reported_one_worker),
		cmocka_unit_test(test_blocking_call_reported),
		cmocka_unit_test(test_yielding_not_reported),
		cmocka_unit_test(test_off_by_default),
		cmocka_unit_test(test_config_and_env),
		cmocka_unit_test(test_config_out_of_range),
	};

	unsetenv("WEFT_STALL_MS");
	skip_without_backend();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
