/* SPDX-License-Identifier: MIT */
/*
 * bench_memory: what a parked task costs in resident memory, fibers
 * against pthreads.
 *
 *   memory.fiber.<count>        <count> fibers with the default 64 KiB
 *                               stack, spawned inside weft_run (default
 *                               config) and each parked in a sleep that
 *                               never ends; bytes per fiber
 *   memory.fiber.small.<count>  the same with weft's small stacks
 *                               (WEFT_STACK_SMALL, 2 KiB slots; more
 *                               under ASan, see SMALL_STACK)
 *   memory.pthread.10k          10,000 pthreads with the default stack
 *                               (8 MiB of address space) each blocked in
 *                               FUTEX_WAIT; bytes per thread, user-space
 *                               resident memory plus kernel stack
 *   memory.pthread.64k.10k      the same with 64 KiB stacks
 *
 * <count> is 10k and 100k, and 1m outside --quick. A figure is the growth
 * of the process's resident set (Rss in /proc/self/smaps_rollup, which
 * walks the page tables, so it is exact; /proc/self/statm where that file
 * is missing) from just before the first task is made to the moment all
 * of them are parked and the workers idle, divided by the number of
 * tasks. For pthreads the growth of KernelStack in /proc/meminfo is added:
 * each thread has a kernel stack that a fiber does not have. That figure
 * is system-wide, so other work on the machine can disturb it. Page
 * tables (VmPTE in /proc/self/status) are kernel memory too; they are
 * reported in notes but left out of the rows. Notes also say how long
 * the tasks took to be made and parked, and to end afterwards.
 *
 * Freed stacks and heap stay in the process's caches, so a second
 * measurement in the same process would find its memory already
 * resident: every measurement runs in a fresh child process (this program
 * re-executed with the hidden arguments "--child KIND N"), one per child.
 * Each run measures every row once, in order, so that a noisy moment
 * spreads over all the rows; each row reports the median, min and max
 * over the runs. The ratio column is relative to the memory.fiber row of
 * the same count. A fiber child checks that every fiber's sleep ended in
 * -ECANCELED when weft_run shut down, a pthread child that every thread
 * started and was joined; the program exits 1 otherwise.
 *
 * Threads: the parent is single-threaded; a fiber child has weft's
 * workers, a pthread child its main thread and the blocked threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ck_pr.h>

#include "bench_common.h"
#include "weft.h"

/* Threads made by the pthread rows. */
#define PTHREADS 10000u
/* Stack size of the memory.pthread.64k rows. */
#define PTHREAD_SMALL_STACK (64u * 1024u)
/* How long every task has to be seen parked before the reading (ns). */
#define SETTLE_NS 20000000ull
/* Longest wait for the tasks to park before giving up (ns). */
#define PARK_TIMEOUT_NS 120000000000ull
/*
 * The stack of the small-stack rows: weft's small stacks (2 KiB slots,
 * two to a page). Under a sanitizer weft itself hands out a larger stack
 * for this request (see weft.h), and the figure says so.
 */
#define SMALL_STACK WEFT_STACK_SMALL

/* Whether this is a sanitized build: gcc and clang say so differently. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BENCH_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define BENCH_SANITIZED 1
#endif
#endif

/* A parked Go goroutine, for the summary (bytes; not measured here). */
#define GO_PARKED_BYTES 2737.0

enum task_kind {
	KIND_FIBER,		/* default stack                             */
	KIND_FIBER_SMALL,	/* SMALL_STACK stack                         */
	KIND_PTHREAD,		/* default stack                             */
	KIND_PTHREAD_64K,	/* PTHREAD_SMALL_STACK stack                 */
	NR_KINDS
};

/* The word after --child that names a kind. */
static const char *const kind_arg[NR_KINDS] = {
	[KIND_FIBER] = "fiber",
	[KIND_FIBER_SMALL] = "fiber-small",
	[KIND_PTHREAD] = "pthread",
	[KIND_PTHREAD_64K] = "pthread-64k",
};

/* What one child measured: memory in bytes, phases in ns. */
struct child_res {
	uint64_t count;		/* tasks made and parked                     */
	int64_t user;		/* growth of the resident set                */
	int64_t kstack;		/* growth of KernelStack (pthreads only)     */
	int64_t pte;		/* growth of the page tables                 */
	uint64_t park_ns;	/* first task made to all parked             */
	uint64_t end_ns;	/* readings taken to all tasks ended         */
};

/* Reading /proc ---------------------------------------------------------- */

/*
 * The number after "@key" in @path, a /proc file of "Key:  N kB" lines,
 * or -1 if it cannot be read. No malloc, so that the reading does not
 * grow the heap it measures. Main thread (or main fiber) only.
 */
static long long proc_field(const char *path, const char *key)
{
	static char buf[16384];
	size_t klen = strlen(key);
	ssize_t n, got = 0;
	char *p;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while ((size_t)got < sizeof(buf) - 1) {
		n = read(fd, buf + got, sizeof(buf) - 1 - (size_t)got);
		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	buf[got] = '\0';
	for (p = buf; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, key, klen) == 0)
			return strtoll(p + klen, NULL, 10);
	return -1;
}

/* The resident set of this process, in bytes. */
static int64_t rss_bytes(void)
{
	long long kb = proc_field("/proc/self/smaps_rollup", "Rss:");
	long long pages = -1;
	char buf[128];
	ssize_t n;
	int fd;

	if (kb >= 0)
		return (int64_t)kb * 1024;
	fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			if (sscanf(buf, "%*s %lld", &pages) != 1)
				pages = -1;
		}
		close(fd);
	}
	if (pages < 0)
		bench_fail("cannot read /proc/self/smaps_rollup or statm");
	return (int64_t)pages * sysconf(_SC_PAGESIZE);
}

/* This process's page tables, in bytes (0 if the kernel does not say). */
static int64_t pte_bytes(void)
{
	long long kb = proc_field("/proc/self/status", "VmPTE:");

	return kb < 0 ? 0 : (int64_t)kb * 1024;
}

/* Kernel stacks of the whole system, in bytes. */
static int64_t kstack_bytes(void)
{
	long long kb = proc_field("/proc/meminfo", "KernelStack:");

	if (kb < 0)
		bench_fail("cannot read KernelStack in /proc/meminfo");
	return (int64_t)kb * 1024;
}

/* Child: fibers ---------------------------------------------------------- */

struct fiber_job {
	uint64_t n;		/* fibers to park                            */
	size_t stack_size;	/* per spawn; 0: the runtime's default       */
	uint64_t started;	/* atomic: fibers that reached their sleep   */
	uint64_t cancelled;	/* atomic: sleeps that ended in -ECANCELED   */
	struct child_res res;	/* result                                    */
	uint64_t t_read;	/* when the readings were taken              */
};

static void *parked_fiber(void *arg)
{
	struct fiber_job *job = arg;

	/* Atomic RMW; main only polls the count, no data travels with it. */
	ck_pr_inc_64(&job->started);
	if (weft_sleep_until(INT64_MAX) == -ECANCELED)
		/* Read after weft_run has returned, which orders it. */
		ck_pr_inc_64(&job->cancelled);
	return NULL;
}

/*
 * Spawn the fibers, wait until each has reached its sleep, weft counts
 * them live and the workers have had SETTLE_NS to go idle, and take the
 * readings. Returning lets weft_run cancel them all. The /proc reads are
 * blocking system calls on a worker; nothing else needs it meanwhile.
 */
static void fiber_main(void *arg)
{
	struct fiber_job *job = arg;
	struct weft_spawn_opts opts = { .stack_size = job->stack_size };
	uint64_t deadline = bench_now_ns() + PARK_TIMEOUT_NS;
	int64_t rss0, pte0;
	struct weft_stats st = { .size = sizeof(st) };
	uint64_t i, t0;
	int err;

	rss0 = rss_bytes();
	pte0 = pte_bytes();
	t0 = bench_now_ns();
	for (i = 0; i < job->n; i++) {
		err = weft_spawn(NULL, parked_fiber, job, &opts);
		if (err)
			bench_fail("fiber %llu: weft_spawn: %s",
				   (unsigned long long)i, strerror(-err));
	}
	for (;;) {
		err = weft_stats(&st);
		if (err)
			bench_fail("weft_stats: %s", strerror(-err));
		/* Polled; see parked_fiber(). */
		if (ck_pr_load_64(&job->started) == job->n &&
		    st.live == job->n + 1)
			break;
		if (bench_now_ns() > deadline)
			bench_fail("%llu of %llu fibers parked after %llu s",
				   (unsigned long long)
				   ck_pr_load_64(&job->started),
				   (unsigned long long)job->n,
				   PARK_TIMEOUT_NS / 1000000000ull);
		weft_sleep_ns(1000000);
	}
	job->res.park_ns = bench_now_ns() - t0;
	weft_sleep_ns(SETTLE_NS);
	job->res.count = job->n;
	job->res.user = rss_bytes() - rss0;
	job->res.pte = pte_bytes() - pte0;
	job->res.kstack = 0;
	job->t_read = bench_now_ns();
}

static struct child_res child_fibers(uint64_t n, size_t stack_size)
{
	struct weft_config cfg = { 0 };
	struct fiber_job job = { .n = n, .stack_size = stack_size };
	int err;

	err = weft_run(&cfg, fiber_main, &job);
	if (err)
		bench_fail("weft_run: %s", strerror(-err));
	if (job.cancelled != n)
		bench_fail("%llu of %llu sleeps ended in -ECANCELED",
			   (unsigned long long)job.cancelled,
			   (unsigned long long)n);
	job.res.end_ns = bench_now_ns() - job.t_read;
	return job.res;
}

/* Child: pthreads -------------------------------------------------------- */

/* Threads that have started; atomic, polled by the main thread. */
static unsigned pt_started;
/* The futex word the threads block on; 1 lets them go. */
static unsigned pt_release;

static long futex(unsigned *uaddr, int op, unsigned val)
{
	return syscall(SYS_futex, uaddr, op, val, NULL, NULL, 0);
}

static void *blocked_thread(void *arg)
{
	/* Atomic RMW; the main thread only polls the count. */
	ck_pr_inc_uint(&pt_started);
	/* The kernel compares the word under its futex lock, so a wake
	 * after the store below cannot be missed. */
	while (ck_pr_load_uint(&pt_release) == 0)
		futex(&pt_release, FUTEX_WAIT_PRIVATE, 0);
	return arg;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u),
			       (long)(ns % 1000000000u) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static struct child_res child_pthreads(uint64_t n, size_t stack_size)
{
	pthread_t *t = calloc(n, sizeof(*t));
	uint64_t deadline = bench_now_ns() + PARK_TIMEOUT_NS;
	struct child_res res = { 0 };
	int64_t rss0, ks0, pte0;
	pthread_attr_t attr;
	uint64_t i, made, t0;
	void *ret;
	int err;

	if (!t)
		bench_fail("out of memory");
	pthread_attr_init(&attr);
	if (stack_size) {
		err = pthread_attr_setstacksize(&attr, stack_size);
		if (err)
			bench_fail("pthread_attr_setstacksize: %s",
				   strerror(err));
	}
	rss0 = rss_bytes();
	ks0 = kstack_bytes();
	pte0 = pte_bytes();
	t0 = bench_now_ns();
	for (made = 0; made < n; made++) {
		err = pthread_create(&t[made], &attr, blocked_thread,
				     (void *)(uintptr_t)made);
		if (err == EAGAIN || err == ENOMEM)
			break;
		if (err)
			bench_fail("pthread_create: %s", strerror(err));
	}
	pthread_attr_destroy(&attr);
	if (made == 0)
		bench_fail("pthread_create: could not make a single thread");
	/* Polled; see blocked_thread(). */
	while (ck_pr_load_uint(&pt_started) != made) {
		if (bench_now_ns() > deadline)
			bench_fail("%u of %llu threads started",
				   ck_pr_load_uint(&pt_started),
				   (unsigned long long)made);
		sleep_ns(1000000);
	}
	res.park_ns = bench_now_ns() - t0;
	sleep_ns(SETTLE_NS);
	res.count = made;
	res.user = rss_bytes() - rss0;
	res.kstack = kstack_bytes() - ks0;
	res.pte = pte_bytes() - pte0;
	t0 = bench_now_ns();

	/* Release: the threads read it after FUTEX_WAIT returns or fails;
	 * the futex system call orders the store before the wake. */
	ck_pr_store_uint(&pt_release, 1);
	futex(&pt_release, FUTEX_WAKE_PRIVATE, INT_MAX);
	for (i = 0; i < made; i++) {
		err = pthread_join(t[i], &ret);
		if (err)
			bench_fail("pthread_join: %s", strerror(err));
		if (ret != (void *)(uintptr_t)i)
			bench_fail("thread %llu returned %p",
				   (unsigned long long)i, ret);
	}
	free(t);
	res.end_ns = bench_now_ns() - t0;
	return res;
}

/* "--child KIND N": one measurement, printed as one line on stdout. */
static int child_main(int argc, char **argv)
{
	struct child_res res;
	unsigned long long n;
	char *end;
	int k;

	if (argc != 4)
		bench_fail("--child takes KIND and N");
	for (k = 0; k < NR_KINDS; k++)
		if (strcmp(argv[2], kind_arg[k]) == 0)
			break;
	n = strtoull(argv[3], &end, 10);
	if (k == NR_KINDS || *end || n == 0)
		bench_fail("bad --child arguments: %s %s", argv[2], argv[3]);
	switch (k) {
	case KIND_FIBER:
		res = child_fibers(n, 0);
		break;
	case KIND_FIBER_SMALL:
		res = child_fibers(n, SMALL_STACK);
		break;
	case KIND_PTHREAD:
		res = child_pthreads(n, 0);
		break;
	default:
		res = child_pthreads(n, PTHREAD_SMALL_STACK);
		break;
	}
	printf("%llu %lld %lld %lld %llu %llu\n",
	       (unsigned long long)res.count, (long long)res.user,
	       (long long)res.kstack, (long long)res.pte,
	       (unsigned long long)res.park_ns,
	       (unsigned long long)res.end_ns);
	return 0;
}

/* Parent ----------------------------------------------------------------- */

/* Run "--child KIND N" in a fresh process and parse its line. */
static struct child_res run_child(enum task_kind kind, uint64_t n)
{
	struct child_res res;
	unsigned long long count, park_ns, end_ns;
	long long user, kstack, pte;
	char out[256], nbuf[32];
	size_t got = 0;
	int fd[2], status;
	ssize_t r;
	pid_t pid;

	snprintf(nbuf, sizeof(nbuf), "%llu", (unsigned long long)n);
	if (pipe2(fd, O_CLOEXEC) != 0)
		bench_fail("pipe2: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		bench_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		if (dup2(fd[1], STDOUT_FILENO) < 0)
			_exit(127);
		execl("/proc/self/exe", "bench_memory", "--child",
		      kind_arg[kind], nbuf, (char *)NULL);
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
		bench_fail("child \"%s %s\" failed (status 0x%x)",
			   kind_arg[kind], nbuf, status);
	if (sscanf(out, "%llu %lld %lld %lld %llu %llu", &count, &user,
		   &kstack, &pte, &park_ns, &end_ns) != 6)
		bench_fail("child \"%s %s\" printed \"%s\"", kind_arg[kind],
			   nbuf, out);
	res.count = count;
	res.user = user;
	res.kstack = kstack;
	res.pte = pte;
	res.park_ns = park_ns;
	res.end_ns = end_ns;
	return res;
}

/* One result row and the parts of its figure, per run. */
struct mem_row {
	const char *name;
	enum task_kind kind;
	uint64_t n;		/* tasks asked for                           */
	bool full_only;		/* skipped under --quick                     */
	int ref;		/* index of the row its ratio is relative to */
	struct bench_row row;	/* bytes per task, per run                   */
	double *user;		/* resident-set part, bytes per task         */
	double *kstack;		/* kernel-stack part, bytes per task         */
	double *pte;		/* page tables, bytes per task               */
	double *park_s;		/* seconds to make and park the tasks        */
	double *end_s;		/* seconds from the readings to all ended    */
	uint64_t min_count;	/* fewest tasks a child managed              */
};

static double median_of(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
	if (n % 2)
		return v[n / 2];
	return (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void measure(struct mem_row *m)
{
	struct child_res res = run_child(m->kind, m->n);
	int i = m->row.nr;
	double cnt = (double)res.count;

	if (res.count < m->min_count)
		m->min_count = res.count;
	m->user[i] = (double)res.user / cnt;
	m->kstack[i] = (double)res.kstack / cnt;
	m->pte[i] = (double)res.pte / cnt;
	m->park_s[i] = (double)res.park_ns / 1e9;
	m->end_s[i] = (double)res.end_ns / 1e9;
	bench_row_add_value(&m->row, m->user[i] + m->kstack[i]);
}

enum row_id {
	ROW_FIBER_10K,
	ROW_SMALL_10K,
	ROW_FIBER_100K,
	ROW_SMALL_100K,
	ROW_FIBER_1M,
	ROW_SMALL_1M,
	ROW_PTHREAD,
	ROW_PTHREAD_64K,
	NR_ROWS
};

int main(int argc, char **argv)
{
	struct mem_row rows[NR_ROWS] = {
		[ROW_FIBER_10K] = { "memory.fiber.10k", KIND_FIBER, 10000,
				    false, ROW_FIBER_10K },
		[ROW_SMALL_10K] = { "memory.fiber.small.10k", KIND_FIBER_SMALL,
				    10000, false, ROW_FIBER_10K },
		[ROW_FIBER_100K] = { "memory.fiber.100k", KIND_FIBER, 100000,
				     false, ROW_FIBER_100K },
		[ROW_SMALL_100K] = { "memory.fiber.small.100k",
				     KIND_FIBER_SMALL, 100000, false,
				     ROW_FIBER_100K },
		[ROW_FIBER_1M] = { "memory.fiber.1m", KIND_FIBER, 1000000,
				   true, ROW_FIBER_1M },
		[ROW_SMALL_1M] = { "memory.fiber.small.1m", KIND_FIBER_SMALL,
				   1000000, true, ROW_FIBER_1M },
		[ROW_PTHREAD] = { "memory.pthread.10k", KIND_PTHREAD,
				  PTHREADS, false, ROW_FIBER_10K },
		[ROW_PTHREAD_64K] = { "memory.pthread.64k.10k",
				      KIND_PTHREAD_64K, PTHREADS, false,
				      ROW_FIBER_10K },
	};
	struct bench_opts o;
	struct mem_row *m;
	double fiber, small, pt, pt64;
	int r, i, big;

	if (argc > 1 && strcmp(argv[1], "--child") == 0)
		return child_main(argc, argv);
	o = bench_parse(argc, argv);
	bench_print_machine("bench_memory");
	bench_set_unit("bytes/task");
	for (i = 0; i < NR_ROWS; i++) {
		m = &rows[i];
		bench_row_init(&m->row, m->name, m->n, o.runs);
		m->user = calloc((size_t)o.runs, sizeof(double));
		m->kstack = calloc((size_t)o.runs, sizeof(double));
		m->pte = calloc((size_t)o.runs, sizeof(double));
		m->park_s = calloc((size_t)o.runs, sizeof(double));
		m->end_s = calloc((size_t)o.runs, sizeof(double));
		if (!m->user || !m->kstack || !m->pte || !m->park_s ||
		    !m->end_s)
			bench_fail("out of memory");
		m->min_count = m->n;
	}

	for (r = 0; r < o.runs; r++)
		for (i = 0; i < NR_ROWS; i++)
			if (!(o.quick && rows[i].full_only))
				measure(&rows[i]);

	bench_note("every task parked in a fresh child process; fibers: "
	       "weft_run default config, sleeping; pthreads: blocked in "
	       "FUTEX_WAIT\n");
	bench_note("stacks: fiber %u, fiber.small %u, pthread default "
	       "(RLIMIT_STACK), pthread.64k %u bytes\n", WEFT_STACK_DEFAULT,
	       SMALL_STACK, PTHREAD_SMALL_STACK);
#ifdef BENCH_SANITIZED
	bench_note("sanitizer build: weft gives fiber.small 32 KiB stacks\n");
#endif
	bench_note("runs=%d%s; figures are BYTES per parked task (not ns) over "
	       "the runs; ratio = median / median(memory.fiber.<same count>)"
	       "\n", o.runs, o.quick ? " quick" : "");
	bench_note("%-22s %10s %10s %10s %10s %8s\n", "name", "tasks",
	       "median", "min", "max", "ratio");
	for (i = 0; i < NR_ROWS; i++) {
		m = &rows[i];
		if (m->row.nr == 0) {
			bench_note("%s skipped in --quick\n", m->name);
			continue;
		}
		m->row.iters = m->min_count;
		bench_print_row(&m->row, bench_row_median(&rows[m->ref].row));
	}
	for (i = 0; i < NR_ROWS; i++) {
		m = &rows[i];
		if (m->row.nr == 0)
			continue;
		if (m->kind == KIND_PTHREAD || m->kind == KIND_PTHREAD_64K)
			bench_note("%s: user-space resident %.0f + kernel stack "
			       "%.0f bytes per thread (medians); page tables "
			       "%.0f more, not in the row\n", m->name,
			       median_of(m->user, m->row.nr),
			       median_of(m->kstack, m->row.nr),
			       median_of(m->pte, m->row.nr));
		else
			bench_note("%s: page tables %.0f bytes per fiber "
			       "(median), not in the row\n", m->name,
			       median_of(m->pte, m->row.nr));
		bench_note("%s: tasks made and parked in %.3f s, all ended "
		       "%.3f s after the readings (%s; medians)\n", m->name,
		       median_of(m->park_s, m->row.nr),
		       median_of(m->end_s, m->row.nr),
		       m->kind == KIND_PTHREAD || m->kind == KIND_PTHREAD_64K ?
		       "release and pthread_join" : "weft_run's shutdown");
		if (m->min_count < m->n)
			bench_note("%s: only %llu of %llu threads could be made "
			       "(ulimit -u, kernel.threads-max or memory); "
			       "the figure is per thread made\n", m->name,
			       (unsigned long long)m->min_count,
			       (unsigned long long)m->n);
	}

	fiber = bench_row_median(&rows[ROW_FIBER_10K].row);
	small = bench_row_median(&rows[ROW_SMALL_10K].row);
	pt = bench_row_median(&rows[ROW_PTHREAD].row);
	pt64 = bench_row_median(&rows[ROW_PTHREAD_64K].row);
	bench_note("summary at 10k: a parked pthread costs %.1fx a parked fiber "
	       "(%.0f vs %.0f bytes), %.1fx with 64 KiB thread stacks "
	       "(%.0f bytes); a small-stack fiber costs %.0f bytes\n",
	       pt / fiber, pt, fiber, pt64 / fiber, pt64, small);
	big = o.quick ? ROW_SMALL_100K : ROW_SMALL_1M;
	small = bench_row_median(&rows[big].row);
	bench_note("summary: %s is %.0f bytes per fiber, %.2fx a parked Go "
	       "goroutine (~%.0f bytes, from Go's own figures; not measured "
	       "here)\n", rows[big].name, small, small / GO_PARKED_BYTES,
	       GO_PARKED_BYTES);
	for (i = 0; i < NR_ROWS; i++) {
		free(rows[i].row.ns);
		free(rows[i].user);
		free(rows[i].kstack);
		free(rows[i].pte);
		free(rows[i].park_s);
		free(rows[i].end_s);
	}
	return 0;
}
