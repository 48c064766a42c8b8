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
 *
 * If the environment names a file in WEFT_BENCH_JSON, every row and every
 * comment also goes there as one JSON object per line, appended with one
 * write(2) on an O_APPEND descriptor so that several programs may share
 * the file (tools/bench_report.py reads it, never the text):
 *
 *	{"kind": "row", "prog": P, "name": N, "params": {"runs": R,
 *	 "quick": Q}, "unit": U, "iters": I, "samples": [per run, in run
 *	 order], "median": M, "min": m, "max": x, "ratio": r or null}
 *	{"kind": "note", "prog": P, "text": the comment without its "# "}
 *	{"kind": "latency", "prog": P, "name": N, "samples": S,
 *	 "p50_ns": .., "p99_ns": .., "max_ns": ..}
 */
#ifndef WEFT_BENCH_COMMON_H
#define WEFT_BENCH_COMMON_H

#include <errno.h>
#include <fcntl.h>
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

/*
 * What every JSON object of this process carries: the program (from
 * bench_print_machine()), its options (from bench_parse()) and the unit
 * of its rows (bench_set_unit(); ns per op unless a program says).
 */
static struct {
	char prog[64];
	const char *unit;
	struct bench_opts opts;
	int fd;			/* WEFT_BENCH_JSON, -1 if none, -2 unopened */
} bench_json = { .prog = "bench", .unit = "ns/op", .fd = -2 };

/* Per-operation times of one row, one entry per run. */
struct bench_row {
	const char *name;	/* row name, no spaces                       */
	uint64_t iters;		/* operations per run                        */
	double *ns;		/* ns per operation, runs entries            */
	double *order;		/* the same in run order, never sorted       */
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
	bench_json.opts = o;
	return o;
}

/* The unit of this program's rows in its JSON objects ("ns/op" unless set). */
static inline void bench_set_unit(const char *unit)
{
	bench_json.unit = unit;
}

/*
 * A growing JSON line, big enough for a row of BENCH_RUNS_MAX runs; one
 * that would not fit is cut, and bench_json_end() fails the program.
 */
struct bench_jbuf {
	char s[32768];
	size_t n;
	bool cut;
};

/* The one line being built: the JSON objects are written by the main
 * thread only, and a static buffer keeps them off a fiber's stack. */
static struct bench_jbuf bench_jline;

__attribute__((format(printf, 2, 3)))
static inline void bench_jprintf(struct bench_jbuf *b, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (b->cut)
		return;
	va_start(ap, fmt);
	k = vsnprintf(b->s + b->n, sizeof(b->s) - b->n, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= sizeof(b->s) - b->n)
		b->cut = true;
	else
		b->n += (size_t)k;
}

/* @str as a JSON string, quotes included. */
static inline void bench_jstr(struct bench_jbuf *b, const char *str)
{
	const unsigned char *p;

	bench_jprintf(b, "\"");
	for (p = (const unsigned char *)str; *p; p++) {
		if (*p == '"' || *p == '\\')
			bench_jprintf(b, "\\%c", *p);
		else if (*p < 0x20)
			bench_jprintf(b, "\\u%04x", *p);
		else
			bench_jprintf(b, "%c", *p);
	}
	bench_jprintf(b, "\"");
}

/* Start an object of @kind: {"kind": .., "prog": .. */
static inline void bench_json_begin(struct bench_jbuf *b, const char *kind)
{
	b->n = 0;
	b->cut = false;
	bench_jprintf(b, "{\"kind\": ");
	bench_jstr(b, kind);
	bench_jprintf(b, ", \"prog\": ");
	bench_jstr(b, bench_json.prog);
}

/* Close the object and append it to WEFT_BENCH_JSON, if that is set. */
static inline void bench_json_end(struct bench_jbuf *b)
{
	const char *path;

	if (bench_json.fd == -2) {
		path = getenv("WEFT_BENCH_JSON");
		bench_json.fd = -1;
		if (path && *path) {
			bench_json.fd = open(path, O_WRONLY | O_APPEND |
					     O_CREAT | O_CLOEXEC, 0644);
			if (bench_json.fd < 0)
				bench_fail("WEFT_BENCH_JSON=%s: %s", path,
					   strerror(errno));
		}
	}
	if (bench_json.fd < 0)
		return;
	bench_jprintf(b, "}\n");
	if (b->cut)
		bench_fail("a JSON line longer than %zu bytes", sizeof(b->s));
	if (write(bench_json.fd, b->s, b->n) != (ssize_t)b->n)
		bench_fail("WEFT_BENCH_JSON: write: %s", strerror(errno));
}

/*
 * A comment: "# " and the text on stdout, and a note object per line.
 * @fmt ends with a newline, as the printf() calls it stands for.
 */
__attribute__((format(printf, 1, 2)))
static inline void bench_note(const char *fmt, ...)
{
	static char text[4096];
	struct bench_jbuf *b = &bench_jline;
	char *line, *next;
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= sizeof(text))
		bench_fail("a comment longer than %zu bytes", sizeof(text));
	printf("# %s", text);
	for (line = text; *line; line = next) {
		next = line + strcspn(line, "\n");
		if (*next)
			*next++ = '\0';
		bench_json_begin(b, "note");
		bench_jprintf(b, ", \"text\": ");
		bench_jstr(b, line);
		bench_json_end(b);
	}
}

/* weft_stats' scheduling latency of row @name: a comment and an object. */
static inline void bench_latency(const char *name, uint64_t samples,
				 uint64_t p50_ns, uint64_t p99_ns,
				 uint64_t max_ns)
{
	struct bench_jbuf *b = &bench_jline;

	bench_note("latency %s: %llu samples, p50 %llu ns, p99 %llu ns, "
		   "max %llu ns\n", name, (unsigned long long)samples,
		   (unsigned long long)p50_ns, (unsigned long long)p99_ns,
		   (unsigned long long)max_ns);
	bench_json_begin(b, "latency");
	bench_jprintf(b, ", \"name\": ");
	bench_jstr(b, name);
	bench_jprintf(b, ", \"samples\": %llu, \"p50_ns\": %llu, "
		      "\"p99_ns\": %llu, \"max_ns\": %llu",
		      (unsigned long long)samples, (unsigned long long)p50_ns,
		      (unsigned long long)p99_ns, (unsigned long long)max_ns);
	bench_json_end(b);
}

/* The row object of @r (sorted: bench_row_median()), runs in run order. */
static inline void bench_json_row(const struct bench_row *r, double med,
				  double ratio)
{
	struct bench_jbuf *b = &bench_jline;
	int i;

	bench_json_begin(b, "row");
	bench_jprintf(b, ", \"name\": ");
	bench_jstr(b, r->name);
	bench_jprintf(b, ", \"params\": {\"runs\": %d, \"quick\": %s}, "
		      "\"unit\": ", bench_json.opts.runs,
		      bench_json.opts.quick ? "true" : "false");
	bench_jstr(b, bench_json.unit);
	bench_jprintf(b, ", \"iters\": %llu, \"samples\": [",
		      (unsigned long long)r->iters);
	for (i = 0; i < r->nr; i++)
		bench_jprintf(b, "%s%.10g", i ? ", " : "", r->order[i]);
	bench_jprintf(b, "], \"median\": %.10g, \"min\": %.10g, "
		      "\"max\": %.10g, \"ratio\": ", med, r->ns[0],
		      r->ns[r->nr - 1]);
	if (ratio > 0)
		bench_jprintf(b, "%.10g", ratio);
	else
		bench_jprintf(b, "null");
	bench_json_end(b);
}

static inline void bench_row_init(struct bench_row *r, const char *name,
				  uint64_t iters, int runs)
{
	r->name = name;
	r->iters = iters;
	r->nr = 0;
	r->ns = calloc((size_t)runs, sizeof(*r->ns));
	r->order = calloc((size_t)runs, sizeof(*r->order));
	if (!r->ns || !r->order)
		bench_fail("out of memory");
}

/* Record one run's figure @v, already per operation. */
static inline void bench_row_add_value(struct bench_row *r, double v)
{
	r->order[r->nr] = v;
	r->ns[r->nr++] = v;
}

/* Record one run that did r->iters operations in @elapsed_ns. */
static inline void bench_row_add(struct bench_row *r, uint64_t elapsed_ns)
{
	bench_row_add_value(r, (double)elapsed_ns / (double)r->iters);
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
	bench_note("runs=%d%s; figures are ns per op over the runs; "
		   "ratio = median / median(%s)\n",
		   o->runs, o->quick ? " quick" : "", ratio_of);
	bench_note("%-22s %10s %10s %10s %10s %8s\n",
	       "name", "iters", "median", "min", "max", "ratio");
}

/* Print @r; @ref_median <= 0 prints "-" as the ratio. */
static inline void bench_print_row(struct bench_row *r, double ref_median)
{
	double med = bench_row_median(r);

	bench_json_row(r, med, ref_median > 0 ? med / ref_median : 0);
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
	snprintf(bench_json.prog, sizeof(bench_json.prog), "%s", prog);
	bench_note("%s: cpu=\"%s\" online_cpus=%ld kernel=\"%s %s %s\"\n",
		   prog, model, sysconf(_SC_NPROCESSORS_ONLN), u.sysname,
		   u.release, u.machine);
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
