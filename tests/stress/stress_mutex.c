/* SPDX-License-Identifier: MIT */
/*
 * Locks under load on every worker:
 *  - a counter behind a weft_mutex, incremented once by each of 100,000
 *    fibers (fewer under sanitizers; some yield inside the critical
 *    section, so the lock is contended and handed over), ends exact;
 *    so do 10^6 critical sections of 8 fibers, and
 *    a counter whose lockers are cancelled at random (locking is not a
 *    cancellation point, so every lock succeeds);
 *  - a bounded queue with a mutex and two condition variables carries
 *    items from producers to consumers, each exactly once, with signals
 *    only (a lost wake-up hangs, and the watchdog fails it) and again
 *    with short timed waits racing the signals;
 *  - a semaphore bounds how many fibers are inside at once under load,
 *    with waiters timing out and being cancelled meanwhile: never more
 *    than its count inside, and no unit lost or made up;
 *  - a wait group on the heap, freed by its waiter the moment the wait
 *    returns, round after round, with children on both workers,
 *    children that raise the count again before they finish, and a
 *    plain thread whose done meets the wait: no wait returns before the
 *    last done (an early wake-up), none hangs (a lost one: a waiter
 *    that queues without its flag hangs here). An adder that touched
 *    the group after a zero with no waiter would be a use after free;
 *    the rounds make that window a hot one, but it is a few
 *    instructions wide, so the design (sync.c) rules it out and the
 *    poisoning and ASan catch it only when an adder is preempted there.
 * Checks inside fibers are recorded and asserted after weft_run().
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../helpers.h"

#define MS 1000000ll

static struct weft_config two = { .workers = 2 };

/* A counter from 100,000 fibers -------------------------------------------- */

struct counter {
	weft_mutex m;
	weft_wg wg;
	uint64_t value;		/* under m; deliberately not atomic */
	unsigned inside;	/* atomic */
	unsigned overlaps;	/* atomic */
	unsigned fibers;
	unsigned spawn_errs;	/* atomic */
};

static void *increment_once(void *arg)
{
	struct counter *c = arg;
	uint64_t v;

	check_eq(weft_mutex_lock(&c->m), 0);
	if (__atomic_add_fetch(&c->inside, 1, __ATOMIC_RELAXED) != 1)
		__atomic_add_fetch(&c->overlaps, 1, __ATOMIC_RELAXED);
	v = c->value;
	/* Some hold the lock across a yield: others queue behind. */
	if (weft_fiber_id() % 4 == 0)
		weft_yield();
	c->value = v + 1;
	__atomic_sub_fetch(&c->inside, 1, __ATOMIC_RELAXED);
	check_eq(weft_mutex_unlock(&c->m), 0);
	check_eq(weft_wg_done(&c->wg), 0);
	return NULL;
}

static void counter_main(void *arg)
{
	struct counter *c = arg;

	check_eq(weft_wg_add(&c->wg, (int)c->fibers), 0);
	for (unsigned i = 0; i < c->fibers; i++) {
		if (weft_go(increment_once, c)) {
			c->spawn_errs++;
			check_eq(weft_wg_done(&c->wg), 0);
		}
		if (i % 1024 == 0)
			watchdog_progress_add(1024);
	}
	check_eq(weft_wg_wait(&c->wg), 0);
}

/*
 * 100,000 fibers (10,000 under TSan, 25,000 under ASan): most of them are
 * alive at once, and TSan maps a shadow stack for each, which 100,000
 * would take past vm.max_map_count (65,530).
 */
static void test_mutex_counter_from_many_fibers(void **state)
{
	struct counter c = { .m = WEFT_MUTEX_INIT, .wg = WEFT_WG_INIT };
	uint64_t t0 = now_ns();

	(void)state;
	c.fibers = (unsigned)stress_iters(100000 / sanitizer_scale());
	watchdog_arm(__func__, 120);
	run_checked(&two, counter_main, &c);
	watchdog_disarm();
	print_message("%u fibers in %.2f s\n", c.fibers, (now_ns() - t0) / 1e9);
	assert_int_equal(c.spawn_errs, 0);
	assert_int_equal(c.overlaps, 0);
	assert_int_equal(c.value, c.fibers);
}

/* 10^6 critical sections from 8 fibers, some through trylock. */
#define HOT_FIBERS 8

static void *increment_many(void *arg)
{
	struct counter *c = arg;
	unsigned n = c->fibers / HOT_FIBERS;

	for (unsigned i = 0; i < n; i++) {
		bool tried = i % 7 == 0 && weft_mutex_trylock(&c->m) == 0;

		if (!tried)
			check_eq(weft_mutex_lock(&c->m), 0);
		if (__atomic_add_fetch(&c->inside, 1, __ATOMIC_RELAXED) != 1)
			__atomic_add_fetch(&c->overlaps, 1, __ATOMIC_RELAXED);
		c->value++;
		if (i % 128 == 0)
			weft_yield();
		__atomic_sub_fetch(&c->inside, 1, __ATOMIC_RELAXED);
		check_eq(weft_mutex_unlock(&c->m), 0);
		if (i % 4096 == 0)
			watchdog_progress_add(4096);
	}
	return NULL;
}

static void hot_main(void *arg)
{
	weft_fiber *f[HOT_FIBERS];

	for (int i = 0; i < HOT_FIBERS; i++)
		f[i] = check_spawn(increment_many, arg);
	for (int i = 0; i < HOT_FIBERS; i++)
		check_join(f[i]);
}

static void test_mutex_million_critical_sections(void **state)
{
	struct counter c = { .m = WEFT_MUTEX_INIT };
	uint64_t t0 = now_ns();

	(void)state;
	c.fibers = (unsigned)stress_iters(1000000 / sanitizer_scale());
	watchdog_arm(__func__, 120);
	run_checked(&two, hot_main, &c);
	watchdog_disarm();
	print_message("%u critical sections in %.2f s\n", c.fibers,
		      (now_ns() - t0) / 1e9);
	assert_int_equal(c.overlaps, 0);
	assert_int_equal(c.value, c.fibers / HOT_FIBERS * HOT_FIBERS);
}

/* Lockers cancelled at random: every lock still succeeds. */
#define CANCEL_FIBERS 16

struct cancel_count {
	struct counter c;
	weft_fiber *f[CANCEL_FIBERS];
	unsigned per_fiber;
	unsigned done;		/* atomic */
	unsigned cancelled;	/* atomic: suspensions that said so */
};

static void *locker_cancelled(void *arg)
{
	struct cancel_count *cc = arg;

	for (unsigned i = 0; i < cc->per_fiber; i++) {
		check_eq(weft_mutex_lock(&cc->c.m), 0);
		cc->c.value++;
		if (i % 8 == 0)
			weft_yield();
		check_eq(weft_mutex_unlock(&cc->c.m), 0);
		/* A suspension that may report a cancel, outside the lock. */
		if (i % 16 == 0 && weft_sleep_ns(0) == -ECANCELED)
			__atomic_add_fetch(&cc->cancelled, 1, __ATOMIC_RELAXED);
	}
	__atomic_add_fetch(&cc->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *canceller(void *arg)
{
	struct cancel_count *cc = arg;
	unsigned seed = 88172645u;

	while (__atomic_load_n(&cc->done, __ATOMIC_ACQUIRE) < CANCEL_FIBERS) {
		weft_cancel(cc->f[xorshift32(&seed) % CANCEL_FIBERS]);
		weft_yield();
	}
	return NULL;
}

static void cancel_count_main(void *arg)
{
	struct cancel_count *cc = arg;
	weft_fiber *k;

	for (int i = 0; i < CANCEL_FIBERS; i++)
		cc->f[i] = check_spawn(locker_cancelled, cc);
	k = check_spawn(canceller, cc);
	check_join(k);
	for (int i = 0; i < CANCEL_FIBERS; i++)
		check_join(cc->f[i]);
}

static void test_mutex_counter_with_cancelled_lockers(void **state)
{
	struct cancel_count cc;

	(void)state;
	watchdog_arm(__func__, 300);
	/* The count must be exact in every round; a round the canceller
	 * never caught (a loaded machine) is run again, up to five. */
	for (int round = 0; round < 5; round++) {
		memset(&cc, 0, sizeof(cc));
		weft_mutex_init(&cc.c.m);
		cc.per_fiber = (unsigned)stress_iters(100000 /
						      sanitizer_scale());
		run_checked(&two, cancel_count_main, &cc);
		print_message("%u locks, %u cancels reported\n",
			      cc.per_fiber * CANCEL_FIBERS, cc.cancelled);
		assert_int_equal(cc.c.value,
				 (uint64_t)cc.per_fiber * CANCEL_FIBERS);
		if (cc.cancelled > 0)
			break;
	}
	watchdog_disarm();
	assert_true(cc.cancelled > 0);
}

/* A bounded queue on a mutex and two condition variables ------------------- */

#define QCAP 64
#define Q_PRODUCERS 4
#define Q_CONSUMERS 4

struct queue {
	weft_mutex m;
	weft_cond not_empty, not_full;
	uint64_t items[QCAP];		/* under m */
	unsigned head, len;		/* under m */
	unsigned producers_left;	/* under m */
	bool timed;			/* consumers use short timed waits */
	uint64_t per_producer;
	uint64_t *seen;			/* bitmap; atomic */
	uint64_t received, dups, order_errs, timeouts;	/* atomic */
	uint64_t sum;			/* atomic */
};

struct q_producer {
	struct queue *q;
	uint64_t id;
};

static int q_wait(struct queue *q, weft_cond *c, unsigned *seed)
{
	int64_t until;

	if (!q->timed || xorshift32(seed) % 2)
		return weft_cond_wait(c, &q->m);
	until = weft_now_ns() + (xorshift32(seed) % 200) * 1000;
	return weft_cond_wait_until(c, &q->m, until);
}

static void *q_produce(void *arg)
{
	struct q_producer *p = arg;
	struct queue *q = p->q;
	unsigned seed = 0x1234567u + (unsigned)p->id;

	for (uint64_t s = 0; s < q->per_producer; s++) {
		int rc;

		check_eq(weft_mutex_lock(&q->m), 0);
		while (q->len == QCAP) {
			rc = q_wait(q, &q->not_full, &seed);
			if (rc == -ETIMEDOUT)
				__atomic_add_fetch(&q->timeouts, 1,
						   __ATOMIC_RELAXED);
			else
				check_eq(rc, 0);
		}
		q->items[(q->head + q->len++) % QCAP] = p->id << 40 | s;
		check_eq(weft_mutex_unlock(&q->m), 0);
		check_eq(weft_cond_signal(&q->not_empty), 0);
	}
	check_eq(weft_mutex_lock(&q->m), 0);
	if (--q->producers_left == 0)
		check_eq(weft_cond_broadcast(&q->not_empty), 0);
	check_eq(weft_mutex_unlock(&q->m), 0);
	return NULL;
}

static void *q_consume(void *arg)
{
	struct queue *q = arg;
	uint64_t next[Q_PRODUCERS] = { 0 }, n = 0, sum = 0;
	unsigned seed = 0x7654321u ^ (unsigned)weft_fiber_id();

	for (;;) {
		uint64_t v, p, s, bit, old;
		int rc;

		check_eq(weft_mutex_lock(&q->m), 0);
		while (q->len == 0 && q->producers_left > 0) {
			rc = q_wait(q, &q->not_empty, &seed);
			if (rc == -ETIMEDOUT)
				__atomic_add_fetch(&q->timeouts, 1,
						   __ATOMIC_RELAXED);
			else
				check_eq(rc, 0);
		}
		if (q->len == 0) {
			check_eq(weft_mutex_unlock(&q->m), 0);
			break;
		}
		v = q->items[q->head];
		q->head = (q->head + 1) % QCAP;
		q->len--;
		check_eq(weft_mutex_unlock(&q->m), 0);
		check_eq(weft_cond_signal(&q->not_full), 0);

		p = v >> 40;
		s = v & ((1ull << 40) - 1);
		if (p >= Q_PRODUCERS || s >= q->per_producer) {
			check(p < Q_PRODUCERS && s < q->per_producer);
			continue;
		}
		if (s < next[p])
			__atomic_add_fetch(&q->order_errs, 1, __ATOMIC_RELAXED);
		next[p] = s + 1;
		bit = p * q->per_producer + s;
		old = __atomic_fetch_or(&q->seen[bit / 64], 1ull << (bit % 64),
					__ATOMIC_RELAXED);
		if (old & 1ull << (bit % 64))
			__atomic_add_fetch(&q->dups, 1, __ATOMIC_RELAXED);
		n++;
		sum += v;
		if (n % 16384 == 0)
			watchdog_progress_add(16384);
	}
	__atomic_add_fetch(&q->received, n, __ATOMIC_RELAXED);
	__atomic_add_fetch(&q->sum, sum, __ATOMIC_RELAXED);
	return NULL;
}

static void queue_main(void *arg)
{
	struct queue *q = arg;
	struct q_producer prod[Q_PRODUCERS];
	weft_fiber *pf[Q_PRODUCERS], *cf[Q_CONSUMERS];

	for (int i = 0; i < Q_CONSUMERS; i++)
		cf[i] = check_spawn(q_consume, q);
	for (int i = 0; i < Q_PRODUCERS; i++) {
		prod[i] = (struct q_producer){ q, (uint64_t)i };
		pf[i] = check_spawn(q_produce, &prod[i]);
	}
	for (int i = 0; i < Q_PRODUCERS; i++)
		check_join(pf[i]);
	for (int i = 0; i < Q_CONSUMERS; i++)
		check_join(cf[i]);
}

static void queue_through(bool timed)
{
	struct queue q = { .m = WEFT_MUTEX_INIT, .not_empty = WEFT_COND_INIT,
			   .not_full = WEFT_COND_INIT };
	uint64_t total = stress_iters(2000000 / sanitizer_scale());
	uint64_t sum = 0, missing = 0, t0 = now_ns();

	q.timed = timed;
	q.per_producer = total / Q_PRODUCERS;
	q.producers_left = Q_PRODUCERS;
	q.seen = calloc((Q_PRODUCERS * q.per_producer + 63) / 64,
			sizeof(uint64_t));
	assert_non_null(q.seen);
	run_checked(&two, queue_main, &q);
	for (uint64_t p = 0; p < Q_PRODUCERS; p++)
		for (uint64_t s = 0; s < q.per_producer; s++) {
			uint64_t bit = p * q.per_producer + s;

			sum += p << 40 | s;
			if (!(q.seen[bit / 64] & 1ull << (bit % 64)))
				missing++;
		}
	print_message("%s waits: %llu items in %.2f s, %llu timeouts\n",
		      timed ? "timed" : "plain",
		      (unsigned long long)q.received, (now_ns() - t0) / 1e9,
		      (unsigned long long)q.timeouts);
	assert_int_equal(missing, 0);
	assert_int_equal(q.dups, 0);
	assert_int_equal(q.order_errs, 0);
	assert_int_equal(q.received, Q_PRODUCERS * q.per_producer);
	assert_true(q.sum == sum);
	if (!timed)
		assert_int_equal(q.timeouts, 0);
	free(q.seen);
}

static void test_cond_producer_consumer_queue(void **state)
{
	(void)state;
	watchdog_arm(__func__, 120);
	queue_through(false);
	watchdog_disarm();
}

static void test_cond_producer_consumer_queue_timed_waits(void **state)
{
	(void)state;
	watchdog_arm(__func__, 120);
	queue_through(true);
	watchdog_disarm();
}

/* A semaphore under load --------------------------------------------------- */

#define SEM_UNITS 4
#define SEM_FIBERS 1000
#define SEM_VICTIMS 16

struct sem_load {
	weft_sem s;
	unsigned iters;
	unsigned inside;	/* atomic */
	unsigned max;		/* atomic */
	uint64_t entered;	/* atomic */
	uint64_t timeouts;	/* atomic */
	uint64_t cancels;	/* atomic */
	weft_fiber *victims[SEM_VICTIMS];
	unsigned victims_done;	/* atomic */
};

static void sem_enter(struct sem_load *sl)
{
	unsigned in = __atomic_add_fetch(&sl->inside, 1, __ATOMIC_ACQ_REL);
	unsigned m = __atomic_load_n(&sl->max, __ATOMIC_RELAXED);

	while (in > m && !__atomic_compare_exchange_n(&sl->max, &m, in, false,
						      __ATOMIC_RELAXED,
						      __ATOMIC_RELAXED))
		;
	__atomic_add_fetch(&sl->entered, 1, __ATOMIC_RELAXED);
	weft_yield();
	__atomic_sub_fetch(&sl->inside, 1, __ATOMIC_ACQ_REL);
	check_eq(weft_sem_release(&sl->s), 0);
}

/* Plain users: acquire, or now and then give up at a short deadline. */
static void *sem_user(void *arg)
{
	struct sem_load *sl = arg;
	unsigned seed = 0x2545f491u ^ (unsigned)weft_fiber_id();

	for (unsigned i = 0; i < sl->iters; i++) {
		int64_t old = WEFT_FOREVER;
		bool timed = xorshift32(&seed) % 4 == 0;
		int rc;

		if (timed)
			old = weft_set_deadline(weft_now_ns() +
						(xorshift32(&seed) % 100) * 1000);
		rc = weft_sem_acquire(&sl->s);
		if (timed)
			weft_set_deadline(old);
		if (rc == -ETIMEDOUT) {
			__atomic_add_fetch(&sl->timeouts, 1, __ATOMIC_RELAXED);
			continue;
		}
		check_eq(rc, 0);
		sem_enter(sl);
	}
	return NULL;
}

/* Users that a canceller hits at random. */
static void *sem_victim(void *arg)
{
	struct sem_load *sl = arg;

	for (unsigned i = 0; i < 20 * sl->iters; i++) {
		int rc = weft_sem_acquire(&sl->s);

		if (rc == -ECANCELED) {
			__atomic_add_fetch(&sl->cancels, 1, __ATOMIC_RELAXED);
			continue;
		}
		check_eq(rc, 0);
		sem_enter(sl);
	}
	__atomic_add_fetch(&sl->victims_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *sem_canceller(void *arg)
{
	struct sem_load *sl = arg;
	unsigned seed = 0xdeadbeefu;

	while (__atomic_load_n(&sl->victims_done, __ATOMIC_ACQUIRE) <
	       SEM_VICTIMS) {
		weft_cancel(sl->victims[xorshift32(&seed) % SEM_VICTIMS]);
		weft_yield();
	}
	return NULL;
}

static void sem_load_main(void *arg)
{
	struct sem_load *sl = arg;
	weft_fiber **f = calloc(SEM_FIBERS, sizeof(*f));
	weft_fiber *k;

	for (int i = 0; i < SEM_VICTIMS; i++)
		sl->victims[i] = check_spawn(sem_victim, sl);
	k = check_spawn(sem_canceller, sl);
	for (int i = 0; i < SEM_FIBERS; i++)
		f[i] = check_spawn(sem_user, sl);
	for (int i = 0; i < SEM_FIBERS; i++) {
		check_join(f[i]);
		watchdog_progress_add(1);
	}
	check_join(k);
	for (int i = 0; i < SEM_VICTIMS; i++)
		check_join(sl->victims[i]);
	/* No unit lost, none made up. */
	for (int i = 0; i < SEM_UNITS; i++)
		check_eq(weft_sem_try_acquire(&sl->s), 0);
	check_eq(weft_sem_try_acquire(&sl->s), -EAGAIN);
	free(f);
}

static void test_sem_limits_concurrency_under_load(void **state)
{
	struct sem_load sl;

	(void)state;
	watchdog_arm(__func__, 300);
	/* The limit must hold in every round; a round in which no timeout
	 * or no cancel hit a waiter (a loaded machine) proves less, so up
	 * to five are run until both happened. */
	for (int round = 0; round < 5; round++) {
		uint64_t t0 = now_ns();

		memset(&sl, 0, sizeof(sl));
		weft_sem_init(&sl.s, SEM_UNITS);
		sl.iters = (unsigned)stress_iters(500 / sanitizer_scale());
		run_checked(&two, sem_load_main, &sl);
		print_message("%llu entries in %.2f s; %llu timeouts, %llu "
			      "cancels; at most %u inside\n",
			      (unsigned long long)sl.entered,
			      (now_ns() - t0) / 1e9,
			      (unsigned long long)sl.timeouts,
			      (unsigned long long)sl.cancels, sl.max);
		assert_true(sl.max <= SEM_UNITS);
		if (sl.timeouts > 0 && sl.cancels > 0 && sl.max == SEM_UNITS)
			break;
	}
	watchdog_disarm();
	assert_int_equal(sl.max, SEM_UNITS);
	assert_true(sl.timeouts > 0);
	assert_true(sl.cancels > 0);
}

/* A wait group its waiter frees --------------------------------------------- */

struct wg_round {
	weft_wg wg;
	unsigned left;		/* atomic: dones still to come */
};

static void *wg_grandchild(void *arg)
{
	struct wg_round *r = arg;

	__atomic_sub_fetch(&r->left, 1, __ATOMIC_RELAXED);
	check_eq(weft_wg_done(&r->wg), 0);
	return NULL;
}

/* Every third child raises the count for a grandchild before it is done,
 * so the count may touch zero's neighbourhood while a waiter is queued. */
static void *wg_child(void *arg)
{
	struct wg_round *r = arg;

	if (weft_fiber_id() % 3 == 0) {
		__atomic_add_fetch(&r->left, 1, __ATOMIC_RELAXED);
		check_eq(weft_wg_add(&r->wg, 1), 0);
		if (weft_go(wg_grandchild, r)) {
			__atomic_sub_fetch(&r->left, 1, __ATOMIC_RELAXED);
			check_eq(weft_wg_done(&r->wg), 0);
		}
	}
	if (weft_fiber_id() % 2 == 0)
		weft_yield();
	__atomic_sub_fetch(&r->left, 1, __ATOMIC_RELAXED);
	check_eq(weft_wg_done(&r->wg), 0);
	return NULL;
}

#define WG_CHILDREN 3

static unsigned wg_early;

/* A round's group, on the heap, counting @n dones to come. */
static struct wg_round *wg_round_new(unsigned n)
{
	struct wg_round *r = malloc(sizeof(*r));

	if (!r)
		abort();
	weft_wg_init(&r->wg);
	r->left = n;
	check_eq(weft_wg_add(&r->wg, (int)n), 0);
	return r;
}

/* Wait for round @i's group, then poison and free it at once. */
static void wg_round_end(struct wg_round *r, unsigned i)
{
	check_eq(weft_wg_wait(&r->wg), 0);
	/* The wait group says every done has happened, so the dones' own
	 * decrements have too. */
	if (__atomic_load_n(&r->left, __ATOMIC_RELAXED) != 0)
		wg_early++;
	memset(r, 0xa5, sizeof(*r));
	free(r);
	if (i % 1024 == 0)
		watchdog_progress_add(1024);
}

static void wg_rounds_main(void *arg)
{
	unsigned rounds = *(unsigned *)arg;

	for (unsigned i = 0; i < rounds; i++) {
		struct wg_round *r = wg_round_new(WG_CHILDREN);

		for (unsigned k = 0; k < WG_CHILDREN; k++)
			if (weft_go(wg_child, r)) {
				__atomic_sub_fetch(&r->left, 1,
						   __ATOMIC_RELAXED);
				check_eq(weft_wg_done(&r->wg), 0);
			}
		/* Half the rounds wait before the children can run. */
		if (i % 2)
			weft_yield();
		wg_round_end(r, i);
	}
}

/*
 * The same with the last done from a plain thread that spins for each
 * round's group and is done at once, while the waiter waits after a
 * delay of 0 to 2 us: the waiter's read of the count and the thread's
 * zero meet within a few hundred nanoseconds, round after round, so a
 * touch after the zero would land after the free.
 */
static struct wg_round *wg_published;	/* atomic */

static void *wg_thread_doner(void *arg)
{
	unsigned rounds = *(unsigned *)arg;

	for (unsigned i = 0; i < rounds; i++) {
		struct wg_round *r;

		while (!(r = __atomic_exchange_n(&wg_published, NULL,
						 __ATOMIC_ACQUIRE)))
			;
		__atomic_sub_fetch(&r->left, 1, __ATOMIC_RELAXED);
		check_eq(weft_wg_done(&r->wg), 0);
	}
	return NULL;
}

static void wg_thread_main(void *arg)
{
	unsigned rounds = *(unsigned *)arg;
	pthread_t t;

	check_eq(pthread_create(&t, NULL, wg_thread_doner, arg), 0);
	for (unsigned i = 0; i < rounds; i++) {
		struct wg_round *r = wg_round_new(1);
		uint64_t until;

		__atomic_store_n(&wg_published, r, __ATOMIC_RELEASE);
		until = now_ns() + (i * 7919) % 2000;
		while (now_ns() < until)
			;
		wg_round_end(r, i);
	}
	check_eq(pthread_join(t, NULL), 0);
}

static void test_wg_freed_by_its_waiter(void **state)
{
	unsigned rounds = (unsigned)stress_iters(200000 / sanitizer_scale());

	(void)state;
	watchdog_arm(__func__, 120);
	run_checked(&two, wg_rounds_main, &rounds);
	run_checked(&two, wg_thread_main, &rounds);
	watchdog_disarm();
	print_message("%u rounds\n", rounds);
	assert_int_equal(wg_early, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mutex_counter_from_many_fibers),
		cmocka_unit_test(test_mutex_million_critical_sections),
		cmocka_unit_test(test_cond_producer_consumer_queue),
		cmocka_unit_test(test_cond_producer_consumer_queue_timed_waits),
		cmocka_unit_test(test_sem_limits_concurrency_under_load),
		cmocka_unit_test(test_wg_freed_by_its_waiter),
		/* Last: a crash here must not hide the others. */
		cmocka_unit_test(test_mutex_counter_with_cancelled_lockers),
	};

	skip_without_backend();
	return cmocka_run_group_tests_name("stress_mutex", tests, NULL, NULL);
}
