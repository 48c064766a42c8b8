/* SPDX-License-Identifier: MIT */
/*
 * Scheduler behaviour: the park protocol (wake from a foreign thread
 * through the eventfd path, stale tokens, a park called off by its unlock
 * callback), parallelism (an idle worker is woken and steals), an idle
 * runtime that uses no CPU, and the global queue getting a turn while
 * local fibers keep yielding.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>

#include <cmocka.h>
#include <ck_pr.h>

#include "helpers.h"
#include "scheduler.h"

static struct weft_config one = { .workers = 1 };
static struct weft_config two = { .workers = 2 };

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A one-shot event a fiber parks on and anything can fire. */
struct event {
	weft_token token;	/* published by the unlock callback */
	int published;
};

static bool publish(struct fiber *f, void *arg)
{
	struct event *e = arg;

	(void)f;
	/* The token is complete before a waker can see it. */
	__atomic_store_n(&e->published, 1, __ATOMIC_RELEASE);
	return true;
}

static void *fire_when_published(void *arg)
{
	struct event *e = arg;

	while (!__atomic_load_n(&e->published, __ATOMIC_ACQUIRE))
		sched_yield();
	return (void *)(intptr_t)weft__ready(e->token, 42);
}

struct foreign {
	int park_rc;
	bool first_ready, stale_ready;
	uint64_t cpu_while_parked_ns, wall_parked_ns;
};

static void foreign_main(void *arg)
{
	struct foreign *r = arg;
	struct event e = { 0 };
	pthread_t t;
	uint64_t c0, w0;
	void *ok;

	e.token = weft__park_token(weft__worker_self());
	pthread_create(&t, NULL, fire_when_published, &e);
	c0 = cpu_ns();
	w0 = now_ns();
	r->park_rc = weft__park(weft__worker_self(), publish, &e);
	r->wall_parked_ns = now_ns() - w0;
	r->cpu_while_parked_ns = cpu_ns() - c0;
	pthread_join(t, &ok);
	r->first_ready = (intptr_t)ok;
	/* The token names a park that is over: waking it does nothing. */
	r->stale_ready = weft__ready(e.token, 7);
}

static void test_foreign_thread_wakes_a_parked_fiber(void **state)
{
	struct foreign r = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, foreign_main, &r), 0);
	assert_int_equal(r.park_rc, 42);
	assert_true(r.first_ready);
	assert_false(r.stale_ready);
	watchdog_disarm();
}

/* A park whose unlock callback says "never mind" resumes at once. */
static bool refuse(struct fiber *f, void *arg)
{
	(void)f;
	(void)arg;
	return false;
}

static int refused_rc = -1;

static void refuse_main(void *arg)
{
	(void)arg;
	weft__park_token(weft__worker_self());
	refused_rc = weft__park(weft__worker_self(), refuse, NULL);
}

static void test_park_called_off_by_unlock_resumes_with_zero(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&one, refuse_main, NULL), 0);
	assert_int_equal(refused_rc, 0);
	watchdog_disarm();
}

/* An idle runtime sleeps: a fiber parked for 300 ms costs ~no CPU. */
static void *fire_later(void *arg)
{
	struct event *e = arg;
	struct timespec ts = { 0, 300 * 1000 * 1000 };

	while (!__atomic_load_n(&e->published, __ATOMIC_ACQUIRE))
		sched_yield();
	nanosleep(&ts, NULL);
	weft__ready(e->token, 0);
	return NULL;
}

static void idle_main(void *arg)
{
	struct foreign *r = arg;
	struct event e = { 0 };
	pthread_t t;
	uint64_t c0, w0;

	e.token = weft__park_token(weft__worker_self());
	pthread_create(&t, NULL, fire_later, &e);
	c0 = cpu_ns();
	w0 = now_ns();
	r->park_rc = weft__park(weft__worker_self(), publish, &e);
	r->wall_parked_ns = now_ns() - w0;
	r->cpu_while_parked_ns = cpu_ns() - c0;
	pthread_join(t, NULL);
}

static void test_idle_runtime_uses_no_cpu(void **state)
{
	struct foreign r = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, idle_main, &r), 0);
	assert_int_equal(r.park_rc, 0);
	assert_true(r.wall_parked_ns >= 250 * 1000 * 1000ull);
	/* Whole process, both workers and the sleeping thread: a spinning
	 * worker would burn the full 300 ms. */
	print_message("cpu while idle: %llu us of %llu us\n",
		      (unsigned long long)r.cpu_while_parked_ns / 1000,
		      (unsigned long long)r.wall_parked_ns / 1000);
	/* Valgrind's own scheduler costs about an eighth of the wall
	 * time here; a spinning worker would still take all of it. */
	assert_true(r.cpu_while_parked_ns <
		    r.wall_parked_ns / (under_valgrind() ? 3 : 10));
	watchdog_disarm();
}

/*
 * Parallelism (Go's TestGoroutineParallelism): a fiber that never yields
 * waits for a flag set by a fiber it spawned. That one sits in the
 * spinner's own queue, so it only runs if the idle worker was woken and
 * stole it.
 */
static int steal_ok;
static uint64_t steals;

static void *set_flag(void *arg)
{
	__atomic_store_n((int *)arg, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void parallel_main(void *arg)
{
	struct weft_stats st = { .size = sizeof(st) };
	int flag = 0;
	uint64_t t0;
	weft_fiber *f;

	(void)arg;
	weft_spawn(&f, set_flag, &flag, NULL);
	t0 = now_ns();
	while (!__atomic_load_n(&flag, __ATOMIC_ACQUIRE) &&
	       now_ns() - t0 < 5000000000ull)
		;
	steal_ok = __atomic_load_n(&flag, __ATOMIC_ACQUIRE);
	weft_join(f, NULL);
	weft_stats(&st);
	steals = st.steals;
}

static void test_idle_worker_is_woken_and_steals(void **state)
{
	int i;

	(void)state;
	watchdog_arm(__func__, 60);
	for (i = 0; i < 10; i++) {
		steal_ok = 0;
		assert_int_equal(weft_run(&two, parallel_main, NULL), 0);
		assert_true(steal_ok);
		assert_true(steals >= 1);
	}
	watchdog_disarm();
}

/*
 * The global queue gets a turn (every 61st schedule) even while local
 * fibers keep yielding to each other on a single worker.
 */
static int global_ran;

static void *yield_until_global_ran(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&global_ran, __ATOMIC_ACQUIRE))
		weft_yield();
	return NULL;
}

static void *wake_via_inject(void *arg)
{
	struct event *e = arg;

	while (!__atomic_load_n(&e->published, __ATOMIC_ACQUIRE))
		sched_yield();
	/* From a foreign thread: goes to the global queue. */
	weft__ready(e->token, 0);
	return NULL;
}

static void *park_then_flag(void *arg)
{
	struct event *e = arg;

	e->token = weft__park_token(weft__worker_self());
	weft__park(weft__worker_self(), publish, e);
	__atomic_store_n(&global_ran, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void fairness_main(void *arg)
{
	struct event e = { 0 };
	weft_fiber *p, *a, *b;
	pthread_t t;

	(void)arg;
	weft_spawn(&p, park_then_flag, &e, NULL);
	weft_spawn(&a, yield_until_global_ran, NULL, NULL);
	weft_spawn(&b, yield_until_global_ran, NULL, NULL);
	pthread_create(&t, NULL, wake_via_inject, &e);
	weft_join(a, NULL);
	weft_join(b, NULL);
	weft_join(p, NULL);
	pthread_join(t, NULL);
}

static void test_global_queue_is_not_starved_by_yielders(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	global_ran = 0;
	assert_int_equal(weft_run(&one, fairness_main, NULL), 0);
	assert_int_equal(global_ran, 1);
	watchdog_disarm();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_foreign_thread_wakes_a_parked_fiber),
		cmocka_unit_test(test_park_called_off_by_unlock_resumes_with_zero),
		cmocka_unit_test(test_idle_runtime_uses_no_cpu),
		cmocka_unit_test(test_idle_worker_is_woken_and_steals),
		cmocka_unit_test(test_global_queue_is_not_starved_by_yielders),
	};

	skip_without_backend();
	return cmocka_run_group_tests_name("sched", tests, NULL, NULL);
}
