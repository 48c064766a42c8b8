/* SPDX-License-Identifier: MIT */
/*
 * The deadlock check: is every fiber asleep on a wait that nothing can
 * end? Then say so, with what each one waits on, and end them all, so
 * that weft_run() returns -EDEADLK instead of hanging (Go's checkdead,
 * "all goroutines are asleep - deadlock!").
 *
 * Nothing can end a wait when, all at once:
 *   - every worker sleeps in its poller with no owned wait (sched.c sets
 *     w->asleep): no I/O in flight, no timer (so no sleep and no timed
 *     wait), no cancel request in its inbox; and no work is queued;
 *   - the blocking pool runs and holds no job;
 *   - no thread outside weft exists that might call weft_chan_close(),
 *     weft_mutex_unlock(), weft_cancel() and the other calls that any
 *     thread may make. weft cannot know what a thread will do, so it
 *     counts them: the process's threads (/proc/self/task, less the
 *     kernel's io_uring workers, "iou-*") against weft's own (workers,
 *     monitor, dump thread, pool threads; in a TSan build, TSan's
 *     background thread is left out too). Any other thread turns the
 *     check off while it lives: a false report would kill a correct
 *     program, a missed one only leaves a hang as it was.
 * A live fiber then can only be parked, and nothing inside the runtime
 * can run to wake it. The monitor looks when the last worker falls
 * asleep (sched.all_asleep) and once a second, and confirms CONFIRM_MS
 * later that no worker has woken meanwhile (nr_parks unchanged) before
 * it counts threads and reports: the look is a racy snapshot, the two
 * looks apart with nothing moving are not.
 *
 * Ending it: weft__fiber_break_deadlock() ends every wait, mutex waits
 * included (weft_mutex_lock returns -EDEADLK, without the lock), begins
 * shutdown if the main fiber has not returned, and weft_run() returns
 * -EDEADLK once every fiber has ended.
 */
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ck_pr.h>

#include "deadlock.h"
#include "dump.h"
#include "fiber.h"
#include "scheduler.h"

/* What the first look saw, for the second to compare; monitor only. */
static uint64_t parks_seen[WEFT_WORKERS_MAX];

/* Every condition above but the thread count; records nr_parks in @parks. */
static bool all_asleep_now(uint64_t *parks, unsigned *pool_threads)
{
	struct sched *s = &weft__sched;
	unsigned i;

	if (ck_pr_load_uint(&s->stopping) || ck_pr_load_uint(&s->deadlocked))
		return false;
	for (i = 0; i < s->nr_workers; i++) {
		struct worker *w = s->workers[i];

		if (!ck_pr_load_uint(&w->asleep))
			return false;
		parks[i] = ck_pr_load_64(&w->nr_parks);
		if (weft__runq_len(&w->rq) || weft__forkq_len(&w->fq) ||
		    ck_pr_load_ptr(&w->inbox))
			return false;
	}
	if (weft__injq_len(&s->inject))
		return false;
	if (!weft__blocking_idle(pool_threads))
		return false;
	return weft__any_fiber_alive();
}

#ifdef WEFT_TSAN
/*
 * ThreadSanitizer's background thread, which a TSan build has once any
 * thread was started (but not in a child forked after that: TSan does not
 * start it again), blocks every signal, SIGSEGV included, which no thread
 * that runs code can afford; it is told apart so.
 */
static bool tsan_thread(const char *tid)
{
	char path[300], line[128];
	unsigned long long blocked;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%s/status", tid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "SigBlk: %llx", &blocked) == 1) {
			found = blocked & (1ull << (SIGSEGV - 1));
			break;
		}
	fclose(f);
	return found;
}
#else
static bool tsan_thread(const char *tid)
{
	(void)tid;
	return false;
}
#endif

/* The process's threads, less the kernel's io_uring workers (and TSan's
 * own); 0 if unknown. */
static unsigned count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	unsigned n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[sizeof(e->d_name) + 32], comm[32] = "";
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(path, "re");
		if (f) {
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = '\0';
			fclose(f);
		}
		if (strncmp(comm, "iou-", 4) != 0 && !tsan_thread(e->d_name))
			n++;
	}
	closedir(d);
	return n;
}

bool weft__deadlock_look(void)
{
	unsigned pool_threads;

	return all_asleep_now(parks_seen, &pool_threads);
}

static void report(void)
{
	struct weft__fiber_list l;
	char head[300];
	int n;

	/* Out of memory, it still names those it could. */
	(void)weft__fiber_list(&l, false);
	n = snprintf(head, sizeof(head),
		     "weft: deadlock: all %u fiber%s asleep, and nothing can "
		     "wake one (no I/O in flight, no timer, no blocking call, "
		     "no thread outside weft); weft_run() ends them and "
		     "returns -EDEADLK:\n",
		     l.nr, l.nr == 1 ? " is" : "s are");
	if (n > 0)
		(void)!write(2, head, (size_t)n < sizeof(head) ? (size_t)n
							 : sizeof(head) - 1);
	if (l.text)
		(void)!write(2, l.text, l.len);
	free(l.text);
}

bool weft__deadlock_confirm(void)
{
	struct sched *s = &weft__sched;
	uint64_t parks[WEFT_WORKERS_MAX];
	unsigned pool_threads, ours, i;

	if (!all_asleep_now(parks, &pool_threads))
		return false;
	for (i = 0; i < s->nr_workers; i++)
		if (parks[i] != parks_seen[i])
			return false;
	/* Workers (worker 0 is weft_run's caller), the monitor, the dump
	 * thread, the pool's threads. */
	ours = s->nr_workers + 1 + weft__dump_threads() + pool_threads;
	if (count_threads() != ours)
		return false;
	report();
	weft__fiber_break_deadlock();
	return true;
}
