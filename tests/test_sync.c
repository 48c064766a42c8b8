/* SPDX-License-Identifier: MIT */
/*
 * Locks and friends, and gather, against weft.h's "Locks and friends"
 * and "Gather": the mutex (trylock, unlock errors, use from plain
 * threads, mutual exclusion across workers, no starvation thanks to
 * handoff mode, locking not a cancellation point), the condition
 * variable (signal wakes one in FIFO order, broadcast all, the mutex held
 * again after a cancel or a timeout, -EPERM), the wait group, the
 * semaphore (FIFO handoff, the limit it sets, cancel and deadline of an
 * acquire), once, the static initialisers, weft_join_all and
 * weft_join_any.
 *
 * Fibers record failed checks with check()/check_eq() (cmocka's asserts
 * longjmp, which must not cross fiber stacks); each test asserts that
 * none failed once weft_run() has returned. Every primitive a test uses
 * is its own, so no state passes between tests.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"

#define MS 1000000ll

static struct weft_config one = { .workers = 1 };
static struct weft_config two = { .workers = 2 };

static unsigned load(const unsigned *v)
{
	return __atomic_load_n(v, __ATOMIC_ACQUIRE);
}

static void store(unsigned *v, unsigned x)
{
	__atomic_store_n(v, x, __ATOMIC_RELEASE);
}

/* Wait until *@v reaches @want; the watchdog fails a hang. */
static void wait_for(const unsigned *v, unsigned want)
{
	while (load(v) < want)
		weft_sleep_ns(MS / 10);
}

/* Mutex -------------------------------------------------------------------- */

struct locker {
	weft_mutex *m;
	unsigned stage;		/* atomic: 1 locking, 2 locked, 3 done */
	int lock_rc, sleep_rc, unlock_rc;
	uint64_t sleep_ns;
};

/* Lock, sleep (a suspension after the lock), unlock. */
static void *locker_fn(void *arg)
{
	struct locker *l = arg;
	uint64_t t0;

	store(&l->stage, 1);
	l->lock_rc = weft_mutex_lock(l->m);
	store(&l->stage, 2);
	t0 = weft_now_ns();
	l->sleep_rc = weft_sleep_ns(l->sleep_ns);
	l->sleep_ns = weft_now_ns() - t0;
	l->unlock_rc = weft_mutex_unlock(l->m);
	store(&l->stage, 3);
	return NULL;
}

static weft_mutex basics_static = WEFT_MUTEX_INIT;

static void mutex_basics_on(weft_mutex *m)
{
	struct locker l = { .m = m, .sleep_ns = 0 };
	weft_fiber *f;

	check_eq(weft_mutex_lock(m), 0);
	check_eq(weft_mutex_trylock(m), -EBUSY);
	check_eq(weft_mutex_unlock(m), 0);
	check_eq(weft_mutex_unlock(m), -EPERM);
	check_eq(weft_mutex_trylock(m), 0);
	/* Not recursive. */
	check_eq(weft_mutex_trylock(m), -EBUSY);
	/* Another fiber's lock waits for the unlock. */
	f = check_spawn(locker_fn, &l);
	settle();
	check(load(&l.stage) < 2);
	check_eq(weft_mutex_unlock(m), 0);
	check_join(f);
	check_eq(l.lock_rc, 0);
	check_eq(l.sleep_rc, 0);
	check_eq(l.unlock_rc, 0);
	check_eq(weft_mutex_trylock(m), 0);
	check_eq(weft_mutex_unlock(m), 0);
}

static void mutex_basics_main(void *arg)
{
	weft_mutex dyn;
	weft_mutex local = WEFT_MUTEX_INIT;

	(void)arg;
	memset(&dyn, 0xa5, sizeof(dyn));
	weft_mutex_init(&dyn);
	mutex_basics_on(&basics_static);
	mutex_basics_on(&dyn);
	mutex_basics_on(&local);
}

static void test_mutex_lock_trylock_unlock(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, mutex_basics_main, NULL);
	run_checked(&two, mutex_basics_main, NULL);
	watchdog_disarm();
}

/* Plain threads may trylock and unlock; fibers see it. */
struct thread_mutex {
	weft_mutex m;
	unsigned phase;		/* atomic */
	int rcs[4];
};

static void *mutex_thread(void *arg)
{
	struct thread_mutex *tm = arg;
	struct timespec ts = { 0, 5 * MS };

	/* 1: the fiber holds the lock; a thread may release it. */
	while (load(&tm->phase) < 1)
		sched_yield();
	tm->rcs[0] = weft_mutex_trylock(&tm->m);
	tm->rcs[1] = weft_mutex_unlock(&tm->m);
	store(&tm->phase, 2);
	/* 3: take it from the thread; the fiber's lock waits. */
	while (load(&tm->phase) < 3)
		sched_yield();
	tm->rcs[2] = weft_mutex_trylock(&tm->m);
	store(&tm->phase, 4);
	nanosleep(&ts, NULL);
	store(&tm->phase, 5);
	tm->rcs[3] = weft_mutex_unlock(&tm->m);
	return NULL;
}

static void thread_mutex_main(void *arg)
{
	struct thread_mutex *tm = arg;
	pthread_t t;

	check_eq(pthread_create(&t, NULL, mutex_thread, tm), 0);
	check_eq(weft_mutex_lock(&tm->m), 0);
	store(&tm->phase, 1);
	wait_for(&tm->phase, 2);
	/* The thread unlocked it for us. */
	check_eq(weft_mutex_trylock(&tm->m), 0);
	check_eq(weft_mutex_unlock(&tm->m), 0);
	store(&tm->phase, 3);
	wait_for(&tm->phase, 4);
	check_eq(weft_mutex_lock(&tm->m), 0);
	/* Only once the thread let go. */
	check_eq(load(&tm->phase), 5);
	check_eq(weft_mutex_unlock(&tm->m), 0);
	pthread_join(t, NULL);
}

static void test_mutex_from_plain_threads(void **state)
{
	struct thread_mutex tm = { WEFT_MUTEX_INIT, 0, { 1, 1, 1, 1 } };
	weft_mutex m = WEFT_MUTEX_INIT;

	(void)state;
	/* No runtime at all: lock is fiber-only, the rest works. */
	assert_int_equal(weft_mutex_lock(&m), -EPERM);
	assert_int_equal(weft_mutex_trylock(&m), 0);
	assert_int_equal(weft_mutex_lock(&m), -EPERM);
	assert_int_equal(weft_mutex_trylock(&m), -EBUSY);
	assert_int_equal(weft_mutex_unlock(&m), 0);
	assert_int_equal(weft_mutex_unlock(&m), -EPERM);

	watchdog_arm(__func__, 30);
	run_checked(&two, thread_mutex_main, &tm);
	assert_int_equal(tm.rcs[0], -EBUSY);
	assert_int_equal(tm.rcs[1], 0);
	assert_int_equal(tm.rcs[2], 0);
	assert_int_equal(tm.rcs[3], 0);
	watchdog_disarm();
}

/* Mutual exclusion under contention across workers. */
#define EXCL_FIBERS 8
#define EXCL_ITERS 20000

struct excl {
	weft_mutex m;
	unsigned inside;	/* atomic */
	/* Under m, deliberately not atomic: */
	unsigned long counter;
	unsigned last_worker;	/* of the last holder */
	unsigned long crossed;	/* taken on another worker than last time */
	unsigned long migrated;	/* unlocked on another worker than locked */
};

/* Work outside the lock, so that both workers have fibers to run. */
static void spin(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		__asm__ volatile("" ::: "memory");
}

static void *excl_fn(void *arg)
{
	struct excl *x = arg;

	for (int i = 0; i < EXCL_ITERS; i++) {
		unsigned w;

		spin(5000);
		if (i % 64 == 0)
			weft_yield();
		check_eq(weft_mutex_lock(&x->m), 0);
		w = weft_worker_id();
		if (x->last_worker != w && x->last_worker != UINT32_MAX)
			x->crossed++;
		check_eq(__atomic_add_fetch(&x->inside, 1, __ATOMIC_RELAXED),
			 1);
		x->counter++;
		if (i % 16 == 0)
			weft_yield();
		__atomic_sub_fetch(&x->inside, 1, __ATOMIC_RELAXED);
		x->last_worker = weft_worker_id();
		if (x->last_worker != w)
			x->migrated++;
		check_eq(weft_mutex_unlock(&x->m), 0);
	}
	return NULL;
}

static void excl_main(void *arg)
{
	struct excl *x = arg;
	weft_fiber *f[EXCL_FIBERS];

	for (int i = 0; i < EXCL_FIBERS; i++)
		f[i] = check_spawn(excl_fn, x);
	for (int i = 0; i < EXCL_FIBERS; i++)
		check_join(f[i]);
}

static void test_mutex_exclusive_across_workers(void **state)
{
	struct excl x;

	(void)state;
	watchdog_arm(__func__, 120);
	/* Exclusion must hold in every round; a round in which the other
	 * worker never got the CPU (a loaded machine) proves little, so
	 * up to five are run until the lock has crossed between workers. */
	for (int round = 0; round < 5; round++) {
		memset(&x, 0, sizeof(x));
		weft_mutex_init(&x.m);
		x.last_worker = UINT32_MAX;
		run_checked(&two, excl_main, &x);
		print_message("%lu critical sections; the lock went to the "
			      "other worker %lu times, %lu holders moved "
			      "while holding it\n", x.counter, x.crossed,
			      x.migrated);
		assert_int_equal(x.counter,
				 (unsigned long)EXCL_FIBERS * EXCL_ITERS);
		if (x.crossed > 0)
			break;
	}
	/* The lock really passed between workers. */
	assert_true(x.crossed > 0);
	watchdog_disarm();
}

/*
 * Starvation: hogs relock in a tight loop, yielding inside the critical
 * section, so that a woken waiter always finds the lock taken again. A
 * waiter that arrives meanwhile must get the lock anyway (handoff mode),
 * long before the hogs give up.
 */
#define HOGS 3

struct starve {
	weft_mutex m;
	unsigned stop;		/* atomic */
	unsigned long hog_rounds;	/* atomic */
	uint64_t waited_ns;
	bool got_it;
	bool hogs_gave_up;
	uint64_t give_up_ns;
};

static void *hog(void *arg)
{
	struct starve *s = arg;
	int64_t end = weft_now_ns() + (int64_t)s->give_up_ns;

	while (!load(&s->stop)) {
		check_eq(weft_mutex_lock(&s->m), 0);
		weft_yield();
		check_eq(weft_mutex_unlock(&s->m), 0);
		__atomic_add_fetch(&s->hog_rounds, 1, __ATOMIC_RELAXED);
		if (weft_now_ns() > end) {
			s->hogs_gave_up = true;
			break;
		}
	}
	return NULL;
}

static void *victim(void *arg)
{
	struct starve *s = arg;
	uint64_t t0 = weft_now_ns();

	check_eq(weft_mutex_lock(&s->m), 0);
	s->waited_ns = weft_now_ns() - t0;
	s->got_it = !load(&s->stop);
	store(&s->stop, 1);
	check_eq(weft_mutex_unlock(&s->m), 0);
	return NULL;
}

static void starve_main(void *arg)
{
	struct starve *s = arg;
	weft_fiber *h[HOGS], *v;

	for (int i = 0; i < HOGS; i++)
		h[i] = check_spawn(hog, s);
	/* The hogs are at it before the victim arrives. */
	while (__atomic_load_n(&s->hog_rounds, __ATOMIC_RELAXED) < 100)
		weft_sleep_ns(MS / 10);
	v = check_spawn(victim, s);
	check_join(v);
	for (int i = 0; i < HOGS; i++)
		check_join(h[i]);
}

static void test_mutex_waiter_is_not_starved(void **state)
{
	const struct weft_config *cfgs[] = { &one, &two };
	uint64_t bound = (under_asan() || under_tsan() ? 4000 : 1000) * MS;

	(void)state;
	watchdog_arm(__func__, 60);
	for (int i = 0; i < 2; i++) {
		struct starve s = { .m = WEFT_MUTEX_INIT,
				    .give_up_ns = 10000 * MS };

		run_checked(cfgs[i], starve_main, &s);
		print_message("%u worker(s): waited %.3f ms while the hogs "
			      "went %lu rounds\n", cfgs[i]->workers,
			      s.waited_ns / 1e6, s.hog_rounds);
		assert_false(s.hogs_gave_up);
		assert_true(s.got_it);
		assert_true(s.waited_ns < bound);
	}
	watchdog_disarm();
}

/* Locking is not a cancellation point. */
struct nocancel {
	weft_mutex m;
	struct locker l;
};

static void nocancel_main(void *arg)
{
	struct nocancel *nc = arg;
	struct locker l2;
	weft_fiber *f;

	/* Blocked in lock when cancelled: it still gets the lock. */
	check_eq(weft_mutex_lock(&nc->m), 0);
	nc->l = (struct locker){ .m = &nc->m, .sleep_ns = 10000 * MS };
	f = check_spawn(locker_fn, &nc->l);
	settle();
	check_eq(load(&nc->l.stage), 1);
	check_eq(weft_cancel(f), 0);
	settle();
	weft_sleep_ns(20 * MS);
	/* Still waiting for the lock, not returned with an error. */
	check_eq(load(&nc->l.stage), 1);
	check_eq(weft_mutex_unlock(&nc->m), 0);
	check_join(f);
	check_eq(nc->l.lock_rc, 0);
	/* The request was kept for the next suspension. */
	check_eq(nc->l.sleep_rc, -ECANCELED);
	check(nc->l.sleep_ns < 5000 * MS);
	check_eq(nc->l.unlock_rc, 0);

	/* Cancelled before an uncontended lock: the same. */
	l2 = (struct locker){ .m = &nc->m, .sleep_ns = 10000 * MS };
	f = check_spawn(locker_fn, &l2);
	check_eq(weft_cancel(f), 0);
	check_join(f);
	check_eq(l2.lock_rc, 0);
	check_eq(l2.sleep_rc, -ECANCELED);
	check_eq(l2.unlock_rc, 0);
	check_eq(weft_mutex_trylock(&nc->m), 0);
	check_eq(weft_mutex_unlock(&nc->m), 0);
}

static void test_mutex_lock_is_not_a_cancellation_point(void **state)
{
	struct nocancel nc = { .m = WEFT_MUTEX_INIT };

	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, nocancel_main, &nc);
	memset(&nc, 0, sizeof(nc));
	run_checked(&two, nocancel_main, &nc);
	watchdog_disarm();
}

/* Condition variable ------------------------------------------------------- */

#define COND_N 8

struct condw {
	weft_mutex m;
	weft_cond c;
	unsigned tickets;	/* under m: order of arrival */
	unsigned returned;	/* atomic */
	unsigned order[COND_N];	/* tickets in order of return */
};

static void *cond_waiter(void *arg)
{
	struct condw *cw = arg;
	unsigned ticket, pos;
	int rc;

	check_eq(weft_mutex_lock(&cw->m), 0);
	ticket = cw->tickets++;
	rc = weft_cond_wait(&cw->c, &cw->m);
	check_eq(rc, 0);
	/* Held again: nobody else can take it. */
	check_eq(weft_mutex_trylock(&cw->m), -EBUSY);
	pos = __atomic_fetch_add(&cw->returned, 1, __ATOMIC_ACQ_REL);
	if (pos < COND_N)
		cw->order[pos] = ticket;
	check_eq(weft_mutex_unlock(&cw->m), 0);
	return NULL;
}

static void cond_signal_main(void *arg)
{
	struct condw *cw = arg;
	weft_fiber *f[COND_N];

	for (int i = 0; i < COND_N; i++)
		f[i] = check_spawn(cond_waiter, cw);
	/* All queued: each took its ticket and queued under the mutex. */
	for (;;) {
		check_eq(weft_mutex_lock(&cw->m), 0);
		unsigned n = cw->tickets;

		check_eq(weft_mutex_unlock(&cw->m), 0);
		if (n == COND_N)
			break;
		weft_sleep_ns(MS / 10);
	}
	/* A signal wakes exactly one, the longest waiter, then the next. */
	for (unsigned k = 1; k <= COND_N / 2; k++) {
		check_eq(weft_cond_signal(&cw->c), 0);
		wait_for(&cw->returned, k);
		weft_sleep_ns(10 * MS);
		check_eq(load(&cw->returned), k);
	}
	/* A broadcast wakes all the others. */
	check_eq(weft_cond_broadcast(&cw->c), 0);
	wait_for(&cw->returned, COND_N);
	for (int i = 0; i < COND_N; i++)
		check_join(f[i]);
	/* Nobody waits now: signals are not remembered. */
	check_eq(weft_cond_signal(&cw->c), 0);
	check_eq(weft_cond_broadcast(&cw->c), 0);
	check_eq(weft_mutex_lock(&cw->m), 0);
	check_eq(weft_cond_wait_until(&cw->c, &cw->m,
				      weft_now_ns() + 5 * MS),
		 -ETIMEDOUT);
	check_eq(weft_mutex_unlock(&cw->m), 0);
}

static void test_cond_signal_wakes_one_broadcast_all(void **state)
{
	const struct weft_config *cfgs[] = { &one, &two };

	(void)state;
	watchdog_arm(__func__, 30);
	for (int i = 0; i < 2; i++) {
		struct condw cw = { WEFT_MUTEX_INIT, WEFT_COND_INIT };

		run_checked(cfgs[i], cond_signal_main, &cw);
		assert_int_equal(cw.returned, COND_N);
		/* Signals served the longest waiters first. */
		for (unsigned k = 0; k < COND_N / 2; k++)
			assert_int_equal(cw.order[k], k);
	}
	watchdog_disarm();
}

/* After a cancel or a timeout the mutex is held again. */
struct cond_abort {
	weft_mutex m;
	weft_cond c;
	int64_t deadline;	/* for cond_wait_until; WEFT_FOREVER: wait */
	int64_t fiber_deadline;	/* set with weft_set_deadline, or FOREVER */
	unsigned waiting;	/* atomic */
	int rc, trylock_rc, unlock_rc;
	uint64_t returned_at;
};

static void *cond_abort_fn(void *arg)
{
	struct cond_abort *ca = arg;
	int64_t old = weft_set_deadline(ca->fiber_deadline);

	check_eq(weft_mutex_lock(&ca->m), 0);
	store(&ca->waiting, 1);
	ca->rc = ca->deadline == WEFT_FOREVER ?
			 weft_cond_wait(&ca->c, &ca->m) :
			 weft_cond_wait_until(&ca->c, &ca->m, ca->deadline);
	ca->returned_at = weft_now_ns();
	ca->trylock_rc = weft_mutex_trylock(&ca->m);
	ca->unlock_rc = weft_mutex_unlock(&ca->m);
	weft_set_deadline(old);
	return NULL;
}

static void cond_abort_main(void *arg)
{
	struct cond_abort *ca = arg;
	weft_fiber *f;
	uint64_t unlocked_at;

	/* Cancelled while waiting. */
	*ca = (struct cond_abort){ WEFT_MUTEX_INIT, WEFT_COND_INIT,
				   WEFT_FOREVER, WEFT_FOREVER };
	f = check_spawn(cond_abort_fn, ca);
	wait_for(&ca->waiting, 1);
	check_eq(weft_cancel(f), 0);
	check_join(f);
	check_eq(ca->rc, -ECANCELED);
	check_eq(ca->trylock_rc, -EBUSY);
	check_eq(ca->unlock_rc, 0);

	/* Timed out, with weft_cond_wait_until. */
	*ca = (struct cond_abort){ WEFT_MUTEX_INIT, WEFT_COND_INIT,
				   weft_now_ns() + 20 * MS,
				   WEFT_FOREVER };
	check_join(check_spawn(cond_abort_fn, ca));
	check_eq(ca->rc, -ETIMEDOUT);
	check(ca->returned_at >= (uint64_t)ca->deadline);
	check_eq(ca->trylock_rc, -EBUSY);
	check_eq(ca->unlock_rc, 0);

	/* Timed out by the fiber's deadline. */
	*ca = (struct cond_abort){ WEFT_MUTEX_INIT, WEFT_COND_INIT,
				   WEFT_FOREVER,
				   weft_now_ns() + 20 * MS };
	check_join(check_spawn(cond_abort_fn, ca));
	check_eq(ca->rc, -ETIMEDOUT);
	check(ca->returned_at >= (uint64_t)ca->fiber_deadline);
	check_eq(ca->trylock_rc, -EBUSY);
	check_eq(ca->unlock_rc, 0);

	/* A deadline already past. */
	*ca = (struct cond_abort){ WEFT_MUTEX_INIT, WEFT_COND_INIT,
				   weft_now_ns() - MS, WEFT_FOREVER };
	check_join(check_spawn(cond_abort_fn, ca));
	check_eq(ca->rc, -ETIMEDOUT);
	check_eq(ca->trylock_rc, -EBUSY);
	check_eq(ca->unlock_rc, 0);

	/* Timed out while another fiber holds the mutex: it returns only
	 * once it has the mutex again. */
	*ca = (struct cond_abort){ WEFT_MUTEX_INIT, WEFT_COND_INIT,
				   weft_now_ns() + 10 * MS,
				   WEFT_FOREVER };
	f = check_spawn(cond_abort_fn, ca);
	wait_for(&ca->waiting, 1);
	check_eq(weft_mutex_lock(&ca->m), 0);
	weft_sleep_ns(40 * MS);
	unlocked_at = weft_now_ns();
	check_eq(weft_mutex_unlock(&ca->m), 0);
	check_join(f);
	check_eq(ca->rc, -ETIMEDOUT);
	check(ca->returned_at >= unlocked_at);
	check_eq(ca->trylock_rc, -EBUSY);
	check_eq(ca->unlock_rc, 0);
}

static void test_cond_wait_holds_mutex_after_cancel_and_timeout(void **state)
{
	struct cond_abort ca;

	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, cond_abort_main, &ca);
	run_checked(&two, cond_abort_main, &ca);
	watchdog_disarm();
}

/*
 * A negative deadline is none (weft.h, Time and deadlines): the wait is
 * still there after 20 ms and ends with a signal; it once timed out at
 * once. 0 has passed: -ETIMEDOUT at once, the mutex never let go.
 */
struct cond_edge {
	weft_mutex m;
	weft_cond c;
	int64_t deadline;
	unsigned stage;		/* atomic: 1 waiting, 2 returned */
	int rc, trylock_rc;
};

static void *cond_edge_fn(void *arg)
{
	struct cond_edge *ce = arg;

	check_eq(weft_mutex_lock(&ce->m), 0);
	store(&ce->stage, 1);
	ce->rc = weft_cond_wait_until(&ce->c, &ce->m, ce->deadline);
	ce->trylock_rc = weft_mutex_trylock(&ce->m);
	store(&ce->stage, 2);
	check_eq(weft_mutex_unlock(&ce->m), 0);
	return NULL;
}

static void cond_edge_main(void *arg)
{
	static const int64_t none[] = { -2, INT64_MIN };
	struct cond_edge *ce = arg;
	weft_fiber *f;

	for (unsigned i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		*ce = (struct cond_edge){ WEFT_MUTEX_INIT, WEFT_COND_INIT,
					  none[i] };
		f = check_spawn(cond_edge_fn, ce);
		wait_for(&ce->stage, 1);
		weft_sleep_ns(20 * MS);
		check(load(&ce->stage) == 1);
		/* Holding the mutex, the waiter is queued: no lost signal. */
		check_eq(weft_mutex_lock(&ce->m), 0);
		check_eq(weft_cond_signal(&ce->c), 0);
		check_eq(weft_mutex_unlock(&ce->m), 0);
		check_join(f);
		check_eq(ce->rc, 0);
		check_eq(ce->trylock_rc, -EBUSY);
	}

	*ce = (struct cond_edge){ WEFT_MUTEX_INIT, WEFT_COND_INIT, 0 };
	check_join(check_spawn(cond_edge_fn, ce));
	check_eq(ce->rc, -ETIMEDOUT);
	check_eq(ce->trylock_rc, -EBUSY);
}

static void test_cond_wait_until_negative_waits_for_a_signal(void **state)
{
	struct cond_edge ce;

	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, cond_edge_main, &ce);
	run_checked(&two, cond_edge_main, &ce);
	watchdog_disarm();
}

struct cond_eperm {
	weft_mutex m;
	weft_cond c;
	int unlocked_rc, until_rc, trylock_rc;
};

static void cond_eperm_main(void *arg)
{
	struct cond_eperm *ce = arg;

	/* The mutex is not locked: refused, and left unlocked. */
	ce->unlocked_rc = weft_cond_wait(&ce->c, &ce->m);
	ce->until_rc = weft_cond_wait_until(&ce->c, &ce->m,
					    weft_now_ns() + MS);
	ce->trylock_rc = weft_mutex_trylock(&ce->m);
	check_eq(weft_mutex_unlock(&ce->m), 0);
}

static void test_cond_wait_needs_a_locked_mutex_and_a_fiber(void **state)
{
	struct cond_eperm ce = { WEFT_MUTEX_INIT, WEFT_COND_INIT };

	(void)state;
	/* Outside a fiber, with the mutex locked: refused, still locked. */
	assert_int_equal(weft_mutex_trylock(&ce.m), 0);
	assert_int_equal(weft_cond_wait(&ce.c, &ce.m), -EPERM);
	assert_int_equal(weft_cond_wait_until(&ce.c, &ce.m, WEFT_FOREVER),
			 -EPERM);
	assert_int_equal(weft_mutex_trylock(&ce.m), -EBUSY);
	assert_int_equal(weft_mutex_unlock(&ce.m), 0);
	/* Releasing calls work anywhere. */
	assert_int_equal(weft_cond_signal(&ce.c), 0);
	assert_int_equal(weft_cond_broadcast(&ce.c), 0);

	watchdog_arm(__func__, 30);
	run_checked(&one, cond_eperm_main, &ce);
	assert_int_equal(ce.unlocked_rc, -EPERM);
	assert_int_equal(ce.until_rc, -EPERM);
	assert_int_equal(ce.trylock_rc, 0);
	watchdog_disarm();
}

/* A plain thread sets the predicate under the mutex and signals. */
struct cond_thread {
	weft_mutex m;
	weft_cond c;
	unsigned ready;		/* under m */
	unsigned waiting;	/* atomic */
	unsigned woken;		/* atomic */
};

static void *cond_thread_waiter(void *arg)
{
	struct cond_thread *ct = arg;

	check_eq(weft_mutex_lock(&ct->m), 0);
	__atomic_add_fetch(&ct->waiting, 1, __ATOMIC_RELEASE);
	while (!ct->ready)
		check_eq(weft_cond_wait(&ct->c, &ct->m), 0);
	check_eq(weft_mutex_unlock(&ct->m), 0);
	__atomic_add_fetch(&ct->woken, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *cond_signaller(void *arg)
{
	struct cond_thread *ct = arg;

	while (load(&ct->waiting) < 2)
		sched_yield();
	while (weft_mutex_trylock(&ct->m) != 0)
		sched_yield();
	ct->ready = 1;
	check_eq(weft_mutex_unlock(&ct->m), 0);
	check_eq(weft_cond_signal(&ct->c), 0);
	check_eq(weft_cond_broadcast(&ct->c), 0);
	return NULL;
}

static void cond_thread_main(void *arg)
{
	struct cond_thread *ct = arg;
	weft_fiber *f[2];
	pthread_t t;

	f[0] = check_spawn(cond_thread_waiter, ct);
	f[1] = check_spawn(cond_thread_waiter, ct);
	check_eq(pthread_create(&t, NULL, cond_signaller, ct), 0);
	check_join(f[0]);
	check_join(f[1]);
	pthread_join(t, NULL);
	check_eq(load(&ct->woken), 2);
}

static void test_cond_signalled_from_a_plain_thread(void **state)
{
	struct cond_thread ct = { WEFT_MUTEX_INIT, WEFT_COND_INIT };

	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&two, cond_thread_main, &ct);
	watchdog_disarm();
}

/* Wait group --------------------------------------------------------------- */

static weft_wg wg_static = WEFT_WG_INIT;

struct wg_task {
	weft_wg *wg;
	unsigned *done;
	uint64_t sleep_ns;
};

static void *wg_task_fn(void *arg)
{
	struct wg_task *t = arg;

	weft_sleep_ns(t->sleep_ns);
	__atomic_add_fetch(t->done, 1, __ATOMIC_RELEASE);
	check_eq(weft_wg_done(t->wg), 0);
	return NULL;
}

static void *wg_waiter(void *arg)
{
	return (void *)(intptr_t)weft_wg_wait(arg);
}

static void wg_main(void *arg)
{
	struct wg_task tasks[10];
	weft_fiber *f[20];
	unsigned done = 0;
	weft_wg wg;
	void *r;

	(void)arg;
	/* At zero, wait returns at once. */
	check_eq(weft_wg_wait(&wg_static), 0);
	/* Going below zero is refused and changes nothing. */
	check_eq(weft_wg_add(&wg_static, -1), -EINVAL);
	check_eq(weft_wg_done(&wg_static), -EINVAL);
	check_eq(weft_wg_add(&wg_static, 2), 0);
	check_eq(weft_wg_add(&wg_static, -3), -EINVAL);
	check_eq(weft_wg_add(&wg_static, -2), 0);
	check_eq(weft_wg_wait(&wg_static), 0);

	/* Ten tasks; wait returns once all called done. */
	check_eq(weft_wg_add(&wg_static, 10), 0);
	for (int i = 0; i < 10; i++) {
		tasks[i] = (struct wg_task){ &wg_static, &done,
					     (uint64_t)(i % 3) * MS };
		check_eq(weft_go(wg_task_fn, &tasks[i]), 0);
	}
	check_eq(weft_wg_wait(&wg_static), 0);
	check_eq(load(&done), 10);
	check_eq(weft_wg_wait(&wg_static), 0);

	/* Many waiters, all woken by the last done. */
	weft_wg_init(&wg);
	check_eq(weft_wg_add(&wg, 1), 0);
	for (int i = 0; i < 20; i++)
		f[i] = check_spawn(wg_waiter, &wg);
	settle();
	check_eq(weft_wg_done(&wg), 0);
	for (int i = 0; i < 20; i++) {
		check_eq(weft_join(f[i], &r), 0);
		check_eq((intptr_t)r, 0);
	}
}

static void test_wg_add_done_wait(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, wg_main, NULL);
	run_checked(&two, wg_main, NULL);
	assert_int_equal(weft_wg_wait(&wg_static), -EPERM);
	watchdog_disarm();
}

struct wg_thread {
	weft_wg wg;
	unsigned done;	/* atomic */
};

static void *wg_done_thread(void *arg)
{
	struct wg_thread *wt = arg;
	struct timespec ts = { 0, 2 * MS };

	for (int i = 0; i < 3; i++) {
		nanosleep(&ts, NULL);
		__atomic_add_fetch(&wt->done, 1, __ATOMIC_RELEASE);
		check_eq(weft_wg_done(&wt->wg), 0);
	}
	return NULL;
}

static void wg_thread_main(void *arg)
{
	struct wg_thread *wt = arg;
	pthread_t t;

	check_eq(weft_wg_add(&wt->wg, 3), 0);
	check_eq(pthread_create(&t, NULL, wg_done_thread, wt), 0);
	check_eq(weft_wg_wait(&wt->wg), 0);
	check_eq(load(&wt->done), 3);
	pthread_join(t, NULL);
}

static void test_wg_done_from_a_plain_thread(void **state)
{
	struct wg_thread wt = { WEFT_WG_INIT, 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&two, wg_thread_main, &wt);
	watchdog_disarm();
}

static void *wg_deadline_waiter(void *arg)
{
	int64_t old = weft_set_deadline(weft_now_ns() + 20 * MS);
	int rc = weft_wg_wait(arg);

	weft_set_deadline(old);
	return (void *)(intptr_t)rc;
}

static void wg_abort_main(void *arg)
{
	weft_wg wg = WEFT_WG_INIT;
	weft_fiber *f;
	void *r;

	(void)arg;
	check_eq(weft_wg_add(&wg, 1), 0);
	f = check_spawn(wg_waiter, &wg);
	settle();
	check_eq(weft_cancel(f), 0);
	check_eq(weft_join(f, &r), 0);
	check_eq((intptr_t)r, -ECANCELED);
	check_eq(weft_join(check_spawn(wg_deadline_waiter, &wg), &r), 0);
	check_eq((intptr_t)r, -ETIMEDOUT);
	/* Still counting; a new waiter is woken as usual. */
	f = check_spawn(wg_waiter, &wg);
	settle();
	check_eq(weft_wg_done(&wg), 0);
	check_eq(weft_join(f, &r), 0);
	check_eq((intptr_t)r, 0);
}

static void test_wg_wait_cancel_and_deadline(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, wg_abort_main, NULL);
	run_checked(&two, wg_abort_main, NULL);
	watchdog_disarm();
}

/* Semaphore ---------------------------------------------------------------- */

static weft_sem sem_static = WEFT_SEM_INIT(2);

static void test_sem_init_and_try_acquire(void **state)
{
	weft_sem s;

	(void)state;
	assert_int_equal(weft_sem_init(&s, -1), -EINVAL);
	assert_int_equal(weft_sem_init(&s, 0), 0);
	assert_int_equal(weft_sem_try_acquire(&s), -EAGAIN);
	assert_int_equal(weft_sem_release(&s), 0);
	assert_int_equal(weft_sem_try_acquire(&s), 0);
	assert_int_equal(weft_sem_try_acquire(&s), -EAGAIN);
	/* Outside a fiber acquire is refused, and takes nothing. */
	assert_int_equal(weft_sem_release(&s), 0);
	assert_int_equal(weft_sem_acquire(&s), -EPERM);
	assert_int_equal(weft_sem_try_acquire(&s), 0);
	/* The static initialiser. */
	assert_int_equal(weft_sem_try_acquire(&sem_static), 0);
	assert_int_equal(weft_sem_try_acquire(&sem_static), 0);
	assert_int_equal(weft_sem_try_acquire(&sem_static), -EAGAIN);
	assert_int_equal(weft_sem_release(&sem_static), 0);
	assert_int_equal(weft_sem_release(&sem_static), 0);
}

/* FIFO handoff: units go to waiters in arrival order, not to bargers. */
#define SEM_WAITERS 6

struct sem_fifo {
	weft_sem s;
	unsigned arrivals;	/* atomic */
	unsigned arrival[SEM_WAITERS];
	unsigned acquired;	/* atomic */
	unsigned order[SEM_WAITERS];
};

struct sem_fifo_arg {
	struct sem_fifo *sf;
	unsigned id;
};

static void *sem_fifo_waiter(void *arg)
{
	struct sem_fifo_arg *a = arg;
	struct sem_fifo *sf = a->sf;
	unsigned pos;

	/* No yield point between taking a place and queueing. */
	sf->arrival[__atomic_fetch_add(&sf->arrivals, 1, __ATOMIC_RELAXED)] =
		a->id;
	check_eq(weft_sem_acquire(&sf->s), 0);
	pos = __atomic_fetch_add(&sf->acquired, 1, __ATOMIC_ACQ_REL);
	sf->order[pos] = a->id;
	return NULL;
}

static void sem_fifo_main(void *arg)
{
	struct sem_fifo *sf = arg;
	struct sem_fifo_arg a[SEM_WAITERS];
	weft_fiber *f[SEM_WAITERS];

	for (unsigned i = 0; i < SEM_WAITERS; i++) {
		a[i] = (struct sem_fifo_arg){ sf, i };
		f[i] = check_spawn(sem_fifo_waiter, &a[i]);
	}
	settle();
	check_eq(load(&sf->arrivals), SEM_WAITERS);
	check_eq(load(&sf->acquired), 0);
	for (unsigned k = 1; k <= SEM_WAITERS; k++) {
		check_eq(weft_sem_release(&sf->s), 0);
		/* The unit went to a waiter: none left for a barger. */
		check_eq(weft_sem_try_acquire(&sf->s), -EAGAIN);
		wait_for(&sf->acquired, k);
	}
	for (unsigned i = 0; i < SEM_WAITERS; i++)
		check_join(f[i]);
	check_eq(weft_sem_try_acquire(&sf->s), -EAGAIN);
}

static void test_sem_fifo_handoff(void **state)
{
	struct sem_fifo sf = { WEFT_SEM_INIT(0) };

	(void)state;
	watchdog_arm(__func__, 30);
	/* One worker: arrival order is the order of queueing. */
	run_checked(&one, sem_fifo_main, &sf);
	for (unsigned i = 0; i < SEM_WAITERS; i++)
		assert_int_equal(sf.order[i], sf.arrival[i]);
	watchdog_disarm();
}

/* The count bounds how many are inside at once. */
#define LIMIT_FIBERS 30
#define LIMIT_ITERS 100

struct sem_limit {
	weft_sem s;
	unsigned inside;	/* atomic */
	unsigned max;		/* atomic */
	unsigned total;		/* atomic */
};

static void *sem_limit_fn(void *arg)
{
	struct sem_limit *sl = arg;

	for (int i = 0; i < LIMIT_ITERS; i++) {
		unsigned in, m;

		check_eq(weft_sem_acquire(&sl->s), 0);
		in = __atomic_add_fetch(&sl->inside, 1, __ATOMIC_ACQ_REL);
		m = __atomic_load_n(&sl->max, __ATOMIC_RELAXED);
		while (in > m && !__atomic_compare_exchange_n(
					 &sl->max, &m, in, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			;
		weft_yield();
		__atomic_sub_fetch(&sl->inside, 1, __ATOMIC_ACQ_REL);
		__atomic_add_fetch(&sl->total, 1, __ATOMIC_RELAXED);
		check_eq(weft_sem_release(&sl->s), 0);
	}
	return NULL;
}

static void sem_limit_main(void *arg)
{
	struct sem_limit *sl = arg;
	weft_fiber *f[LIMIT_FIBERS];

	for (int i = 0; i < LIMIT_FIBERS; i++)
		f[i] = check_spawn(sem_limit_fn, sl);
	for (int i = 0; i < LIMIT_FIBERS; i++)
		check_join(f[i]);
	/* All units are back. */
	for (int i = 0; i < 3; i++)
		check_eq(weft_sem_try_acquire(&sl->s), 0);
	check_eq(weft_sem_try_acquire(&sl->s), -EAGAIN);
}

static void test_sem_limits_concurrency(void **state)
{
	const struct weft_config *cfgs[] = { &one, &two };

	(void)state;
	watchdog_arm(__func__, 60);
	for (int i = 0; i < 2; i++) {
		struct sem_limit sl = { WEFT_SEM_INIT(3) };

		run_checked(cfgs[i], sem_limit_main, &sl);
		assert_int_equal(sl.total, LIMIT_FIBERS * LIMIT_ITERS);
		assert_int_equal(sl.max, 3);
	}
	watchdog_disarm();
}

static void *sem_acquirer(void *arg)
{
	return (void *)(intptr_t)weft_sem_acquire(arg);
}

static void *sem_deadline_acquirer(void *arg)
{
	int64_t old = weft_set_deadline(weft_now_ns() + 20 * MS);
	int rc = weft_sem_acquire(arg);

	weft_set_deadline(old);
	return (void *)(intptr_t)rc;
}

static void *sem_release_thread(void *arg)
{
	struct timespec ts = { 0, 5 * MS };

	nanosleep(&ts, NULL);
	check_eq(weft_sem_release(arg), 0);
	return NULL;
}

static void sem_abort_main(void *arg)
{
	weft_sem s = WEFT_SEM_INIT(0);
	weft_fiber *f;
	pthread_t t;
	void *r;

	(void)arg;
	/* Cancelled: -ECANCELED, and a later unit is not taken by it. */
	f = check_spawn(sem_acquirer, &s);
	settle();
	check_eq(weft_cancel(f), 0);
	check_eq(weft_join(f, &r), 0);
	check_eq((intptr_t)r, -ECANCELED);
	check_eq(weft_sem_release(&s), 0);
	check_eq(weft_sem_try_acquire(&s), 0);
	check_eq(weft_sem_try_acquire(&s), -EAGAIN);

	/* Past the fiber's deadline: -ETIMEDOUT, the same. */
	check_eq(weft_join(check_spawn(sem_deadline_acquirer, &s), &r), 0);
	check_eq((intptr_t)r, -ETIMEDOUT);
	check_eq(weft_sem_release(&s), 0);
	check_eq(weft_sem_try_acquire(&s), 0);
	check_eq(weft_sem_try_acquire(&s), -EAGAIN);

	/* A plain thread's release wakes a waiting fiber. */
	f = check_spawn(sem_acquirer, &s);
	check_eq(pthread_create(&t, NULL, sem_release_thread, &s), 0);
	check_eq(weft_join(f, &r), 0);
	check_eq((intptr_t)r, 0);
	pthread_join(t, NULL);
	check_eq(weft_sem_try_acquire(&s), -EAGAIN);
}

static void test_sem_acquire_cancel_deadline_and_thread_release(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, sem_abort_main, NULL);
	run_checked(&two, sem_abort_main, NULL);
	watchdog_disarm();
}

/* Once --------------------------------------------------------------------- */

#define ONCE_FIBERS 100

static weft_once once_static = WEFT_ONCE_INIT;

struct once_ctx {
	unsigned calls;		/* atomic */
	unsigned finished;	/* atomic */
	unsigned early;		/* atomic: returned before fn had */
};

static void once_fn(void *arg)
{
	struct once_ctx *oc = arg;

	__atomic_add_fetch(&oc->calls, 1, __ATOMIC_RELAXED);
	/* A suspension inside fn: the others must keep waiting. */
	weft_sleep_ns(5 * MS);
	store(&oc->finished, 1);
}

static void *once_caller(void *arg)
{
	struct once_ctx *oc = arg;

	check_eq(weft_call_once(&once_static, once_fn, oc), 0);
	if (!load(&oc->finished))
		__atomic_add_fetch(&oc->early, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void once_main(void *arg)
{
	weft_fiber *f[ONCE_FIBERS];

	for (int i = 0; i < ONCE_FIBERS; i++)
		f[i] = check_spawn(once_caller, arg);
	for (int i = 0; i < ONCE_FIBERS; i++)
		check_join(f[i]);
}

static void test_once_runs_exactly_once(void **state)
{
	struct once_ctx oc = { 0 };
	weft_once fresh = WEFT_ONCE_INIT;

	(void)state;
	/* Outside a fiber before it ran: refused, fn not run. */
	assert_int_equal(weft_call_once(&fresh, once_fn, &oc), -EPERM);
	assert_int_equal(oc.calls, 0);

	watchdog_arm(__func__, 30);
	run_checked(&two, once_main, &oc);
	assert_int_equal(oc.calls, 1);
	assert_int_equal(oc.finished, 1);
	assert_int_equal(oc.early, 0);
	/* Once it has run, any thread gets 0 and nothing runs. */
	assert_int_equal(weft_call_once(&once_static, once_fn, &oc), 0);
	run_checked(&one, once_main, &oc);
	assert_int_equal(oc.calls, 1);
	watchdog_disarm();
}

/* Static initialisers ------------------------------------------------------ */

static weft_mutex init_m = WEFT_MUTEX_INIT;
static weft_cond init_c = WEFT_COND_INIT;
static weft_wg init_wg = WEFT_WG_INIT;
static weft_sem init_sem = WEFT_SEM_INIT(1);
static weft_once init_once = WEFT_ONCE_INIT;
static unsigned init_once_runs;

static void init_once_fn(void *arg)
{
	(void)arg;
	init_once_runs++;
}

static void *init_signaller(void *arg)
{
	(void)arg;
	check_eq(weft_mutex_lock(&init_m), 0);
	check_eq(weft_cond_signal(&init_c), 0);
	check_eq(weft_mutex_unlock(&init_m), 0);
	check_eq(weft_sem_acquire(&init_sem), 0);
	check_eq(weft_wg_done(&init_wg), 0);
	return NULL;
}

static void init_main(void *arg)
{
	weft_fiber *f;

	(void)arg;
	check_eq(weft_call_once(&init_once, init_once_fn, NULL), 0);
	check_eq(weft_call_once(&init_once, init_once_fn, NULL), 0);
	check_eq(weft_wg_wait(&init_wg), 0);
	check_eq(weft_wg_add(&init_wg, 1), 0);
	check_eq(weft_sem_acquire(&init_sem), 0);
	check_eq(weft_mutex_lock(&init_m), 0);
	f = check_spawn(init_signaller, NULL);
	/* The signaller can signal only once this waits (it needs m). */
	check_eq(weft_cond_wait(&init_c, &init_m), 0);
	check_eq(weft_mutex_unlock(&init_m), 0);
	/* It waits for the unit we hold. */
	check_eq(weft_sem_release(&init_sem), 0);
	check_eq(weft_wg_wait(&init_wg), 0);
	check_join(f);
	check_eq(weft_sem_release(&init_sem), 0);
}

static void test_static_initialisers(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&two, init_main, NULL);
	assert_int_equal(init_once_runs, 1);
	assert_int_equal(weft_sem_try_acquire(&init_sem), 0);
	assert_int_equal(weft_sem_try_acquire(&init_sem), -EAGAIN);
	assert_int_equal(weft_mutex_trylock(&init_m), 0);
	watchdog_disarm();
}

/* Gather: weft_join_all ---------------------------------------------------- */

static void *ret_after(void *arg)
{
	intptr_t i = (intptr_t)arg;

	weft_sleep_ns((int64_t)(10 - i % 10) * MS);
	return (void *)(i * 7);
}

static void *ret_now(void *arg)
{
	return arg;
}

static void join_all_main(void *arg)
{
	weft_fiber *f[10];
	void *res[10];

	(void)arg;
	for (intptr_t i = 0; i < 10; i++)
		f[i] = check_spawn(ret_after, (void *)i);
	check_eq(weft_join_all(f, 10, res), 0);
	for (intptr_t i = 0; i < 10; i++) {
		check_eq((intptr_t)res[i], i * 7);
		/* Joined: the handles are gone. */
		check_eq(weft_join(f[i], NULL), -ESRCH);
	}
	/* Results may be NULL; n may be 0. */
	for (intptr_t i = 0; i < 10; i++)
		f[i] = check_spawn(ret_after, (void *)i);
	check_eq(weft_join_all(f, 10, NULL), 0);
	check_eq(weft_join(f[3], NULL), -ESRCH);
	check_eq(weft_join_all(NULL, 0, NULL), 0);
}

/* A bad handle is skipped; the others are joined all the same. */
static void join_all_bad_main(void *arg)
{
	weft_fiber *stale, *f[5];
	void *res[5];

	(void)arg;
	stale = check_spawn(ret_now, (void *)1);
	check_join(stale);
	f[0] = check_spawn(ret_after, (void *)1);
	f[1] = stale;
	f[2] = check_spawn(ret_after, (void *)2);
	f[3] = weft_self();
	f[4] = check_spawn(ret_now, (void *)99);
	for (int i = 0; i < 5; i++)
		res[i] = (void *)(intptr_t)-1;
	check_eq(weft_join_all(f, 5, res), -ESRCH);
	check_eq((intptr_t)res[0], 7);
	check(res[1] == NULL);
	check_eq((intptr_t)res[2], 14);
	check(res[3] == NULL);
	check_eq((intptr_t)res[4], 99);
	check_eq(weft_join(f[0], NULL), -ESRCH);
	check_eq(weft_join(f[2], NULL), -ESRCH);
	check_eq(weft_join(f[4], NULL), -ESRCH);
	/* The lowest index's error, whichever kind. */
	f[0] = check_spawn(ret_now, (void *)1);
	f[1] = weft_self();
	f[2] = stale;
	check_eq(weft_join_all(f, 3, res), -EDEADLK);
	check_eq((intptr_t)res[0], 1);
	check_eq(weft_join_all(NULL, 2, res), -EINVAL);
}

/* Gathering children that sleep ten seconds, cancelled: it cancels them. */
struct gather_cancel {
	weft_fiber *children[4];
	void *res[4];
	int rc;
	int rejoin[4];
	unsigned started;	/* atomic */
};

static void *long_sleeper(void *arg)
{
	struct gather_cancel *gc = arg;

	__atomic_add_fetch(&gc->started, 1, __ATOMIC_RELEASE);
	return (void *)(intptr_t)weft_sleep_ns(10000 * MS);
}

static void *gatherer(void *arg)
{
	struct gather_cancel *gc = arg;

	for (int i = 0; i < 3; i++)
		gc->children[i] = check_spawn(long_sleeper, gc);
	gc->children[3] = check_spawn(ret_now, (void *)42);
	gc->rc = weft_join_all(gc->children, 4, gc->res);
	for (int i = 0; i < 4; i++)
		gc->rejoin[i] = weft_join(gc->children[i], NULL);
	return NULL;
}

static void join_all_cancel_main(void *arg)
{
	struct gather_cancel *gc = arg;
	uint64_t t0 = weft_now_ns();
	weft_fiber *g;

	g = check_spawn(gatherer, gc);
	wait_for(&gc->started, 3);
	settle();
	check_eq(weft_cancel(g), 0);
	check_join(g);
	check(weft_now_ns() - t0 < 5000 * MS);
}

static void test_join_all_results_in_order(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, join_all_main, NULL);
	run_checked(&two, join_all_main, NULL);
	watchdog_disarm();
}

static void test_join_all_skips_bad_handles(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, join_all_bad_main, NULL);
	run_checked(&two, join_all_bad_main, NULL);
	watchdog_disarm();
}

static void test_join_all_cancelled_cancels_children(void **state)
{
	const struct weft_config *cfgs[] = { &one, &two };

	(void)state;
	watchdog_arm(__func__, 30);
	for (int k = 0; k < 2; k++) {
		struct gather_cancel gc = { 0 };

		run_checked(cfgs[k], join_all_cancel_main, &gc);
		assert_int_equal(gc.rc, -ECANCELED);
		for (int i = 0; i < 3; i++)
			assert_int_equal((intptr_t)gc.res[i], -ECANCELED);
		assert_int_equal((intptr_t)gc.res[3], 42);
		/* Every child was joined. */
		for (int i = 0; i < 4; i++)
			assert_int_equal(gc.rejoin[i], -ESRCH);
	}
	watchdog_disarm();
}

/* Gather: weft_join_any ---------------------------------------------------- */

static void *sleep_then_ret(void *arg)
{
	intptr_t ms = (intptr_t)arg;

	weft_sleep_ns((int64_t)ms * MS);
	return (void *)(ms + 1);
}

static void join_any_sleep_main(void *arg)
{
	intptr_t ms[3] = { 1000, 30, 2000 };
	weft_fiber *f[3];
	void *r = NULL;

	(void)arg;
	for (int i = 0; i < 3; i++)
		f[i] = check_spawn(sleep_then_ret, (void *)ms[i]);
	check_eq(weft_join_any(f, 3, &r), 1);
	check_eq((intptr_t)r, 31);
	/* The others are left as they were: still joinable. */
	check_eq(weft_join(f[1], NULL), -ESRCH);
	check_eq(weft_join(f[0], &r), 0);
	check_eq((intptr_t)r, 1001);
	check_eq(weft_join(f[2], &r), 0);
	check_eq((intptr_t)r, 2001);
}

/* Children that end when told to, through their own channel. */
static void *wait_chan(void *arg)
{
	weft_chan *c = arg;
	int v = -1;

	if (weft_chan_recv(c, &v))
		return (void *)-1;
	return (void *)(intptr_t)v;
}

static void join_any_order_main(void *arg)
{
	weft_fiber *f[3], *rest[2];
	weft_chan *c[3];
	void *r = NULL;

	(void)arg;
	for (int i = 0; i < 3; i++) {
		check_eq(weft_chan_new(&c[i], sizeof(int), 0), 0);
		f[i] = check_spawn(wait_chan, c[i]);
	}
	settle();
	check_eq(weft_chan_send(c[2], &(int){ 20 }), 0);
	check_eq(weft_join_any(f, 3, &r), 2);
	check_eq((intptr_t)r, 20);
	rest[0] = f[0];
	rest[1] = f[1];
	check_eq(weft_chan_send(c[1], &(int){ 10 }), 0);
	check_eq(weft_join_any(rest, 2, NULL), 1);
	check_eq(weft_chan_send(c[0], &(int){ 0 }), 0);
	r = (void *)-5;
	check_eq(weft_join_any(rest, 1, &r), 0);
	check_eq((intptr_t)r, 0);
	for (int i = 0; i < 3; i++)
		weft_chan_free(c[i]);
}

static void test_join_any_returns_the_first_to_end(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&two, join_any_sleep_main, NULL);
	run_checked(&one, join_any_order_main, NULL);
	run_checked(&two, join_any_order_main, NULL);
	watchdog_disarm();
}

static void *joiner(void *arg)
{
	return (void *)(intptr_t)weft_join(arg, NULL);
}

static void join_any_args_main(void *arg)
{
	weft_fiber *f[3], *dup[2], *with_self[2], *with_stale[2], *stale;
	weft_fiber *detached, *j;
	weft_chan *c;
	void *r;

	(void)arg;
	check_eq(weft_chan_new(&c, 0, 0), 0);
	for (int i = 0; i < 3; i++)
		f[i] = check_spawn(wait_chan, c);
	stale = check_spawn(ret_now, NULL);
	check_join(stale);

	check_eq(weft_join_any(f, 0, NULL), -EINVAL);
	check_eq(weft_join_any(NULL, 2, NULL), -EINVAL);
	dup[0] = dup[1] = f[1];
	check_eq(weft_join_any(dup, 2, NULL), -EINVAL);
	/* A duplicate of a fiber that has ended is found too. */
	dup[0] = dup[1] = check_spawn(ret_now, NULL);
	settle();
	check_eq(weft_join_any(dup, 2, NULL), -EINVAL);
	check_join(dup[0]);
	with_self[0] = f[0];
	with_self[1] = weft_self();
	check_eq(weft_join_any(with_self, 2, NULL), -EDEADLK);
	with_stale[0] = f[0];
	with_stale[1] = stale;
	check_eq(weft_join_any(with_stale, 2, NULL), -ESRCH);

	/* A detached fiber, and one being joined, cannot be waited for. */
	detached = check_spawn(wait_chan, c);
	check_eq(weft_detach(detached), 0);
	with_stale[1] = detached;
	check_eq(weft_join_any(with_stale, 2, NULL), -EINVAL);
	j = check_spawn(joiner, f[2]);
	settle();
	with_stale[1] = f[2];
	check_eq(weft_join_any(with_stale, 2, NULL), -EINVAL);

	/* All still joinable: release everyone and join them. */
	check_eq(weft_chan_close(c), 0);
	check_eq(weft_join(j, &r), 0);
	check_eq((intptr_t)r, 0);
	check_eq(weft_join(f[0], NULL), 0);
	check_eq(weft_join(f[1], NULL), 0);
	check_eq(weft_join(f[2], NULL), -ESRCH);
	weft_chan_free(c);
}

/*
 * Many handles: once an array of n records on the waiter's stack (9,000
 * overflowed a 64 KiB stack) and a quadratic duplicate check. The waiter
 * here runs on a 16 KiB stack, far below n pointers.
 */
#define ANY_MANY 20000

static void *join_any_many_waiter(void *arg)
{
	weft_fiber **f = arg;
	weft_fiber *last = f[ANY_MANY - 1];
	void *r = NULL;
	int idx;

	/* A duplicate at the far end of many running fibers. */
	f[ANY_MANY - 1] = f[0];
	check_eq(weft_join_any(f, ANY_MANY, NULL), -EINVAL);
	f[ANY_MANY - 1] = last;
	/* All running: parks, and the one released first wins. */
	idx = weft_join_any(f, ANY_MANY, &r);
	return (void *)(intptr_t)(idx == ANY_MANY / 2 &&
				  (intptr_t)r == ANY_MANY / 2 + 1);
}

static void join_any_many_main(void *arg)
{
	weft_fiber **f = malloc(ANY_MANY * sizeof(*f));
	weft_chan **c = malloc(ANY_MANY * sizeof(*c));
	struct weft_spawn_opts small = { .stack_size = WEFT_STACK_SMALL };
	struct weft_spawn_opts mid = { .stack_size = 16 * 1024 };
	weft_fiber *waiter;
	void *r = NULL;

	(void)arg;
	check(f && c);
	for (int i = 0; i < ANY_MANY; i++) {
		check_eq(weft_chan_new(&c[i], sizeof(int), 1), 0);
		check_eq(weft_spawn(&f[i], wait_chan, c[i], &small), 0);
	}
	check_eq(weft_spawn(&waiter, join_any_many_waiter, f, &mid), 0);
	settle();
	check_eq(weft_chan_send(c[ANY_MANY / 2], &(int){ ANY_MANY / 2 + 1 }), 0);
	check_eq(weft_join(waiter, &r), 0);
	check_eq((intptr_t)r, 1);
	/* Every other handle is still joinable. */
	for (int i = 0; i < ANY_MANY; i++) {
		if (i == ANY_MANY / 2) {
			check_eq(weft_join(f[i], NULL), -ESRCH);
		} else {
			check_eq(weft_chan_send(c[i], &(int){ i + 1 }), 0);
			check_eq(weft_join(f[i], &r), 0);
			check_eq((intptr_t)r, i + 1);
		}
		weft_chan_free(c[i]);
	}
	free(f);
	free(c);
}

static void test_join_any_many_handles(void **state)
{
	(void)state;
	watchdog_arm(__func__, 120);
	run_checked(&one, join_any_many_main, NULL);
	run_checked(&two, join_any_many_main, NULL);
	watchdog_disarm();
}

static void test_join_any_rejects_bad_arguments(void **state)
{
	(void)state;
	assert_int_equal(weft_join_any(NULL, 0, NULL), -EPERM);
	assert_int_equal(weft_join_all(NULL, 0, NULL), -EPERM);
	watchdog_arm(__func__, 30);
	run_checked(&one, join_any_args_main, NULL);
	run_checked(&two, join_any_args_main, NULL);
	watchdog_disarm();
}

struct any_cancel {
	weft_fiber *f[3];
	int rc;
	void *r;
	unsigned waiting;	/* atomic */
};

static void *any_waiter(void *arg)
{
	struct any_cancel *ac = arg;

	store(&ac->waiting, 1);
	ac->r = (void *)-7;
	ac->rc = weft_join_any(ac->f, 3, &ac->r);
	return NULL;
}

static void join_any_cancel_main(void *arg)
{
	struct any_cancel ac = { 0 };
	weft_chan *c[3];
	weft_fiber *g;
	void *r;

	(void)arg;
	for (int i = 0; i < 3; i++) {
		check_eq(weft_chan_new(&c[i], sizeof(int), 1), 0);
		ac.f[i] = check_spawn(wait_chan, c[i]);
	}
	g = check_spawn(any_waiter, &ac);
	wait_for(&ac.waiting, 1);
	settle();
	check_eq(weft_cancel(g), 0);
	check_join(g);
	check_eq(ac.rc, -ECANCELED);
	check_eq((intptr_t)ac.r, -7);
	/* Nothing was joined: each child is joined now, with its result. */
	for (int i = 0; i < 3; i++) {
		check_eq(weft_chan_send(c[i], &i), 0);
		check_eq(weft_join(ac.f[i], &r), 0);
		check_eq((intptr_t)r, i);
		weft_chan_free(c[i]);
	}
}

/* Some have ended already: at once, the lowest such index. */
static void join_any_ended_main(void *arg)
{
	weft_fiber *f[3], *g[2];
	weft_chan *c;
	void *r;

	(void)arg;
	check_eq(weft_chan_new(&c, sizeof(int), 1), 0);
	f[0] = check_spawn(wait_chan, c);
	f[1] = check_spawn(ret_now, (void *)11);
	f[2] = check_spawn(ret_now, (void *)22);
	settle();
	weft_sleep_ns(10 * MS);
	r = NULL;
	check_eq(weft_join_any(f, 3, &r), 1);
	check_eq((intptr_t)r, 11);
	g[0] = f[0];
	g[1] = f[2];
	check_eq(weft_join_any(g, 2, &r), 1);
	check_eq((intptr_t)r, 22);
	check_eq(weft_chan_send(c, &(int){ 5 }), 0);
	check_eq(weft_join_any(g, 1, &r), 0);
	check_eq((intptr_t)r, 5);
	weft_chan_free(c);
}

static void test_join_any_cancelled_joins_nothing(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, join_any_cancel_main, NULL);
	run_checked(&two, join_any_cancel_main, NULL);
	watchdog_disarm();
}

static void test_join_any_with_ended_fibers_returns_at_once(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, join_any_ended_main, NULL);
	run_checked(&two, join_any_ended_main, NULL);
	watchdog_disarm();
}

/* weft_mutex_lock_until ------------------------------------------------ */

struct timed_lock {
	weft_mutex m;
	int held;
	int timed_out, fiber_deadline, plain_lock, got_later, free_past;
	int64_t waited;
	int inside, overlap, ops, timeouts;
};

static void *hold_a_while(void *arg)
{
	struct timed_lock *t = arg;

	weft_mutex_lock(&t->m);
	__atomic_store_n(&t->held, 1, __ATOMIC_RELEASE);
	weft_sleep_ns(60 * 1000000ll);
	weft_mutex_unlock(&t->m);
	return NULL;
}

static void timed_lock_main(void *arg)
{
	struct timed_lock *t = arg;
	weft_fiber *f;
	int64_t t0, old;

	weft_spawn(&f, hold_a_while, t, NULL);
	while (!__atomic_load_n(&t->held, __ATOMIC_ACQUIRE))
		weft_sleep_ns(1000000);
	t0 = weft_now_ns();
	t->timed_out = weft_mutex_lock_until(&t->m, t0 + 10 * 1000000ll);
	t->waited = weft_now_ns() - t0;
	old = weft_set_deadline(weft_now_ns() + 5 * 1000000ll);
	t->fiber_deadline = weft_mutex_lock_until(&t->m, WEFT_FOREVER);
	/* weft_mutex_lock honours no deadline: it waits for the holder. */
	t->plain_lock = weft_mutex_lock(&t->m);
	weft_set_deadline(old);
	weft_mutex_unlock(&t->m);
	/* Free, with its deadline long past: taken. */
	t->free_past = weft_mutex_lock_until(&t->m, 0);
	weft_mutex_unlock(&t->m);
	t->got_later = weft_mutex_lock_until(&t->m, weft_now_ns() +
					     2000 * 1000000ll);
	weft_mutex_unlock(&t->m);
	weft_join(f, NULL);
}

static void test_mutex_lock_until_times_out_and_locks(void **state)
{
	struct timed_lock t = { .m = WEFT_MUTEX_INIT };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, timed_lock_main, &t), 0);
	assert_int_equal(t.timed_out, -ETIMEDOUT);
	assert_true(t.waited >= 10 * 1000000ll);
	assert_int_equal(t.fiber_deadline, -ETIMEDOUT);
	assert_int_equal(t.plain_lock, 0);
	assert_int_equal(t.free_past, 0);
	assert_int_equal(t.got_later, 0);
	watchdog_disarm();
}

/* Timed lockers giving up while others lock and unlock: still mutual
 * exclusion, and nobody left waiting. */
static void *timed_locker(void *arg)
{
	struct timed_lock *t = arg;

	for (int i = 0; i < 300; i++) {
		int64_t dl = weft_now_ns() + (i % 3) * 20000;
		int r = i % 2 ? weft_mutex_lock_until(&t->m, dl)
			      : weft_mutex_lock(&t->m);

		if (r == -ETIMEDOUT) {
			__atomic_add_fetch(&t->timeouts, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (__atomic_add_fetch(&t->inside, 1, __ATOMIC_RELAXED) != 1)
			__atomic_store_n(&t->overlap, 1, __ATOMIC_RELAXED);
		/* Held across a sleep now and then, so timed lockers wait
		 * and some give up while unlocks hand the lock on. */
		if (i % 4 == 0)
			weft_sleep_ns(30000);
		else
			weft_yield();
		__atomic_sub_fetch(&t->inside, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&t->ops, 1, __ATOMIC_RELAXED);
		weft_mutex_unlock(&t->m);
	}
	return NULL;
}

static void timed_stress_main(void *arg)
{
	weft_fiber *f[8];

	for (int i = 0; i < 8; i++)
		weft_spawn(&f[i], timed_locker, arg, NULL);
	weft_join_all(f, 8, NULL);
}

static void test_mutex_lock_until_races_keep_exclusion(void **state)
{
	struct weft_config four = { .workers = 4 };
	struct timed_lock t = { .m = WEFT_MUTEX_INIT };

	(void)state;
	watchdog_arm(__func__, 60);
	assert_int_equal(weft_run(&four, timed_stress_main, &t), 0);
	assert_int_equal(t.overlap, 0);
	assert_int_equal(t.ops + t.timeouts, 8 * 300);
	assert_true(t.timeouts > 0);
	print_message("%d locked, %d timed out\n", t.ops, t.timeouts);
	watchdog_disarm();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mutex_lock_trylock_unlock),
		cmocka_unit_test(test_mutex_from_plain_threads),
		cmocka_unit_test(test_mutex_exclusive_across_workers),
		cmocka_unit_test(test_mutex_waiter_is_not_starved),
		cmocka_unit_test(test_mutex_lock_is_not_a_cancellation_point),
		cmocka_unit_test(test_mutex_lock_until_times_out_and_locks),
		cmocka_unit_test(test_mutex_lock_until_races_keep_exclusion),
		cmocka_unit_test(test_cond_signal_wakes_one_broadcast_all),
		cmocka_unit_test(test_cond_wait_holds_mutex_after_cancel_and_timeout),
		cmocka_unit_test(test_cond_wait_until_negative_waits_for_a_signal),
		cmocka_unit_test(test_cond_wait_needs_a_locked_mutex_and_a_fiber),
		cmocka_unit_test(test_cond_signalled_from_a_plain_thread),
		cmocka_unit_test(test_wg_add_done_wait),
		cmocka_unit_test(test_wg_done_from_a_plain_thread),
		cmocka_unit_test(test_wg_wait_cancel_and_deadline),
		cmocka_unit_test(test_sem_init_and_try_acquire),
		cmocka_unit_test(test_sem_fifo_handoff),
		cmocka_unit_test(test_sem_limits_concurrency),
		cmocka_unit_test(test_sem_acquire_cancel_deadline_and_thread_release),
		cmocka_unit_test(test_once_runs_exactly_once),
		cmocka_unit_test(test_static_initialisers),
		cmocka_unit_test(test_join_all_results_in_order),
		cmocka_unit_test(test_join_all_skips_bad_handles),
		cmocka_unit_test(test_join_all_cancelled_cancels_children),
		cmocka_unit_test(test_join_any_returns_the_first_to_end),
		cmocka_unit_test(test_join_any_rejects_bad_arguments),
		cmocka_unit_test(test_join_any_many_handles),
		cmocka_unit_test(test_join_any_cancelled_joins_nothing),
		cmocka_unit_test(test_join_any_with_ended_fibers_returns_at_once),
	};

	skip_without_backend();
	return cmocka_run_group_tests_name("sync", tests, NULL, NULL);
}
