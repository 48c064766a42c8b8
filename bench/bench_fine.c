/* SPDX-License-Identifier: MIT */
/*
 * bench_fine: fine-grained tasks (fib, skynet and the like), each in the
 * shape Go runs it in (bench/peers/go/fine.go; Boost.Fiber's fib and
 * skynet are in bench/peers/boost/boost_peer.cpp). No cutoffs: every
 * task below is a fiber of its own.
 *
 *   fine.fib<F>.serial          fib(F) by plain recursion, no fibers;
 *                               ns per fib(F)
 *   fine.fib<F>.nocutoff.1worker  fib(F) with a fiber per call: every
 *                               call with n >= 2 spawns a fiber for
 *                               fib(n - 1) (weft_spawn, default stack),
 *                               computes fib(n - 2) in place, then
 *                               weft_join()s the child, which returns its
 *                               value, and adds; fib(F + 1) - 1 fibers
 *                               per fib(F) (1,346,268 for fib(30)), each
 *                               spawned and joined; a join that finds
 *                               its child unstarted runs it inline
 *                               (weft_join's lazy children), no code
 *                               here decides that; workers = 1; ns per
 *                               fib(F)
 *   fine.fib<F>.nocutoff.<N>workers  the same on N workers
 *   fine.skynet<L>.1worker      skynet: a node spawns 10 child fibers
 *                               (weft_spawn, default stack), each over a
 *                               tenth of its leaves, then weft_join_all()s
 *                               the ten and returns the sum of their
 *                               results; a leaf returns its index. 1m:
 *                               6 levels, 1,000,000 leaves, 1,111,110
 *                               fibers, the sum 499,999,500,000 checked;
 *                               the root is the measuring fiber itself.
 *                               workers = 1; ns per whole skynet
 *   fine.skynet<L>.<N>workers   the same on N workers
 *   fine.spawnloop<L>.<N>workers  Go's spawn loop: L times
 *                               weft_wg_add(&wg, 1) and weft_go() of a
 *                               detached fiber (default stack) whose one
 *                               act is weft_wg_done(&wg); then the main
 *                               fiber weft_wg_wait()s. Fibers run and end
 *                               while the rest are started. ns per task
 *   fine.alive<L>.small.<N>workers  L fibers alive at once: each is
 *                               spawned with a WEFT_STACK_SMALL stack
 *                               and detached, calls weft_wg_done(&ready)
 *                               and blocks in weft_chan_recv() on one
 *                               unbuffered channel; once ready is zero
 *                               (every fiber has started) the main fiber
 *                               closes the channel, every receive returns
 *                               -EPIPE, each fiber calls weft_wg_done(&done)
 *                               and ends, and the main fiber
 *                               weft_wg_wait()s on done. A fiber that
 *                               reaches the receive after the close
 *                               passes without blocking, which only the
 *                               last few started can do. From the first
 *                               spawn to the end of the wait; ns per task
 *   fine.alive<L>.default.<N>workers  the same with the default stack
 *
 * <F> is 30 (25 under --quick) and <L> 1m (10k under --quick, when
 * skynet has 4 levels): rows name their size. N is --workers, by default
 * every CPU this process may use. Nothing is pinned (Go cannot pin a
 * goroutine either).
 *
 * Each run measures every row once, in that order, so that a noisy
 * moment spreads over all the rows, each in a fresh weft_run (the alive
 * rows in a fresh process: this program re-executed as "--child alive
 * KIND L N", so that no row finds memory another left mapped, as Go's
 * alive row runs in a fresh process too). In it an unmeasured warm-up
 * pass comes first: fib(F - 5), skynet over L / 100 leaves, or L / 100
 * tasks. Every result is checked (fib's value, skynet's sum, every
 * fiber's receive ending in -EPIPE, no fiber left alive after the waits);
 * the program exits 1 on a mismatch. The ratio column is relative to
 * the 1worker row of the same workload, fine.fib<F>.serial for fib (so
 * the fib rows show their multiple of the plain recursion), and
 * fine.alive<L>.small for the alive rows. Notes give the speed-ups.
 *
 * "--perf fib|serial W PASSES" runs one unmeasured warm-up and PASSES
 * passes of fib(F) without a cutoff on W workers (serial: plain
 * recursion) and prints the calls with n >= 2 they made; bench_perf.sh
 * runs it under perf stat to count cycles and the like per fiber.
 *
 * Threads: the main thread (weft's worker 0) and the other workers; the
 * parent waits for an alive row's child and runs nothing meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ck_pr.h>

#include "bench_common.h"
#include "weft.h"

/* fib: argument (full, --quick); serial passes per measurement. */
#define FIB_N			30u
#define FIB_N_QUICK		25u
#define FIB_SERIAL_REPS		20ull
#define FIB_SERIAL_REPS_QUICK	40ull
/* The warm-up pass computes fib(n - FIB_WARM_LESS). */
#define FIB_WARM_LESS		5u

/* skynet: levels (full, --quick); children per node. */
#define SKY_LEVELS		6u
#define SKY_LEVELS_QUICK	4u
#define SKY_KIDS		10u

/* Tasks of the spawn loop and alive rows (full, --quick). */
#define TASKS			1000000ull
#define TASKS_QUICK		10000ull

/* Targets: the 1 -> N speed-up of fib, and fib on one worker as a
 * multiple of the plain recursion. */
#define TARGET_FIB_SPEEDUP	1.8
#define TARGET_FIB_OVER_SERIAL	10.0

enum row_id {
	ROW_FIB_SERIAL,
	ROW_FIB_1,
	ROW_FIB_N,
	ROW_SKY_1,
	ROW_SKY_N,
	ROW_LOOP_N,
	ROW_ALIVE_SMALL,
	ROW_ALIVE_DEFAULT,
	NR_ROWS
};

/* fib -------------------------------------------------------------------- */

__attribute__((noinline)) static uint64_t fib_serial(unsigned n)
{
	return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2);
}

/*
 * fib_serial(n), called so that the compiler cannot know the argument
 * and so cannot hoist a call out of a loop or fold it (fib_serial has
 * no side effects, which gcc finds out by itself).
 */
static uint64_t fib_serial_opaque(unsigned n)
{
	__asm__ volatile("" : "+r"(n));
	return fib_serial(n);
}

/* fib(n) by iteration, to check the others against. */
static uint64_t fib_value(unsigned n)
{
	uint64_t a = 0, b = 1, t;

	while (n--) {
		t = a + b;
		a = b;
		b = t;
	}
	return a;
}

static uint64_t fib_nocut(unsigned n);

static void *fib_fiber(void *arg)
{
	return (void *)(uintptr_t)fib_nocut((unsigned)(uintptr_t)arg);
}

/* fib(n) with a fiber for fib(n - 1) in every call with n >= 2. Fiber
 * context only. */
static uint64_t fib_nocut(unsigned n)
{
	weft_fiber *f;
	uint64_t b;
	void *a;
	int err;

	if (n < 2)
		return n;
	err = weft_spawn(&f, fib_fiber, (void *)(uintptr_t)(n - 1), NULL);
	if (err)
		bench_fail("fib: weft_spawn: %s", strerror(-err));
	b = fib_nocut(n - 2);
	err = weft_join(f, &a);
	if (err)
		bench_fail("fib: weft_join: %s", strerror(-err));
	return (uint64_t)(uintptr_t)a + b;
}

/* skynet ----------------------------------------------------------------- */

/* 10^k for the levels. */
static const uint64_t pow10_tab[] = {
	1, 10, 100, 1000, 10000, 100000, 1000000, 10000000
};

/* A node's argument: its first leaf's index and its level (0: a leaf),
 * packed in one word so that a spawn allocates nothing. */
#define SKY_ARG(num, lvl)	((void *)(uintptr_t)(((num) << 3) | (lvl)))

static uint64_t skynet(uint64_t num, unsigned lvl);

static void *sky_fiber(void *arg)
{
	uintptr_t a = (uintptr_t)arg;

	return (void *)(uintptr_t)skynet(a >> 3, (unsigned)(a & 7));
}

/* The sum of the leaf indexes below the node. Fiber context only. */
static uint64_t skynet(uint64_t num, unsigned lvl)
{
	weft_fiber *f[SKY_KIDS];
	void *res[SKY_KIDS];
	uint64_t size, sum = 0;
	unsigned i;
	int err;

	if (lvl == 0)
		return num;
	size = pow10_tab[lvl - 1];
	for (i = 0; i < SKY_KIDS; i++) {
		err = weft_spawn(&f[i], sky_fiber,
				 SKY_ARG(num + i * size, lvl - 1), NULL);
		if (err)
			bench_fail("skynet: weft_spawn: %s", strerror(-err));
	}
	err = weft_join_all(f, SKY_KIDS, res);
	if (err)
		bench_fail("skynet: weft_join_all: %s", strerror(-err));
	for (i = 0; i < SKY_KIDS; i++)
		sum += (uint64_t)(uintptr_t)res[i];
	return sum;
}

/* The sum of 0 .. leaves - 1. */
static uint64_t sky_want(unsigned lvl)
{
	uint64_t n = pow10_tab[lvl];

	return n * (n - 1) / 2;
}

/* Spawn loop and alive ------------------------------------------------- */

static void *loop_fiber(void *arg)
{
	weft_wg_done(arg);
	return NULL;
}

/* The shared state of one alive pass. */
struct alive {
	weft_wg ready;		/* one per fiber not yet started             */
	weft_wg done;		/* one per fiber not yet released            */
	weft_chan *gate;	/* closed to release them all                */
	unsigned bad;		/* atomic: receives that did not say -EPIPE  */
};

/* Runs on a small stack: nothing here may take much of it. */
static void *alive_fiber(void *arg)
{
	struct alive *a = arg;
	char c;

	weft_wg_done(&a->ready);
	if (weft_chan_recv(a->gate, &c) != -EPIPE)
		/* Atomic RMW; read by the main fiber after the wait,
		 * which the wait group orders after this. */
		ck_pr_inc_uint(&a->bad);
	weft_wg_done(&a->done);
	return NULL;
}

static void wg_add(weft_wg *wg, uint64_t n)
{
	int err = weft_wg_add(wg, (int)n);

	if (err)
		bench_fail("weft_wg_add: %s", strerror(-err));
}

static void wg_wait(weft_wg *wg)
{
	int err = weft_wg_wait(wg);

	if (err)
		bench_fail("weft_wg_wait: %s", strerror(-err));
}


/* One spawn loop of @n tasks; returns its ns. Fiber context only. */
static uint64_t loop_pass(const char *name, uint64_t n)
{
	weft_wg wg = WEFT_WG_INIT;
	uint64_t t0, t1, i;
	int err;

	t0 = bench_now_ns();
	for (i = 0; i < n; i++) {
		wg_add(&wg, 1);
		err = weft_go(loop_fiber, &wg);
		if (err)
			bench_fail("%s: weft_go: %s", name, strerror(-err));
	}
	wg_wait(&wg);
	t1 = bench_now_ns();
	check_none_live(name);
	return t1 - t0;
}

/* One alive pass of @n tasks on @stack_size stacks; returns its ns. */
static uint64_t alive_pass(const char *name, uint64_t n, size_t stack_size)
{
	struct weft_spawn_opts opts = { .stack_size = stack_size };
	struct alive a = { WEFT_WG_INIT, WEFT_WG_INIT, NULL, 0 };
	uint64_t t0, t1, i;
	weft_fiber *f;
	int err;

	err = weft_chan_new(&a.gate, 1, 0);
	if (err)
		bench_fail("%s: weft_chan_new: %s", name, strerror(-err));
	t0 = bench_now_ns();
	wg_add(&a.ready, n);
	wg_add(&a.done, n);
	for (i = 0; i < n; i++) {
		err = weft_spawn(&f, alive_fiber, &a, &opts);
		if (err)
			bench_fail("%s: weft_spawn: %s", name, strerror(-err));
		err = weft_detach(f);
		if (err)
			bench_fail("%s: weft_detach: %s", name, strerror(-err));
	}
	wg_wait(&a.ready);
	err = weft_chan_close(a.gate);
	if (err)
		bench_fail("%s: weft_chan_close: %s", name, strerror(-err));
	wg_wait(&a.done);
	t1 = bench_now_ns();
	if (ck_pr_load_uint(&a.bad))
		bench_fail("%s: %u receives did not end in -EPIPE", name,
			   ck_pr_load_uint(&a.bad));
	check_none_live(name);
	weft_chan_free(a.gate);
	return t1 - t0;
}

/* Runs ------------------------------------------------------------------- */

enum workload {
	WL_FIB,
	WL_SKY,
	WL_LOOP,
	WL_ALIVE
};

/* The job of one weft_run: a warm-up pass, then the measured ones. */
struct fine_job {
	enum workload wl;
	const char *name;	/* row name, for failure reports             */
	unsigned size;		/* WL_FIB: n; WL_SKY: levels                 */
	uint64_t tasks;		/* WL_LOOP, WL_ALIVE: tasks per pass         */
	size_t stack_size;	/* WL_ALIVE: the stack size asked for        */
	uint64_t reps;		/* measured passes                           */
	uint64_t elapsed_ns;	/* result: all measured passes               */
	uint64_t spawned;	/* result: fibers spawned by them            */
	/* result: weft_stats' scheduling latency over the whole weft_run
	 * of the last run, warm-up included (ns) */
	uint64_t lat_samples, lat_p50, lat_p99, lat_max;
};

static void fib_check(const char *name, unsigned n)
{
	uint64_t got = fib_nocut(n), want = fib_value(n);

	if (got != want)
		bench_fail("%s: fib(%u) = %llu, want %llu", name, n,
			   (unsigned long long)got, (unsigned long long)want);
}

static void sky_check(const char *name, unsigned lvl)
{
	uint64_t got = skynet(0, lvl);

	if (got != sky_want(lvl))
		bench_fail("%s: skynet sum %llu, want %llu", name,
			   (unsigned long long)got,
			   (unsigned long long)sky_want(lvl));
}

/* One pass of @job's workload at @size (fib n, skynet levels, tasks). */
static uint64_t one_pass(struct fine_job *job, uint64_t size)
{
	uint64_t t0 = bench_now_ns();

	switch (job->wl) {
	case WL_FIB:
		fib_check(job->name, (unsigned)size);
		break;
	case WL_SKY:
		sky_check(job->name, (unsigned)size);
		break;
	case WL_LOOP:
		return loop_pass(job->name, size);
	case WL_ALIVE:
		return alive_pass(job->name, size, job->stack_size);
	}
	return bench_now_ns() - t0;
}

static void read_stats(struct weft_stats *st)
{
	int err;

	st->size = sizeof(*st);
	err = weft_stats(st);

	if (err)
		bench_fail("weft_stats: %s", strerror(-err));
}

static void fine_main(void *arg)
{
	struct fine_job *job = arg;
	struct weft_stats s0, s1;
	uint64_t i, warm, size;

	switch (job->wl) {
	case WL_FIB:
		size = job->size;
		warm = job->size > FIB_WARM_LESS ? job->size - FIB_WARM_LESS :
						   1;
		break;
	case WL_SKY:
		size = job->size;
		warm = job->size > 2 ? job->size - 2 : 1;
		break;
	default:
		size = job->tasks;
		warm = job->tasks / 100;
		break;
	}
	one_pass(job, warm);
	read_stats(&s0);
	job->elapsed_ns = 0;
	for (i = 0; i < job->reps; i++)
		job->elapsed_ns += one_pass(job, size);
	read_stats(&s1);
	job->spawned = s1.spawned - s0.spawned;
	job->lat_samples = s1.latency_samples;
	job->lat_p50 = s1.latency_p50_ns;
	job->lat_p99 = s1.latency_p99_ns;
	job->lat_max = s1.latency_max_ns;
}

static uint64_t run_job(struct fine_job *job, unsigned workers)
{
	struct weft_config cfg = { .workers = workers };
	int err;

	err = weft_run(&cfg, fine_main, job);
	if (err)
		bench_fail("weft_run: %s", strerror(-err));
	return job->elapsed_ns;
}

/* Alive rows in a child ------------------------------------------------- */

static const char *const stack_arg[] = { "small", "default" };

/* "--child alive KIND TASKS WORKERS": one measurement, its ns on stdout. */
static int child_main(int argc, char **argv)
{
	struct fine_job job = { .wl = WL_ALIVE, .name = "alive child",
				.reps = 1 };
	unsigned long long tasks;
	unsigned workers;
	char *end;

	if (argc != 6 || strcmp(argv[2], "alive") != 0)
		bench_fail("--child takes alive KIND TASKS WORKERS");
	if (strcmp(argv[3], stack_arg[0]) == 0)
		job.stack_size = WEFT_STACK_SMALL;
	else if (strcmp(argv[3], stack_arg[1]) == 0)
		job.stack_size = 0;
	else
		bench_fail("--child alive: no stack kind %s", argv[3]);
	tasks = strtoull(argv[4], &end, 10);
	if (*end || tasks == 0 || tasks > INT32_MAX)
		bench_fail("--child alive: bad task count %s", argv[4]);
	workers = (unsigned)strtoul(argv[5], &end, 10);
	if (*end || workers == 0 || workers > WEFT_WORKERS_MAX)
		bench_fail("--child alive: bad worker count %s", argv[5]);
	job.tasks = tasks;
	run_job(&job, workers);
	printf("%llu\n", (unsigned long long)job.elapsed_ns);
	return 0;
}

/* Run one alive measurement in a fresh process; returns its ns. */
static uint64_t run_alive_child(const char *name, bool small, uint64_t tasks,
				unsigned workers)
{
	char out[64], tbuf[32], wbuf[16];
	unsigned long long ns;
	size_t got = 0;
	int fd[2], status;
	ssize_t r;
	pid_t pid;

	snprintf(tbuf, sizeof(tbuf), "%llu", (unsigned long long)tasks);
	snprintf(wbuf, sizeof(wbuf), "%u", workers);
	if (pipe2(fd, O_CLOEXEC) != 0)
		bench_fail("pipe2: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		bench_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		if (dup2(fd[1], STDOUT_FILENO) < 0)
			_exit(127);
		execl("/proc/self/exe", "bench_fine", "--child", "alive",
		      stack_arg[!small], tbuf, wbuf, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	while (got < sizeof(out) - 1) {
		r = read(fd[0], out + got, sizeof(out) - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	out[got] = '\0';
	close(fd[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			bench_fail("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		bench_fail("%s: child failed (status 0x%x)", name, status);
	if (sscanf(out, "%llu", &ns) != 1)
		bench_fail("%s: child printed \"%s\"", name, out);
	return ns;
}

/* perf mode -------------------------------------------------------------- */

/* "--perf fib|serial WORKERS PASSES [--quick]". */
static int perf_main(int argc, char **argv)
{
	bool quick = argc == 6 && strcmp(argv[5], "--quick") == 0;
	unsigned n = quick ? FIB_N_QUICK : FIB_N;
	struct fine_job job = { .wl = WL_FIB, .name = "perf", .size = n };
	unsigned workers;
	uint64_t i, calls;
	char *end;

	if ((argc != 5 && !quick) ||
	    (strcmp(argv[2], "fib") != 0 && strcmp(argv[2], "serial") != 0))
		bench_fail("--perf takes fib|serial WORKERS PASSES [--quick]");
	workers = (unsigned)strtoul(argv[3], &end, 10);
	if (*end || workers == 0 || workers > WEFT_WORKERS_MAX)
		bench_fail("--perf: bad worker count %s", argv[3]);
	job.reps = strtoull(argv[4], &end, 10);
	if (*end || job.reps > 1000)
		bench_fail("--perf: bad pass count %s", argv[4]);
	/* Calls with n >= 2 in one fib(n): fib(n + 1) - 1. */
	calls = fib_value(n + 1) - 1;
	if (strcmp(argv[2], "serial") == 0) {
		if (fib_serial_opaque(n - FIB_WARM_LESS) !=
		    fib_value(n - FIB_WARM_LESS))
			bench_fail("perf: fib is wrong");
		for (i = 0; i < job.reps; i++)
			if (fib_serial_opaque(n) != fib_value(n))
				bench_fail("perf: fib is wrong");
		printf("calls=%llu\n", (unsigned long long)(calls * job.reps));
		return 0;
	}
	run_job(&job, workers);
	if (job.spawned != calls * job.reps)
		bench_fail("perf: %llu fibers spawned, want %llu",
			   (unsigned long long)job.spawned,
			   (unsigned long long)(calls * job.reps));
	printf("calls=%llu\n", (unsigned long long)job.spawned);
	return 0;
}

/* "--trace PATH WORKERS": one fib(TRACE_FIB_N) without a cutoff, traced
 * (WEFT_TRACE=PATH, the last 4,096 events a worker), for the report's
 * picture of a trace. */
#define TRACE_FIB_N 20

static int trace_main(int argc, char **argv)
{
	struct fine_job job = { .wl = WL_FIB, .name = "trace",
				.size = TRACE_FIB_N, .reps = 1 };
	unsigned workers;
	char *end;

	if (argc != 4)
		bench_fail("--trace takes PATH WORKERS");
	workers = (unsigned)strtoul(argv[3], &end, 10);
	if (*end || workers == 0 || workers > WEFT_WORKERS_MAX)
		bench_fail("--trace: bad worker count %s", argv[3]);
	if (setenv("WEFT_TRACE", argv[2], 1) ||
	    setenv("WEFT_TRACE_EVENTS", "4096", 1))
		bench_fail("--trace: setenv: %s", strerror(errno));
	run_job(&job, workers);
	bench_note("trace of fib(%u) without a cutoff on %u workers: %s\n",
	       TRACE_FIB_N, workers, argv[2]);
	return 0;
}

/* Main ------------------------------------------------------------------- */

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [--quick] [--runs N] [--workers W]\n"
		"  N >= %d runs; default %d, or %d with --quick; W: workers "
		"of the multi-worker rows (default: every CPU)\n"
		"       %s --perf fib|serial W PASSES [--quick]\n"
		"       %s --trace PATH W\n", prog,
		BENCH_RUNS_MIN, BENCH_RUNS_DEFAULT, BENCH_RUNS_QUICK, prog,
		prog);
	exit(2);
}

/* Take --workers W and --help out of argv for bench_parse(). */
static unsigned parse_workers(int *argc, char **argv)
{
	unsigned workers = 0;
	char *end;
	int i, j;

	for (i = 1, j = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0)
			usage(argv[0]);
		if (strcmp(argv[i], "--workers") == 0 && i + 1 < *argc) {
			workers = (unsigned)strtoul(argv[++i], &end, 10);
			if (*end || workers == 0 ||
			    workers > WEFT_WORKERS_MAX)
				usage(argv[0]);
			continue;
		}
		argv[j++] = argv[i];
	}
	*argc = j;
	return workers;
}

static void print_speedup(const char *what, double one, double many,
			  unsigned workers)
{
	bench_note("speed-up %s: %.2f (1 -> %u workers)\n", what, one / many,
	       workers);
}

/* Name the rows and set up their jobs. */
static void setup_rows(struct fine_job *jobs, unsigned *row_workers,
		       char names[][48], const struct bench_opts *o,
		       unsigned workers)
{
	unsigned fib_n = o->quick ? FIB_N_QUICK : FIB_N;
	unsigned sky_lvl = o->quick ? SKY_LEVELS_QUICK : SKY_LEVELS;
	uint64_t tasks = o->quick ? TASKS_QUICK : TASKS;
	const char *tname = o->quick ? "10k" : "1m";
	int k;

	snprintf(names[ROW_FIB_SERIAL], 48, "fine.fib%u.serial", fib_n);
	snprintf(names[ROW_FIB_1], 48, "fine.fib%u.nocutoff.1worker", fib_n);
	snprintf(names[ROW_FIB_N], 48, "fine.fib%u.nocutoff.%uworkers", fib_n,
		 workers);
	snprintf(names[ROW_SKY_1], 48, "fine.skynet%s.1worker", tname);
	snprintf(names[ROW_SKY_N], 48, "fine.skynet%s.%uworkers", tname,
		 workers);
	snprintf(names[ROW_LOOP_N], 48, "fine.spawnloop%s.%uworkers", tname,
		 workers);
	snprintf(names[ROW_ALIVE_SMALL], 48, "fine.alive%s.small.%uworkers",
		 tname, workers);
	snprintf(names[ROW_ALIVE_DEFAULT], 48,
		 "fine.alive%s.default.%uworkers", tname, workers);
	for (k = 0; k < NR_ROWS; k++) {
		jobs[k] = (struct fine_job){ .name = names[k], .reps = 1 };
		row_workers[k] = workers;
	}
	row_workers[ROW_FIB_1] = row_workers[ROW_SKY_1] = 1;
	jobs[ROW_FIB_SERIAL].reps = o->quick ? FIB_SERIAL_REPS_QUICK :
					       FIB_SERIAL_REPS;
	jobs[ROW_FIB_SERIAL].size = fib_n;
	jobs[ROW_FIB_1].wl = jobs[ROW_FIB_N].wl = WL_FIB;
	jobs[ROW_FIB_1].size = jobs[ROW_FIB_N].size = fib_n;
	jobs[ROW_SKY_1].wl = jobs[ROW_SKY_N].wl = WL_SKY;
	jobs[ROW_SKY_1].size = jobs[ROW_SKY_N].size = sky_lvl;
	jobs[ROW_LOOP_N].wl = WL_LOOP;
	jobs[ROW_ALIVE_SMALL].wl = jobs[ROW_ALIVE_DEFAULT].wl = WL_ALIVE;
	jobs[ROW_ALIVE_SMALL].stack_size = WEFT_STACK_SMALL;
	for (k = ROW_LOOP_N; k < NR_ROWS; k++)
		jobs[k].tasks = tasks;
}

/* The serial row: one warm-up, then job->reps plain fib(n). */
static uint64_t run_serial(const struct fine_job *job)
{
	uint64_t want = fib_value(job->size), t0, i;

	if (fib_serial_opaque(job->size - FIB_WARM_LESS) !=
	    fib_value(job->size - FIB_WARM_LESS))
		bench_fail("%s: fib is wrong", job->name);
	t0 = bench_now_ns();
	for (i = 0; i < job->reps; i++)
		if (fib_serial_opaque(job->size) != want)
			bench_fail("%s: fib is wrong", job->name);
	return bench_now_ns() - t0;
}

int main(int argc, char **argv)
{
	static char names[NR_ROWS][48];
	struct fine_job jobs[NR_ROWS];
	struct bench_row rows[NR_ROWS];
	unsigned row_workers[NR_ROWS];
	double med[NR_ROWS], ser;
	struct bench_opts o;
	unsigned workers;
	uint64_t fibers;
	int ncpu, r, k;

	if (argc > 1 && strcmp(argv[1], "--child") == 0)
		return child_main(argc, argv);
	if (argc > 1 && strcmp(argv[1], "--perf") == 0)
		return perf_main(argc, argv);
	if (argc > 1 && strcmp(argv[1], "--trace") == 0)
		return trace_main(argc, argv);
	workers = parse_workers(&argc, argv);
	o = bench_parse(argc, argv);
	ncpu = bench_cpus_init();
	if (!workers)
		workers = ncpu > (int)WEFT_WORKERS_MAX ? WEFT_WORKERS_MAX :
							 (unsigned)ncpu;
	bench_print_machine("bench_fine");
	setup_rows(jobs, row_workers, names, &o, workers);
	for (k = 0; k < NR_ROWS; k++)
		bench_row_init(&rows[k], names[k],
			       jobs[k].tasks ? jobs[k].tasks : jobs[k].reps,
			       o.runs);

	for (r = 0; r < o.runs; r++) {
		bench_row_add(&rows[ROW_FIB_SERIAL],
			      run_serial(&jobs[ROW_FIB_SERIAL]));
		for (k = ROW_FIB_1; k <= ROW_LOOP_N; k++) {
			/* With one worker these rows are the 1worker ones. */
			if (workers == 1 && (k == ROW_FIB_N || k == ROW_SKY_N))
				continue;
			bench_row_add(&rows[k],
				      run_job(&jobs[k], row_workers[k]));
		}
		for (k = ROW_ALIVE_SMALL; k <= ROW_ALIVE_DEFAULT; k++)
			bench_row_add(&rows[k],
				      run_alive_child(names[k],
						      k == ROW_ALIVE_SMALL,
						      jobs[k].tasks, workers));
	}

	fibers = fib_value(jobs[ROW_FIB_1].size + 1) - 1;
	bench_note("nothing pinned; the %uworkers rows run on %u workers; fib "
	       "and skynet rows: ns per whole fib(%u) or skynet (iters = "
	       "passes per run); spawnloop and alive rows: ns per task "
	       "(iters = tasks)\n", workers, workers, jobs[ROW_FIB_1].size);
	bench_note("fib(%u): %llu fibers per run (every call with n >= 2 "
	       "spawns one); skynet: %llu leaves, %llu fibers, sum %llu "
	       "checked\n", jobs[ROW_FIB_1].size, (unsigned long long)fibers,
	       (unsigned long long)pow10_tab[jobs[ROW_SKY_1].size],
	       (unsigned long long)(pow10_tab[jobs[ROW_SKY_1].size + 1] - 1) /
	       9 - 1, (unsigned long long)sky_want(jobs[ROW_SKY_1].size));
	bench_note("alive rows: each run in a fresh process; small: "
	       "WEFT_STACK_SMALL (%u-byte slots); default: %u KiB\n",
	       WEFT_STACK_SMALL, WEFT_STACK_DEFAULT / 1024);
	bench_print_header(&o, "fib serial for fib, the 1worker row for "
			   "skynet, alive small for alive");
	for (k = 0; k < NR_ROWS; k++)
		med[k] = rows[k].nr ? bench_row_median(&rows[k]) : 0;
	ser = med[ROW_FIB_SERIAL];
	for (k = 0; k < NR_ROWS; k++) {
		double ref = -1;

		if (rows[k].nr == 0) {
			bench_note("%s skipped: one worker only\n", names[k]);
			continue;
		}
		if (k <= ROW_FIB_N)
			ref = ser;
		else if (k == ROW_SKY_1 || k == ROW_SKY_N)
			ref = med[ROW_SKY_1];
		else if (k >= ROW_ALIVE_SMALL)
			ref = med[ROW_ALIVE_SMALL];
		bench_print_row(&rows[k], ref);
	}
	/* weft_stats' scheduling latency, ready to running, of each row's
	 * last run (the report's latency table reads their JSON objects). */
	for (k = ROW_FIB_1; k <= ROW_LOOP_N; k++)
		if (rows[k].nr && jobs[k].lat_samples)
			bench_latency(names[k], jobs[k].lat_samples,
				      jobs[k].lat_p50, jobs[k].lat_p99,
				      jobs[k].lat_max);
	bench_note("fib(%u) without a cutoff on 1 worker: %.1f times the plain "
	       "recursion, %.0f ns per fiber beyond it\n",
	       jobs[ROW_FIB_1].size, med[ROW_FIB_1] / ser,
	       (med[ROW_FIB_1] - ser) / (double)fibers);
	bench_note("target: fib 1worker / serial <= %.0f: %s (%.1f)\n",
	       TARGET_FIB_OVER_SERIAL,
	       med[ROW_FIB_1] / ser <= TARGET_FIB_OVER_SERIAL ? "met" :
								"NOT met",
	       med[ROW_FIB_1] / ser);
	if (workers > 1) {
		print_speedup("fib", med[ROW_FIB_1], med[ROW_FIB_N], workers);
		print_speedup("skynet", med[ROW_SKY_1], med[ROW_SKY_N],
			      workers);
		bench_note("target: fib speed-up >= %.1f: %s (%.2f)\n",
		       TARGET_FIB_SPEEDUP,
		       med[ROW_FIB_1] / med[ROW_FIB_N] >= TARGET_FIB_SPEEDUP ?
		       "met" : "NOT met", med[ROW_FIB_1] / med[ROW_FIB_N]);
	}
	for (k = 0; k < NR_ROWS; k++)
		free(rows[k].ns);
	return 0;
}
