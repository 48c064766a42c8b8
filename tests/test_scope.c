/* SPDX-License-Identifier: MIT */
/*
 * Scopes (weft_scope_run): every child joined before the scope returns,
 * the first failure cancelling the rest, deadlines, nesting, cancellation
 * from outside, spawning into a cancelled or ended scope, shutdown, and a
 * stress of scopes with random failures on several workers, checking that
 * no child ever outlives its scope.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"

#define MS 1000000ll

static struct weft_config two = { .workers = 2 };

/* All joined --------------------------------------------------------- */

struct count {
	int started, ended, cancelled, timed_out;
	int spawn_err;
	weft_scope *scope;
};

static void bump(int *p)
{
	__atomic_add_fetch(p, 1, __ATOMIC_RELAXED);
}

static int got(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Sleeps a little, counts, and spawns a sibling into its own scope. */
static int nap_child(void *arg)
{
	struct count *c = arg;

	bump(&c->started);
	weft_sleep_ns((uint64_t)(got(&c->started) % 3) * MS);
	bump(&c->ended);
	return 0;
}

static int grow_child(void *arg)
{
	struct count *c = arg;
	int err = weft_scope_spawn(c->scope, nap_child, c, NULL);

	if (err)
		c->spawn_err = err;
	return nap_child(arg);
}

static int all_body(weft_scope *s, void *arg)
{
	struct count *c = arg;

	c->scope = s;
	for (int i = 0; i < 50; i++) {
		if (weft_scope_spawn(s, i % 2 ? grow_child : nap_child, c,
				     NULL))
			return -1;
	}
	return 7;
}

struct all_res {
	struct count c;
	int rc, ended_at_return;
	int stale_spawn, stale_cancel;
};

static void all_main(void *arg)
{
	struct all_res *r = arg;

	r->rc = weft_scope_run(all_body, &r->c, WEFT_FOREVER);
	r->ended_at_return = got(&r->c.ended);
	r->stale_spawn = weft_scope_spawn(r->c.scope, nap_child, &r->c, NULL);
	r->stale_cancel = weft_scope_cancel(r->c.scope);
}

static void test_scope_joins_every_child_and_returns_body_result(void **state)
{
	struct all_res r = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, all_main, &r), 0);
	assert_int_equal(r.rc, 7);
	assert_int_equal(r.c.spawn_err, 0);
	/* 50 from the body, 25 more from the children. */
	assert_int_equal(r.c.started, 75);
	assert_int_equal(r.ended_at_return, 75);
	assert_int_equal(r.stale_spawn, -ESHUTDOWN);
	assert_int_equal(r.stale_cancel, -ESHUTDOWN);
	watchdog_disarm();
}

/* First failure cancels the rest --------------------------------------- */

static int long_sleeper(void *arg)
{
	struct count *c = arg;
	int res;

	bump(&c->started);
	res = weft_sleep_ns(10000 * MS);
	if (res == -ECANCELED)
		bump(&c->cancelled);
	if (res == -ETIMEDOUT)
		bump(&c->timed_out);
	bump(&c->ended);
	return res;
}

static int failing_child(void *arg)
{
	(void)arg;
	weft_sleep_ns(5 * MS);
	return -EIO;
}

static int fail_body(weft_scope *s, void *arg)
{
	for (int i = 0; i < 20; i++)
		weft_scope_spawn(s, long_sleeper, arg, NULL);
	weft_scope_spawn(s, failing_child, NULL, NULL);
	return 0;
}

struct fail_res {
	struct count c;
	int rc;
	int64_t took;
};

static void fail_main(void *arg)
{
	struct fail_res *r = arg;
	int64_t t0 = (int64_t)weft_now_ns();

	r->rc = weft_scope_run(fail_body, &r->c, WEFT_FOREVER);
	r->took = (int64_t)weft_now_ns() - t0;
}

static void test_first_failure_cancels_siblings(void **state)
{
	struct fail_res r = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, fail_main, &r), 0);
	assert_int_equal(r.rc, -EIO);
	assert_int_equal(r.c.started, 20);
	assert_int_equal(r.c.cancelled, 20);
	assert_int_equal(r.c.ended, 20);
	assert_true(r.took < 5000 * MS);
	watchdog_disarm();
}

/* Deadline ------------------------------------------------------------- */

/* A child whose wait is a channel receive nobody will answer: bounded by
 * the scope's deadline through the fiber deadline it starts with. */
static int recv_forever(void *arg)
{
	struct count *c = arg;
	weft_chan *never;
	int v, res;

	if (weft_chan_new(&never, sizeof(int), 0))
		return -ENOMEM;
	bump(&c->started);
	res = weft_chan_recv(never, &v);
	weft_chan_free(never);
	if (res == -ECANCELED)
		bump(&c->cancelled);
	if (res == -ETIMEDOUT)
		bump(&c->timed_out);
	bump(&c->ended);
	return res;
}

static int deadline_body(weft_scope *s, void *arg)
{
	for (int i = 0; i < 10; i++)
		weft_scope_spawn(s, long_sleeper, arg, NULL);
	weft_scope_spawn(s, recv_forever, arg, NULL);
	/* The body's own waits end at the deadline too. */
	return weft_sleep_ns(10000 * MS) == -ETIMEDOUT ? 0 : -EINVAL;
}

static void deadline_main(void *arg)
{
	struct fail_res *r = arg;
	int64_t t0 = (int64_t)weft_now_ns();

	r->rc = weft_scope_run(deadline_body, &r->c, t0 + 20 * MS);
	r->took = (int64_t)weft_now_ns() - t0;
}

static void test_deadline_ends_body_and_children(void **state)
{
	struct fail_res r = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, deadline_main, &r), 0);
	assert_int_equal(r.rc, -ETIMEDOUT);
	assert_int_equal(r.c.started, 11);
	assert_int_equal(r.c.ended, 11);
	assert_int_equal(r.c.timed_out + r.c.cancelled, 11);
	assert_true(r.took >= 20 * MS);
	assert_true(r.took < 5000 * MS);
	watchdog_disarm();
}

/* Nesting, and cancellation from outside -------------------------------- */

struct nest {
	struct count inner;
	int inner_rc;
};

static int inner_body(weft_scope *s, void *arg)
{
	struct nest *n = arg;

	for (int i = 0; i < 5; i++)
		weft_scope_spawn(s, long_sleeper, &n->inner, NULL);
	return 0;
}

static int runs_inner_scope(void *arg)
{
	struct nest *n = arg;

	n->inner_rc = weft_scope_run(inner_body, n, WEFT_FOREVER);
	return n->inner_rc;
}

static int nest_body(weft_scope *s, void *arg)
{
	weft_scope_spawn(s, runs_inner_scope, arg, NULL);
	weft_scope_spawn(s, failing_child, NULL, NULL);
	return 0;
}

struct nest_res {
	struct nest n;
	int rc;
};

static void nest_main(void *arg)
{
	struct nest_res *r = arg;

	r->rc = weft_scope_run(nest_body, &r->n, WEFT_FOREVER);
}

static void test_nested_scope_is_cancelled_with_its_parent(void **state)
{
	struct nest_res r = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, nest_main, &r), 0);
	assert_int_equal(r.rc, -EIO);
	assert_int_equal(r.n.inner_rc, -ECANCELED);
	assert_int_equal(r.n.inner.started, 5);
	assert_int_equal(r.n.inner.cancelled, 5);
	watchdog_disarm();
}

static void *scope_holder(void *arg)
{
	struct nest *n = arg;

	n->inner_rc = weft_scope_run(inner_body, n, WEFT_FOREVER);
	return NULL;
}

static void outside_main(void *arg)
{
	struct nest *n = arg;
	weft_fiber *f;

	if (weft_spawn(&f, scope_holder, n, NULL))
		return;
	while (got(&n->inner.started) < 5)
		weft_sleep_ns(MS);
	weft_cancel(f);
	weft_join(f, NULL);
}

static void test_cancelling_the_waiter_cancels_its_scope(void **state)
{
	struct nest n = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, outside_main, &n), 0);
	assert_int_equal(n.inner_rc, -ECANCELED);
	assert_int_equal(n.inner.cancelled, 5);
	assert_int_equal(n.inner.ended, 5);
	watchdog_disarm();
}

/* weft_scope_cancel, bad calls, shutdown --------------------------------- */

struct misc_res {
	struct count c;
	int rc, after_cancel, null_fn, null_body;
};

static int cancel_body(weft_scope *s, void *arg)
{
	struct misc_res *r = arg;

	for (int i = 0; i < 4; i++)
		weft_scope_spawn(s, long_sleeper, &r->c, NULL);
	while (got(&r->c.started) < 4)
		weft_sleep_ns(MS);
	r->null_fn = weft_scope_spawn(s, NULL, NULL, NULL);
	weft_scope_cancel(s);
	r->after_cancel = weft_scope_spawn(s, long_sleeper, &r->c, NULL);
	return 0;
}

static void misc_main(void *arg)
{
	struct misc_res *r = arg;

	r->rc = weft_scope_run(cancel_body, r, WEFT_FOREVER);
	r->null_body = weft_scope_run(NULL, NULL, WEFT_FOREVER);
}

static void test_scope_cancel_and_bad_calls(void **state)
{
	struct misc_res r = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_scope_run(cancel_body, &r, WEFT_FOREVER), -EPERM);
	assert_int_equal(weft_run(&two, misc_main, &r), 0);
	assert_int_equal(r.rc, -ECANCELED);
	assert_int_equal(r.null_fn, -EINVAL);
	assert_int_equal(r.after_cancel, -ECANCELED);
	assert_int_equal(r.null_body, -EINVAL);
	assert_int_equal(r.c.started, 4);
	assert_int_equal(r.c.cancelled, 4);
	watchdog_disarm();
}

/* main returns with a scope full of sleepers: shutdown cancels them,
 * the scope still waits for them, and weft_run() returns. */
static void shutdown_main(void *arg)
{
	struct nest *n = arg;

	weft_go(scope_holder, n);
	while (got(&n->inner.started) < 5)
		weft_sleep_ns(MS);
}

static void test_shutdown_drains_open_scopes(void **state)
{
	struct nest n = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, shutdown_main, &n), 0);
	assert_int_equal(n.inner_rc, -ECANCELED);
	assert_int_equal(n.inner.ended, 5);
	watchdog_disarm();
}

/* Body is cancelled too, and the cancel does not outlive the scope ------ */

struct body_res {
	int body_sleep, after_sleep, rc, thread_rc;
	weft_scope *scope;
	int started;
};

static int sleepy_body(weft_scope *s, void *arg)
{
	struct body_res *r = arg;

	weft_scope_spawn(s, failing_child, NULL, NULL);
	r->body_sleep = weft_sleep_ns(10000 * MS);
	return 0;
}

static int quick_body(weft_scope *s, void *arg)
{
	struct body_res *r = arg;

	(void)s;
	(void)r;
	/* Cancelled while it runs and never waits: the request must be
	 * taken back, not left for the caller's next wait. */
	weft_scope_spawn(s, failing_child, NULL, NULL);
	while (!weft_cancelled())
		weft_yield();
	return 0;
}

static void *cancel_from_thread(void *arg)
{
	struct body_res *r = arg;

	while (!__atomic_load_n(&r->started, __ATOMIC_ACQUIRE))
		usleep(1000);
	usleep(5000);
	r->thread_rc = weft_scope_cancel(__atomic_load_n(&r->scope,
							 __ATOMIC_ACQUIRE));
	return NULL;
}

static int thread_body(weft_scope *s, void *arg)
{
	struct body_res *r = arg;

	__atomic_store_n(&r->scope, s, __ATOMIC_RELEASE);
	__atomic_store_n(&r->started, 1, __ATOMIC_RELEASE);
	return weft_sleep_ns(10000 * MS);
}

static void body_main(void *arg)
{
	struct body_res *r = arg;
	pthread_t t;

	r->rc = weft_scope_run(sleepy_body, r, WEFT_FOREVER);
	weft_scope_run(quick_body, r, WEFT_FOREVER);
	r->after_sleep = weft_sleep_ns(MS);
	pthread_create(&t, NULL, cancel_from_thread, r);
	r->rc += 1000 * weft_scope_run(thread_body, r, WEFT_FOREVER);
	pthread_join(t, NULL);
}

static void test_failure_cancels_body_and_the_cancel_stays_inside(void **state)
{
	struct body_res r = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, body_main, &r), 0);
	assert_int_equal(r.body_sleep, -ECANCELED);
	assert_int_equal(r.after_sleep, 0);
	/* -EIO from the first scope, -ECANCELED from the thread's cancel. */
	assert_int_equal(r.rc, -EIO + 1000 * -ECANCELED);
	assert_int_equal(r.thread_rc, 0);
	watchdog_disarm();
}

/* The children's fibers, not only their functions, have ended --------- */

static weft_key slow_key;
static int dtors_done;

/* A destructor that waits: the child's fiber is still there while it
 * runs, after the child's function has returned. */
static void slow_dtor(void *v)
{
	(void)v;
	weft_sleep_ns(1000000);
	__atomic_add_fetch(&dtors_done, 1, __ATOMIC_RELAXED);
}

static int quick_child(void *arg)
{
	(void)arg;
	weft_key_set(slow_key, (void *)1);
	weft_yield();
	return 0;
}

static int many_body(weft_scope *s, void *arg)
{
	(void)arg;
	for (int i = 0; i < 50; i++)
		weft_scope_spawn(s, quick_child, NULL, NULL);
	return 0;
}

static void live_main(void *arg)
{
	int *bad = arg;

	for (int round = 0; round < 20; round++) {
		struct weft_stats st = { .size = sizeof(st) };

		__atomic_store_n(&dtors_done, 0, __ATOMIC_RELAXED);
		weft_scope_run(many_body, NULL, WEFT_FOREVER);
		weft_stats(&st);
		/* main alone, and every child's destructor has run. */
		if (st.live != 1 ||
		    __atomic_load_n(&dtors_done, __ATOMIC_RELAXED) != 50)
			(*bad)++;
	}
}

static void test_no_child_fiber_is_left_when_the_scope_returns(void **state)
{
	int bad = 0;

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_key_create(&slow_key, slow_dtor), 0);
	assert_int_equal(weft_run(&two, live_main, &bad), 0);
	assert_int_equal(weft_key_delete(slow_key), 0);
	assert_int_equal(bad, 0);
	watchdog_disarm();
}

/* Stress: no child outlives its scope ------------------------------------- */

struct round {
	int alive;		/* children of this round still running */
	int outlived;		/* set if the scope returned with alive > 0 */
	unsigned seed;
};

static int stress_child(void *arg)
{
	struct round *rd = arg;
	unsigned r = __atomic_add_fetch(&rd->seed, 2654435761u,
					__ATOMIC_RELAXED);
	int res = 0;

	bump(&rd->alive);
	switch (r % 5) {
	case 0:
		weft_yield();
		break;
	case 1:
		res = weft_sleep_ns((uint64_t)(r % 3) * MS / 2);
		break;
	case 2:
		res = r % 7 == 0 ? -EIO : 0;
		break;
	default:
		for (int i = 0; i < 3; i++)
			weft_yield();
	}
	__atomic_sub_fetch(&rd->alive, 1, __ATOMIC_RELAXED);
	return res;
}

static int stress_body(weft_scope *s, void *arg)
{
	for (int i = 0; i < 16; i++)
		if (weft_scope_spawn(s, stress_child, arg, NULL) == -ECANCELED)
			break;
	return 0;
}

static void *stress_runner(void *arg)
{
	struct round *rd = arg;
	int rounds = (int)stress_iters(300);

	for (int i = 0; i < rounds; i++) {
		int rc = weft_scope_run(stress_body, rd, WEFT_FOREVER);

		if (got(&rd->alive) != 0)
			rd->outlived = 1;
		if (rc != 0 && rc != -EIO)
			rd->outlived = 2;
	}
	return NULL;
}

static void stress_main(void *arg)
{
	struct round *rds = arg;
	weft_fiber *f[4];

	for (int i = 0; i < 4; i++)
		weft_spawn(&f[i], stress_runner, &rds[i], NULL);
	for (int i = 0; i < 4; i++)
		weft_join(f[i], NULL);
}

static void test_stress_no_child_outlives_its_scope(void **state)
{
	struct weft_config four = { .workers = 4 };
	struct round rds[4] = { { 0, 0, 1 }, { 0, 0, 2 }, { 0, 0, 3 },
				{ 0, 0, 4 } };

	(void)state;
	watchdog_arm(__func__, 120);
	assert_int_equal(weft_run(&four, stress_main, rds), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(rds[i].outlived, 0);
		assert_int_equal(rds[i].alive, 0);
	}
	watchdog_disarm();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scope_joins_every_child_and_returns_body_result),
		cmocka_unit_test(test_first_failure_cancels_siblings),
		cmocka_unit_test(test_deadline_ends_body_and_children),
		cmocka_unit_test(test_nested_scope_is_cancelled_with_its_parent),
		cmocka_unit_test(test_cancelling_the_waiter_cancels_its_scope),
		cmocka_unit_test(test_scope_cancel_and_bad_calls),
		cmocka_unit_test(test_shutdown_drains_open_scopes),
		cmocka_unit_test(test_failure_cancels_body_and_the_cancel_stays_inside),
		cmocka_unit_test(test_no_child_fiber_is_left_when_the_scope_returns),
		cmocka_unit_test(test_stress_no_child_outlives_its_scope),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
