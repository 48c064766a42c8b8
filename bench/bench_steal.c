/* SPDX-License-Identifier: MIT */
/*
 * bench_steal: how well work spreads over the workers by stealing, on
 * two divide-and-conquer workloads run on one worker and on one worker
 * per CPU. Every fiber is spawned on the worker of its parent, so all
 * the parallelism the second row finds comes from stealing.
 *
 *   steal.fib30.cutoff12.1worker  recursive fib(30) with a fiber per
 *                          call above n = 12: spawn a fiber for
 *                          fib(n - 1), compute fib(n - 2) in place,
 *                          join, add (6,764 fibers per fib(30)); at
 *                          n <= 12, plain recursion (sequential leaves,
 *                          so this measures stealing more than spawning;
 *                          bench_fine has fib without a cutoff);
 *                          workers = 1; ns per fib(30)
 *   steal.fib30.cutoff12.<N>workers  the same with N = every CPU this
 *                          process may use
 *   steal.uts.1worker      an unbalanced tree in the manner of UTS's
 *                          binomial trees (T3's shape, another hash):
 *                          the root has UTS_ROOT_KIDS children, every
 *                          other node UTS_M children with probability
 *                          UTS_Q and none otherwise (UTS_M * UTS_Q, just
 *                          below 1, makes the tree large but finite).
 *                          Visiting a node hashes its id UTS_WORK
 *                          times, which decides whether it has children
 *                          and gives their ids. Most subtrees are tiny;
 *                          a few, at places nobody can predict, hold most
 *                          of the tree. workers = 1; ns per traversal
 *   steal.uts.<N>workers   the same with N workers
 *
 * The tree has 1,123,689 nodes (144,777 under --quick), too many for a
 * fiber each, so a traversal runs as UTS does with threads: each fiber
 * walks its share depth first from an explicit stack, and every
 * UTS_SPLIT_NODES nodes, when fewer than 2 * workers split-off tasks wait
 * unstarted, it gives the bottom half of its stack (the nodes nearest the
 * root, most likely the big subtrees) to a new fiber; each fiber joins
 * its split-offs at the end and returns the nodes counted. Idle workers
 * steal those fibers. --quick runs fib(25) (rows steal.fib25.cutoff12.*)
 * and the smaller tree.
 *
 * Each run makes a fresh weft_run per row, in that order, so that a noisy
 * moment spreads over all the rows; in it one warm-up pass precedes the
 * measured ones, timed in the main fiber. Every fib is checked against
 * its known value and every traversal's node count against a serial
 * traversal made once at the start; the program exits 1 on a mismatch.
 * The ratio column is relative to the 1worker row of the same workload,
 * so it is the inverse of the speed-up, which a note gives. Nothing is
 * pinned. Notes also give each workload's serial time (no fibers), the
 * fibers, steals and worker sleeps per pass, and a control that shows how
 * many CPUs' worth of work the machine gave two plain threads meanwhile:
 * on a shared machine the speed-up says little when that is well below N.
 *
 * Threads: the main thread (weft's worker 0), the other workers, and the
 * control's threads between the weft rows.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ck_pr.h>

#include "bench_common.h"
#include "weft.h"

/* fib: argument (full, --quick), its value, and passes per run. */
#define FIB_N		30u
#define FIB_N_QUICK	25u
#define FIB_VALUE	832040ull
#define FIB_VALUE_QUICK	75025ull
#define FIB_REPS	20ull
#define FIB_REPS_QUICK	40ull
/* Below or at this n, fib recurses in place without fibers. */
#define FIB_CUTOFF	12u

/* The tree: children of the root, of a node that has any, the chance
 * that a node has children, hashing rounds per node. */
#define UTS_ROOT_KIDS	2000u
#define UTS_M		8u
#define UTS_Q		0.124875
#define UTS_WORK	16u
/* Root ids (full, --quick), giving 1,123,689 and 144,777 nodes; then
 * passes per run. */
#define UTS_SEED	4u
#define UTS_SEED_QUICK	3u
#define UTS_REPS	10ull
#define UTS_REPS_QUICK	10ull
/* Nodes a fiber walks between looks at whether to split. */
#define UTS_SPLIT_NODES	64u

/* Serial fibs per thread in one pass of the control (see control_run). */
#define CONTROL_REPS		20ull
#define CONTROL_REPS_QUICK	200ull

/* Wanted speed-up on N workers: this fraction of N. */
#define TARGET_EFFICIENCY 0.9

enum workload {
	WL_FIB,
	WL_UTS,
	NR_WORKLOADS
};

enum row_id {
	ROW_FIB_1,
	ROW_FIB_N,
	ROW_UTS_1,
	ROW_UTS_N,
	NR_ROWS
};

/* fib -------------------------------------------------------------------- */

__attribute__((noinline)) static uint64_t fib_serial(unsigned n)
{
	return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2);
}

static uint64_t fib_par(unsigned n);

static void *fib_fiber(void *arg)
{
	return (void *)(uintptr_t)fib_par((unsigned)(uintptr_t)arg);
}

/* fib(n) with a fiber per call above FIB_CUTOFF. Fiber context only. */
static uint64_t fib_par(unsigned n)
{
	weft_fiber *f;
	uint64_t b;
	void *a;
	int err;

	if (n <= FIB_CUTOFF)
		return fib_serial(n);
	err = weft_spawn(&f, fib_fiber, (void *)(uintptr_t)(n - 1), NULL);
	if (err)
		bench_fail("fib: weft_spawn: %s", strerror(-err));
	b = fib_par(n - 2);
	err = weft_join(f, &a);
	if (err)
		bench_fail("fib: weft_join: %s", strerror(-err));
	return (uint64_t)(uintptr_t)a + b;
}

/* uts -------------------------------------------------------------------- */

/* Read-only while any weft_run is going, except pending. */
static struct {
	uint64_t seed;		/* the root's id                             */
	uint64_t q53;		/* UTS_Q scaled to 2^53                      */
	unsigned max_pending;	/* split only while pending is below this    */
	unsigned pending;	/* atomic: split-offs spawned, not started   */
	uint64_t nodes;		/* the serial count                          */
} uts;

/* A split-off: the nodes the new fiber walks. */
struct uts_task {
	size_t n;
	uint64_t node[];
};

/* A fiber's depth-first stack and the split-offs it has to join. */
struct uts_walk {
	uint64_t *stk;		/* node ids, the next one to visit on top    */
	size_t len;
	size_t cap;
	weft_fiber **kids;	/* split-offs spawned                        */
	size_t nkids;
	size_t kcap;
};

static inline uint64_t mix64(uint64_t x)
{
	uint64_t z = x + 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Visit node @id: write the ids of its children to @out, return how many. */
static unsigned uts_expand(uint64_t id, uint64_t *out)
{
	uint64_t h = id;
	unsigned i;

	for (i = 0; i < UTS_WORK; i++)
		h = mix64(h);
	if ((h >> 11) >= uts.q53)
		return 0;
	for (i = 0; i < UTS_M; i++)
		out[i] = mix64(h + i + 1);
	return UTS_M;
}

static void uts_reserve(struct uts_walk *w, size_t room)
{
	if (w->len + room <= w->cap)
		return;
	while (w->len + room > w->cap)
		w->cap = w->cap ? 2 * w->cap : 4096;
	w->stk = realloc(w->stk, w->cap * sizeof(*w->stk));
	if (!w->stk)
		bench_fail("out of memory");
}

/* Put the root's children, the first nodes to walk, on @w's stack. */
static void uts_push_root_kids(struct uts_walk *w)
{
	unsigned i;

	uts_reserve(w, UTS_ROOT_KIDS);
	for (i = 0; i < UTS_ROOT_KIDS; i++)
		w->stk[w->len++] = mix64(uts.seed * 1000003u + i);
}

/* Nodes in the tree, root included, walked without fibers. */
static uint64_t uts_serial(void)
{
	struct uts_walk w = { 0 };
	uint64_t count = 1;

	uts_push_root_kids(&w);
	while (w.len) {
		count++;
		uts_reserve(&w, UTS_M);
		w.len--;
		w.len += uts_expand(w.stk[w.len], w.stk + w.len);
	}
	free(w.stk);
	return count;
}

static void *uts_fiber(void *arg);

/* Give the bottom half of @w's stack to a new fiber. */
static void uts_split(struct uts_walk *w)
{
	size_t k = w->len / 2;
	struct uts_task *t = malloc(sizeof(*t) + k * sizeof(t->node[0]));
	int err;

	if (!t)
		bench_fail("out of memory");
	t->n = k;
	memcpy(t->node, w->stk, k * sizeof(t->node[0]));
	memmove(w->stk, w->stk + k, (w->len - k) * sizeof(w->stk[0]));
	w->len -= k;
	if (w->nkids == w->kcap) {
		w->kcap = w->kcap ? 2 * w->kcap : 16;
		w->kids = realloc(w->kids, w->kcap * sizeof(*w->kids));
		if (!w->kids)
			bench_fail("out of memory");
	}
	/* Atomic RMW; pending is a heuristic and carries no data. */
	ck_pr_inc_uint(&uts.pending);
	err = weft_spawn(&w->kids[w->nkids], uts_fiber, t, NULL);
	if (err)
		bench_fail("uts: weft_spawn: %s", strerror(-err));
	w->nkids++;
}

/*
 * Walk the nodes of @arg (a struct uts_task, freed here) and everything
 * below them, splitting work off as the header says; return the number
 * of nodes walked, split-offs included. Fiber context only.
 */
static void *uts_fiber(void *arg)
{
	struct uts_task *t = arg;
	struct uts_walk w = { 0 };
	uint64_t count = 0;
	unsigned since = 0;
	size_t i;
	void *res;
	int err;

	/* Atomic RMW; see uts_split(). */
	ck_pr_dec_uint(&uts.pending);
	uts_reserve(&w, t->n);
	memcpy(w.stk, t->node, t->n * sizeof(t->node[0]));
	w.len = t->n;
	free(t);
	while (w.len) {
		count++;
		uts_reserve(&w, UTS_M);
		w.len--;
		w.len += uts_expand(w.stk[w.len], w.stk + w.len);
		if (++since < UTS_SPLIT_NODES)
			continue;
		since = 0;
		/* Relaxed: a stale count only makes a split early or late. */
		if (w.len >= 2 &&
		    ck_pr_load_uint(&uts.pending) < uts.max_pending)
			uts_split(&w);
	}
	free(w.stk);
	for (i = 0; i < w.nkids; i++) {
		err = weft_join(w.kids[i], &res);
		if (err)
			bench_fail("uts: weft_join: %s", strerror(-err));
		count += (uint64_t)(uintptr_t)res;
	}
	free(w.kids);
	return (void *)(uintptr_t)count;
}

/* One traversal; returns the node count. Fiber context only. */
static uint64_t uts_par(void)
{
	struct uts_walk w = { 0 };
	struct uts_task *t;
	weft_fiber *f;
	void *res;
	int err;

	uts_push_root_kids(&w);
	t = malloc(sizeof(*t) + w.len * sizeof(t->node[0]));
	if (!t)
		bench_fail("out of memory");
	t->n = w.len;
	memcpy(t->node, w.stk, w.len * sizeof(t->node[0]));
	free(w.stk);
	/* Atomic RMW; see uts_split(). */
	ck_pr_inc_uint(&uts.pending);
	err = weft_spawn(&f, uts_fiber, t, NULL);
	if (err)
		bench_fail("uts: weft_spawn: %s", strerror(-err));
	err = weft_join(f, &res);
	if (err)
		bench_fail("uts: weft_join: %s", strerror(-err));
	return 1 + (uint64_t)(uintptr_t)res;
}

/* Runs ------------------------------------------------------------------- */

/* The job of one weft_run: a warm-up pass, then reps measured ones. */
struct steal_job {
	enum workload wl;
	const char *name;	/* row name, for failure reports             */
	unsigned fib_n;		/* WL_FIB: the argument                      */
	uint64_t want;		/* the right result of one pass              */
	uint64_t reps;		/* measured passes                           */
	uint64_t elapsed_ns;	/* result: all measured passes               */
	uint64_t spawned;	/* result: fibers spawned by them            */
	uint64_t steals;	/* result: steals during them                */
	uint64_t parks;		/* result: worker sleeps during them         */
};

static void one_pass(struct steal_job *job)
{
	uint64_t got;

	if (job->wl == WL_FIB)
		got = fib_par(job->fib_n);
	else
		got = uts_par();
	if (got != job->want)
		bench_fail("%s: got %llu, want %llu", job->name,
			   (unsigned long long)got,
			   (unsigned long long)job->want);
}

static void read_stats(struct weft_stats *st)
{
	int err;

	st->size = sizeof(*st);
	err = weft_stats(st);

	if (err)
		bench_fail("weft_stats: %s", strerror(-err));
}

static void steal_main(void *arg)
{
	struct steal_job *job = arg;
	struct weft_stats s0, s1;
	uint64_t t0, t1, i;

	one_pass(job);
	read_stats(&s0);
	t0 = bench_now_ns();
	for (i = 0; i < job->reps; i++)
		one_pass(job);
	t1 = bench_now_ns();
	read_stats(&s1);
	job->elapsed_ns = t1 - t0;
	job->spawned = s1.spawned - s0.spawned;
	job->steals = s1.steals - s0.steals;
	job->parks = s1.parks - s0.parks;
	/* Every split-off has started by now: each was joined. */
	if (ck_pr_load_uint(&uts.pending) != 0)
		bench_fail("%s: %u split-offs never started", job->name,
			   ck_pr_load_uint(&uts.pending));
}

/* Run one row. */
static uint64_t measure(struct steal_job *job, unsigned workers)
{
	struct weft_config cfg = { .workers = workers };
	int err;

	uts.max_pending = 2 * workers;
	err = weft_run(&cfg, steal_main, job);
	if (err)
		bench_fail("weft_run: %s", strerror(-err));
	return job->elapsed_ns;
}

/* Control ---------------------------------------------------------------- */

/*
 * The control: nthreads pthreads, unpinned, each computing fib(n)
 * serially reps times, all at once, against one thread doing the same
 * alone just before and just after. On an idle machine with independent
 * CPUs they take as long as the one; when other work holds CPUs (or the
 * CPUs are SMT siblings) they take longer, and no speed-up can beat what
 * they find. Main thread only; the threads share nothing but the barrier.
 */
struct control {
	pthread_barrier_t start;	/* nthreads + the main thread        */
	unsigned fib_n;			/* fib argument                      */
	uint64_t reps;			/* fibs per thread                   */
	uint64_t want;			/* fib(fib_n)                        */
};

static void *control_thread(void *arg)
{
	struct control *c = arg;
	uint64_t i;

	pthread_barrier_wait(&c->start);
	for (i = 0; i < c->reps; i++)
		if (fib_serial(c->fib_n) != c->want)
			bench_fail("control: fib(%u) is wrong", c->fib_n);
	return NULL;
}

/* Returns the ns from the start to the last thread's end. */
static uint64_t control_run(unsigned fib_n, uint64_t want, uint64_t reps,
			    int nthreads)
{
	struct control c = { .fib_n = fib_n, .reps = reps, .want = want };
	pthread_t t[WEFT_WORKERS_MAX];
	uint64_t t0;
	int i, err;

	if (nthreads > (int)WEFT_WORKERS_MAX)
		nthreads = (int)WEFT_WORKERS_MAX;
	pthread_barrier_init(&c.start, NULL, (unsigned)nthreads + 1);
	for (i = 0; i < nthreads; i++) {
		err = pthread_create(&t[i], NULL, control_thread, &c);
		if (err)
			bench_fail("pthread_create: %s", strerror(err));
	}
	pthread_barrier_wait(&c.start);
	t0 = bench_now_ns();
	for (i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	t0 = bench_now_ns() - t0;
	pthread_barrier_destroy(&c.start);
	return t0;
}

/* Per-run figures of a row beside its times: per pass. */
struct row_extra {
	double *spawned;
	double *steals;
	double *parks;
};

static double median_of(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
	if (n % 2)
		return v[n / 2];
	return (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Serial time of one pass, median of @runs (ns). */
static double serial_ns(enum workload wl, unsigned fib_n, uint64_t want,
			uint64_t reps, int runs)
{
	double *v = calloc((size_t)runs, sizeof(*v));
	uint64_t t0, got, i;
	double med;
	int r;

	if (!v)
		bench_fail("out of memory");
	for (r = 0; r < runs; r++) {
		t0 = bench_now_ns();
		for (i = 0; i < reps; i++) {
			got = wl == WL_FIB ? fib_serial(fib_n) : uts_serial();
			if (got != want)
				bench_fail("serial: got %llu, want %llu",
					   (unsigned long long)got,
					   (unsigned long long)want);
		}
		v[r] = (double)(bench_now_ns() - t0) / (double)reps;
	}
	med = median_of(v, runs);
	free(v);
	return med;
}

/* The load on the machine, which skews every figure here. */
static void print_loadavg(void)
{
	char buf[128] = "unknown";
	FILE *f = fopen("/proc/loadavg", "r");

	if (f && fgets(buf, sizeof(buf), f))
		buf[strcspn(buf, "\n")] = '\0';
	if (f)
		fclose(f);
	bench_note("before the run: /proc/loadavg %s (other work on the "
	       "machine takes CPUs from the workers)\n", buf);
}

int main(int argc, char **argv)
{
	struct bench_opts o = bench_parse(argc, argv);
	int ncpu = bench_cpus_init();
	unsigned fib_n = o.quick ? FIB_N_QUICK : FIB_N;
	uint64_t fib_want = o.quick ? FIB_VALUE_QUICK : FIB_VALUE;
	uint64_t fib_reps = o.quick ? FIB_REPS_QUICK : FIB_REPS;
	uint64_t uts_reps = o.quick ? UTS_REPS_QUICK : UTS_REPS;
	uint64_t ctl_reps = o.quick ? CONTROL_REPS_QUICK : CONTROL_REPS;
	static char names[NR_ROWS][48];
	struct steal_job jobs[NR_ROWS];
	struct row_extra extra[NR_ROWS];
	struct bench_row rows[NR_ROWS];
	double med[NR_ROWS], ser[NR_WORKLOADS], speedup, target, cap;
	double *ctl = calloc((size_t)o.runs, sizeof(*ctl));
	double alone, together;
	unsigned workers[NR_ROWS];
	int r, i;

	bench_print_machine("bench_steal");
	if (!ctl)
		bench_fail("out of memory");
	print_loadavg();
	if (ncpu > (int)WEFT_WORKERS_MAX)
		ncpu = (int)WEFT_WORKERS_MAX;
	uts.seed = o.quick ? UTS_SEED_QUICK : UTS_SEED;
	uts.q53 = (uint64_t)(UTS_Q * 9007199254740992.0);
	uts.nodes = uts_serial();

	snprintf(names[ROW_FIB_1], sizeof(names[0]),
		 "steal.fib%u.cutoff%u.1worker", fib_n, FIB_CUTOFF);
	snprintf(names[ROW_FIB_N], sizeof(names[0]),
		 "steal.fib%u.cutoff%u.%dworkers", fib_n, FIB_CUTOFF, ncpu);
	snprintf(names[ROW_UTS_1], sizeof(names[0]), "steal.uts.1worker");
	snprintf(names[ROW_UTS_N], sizeof(names[0]), "steal.uts.%dworkers",
		 ncpu);
	for (i = 0; i < NR_ROWS; i++) {
		bool fib = i == ROW_FIB_1 || i == ROW_FIB_N;

		workers[i] = (i == ROW_FIB_1 || i == ROW_UTS_1) ? 1 :
			     (unsigned)ncpu;
		jobs[i] = (struct steal_job){
			.wl = fib ? WL_FIB : WL_UTS,
			.name = names[i],
			.fib_n = fib_n,
			.want = fib ? fib_want : uts.nodes,
			.reps = fib ? fib_reps : uts_reps,
		};
		bench_row_init(&rows[i], names[i], jobs[i].reps, o.runs);
		extra[i].spawned = calloc((size_t)o.runs, sizeof(double));
		extra[i].steals = calloc((size_t)o.runs, sizeof(double));
		extra[i].parks = calloc((size_t)o.runs, sizeof(double));
		if (!extra[i].spawned || !extra[i].steals || !extra[i].parks)
			bench_fail("out of memory");
	}

	for (r = 0; r < o.runs; r++) {
		for (i = 0; i < NR_ROWS; i++) {
			if (workers[i] > 1 && ncpu < 2)
				continue;
			bench_row_add(&rows[i],
				      measure(&jobs[i], workers[i]));
			extra[i].spawned[r] = (double)jobs[i].spawned /
					      (double)jobs[i].reps;
			extra[i].steals[r] = (double)jobs[i].steals /
					     (double)jobs[i].reps;
			extra[i].parks[r] = (double)jobs[i].parks /
					    (double)jobs[i].reps;
		}
		if (ncpu > 1) {
			alone = (double)control_run(fib_n, fib_want, ctl_reps,
						    1);
			together = (double)control_run(fib_n, fib_want,
						       ctl_reps, ncpu);
			alone += (double)control_run(fib_n, fib_want, ctl_reps,
						     1);
			ctl[r] = ncpu * alone / 2 / together;
		}
	}
	ser[WL_FIB] = serial_ns(WL_FIB, fib_n, fib_want, fib_reps, o.runs);
	ser[WL_UTS] = serial_ns(WL_UTS, 0, uts.nodes, uts_reps, o.runs);

	bench_note("nothing pinned: a pinned 1worker row would suffer more "
	       "from other work on its CPU than the %dworkers rows\n", ncpu);
	bench_note("an op is one whole fib(%u) or one whole traversal of the "
	       "tree; iters = passes per run\n", fib_n);
	bench_print_header(&o, "the 1worker row of the same workload");
	for (i = 0; i < NR_ROWS; i++) {
		med[i] = 0;
		if (rows[i].nr == 0) {
			bench_note("%s skipped: only one CPU is available\n",
			       rows[i].name);
			continue;
		}
		med[i] = bench_row_median(&rows[i]);
		bench_print_row(&rows[i], (i == ROW_FIB_N || i == ROW_FIB_1) ?
				med[ROW_FIB_1] : med[ROW_UTS_1]);
	}
	bench_note("uts tree: %llu nodes per traversal (root %u children, "
	       "then %u children with probability %.6f, seed %llu, %u hash "
	       "rounds per node)\n", (unsigned long long)uts.nodes,
	       UTS_ROOT_KIDS, UTS_M, UTS_Q, (unsigned long long)uts.seed,
	       UTS_WORK);
	bench_note("serial, no fibers: fib(%u) %.3f ms, uts %.3f ms; "
	       "1worker overhead over serial: fib %.2fx, uts %.2fx\n", fib_n,
	       ser[WL_FIB] / 1e6, ser[WL_UTS] / 1e6,
	       med[ROW_FIB_1] / ser[WL_FIB], med[ROW_UTS_1] / ser[WL_UTS]);
	for (i = 0; i < NR_ROWS; i++) {
		if (rows[i].nr == 0)
			continue;
		bench_note("%s: per op %.0f fibers spawned, %.1f steals, %.1f "
		       "worker sleeps (medians)\n", rows[i].name,
		       median_of(extra[i].spawned, rows[i].nr),
		       median_of(extra[i].steals, rows[i].nr),
		       median_of(extra[i].parks, rows[i].nr));
	}
	if (ncpu < 2) {
		bench_note("speed-up: not measured, only one CPU is available\n");
	} else {
		cap = median_of(ctl, o.runs);
		bench_note("control: %d pthreads each computing fib(%u) serially"
		       " at once did %.2f times the work of one alone in the "
		       "same time (median; %d on an idle machine); no speed-up "
		       "can beat that\n", ncpu, fib_n, cap, ncpu);
		target = TARGET_EFFICIENCY * ncpu;
		speedup = med[ROW_FIB_1] / med[ROW_FIB_N];
		bench_note("speed-up fib: %.2f (1 -> %d workers)\n", speedup,
		       ncpu);
		bench_note("target: fib speed-up >= %.1f (%.0f%% of %d "
		       "workers): %s (%.2f)\n", target,
		       TARGET_EFFICIENCY * 100, ncpu,
		       speedup >= target ? "met" : "NOT met", speedup);
		speedup = med[ROW_UTS_1] / med[ROW_UTS_N];
		bench_note("speed-up uts: %.2f (1 -> %d workers)\n", speedup,
		       ncpu);
		bench_note("target: uts speed-up >= %.1f (%.0f%% of %d "
		       "workers): %s (%.2f)\n", target,
		       TARGET_EFFICIENCY * 100, ncpu,
		       speedup >= target ? "met" : "NOT met", speedup);
	}
	for (i = 0; i < NR_ROWS; i++) {
		free(rows[i].ns);
		free(extra[i].spawned);
		free(extra[i].steals);
		free(extra[i].parks);
	}
	free(ctl);
	return 0;
}
