/* SPDX-License-Identifier: MIT */
/*
 * The same workload on 10,000 OS threads and on 10,000 fibers, with the
 * wall time and the memory of each.
 *
 * Every task checks in, waits for a start signal, sleeps 10 ms, then adds
 * 1 to a shared counter under a lock. The start signal is given once all
 * tasks have checked in, so at that moment all 10,000 exist at once, and
 * that is when the memory is measured: the growth of the resident set
 * (VmRSS in /proc/self/status, the pages actually touched) since just
 * before the first task was made. The time runs from making the first
 * task to joining the last.
 *
 *	        threads                        fibers
 *	make    pthread_create                 weft_spawn
 *	wait    pthread_cond_wait on a flag    weft_chan_recv on a channel
 *	        (broadcast to start)           (closed to start)
 *	sleep   nanosleep: the thread blocks   weft_sleep_ns: the fiber parks,
 *	        in the kernel                  its worker runs others
 *	lock    pthread_mutex_t                weft_mutex
 *	join    pthread_join, one by one       weft_join_all
 *
 * Both sides get 64 KiB stacks: weft's default, and far below glibc's
 * default of 8 MiB per thread, so that 10,000 threads fit anywhere. A
 * thread also costs the kernel a task of its own; a fiber is a 256-byte
 * record and the stack pages it has touched.
 *
 * The figures vary from run to run and machine to machine; the lines
 * "pthreads: N tasks done" and "fibers: N tasks done" do not. If the
 * system will not make 10,000 threads (ulimit -u, kernel.threads-max,
 * a cgroup's pids.max), the program says how many it made and measures
 * those. It exits 1 if a counter comes out wrong.
 *
 * Usage: threads_vs_fibers [TASKS]   (default 10000)
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <weft.h>

#define STACK_SIZE	(64u * 1024u)
#define SLEEP_NS	10000000ull		/* 10 ms */

/* Resident memory of this process now, in KiB; 0 if unknown. */
static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	long kib = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

struct result {
	long tasks;		/* tasks made                                */
	long counter;		/* what they added up to                     */
	double wall_ms;		/* first made to last joined                 */
	long mem_kib;		/* RSS growth with every task alive          */
};

static void report(const char *who, const struct result *r)
{
	printf("%s: %ld tasks done\n", who, r->counter);
	printf("  wall %.1f ms, memory +%.1f MiB (%.1f KiB per task)\n",
	       r->wall_ms, r->mem_kib / 1024.0,
	       r->tasks ? (double)r->mem_kib / (double)r->tasks : 0.0);
}

/* Threads ---------------------------------------------------------------- */

struct thread_side {
	pthread_mutex_t lock;	/* guards everything below               */
	pthread_cond_t checkin;	/* a task checked in                     */
	pthread_cond_t go_cond;	/* the start signal                      */
	long ready;		/* tasks checked in                      */
	bool go;		/* the start signal was given            */
	long counter;		/* the shared counter                    */
};

static void *thread_task(void *arg)
{
	struct thread_side *s = arg;
	struct timespec nap = { 0, SLEEP_NS };

	pthread_mutex_lock(&s->lock);
	s->ready++;
	pthread_cond_signal(&s->checkin);
	while (!s->go)
		pthread_cond_wait(&s->go_cond, &s->lock);
	pthread_mutex_unlock(&s->lock);

	nanosleep(&nap, NULL);		/* blocks this OS thread */

	pthread_mutex_lock(&s->lock);
	s->counter++;
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void run_threads(long n, struct result *r)
{
	struct thread_side s = {
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.checkin = PTHREAD_COND_INITIALIZER,
		.go_cond = PTHREAD_COND_INITIALIZER,
	};
	pthread_t *t = calloc((size_t)n, sizeof(*t));
	long base = rss_kib(), made;
	uint64_t t0 = weft_now_ns();
	pthread_attr_t attr;
	int err = 0;

	if (!t) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STACK_SIZE);
	for (made = 0; made < n; made++) {
		err = pthread_create(&t[made], &attr, thread_task, &s);
		if (err)
			break;
	}
	pthread_attr_destroy(&attr);
	if (made < n)
		printf("pthreads: only %ld of %ld threads could be made "
		       "(pthread_create: %s); measuring those\n", made, n,
		       strerror(err));

	/* Every thread made is alive now, waiting: measure, then start. */
	pthread_mutex_lock(&s.lock);
	while (s.ready < made)
		pthread_cond_wait(&s.checkin, &s.lock);
	r->mem_kib = rss_kib() - base;
	s.go = true;
	pthread_cond_broadcast(&s.go_cond);
	pthread_mutex_unlock(&s.lock);

	for (long i = 0; i < made; i++)
		pthread_join(t[i], NULL);
	r->wall_ms = (double)(weft_now_ns() - t0) / 1e6;
	r->tasks = made;
	r->counter = s.counter;
	free(t);
}

/* Fibers ----------------------------------------------------------------- */

struct fiber_side {
	weft_wg ready;		/* tasks not yet checked in              */
	weft_chan *go;		/* closed: the start signal              */
	weft_mutex lock;	/* guards counter                        */
	long counter;		/* the shared counter                    */
};

static void *fiber_task(void *arg)
{
	struct fiber_side *s = arg;

	weft_wg_done(&s->ready);
	/* Waits until the channel is closed: then recv gives -EPIPE. */
	weft_chan_recv(s->go, NULL);

	weft_sleep_ns(SLEEP_NS);	/* parks this fiber, not the worker */

	weft_mutex_lock(&s->lock);
	s->counter++;
	weft_mutex_unlock(&s->lock);
	return NULL;
}

struct fiber_job {
	long n;			/* tasks wanted                          */
	struct result *r;
};

static void run_fibers(void *arg)
{
	struct fiber_job *job = arg;
	struct result *r = job->r;
	struct fiber_side s = {
		.ready = WEFT_WG_INIT,
		.lock = WEFT_MUTEX_INIT,
	};
	weft_fiber **f = calloc((size_t)job->n, sizeof(*f));
	long base = rss_kib(), made;
	uint64_t t0 = weft_now_ns();
	int err = 0;

	if (!f || weft_chan_new(&s.go, 0, 0) != 0) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	weft_wg_add(&s.ready, (int)job->n);
	for (made = 0; made < job->n; made++) {
		err = weft_spawn(&f[made], fiber_task, &s, NULL);
		if (err)
			break;
	}
	if (made < job->n) {
		printf("fibers: only %ld of %ld fibers could be made "
		       "(weft_spawn: %s); measuring those\n", made, job->n,
		       strerror(-err));
		weft_wg_add(&s.ready, (int)(made - job->n));
	}

	/* Every fiber made is alive now, waiting: measure, then start. */
	weft_wg_wait(&s.ready);
	r->mem_kib = rss_kib() - base;
	weft_chan_close(s.go);

	weft_join_all(f, (size_t)made, NULL);
	r->wall_ms = (double)(weft_now_ns() - t0) / 1e6;
	r->tasks = made;
	r->counter = s.counter;
	weft_chan_free(s.go);
	free(f);
}

int main(int argc, char **argv)
{
	struct result thr = { 0 }, fib = { 0 };
	struct fiber_job job = { .n = 10000, .r = &fib };
	char *end = "";
	int err;

	if (argc == 2)
		job.n = strtol(argv[1], &end, 10);
	if (argc > 2 || *end || job.n < 1 || job.n > 1000000) {
		fprintf(stderr, "usage: %s [TASKS]   (1 .. 1000000, default "
			"10000)\n", argv[0]);
		return 2;
	}

	printf("%ld tasks, each: wait for the start, sleep 10 ms, add 1 to a "
	       "shared counter; 64 KiB stacks\n", job.n);
	run_threads(job.n, &thr);
	report("pthreads", &thr);

	err = weft_run(&(struct weft_config){ 0 }, run_fibers, &job);
	if (err) {
		fprintf(stderr, "weft_run: %s\n", strerror(-err));
		return 1;
	}
	report("fibers", &fib);

	if (fib.wall_ms > 0 && fib.mem_kib > 0)
		printf("pthreads took %.1fx the time and %.1fx the memory of "
		       "fibers\n", thr.wall_ms / fib.wall_ms,
		       (double)thr.mem_kib / (double)fib.mem_kib);
	if (thr.counter != thr.tasks || fib.counter != fib.tasks) {
		printf("MISMATCH: a counter is not its number of tasks\n");
		return 1;
	}
	return 0;
}
