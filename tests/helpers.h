/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by weft's cmocka tests and stress tests that link the
 * runtime: sanitizer detection and sanitizer-aware sizing, a monotonic
 * clock, a watchdog that fails a hung test fast with its name and how far
 * it got, and a skip (exit 77, which meson counts as a skip) where the
 * I/O backend the environment asks for is refused. Header-only: every function is static, and marked
 * unused so that a test which needs only some of them still builds with
 * -Werror.
 *
 * The watchdog is armed and disarmed by the main thread, around
 * weft_run(); its SIGALRM handler runs on a helper thread of its own (see
 * watchdog_install()). Progress may be counted from any thread.
 */
#ifndef WEFT_TEST_HELPERS_H
#define WEFT_TEST_HELPERS_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <weft.h>

/* WEFT_ASAN and WEFT_TSAN, where the includer can see the sources. */
#if defined(__has_include)
#if __has_include("internal.h")
#include "internal.h"
#endif
#endif

/*
 * WEFT_TEST_RING_SKIP=N runs a test binary on the io_uring rings older
 * kernels give: each worker's ring is set up without the first N sets of
 * setup flags (poller_uring.c), as if the kernel had refused them. Read before
 * main(), so every test binary honours it.
 */
#if defined(__has_include)
#if __has_include("scheduler.h")
#include "scheduler.h"

__attribute__((constructor)) static void ring_skip_from_env(void)
{
	const char *skip = getenv("WEFT_TEST_RING_SKIP");

	if (skip)
		weft__fault_ring_setup_skip = (unsigned)atoi(skip);
}
#endif
#endif

/* Sanitizers and sizes ------------------------------------------------ */

/* Whether meson's b_sanitize, passed in WEFT_SANITIZE, names @what. */
static __attribute__((unused)) bool sanitize_env_has(const char *what)
{
	const char *s = getenv("WEFT_SANITIZE");

	return s && strstr(s, what);
}

static __attribute__((unused)) bool under_tsan(void)
{
#ifdef WEFT_TSAN
	return true;
#else
	return sanitize_env_has("thread");
#endif
}

static __attribute__((unused)) bool under_asan(void)
{
#ifdef WEFT_ASAN
	return true;
#else
	return sanitize_env_has("address");
#endif
}

/* Running under valgrind, whose preload library is in LD_PRELOAD. */
static __attribute__((unused)) bool under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p && strstr(p, "vgpreload");
}

/* Divide a size by this under sanitizers. */
static __attribute__((unused)) unsigned sanitizer_scale(void)
{
	if (under_tsan())
		return 10;
	if (under_asan())
		return 4;
	return 1;
}

/* WEFT_STRESS_ITERS if it holds a positive number, else @def. */
static __attribute__((unused)) uint64_t stress_iters(uint64_t def)
{
	const char *s = getenv("WEFT_STRESS_ITERS");
	unsigned long long v;
	char *end;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v == 0)
		return def;
	return v;
}

static __attribute__((unused)) uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The watchdog -------------------------------------------------------- */

/*
 * Set by watchdog_arm() before alarm(), read by the SIGALRM handler on the
 * watchdog thread; atomic, so that TSan, which cannot see the hand-off
 * through the signal, does not report it instead of the hang.
 */
static const char *watchdog_test;
static unsigned watchdog_secs;
/* Main thread only. */
static bool watchdog_installed;
/* Work done so far, for the watchdog's message; atomic, relaxed. */
static uint64_t watchdog_progress;

/* Async-signal-safe. */
static __attribute__((unused)) void watchdog_write_str(const char *s)
{
	ssize_t r = write(STDERR_FILENO, s, strlen(s));

	(void)r;
}

/* Async-signal-safe. */
static __attribute__((unused)) void watchdog_write_u64(uint64_t v)
{
	char buf[24];
	char *p = buf + sizeof(buf);

	*--p = '\0';
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	watchdog_write_str(p);
}

/* Async-signal-safe: write(2) and _exit() only. */
static __attribute__((unused)) void watchdog_fire(int sig)
{
	const char *test;

	(void)sig;
	watchdog_write_str("watchdog: ");
	test = __atomic_load_n(&watchdog_test, __ATOMIC_ACQUIRE);
	watchdog_write_str(test ? test : "?");
	watchdog_write_str(" hung: not done after ");
	watchdog_write_u64(__atomic_load_n(&watchdog_secs, __ATOMIC_RELAXED));
	watchdog_write_str(" s; progress ");
	watchdog_write_u64(__atomic_load_n(&watchdog_progress,
					   __ATOMIC_RELAXED));
	watchdog_write_str("\n");
	_exit(1);
}

/*
 * SIGALRM is blocked in every thread but one that waits in pause() for
 * it: ThreadSanitizer delays a signal to a thread that runs instrumented
 * code until that thread reaches a synchronisation point, which fibers
 * spinning on every worker may never do. Worker threads inherit the mask
 * of the thread that calls weft_run(), so the first watchdog_arm() must
 * come before the first weft_run() of that thread.
 */
static int watchdog_ready;

static __attribute__((unused)) void *watchdog_thread(void *arg)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	__atomic_store_n(&watchdog_ready, 1, __ATOMIC_RELEASE);
	for (;;)
		pause();
	return arg;
}

static __attribute__((unused)) void watchdog_install(void)
{
	struct sigaction sa;
	pthread_t thread;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = watchdog_fire;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (pthread_create(&thread, NULL, watchdog_thread, NULL) == 0) {
		pthread_detach(thread);
		/* Until the thread has started it may hold a lock of the
		 * allocator (ASan's, or libc's for its TLS), and a death
		 * test forking meanwhile would give its child a lock nobody
		 * will release: test_nouring's child hung in calloc so. */
		while (!__atomic_load_n(&watchdog_ready, __ATOMIC_ACQUIRE))
			sched_yield();
	} else {
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	watchdog_installed = true;
}

#ifdef WEFT_TSAN
/*
 * The watchdog thread makes every test multi-threaded, and by default
 * TSan kills a child forked from a multi-threaded process as soon as it
 * starts a thread, which a death test's child does when it runs weft.
 * The watchdog thread holds no lock while it waits in pause(), so the
 * child is safe to go on. TSAN_OPTIONS still overrides this. Defined here
 * because each test is one translation unit.
 */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "die_after_fork=0";
}
#endif

/*
 * Fail the program, naming @test and its progress, if it runs longer than
 * @seconds in a release build; four times as long under ASan or TSan.
 * Resets the progress count. Main thread only.
 */
static __attribute__((unused)) void watchdog_arm(const char *test,
						  unsigned seconds)
{
	unsigned secs = (under_tsan() || under_asan()) ? 4 * seconds : seconds;

	if (!watchdog_installed)
		watchdog_install();
	__atomic_store_n(&watchdog_secs, secs, __ATOMIC_RELAXED);
	__atomic_store_n(&watchdog_progress, 0, __ATOMIC_RELAXED);
	/* Pairs with the acquire load in watchdog_fire(). */
	__atomic_store_n(&watchdog_test, test, __ATOMIC_RELEASE);
	alarm(secs);
}

static __attribute__((unused)) void watchdog_disarm(void)
{
	alarm(0);
}

/* Count @n units of work for the watchdog's message. Any thread. */
static __attribute__((unused)) void watchdog_progress_add(uint64_t n)
{
	/* Diagnostics only; relaxed. */
	__atomic_fetch_add(&watchdog_progress, n, __ATOMIC_RELAXED);
}

/* Running the runtime at all ------------------------------------------ */

static __attribute__((unused)) void noop_main(void *arg)
{
	(void)arg;
}

/* The backend the environment asks the tests for: WEFT_BACKEND_*. */
static __attribute__((unused)) unsigned test_backend(void)
{
	const char *env = getenv("WEFT_BACKEND");

	if (env && strcmp(env, "epoll") == 0)
		return WEFT_BACKEND_EPOLL;
	if (env && strcmp(env, "io_uring") == 0)
		return WEFT_BACKEND_IO_URING;
	return WEFT_BACKEND_AUTO;
}

static __attribute__((unused)) unsigned started_backend;

static __attribute__((unused)) void note_backend_main(void *arg)
{
	struct weft_stats st = { .size = sizeof(st) };

	(void)arg;
	if (weft_stats(&st) == 0)
		started_backend = st.backend;
}

/*
 * Exit 77 (skipped) if the runtime cannot start here on the backend the
 * environment asks for (WEFT_BACKEND=io_uring where io_uring is refused;
 * auto falls back to epoll instead), 1 if it fails otherwise or runs on
 * another backend than the one asked for. Also installs the watchdog, so
 * call it from main() before any other thread starts.
 */
static __attribute__((unused)) void skip_without_backend(void)
{
	struct weft_config cfg = { .workers = 1 };
	unsigned want = test_backend();
	int err;

	watchdog_arm(__func__, 30);
	err = weft_run(&cfg, note_backend_main, NULL);
	watchdog_disarm();
	if (err == -ENOSYS) {
		fprintf(stderr, "io_uring unavailable: skipping\n");
		exit(77);
	}
	if (err) {
		fprintf(stderr, "weft_run: %s\n", strerror(-err));
		exit(1);
	}
	if (want != WEFT_BACKEND_AUTO && started_backend != want) {
		fprintf(stderr, "WEFT_BACKEND=%s, but the runtime ran on "
			"backend %u\n", getenv("WEFT_BACKEND"),
			started_backend);
		exit(1);
	}
}

/* Death tests -------------------------------------------------------- */

/*
 * Run @child(@arg) in a forked process, with no core file and its stderr
 * going into @out (@cap bytes, kept NUL-terminated; whatever does not fit
 * is read and dropped, so the child never dies of SIGPIPE), and return
 * its wait status. @child should end with _exit(); returning exits 0.
 * -1 if the child could not be started.
 */
static __attribute__((unused)) int run_in_child(void (*child)(void *),
						void *arg, char *out,
						size_t cap)
{
	size_t len = 0;
	int pipefd[2], status;
	pid_t pid;

	if (pipe(pipefd))
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		close(pipefd[1]);
		child(arg);
		_exit(0);
	}
	close(pipefd[1]);
	for (;;) {
		char sink[4096];
		size_t room = cap - 1 - len;
		ssize_t n = read(pipefd[0], room ? out + len : sink,
				 room ? room : sizeof(sink));

		if (n <= 0)
			break;
		if (room)
			len += (size_t)n;
	}
	out[len] = '\0';
	close(pipefd[0]);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

/* Checks made inside fibers and threads --------------------------------- */

/*
 * cmocka's assertions longjmp, which must not happen on a fiber's stack
 * or another thread; fibers record failed checks instead, and the test
 * asserts them once weft_run() has returned.
 */

static unsigned nr_failed __attribute__((unused));
/* Written by the first failure only, read after weft_run(). */
static const char *failed_what __attribute__((unused));
static int failed_line __attribute__((unused));
static long long failed_got __attribute__((unused));
static long long failed_want __attribute__((unused));

static __attribute__((unused)) void check_at(bool ok, const char *what, int line, long long got,
		     long long want)
{
	if (ok)
		return;
	/* The first failure keeps its details; any thread. */
	if (__atomic_fetch_add(&nr_failed, 1, __ATOMIC_RELAXED) == 0) {
		failed_what = what;
		failed_line = line;
		failed_got = got;
		failed_want = want;
	}
}

static __attribute__((unused)) void check_eq_at(long long got, long long want, const char *what,
			int line)
{
	check_at(got == want, what, line, got, want);
}

/* Each argument is evaluated once. */
#define check(cond) check_at((cond), #cond, __LINE__, 0, 0)
#define check_eq(got, want) \
	check_eq_at((long long)(got), (long long)(want), #got " == " #want, \
		    __LINE__)

/*
 * Run @fn as the main fiber on @cfg; fail the test if a check failed.
 * For files that include <cmocka.h> before this header.
 */
static __attribute__((unused)) void run_checked(const struct weft_config *cfg,
						void (*fn)(void *), void *arg)
{
	__atomic_store_n(&nr_failed, 0, __ATOMIC_RELAXED);
	assert_int_equal(weft_run(cfg, fn, arg), 0);
	if (nr_failed)
		fail_msg("%u failed checks; first at line %d: %s (got %lld, "
			 "want %lld)", nr_failed, failed_line,
			 failed_what ? failed_what : "?", failed_got,
			 failed_want);
}

/* Spawn @fn(@arg) in a fiber; a failure is a failed check. Fiber context. */
static __attribute__((unused)) weft_fiber *check_spawn(void *(*fn)(void *),
							void *arg)
{
	weft_fiber *f = NULL;

	check_eq(weft_spawn(&f, fn, arg, NULL), 0);
	return f;
}

/* Join @f, ignoring its result; a failure is a failed check. */
static __attribute__((unused)) void check_join(weft_fiber *f)
{
	check_eq(weft_join(f, NULL), 0);
}

/*
 * Let the other fibers run until they block: on one worker the yields
 * are enough, on two the 2 ms sleep gives the other worker time.
 * Whatever is checked afterwards must hold even if it was not enough.
 */
static __attribute__((unused)) void settle(void)
{
	for (int i = 0; i < 4; i++)
		weft_yield();
	weft_sleep_ns(2000000);
	for (int i = 0; i < 4; i++)
		weft_yield();
}

/* Marsaglia's 32-bit xorshift: the next of the sequence in *@s (not 0). */
static __attribute__((unused)) unsigned xorshift32(unsigned *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

#endif /* WEFT_TEST_HELPERS_H */
