/* SPDX-License-Identifier: MIT */
/*
 * The blocking pool: a few OS threads that run calls which cannot go
 * through io_uring (getaddrinfo, heavy computation, a foreign library)
 * while the calling fiber is parked and its worker runs other fibers.
 *
 * A fiber parks first; its unlock callback, which runs once the fiber is
 * off its stack, queues the job and starts another pool thread if none
 * is idle and the pool is below its size. A pool thread runs the call and
 * wakes the fiber with weft__ready() from outside the workers, which goes
 * through the global queue and a worker's eventfd. The wait cannot be
 * cancelled (the call may be using the fiber's stack): a cancellation is
 * delivered at the fiber's next suspension instead.
 *
 * The pool lives as long as the runtime; threads are started on demand
 * and joined when weft_run() ends. Protected by pool.lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include <ck_pr.h>

#include "fiber.h"
#include "list.h"
#include "scheduler.h"

struct job {
	void *(*fn)(void *);
	void *arg;
	void *result;		/* written by the pool thread           */
	weft_token token;	/* the parked caller                    */
	struct list_node link;	/* on pool.jobs; protected by pool.lock */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* jobs queued, or stopping             */
	struct list jobs;	/* FIFO of jobs not yet taken           */
	unsigned nr_threads;	/* threads started                      */
	unsigned nr_idle;	/* threads waiting for a job            */
	unsigned max_threads;	/* from weft_config; fixed while running */
	bool stopping;
	pthread_t threads[WEFT_BLOCKING_MAX];
} pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

static void *pool_thread(void *arg)
{
	struct list_node *n;
	struct job *j;

	(void)arg;
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		while (list_empty(&pool.jobs) && !pool.stopping) {
			pool.nr_idle++;
			pthread_cond_wait(&pool.cond, &pool.lock);
			pool.nr_idle--;
		}
		n = list_pop_front(&pool.jobs);
		if (!n)
			break;
		j = list_entry(n, struct job, link);
		pthread_mutex_unlock(&pool.lock);
		j->result = j->fn(j->arg);
		/* Cannot fail: the wait is not cancellable and ours alone. */
		weft_assert(weft__ready(j->token, 0));
		pthread_mutex_lock(&pool.lock);
	}
	pthread_mutex_unlock(&pool.lock);
	return NULL;
}

/* Post-switch half of weft_blocking(): queue the job. */
static bool queue_job(struct fiber *self, void *arg)
{
	struct job *j = arg;

	(void)self;
	pthread_mutex_lock(&pool.lock);
	list_push_back(&pool.jobs, &j->link);
	/* Grow on demand. If a thread cannot be started the job still runs
	 * on one of the others; weft_blocking() made sure there is one. */
	if (pool.nr_idle == 0 && pool.nr_threads < pool.max_threads &&
	    pthread_create(&pool.threads[pool.nr_threads], NULL, pool_thread,
			   NULL) == 0)
		pool.nr_threads++;
	pthread_cond_signal(&pool.cond);
	pthread_mutex_unlock(&pool.lock);
	return true;
}

int weft_blocking(void *(*fn)(void *), void *arg, void **result)
{
	struct worker *w = weft__may_suspend();
	struct fiber *f;
	struct job j;
	int err = 0;

	if (!fn)
		return -EINVAL;
	if (!w)
		return -EPERM;
	/* Make sure at least one thread exists before parking: a job must
	 * never be queued with nobody to run it. */
	pthread_mutex_lock(&pool.lock);
	if (pool.nr_threads == 0) {
		err = -pthread_create(&pool.threads[0], NULL, pool_thread, NULL);
		if (!err)
			pool.nr_threads = 1;
	}
	pthread_mutex_unlock(&pool.lock);
	if (err)
		return err;

	f = w->cur;
	j.fn = fn;
	j.arg = arg;
	j.result = NULL;
	j.token = weft__park_token(w);
	fiber_waits_on(f, WAIT_BLOCKING, (uint64_t)(uintptr_t)fn);
	/* Not cancellable: see the top of the file. */
	ck_pr_store_ptr(&f->wait_owner, WAIT_NO_CANCEL);
	weft__park(w, queue_job, &j);
	ck_pr_store_ptr(&f->wait_owner, NULL);
	if (result)
		*result = j.result;
	return 0;
}

void weft__blocking_init(unsigned max_threads)
{
	pthread_mutex_lock(&pool.lock);
	pool.max_threads = max_threads;
	pool.stopping = false;
	pthread_mutex_unlock(&pool.lock);
}

bool weft__blocking_idle(unsigned *threads)
{
	bool idle;

	pthread_mutex_lock(&pool.lock);
	/* A thread not waiting for a job is running one, or is about to
	 * wake its caller. */
	idle = list_empty(&pool.jobs) && pool.nr_idle == pool.nr_threads;
	*threads = pool.nr_threads;
	pthread_mutex_unlock(&pool.lock);
	return idle;
}

void weft__blocking_fini(void)
{
	unsigned i, n;

	pthread_mutex_lock(&pool.lock);
	pool.stopping = true;
	n = pool.nr_threads;
	pthread_cond_broadcast(&pool.cond);
	pthread_mutex_unlock(&pool.lock);
	for (i = 0; i < n; i++)
		pthread_join(pool.threads[i], NULL);
	pthread_mutex_lock(&pool.lock);
	pool.nr_threads = 0;
	list_init(&pool.jobs);
	pthread_mutex_unlock(&pool.lock);
}
