/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by weft's cmocka tests: skip the whole program (exit 77,
 * which meson counts as a skip) where io_uring is refused, a watchdog so a
 * hang fails fast with the test's name, and sanitizer-aware sizing.
 */
#ifndef WEFT_TEST_HELPERS_H
#define WEFT_TEST_HELPERS_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft.h>

static const char *watchdog_name = "?";

static void watchdog_fire(int sig)
{
	(void)sig;
	(void)!write(2, "watchdog: test hung: ", 21);
	(void)!write(2, watchdog_name, strlen(watchdog_name));
	(void)!write(2, "\n", 1);
	_exit(1);
}

/* Fail the program if the current test runs longer than @seconds. */
static inline void watchdog_arm(const char *name, unsigned seconds)
{
	watchdog_name = name;
	signal(SIGALRM, watchdog_fire);
	alarm(seconds);
}

static inline void watchdog_disarm(void)
{
	alarm(0);
}

static void noop_main(void *arg)
{
	(void)arg;
}

/* Exit 77 (skipped) if the runtime cannot start here for lack of io_uring. */
static inline void skip_without_uring(void)
{
	struct weft_config cfg = { .workers = 1 };

	if (weft_run(&cfg, noop_main, NULL) == -ENOSYS) {
		fprintf(stderr, "io_uring unavailable: skipping\n");
		exit(77);
	}
}

/* Divide a size by this under sanitizers. */
static inline unsigned sanitizer_scale(void)
{
	const char *s = getenv("WEFT_SANITIZE");

	if (s && strstr(s, "thread"))
		return 10;
	if (s && strstr(s, "address"))
		return 4;
	return 1;
}

#endif /* WEFT_TEST_HELPERS_H */
