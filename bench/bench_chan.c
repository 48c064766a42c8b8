/* SPDX-License-Identifier: MIT */
/*
 * bench_chan: what passing a value from one thread of control to another
 * costs through weft's channels and mutex, each beside the closest
 * pthread equivalent, all measured side by side in one run.
 *
 *   chan.pingpong             two fibers on one worker (workers = 1,
 *                             pinned to one CPU) pass a counter back and
 *                             forth over two unbuffered channels; ns per
 *                             handoff (a round trip is two handoffs)
 *   chan.pingpong.2workers    the same with two workers, unpinned; a note
 *                             says how often the two fibers shared a
 *                             worker
 *   chan.pingpong.condvar     two pthreads doing the same through two
 *                             one-slot mailboxes (a mutex and two condition
 *                             variables each), unpinned; ns per handoff
 *   chan.pingpong.condvar.samecore
 *                             the same, both threads pinned to one CPU
 *   chan.buffered.<P>pair(s)  P producer and P consumer fibers on all the
 *                             workers sharing one channel of capacity 128,
 *                             P = 1, 4, 16; ns per item
 *   chan.buffered.pthread.<P>pair(s)
 *                             P producer and P consumer pthreads sharing a
 *                             bounded queue of 128 (a mutex and two
 *                             condition variables); ns per item
 *   mutex.contended           4 fibers on all the workers, each locking
 *                             one weft_mutex, incrementing a counter and
 *                             unlocking in a loop; ns per lock + unlock
 *   mutex.contended.pthread   4 pthreads doing the same on one
 *                             pthread_mutex_t
 *
 * Each run measures every row once, in that order, so that a noisy moment
 * on a shared machine spreads over all the rows instead of spoiling one.
 * Every measurement is preceded by a warm-up of a tenth of its size (in
 * the same weft_run, or in the same way). The ping-pong rows are timed
 * by the pinger; the many-party rows start their fibers or threads
 * together (a closed channel or a barrier) and run from the earliest
 * start any of them notes to the latest end. Every row checks its own work
 * (values echoed, item counts and sums, the counter) and the program
 * exits 1 if one is wrong. The ratio column is relative to chan.pingpong.
 *
 * --workers N sets the worker count of the all-workers rows (default:
 * one per online CPU); chan.pingpong and chan.pingpong.2workers keep 1
 * and 2.
 *
 * Threads: the main thread (weft's worker 0 in the weft rows), the other
 * workers, and up to 32 pthreads per pthread row.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "weft.h"

/* Operations per run (full, --quick); a warm-up is a tenth. */
#define PP_HANDOFFS		2000000ull
#define PP_HANDOFFS_QUICK	200000ull
#define CV_HANDOFFS		50000ull
#define CV_HANDOFFS_QUICK	4000ull
#define BUF_ITEMS		1000000ull
#define BUF_ITEMS_QUICK		80000ull
#define TQ_ITEMS		200000ull
#define TQ_ITEMS_QUICK		20000ull
#define MUTEX_OPS		2000000ull
#define MUTEX_OPS_QUICK		100000ull

/* Capacity of the buffered channel and of the pthread queue. */
#define QUEUE_CAP	128u
/* Fibers or threads of the mutex rows. */
#define MUTEX_PARTIES	4u
/* The largest pair count; sizes the handle arrays. */
#define PAIRS_MAX	16u

/* Targets (ns, and a ratio): a ping-pong over an unbuffered channel,
 * and how many times faster than a mutex and condition variable. */
#define TARGET_PINGPONG_NS	50.0
#define TARGET_CONDVAR_RATIO	20.0

enum row_id {
	ROW_PP,
	ROW_PP2,
	ROW_CV,
	ROW_CV_SAME,
	ROW_BUF1,
	ROW_BUF4,
	ROW_BUF16,
	ROW_TQ1,
	ROW_TQ4,
	ROW_TQ16,
	ROW_MUTEX,
	ROW_PMUTEX,
	NR_ROWS
};

static const char *const row_names[NR_ROWS] = {
	[ROW_PP] = "chan.pingpong",
	[ROW_PP2] = "chan.pingpong.2workers",
	[ROW_CV] = "chan.pingpong.condvar",
	[ROW_CV_SAME] = "chan.pingpong.condvar.samecore",
	[ROW_BUF1] = "chan.buffered.1pair",
	[ROW_BUF4] = "chan.buffered.4pairs",
	[ROW_BUF16] = "chan.buffered.16pairs",
	[ROW_TQ1] = "chan.buffered.pthread.1pair",
	[ROW_TQ4] = "chan.buffered.pthread.4pairs",
	[ROW_TQ16] = "chan.buffered.pthread.16pairs",
	[ROW_MUTEX] = "mutex.contended",
	[ROW_PMUTEX] = "mutex.contended.pthread",
};

/* Pair counts of the buffered rows, in row order. */
static const unsigned buf_pairs[3] = { 1, 4, 16 };

/* Worker count of the all-workers rows; 0: one per online CPU. */
static unsigned all_workers;

/* A weft call that must not fail here. Any thread. */
static void check(int err, const char *what)
{
	if (err)
		bench_fail("%s: %s", what, strerror(-err));
}

static void check_pthread(int err, const char *what)
{
	if (err)
		bench_fail("%s: %s", what, strerror(err));
}

/*
 * A start gate for fibers: each waits to receive from a channel of
 * empty elements that the main fiber closes once they are all spawned,
 * so they start together, as a barrier would start threads.
 */
static void gate_wait(weft_chan *gate)
{
	int err = weft_chan_recv(gate, NULL);

	if (err != -EPIPE)
		bench_fail("start gate: recv gave %d, want -EPIPE", err);
}

/* Run main_fn(job) in a weft_run with @workers workers. */
static void run_weft(unsigned workers, void (*main_fn)(void *), void *job)
{
	struct weft_config cfg = { .workers = workers };

	check(weft_run(&cfg, main_fn, job), "weft_run");
}

/* Unbuffered ping-pong over channels ------------------------------------- */

/*
 * The pinger sends i on ping; the ponger receives it and sends i + 1 back
 * on pong. What the ponger writes here before it sends reaches the pinger
 * through the channel's handoff, so plain fields do.
 */
struct cpp {
	weft_chan *ping;	/* pinger -> ponger                          */
	weft_chan *pong;	/* ponger -> pinger                          */
	uint64_t warm;		/* warm-up round trips                       */
	uint64_t rounds;	/* measured round trips                      */
	uint64_t t0;		/* measured part starts                      */
	uint64_t t1;		/* measured part ends                        */
	bool track;		/* note where the fibers run (2workers row) */
	/* Written only with track set. */
	unsigned pong_worker;	/* worker the ponger ran on last             */
	uint64_t same;		/* measured round trips whose reply came from
				 * the pinger's own worker                   */
	uint64_t moves;		/* measured round trips after which the
				 * pinger was on another worker than before  */
	struct weft_stats st0;	/* the runtime's counters as the measured
				 * part starts                               */
	uint64_t parks;		/* workers went to sleep in the measured part */
	uint64_t steals;	/* steals in the measured part               */
};

static void *cpp_pinger(void *arg)
{
	struct cpp *s = arg;
	uint64_t total = s->warm + s->rounds;
	unsigned prev = weft_worker_id();
	struct weft_stats st = { .size = sizeof(st) };
	unsigned w;
	uint64_t i, v;

	for (i = 0; i < total; i++) {
		if (i == s->warm) {
			if (s->track) {
				s->st0.size = sizeof(s->st0);
				check(weft_stats(&s->st0), "weft_stats");
			}
			s->t0 = bench_now_ns();
		}
		v = i;
		check(weft_chan_send(s->ping, &v), "chan.pingpong: send");
		check(weft_chan_recv(s->pong, &v), "chan.pingpong: recv");
		if (v != i + 1)
			bench_fail("chan.pingpong: sent %llu, got back %llu",
				   (unsigned long long)i,
				   (unsigned long long)v);
		if (i < s->warm || !s->track)
			continue;
		w = weft_worker_id();
		s->same += s->pong_worker == w;
		s->moves += w != prev;
		prev = w;
	}
	s->t1 = bench_now_ns();
	if (s->track) {
		check(weft_stats(&st), "weft_stats");
		s->parks = st.parks - s->st0.parks;
		s->steals = st.steals - s->st0.steals;
	}
	return NULL;
}

static void *cpp_ponger(void *arg)
{
	struct cpp *s = arg;
	uint64_t total = s->warm + s->rounds;
	uint64_t i, v;

	for (i = 0; i < total; i++) {
		check(weft_chan_recv(s->ping, &v), "chan.pingpong: recv");
		if (s->track)
			s->pong_worker = weft_worker_id();
		v++;
		check(weft_chan_send(s->pong, &v), "chan.pingpong: send");
	}
	/* The main fiber closes ping once the pinger is done: nothing more
	 * may come. */
	if (weft_chan_recv(s->ping, &v) != -EPIPE)
		bench_fail("chan.pingpong: an extra value arrived");
	return NULL;
}

/* The job of one weft_run: a ping-pong of rounds round trips. */
struct cpp_job {
	uint64_t rounds;	/* measured round trips                      */
	bool track;		/* note where the fibers ran                 */
	uint64_t elapsed_ns;	/* result: time of 2 * rounds handoffs       */
	uint64_t same;		/* result: see struct cpp                    */
	uint64_t moves;		/* result: see struct cpp                    */
	uint64_t parks;		/* result: see struct cpp                    */
	uint64_t steals;	/* result: see struct cpp                    */
};

static void cpp_main(void *arg)
{
	struct cpp_job *job = arg;
	struct cpp s = { .warm = job->rounds / 10, .rounds = job->rounds,
			 .track = job->track };
	weft_fiber *f[2];

	check(weft_chan_new(&s.ping, sizeof(uint64_t), 0), "weft_chan_new");
	check(weft_chan_new(&s.pong, sizeof(uint64_t), 0), "weft_chan_new");
	check(weft_spawn(&f[0], cpp_ponger, &s, NULL), "weft_spawn");
	check(weft_spawn(&f[1], cpp_pinger, &s, NULL), "weft_spawn");
	check(weft_join(f[1], NULL), "weft_join");
	check(weft_chan_close(s.ping), "weft_chan_close");
	check(weft_join(f[0], NULL), "weft_join");
	weft_chan_free(s.ping);
	weft_chan_free(s.pong);
	job->elapsed_ns = s.t1 - s.t0;
	job->same = s.same;
	job->moves = s.moves;
	job->parks = s.parks;
	job->steals = s.steals;
}

/* Pinned to @cpu when @workers is 1; returns the ns of 2 * rounds handoffs. */
static uint64_t measure_cpp(struct cpp_job *job, unsigned workers, int cpu)
{
	if (workers == 1)
		bench_pin(cpu);
	run_weft(workers, cpp_main, job);
	if (workers == 1)
		bench_unpin();
	return job->elapsed_ns;
}

/* Condvar ping-pong between two threads ---------------------------------- */

/* A one-slot mailbox: put waits while it is full, take while it is empty. */
struct mbox {
	pthread_mutex_t lock;
	pthread_cond_t nonempty;	/* signalled by put                  */
	pthread_cond_t nonfull;		/* signalled by take                 */
	/* Protected by lock. */
	bool full;
	uint64_t val;
};

static void mbox_init(struct mbox *m)
{
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->nonempty, NULL);
	pthread_cond_init(&m->nonfull, NULL);
	m->full = false;
}

static void mbox_fini(struct mbox *m)
{
	pthread_cond_destroy(&m->nonfull);
	pthread_cond_destroy(&m->nonempty);
	pthread_mutex_destroy(&m->lock);
}

static void mbox_put(struct mbox *m, uint64_t v)
{
	pthread_mutex_lock(&m->lock);
	while (m->full)
		pthread_cond_wait(&m->nonfull, &m->lock);
	m->val = v;
	m->full = true;
	pthread_cond_signal(&m->nonempty);
	pthread_mutex_unlock(&m->lock);
}

static uint64_t mbox_take(struct mbox *m)
{
	uint64_t v;

	pthread_mutex_lock(&m->lock);
	while (!m->full)
		pthread_cond_wait(&m->nonempty, &m->lock);
	v = m->val;
	m->full = false;
	pthread_cond_signal(&m->nonfull);
	pthread_mutex_unlock(&m->lock);
	return v;
}

/* As struct cpp, with mailboxes for channels and threads for fibers. */
struct tpp {
	struct mbox ping;	/* pinger -> ponger                          */
	struct mbox pong;	/* ponger -> pinger                          */
	uint64_t warm;		/* warm-up round trips                       */
	uint64_t rounds;	/* measured round trips                      */
	uint64_t t0;		/* measured part starts (pinger)             */
	uint64_t t1;		/* measured part ends (pinger)               */
};

static void *tpp_pinger(void *arg)
{
	struct tpp *s = arg;
	uint64_t total = s->warm + s->rounds;
	uint64_t i, v;

	for (i = 0; i < total; i++) {
		if (i == s->warm)
			s->t0 = bench_now_ns();
		mbox_put(&s->ping, i);
		v = mbox_take(&s->pong);
		if (v != i + 1)
			bench_fail("chan.pingpong.condvar: sent %llu, got back "
				   "%llu", (unsigned long long)i,
				   (unsigned long long)v);
	}
	s->t1 = bench_now_ns();
	return NULL;
}

static void *tpp_ponger(void *arg)
{
	struct tpp *s = arg;
	uint64_t total = s->warm + s->rounds;
	uint64_t i;

	for (i = 0; i < total; i++)
		mbox_put(&s->pong, mbox_take(&s->ping) + 1);
	return NULL;
}

/*
 * A ping-pong of @rounds round trips (after rounds / 10 to warm up)
 * between two threads, both pinned to @cpu unless it is negative.
 * Returns the ns that 2 * rounds handoffs took.
 */
static uint64_t measure_tpp(uint64_t rounds, int cpu)
{
	struct tpp s = { .warm = rounds / 10, .rounds = rounds };
	void *(*fn[2])(void *) = { tpp_pinger, tpp_ponger };
	pthread_attr_t attr;
	pthread_t t[2];
	int i;

	mbox_init(&s.ping);
	mbox_init(&s.pong);
	for (i = 0; i < 2; i++) {
		pthread_attr_init(&attr);
		if (cpu >= 0)
			bench_attr_pin(&attr, cpu);
		check_pthread(pthread_create(&t[i], &attr, fn[i], &s),
			      "pthread_create");
		pthread_attr_destroy(&attr);
	}
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	if (s.ping.full || s.pong.full)
		bench_fail("chan.pingpong.condvar: a mailbox is still full");
	mbox_fini(&s.ping);
	mbox_fini(&s.pong);
	return s.t1 - s.t0;
}

/* Many-party rows: timing and checking ----------------------------------- */

/*
 * Each party (fiber or thread) of a many-party row notes when it starts,
 * right after the start gate, and when it has finished its part; the
 * row's time runs from the earliest start to the latest end. Timing in
 * the parties rather than in the main thread keeps out how late the main
 * thread happens to be scheduled, which on a loaded machine can be after
 * all the work is done.
 */
struct span {
	uint64_t start;		/* the party passed the start gate           */
	uint64_t end;		/* the party finished                        */
};

static uint64_t span_elapsed(const struct span *s, unsigned n)
{
	uint64_t start = UINT64_MAX, end = 0;
	unsigned i;

	for (i = 0; i < n; i++) {
		if (s[i].start < start)
			start = s[i].start;
		if (s[i].end > end)
			end = s[i].end;
	}
	return end - start;
}

/* What one consumer got. */
struct tally {
	uint64_t count;		/* values received                           */
	uint64_t sum;		/* their sum                                 */
};

/*
 * Producer p sends the values p * per + 1 .. (p + 1) * per; each consumer
 * takes values until the queue is closed and drained. Together the
 * consumers must have got every value once: count n = pairs * per, sum
 * n * (n + 1) / 2.
 */
static void check_items(const char *name, const struct tally *t,
			unsigned pairs, uint64_t per)
{
	uint64_t n = pairs * per, got = 0, total = 0;
	unsigned i;

	for (i = 0; i < pairs; i++) {
		got += t[i].count;
		total += t[i].sum;
	}
	if (got != n || total != n * (n + 1) / 2)
		bench_fail("%s: consumers got %llu items summing to %llu, "
			   "want %llu summing to %llu", name,
			   (unsigned long long)got, (unsigned long long)total,
			   (unsigned long long)n,
			   (unsigned long long)(n * (n + 1) / 2));
}

/* Buffered channel, P producers and P consumers ------------------------- */

struct bq {
	weft_chan *c;		/* the shared channel, capacity QUEUE_CAP    */
	weft_chan *gate;	/* closed to start everyone                  */
	uint64_t per;		/* values per producer                       */
};

/* One party's own data: nobody else touches it until it is joined. */
struct bq_arg {
	struct bq *q;
	unsigned idx;		/* producer number                           */
	struct tally got;	/* consumer's result                         */
	struct span *span;	/* where to note its start and end           */
};

static void *bq_producer(void *arg)
{
	struct bq_arg *a = arg;
	struct bq *q = a->q;
	uint64_t base = a->idx * q->per;
	uint64_t k, v;

	gate_wait(q->gate);
	a->span->start = bench_now_ns();
	for (k = 1; k <= q->per; k++) {
		v = base + k;
		check(weft_chan_send(q->c, &v), "chan.buffered: send");
	}
	a->span->end = bench_now_ns();
	return NULL;
}

static void *bq_consumer(void *arg)
{
	struct bq_arg *a = arg;
	struct bq *q = a->q;
	uint64_t count = 0, sum = 0, v;
	int err;

	gate_wait(q->gate);
	a->span->start = bench_now_ns();
	while ((err = weft_chan_recv(q->c, &v)) == 0) {
		count++;
		sum += v;
	}
	a->span->end = bench_now_ns();
	if (err != -EPIPE)
		check(err, "chan.buffered: recv");
	a->got.count = count;
	a->got.sum = sum;
	return NULL;
}

/* Move pairs * per items; returns the ns they took. Fiber context only. */
static uint64_t bq_run(const char *name, unsigned pairs, uint64_t per)
{
	struct bq q = { .per = per };
	struct bq_arg prod[PAIRS_MAX], cons[PAIRS_MAX];
	struct span spans[2 * PAIRS_MAX];
	struct tally got[PAIRS_MAX] = { { 0, 0 } };
	weft_fiber *pf[PAIRS_MAX], *cf[PAIRS_MAX];
	unsigned i;

	check(weft_chan_new(&q.c, sizeof(uint64_t), QUEUE_CAP),
	      "weft_chan_new");
	check(weft_chan_new(&q.gate, 0, 0), "weft_chan_new");
	for (i = 0; i < pairs; i++) {
		prod[i] = (struct bq_arg){ .q = &q, .idx = i,
					   .span = &spans[i] };
		cons[i] = (struct bq_arg){ .q = &q, .span = &spans[pairs + i] };
		check(weft_spawn(&cf[i], bq_consumer, &cons[i], NULL),
		      "weft_spawn");
		check(weft_spawn(&pf[i], bq_producer, &prod[i], NULL),
		      "weft_spawn");
	}
	check(weft_chan_close(q.gate), "weft_chan_close");
	check(weft_join_all(pf, pairs, NULL), "weft_join_all");
	check(weft_chan_close(q.c), "weft_chan_close");
	check(weft_join_all(cf, pairs, NULL), "weft_join_all");
	for (i = 0; i < pairs; i++)
		got[i] = cons[i].got;
	check_items(name, got, pairs, per);
	weft_chan_free(q.gate);
	weft_chan_free(q.c);
	return span_elapsed(spans, 2 * pairs);
}

struct bq_job {
	const char *name;	/* row name, for messages                    */
	unsigned pairs;		/* producers, and consumers                  */
	uint64_t items;		/* measured items                            */
	uint64_t elapsed_ns;	/* result                                    */
};

static void bq_main(void *arg)
{
	struct bq_job *job = arg;
	uint64_t per = job->items / job->pairs;

	bq_run(job->name, job->pairs, per / 10);
	job->elapsed_ns = bq_run(job->name, job->pairs, per);
}

/* Bounded queue of pthreads ---------------------------------------------- */

/* The textbook bounded buffer: one mutex, two condition variables. */
struct tq {
	pthread_mutex_t lock;
	pthread_cond_t nonempty;	/* signalled by push and close       */
	pthread_cond_t nonfull;		/* signalled by pop                  */
	pthread_barrier_t start;	/* all the threads                   */
	uint64_t per;			/* values per producer               */
	/* Protected by lock. */
	uint64_t ring[QUEUE_CAP];
	unsigned head;			/* index of the oldest value         */
	unsigned count;			/* values in ring                    */
	bool closed;			/* no more pushes                    */
};

/* One thread's own data: nobody else touches it until it is joined. */
struct tq_arg {
	struct tq *q;
	unsigned idx;		/* producer number                           */
	struct tally got;	/* consumer's result                         */
	struct span *span;	/* where to note its start and end           */
};

static void tq_push(struct tq *q, uint64_t v)
{
	pthread_mutex_lock(&q->lock);
	while (q->count == QUEUE_CAP)
		pthread_cond_wait(&q->nonfull, &q->lock);
	q->ring[(q->head + q->count) % QUEUE_CAP] = v;
	q->count++;
	pthread_cond_signal(&q->nonempty);
	pthread_mutex_unlock(&q->lock);
}

/* Returns false once the queue is closed and empty. */
static bool tq_pop(struct tq *q, uint64_t *v)
{
	pthread_mutex_lock(&q->lock);
	while (q->count == 0 && !q->closed)
		pthread_cond_wait(&q->nonempty, &q->lock);
	if (q->count == 0) {
		pthread_mutex_unlock(&q->lock);
		return false;
	}
	*v = q->ring[q->head];
	q->head = (q->head + 1) % QUEUE_CAP;
	q->count--;
	pthread_cond_signal(&q->nonfull);
	pthread_mutex_unlock(&q->lock);
	return true;
}

static void tq_close(struct tq *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	pthread_cond_broadcast(&q->nonempty);
	pthread_mutex_unlock(&q->lock);
}

static void *tq_producer(void *arg)
{
	struct tq_arg *a = arg;
	struct tq *q = a->q;
	uint64_t base = a->idx * q->per;
	uint64_t k;

	pthread_barrier_wait(&q->start);
	a->span->start = bench_now_ns();
	for (k = 1; k <= q->per; k++)
		tq_push(q, base + k);
	a->span->end = bench_now_ns();
	return NULL;
}

static void *tq_consumer(void *arg)
{
	struct tq_arg *a = arg;
	uint64_t count = 0, sum = 0, v;

	pthread_barrier_wait(&a->q->start);
	a->span->start = bench_now_ns();
	while (tq_pop(a->q, &v)) {
		count++;
		sum += v;
	}
	a->span->end = bench_now_ns();
	a->got.count = count;
	a->got.sum = sum;
	return NULL;
}

/* As bq_run(), on threads. */
static uint64_t tq_run(const char *name, unsigned pairs, uint64_t per)
{
	struct tq q = { .per = per };
	struct tq_arg prod[PAIRS_MAX], cons[PAIRS_MAX];
	struct span spans[2 * PAIRS_MAX];
	struct tally got[PAIRS_MAX] = { { 0, 0 } };
	pthread_t pt[PAIRS_MAX], ct[PAIRS_MAX];
	unsigned i;

	pthread_mutex_init(&q.lock, NULL);
	pthread_cond_init(&q.nonempty, NULL);
	pthread_cond_init(&q.nonfull, NULL);
	pthread_barrier_init(&q.start, NULL, 2 * pairs);
	for (i = 0; i < pairs; i++) {
		prod[i] = (struct tq_arg){ .q = &q, .idx = i,
					   .span = &spans[i] };
		cons[i] = (struct tq_arg){ .q = &q, .span = &spans[pairs + i] };
		check_pthread(pthread_create(&ct[i], NULL, tq_consumer,
					     &cons[i]), "pthread_create");
		check_pthread(pthread_create(&pt[i], NULL, tq_producer,
					     &prod[i]), "pthread_create");
	}
	for (i = 0; i < pairs; i++)
		pthread_join(pt[i], NULL);
	tq_close(&q);
	for (i = 0; i < pairs; i++) {
		pthread_join(ct[i], NULL);
		got[i] = cons[i].got;
	}
	check_items(name, got, pairs, per);
	pthread_barrier_destroy(&q.start);
	pthread_cond_destroy(&q.nonfull);
	pthread_cond_destroy(&q.nonempty);
	pthread_mutex_destroy(&q.lock);
	return span_elapsed(spans, 2 * pairs);
}

static uint64_t measure_tq(const char *name, unsigned pairs, uint64_t items)
{
	uint64_t per = items / pairs;

	tq_run(name, pairs, per / 10);
	return tq_run(name, pairs, per);
}

/* Contended mutex -------------------------------------------------------- */

struct mx {
	weft_mutex m;
	weft_chan *gate;	/* closed to start everyone                  */
	uint64_t per;		/* lock + unlock pairs per fiber             */
	uint64_t counter;	/* protected by m                            */
};

struct mx_arg {
	struct mx *s;
	struct span span;	/* this fiber's start and end                */
};

static void *mx_fiber(void *arg)
{
	struct mx_arg *a = arg;
	struct mx *s = a->s;
	uint64_t k;

	gate_wait(s->gate);
	a->span.start = bench_now_ns();
	for (k = 0; k < s->per; k++) {
		check(weft_mutex_lock(&s->m), "weft_mutex_lock");
		s->counter++;
		check(weft_mutex_unlock(&s->m), "weft_mutex_unlock");
	}
	a->span.end = bench_now_ns();
	return NULL;
}

/* MUTEX_PARTIES fibers do @per pairs each; returns the ns they took. */
static uint64_t mx_run(uint64_t per)
{
	struct mx s = { .m = WEFT_MUTEX_INIT, .per = per };
	struct mx_arg args[MUTEX_PARTIES];
	struct span spans[MUTEX_PARTIES];
	weft_fiber *f[MUTEX_PARTIES];
	unsigned i;

	check(weft_chan_new(&s.gate, 0, 0), "weft_chan_new");
	for (i = 0; i < MUTEX_PARTIES; i++) {
		args[i] = (struct mx_arg){ .s = &s };
		check(weft_spawn(&f[i], mx_fiber, &args[i], NULL),
		      "weft_spawn");
	}
	check(weft_chan_close(s.gate), "weft_chan_close");
	check(weft_join_all(f, MUTEX_PARTIES, NULL), "weft_join_all");
	if (s.counter != MUTEX_PARTIES * per)
		bench_fail("mutex.contended: counter %llu, want %llu",
			   (unsigned long long)s.counter,
			   (unsigned long long)(MUTEX_PARTIES * per));
	weft_chan_free(s.gate);
	for (i = 0; i < MUTEX_PARTIES; i++)
		spans[i] = args[i].span;
	return span_elapsed(spans, MUTEX_PARTIES);
}

struct mx_job {
	uint64_t ops;		/* measured lock + unlock pairs, all fibers  */
	uint64_t elapsed_ns;	/* result                                    */
};

static void mx_main(void *arg)
{
	struct mx_job *job = arg;
	uint64_t per = job->ops / MUTEX_PARTIES;

	mx_run(per / 10);
	job->elapsed_ns = mx_run(per);
}

struct pmx {
	pthread_mutex_t m;
	pthread_barrier_t start; /* all the threads                          */
	uint64_t per;		/* lock + unlock pairs per thread            */
	uint64_t counter;	/* protected by m                            */
};

struct pmx_arg {
	struct pmx *s;
	struct span span;	/* this thread's start and end               */
};

static void *pmx_thread(void *arg)
{
	struct pmx_arg *a = arg;
	struct pmx *s = a->s;
	uint64_t k;

	pthread_barrier_wait(&s->start);
	a->span.start = bench_now_ns();
	for (k = 0; k < s->per; k++) {
		pthread_mutex_lock(&s->m);
		s->counter++;
		pthread_mutex_unlock(&s->m);
	}
	a->span.end = bench_now_ns();
	return NULL;
}

static uint64_t pmx_run(uint64_t per)
{
	struct pmx s = { .per = per };
	struct pmx_arg args[MUTEX_PARTIES];
	struct span spans[MUTEX_PARTIES];
	pthread_t t[MUTEX_PARTIES];
	unsigned i;

	pthread_mutex_init(&s.m, NULL);
	pthread_barrier_init(&s.start, NULL, MUTEX_PARTIES);
	for (i = 0; i < MUTEX_PARTIES; i++) {
		args[i] = (struct pmx_arg){ .s = &s };
		check_pthread(pthread_create(&t[i], NULL, pmx_thread,
					     &args[i]), "pthread_create");
	}
	for (i = 0; i < MUTEX_PARTIES; i++) {
		pthread_join(t[i], NULL);
		spans[i] = args[i].span;
	}
	if (s.counter != MUTEX_PARTIES * per)
		bench_fail("mutex.contended.pthread: counter %llu, want %llu",
			   (unsigned long long)s.counter,
			   (unsigned long long)(MUTEX_PARTIES * per));
	pthread_barrier_destroy(&s.start);
	pthread_mutex_destroy(&s.m);
	return span_elapsed(spans, MUTEX_PARTIES);
}

static uint64_t measure_pmx(uint64_t ops)
{
	uint64_t per = ops / MUTEX_PARTIES;

	pmx_run(per / 10);
	return pmx_run(per);
}

/* Main ------------------------------------------------------------------- */

static void usage(const char *prog, int rc)
{
	fprintf(stderr, "usage: %s [--quick] [--runs N] [--workers N]\n"
		"  --runs N     N >= %d; default %d, or %d with --quick\n"
		"  --workers N  workers of the all-workers rows (default: one "
		"per online CPU)\n",
		prog, BENCH_RUNS_MIN, BENCH_RUNS_DEFAULT, BENCH_RUNS_QUICK);
	exit(rc);
}

/*
 * Take --workers N and --help out of @argv (bench_parse() knows neither)
 * and return the new argc; leave bench_parse() the rest, after checking
 * that it is nothing else.
 */
static int parse_own_flags(int argc, char **argv)
{
	char *end;
	long v;
	int i, n = 1;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0)
			usage(argv[0], 0);
		if (strcmp(argv[i], "--quick") == 0) {
			argv[n++] = argv[i];
			continue;
		}
		if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
			argv[n++] = argv[i++];
			argv[n++] = argv[i];
			continue;
		}
		if (strcmp(argv[i], "--workers") != 0 || i + 1 >= argc)
			usage(argv[0], 2);
		v = strtol(argv[++i], &end, 10);
		if (*end || v < 1 || v > (long)WEFT_WORKERS_MAX)
			usage(argv[0], 2);
		all_workers = (unsigned)v;
	}
	argv[n] = NULL;
	return n;
}

int main(int argc, char **argv)
{
	struct bench_opts o = bench_parse(parse_own_flags(argc, argv), argv);
	uint64_t pp_ops = o.quick ? PP_HANDOFFS_QUICK : PP_HANDOFFS;
	uint64_t cv_ops = o.quick ? CV_HANDOFFS_QUICK : CV_HANDOFFS;
	uint64_t buf_ops = o.quick ? BUF_ITEMS_QUICK : BUF_ITEMS;
	uint64_t tq_ops = o.quick ? TQ_ITEMS_QUICK : TQ_ITEMS;
	uint64_t mx_ops = o.quick ? MUTEX_OPS_QUICK : MUTEX_OPS;
	int ncpu = bench_cpus_init();
	int solo = bench_cpu_pick(-1);
	struct bench_row rows[NR_ROWS];
	struct cpp_job pp_job = { .rounds = pp_ops / 2 };
	struct cpp_job pp2_job = { .rounds = pp_ops / 2, .track = true };
	struct bq_job bq_jobs[3];
	struct mx_job mx_job = { .ops = mx_ops };
	uint64_t same = 0, moves = 0, parks = 0, steals = 0, trips = 0;
	uint64_t iters;
	double ref, med[NR_ROWS];
	int r, i;

	bench_print_machine("bench_chan");
	for (i = 0; i < NR_ROWS; i++) {
		if (i <= ROW_PP2)
			iters = pp_ops;
		else if (i <= ROW_CV_SAME)
			iters = cv_ops;
		else if (i <= ROW_BUF16)
			iters = buf_ops / buf_pairs[i - ROW_BUF1] *
				buf_pairs[i - ROW_BUF1];
		else if (i <= ROW_TQ16)
			iters = tq_ops / buf_pairs[i - ROW_TQ1] *
				buf_pairs[i - ROW_TQ1];
		else
			iters = mx_ops / MUTEX_PARTIES * MUTEX_PARTIES;
		bench_row_init(&rows[i], row_names[i], iters, o.runs);
	}
	for (i = 0; i < 3; i++)
		bq_jobs[i] = (struct bq_job){
			.name = row_names[ROW_BUF1 + i],
			.pairs = buf_pairs[i],
			.items = buf_ops,
		};

	for (r = 0; r < o.runs; r++) {
		bench_row_add(&rows[ROW_PP], measure_cpp(&pp_job, 1, solo));
		bench_row_add(&rows[ROW_PP2], measure_cpp(&pp2_job, 2, -1));
		same += pp2_job.same;
		moves += pp2_job.moves;
		parks += pp2_job.parks;
		steals += pp2_job.steals;
		trips += pp2_job.rounds;
		bench_row_add(&rows[ROW_CV], measure_tpp(cv_ops / 2, -1));
		bench_row_add(&rows[ROW_CV_SAME],
			      measure_tpp(cv_ops / 2, solo));
		for (i = 0; i < 3; i++) {
			run_weft(all_workers, bq_main, &bq_jobs[i]);
			bench_row_add(&rows[ROW_BUF1 + i],
				      bq_jobs[i].elapsed_ns);
		}
		for (i = 0; i < 3; i++)
			bench_row_add(&rows[ROW_TQ1 + i],
				      measure_tq(row_names[ROW_TQ1 + i],
						 buf_pairs[i], tq_ops));
		run_weft(all_workers, mx_main, &mx_job);
		bench_row_add(&rows[ROW_MUTEX], mx_job.elapsed_ns);
		bench_row_add(&rows[ROW_PMUTEX], measure_pmx(mx_ops));
	}

	bench_note("pinned: chan.pingpong (workers = 1) and "
	       "chan.pingpong.condvar.samecore on cpu %d; the rest unpinned; "
	       "workers = %u in the buffered and mutex rows\n", solo,
	       all_workers ? all_workers : (unsigned)ncpu);
	bench_note("chan.pingpong.2workers: the reply came from the pinger's "
	       "own worker in %.1f%% of round trips; the pinger changed "
	       "worker in %.2f%%; per 1,000 round trips a worker went to "
	       "sleep %.1f times and stole %.1f times\n",
	       100.0 * (double)same / (double)trips,
	       100.0 * (double)moves / (double)trips,
	       1000.0 * (double)parks / (double)trips,
	       1000.0 * (double)steals / (double)trips);
	bench_note("ops: a handoff (pingpong rows), an item (buffered rows), a "
	       "lock + unlock (mutex rows); queue capacity %u, %u parties "
	       "per mutex row\n", QUEUE_CAP, MUTEX_PARTIES);
	bench_print_header(&o, row_names[ROW_PP]);
	ref = bench_row_median(&rows[ROW_PP]);
	for (i = 0; i < NR_ROWS; i++) {
		med[i] = bench_row_median(&rows[i]);
		bench_print_row(&rows[i], ref);
	}
	bench_note("target: chan.pingpong <= %.0f ns: %s (%.1f ns)\n",
	       TARGET_PINGPONG_NS,
	       med[ROW_PP] <= TARGET_PINGPONG_NS ? "met" : "NOT met",
	       med[ROW_PP]);
	bench_note("target: chan.pingpong.condvar / chan.pingpong >= %.0f: "
	       "%s (%.1f)\n", TARGET_CONDVAR_RATIO,
	       med[ROW_CV] / ref >= TARGET_CONDVAR_RATIO ? "met" : "NOT met",
	       med[ROW_CV] / ref);
	for (i = 0; i < NR_ROWS; i++)
		free(rows[i].ns);
	return 0;
}
