/* SPDX-License-Identifier: MIT */
/*
 * bench_switch: what one switch from one thread of control to another
 * costs, cooperative against preemptive, all measured side by side.
 *
 *   switch.raw          weft__ctx_switch between two contexts on mmap'd
 *                       stacks; ns per one-way switch
 *   switch.yield        two fibers on one worker (workers = 1) each
 *                       calling weft_yield() in a loop; ns per switch
 *   switch.futex.same   two pthreads handing a turn word back and forth
 *                       with FUTEX_WAIT/FUTEX_WAKE, both pinned to one
 *                       CPU; ns per handoff
 *   switch.futex.cross  the same, pinned to two different CPUs
 *   switch.condvar      the same through a mutex and a condition
 *                       variable, unpinned
 *   switch.pipe         the same through two pipes, one byte each way,
 *                       unpinned
 *
 * Each run measures every row once, in that order, so that a noisy
 * moment on a shared machine spreads over all the rows instead of
 * spoiling one; each row then reports the median, min and max over the
 * runs. Each measurement is preceded by a warm-up pass of a tenth of its
 * size. Every row checks its own work (counters, handoff order) and the
 * program exits 1 if one is wrong. Single-threaded rows and the weft
 * worker run pinned to one CPU; the ratio column is relative to
 * switch.yield.
 *
 * Threads: the main thread, weft's worker 0 (also the main thread) and
 * two pthreads per ping-pong row.
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ck_pr.h>

#include "bench_common.h"
#include "ctx.h"
#include "weft.h"

/* Operations per run (full, --quick); a warm-up pass is a tenth. */
#define RAW_SWITCHES		20000000ull
#define RAW_SWITCHES_QUICK	1000000ull
#define YIELD_SWITCHES		4000000ull
#define YIELD_SWITCHES_QUICK	200000ull
#define HANDOFFS		50000ull
#define HANDOFFS_QUICK		4000ull

/* Usable bytes of each raw-switch stack. */
#define RAW_STACK_SIZE (64u * 1024u)

/* Targets (ns, and a ratio): what the peers reach on this kind of
 * machine. */
#define TARGET_YIELD_NS		25.0
#define TARGET_FUTEX_RATIO	40.0

enum row_id {
	ROW_RAW,
	ROW_YIELD,
	ROW_FUTEX_SAME,
	ROW_FUTEX_CROSS,
	ROW_CONDVAR,
	ROW_PIPE,
	ROW_YIELD_TRACED,
	NR_ROWS
};

/* Raw switch ----------------------------------------------------------- */

/*
 * Two contexts, a and b, switch to each other rounds times each; main
 * enters a and a leaves to main at the end. b is abandoned suspended and
 * rebuilt by the next run. Main thread only.
 */
struct raw {
	void *main_sp;		/* saved sp of the main thread's context     */
	void *a_sp;		/* saved sp of context a                     */
	void *b_sp;		/* saved sp of context b                     */
	void *a_top;		/* top of a's stack                          */
	void *b_top;		/* top of b's stack                          */
	uint64_t rounds;	/* switches a -> b (and b -> a) per run      */
	uint64_t a_count;	/* times a switched to b                     */
	uint64_t b_count;	/* times b switched to a                     */
};

static void raw_a(void *arg)
{
	struct raw *s = arg;
	uint64_t i;

	for (i = 0; i < s->rounds; i++) {
		s->a_count++;
		weft__ctx_switch(&s->a_sp, s->b_sp);
	}
	weft__ctx_switch(&s->a_sp, s->main_sp);
	abort();		/* never resumed */
}

static void raw_b(void *arg)
{
	struct raw *s = arg;

	for (;;) {
		s->b_count++;
		weft__ctx_switch(&s->b_sp, s->a_sp);
	}
}

/* An mmap'd stack with a PROT_NONE guard page below it; returns its top. */
static void *raw_stack_map(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, page + RAW_STACK_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);

	if (p == MAP_FAILED)
		bench_fail("mmap: %s", strerror(errno));
	if (mprotect(p, page, PROT_NONE) != 0)
		bench_fail("mprotect: %s", strerror(errno));
	return p + page + RAW_STACK_SIZE;
}

/* Returns the ns that 2 * rounds one-way switches took. */
static uint64_t raw_run(struct raw *s, uint64_t rounds)
{
	uint64_t t0, t1;

	s->rounds = rounds;
	s->a_count = 0;
	s->b_count = 0;
	s->a_sp = weft__ctx_make(s->a_top, raw_a, s);
	s->b_sp = weft__ctx_make(s->b_top, raw_b, s);
	t0 = bench_now_ns();
	weft__ctx_switch(&s->main_sp, s->a_sp);
	t1 = bench_now_ns();
	if (s->a_count != rounds || s->b_count != rounds)
		bench_fail("switch.raw: a switched %llu times, b %llu, "
			   "want %llu",
			   (unsigned long long)s->a_count,
			   (unsigned long long)s->b_count,
			   (unsigned long long)rounds);
	return t1 - t0;
}

static uint64_t measure_raw(struct raw *s, uint64_t switches, int cpu)
{
	uint64_t ns;

	bench_pin(cpu);
	raw_run(s, switches / 20);
	ns = raw_run(s, switches / 2);
	bench_unpin();
	return ns;
}

/* weft_yield ping-pong -------------------------------------------------- */

/*
 * Two fibers on one worker, each calling weft_yield() rounds times. With
 * one worker everything here runs on one thread, so plain fields do.
 */
struct yield_pp {
	uint64_t rounds;	/* weft_yield() calls per fiber              */
	uint64_t count[2];	/* yields made by fiber 0 and fiber 1        */
	uint64_t switched;	/* yields after which the other fiber had run */
	unsigned ready;		/* fibers that have started                  */
	unsigned done;		/* fibers that have finished their loop      */
	uint64_t t0;		/* both fibers started                       */
	uint64_t t1;		/* both fibers finished                      */
};

struct yield_arg {
	struct yield_pp *y;
	unsigned me;		/* 0 or 1                                    */
};

/* The job of one weft_run: a warm-up and then the measured ping-pong. */
struct yield_job {
	uint64_t switches;	/* measured switches                         */
	uint64_t elapsed_ns;	/* result                                    */
};

static void *yield_fiber(void *arg)
{
	struct yield_arg *a = arg;
	struct yield_pp *y = a->y;
	unsigned me = a->me;
	uint64_t i, seen;

	y->ready++;
	while (y->ready < 2)
		weft_yield();
	if (!y->t0)
		y->t0 = bench_now_ns();
	for (i = 0; i < y->rounds; i++) {
		y->count[me]++;
		seen = y->count[!me];
		weft_yield();
		if (y->count[!me] != seen)
			y->switched++;
	}
	if (++y->done == 2)
		y->t1 = bench_now_ns();
	return a;
}

/* Returns the ns that 2 * rounds yields took. Fiber context only. */
static uint64_t yield_run(uint64_t rounds)
{
	struct yield_pp y = { .rounds = rounds };
	struct yield_arg args[2] = { { &y, 0 }, { &y, 1 } };
	weft_fiber *f[2];
	void *res;
	int err, i;

	for (i = 0; i < 2; i++) {
		err = weft_spawn(&f[i], yield_fiber, &args[i], NULL);
		if (err)
			bench_fail("weft_spawn: %s", strerror(-err));
	}
	for (i = 0; i < 2; i++) {
		err = weft_join(f[i], &res);
		if (err)
			bench_fail("weft_join: %s", strerror(-err));
		if (res != &args[i])
			bench_fail("switch.yield: fiber %d returned %p", i,
				   res);
	}
	if (y.done != 2 || y.count[0] != rounds || y.count[1] != rounds)
		bench_fail("switch.yield: counts %llu and %llu, want %llu",
			   (unsigned long long)y.count[0],
			   (unsigned long long)y.count[1],
			   (unsigned long long)rounds);
	/*
	 * Only the last yield or two may find the other fiber gone; any
	 * other yield that did not switch would make the figure a lie.
	 */
	if (y.switched + 2 < 2 * rounds)
		bench_fail("switch.yield: only %llu of %llu yields switched",
			   (unsigned long long)y.switched,
			   (unsigned long long)(2 * rounds));
	return y.t1 - y.t0;
}

static void yield_main(void *arg)
{
	struct yield_job *job = arg;

	yield_run(job->switches / 20);
	job->elapsed_ns = yield_run(job->switches / 2);
}

static uint64_t measure_yield(uint64_t switches, int cpu)
{
	struct weft_config cfg = { .workers = 1 };
	struct yield_job job = { .switches = switches };
	int err;

	bench_pin(cpu);
	err = weft_run(&cfg, yield_main, &job);
	bench_unpin();
	if (err)
		bench_fail("weft_run: %s", strerror(-err));
	return job.elapsed_ns;
}

/* The same with WEFT_TRACE on (written to /dev/null when weft_run ends):
 * what recording an event on every switch costs. */
static uint64_t measure_yield_traced(uint64_t switches, int cpu)
{
	uint64_t ns;

	if (setenv("WEFT_TRACE", "/dev/null", 1))
		bench_fail("setenv: %s", strerror(errno));
	ns = measure_yield(switches, cpu);
	unsetenv("WEFT_TRACE");
	return ns;
}

/* Thread ping-pongs ----------------------------------------------------- */

enum pp_kind {
	PP_FUTEX,
	PP_CONDVAR,
	PP_PIPE
};

/*
 * Two threads pass a turn back and forth. Handoffs are numbered from 0;
 * thread k % 2 makes handoff k, to the other thread, once handoff k - 1
 * has reached it. Thread 0 makes the clock readings.
 */
struct pp {
	enum pp_kind kind;
	uint64_t warm;		/* warm-up rounds per thread                 */
	uint64_t rounds;	/* measured rounds per thread                */
	/* PP_FUTEX: the futex word, the number of the next handoff.
	 * PP_CONDVAR: the same, protected by lock. */
	unsigned seq;
	pthread_mutex_t lock;	/* PP_CONDVAR                                */
	pthread_cond_t cond;	/* PP_CONDVAR                                */
	int fd[2][2];		/* PP_PIPE: fd[i] is the pipe into thread i  */
	uint64_t count[2];	/* handoffs made by each thread              */
	uint64_t t0;		/* measured part starts                      */
	uint64_t t1;		/* measured part ends                        */
};

struct pp_arg {
	struct pp *pp;
	unsigned me;		/* 0 or 1                                    */
};

static long futex(unsigned *uaddr, int op, unsigned val)
{
	return syscall(SYS_futex, uaddr, op, val, NULL, NULL, 0);
}

/* Block until handoff @k - 1 has reached the calling thread. */
static void pp_wait(struct pp *pp, unsigned me, uint64_t k)
{
	unsigned want = (unsigned)k;
	unsigned v;
	uint8_t b;

	switch (pp->kind) {
	case PP_FUTEX:
		/* Nothing else travels through seq (the counters are read
		 * after pthread_join), so a plain atomic load will do. */
		while ((v = ck_pr_load_uint(&pp->seq)) != want)
			futex(&pp->seq, FUTEX_WAIT_PRIVATE, v);
		break;
	case PP_CONDVAR:
		pthread_mutex_lock(&pp->lock);
		while (pp->seq != want)
			pthread_cond_wait(&pp->cond, &pp->lock);
		pthread_mutex_unlock(&pp->lock);
		break;
	case PP_PIPE:
		if (read(pp->fd[me][0], &b, 1) != 1)
			bench_fail("switch.pipe: read: %s", strerror(errno));
		if (b != (uint8_t)want)
			bench_fail("switch.pipe: got token %u, want %u", b,
				   (uint8_t)want);
		break;
	}
}

/* Make handoff @k to the other thread. */
static void pp_give(struct pp *pp, unsigned me, uint64_t k)
{
	unsigned next = (unsigned)(k + 1);
	uint8_t b = (uint8_t)next;

	pp->count[me]++;
	switch (pp->kind) {
	case PP_FUTEX:
		/* Only the other thread waits on seq; see pp_wait(). */
		ck_pr_store_uint(&pp->seq, next);
		futex(&pp->seq, FUTEX_WAKE_PRIVATE, 1);
		break;
	case PP_CONDVAR:
		pthread_mutex_lock(&pp->lock);
		pp->seq = next;
		pthread_cond_signal(&pp->cond);
		pthread_mutex_unlock(&pp->lock);
		break;
	case PP_PIPE:
		if (write(pp->fd[!me][1], &b, 1) != 1)
			bench_fail("switch.pipe: write: %s", strerror(errno));
		break;
	}
}

static void *pp_thread(void *arg)
{
	struct pp_arg *a = arg;
	struct pp *pp = a->pp;
	uint64_t total = pp->warm + pp->rounds;
	uint64_t i;

	if (a->me == 1) {
		for (i = 0; i < total; i++) {
			pp_wait(pp, 1, 2 * i + 1);
			pp_give(pp, 1, 2 * i + 1);
		}
		return NULL;
	}
	/* The turn comes back to thread 0 total + 1 times; the clock
	 * runs from the warm-th to the last. */
	for (i = 0; i <= total; i++) {
		pp_wait(pp, 0, 2 * i);
		if (i == pp->warm)
			pp->t0 = bench_now_ns();
		if (i == total)
			break;
		pp_give(pp, 0, 2 * i);
	}
	pp->t1 = bench_now_ns();
	return NULL;
}

/*
 * Run one ping-pong of @rounds round trips (after @rounds / 10 for warm
 * up) between two threads, pinned to cpu[0] and cpu[1] unless those are
 * negative. Returns the ns that 2 * rounds handoffs took.
 */
static uint64_t pp_run(enum pp_kind kind, const char *name, uint64_t rounds,
		       const int cpu[2])
{
	struct pp pp = { .kind = kind, .warm = rounds / 10, .rounds = rounds };
	struct pp_arg args[2] = { { &pp, 0 }, { &pp, 1 } };
	uint64_t want = pp.warm + rounds;
	pthread_attr_t attr;
	pthread_t t[2];
	uint8_t b = 0;
	int err, i;

	pthread_mutex_init(&pp.lock, NULL);
	pthread_cond_init(&pp.cond, NULL);
	if (kind == PP_PIPE) {
		for (i = 0; i < 2; i++)
			if (pipe(pp.fd[i]) != 0)
				bench_fail("pipe: %s", strerror(errno));
		/* Handoff 0 is thread 0's: it finds the token waiting. */
		if (write(pp.fd[0][1], &b, 1) != 1)
			bench_fail("write: %s", strerror(errno));
	}
	for (i = 0; i < 2; i++) {
		pthread_attr_init(&attr);
		if (cpu[i] >= 0)
			bench_attr_pin(&attr, cpu[i]);
		err = pthread_create(&t[i], &attr, pp_thread, &args[i]);
		pthread_attr_destroy(&attr);
		if (err)
			bench_fail("pthread_create: %s", strerror(err));
	}
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	if (pp.count[0] != want || pp.count[1] != want ||
	    (kind != PP_PIPE && pp.seq != (unsigned)(2 * want)))
		bench_fail("%s: handoffs %llu and %llu, seq %u, want %llu each",
			   name, (unsigned long long)pp.count[0],
			   (unsigned long long)pp.count[1], pp.seq,
			   (unsigned long long)want);
	if (kind == PP_PIPE)
		for (i = 0; i < 2; i++) {
			close(pp.fd[i][0]);
			close(pp.fd[i][1]);
		}
	pthread_cond_destroy(&pp.cond);
	pthread_mutex_destroy(&pp.lock);
	return pp.t1 - pp.t0;
}

/* Main ------------------------------------------------------------------- */

static const char *const row_names[NR_ROWS] = {
	[ROW_RAW] = "switch.raw",
	[ROW_YIELD] = "switch.yield",
	[ROW_FUTEX_SAME] = "switch.futex.same",
	[ROW_FUTEX_CROSS] = "switch.futex.cross",
	[ROW_CONDVAR] = "switch.condvar",
	[ROW_PIPE] = "switch.pipe",
	[ROW_YIELD_TRACED] = "switch.yield.traced",
};

int main(int argc, char **argv)
{
	struct bench_opts o = bench_parse(argc, argv);
	uint64_t raw_ops = o.quick ? RAW_SWITCHES_QUICK : RAW_SWITCHES;
	uint64_t yield_ops = o.quick ? YIELD_SWITCHES_QUICK : YIELD_SWITCHES;
	uint64_t handoffs = o.quick ? HANDOFFS_QUICK : HANDOFFS;
	int ncpu = bench_cpus_init();
	int solo = bench_cpu_pick(-1);
	int same[2] = { solo, solo };
	int cross[2] = { bench_cpu_pick(0), ncpu > 1 ? bench_cpu_pick(1) : -1 };
	int unpinned[2] = { -1, -1 };
	struct bench_row rows[NR_ROWS];
	struct raw raw = { 0 };
	double yield_med, med[NR_ROWS];
	int r, i;

	bench_print_machine("bench_switch");
	bench_row_init(&rows[ROW_RAW], row_names[ROW_RAW], raw_ops, o.runs);
	bench_row_init(&rows[ROW_YIELD], row_names[ROW_YIELD], yield_ops,
		       o.runs);
	bench_row_init(&rows[ROW_YIELD_TRACED], row_names[ROW_YIELD_TRACED],
		       yield_ops, o.runs);
	for (i = ROW_FUTEX_SAME; i < ROW_YIELD_TRACED; i++)
		bench_row_init(&rows[i], row_names[i], handoffs, o.runs);
	raw.a_top = raw_stack_map();
	raw.b_top = raw_stack_map();

	for (r = 0; r < o.runs; r++) {
		bench_row_add(&rows[ROW_RAW], measure_raw(&raw, raw_ops, solo));
		bench_row_add(&rows[ROW_YIELD], measure_yield(yield_ops, solo));
		bench_row_add(&rows[ROW_YIELD_TRACED],
			      measure_yield_traced(yield_ops, solo));
		bench_row_add(&rows[ROW_FUTEX_SAME],
			      pp_run(PP_FUTEX, row_names[ROW_FUTEX_SAME],
				     handoffs / 2, same));
		if (ncpu > 1)
			bench_row_add(&rows[ROW_FUTEX_CROSS],
				      pp_run(PP_FUTEX,
					     row_names[ROW_FUTEX_CROSS],
					     handoffs / 2, cross));
		bench_row_add(&rows[ROW_CONDVAR],
			      pp_run(PP_CONDVAR, row_names[ROW_CONDVAR],
				     handoffs / 2, unpinned));
		bench_row_add(&rows[ROW_PIPE],
			      pp_run(PP_PIPE, row_names[ROW_PIPE],
				     handoffs / 2, unpinned));
	}

	bench_note("pinned: switch.raw, switch.yield (and .traced), "
	       "switch.futex.same on "
	       "cpu %d; switch.futex.cross on cpus %d,%d\n", solo, cross[0],
	       cross[1]);
	bench_print_header(&o, row_names[ROW_YIELD]);
	yield_med = bench_row_median(&rows[ROW_YIELD]);
	for (i = 0; i < NR_ROWS; i++) {
		med[i] = 0;
		if (rows[i].nr == 0) {
			bench_note("%s skipped: only one CPU is available\n",
			       rows[i].name);
			continue;
		}
		med[i] = bench_row_median(&rows[i]);
		bench_print_row(&rows[i], yield_med);
	}
	bench_note("target: switch.yield <= %.0f ns: %s (%.1f ns)\n",
	       TARGET_YIELD_NS, med[ROW_YIELD] <= TARGET_YIELD_NS ? "met" :
	       "NOT met", med[ROW_YIELD]);
	bench_note("tracing: switch.yield.traced - switch.yield = %.1f ns a "
	       "switch (one event each, WEFT_TRACE)\n",
	       med[ROW_YIELD_TRACED] - med[ROW_YIELD]);
	bench_note("target: switch.futex.same / switch.yield >= %.0f: "
	       "%s (%.1f)\n",
	       TARGET_FUTEX_RATIO,
	       med[ROW_FUTEX_SAME] / yield_med >= TARGET_FUTEX_RATIO ? "met" :
	       "NOT met", med[ROW_FUTEX_SAME] / yield_med);
	for (i = 0; i < NR_ROWS; i++)
		free(rows[i].ns);
	return 0;
}
