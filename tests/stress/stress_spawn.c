/* SPDX-License-Identifier: MIT */
/*
 * Spawn/join conservation: a million fibers spawned
 * and joined on every worker, none lost and none run twice.
 *
 * The fibers form trees of fan-out 10: each fiber owns a range of ids,
 * claims the first one, splits the rest among up to ten children that it
 * spawns (a third of them on small stacks), joins them (half the nodes
 * newest first, so that most of those joins run their child inline),
 * checks that each returned its own first id, and returns its id. The main fiber keeps TREE_WINDOW trees of TREE_CHUNK
 * ids in flight, so that at most TREE_WINDOW * TREE_CHUNK + 1 fibers are
 * alive at once (guarded stacks cost two mappings each; see "Guard pages
 * and the map budget" in weft.h), while inner fibers, which spawn, are
 * stolen and run on every worker. A per-id claim counter catches an id
 * run twice, a final scan one never run. A second test spawns chains ten
 * fibers deep. After everything is joined the main fiber checks that
 * weft_stats() counts only itself as live.
 *
 * Fibers never call cmocka's assert_* (it longjmps off the fiber stack,
 * and other workers are other threads): they record results in atomics
 * that the test function checks after weft_run() returns.
 *
 * WEFT_STRESS_ITERS sets the number of tree fibers (default 1,000,000;
 * 200,000 under TSan); the chain test runs a hundredth of it as chains.
 * The suite runs it once more with WEFT_WORKERS=8, eight workers on the
 * machine's few cores (stress_spawn_oversub): preempted workers in the
 * middle of steals, joins and parks.
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
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "../helpers.h"

#define GROUP "stress_spawn"

#define TREE_FANOUT 10u
/* A perfect tree of fan-out 10 and depth 3: 1 + 10 + 100 + 1000 ids. */
#define TREE_CHUNK 1111u
/* Trees in flight; bounds the live fibers at 3 * 1111 + main. */
#define TREE_WINDOW 3u
#define TREE_LIVE_CAP (TREE_WINDOW * TREE_CHUNK + 1u)

#define CHAIN_DEPTH 10u
/* Chains the main fiber keeps in flight, so both workers run them. */
#define CHAIN_WINDOW 2u

/* Fiber-side results -------------------------------------------------- */

/*
 * Everything the fibers of one test record, zeroed at the start of each
 * test. Counters are updated with relaxed atomic RMWs: the test function
 * reads them after weft_run() has joined every worker thread.
 */
struct results {
	uint8_t *claims;	/* runs per id, 1 .. nr_ids                  */
	uint64_t nr_ids;
	uint64_t runs;		/* fibers that ran                           */
	uint64_t dup_runs;	/* claims of an id already claimed           */
	uint64_t bad_ids;	/* ids outside 1 .. nr_ids                   */
	uint64_t spawn_errs;	/* weft_spawn() failures                     */
	int first_spawn_err;
	uint64_t join_errs;	/* weft_join() failures                      */
	int first_join_err;
	uint64_t bad_results;	/* joined value != the child's id            */
	uint64_t spawns_by_worker[WEFT_WORKERS_MAX];
	uint64_t runs_by_worker[WEFT_WORKERS_MAX];

	/* Written by the main fiber only. */
	struct weft_stats first_stats;	/* right after the last join      */
	struct weft_stats stats;	/* once live settled at 1         */
	uint64_t stats_polls;		/* reads until live was 1         */
	uint64_t max_live_seen;		/* weft_stats().live, sampled     */
	int stats_err;
};

static struct results res;

static void count_err(uint64_t *nr, int *first, int err)
{
	if (__atomic_fetch_add(nr, 1, __ATOMIC_RELAXED) == 0)
		__atomic_store_n(first, err, __ATOMIC_RELAXED);
}

static void count(uint64_t *nr)
{
	__atomic_fetch_add(nr, 1, __ATOMIC_RELAXED);
}

/* Record one run of @id, on the worker running the caller. */
static void claim(uint64_t id)
{
	unsigned w = weft_worker_id();

	count(&res.runs);
	if (w < WEFT_WORKERS_MAX)
		count(&res.runs_by_worker[w]);
	if (id == 0 || id > res.nr_ids) {
		count(&res.bad_ids);
		return;
	}
	if (__atomic_fetch_add(&res.claims[id], 1, __ATOMIC_RELAXED) != 0)
		count(&res.dup_runs);
}

static int spawn_counted(weft_fiber **out, void *(*fn)(void *), void *arg,
			 bool small)
{
	static const struct weft_spawn_opts small_opts = {
		.stack_size = WEFT_STACK_SMALL
	};
	unsigned w = weft_worker_id();
	int err = weft_spawn(out, fn, arg, small ? &small_opts : NULL);

	if (err) {
		count_err(&res.spawn_errs, &res.first_spawn_err, err);
		return err;
	}
	if (w < WEFT_WORKERS_MAX)
		count(&res.spawns_by_worker[w]);
	return 0;
}

/* Join @f and check that it returned @want. */
static void join_checked(weft_fiber *f, uintptr_t want)
{
	void *got = NULL;
	int err = weft_join(f, &got);

	if (err)
		count_err(&res.join_errs, &res.first_join_err, err);
	else if ((uintptr_t)got != want)
		count(&res.bad_results);
}

/*
 * In the main fiber, after every other fiber was joined: weft_stats()
 * must count the main fiber alone as live. A fiber's exit is counted
 * just after its joiner is woken (weft__fiber_finish()), so the count may
 * lag a join on another worker by a moment; poll with a deadline.
 */
static void check_stats_settle(void)
{
	uint64_t deadline = now_ns() + 2000000000u;
	int err;

	res.first_stats.size = sizeof(res.first_stats);
	err = weft_stats(&res.first_stats);
	res.stats = res.first_stats;
	res.stats_polls = 1;
	while (!err && res.stats.live != 1 && now_ns() < deadline) {
		weft_yield();
		err = weft_stats(&res.stats);
		res.stats_polls++;
	}
	res.stats_err = err;
}

static void sample_live(void)
{
	struct weft_stats st = { .size = sizeof(st) };

	if (weft_stats(&st) == 0 && st.live > res.max_live_seen)
		res.max_live_seen = st.live;
}

/* Spawn trees --------------------------------------------------------- */

/* A fiber's id range [lo, hi) travels in its argument. */
static void *range_pack(uint32_t lo, uint32_t hi)
{
	return (void *)(uintptr_t)((uint64_t)lo << 32 | hi);
}

static void *tree_node(void *arg)
{
	uint64_t packed = (uintptr_t)arg;
	uint32_t lo = (uint32_t)(packed >> 32);
	uint32_t hi = (uint32_t)packed;
	uint32_t first = lo + 1;
	uint32_t rest = hi - first;
	weft_fiber *kids[TREE_FANOUT];
	uint32_t kid_lo[TREE_FANOUT];
	unsigned parts = rest < TREE_FANOUT ? rest : TREE_FANOUT;
	unsigned nr = 0;
	unsigned i;

	claim(lo);
	for (i = 0; i < parts; i++) {
		uint32_t a = first + (uint32_t)((uint64_t)rest * i / parts);
		uint32_t b = first +
			     (uint32_t)((uint64_t)rest * (i + 1) / parts);

		/* A third on small stacks: inline runs on every kind of
		 * host, and small children given bigger stacks. */
		if (spawn_counted(&kids[nr], tree_node, range_pack(a, b),
				  a % 3 == 0))
			continue;
		kid_lo[nr++] = a;
	}
	/* Odd nodes join newest first, finding each child unstarted at
	 * the bottom of the fork deque unless a thief took it: run inline. */
	for (i = 0; i < nr; i++) {
		unsigned k = lo & 1 ? nr - 1 - i : i;

		join_checked(kids[k], kid_lo[k]);
	}
	watchdog_progress_add(1);
	return (void *)(uintptr_t)lo;
}

/*
 * Keep TREE_WINDOW trees in flight over ids 1 .. nr_ids, joining the
 * oldest before spawning the next.
 */
static void tree_main(void *arg)
{
	uint64_t n = res.nr_ids;
	weft_fiber *ring[TREE_WINDOW];
	uint32_t ring_lo[TREE_WINDOW];
	unsigned head = 0;
	unsigned nr = 0;
	uint64_t next = 1;
	uint64_t trees = 0;

	(void)arg;
	while (next <= n || nr > 0) {
		if (nr < TREE_WINDOW && next <= n) {
			uint64_t end = next + TREE_CHUNK;
			unsigned slot = (head + nr) % TREE_WINDOW;

			if (end > n + 1)
				end = n + 1;
			if (spawn_counted(&ring[slot], tree_node,
					  range_pack((uint32_t)next,
						     (uint32_t)end),
					  false) == 0) {
				ring_lo[slot] = (uint32_t)next;
				nr++;
			}
			next = end;
			continue;
		}
		if ((trees++ & 15) == 0)
			sample_live();
		join_checked(ring[head], ring_lo[head]);
		head = (head + 1) % TREE_WINDOW;
		nr--;
	}
	check_stats_settle();
}

static uint64_t tree_size(void)
{
	uint64_t n = stress_iters(under_tsan() ? 200000u : 1000000u);

	return n > UINT32_MAX - TREE_CHUNK ? UINT32_MAX - TREE_CHUNK : n;
}

static void reset_results(uint64_t nr_ids)
{
	memset(&res, 0, sizeof(res));
	res.nr_ids = nr_ids;
	res.claims = calloc(nr_ids + 1, 1);
	assert_non_null(res.claims);
}

/* Every id 1 .. nr_ids ran exactly once, and nothing else went wrong. */
static void assert_conserved(void)
{
	uint64_t lost = 0;
	uint64_t twice = 0;
	uint64_t first_lost = 0;
	uint64_t i;

	for (i = 1; i <= res.nr_ids; i++) {
		if (res.claims[i] == 0 && lost++ == 0)
			first_lost = i;
		if (res.claims[i] > 1)
			twice++;
	}
	if (lost || twice)
		fprintf(stderr,
			GROUP ": %llu ids never ran (first %llu), %llu ran "
			"more than once\n",
			(unsigned long long)lost,
			(unsigned long long)first_lost,
			(unsigned long long)twice);
	if (res.spawn_errs)
		fprintf(stderr, GROUP ": %llu spawns failed, first: %s\n",
			(unsigned long long)res.spawn_errs,
			strerror(-res.first_spawn_err));
	if (res.join_errs)
		fprintf(stderr, GROUP ": %llu joins failed, first: %s\n",
			(unsigned long long)res.join_errs,
			strerror(-res.first_join_err));
	assert_int_equal(res.spawn_errs, 0);
	assert_int_equal(res.join_errs, 0);
	assert_int_equal(res.bad_results, 0);
	assert_int_equal(res.bad_ids, 0);
	assert_int_equal(res.dup_runs, 0);
	assert_int_equal(twice, 0);
	assert_int_equal(lost, 0);
	assert_int_equal(res.runs, res.nr_ids);
}

/* weft_stats() as the main fiber saw it once everything was joined. */
static void assert_stats_settled(uint64_t nr_spawned)
{
	if (res.first_stats.live != 1 || res.stats_polls > 1)
		printf(GROUP ": stats.live was %llu right after the last "
		       "join, %llu after %llu reads\n",
		       (unsigned long long)res.first_stats.live,
		       (unsigned long long)res.stats.live,
		       (unsigned long long)res.stats_polls);
	assert_int_equal(res.stats_err, 0);
	assert_int_equal(res.stats.live, 1);
	/* Every spawn of this run plus the main fiber. */
	assert_int_equal(res.stats.spawned, nr_spawned + 1);
}

/* Spawners ran on every worker (checked at sizes where stealing is
 * certain to have happened); with more workers than CPUs (WEFT_WORKERS,
 * the oversubscribed run), the kernel may leave some of them unscheduled
 * for the whole run, so on at least two. */
static void assert_spread(uint64_t n)
{
	unsigned nr_workers = res.stats.workers;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned spawning = 0;
	unsigned running = 0;
	unsigned i;

	for (i = 0; i < nr_workers && i < WEFT_WORKERS_MAX; i++) {
		printf(GROUP ":   worker %u: %llu fibers ran, %llu spawns\n",
		       i, (unsigned long long)res.runs_by_worker[i],
		       (unsigned long long)res.spawns_by_worker[i]);
		spawning += res.spawns_by_worker[i] > 0;
		running += res.runs_by_worker[i] > 0;
	}
	if (nr_workers >= 2 && n >= 100000) {
		if (ncpu >= (long)nr_workers)
			assert_int_equal(running, nr_workers);
		else
			assert_true(running >= 2);
		assert_true(spawning >= 2);
	}
}

static void test_spawn_tree_conserves_a_million_fibers(void **state)
{
	uint64_t n = tree_size();
	uint64_t t0;
	uint64_t t1;
	int err;

	(void)state;
	reset_results(n);
	watchdog_arm(__func__, 120);
	t0 = now_ns();
	err = weft_run(NULL, tree_main, NULL);
	t1 = now_ns();
	watchdog_disarm();
	assert_int_equal(err, 0);

	printf(GROUP ": %llu fibers in trees of fan-out %u on %u workers: "
	       "%.2f s, %.0f ns per fiber; live at most %llu sampled "
	       "(cap %u)\n",
	       (unsigned long long)n, TREE_FANOUT, res.stats.workers,
	       (double)(t1 - t0) / 1e9, (double)(t1 - t0) / (double)n,
	       (unsigned long long)res.max_live_seen, TREE_LIVE_CAP);
	assert_conserved();
	assert_stats_settled(n);
	assert_spread(n);
	free(res.claims);
	res.claims = NULL;
}

/* Chains -------------------------------------------------------------- */

/* A chain fiber's argument: chain number * 16 + depth (1 .. 10). */
static void *chain_node(void *arg)
{
	uintptr_t me = (uintptr_t)arg;
	uintptr_t depth = me % 16;
	weft_fiber *next;

	claim(me / 16 * CHAIN_DEPTH + depth);
	if (depth < CHAIN_DEPTH &&
	    spawn_counted(&next, chain_node, (void *)(me + 1),
			  me & 1) == 0)
		join_checked(next, me + 1);
	return (void *)me;
}

static void chain_main(void *arg)
{
	uint64_t chains = res.nr_ids / CHAIN_DEPTH;
	weft_fiber *ring[CHAIN_WINDOW];
	uintptr_t ring_arg[CHAIN_WINDOW];
	unsigned head = 0;
	unsigned nr = 0;
	uint64_t next = 0;

	(void)arg;
	while (next < chains || nr > 0) {
		if (nr < CHAIN_WINDOW && next < chains) {
			unsigned slot = (head + nr) % CHAIN_WINDOW;
			uintptr_t a = (uintptr_t)next * 16 + 1;

			if (spawn_counted(&ring[slot], chain_node,
					  (void *)a, false) == 0) {
				ring_arg[slot] = a;
				nr++;
			}
			next++;
			continue;
		}
		join_checked(ring[head], ring_arg[head]);
		watchdog_progress_add(1);
		head = (head + 1) % CHAIN_WINDOW;
		nr--;
	}
	check_stats_settle();
}

static void test_spawn_nested_ten_levels_deep(void **state)
{
	uint64_t chains = tree_size() / 100;
	uint64_t t0;
	uint64_t t1;
	int err;

	(void)state;
	if (chains == 0)
		chains = 1;
	reset_results(chains * CHAIN_DEPTH);
	watchdog_arm(__func__, 60);
	t0 = now_ns();
	err = weft_run(NULL, chain_main, NULL);
	t1 = now_ns();
	watchdog_disarm();
	assert_int_equal(err, 0);

	printf(GROUP ": %llu chains %u deep on %u workers: %.2f s\n",
	       (unsigned long long)chains, CHAIN_DEPTH, res.stats.workers,
	       (double)(t1 - t0) / 1e9);
	/* Ids chain * 10 + depth: each (chain, level) ran exactly once. */
	assert_conserved();
	assert_stats_settled(chains * CHAIN_DEPTH);
	free(res.claims);
	res.claims = NULL;
}

/* Cancels racing inline joins ----------------------------------------- */

/*
 * A plain thread cancels a joiner at a random moment while the joiner
 * spawns a child and joins it, mostly inline (the child has a small
 * stack). The child sleeps until it is cancelled, so a cancel that
 * reaches neither the joiner's parked join nor its inline child hangs
 * the round (and shows as a child that slept its whole time): the
 * request, stored before the canceller reads the joiner's guest handle,
 * against the guest stored before the join's claim (fiber.c, "Lazy
 * children"). Then the joiner, its request taken, joins a second child
 * that no cancel is for: a canceller that reached the guest handle late
 * must not cancel that one.
 */
#define RACE_SLEEP_NS (2000u * 1000u * 1000u)

struct race {
	weft_fiber *joiner;	/* atomic: this round's joiner            */
	unsigned round;		/* atomic: rounds published               */
	unsigned cancelled;	/* atomic: rounds the canceller has done  */
	unsigned rounds;
	uint64_t lost;		/* children that slept their whole time   */
	uint64_t bad;		/* any other wrong result                 */
	int bad_line;		/* where the first one was found           */
	uint64_t stray;		/* a later child cancelled all the same  */
	uint64_t inline_hits;	/* cancels that reached an inline child   */
	uint64_t join_hits;	/* cancels that ended a join (or preceded it) */
};

static struct race race;

static void race_bad(int line)
{
	count_err(&race.bad, &race.bad_line, line);
}

static void race_spin(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		__builtin_ia32_pause();
}

static void *race_child(void *arg)
{
	int rc = weft_sleep_ns(RACE_SLEEP_NS);

	(void)arg;
	if (rc == 0)
		count(&race.lost);
	else if (rc != -ECANCELED)
		race_bad(__LINE__);
	return (void *)(uintptr_t)__builtin_frame_address(0);
}

/* The joiner's second child, which no cancel is for: it sleeps a while. */
static void *race_quiet_child(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)weft_sleep_ns(50 * 1000);
}

static void *race_joiner(void *arg)
{
	static const struct weft_spawn_opts small_opts = {
		.stack_size = WEFT_STACK_SMALL
	};
	unsigned spin = (unsigned)(uintptr_t)arg;
	uintptr_t here = (uintptr_t)__builtin_frame_address(0);
	weft_fiber *c;
	void *v = NULL;
	int rc;

	race_spin(spin);
	if (weft_spawn(&c, race_child, NULL, &small_opts) != 0) {
		race_bad(__LINE__);
		return NULL;
	}
	rc = weft_join(c, &v);
	if (rc == 0 && (uintptr_t)v < here) {
		/* Ran inline below us: the cancel reached it; ours stays
		 * for our next suspension (a long one: a short sleep's
		 * timer may beat the cancel, and the request then stays
		 * on, as weft_cancel() promises). */
		count(&race.inline_hits);
		if (!weft_cancelled() ||
		    weft_sleep_ns(RACE_SLEEP_NS) != -ECANCELED)
			race_bad(__LINE__);
	} else if (rc == -ECANCELED) {
		/* Our join ended at the cancel: the child is ours to end. */
		count(&race.join_hits);
		if (weft_cancel(c) != 0 || weft_join(c, NULL) != 0)
			race_bad(__LINE__);
	} else if (rc != 0) {
		race_bad(__LINE__);
	}
	/* The request is taken now. A second child, joined inline at
	 * once, is no cancel's: a canceller still walking our guest
	 * handle must see the request gone and leave it alone. */
	if (weft_spawn(&c, race_quiet_child, NULL, &small_opts) != 0 ||
	    weft_join(c, &v) != 0)
		race_bad(__LINE__);
	else if (v != NULL)
		count(&race.stray);
	return NULL;
}

static void *race_canceller(void *arg)
{
	unsigned x = 0x9e3779b9u;

	(void)arg;
	for (unsigned r = 1; r <= race.rounds; r++) {
		while (__atomic_load_n(&race.round, __ATOMIC_ACQUIRE) != r)
			race_spin(1);
		race_spin(xorshift32(&x) % 1024);
		if (weft_cancel(__atomic_load_n(&race.joiner,
						__ATOMIC_RELAXED)) != 0)
			race_bad(__LINE__);
		__atomic_store_n(&race.cancelled, r, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void race_main(void *arg)
{
	unsigned x = 0x2545f491u;
	weft_fiber *j;

	(void)arg;
	for (unsigned r = 1; r <= race.rounds; r++) {
		uintptr_t spin = xorshift32(&x) % 256;

		if (weft_spawn(&j, race_joiner, (void *)spin, NULL) != 0) {
			race_bad(__LINE__);
			break;
		}
		__atomic_store_n(&race.joiner, j, __ATOMIC_RELAXED);
		__atomic_store_n(&race.round, r, __ATOMIC_RELEASE);
		/* The joiner ends only after its cancel: its child waits
		 * for one. */
		if (weft_join(j, NULL) != 0)
			race_bad(__LINE__);
		while (__atomic_load_n(&race.cancelled, __ATOMIC_ACQUIRE) != r)
			weft_yield();
		watchdog_progress_add(1);
	}
}

/* The race below on @workers workers (0: the default). */
static void race_run(const char *name, unsigned workers)
{
	struct weft_config cfg = { .size = sizeof(cfg), .workers = workers };
	pthread_t t;
	int err;

	memset(&race, 0, sizeof(race));
	race.rounds = (unsigned)(stress_iters(20000) / sanitizer_scale() / 10u);
	if (race.rounds == 0)
		race.rounds = 1;
	watchdog_arm(name, 120);
	assert_int_equal(pthread_create(&t, NULL, race_canceller, NULL), 0);
	err = weft_run(&cfg, race_main, NULL);
	assert_int_equal(pthread_join(t, NULL), 0);
	watchdog_disarm();
	assert_int_equal(err, 0);
	printf(GROUP ": %s: %u cancels from a thread: %llu reached an "
	       "inline child, %llu a join\n", name, race.rounds,
	       (unsigned long long)race.inline_hits,
	       (unsigned long long)race.join_hits);
	assert_int_equal(race.lost, 0);
	assert_int_equal(race.stray, 0);
	if (race.bad)
		printf(GROUP ": %s: the first wrong result at line %d\n", name,
		       race.bad_line);
	assert_int_equal(race.bad, 0);
	assert_int_equal(race.inline_hits + race.join_hits, race.rounds);
	/* Most joins run inline and most cancels land while the child
	 * sleeps there. */
	assert_true(race.inline_hits > 0);
}

static void test_cancel_from_a_thread_races_inline_joins(void **state)
{
	(void)state;
	race_run(__func__, 0);
}

/* One worker: the joiner claims with plain stores and the canceller
 * pays a heavy barrier instead (fiber.c, try_inline()). */
static void test_cancel_from_a_thread_races_inline_joins_one_worker(
	void **state)
{
	(void)state;
	race_run(__func__, 1);
}

/* Entry --------------------------------------------------------------- */

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spawn_tree_conserves_a_million_fibers),
		cmocka_unit_test(test_spawn_nested_ten_levels_deep),
		cmocka_unit_test(test_cancel_from_a_thread_races_inline_joins),
		cmocka_unit_test(
			test_cancel_from_a_thread_races_inline_joins_one_worker),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	skip_without_backend();
	return cmocka_run_group_tests_name(GROUP, tests, NULL, NULL);
}
