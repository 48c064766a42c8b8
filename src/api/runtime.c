/* SPDX-License-Identifier: MIT */
/*
 * The runtime's life: weft_run() validates the config, sets up the
 * workers (the calling thread becomes worker 0, the others get threads of
 * their own), runs the main fiber, and when the scheduler stops (see
 * Shutdown in sched.c) joins the threads and frees everything. It also
 * chooses the I/O backend (poller.h): io_uring, or epoll where io_uring
 * is refused. Also the statistics snapshot. Only one runtime runs in a
 * process at a time.
 */
#include <errno.h>
#include <time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ck_pr.h>

#include "abarrier.h"
#include "abi.h"
#include "fiber.h"
#include "debug.h"
#include "dump.h"
#include "monitor.h"
#include "prng.h"
#include "record.h"
#include "scheduler.h"
#include "trace.h"

#define RING_ENTRIES_DEFAULT 256u
#define RING_ENTRIES_MAX 32768u
#define BLOCKING_THREADS_DEFAULT 4u

static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;
static bool running;		/* Protected by run_lock. */

/* Start-up handshake between weft_run and the worker threads. */
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t start_cond = PTHREAD_COND_INITIALIZER;
static unsigned nr_started;	/* Protected by start_lock. */

/* Per-thread setup, on the worker's own thread. */
static int worker_thread_init(struct worker *w)
{
	pthread_attr_t attr;
	int err;

	weft__worker_set_self(w);
	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		pthread_attr_getstack(&attr, &w->sched_ctx.stack_lo,
				      &w->sched_ctx.stack_size);
		pthread_attr_destroy(&attr);
	}
#ifdef WEFT_TSAN
	w->sched_ctx.tsan_fiber = __tsan_get_current_fiber();
#endif
	err = weft__overflow_thread_init(w);
	if (err)
		return err;
	w->poller_err = weft__poller->init(w);
	return w->poller_err;
}

static void worker_thread_fini(struct worker *w)
{
	weft__overflow_thread_fini(w);
	weft__worker_set_self(NULL);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->init_err = worker_thread_init(w);
	pthread_mutex_lock(&start_lock);
	nr_started++;
	pthread_cond_broadcast(&start_cond);
	pthread_mutex_unlock(&start_lock);
	if (w->init_err == 0)
		weft__worker_loop(w);
	worker_thread_fini(w);
	return NULL;
}

static struct worker *worker_create(unsigned id)
{
	struct worker *w = aligned_alloc(WEFT_CACHELINE, sizeof(*w));

	if (!w)
		return NULL;
	memset(w, 0, sizeof(*w));
	w->id = id;
	w->efd = -1;
	/* From the chaos seed when there is one, so that it decides. */
	w->rng = prng_seed(weft__chaos_seed ^ ((uint64_t)id << 32));
	weft__runq_init(&w->rq);
	/* One worker: nobody steals from it. */
	w->rq.solo = weft__sched.nr_workers == 1;
	weft__forkq_init(&w->fq, w->rq.solo);
	weft__stack_cache_init(&w->stacks, weft__sched.stack_size);
	if (weft__sched.host_stack_size)
		weft__stack_cache_add_class(&w->stacks,
					    weft__sched.host_stack_size);
	weft__timer_heap_init(&w->timers);
	return w;
}

static void worker_destroy(struct worker *w)
{
	weft__poller->fini(w);
	weft__stack_cache_flush(&w->stacks);
	weft__timer_heap_fini(&w->timers);
	free(w);
}

static void report_no_uring(int err)
{
	fprintf(stderr,
		"weft: io_uring is not available (io_uring_setup: %s); "
		"allow it with sysctl kernel.io_uring_disabled=0, or let the "
		"container's seccomp profile permit the io_uring_* system "
		"calls, or choose WEFT_BACKEND=epoll\n",
		strerror(-err));
}

static void report_fallback(int err)
{
	fprintf(stderr,
		"weft: io_uring is not available (io_uring_setup: %s); "
		"running on epoll. Choose it with WEFT_BACKEND=epoll or "
		"weft_config.backend to silence this line, or allow io_uring "
		"(sysctl kernel.io_uring_disabled=0, or a seccomp profile that "
		"permits the io_uring_* system calls)\n",
		strerror(-err));
}

/* An io_uring_setup() failure that means "not here": try epoll. */
static bool uring_refused(int err)
{
	return err == -EPERM || err == -EACCES || err == -ENOSYS ||
	       err == -ENOMEM;
}

static int check_config(const struct weft_config *cfg)
{
	if (cfg->workers > WEFT_WORKERS_MAX ||
	    cfg->ring_entries > RING_ENTRIES_MAX ||
	    cfg->blocking_threads > WEFT_BLOCKING_MAX ||
	    cfg->stack_size > STACK_SIZE_MAX ||
	    cfg->backend > WEFT_BACKEND_EPOLL ||
	    cfg->stall_ms > WEFT_STALL_MS_MAX)
		return -EINVAL;
	return 0;
}

/*
 * The backend asked for: WEFT_BACKEND if it is set and valid, else the
 * config's. A bad value is named once on stderr and ignored.
 */
static unsigned chosen_backend(const struct weft_config *cfg)
{
	static const char *const names[] = {
		[WEFT_BACKEND_AUTO] = "auto",
		[WEFT_BACKEND_IO_URING] = "io_uring",
		[WEFT_BACKEND_EPOLL] = "epoll",
	};
	const char *env = getenv("WEFT_BACKEND");
	unsigned i;

	if (!env || !*env)
		return cfg->backend;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(env, names[i]) == 0)
			return i;
	fprintf(stderr,
		"weft: WEFT_BACKEND=%s is not auto, io_uring or epoll; "
		"ignoring it\n", env);
	return cfg->backend;
}

/*
 * How many workers a config asking for 0 gets: WEFT_WORKERS if it is set
 * (as GOMAXPROCS), else one per online CPU. A bad value is named once on
 * stderr and ignored.
 */
static unsigned default_workers(void)
{
	const char *env = getenv("WEFT_WORKERS");
	long ncpu;

	if (env && *env) {
		char *end;
		unsigned long v = strtoul(env, &end, 10);

		if (*end == '\0' && env[0] != '-' && v >= 1 &&
		    v <= WEFT_WORKERS_MAX)
			return (unsigned)v;
		fprintf(stderr,
			"weft: WEFT_WORKERS=%s is not a number from 1 to %u; "
			"using one worker per CPU\n",
			env, WEFT_WORKERS_MAX);
	}
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		return 1;
	return ncpu > WEFT_WORKERS_MAX ? WEFT_WORKERS_MAX : (unsigned)ncpu;
}

/*
 * The stall threshold: WEFT_STALL_MS if it is set and valid (0 is off),
 * else the config's. A bad value is named once on stderr and ignored.
 */
static unsigned chosen_stall_ms(const struct weft_config *cfg)
{
	const char *env = getenv("WEFT_STALL_MS");
	char *end;
	unsigned long v;

	if (!env || !*env)
		return cfg->stall_ms;
	v = strtoul(env, &end, 10);
	if (*end == '\0' && env[0] >= '0' && env[0] <= '9' &&
	    v <= WEFT_STALL_MS_MAX)
		return (unsigned)v;
	fprintf(stderr,
		"weft: WEFT_STALL_MS=%s is not a number of ms from 0 to %u; "
		"ignoring it\n", env, WEFT_STALL_MS_MAX);
	return cfg->stall_ms;
}

/* At a failing exit, chaos mode names the seed that gave the schedule. */
static void chaos_exit(int status, void *arg)
{
	(void)arg;
	if (status != 0)
		weft__chaos_say();
}

/*
 * Chaos mode's seed: WEFT_CHAOS=N (a number; 0 is off), or
 * WEFT_CHAOS=random for a fresh one each run, which weft_run() prints on
 * stderr at its start, as any failure will too; without the variable,
 * the config's chaos_seed. A bad value is named once on stderr and
 * ignored (the config's seed holds).
 */
static uint64_t chosen_chaos_seed(const struct weft_config *cfg)
{
	static bool exit_hook;
	const char *env = getenv("WEFT_CHAOS");
	uint64_t seed = cfg->chaos_seed;
	char *end;

	if (!env || !*env) {
		/* The config's seed. */
	} else if (strcmp(env, "random") == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = ((uint64_t)ts.tv_sec * 1000000000u +
			(uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 32);
		seed = seed ? seed : 1;
		fprintf(stderr, "weft: chaos mode, WEFT_CHAOS=%llu\n",
			(unsigned long long)seed);
	} else {
		errno = 0;
		seed = strtoull(env, &end, 10);
		if (*end != '\0' || env[0] < '0' || env[0] > '9' || errno) {
			fprintf(stderr,
				"weft: WEFT_CHAOS=%s is not a number or "
				"\"random\"; ignoring it\n", env);
			seed = cfg->chaos_seed;
		}
	}
	if (seed && !exit_hook) {
		exit_hook = true;
		on_exit(chaos_exit, NULL);
	}
	return seed;
}

/*
 * Chaos mode's I/O faults: WEFT_CHAOS_IO=name=p[,name=p...] with names
 * short, reset, nospc and delay and chances p from 0 to 1, into @s. A
 * bad list is named once on stderr and ignored as a whole.
 */
static void chosen_chaos_io(struct sched *s)
{
	static const char *const names[] = { "short", "reset", "nospc",
					     "delay" };
	uint32_t *fields[] = { &s->chaos_io.short_io, &s->chaos_io.reset,
			       &s->chaos_io.nospc, &s->chaos_io.delay };
	uint32_t got[4] = { 0 };
	const char *env = getenv("WEFT_CHAOS_IO"), *p;

	if (!env || !*env)
		return;
	for (p = env; *p;) {
		size_t len = strcspn(p, "=");
		unsigned i;
		char *end;
		double v;

		for (i = 0; i < 4; i++)
			if (strlen(names[i]) == len &&
			    strncmp(p, names[i], len) == 0)
				break;
		if (i == 4 || p[len] != '=')
			goto bad;
		v = strtod(p + len + 1, &end);
		if (end == p + len + 1 || v < 0 || v > 1 ||
		    (*end != ',' && *end != '\0'))
			goto bad;
		got[i] = v >= 1 ? UINT32_MAX : (uint32_t)(v * 4294967296.0);
		p = *end ? end + 1 : end;
	}
	for (unsigned i = 0; i < 4; i++)
		*fields[i] = got[i];
	return;
bad:
	fprintf(stderr,
		"weft: WEFT_CHAOS_IO=%s is not a list of short=P, reset=P, "
		"nospc=P, delay=P with P from 0 to 1; ignoring it\n", env);
}

/* Start workers 1 .. n-1 and wait until each has set itself up. */
static int start_threads(struct sched *s, unsigned *nr_threads)
{
	unsigned i;
	int err = 0;

	nr_started = 0;
	for (i = 1; i < s->nr_workers; i++) {
		err = -pthread_create(&s->workers[i]->thread, NULL,
				      worker_main, s->workers[i]);
		if (err)
			break;
	}
	*nr_threads = i - 1;
	pthread_mutex_lock(&start_lock);
	while (nr_started < *nr_threads)
		pthread_cond_wait(&start_cond, &start_lock);
	pthread_mutex_unlock(&start_lock);
	for (i = 1; i <= *nr_threads && !err; i++)
		err = s->workers[i]->init_err;
	return err;
}

static void stop_threads(struct sched *s, unsigned nr_threads)
{
	unsigned i;

	/* Full barrier before waking them; pairs with the loads of
	 * stopping in park_worker() and find_runnable(), which re-check it
	 * after every wake-up. */
	ck_pr_cas_uint(&s->stopping, 0, 1);
	weft__wake_all();
	for (i = 1; i <= nr_threads; i++)
		pthread_join(s->workers[i]->thread, NULL);
}

/*
 * Set up every worker's poller with @backend: worker 0's here, the others
 * on their threads, which start running. With WEFT_BACKEND_AUTO, a refusal
 * of io_uring on any worker stops the started threads and starts them all
 * again on epoll. On failure nothing is left running.
 */
static int start_workers(struct sched *s, unsigned backend,
			 unsigned *nr_threads)
{
	bool refused;
	unsigned i;
	int err;

	weft__poller = backend == WEFT_BACKEND_EPOLL ? &weft__poller_epoll
						     : &weft__poller_uring;
	/* Worker 0 is the caller; debuggers match workers to threads by
	 * this (tools/gdb/weft.py). */
	s->workers[0]->thread = pthread_self();
	for (;;) {
		*nr_threads = 0;
		err = worker_thread_init(s->workers[0]);
		if (!err) {
			err = start_threads(s, nr_threads);
			if (!err)
				return 0;
			stop_threads(s, *nr_threads);
			ck_pr_store_uint(&s->stopping, 0);
		}
		worker_thread_fini(s->workers[0]);
		refused = false;
		for (i = 0; i < s->nr_workers; i++) {
			struct worker *w = s->workers[i];

			weft__poller->fini(w);
			if (!refused && uring_refused(w->poller_err)) {
				refused = true;
				err = w->poller_err;
			}
			w->poller_err = 0;
		}
		if (weft__poller != &weft__poller_uring || !refused)
			break;
		if (backend != WEFT_BACKEND_AUTO) {
			if (err != -ENOMEM) {
				report_no_uring(err);
				err = -ENOSYS;
			}
			break;
		}
		report_fallback(err);
		weft__poller = &weft__poller_epoll;
	}
	return err;
}

static void teardown(struct sched *s)
{
	unsigned i;

	/* Every fiber has ended, so no job is queued or running. */
	weft__blocking_fini();
	for (i = 0; i < s->nr_workers; i++)
		if (s->workers[i])
			worker_destroy(s->workers[i]);
	free(s->workers);
	weft__record_fini();
	weft__overflow_uninstall();
	memset(s, 0, sizeof(*s));
}

int weft_run(const struct weft_config *cfg, void (*main_fn)(void *),
	     void *arg)
{
	static const struct weft_config defaults;
	struct weft_config known;
	struct sched *s = &weft__sched;
	struct worker **workers;
	unsigned n, i, nr_threads = 0;
	int err;

	/* A program linked with libweft.a keeps debug.c's descriptor. */
	__asm__ volatile("" : : "r"(&weft__debug));
	if (!cfg)
		cfg = &defaults;
	if (!main_fn)
		return -EINVAL;
	/* The fields the caller's weft.h has; the rest are defaults. */
	err = weft__abi_copy_in(&known, sizeof(known), cfg, cfg->size,
				WEFT_CONFIG_SIZE_V1);
	if (err)
		return err;
	cfg = &known;
	err = check_config(cfg);
	if (err)
		return err;
	if (weft__worker_self())
		return -EBUSY;
	pthread_mutex_lock(&run_lock);
	if (running) {
		pthread_mutex_unlock(&run_lock);
		return -EBUSY;
	}
	running = true;
	pthread_mutex_unlock(&run_lock);

	n = cfg->workers ? cfg->workers : default_workers();
	/* Before any worker exists; fixed while they run. */
	weft__chaos_seed = chosen_chaos_seed(cfg);
	memset(s, 0, sizeof(*s));
	s->nr_workers = n;
	s->light_inline = n == 1 && weft__abarrier_register();
	s->stack_size = weft__stack_round(cfg->stack_size);
	/* 0 (none) if that would be over 1 GiB. */
	s->host_stack_size = weft__stack_round(WEFT_HOST_STACK_SCALE *
					       s->stack_size);
	s->ring_entries = cfg->ring_entries ? cfg->ring_entries
					    : RING_ENTRIES_DEFAULT;
	if (weft__chaos_seed)
		chosen_chaos_io(s);
	weft__injq_init(&s->inject);
	spin_init(&s->idle_lock);
	s->all_asleep = weft__monitor_all_asleep;
	weft__blocking_init(cfg->blocking_threads ? cfg->blocking_threads
						  : BLOCKING_THREADS_DEFAULT);

	err = -ENOMEM;
	workers = calloc(n, sizeof(*workers));
	if (!workers)
		goto out_unlock;
	for (i = 0; i < n; i++) {
		workers[i] = worker_create(i);
		if (!workers[i])
			goto out_free_workers;
	}
	err = weft__overflow_install();
	if (err)
		goto out_free_workers;
	/* Published before any thread can look at it. */
	ck_pr_store_ptr(&s->workers, workers);

	/* Rings for the workers and the monitor, before any of them runs. */
	(void)weft__trace_start(n);
	weft__latency_start();
	/* Before any thread of ours starts: they inherit its signal mask. */
	weft__dump_signal_start();
	err = start_workers(s, chosen_backend(cfg), &nr_threads);
	if (err)
		goto out_no_poller;
	err = weft__monitor_start(chosen_stall_ms(cfg));
	if (err)
		goto out_stop;
	err = weft__fiber_spawn_main(workers[0], main_fn, arg,
				     weft__monitor_shutdown_begun);
	if (err)
		goto out_stop;

	weft__worker_loop(workers[0]);
	weft__monitor_stop();
	stop_threads(s, nr_threads);
	worker_thread_fini(workers[0]);
	/* Nothing writes to the rings any more. */
	weft__trace_stop();
	weft__dump_signal_stop();
	err = ck_pr_load_uint(&s->deadlocked) ? -EDEADLK : 0;
	teardown(s);
	goto out_unlock;

out_stop:
	weft__monitor_stop();
	stop_threads(s, nr_threads);
	worker_thread_fini(workers[0]);
out_no_poller:
	weft__trace_stop();
	weft__dump_signal_stop();
	teardown(s);
	goto out_unlock;
out_free_workers:
	for (i = 0; i < n; i++)
		if (workers[i])
			worker_destroy(workers[i]);
	free(workers);
	memset(s, 0, sizeof(*s));
out_unlock:
	pthread_mutex_lock(&run_lock);
	running = false;
	pthread_mutex_unlock(&run_lock);
	return err;
}

/* The latency figures of @n workers into four counters. */
static void latency_of(struct worker *const *w, unsigned n,
		       uint64_t *samples, uint64_t *p50, uint64_t *p99,
		       uint64_t *max)
{
	struct latency_hist *h[WEFT_WORKERS_MAX];
	struct latency_figures lf;

	for (unsigned i = 0; i < n; i++)
		h[i] = &w[i]->lat;
	weft__latency_figures(h, n, &lf);
	*samples = lf.samples;
	*p50 = lf.p50_ns;
	*p99 = lf.p99_ns;
	*max = lf.max_ns;
}

int weft_stats(struct weft_stats *user)
{
	struct sched *s = &weft__sched;
	struct worker **workers = ck_pr_load_ptr(&s->workers);
	struct weft_stats st, *out = &st;
	uint64_t exited = 0;
	unsigned i;

	if (!workers || !user)
		return workers ? -EINVAL : -EPERM;
	memset(out, 0, sizeof(*out));
	out->workers = s->nr_workers;
	for (i = 0; i < s->nr_workers; i++) {
		struct worker *w = workers[i];

		/* Each counter is owner-written; stale reads are fine. */
		exited += ck_pr_load_64(&w->nr_exited);
		out->spawned += ck_pr_load_64(&w->nr_spawned);
		out->steals += ck_pr_load_64(&w->nr_steals);
		out->rescued += ck_pr_load_64(&w->nr_rescued);
		out->parks += ck_pr_load_64(&w->nr_parks);
	}
	out->live = out->spawned > exited ? out->spawned - exited : 0;
	weft__stack_counts(&out->stacks_mapped, &out->stacks_guarded);
	out->stack_guard = weft__stack_guard_mechanism();
	out->records = weft__record_resident();
	out->backend = weft__poller->backend;
	latency_of(workers, s->nr_workers, &out->latency_samples,
		   &out->latency_p50_ns, &out->latency_p99_ns,
		   &out->latency_max_ns);
	/* Only the part the caller's weft.h knows. */
	return weft__abi_copy_out(user, user->size, out, sizeof(*out),
				  WEFT_STATS_SIZE_V1);
}

int weft_worker_stats(unsigned worker, struct weft_worker_stats *user)
{
	struct sched *s = &weft__sched;
	struct worker **workers = ck_pr_load_ptr(&s->workers);
	struct weft_worker_stats st, *out = &st;
	struct worker *w;

	if (!workers)
		return -EPERM;
	if (!user || worker >= s->nr_workers)
		return -EINVAL;
	w = workers[worker];
	memset(out, 0, sizeof(*out));
	/* Owner-written counters; stale reads are fine. */
	out->steals = ck_pr_load_64(&w->nr_steals);
	out->parks = ck_pr_load_64(&w->nr_parks);
	out->rescued = ck_pr_load_64(&w->nr_rescued);
	latency_of(&workers[worker], 1, &out->latency_samples,
		   &out->latency_p50_ns, &out->latency_p99_ns,
		   &out->latency_max_ns);
	return weft__abi_copy_out(user, user->size, out, sizeof(*out),
				  WEFT_WORKER_STATS_SIZE_V1);
}
