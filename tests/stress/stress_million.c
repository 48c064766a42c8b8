/* SPDX-License-Identifier: MIT */
/*
 * A million fibers alive at once on a stock machine (vm.max_map_count
 * 65,530, never changed here). With an mprotect guard page on every
 * stack the process would run out of mappings at about 32,000 stacks;
 * where the kernel has MADV_GUARD_INSTALL every stack is guarded by a
 * page-table marker that costs no mapping, and this test holds weft to
 * that; elsewhere weft spends at most a quarter of the cap on guards and
 * gives the rest canaries (see "Guard pages and the map budget" in
 * weft.h), and the test holds it to that.
 *
 * The main fiber spawns N fibers. Each counts itself in and parks on a
 * gate built on the internal park API (scheduler.h) the way every wait in
 * weft is: under the gate's spinlock it stores weft__park_token() in the
 * gate's list, then calls weft__park() with a callback that releases the
 * spinlock, which runs only once the fiber is off its stack. When all N
 * are parked, the main fiber checks the runtime's counters and the
 * process's mapping count, prints the memory cost per parked fiber, opens
 * the gate (weft__ready() on every token) and joins them all.
 *
 * Fibers never call cmocka's assert_*: they record results in atomics
 * that the test function checks after weft_run() returns.
 *
 * WEFT_STRESS_ITERS sets N (default 1,000,000; 15,000 under TSan). TSan
 * maps two regions for every fiber (a 512 KiB shadow stack and a 256 KiB
 * one), which merge with their neighbours only some of the time: on top
 * of weft's 8,191 guards, 30,000 live fibers took 42,600 to 63,600 of the
 * 65,530 mappings, and 50,000 sometimes ran TSan out of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "../helpers.h"
#include "scheduler.h"
#include "spin.h"

#define GROUP "stress_million"

/* The value the opener passes to weft__ready(); weft__park() returns it. */
#define GATE_WAKE_RES 7

/* Process figures ------------------------------------------------------ */

/* Read a small /proc file into @buf (NUL-terminated); bytes or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

static uint64_t max_map_count(void)
{
	char buf[32];
	uint64_t v = 0;

	if (read_small("/proc/sys/vm/max_map_count", buf, sizeof(buf)) > 0)
		v = strtoull(buf, NULL, 10);
	return v ? v : 65530u;
}

/* Resident bytes, from /proc/self/statm; 0 if unreadable. */
static uint64_t rss_bytes(void)
{
	unsigned long long size = 0;
	unsigned long long resident = 0;
	char buf[128];

	if (read_small("/proc/self/statm", buf, sizeof(buf)) <= 0 ||
	    sscanf(buf, "%llu %llu", &size, &resident) != 2)
		return 0;
	return resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Lines of /proc/self/maps: the process's memory mappings; 0 on error. */
static uint64_t maps_count(void)
{
	const size_t size = 64 * 1024;
	char *buf = malloc(size);
	uint64_t lines = 0;
	ssize_t n;
	int fd;

	if (!buf)
		return 0;
	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(buf);
		return 0;
	}
	while ((n = read(fd, buf, size)) > 0) {
		ssize_t i;

		for (i = 0; i < n; i++)
			lines += buf[i] == '\n';
	}
	close(fd);
	free(buf);
	return lines;
}

/* The gate ------------------------------------------------------------ */

/*
 * Fibers park on the gate until it opens. Protected by lock (the
 * runtime's spinlock, spin.h): open, nr, and the tokens in
 * tokens[0 .. nr).
 */
struct gate {
	struct spinlock lock;
	bool open;
	uint64_t nr;		/* tokens stored                             */
	uint64_t cap;		/* room in tokens                            */
	weft_token *tokens;	/* wake tokens of the parked fibers          */
};


/*
 * The park's unlock callback: runs on the next context, after the fiber
 * is off its stack, and only then lets the opener see its token.
 */
static bool gate_unlock_parked(struct fiber *f, void *arg)
{
	struct gate *g = arg;

	(void)f;
	spin_unlock(&g->lock);
	return true;
}

/* Fiber-side results -------------------------------------------------- */

/*
 * What the fibers record, zeroed at the start of the test; relaxed
 * atomic RMWs, read by the test function after weft_run() returned.
 */
struct results {
	uint64_t n;		/* fibers to spawn                           */
	uint64_t arrived;	/* fibers that started                       */
	uint64_t woke;		/* fibers that came back from the gate       */
	uint64_t bad_wakes;	/* weft__park() returned != GATE_WAKE_RES    */
	int first_bad_wake;
	uint64_t no_room;	/* gate list full (a test bug)               */
	uint64_t found_open;	/* gate already open: no park at all         */

	/* Written by the main fiber only. */
	uint64_t spawned;	/* successful weft_spawn() calls             */
	int spawn_err;		/* first weft_spawn() failure                */
	uint64_t parked;	/* tokens in the gate when it opened         */
	bool wait_timed_out;	/* not all fibers parked within the deadline */
	uint64_t ready_fails;	/* weft__ready() returned false              */
	uint64_t join_errs;
	int first_join_err;
	uint64_t bad_results;
	struct weft_stats stats; /* while all were parked                    */
	int stats_err;
	uint64_t maps;		/* /proc/self/maps lines, all parked         */
	uint64_t max_maps;
	uint64_t rss_before;	/* before the first spawn                    */
	uint64_t rss_parked;	/* all parked                                */
	uint64_t t_spawn_ns;	/* first spawn .. last spawn                 */
	uint64_t t_park_ns;	/* last spawn .. all parked                  */
	uint64_t t_wake_ns;	/* gate open .. all joined                   */
};

static struct results res;
static struct gate gate;
static weft_fiber **handles;

static void *gate_waiter(void *arg)
{
	struct gate *g = &gate;
	weft_token token;
	int r;

	/* Relaxed: counted for the watchdog and the final check. */
	__atomic_fetch_add(&res.arrived, 1, __ATOMIC_RELAXED);
	watchdog_progress_add(1);
	spin_lock(&g->lock);
	if (g->open) {
		spin_unlock(&g->lock);
		__atomic_fetch_add(&res.found_open, 1, __ATOMIC_RELAXED);
		return arg;
	}
	if (g->nr == g->cap) {
		spin_unlock(&g->lock);
		__atomic_fetch_add(&res.no_room, 1, __ATOMIC_RELAXED);
		return arg;
	}
	token = weft__park_token(weft__worker_self());
	g->tokens[g->nr++] = token;
	r = weft__park(weft__worker_self(), gate_unlock_parked, g);
	if (r != GATE_WAKE_RES &&
	    __atomic_fetch_add(&res.bad_wakes, 1, __ATOMIC_RELAXED) == 0)
		__atomic_store_n(&res.first_bad_wake, r, __ATOMIC_RELAXED);
	__atomic_fetch_add(&res.woke, 1, __ATOMIC_RELAXED);
	return arg;
}

/* Tokens stored so far, read under the gate's lock. */
static uint64_t gate_count(struct gate *g)
{
	uint64_t nr;

	spin_lock(&g->lock);
	nr = g->nr;
	spin_unlock(&g->lock);
	return nr;
}

/*
 * Wait until every spawned fiber has stored its token. A stored token
 * means the fiber is off its stack: the lock it stored it under is
 * released only by the park's unlock callback.
 */
static void wait_all_parked(uint64_t spawned)
{
	uint64_t deadline = now_ns() + (under_tsan() || under_asan()
						? 240000000000u
						: 60000000000u);

	while (gate_count(&gate) < spawned) {
		if (now_ns() > deadline) {
			res.wait_timed_out = true;
			return;
		}
		weft_yield();
	}
}

static void million_main(void *arg)
{
	uint64_t n = res.n;
	uint64_t t0;
	uint64_t t1;
	weft_token *tokens;
	uint64_t nr;
	uint64_t i;

	(void)arg;
	res.rss_before = rss_bytes();
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		int err = weft_spawn(&handles[i], gate_waiter,
				     (void *)(uintptr_t)(i + 1), NULL);

		if (err) {
			res.spawn_err = err;
			break;
		}
	}
	res.spawned = i;
	t1 = now_ns();
	res.t_spawn_ns = t1 - t0;
	wait_all_parked(res.spawned);
	res.t_park_ns = now_ns() - t1;

	/* All parked: the figures this test is about. */
	res.stats.size = sizeof(res.stats);
	res.stats_err = weft_stats(&res.stats);
	res.rss_parked = rss_bytes();
	res.maps = maps_count();
	res.max_maps = max_map_count();

	spin_lock(&gate.lock);
	gate.open = true;
	tokens = gate.tokens;
	nr = gate.nr;
	gate.nr = 0;
	spin_unlock(&gate.lock);
	res.parked = nr;

	t0 = now_ns();
	for (i = 0; i < nr; i++)
		if (!weft__ready(tokens[i], GATE_WAKE_RES))
			res.ready_fails++;
	for (i = 0; i < res.spawned; i++) {
		void *got = NULL;
		int err = weft_join(handles[i], &got);

		if (err) {
			if (res.join_errs++ == 0)
				res.first_join_err = err;
		} else if ((uintptr_t)got != i + 1) {
			res.bad_results++;
		}
	}
	res.t_wake_ns = now_ns() - t0;
}

/*
 * The full million in release builds. ASan's shadow makes each parked
 * fiber cost about twice as much, so it proves the same path with a
 * quarter (still far past the ~32,000 that naive guarded stacks reach);
 * clang TSan maps two regions of its own per fiber and runs out of
 * mappings beyond a few tens of thousands.
 */
static uint64_t million_size(void)
{
	if (under_tsan())
		return stress_iters(15000u);
	if (under_asan())
		return stress_iters(250000u);
	return stress_iters(1000000u);
}

static void test_million_fibers_parked_at_once(void **state)
{
	uint64_t n = million_size();
	uint64_t rss;
	int err;

	(void)state;
	memset(&res, 0, sizeof(res));
	memset(&gate, 0, sizeof(gate));
	res.n = n;
	handles = calloc(n, sizeof(*handles));
	gate.tokens = calloc(n, sizeof(*gate.tokens));
	assert_non_null(handles);
	assert_non_null(gate.tokens);
	gate.cap = n;
	/* Touch both arrays now, so that the RSS figure is weft's alone. */
	memset(handles, 0xff, n * sizeof(*handles));
	memset(gate.tokens, 0, n * sizeof(*gate.tokens));

	watchdog_arm(__func__, 180);
	err = weft_run(NULL, million_main, NULL);
	watchdog_disarm();
	assert_int_equal(err, 0);

	rss = res.rss_parked > res.rss_before
		      ? res.rss_parked - res.rss_before
		      : 0;
	printf(GROUP ": %llu fibers parked at once on %u workers; spawn "
	       "%.2f s, then all parked %.2f s later; wake and join %.2f s\n",
	       (unsigned long long)res.spawned, res.stats.workers,
	       (double)res.t_spawn_ns / 1e9, (double)res.t_park_ns / 1e9,
	       (double)res.t_wake_ns / 1e9);
	printf(GROUP ": RSS %.1f MiB before, %.1f MiB parked: %.0f bytes "
	       "per parked fiber\n",
	       (double)res.rss_before / 1048576.0,
	       (double)res.rss_parked / 1048576.0,
	       res.spawned ? (double)rss / (double)res.spawned : 0.0);
	printf(GROUP ": stacks mapped %llu, guarded %llu; %llu mappings of "
	       "vm.max_map_count %llu; live %llu\n",
	       (unsigned long long)res.stats.stacks_mapped,
	       (unsigned long long)res.stats.stacks_guarded,
	       (unsigned long long)res.maps,
	       (unsigned long long)res.max_maps,
	       (unsigned long long)res.stats.live);

	if (res.spawn_err)
		fprintf(stderr, GROUP ": weft_spawn failed after %llu: %s\n",
			(unsigned long long)res.spawned,
			strerror(-res.spawn_err));
	if (res.bad_wakes)
		fprintf(stderr, GROUP ": %llu parks returned %d (first), "
			"not %d\n", (unsigned long long)res.bad_wakes,
			res.first_bad_wake, GATE_WAKE_RES);
	if (res.join_errs)
		fprintf(stderr, GROUP ": %llu joins failed, first: %s\n",
			(unsigned long long)res.join_errs,
			strerror(-res.first_join_err));
	assert_int_equal(res.spawn_err, 0);
	assert_int_equal(res.spawned, n);
	assert_false(res.wait_timed_out);
	assert_int_equal(res.no_room, 0);
	assert_int_equal(res.found_open, 0);
	assert_int_equal(res.arrived, n);
	assert_int_equal(res.parked, n);
	assert_int_equal(res.ready_fails, 0);
	assert_int_equal(res.woke, n);
	assert_int_equal(res.bad_wakes, 0);
	assert_int_equal(res.join_errs, 0);
	assert_int_equal(res.bad_results, 0);

	/* While all were parked. */
	assert_int_equal(res.stats_err, 0);
	assert_int_equal(res.stats.live, n + 1);
	assert_true(res.stats.stacks_mapped >= n);
	if (res.stats.stack_guard == WEFT_GUARD_MADVISE)
		/* Guards are page-table markers: every stack has one. */
		assert_true(res.stats.stacks_guarded >= n);
	else
		assert_true(res.stats.stacks_guarded <= res.max_maps / 4);
	assert_true(res.maps > 0);
	assert_true(res.maps < res.max_maps);

	free(handles);
	handles = NULL;
	free(gate.tokens);
	gate.tokens = NULL;
}

/* Entry --------------------------------------------------------------- */

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_million_fibers_parked_at_once),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	skip_without_backend();
	return cmocka_run_group_tests_name(GROUP, tests, NULL, NULL);
}
