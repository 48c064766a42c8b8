/* SPDX-License-Identifier: MIT */
/*
 * bench_spawn: what it costs to start a thread of control and wait for
 * it, fibers against pthreads, all measured side by side.
 *
 *   spawn.join.1worker      weft_spawn + weft_join of one fiber at a
 *                           time, from the main fiber, workers = 1
 *                           (pinned to one CPU); ns per pair. The join
 *                           finds the child unstarted and runs it inline
 *                           on the main fiber's stack (weft_join's lazy
 *                           children): no switch
 *   spawn.join.yield.1worker  the same with a weft_yield() between spawn
 *                           and join: the child runs on a stack of its
 *                           own before it is joined (a switch to it and
 *                           one back), as every child did before lazy
 *                           children; ns per spawn, yield and join
 *   spawn.join.allworkers   the same with one worker per CPU
 *   spawn.pthread           pthread_create + pthread_join; ns per pair
 *   spawn.million.1worker   a million fibers spawned into an array, then
 *                           all joined, workers = 1: every fiber is alive
 *                           at once; ns per fiber (wall time in a note).
 *                           Peaks near 8 GiB resident: each live fiber
 *                           touches its stack's top page and, beyond the
 *                           guard budget, its canary page.
 *   spawn.million.allworkers  the same with one worker per CPU (not in
 *                           --quick: it would take CI over 3 s)
 *
 * Each run measures every row once, in that order, so that a noisy
 * moment on a shared machine spreads over all the rows; each row reports
 * the median, min and max over the runs. Each measurement is preceded by
 * a warm-up pass in the same weft_run, a tenth of its size (a hundredth
 * for the million rows: their cost is page faults on fresh stacks, which
 * no warm-up avoids, since weft unmaps slabs once their stacks are free).
 * Every fiber and thread returns its argument plus one and the joiner
 * checks it; the program exits 1 on any mismatch. The ratio column is
 * relative to spawn.join.1worker.
 *
 * Threads: the main thread (weft's worker 0 during the weft rows), the
 * other weft workers, and one short-lived pthread at a time.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "weft.h"

/* Operations per run (full, --quick); for the warm-up passes see above. */
#define SPAWN_JOINS		1000000ull
#define SPAWN_JOINS_QUICK	20000ull
#define PTHREAD_PAIRS		10000ull
#define PTHREAD_PAIRS_QUICK	300ull
#define MILLION			1000000ull
#define MILLION_QUICK		100000ull

/* Target (ns per spawn+join). */
#define TARGET_SPAWN_NS 100.0

enum row_id {
	ROW_JOIN_1,
	ROW_JOIN_YIELD_1,
	ROW_JOIN_ALL,
	ROW_PTHREAD,
	ROW_MILLION_1,
	ROW_MILLION_ALL,
	NR_ROWS
};

/* The body of every fiber and thread: a result the joiner can check. */
static void *plus_one(void *arg)
{
	return (char *)arg + 1;
}

/* weft ------------------------------------------------------------------ */

enum weft_kind {
	ONE_AT_A_TIME,		/* spawn one, join it, repeat                */
	YIELD_BETWEEN,		/* spawn one, yield (it runs), join, repeat  */
	ALL_THEN_JOIN		/* spawn all into an array, then join all    */
};

/* The job of one weft_run: a warm-up and then the measured pass. */
struct weft_job {
	enum weft_kind kind;
	const char *name;	/* row name, for failure reports             */
	uint64_t warm;		/* fibers in the warm-up pass                */
	uint64_t n;		/* measured fibers                           */
	weft_fiber **handles;	/* ALL_THEN_JOIN: room for n handles         */
	uint64_t elapsed_ns;	/* result                                    */
};

static void check_join(const char *name, weft_fiber *f, uintptr_t i)
{
	void *res;
	int err;

	err = weft_join(f, &res);
	if (err)
		bench_fail("%s: weft_join: %s", name, strerror(-err));
	if (res != (char *)i + 1)
		bench_fail("%s: fiber %llu returned %p", name,
			   (unsigned long long)i, res);
}

static void check_spawn(const char *name, weft_fiber **f, uintptr_t i)
{
	int err;

	err = weft_spawn(f, plus_one, (void *)i, NULL);
	if (err)
		bench_fail("%s: weft_spawn: %s", name, strerror(-err));
}

/* Returns the ns that @n spawns and joins took. Fiber context only. */
static uint64_t weft_pass(struct weft_job *job, uint64_t n)
{
	weft_fiber *f;
	uint64_t t0, t1;
	uintptr_t i;

	t0 = bench_now_ns();
	if (job->kind == ONE_AT_A_TIME) {
		for (i = 0; i < n; i++) {
			check_spawn(job->name, &f, i);
			check_join(job->name, f, i);
		}
	} else if (job->kind == YIELD_BETWEEN) {
		for (i = 0; i < n; i++) {
			check_spawn(job->name, &f, i);
			weft_yield();
			check_join(job->name, f, i);
		}
	} else {
		for (i = 0; i < n; i++)
			check_spawn(job->name, &job->handles[i], i);
		for (i = 0; i < n; i++)
			check_join(job->name, job->handles[i], i);
	}
	t1 = bench_now_ns();
	return t1 - t0;
}


static void weft_main(void *arg)
{
	struct weft_job *job = arg;

	weft_pass(job, job->warm);
	job->elapsed_ns = weft_pass(job, job->n);
	check_none_live(job->name);
}

/* Run one weft row; workers = 1 is pinned to @cpu. */
static uint64_t measure_weft(struct weft_job *job, unsigned workers, int cpu)
{
	struct weft_config cfg = { .workers = workers };
	int err;

	if (workers == 1)
		bench_pin(cpu);
	err = weft_run(&cfg, weft_main, job);
	if (workers == 1)
		bench_unpin();
	if (err)
		bench_fail("weft_run: %s", strerror(-err));
	return job->elapsed_ns;
}

/* pthreads --------------------------------------------------------------- */

static uint64_t pthread_pass(uint64_t n)
{
	uint64_t t0, t1;
	pthread_t t;
	uintptr_t i;
	void *res;
	int err;

	t0 = bench_now_ns();
	for (i = 0; i < n; i++) {
		err = pthread_create(&t, NULL, plus_one, (void *)i);
		if (err)
			bench_fail("pthread_create: %s", strerror(err));
		err = pthread_join(t, &res);
		if (err)
			bench_fail("pthread_join: %s", strerror(err));
		if (res != (char *)i + 1)
			bench_fail("spawn.pthread: thread %llu returned %p",
				   (unsigned long long)i, res);
	}
	t1 = bench_now_ns();
	return t1 - t0;
}

static uint64_t measure_pthread(uint64_t n)
{
	pthread_pass(n / 10);
	return pthread_pass(n);
}

/* Main ------------------------------------------------------------------- */

static const char *const row_names[NR_ROWS] = {
	[ROW_JOIN_1] = "spawn.join.1worker",
	[ROW_JOIN_YIELD_1] = "spawn.join.yield.1worker",
	[ROW_JOIN_ALL] = "spawn.join.allworkers",
	[ROW_PTHREAD] = "spawn.pthread",
	[ROW_MILLION_1] = "spawn.million.1worker",
	[ROW_MILLION_ALL] = "spawn.million.allworkers",
};

int main(int argc, char **argv)
{
	struct bench_opts o = bench_parse(argc, argv);
	uint64_t joins = o.quick ? SPAWN_JOINS_QUICK : SPAWN_JOINS;
	uint64_t pairs = o.quick ? PTHREAD_PAIRS_QUICK : PTHREAD_PAIRS;
	uint64_t million = o.quick ? MILLION_QUICK : MILLION;
	int ncpu = bench_cpus_init();
	int solo = bench_cpu_pick(-1);
	struct bench_row rows[NR_ROWS];
	struct weft_job jobs[NR_ROWS] = {
		[ROW_JOIN_1] = { ONE_AT_A_TIME, row_names[ROW_JOIN_1],
				 joins / 10, joins },
		[ROW_JOIN_YIELD_1] = { YIELD_BETWEEN,
				       row_names[ROW_JOIN_YIELD_1],
				       joins / 10, joins },
		[ROW_JOIN_ALL] = { ONE_AT_A_TIME, row_names[ROW_JOIN_ALL],
				   joins / 10, joins },
		[ROW_MILLION_1] = { ALL_THEN_JOIN, row_names[ROW_MILLION_1],
				    million / 100, million },
		[ROW_MILLION_ALL] = { ALL_THEN_JOIN,
				      row_names[ROW_MILLION_ALL],
				      million / 100, million },
	};
	weft_fiber **handles = calloc(million, sizeof(*handles));
	double ref, med;
	int r, i;

	if (!handles)
		bench_fail("out of memory");
	jobs[ROW_MILLION_1].handles = handles;
	jobs[ROW_MILLION_ALL].handles = handles;
	bench_print_machine("bench_spawn");
	for (i = 0; i < NR_ROWS; i++)
		bench_row_init(&rows[i], row_names[i],
			       i == ROW_PTHREAD ? pairs : jobs[i].n, o.runs);

	/* workers = 0 is one per online CPU. */
	for (r = 0; r < o.runs; r++) {
		bench_row_add(&rows[ROW_JOIN_1],
			      measure_weft(&jobs[ROW_JOIN_1], 1, solo));
		bench_row_add(&rows[ROW_JOIN_YIELD_1],
			      measure_weft(&jobs[ROW_JOIN_YIELD_1], 1, solo));
		bench_row_add(&rows[ROW_JOIN_ALL],
			      measure_weft(&jobs[ROW_JOIN_ALL], 0, solo));
		bench_row_add(&rows[ROW_PTHREAD], measure_pthread(pairs));
		bench_row_add(&rows[ROW_MILLION_1],
			      measure_weft(&jobs[ROW_MILLION_1], 1, solo));
		if (!o.quick)
			bench_row_add(&rows[ROW_MILLION_ALL],
				      measure_weft(&jobs[ROW_MILLION_ALL], 0,
						   solo));
	}

	bench_note("pinned: the 1worker rows on cpu %d; allworkers = %d workers,"
	       " unpinned\n", solo, ncpu);
	bench_print_header(&o, row_names[ROW_JOIN_1]);
	ref = bench_row_median(&rows[ROW_JOIN_1]);
	for (i = 0; i < NR_ROWS; i++) {
		if (rows[i].nr == 0)
			bench_note("%s skipped in --quick\n", rows[i].name);
		else
			bench_print_row(&rows[i], ref);
	}
	for (i = ROW_MILLION_1; i <= ROW_MILLION_ALL; i++) {
		if (rows[i].nr == 0)
			continue;
		med = bench_row_median(&rows[i]);
		bench_note("%s: wall %.3f s median (min %.3f, max %.3f) for %llu"
		       " fibers\n", rows[i].name,
		       med * (double)rows[i].iters / 1e9,
		       rows[i].ns[0] * (double)rows[i].iters / 1e9,
		       rows[i].ns[rows[i].nr - 1] * (double)rows[i].iters / 1e9,
		       (unsigned long long)rows[i].iters);
	}
	bench_note("ratio spawn.pthread / spawn.join.1worker = %.1f, "
	       "/ spawn.join.allworkers = %.1f\n",
	       bench_row_median(&rows[ROW_PTHREAD]) / ref,
	       bench_row_median(&rows[ROW_PTHREAD]) /
	       bench_row_median(&rows[ROW_JOIN_ALL]));
	bench_note("target: spawn.join <= %.0f ns: %s (1worker %.1f ns)\n",
	       TARGET_SPAWN_NS, ref <= TARGET_SPAWN_NS ? "met" : "NOT met",
	       ref);
	for (i = 0; i < NR_ROWS; i++)
		free(rows[i].ns);
	free(handles);
	return 0;
}
