/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the benchmark programs in bench/: the monotonic
 * clock, the command line (--runs N, --quick), median/min/max of a set of
 * runs, the result table, the machine line, CPU pinning and the check
 * that a row left no fiber alive (fiber context). Main thread
 * only, except bench_now_ns() and bench_fail(), which any thread may call.
 *
 * Output format, one item per line: lines starting with '#' are comments
 * (machine, header, notes); every other line is a result row
 *
 *	name  iterations  median_ns  min_ns  max_ns  ratio
 *
 * where the figures are ns per operation over the runs and ratio is
 * median / median of the program's reference row, or "-".
 */
#ifndef WEFT_BENCH_COMMON_H
#define WEFT_BENCH_COMMON_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <weft.h>

/* Fewest runs a figure may be the median of. */
#define BENCH_RUNS_MIN 5
#define BENCH_RUNS_DEFAULT 7
/* --quick without --runs: the fewest runs, to keep CI under 3 s. */
#define BENCH_RUNS_QUICK BENCH_RUNS_MIN
#define BENCH_RUNS_MAX 1000

struct bench_opts {
	int runs;		/* measured runs per row                     */
	bool quick;		/* far fewer iterations, for CI              */
};

/* Per-operation times of one row, one entry per run. */
struct bench_row {
	const char *name;	/* row name, no spaces                       */
	uint64_t iters;		/* operations per run                        */
	double *ns;		/* ns per operation, runs entries            */
	int nr;			/* entries filled so far                     */
};

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A benchmark found its own work wrong: say what and exit non-zero. */
__attribute__((format(printf, 1, 2), noreturn))
static inline void bench_fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("bench: FAILED: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static inline void bench_usage(const char *prog)
{
	fprintf(stderr, "usage: %s [--quick] [--runs N]\n"
		"  N >= %d; default %d, or %d with --quick\n",
		prog, BENCH_RUNS_MIN, BENCH_RUNS_DEFAULT, BENCH_RUNS_QUICK);
	exit(2);
}

static inline struct bench_opts bench_parse(int argc, char **argv)
{
	struct bench_opts o = { .runs = 0, .quick = false };
	char *end;
	long v;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			o.quick = true;
		} else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
			v = strtol(argv[++i], &end, 10);
			if (*end || v < BENCH_RUNS_MIN || v > BENCH_RUNS_MAX)
				bench_usage(argv[0]);
			o.runs = (int)v;
		} else {
			bench_usage(argv[0]);
		}
	}
	if (!o.runs)
		o.runs = o.quick ? BENCH_RUNS_QUICK : BENCH_RUNS_DEFAULT;
	return o;
}

static inline void bench_row_init(struct bench_row *r, const char *name,
				  uint64_t iters, int runs)
{
	r->name = name;
	r->iters = iters;
	r->nr = 0;
	r->ns = calloc((size_t)runs, sizeof(*r->ns));
	if (!r->ns)
		bench_fail("out of memory");
}

/* Record one run that did r->iters operations in @elapsed_ns. */
static inline void bench_row_add(struct bench_row *r, uint64_t elapsed_ns)
{
	r->ns[r->nr++] = (double)elapsed_ns / (double)r->iters;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a;
	double y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sort the runs; then ns[0] is the min and ns[nr - 1] the max. */
static inline double bench_row_median(struct bench_row *r)
{
	qsort(r->ns, (size_t)r->nr, sizeof(*r->ns), bench_cmp_double);
	if (r->nr % 2)
		return r->ns[r->nr / 2];
	return (r->ns[r->nr / 2 - 1] + r->ns[r->nr / 2]) / 2;
}

static inline void bench_print_header(const struct bench_opts *o,
				      const char *ratio_of)
{
	printf("# runs=%d%s; figures are ns per op over the runs; "
	       "ratio = median / median(%s)\n",
	       o->runs, o->quick ? " quick" : "", ratio_of);
	printf("# %-22s %10s %10s %10s %10s %8s\n",
	       "name", "iters", "median", "min", "max", "ratio");
}

/* Print @r; @ref_median <= 0 prints "-" as the ratio. */
static inline void bench_print_row(struct bench_row *r, double ref_median)
{
	double med = bench_row_median(r);

	printf("  %-22s %10llu %10.1f %10.1f %10.1f ", r->name,
	       (unsigned long long)r->iters, med, r->ns[0], r->ns[r->nr - 1]);
	if (ref_median > 0)
		printf("%8.2f\n", med / ref_median);
	else
		printf("%8s\n", "-");
}

/* The first line: CPU model, online CPUs, kernel. */
static inline void bench_print_machine(const char *prog)
{
	char line[256], model[128] = "unknown";
	struct utsname u;
	FILE *f = fopen("/proc/cpuinfo", "r");
	char *p;

	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "model name", 10) != 0)
			continue;
		p = strchr(line, ':');
		if (!p)
			continue;
		p += 1 + strspn(p + 1, " \t");
		p[strcspn(p, "\n")] = '\0';
		snprintf(model, sizeof(model), "%s", p);
		break;
	}
	if (f)
		fclose(f);
	if (uname(&u) != 0)
		memset(&u, 0, sizeof(u));
	printf("# %s: cpu=\"%s\" online_cpus=%ld kernel=\"%s %s %s\"\n", prog,
	       model, sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release,
	       u.machine);
}

/*
 * CPUs this process may run on, as found at start-up; bench_pin() picks
 * from them and bench_unpin() restores the whole set.
 */
static cpu_set_t bench_cpus;

static inline int bench_cpus_init(void)
{
	if (sched_getaffinity(0, sizeof(bench_cpus), &bench_cpus) != 0)
		bench_fail("sched_getaffinity: %s", strerror(errno));
	return CPU_COUNT(&bench_cpus);
}

/* The @k-th (from 0) allowed CPU, counting from the top if @k < 0. */
static inline int bench_cpu_pick(int k)
{
	int n = CPU_COUNT(&bench_cpus);
	int cpu, seen = 0;

	if (k < 0)
		k += n;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &bench_cpus))
			continue;
		if (seen++ == k)
			return cpu;
	}
	bench_fail("no allowed CPU number %d", k);
}

/* Set @attr so that a thread made with it runs on @cpu only. */
static inline void bench_attr_pin(pthread_attr_t *attr, int cpu)
{
	cpu_set_t set;
	int err;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	err = pthread_attr_setaffinity_np(attr, sizeof(set), &set);
	if (err)
		bench_fail("pthread_attr_setaffinity_np: %s", strerror(err));
}

/* Run the calling thread on @cpu only. */
static inline void bench_pin(int cpu)
{
	cpu_set_t set;
	int err;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (err)
		bench_fail("pthread_setaffinity_np: %s", strerror(err));
}

/* Let the calling thread run on every CPU allowed at start-up again. */
static inline void bench_unpin(void)
{
	int err;

	err = pthread_setaffinity_np(pthread_self(), sizeof(bench_cpus),
				     &bench_cpus);
	if (err)
		bench_fail("pthread_setaffinity_np: %s", strerror(err));
}

/*
 * Check that the main fiber is the only one left, after the waits of a
 * row. A fiber's exit is counted just after it wakes its joiner (or its
 * weft_wg_done), which may already run on another worker, so the count
 * may lag for a moment: up to 2 s are allowed. Fiber context.
 */
static inline void check_none_live(const char *name)
{
	uint64_t deadline = bench_now_ns() + 2000000000u;
	struct weft_stats st = { .size = sizeof(st) };
	int err;

	for (;;) {
		err = weft_stats(&st);
		if (err)
			bench_fail("weft_stats: %s", strerror(-err));
		if (st.live == 1)
			return;
		if (bench_now_ns() > deadline)
			bench_fail("%s: %llu fibers live after the waits, "
				   "want 1", name,
				   (unsigned long long)st.live);
		weft_yield();
	}
}

#endif /* WEFT_BENCH_COMMON_H */
