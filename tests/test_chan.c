/* SPDX-License-Identifier: MIT */
/*
 * Channels and select, against weft.h's "Channels" and "Select": Go's
 * TestChan for every capacity 0..200 (empty receives and full sends
 * block, the try variants do not, FIFO order, values neither lost nor
 * duplicated, len and cap), zero-size elements, close (waking blocked
 * receivers and senders, draining first), a plain pthread feeding fibers,
 * cancellation and deadlines of blocked operations (nothing transferred),
 * and select: ready cases, timeouts, closed channels, NULL channels, no
 * cases, duplicate channels, bad arguments, calls outside a fiber, Go's
 * NonblockSelectRace, SelfSelect and PseudoRandomSend, fairness,
 * cancellation and close of a blocked select.
 *
 * Fibers record failed checks with check()/check_eq() (cmocka's asserts
 * longjmp, which must not cross fiber stacks); each test asserts that
 * none failed once weft_run() has returned. Tests that need an exact
 * order run on one worker; the others run on two (the CI machine has two
 * CPUs), where "still blocked" checks are made after letting the other
 * fibers run, and hold whatever the interleaving.
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

/* Small helpers for fibers ------------------------------------------------- */

static weft_chan *new_chan(size_t elem_size, size_t cap)
{
	weft_chan *c = NULL;

	check_eq(weft_chan_new(&c, elem_size, cap), 0);
	return c;
}

/* One channel operation in a fiber of its own. */
struct op {
	weft_chan *c;
	int val;	/* sent, or received into */
	int rc;
	unsigned stage;	/* 1: calling; 2: returned (atomic) */
};

static void *send_op(void *arg)
{
	struct op *o = arg;

	__atomic_store_n(&o->stage, 1, __ATOMIC_RELEASE);
	o->rc = weft_chan_send(o->c, &o->val);
	__atomic_store_n(&o->stage, 2, __ATOMIC_RELEASE);
	return NULL;
}

static void *recv_op(void *arg)
{
	struct op *o = arg;

	__atomic_store_n(&o->stage, 1, __ATOMIC_RELEASE);
	o->rc = weft_chan_recv(o->c, &o->val);
	__atomic_store_n(&o->stage, 2, __ATOMIC_RELEASE);
	return NULL;
}

static unsigned stage_of(struct op *o)
{
	return __atomic_load_n(&o->stage, __ATOMIC_ACQUIRE);
}

/* Creation and calls outside the runtime ----------------------------------- */

static void test_chan_new_checks_sizes(void **state)
{
	weft_chan *c = NULL;

	(void)state;
	assert_int_equal(weft_chan_new(&c, 65537, 1), -EINVAL);
	assert_int_equal(weft_chan_new(&c, 8, SIZE_MAX / 4), -EINVAL);
	assert_int_equal(weft_chan_new(&c, 65536, SIZE_MAX / 65536 + 1),
			 -EINVAL);
	assert_int_equal(weft_chan_new(&c, 65536, 2), 0);
	assert_int_equal(weft_chan_cap(c), 2);
	assert_int_equal(weft_chan_len(c), 0);
	weft_chan_free(c);
	/* No bytes to overflow: any capacity. */
	assert_int_equal(weft_chan_new(&c, 0, SIZE_MAX), 0);
	assert_true(weft_chan_cap(c) == SIZE_MAX);
	assert_int_equal(weft_chan_try_send(c, NULL), 0);
	assert_int_equal(weft_chan_try_send(c, NULL), 0);
	assert_int_equal(weft_chan_len(c), 2);
	weft_chan_free(c);
	weft_chan_free(NULL);
}

static void test_chan_try_calls_work_without_a_runtime(void **state)
{
	struct weft_select_case sc[2];
	weft_chan *c;
	int v;

	(void)state;
	assert_int_equal(weft_chan_new(&c, sizeof(int), 2), 0);
	v = 1;
	assert_int_equal(weft_chan_try_send(c, &v), 0);
	v = 2;
	assert_int_equal(weft_chan_try_send(c, &v), 0);
	v = 3;
	assert_int_equal(weft_chan_try_send(c, &v), -EAGAIN);
	assert_int_equal(weft_chan_len(c), 2);
	/* Blocking calls need a fiber, even when they would not block. */
	assert_int_equal(weft_chan_send(c, &v), -EPERM);
	assert_int_equal(weft_chan_recv(c, &v), -EPERM);
	assert_int_equal(weft_chan_len(c), 2);
	assert_int_equal(weft_chan_try_recv(c, &v), 0);
	assert_int_equal(v, 1);
	/* Select with timeout 0 works on any thread; a waiting one not. */
	sc[0] = (struct weft_select_case){ c, WEFT_SELECT_RECV, &v, 99 };
	assert_int_equal(weft_select(sc, 1, 10 * MS), -EPERM);
	assert_int_equal(weft_select(sc, 1, WEFT_FOREVER), -EPERM);
	assert_int_equal(weft_select(sc, 1, -2), -EPERM);
	assert_int_equal(weft_select(NULL, 0, 10 * MS), -EPERM);
	assert_int_equal(weft_select(sc, 1, 0), 0);
	assert_int_equal(sc[0].res, 0);
	assert_int_equal(v, 2);
	assert_int_equal(weft_select(sc, 1, 0), -EAGAIN);
	assert_int_equal(weft_chan_try_recv(c, &v), -EAGAIN);
	assert_int_equal(weft_chan_close(c), 0);
	assert_int_equal(weft_chan_close(c), -EPIPE);
	assert_int_equal(weft_chan_try_send(c, &v), -EPIPE);
	assert_int_equal(weft_chan_try_recv(c, &v), -EPIPE);
	sc[1] = (struct weft_select_case){ c, WEFT_SELECT_SEND, &v, 99 };
	assert_int_equal(weft_select(&sc[1], 1, 0), 0);
	assert_int_equal(sc[1].res, -EPIPE);
	weft_chan_free(c);
}

/* Unbuffered rendezvous ---------------------------------------------------- */

static void rendezvous_main(void *arg)
{
	struct op s = { 0 }, r = { 0 };
	int v = 0;

	(void)arg;
	s.c = new_chan(sizeof(int), 0);
	s.val = 42;
	/* A send waits for a receiver. */
	weft_fiber *f = check_spawn(send_op, &s);
	settle();
	check(stage_of(&s) != 2);
	check_eq(weft_chan_len(s.c), 0);
	check_eq(weft_chan_recv(s.c, &v), 0);
	check_eq(v, 42);
	check_join(f);
	check_eq(s.rc, 0);
	check_eq(stage_of(&s), 2);

	/* A receive waits for a sender. */
	r.c = s.c;
	r.val = -1;
	f = check_spawn(recv_op, &r);
	settle();
	check(stage_of(&r) != 2);
	v = 7;
	check_eq(weft_chan_send(r.c, &v), 0);
	check_join(f);
	check_eq(r.rc, 0);
	check_eq(r.val, 7);

	/* With nobody on the other side, the try variants refuse. */
	check_eq(weft_chan_try_send(r.c, &v), -EAGAIN);
	check_eq(weft_chan_try_recv(r.c, &v), -EAGAIN);
	weft_chan_free(r.c);
}

/*
 * On one worker the receiver is known to be parked after settle(): a
 * try_send must then hand it the element.
 */
static void try_send_to_waiting_main(void *arg)
{
	struct op r = { 0 };
	weft_fiber *f;
	int v = 5;

	(void)arg;
	r.c = new_chan(sizeof(int), 0);
	r.val = -1;
	f = check_spawn(recv_op, &r);
	settle();
	check_eq(weft_chan_try_send(r.c, &v), 0);
	check_join(f);
	check_eq(r.rc, 0);
	check_eq(r.val, 5);
	weft_chan_free(r.c);
}

static void test_chan_unbuffered_send_waits_for_receiver(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, rendezvous_main, NULL);
	run_checked(&two, rendezvous_main, NULL);
	run_checked(&one, try_send_to_waiting_main, NULL);
	watchdog_disarm();
}

/* Ping-pong over two unbuffered channels. */
#define PINGS 10000

struct pingpong {
	weft_chan *ping, *pong;
};

static void *ponger(void *arg)
{
	struct pingpong *pp = arg;
	int v;

	while (weft_chan_recv(pp->ping, &v) == 0)
		check_eq(weft_chan_send(pp->pong, &(int){ v + 1 }), 0);
	return NULL;
}

static void pingpong_main(void *arg)
{
	struct pingpong pp;
	weft_fiber *f;
	int v;

	(void)arg;
	pp.ping = new_chan(sizeof(int), 0);
	pp.pong = new_chan(sizeof(int), 0);
	f = check_spawn(ponger, &pp);
	for (int i = 0; i < PINGS; i++) {
		check_eq(weft_chan_send(pp.ping, &i), 0);
		check_eq(weft_chan_recv(pp.pong, &v), 0);
		check_eq(v, i + 1);
	}
	check_eq(weft_chan_close(pp.ping), 0);
	check_join(f);
	weft_chan_free(pp.ping);
	weft_chan_free(pp.pong);
}

static void test_chan_ping_pong(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, pingpong_main, NULL);
	run_checked(&two, pingpong_main, NULL);
	watchdog_disarm();
}

/* Go's TestChan, for every capacity 0..200 --------------------------------- */

#define GO_L 1000	/* values per sender in the 4 x 4 part */
#define GO_P 4

struct go_chan {
	weft_chan *c;
	int recv_count[GO_L];	/* atomic */
};

static void *go_sender(void *arg)
{
	struct go_chan *g = arg;

	for (int i = 0; i < GO_L; i++)
		check_eq(weft_chan_send(g->c, &i), 0);
	return NULL;
}

static void *go_receiver(void *arg)
{
	struct go_chan *g = arg;
	int v;

	for (int i = 0; i < GO_L; i++) {
		check_eq(weft_chan_recv(g->c, &v), 0);
		if (v < 0 || v >= GO_L) {
			check(v >= 0 && v < GO_L);
			continue;
		}
		__atomic_add_fetch(&g->recv_count[v], 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *fifo_sender(void *arg)
{
	weft_chan *c = arg;

	for (int i = 0; i < 100; i++)
		check_eq(weft_chan_send(c, &i), 0);
	return NULL;
}

static size_t max_cap(void)
{
	/* Every capacity up to 200; 0..20 under TSan, which is slower. */
	return under_tsan() ? 20 : 200;
}

static void go_testchan_one_cap(size_t cap)
{
	struct weft_select_case sc;
	struct op o = { 0 };
	struct go_chan *g;
	weft_fiber *f, *fs[2 * GO_P];
	weft_chan *c;
	int v;

	/* Receiving from an empty channel blocks. */
	c = new_chan(sizeof(int), cap);
	check_eq(weft_chan_cap(c), cap);
	check_eq(weft_chan_len(c), 0);
	o.c = c;
	o.val = -1;
	f = check_spawn(recv_op, &o);
	settle();
	check(stage_of(&o) != 2);
	/* Non-blocking receives do not block. */
	check_eq(weft_chan_try_recv(c, &v), -EAGAIN);
	sc = (struct weft_select_case){ c, WEFT_SELECT_RECV, &v, 99 };
	check_eq(weft_select(&sc, 1, 0), -EAGAIN);
	v = 0;
	check_eq(weft_chan_send(c, &v), 0);
	check_join(f);
	check_eq(o.rc, 0);
	check_eq(o.val, 0);
	check_eq(weft_chan_len(c), 0);

	/* Sending to a full channel blocks. */
	for (size_t i = 0; i < cap; i++) {
		v = (int)i;
		check_eq(weft_chan_try_send(c, &v), 0);
		check_eq(weft_chan_len(c), i + 1);
	}
	v = -5;
	check_eq(weft_chan_try_send(c, &v), -EAGAIN);
	sc = (struct weft_select_case){ c, WEFT_SELECT_SEND, &v, 99 };
	check_eq(weft_select(&sc, 1, 0), -EAGAIN);
	check_eq(weft_chan_len(c), cap);
	o = (struct op){ .c = c, .val = (int)cap };
	f = check_spawn(send_op, &o);
	settle();
	check(stage_of(&o) != 2);
	check_eq(weft_chan_len(c), cap);
	/* The oldest first; the blocked sender's value comes last. */
	for (size_t i = 0; i <= cap; i++) {
		check_eq(weft_chan_recv(c, &v), 0);
		check_eq(v, i);
	}
	check_join(f);
	check_eq(o.rc, 0);
	check_eq(weft_chan_len(c), 0);

	/* A closed channel delivers what it holds, then -EPIPE. */
	for (size_t i = 0; i < cap; i++)
		check_eq(weft_chan_try_send(c, &(int){ (int)i + 10 }), 0);
	check_eq(weft_chan_close(c), 0);
	check_eq(weft_chan_len(c), cap);
	for (size_t i = 0; i < cap; i++) {
		check_eq(weft_chan_recv(c, &v), 0);
		check_eq(v, i + 10);
	}
	check_eq(weft_chan_recv(c, &v), -EPIPE);
	check_eq(weft_chan_recv(c, &v), -EPIPE);
	check_eq(weft_chan_try_recv(c, &v), -EPIPE);
	weft_chan_free(c);

	/* Close unblocks a receiver. */
	c = new_chan(sizeof(int), cap);
	o = (struct op){ .c = c, .val = -1 };
	f = check_spawn(recv_op, &o);
	settle();
	check(stage_of(&o) != 2);
	check_eq(weft_chan_close(c), 0);
	check_join(f);
	check_eq(o.rc, -EPIPE);
	check_eq(o.val, -1);
	weft_chan_free(c);

	/* 100 values arrive uncorrupted and in FIFO order. */
	c = new_chan(sizeof(int), cap);
	f = check_spawn(fifo_sender, c);
	for (int i = 0; i < 100; i++) {
		check_eq(weft_chan_recv(c, &v), 0);
		check_eq(v, i);
	}
	check_join(f);
	weft_chan_free(c);

	/* 4 senders of 0..999 and 4 receivers: each value exactly 4 times. */
	g = calloc(1, sizeof(*g));
	g->c = new_chan(sizeof(int), cap);
	for (int i = 0; i < GO_P; i++) {
		fs[i] = check_spawn(go_sender, g);
		fs[GO_P + i] = check_spawn(go_receiver, g);
	}
	for (int i = 0; i < 2 * GO_P; i++)
		check_join(fs[i]);
	for (int i = 0; i < GO_L; i++)
		check_eq(g->recv_count[i], GO_P);
	check_eq(weft_chan_len(g->c), 0);
	weft_chan_free(g->c);
	free(g);

	/* len and cap. */
	c = new_chan(sizeof(int), cap);
	check_eq(weft_chan_len(c), 0);
	check_eq(weft_chan_cap(c), cap);
	for (size_t i = 0; i < cap; i++)
		check_eq(weft_chan_send(c, &(int){ (int)i }), 0);
	check_eq(weft_chan_len(c), cap);
	check_eq(weft_chan_cap(c), cap);
	weft_chan_free(c);
}

static void go_testchan_main(void *arg)
{
	(void)arg;
	for (size_t cap = 0; cap <= max_cap(); cap++) {
		go_testchan_one_cap(cap);
		watchdog_progress_add(1);
	}
}

static void test_chan_every_capacity_go_testchan(void **state)
{
	(void)state;
	watchdog_arm(__func__, 120);
	run_checked(&one, go_testchan_main, NULL);
	run_checked(&two, go_testchan_main, NULL);
	watchdog_disarm();
}

/* Zero-size elements ------------------------------------------------------- */

static void *signal_recv(void *arg)
{
	return (void *)(intptr_t)weft_chan_recv(arg, NULL);
}

static void zero_size_main(void *arg)
{
	weft_chan *c;
	weft_fiber *f;
	void *r;
	char canary[8] = "abcdefg";

	(void)arg;
	/* Buffered: counts only. */
	c = new_chan(0, 3);
	for (int i = 0; i < 3; i++)
		check_eq(weft_chan_try_send(c, NULL), 0);
	check_eq(weft_chan_try_send(c, NULL), -EAGAIN);
	check_eq(weft_chan_len(c), 3);
	check_eq(weft_chan_recv(c, canary), 0);
	check(memcmp(canary, "abcdefg", 8) == 0);
	check_eq(weft_chan_try_recv(c, NULL), 0);
	check_eq(weft_chan_recv(c, NULL), 0);
	check_eq(weft_chan_try_recv(c, NULL), -EAGAIN);
	check_eq(weft_chan_len(c), 0);
	weft_chan_free(c);

	/* Unbuffered: a pure rendezvous. */
	c = new_chan(0, 0);
	f = check_spawn(signal_recv, c);
	settle();
	check_eq(weft_chan_send(c, NULL), 0);
	check_eq(weft_join(f, &r), 0);
	check_eq((intptr_t)r, 0);
	f = check_spawn(signal_recv, c);
	settle();
	check_eq(weft_chan_close(c), 0);
	check_eq(weft_join(f, &r), 0);
	check_eq((intptr_t)r, -EPIPE);
	weft_chan_free(c);
}

static void test_chan_zero_size_elements(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, zero_size_main, NULL);
	run_checked(&two, zero_size_main, NULL);
	watchdog_disarm();
}

/* Close -------------------------------------------------------------------- */

#define CLOSE_N 10

static void close_wakes_receivers_main(void *arg)
{
	size_t caps[] = { 0, 4 };
	struct op o[CLOSE_N];
	weft_fiber *f[CLOSE_N];

	(void)arg;
	for (size_t k = 0; k < 2; k++) {
		weft_chan *c = new_chan(sizeof(int), caps[k]);

		for (int i = 0; i < CLOSE_N; i++) {
			o[i] = (struct op){ .c = c, .val = -1 };
			f[i] = check_spawn(recv_op, &o[i]);
		}
		settle();
		for (int i = 0; i < CLOSE_N; i++)
			check(stage_of(&o[i]) != 2);
		check_eq(weft_chan_close(c), 0);
		for (int i = 0; i < CLOSE_N; i++) {
			check_join(f[i]);
			check_eq(o[i].rc, -EPIPE);
			check_eq(o[i].val, -1);
		}
		weft_chan_free(c);
	}
}

static void close_wakes_senders_main(void *arg)
{
	size_t caps[] = { 0, 3 };
	struct op o[CLOSE_N];
	weft_fiber *f[CLOSE_N];
	int v;

	(void)arg;
	for (size_t k = 0; k < 2; k++) {
		weft_chan *c = new_chan(sizeof(int), caps[k]);

		for (size_t i = 0; i < caps[k]; i++)
			check_eq(weft_chan_try_send(c, &(int){ 100 + (int)i }),
				 0);
		for (int i = 0; i < CLOSE_N; i++) {
			o[i] = (struct op){ .c = c, .val = i };
			f[i] = check_spawn(send_op, &o[i]);
		}
		settle();
		for (int i = 0; i < CLOSE_N; i++)
			check(stage_of(&o[i]) != 2);
		check_eq(weft_chan_close(c), 0);
		for (int i = 0; i < CLOSE_N; i++) {
			check_join(f[i]);
			check_eq(o[i].rc, -EPIPE);
		}
		/* What was buffered before the close, and nothing else. */
		check_eq(weft_chan_len(c), caps[k]);
		for (size_t i = 0; i < caps[k]; i++) {
			check_eq(weft_chan_recv(c, &v), 0);
			check_eq(v, 100 + i);
		}
		check_eq(weft_chan_recv(c, &v), -EPIPE);
		weft_chan_free(c);
	}
}

static void close_drain_main(void *arg)
{
	struct weft_select_case sc;
	weft_chan *c;
	int v = 0;

	(void)arg;
	c = new_chan(sizeof(int), 5);
	for (int i = 1; i <= 3; i++)
		check_eq(weft_chan_send(c, &i), 0);
	check_eq(weft_chan_close(c), 0);
	/* Later sends fail; nothing is added. */
	check_eq(weft_chan_send(c, &v), -EPIPE);
	check_eq(weft_chan_try_send(c, &v), -EPIPE);
	sc = (struct weft_select_case){ c, WEFT_SELECT_SEND, &v, 99 };
	check_eq(weft_select(&sc, 1, WEFT_FOREVER), 0);
	check_eq(sc.res, -EPIPE);
	/* A second close fails. */
	check_eq(weft_chan_close(c), -EPIPE);
	check_eq(weft_chan_len(c), 3);
	/* Receives drain in order, through each kind of call. */
	check_eq(weft_chan_recv(c, &v), 0);
	check_eq(v, 1);
	check_eq(weft_chan_try_recv(c, &v), 0);
	check_eq(v, 2);
	sc = (struct weft_select_case){ c, WEFT_SELECT_RECV, &v, 99 };
	check_eq(weft_select(&sc, 1, WEFT_FOREVER), 0);
	check_eq(sc.res, 0);
	check_eq(v, 3);
	v = -1;
	check_eq(weft_chan_recv(c, &v), -EPIPE);
	check_eq(weft_chan_try_recv(c, &v), -EPIPE);
	check_eq(weft_select(&sc, 1, WEFT_FOREVER), 0);
	check_eq(sc.res, -EPIPE);
	check_eq(weft_select(&sc, 1, 0), 0);
	check_eq(sc.res, -EPIPE);
	check_eq(v, -1);
	check_eq(weft_chan_len(c), 0);
	weft_chan_free(c);
}

static void *close_from_thread(void *arg)
{
	struct timespec ts = { 0, 5 * MS };

	nanosleep(&ts, NULL);
	check_eq(weft_chan_close(arg), 0);
	return NULL;
}

static void close_from_thread_main(void *arg)
{
	struct op o[CLOSE_N];
	weft_fiber *f[CLOSE_N];
	pthread_t t;
	weft_chan *c;

	(void)arg;
	c = new_chan(sizeof(int), 0);
	for (int i = 0; i < CLOSE_N; i++) {
		o[i] = (struct op){ .c = c, .val = i };
		f[i] = check_spawn(i % 2 ? send_op : recv_op, &o[i]);
	}
	check_eq(pthread_create(&t, NULL, close_from_thread, c), 0);
	for (int i = 0; i < CLOSE_N; i++)
		check_join(f[i]);
	pthread_join(t, NULL);
	/* Senders and receivers may have met before the close: pairs. */
	int ok_send = 0, ok_recv = 0;

	for (int i = 0; i < CLOSE_N; i++) {
		check(o[i].rc == 0 || o[i].rc == -EPIPE);
		if (o[i].rc == 0 && i % 2)
			ok_send++;
		else if (o[i].rc == 0)
			ok_recv++;
	}
	check_eq(ok_send, ok_recv);
	weft_chan_free(c);
}

/*
 * A close with far more waiters than it claims under one holding of the
 * lock: every receiver and sender still gets -EPIPE, and the last waiter
 * to return frees the channel, as a program may (the close must not
 * touch it after its last wake-up; a run in which it does so late
 * enough shows under ASan).
 */
#define MANY_WAITERS 1000

struct many {
	weft_chan *c;
	weft_wg parked;		/* one per waiter not yet at its call */
	unsigned left;		/* atomic: waiters still to return */
	unsigned bad;		/* atomic: results other than -EPIPE */
};

static void many_end(struct many *m, weft_chan *c, int rc)
{
	if (rc != -EPIPE)
		__atomic_add_fetch(&m->bad, 1, __ATOMIC_RELAXED);
	/*
	 * The compiler's builtins rather than ck_pr here: TSan sees them, so
	 * every waiter's use of the channel happens before the free by the
	 * last one out, and before main's reading of left == 0.
	 */
	if (__atomic_fetch_sub(&m->left, 1, __ATOMIC_ACQ_REL) == 1)
		weft_chan_free(c);
}

static void *many_receiver(void *arg)
{
	struct many *m = arg;
	weft_chan *c = m->c;
	int v;

	weft_wg_done(&m->parked);
	many_end(m, c, weft_chan_recv(c, &v));
	return NULL;
}

static void *many_sender(void *arg)
{
	struct many *m = arg;
	weft_chan *c = m->c;
	int v = 1;

	weft_wg_done(&m->parked);
	many_end(m, c, weft_chan_send(c, &v));
	return NULL;
}

static void close_many_main(void *arg)
{
	static struct many m;
	weft_chan *c;

	(void)arg;
	memset(&m, 0, sizeof(m));
	/* Receivers only, then senders only: nobody meets a partner. */
	for (int side = 0; side < 2; side++) {
		c = m.c = new_chan(sizeof(int), 0);
		__atomic_store_n(&m.left, MANY_WAITERS, __ATOMIC_RELAXED);
		weft_wg_init(&m.parked);
		check_eq(weft_wg_add(&m.parked, MANY_WAITERS), 0);
		for (int i = 0; i < MANY_WAITERS; i++)
			check_eq(weft_detach(check_spawn(side ? many_sender
							  : many_receiver,
							  &m)),
				 0);
		check_eq(weft_wg_wait(&m.parked), 0);
		/* Let the last ones reach their wait. */
		for (int i = 0; i < 100; i++)
			weft_yield();
		check_eq(weft_chan_close(c), 0);
		while (__atomic_load_n(&m.left, __ATOMIC_ACQUIRE))
			weft_yield();
		check_eq(__atomic_load_n(&m.bad, __ATOMIC_RELAXED), 0);
	}
}

static void test_chan_close_wakes_blocked_receivers(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, close_wakes_receivers_main, NULL);
	run_checked(&two, close_wakes_receivers_main, NULL);
	run_checked(&one, close_many_main, NULL);
	run_checked(&two, close_many_main, NULL);
	watchdog_disarm();
}

static void test_chan_close_wakes_blocked_senders(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, close_wakes_senders_main, NULL);
	run_checked(&two, close_wakes_senders_main, NULL);
	watchdog_disarm();
}

static void test_chan_close_drains_buffer_then_epipe(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, close_drain_main, NULL);
	watchdog_disarm();
}

static void test_chan_close_from_a_plain_thread(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&two, close_from_thread_main, NULL);
	watchdog_disarm();
}

/* Many producers, many consumers ------------------------------------------- */

#define MP_PRODUCERS 4
#define MP_VALUES 1000
#define MP_CONSUMERS 3

struct mp {
	weft_chan *c;
	unsigned seen[MP_PRODUCERS * MP_VALUES];	/* atomic */
	unsigned received;				/* atomic */
};

struct mp_producer {
	struct mp *mp;
	int id;
};

static void *mp_produce(void *arg)
{
	struct mp_producer *p = arg;

	for (int i = 0; i < MP_VALUES; i++) {
		int v = p->id * MP_VALUES + i;

		check_eq(weft_chan_send(p->mp->c, &v), 0);
	}
	return NULL;
}

static void *mp_consume(void *arg)
{
	struct mp *mp = arg;
	int last[MP_PRODUCERS];
	int v;

	for (int p = 0; p < MP_PRODUCERS; p++)
		last[p] = -1;
	while (weft_chan_recv(mp->c, &v) == 0) {
		if (v < 0 || v >= MP_PRODUCERS * MP_VALUES) {
			check(v >= 0 && v < MP_PRODUCERS * MP_VALUES);
			continue;
		}
		/* Each producer's values arrive in the order it sent them. */
		check(v > last[v / MP_VALUES]);
		last[v / MP_VALUES] = v;
		__atomic_add_fetch(&mp->seen[v], 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&mp->received, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void mp_main(void *arg)
{
	size_t caps[] = { 0, 1, 7, 64 };
	struct mp_producer prod[MP_PRODUCERS];
	weft_fiber *pf[MP_PRODUCERS], *cf[MP_CONSUMERS];
	struct mp *mp;

	(void)arg;
	for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
		mp = calloc(1, sizeof(*mp));
		mp->c = new_chan(sizeof(int), caps[k]);
		for (int i = 0; i < MP_CONSUMERS; i++)
			cf[i] = check_spawn(mp_consume, mp);
		for (int i = 0; i < MP_PRODUCERS; i++) {
			prod[i] = (struct mp_producer){ mp, i };
			pf[i] = check_spawn(mp_produce, &prod[i]);
		}
		for (int i = 0; i < MP_PRODUCERS; i++)
			check_join(pf[i]);
		check_eq(weft_chan_close(mp->c), 0);
		for (int i = 0; i < MP_CONSUMERS; i++)
			check_join(cf[i]);
		check_eq(mp->received, MP_PRODUCERS * MP_VALUES);
		for (int i = 0; i < MP_PRODUCERS * MP_VALUES; i++)
			check_eq(mp->seen[i], 1);
		weft_chan_free(mp->c);
		free(mp);
	}
}

static void test_chan_four_producers_each_value_received_once(void **state)
{
	(void)state;
	watchdog_arm(__func__, 60);
	run_checked(&two, mp_main, NULL);
	run_checked(&one, mp_main, NULL);
	watchdog_disarm();
}

/* A plain pthread feeding fibers ------------------------------------------- */

#define FEED_N 20000
#define FEED_FIBERS 3

struct feed {
	weft_chan *c;
	unsigned char seen[FEED_N];	/* atomic */
	unsigned received;		/* atomic */
	unsigned long long sum;		/* atomic */
};

static void *feeder_thread(void *arg)
{
	struct feed *fd = arg;

	for (int i = 0; i < FEED_N; i++) {
		int rc;

		while ((rc = weft_chan_try_send(fd->c, &i)) == -EAGAIN)
			sched_yield();
		check_eq(rc, 0);
	}
	check_eq(weft_chan_close(fd->c), 0);
	return NULL;
}

static void *fed_fiber(void *arg)
{
	struct feed *fd = arg;
	int v;

	while (weft_chan_recv(fd->c, &v) == 0) {
		if (v < 0 || v >= FEED_N) {
			check(v >= 0 && v < FEED_N);
			continue;
		}
		__atomic_add_fetch(&fd->seen[v], 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&fd->received, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&fd->sum, (unsigned long long)v,
				   __ATOMIC_RELAXED);
	}
	return NULL;
}

/* The other way: fibers send, the thread drains with try_recv. */
static void *drain_thread(void *arg)
{
	struct feed *fd = arg;
	int rc, v;

	while ((rc = weft_chan_try_recv(fd->c, &v)) != -EPIPE) {
		if (rc == -EAGAIN) {
			sched_yield();
			continue;
		}
		check_eq(rc, 0);
		if (v < 0 || v >= FEED_N) {
			check(v >= 0 && v < FEED_N);
			continue;
		}
		fd->seen[v]++;
		fd->received++;
		fd->sum += (unsigned long long)v;
	}
	return NULL;
}

struct feed_range {
	struct feed *fd;
	int from, to;
};

static void *range_sender(void *arg)
{
	struct feed_range *r = arg;

	for (int i = r->from; i < r->to; i++)
		check_eq(weft_chan_send(r->fd->c, &i), 0);
	return NULL;
}

static void feed_check(struct feed *fd)
{
	check_eq(fd->received, FEED_N);
	check_eq(fd->sum, (unsigned long long)FEED_N * (FEED_N - 1) / 2);
	for (int i = 0; i < FEED_N; i++)
		check_eq(fd->seen[i], 1);
}

static void plain_thread_main(void *arg)
{
	struct feed_range ranges[FEED_FIBERS];
	weft_fiber *f[FEED_FIBERS];
	struct feed *fd;
	pthread_t t;

	(void)arg;
	/* A thread feeds fibers blocked in recv. */
	fd = calloc(1, sizeof(*fd));
	fd->c = new_chan(sizeof(int), 16);
	for (int i = 0; i < FEED_FIBERS; i++)
		f[i] = check_spawn(fed_fiber, fd);
	check_eq(pthread_create(&t, NULL, feeder_thread, fd), 0);
	for (int i = 0; i < FEED_FIBERS; i++)
		check_join(f[i]);
	pthread_join(t, NULL);
	feed_check(fd);
	weft_chan_free(fd->c);
	free(fd);

	/* Fibers blocked in send feed a thread. */
	fd = calloc(1, sizeof(*fd));
	fd->c = new_chan(sizeof(int), 4);
	check_eq(pthread_create(&t, NULL, drain_thread, fd), 0);
	for (int i = 0; i < FEED_FIBERS; i++) {
		ranges[i] = (struct feed_range){
			fd, i * FEED_N / FEED_FIBERS,
			(i + 1) * FEED_N / FEED_FIBERS };
		f[i] = check_spawn(range_sender, &ranges[i]);
	}
	for (int i = 0; i < FEED_FIBERS; i++)
		check_join(f[i]);
	check_eq(weft_chan_close(fd->c), 0);
	pthread_join(t, NULL);
	feed_check(fd);
	weft_chan_free(fd->c);
	free(fd);
}

static void test_chan_plain_thread_feeds_fibers(void **state)
{
	(void)state;
	watchdog_arm(__func__, 60);
	run_checked(&two, plain_thread_main, NULL);
	run_checked(&one, plain_thread_main, NULL);
	watchdog_disarm();
}

/* Cancellation and deadlines ----------------------------------------------- */

static void cancel_send_main(void *arg)
{
	struct op o;
	weft_fiber *f;
	weft_chan *c;
	int v = -1;

	(void)arg;
	/* Unbuffered: the value must not reach a later receiver. */
	c = new_chan(sizeof(int), 0);
	o = (struct op){ .c = c, .val = 5 };
	f = check_spawn(send_op, &o);
	settle();
	check(stage_of(&o) != 2);
	check_eq(weft_cancel(f), 0);
	check_join(f);
	check_eq(o.rc, -ECANCELED);
	check_eq(weft_chan_try_recv(c, &v), -EAGAIN);
	check_eq(v, -1);
	weft_chan_free(c);

	/* Full buffer: the value must not have entered it. */
	c = new_chan(sizeof(int), 1);
	check_eq(weft_chan_send(c, &(int){ 1 }), 0);
	o = (struct op){ .c = c, .val = 2 };
	f = check_spawn(send_op, &o);
	settle();
	check_eq(weft_cancel(f), 0);
	check_join(f);
	check_eq(o.rc, -ECANCELED);
	check_eq(weft_chan_len(c), 1);
	check_eq(weft_chan_recv(c, &v), 0);
	check_eq(v, 1);
	check_eq(weft_chan_try_recv(c, &v), -EAGAIN);
	/* The channel still works; the cancelled waiter is gone. */
	check_eq(weft_chan_try_send(c, &(int){ 3 }), 0);
	check_eq(weft_chan_try_recv(c, &v), 0);
	check_eq(v, 3);
	weft_chan_free(c);
}

static void cancel_recv_main(void *arg)
{
	struct op o;
	weft_fiber *f;
	weft_chan *c;
	int v;

	(void)arg;
	/* Unbuffered: no receiver is left to take a try_send. */
	c = new_chan(sizeof(int), 0);
	o = (struct op){ .c = c, .val = -1 };
	f = check_spawn(recv_op, &o);
	settle();
	check(stage_of(&o) != 2);
	check_eq(weft_cancel(f), 0);
	check_join(f);
	check_eq(o.rc, -ECANCELED);
	check_eq(o.val, -1);
	check_eq(weft_chan_try_send(c, &(int){ 9 }), -EAGAIN);
	weft_chan_free(c);

	/* Buffered: a later value stays in the buffer. */
	c = new_chan(sizeof(int), 2);
	o = (struct op){ .c = c, .val = -1 };
	f = check_spawn(recv_op, &o);
	settle();
	check_eq(weft_cancel(f), 0);
	check_join(f);
	check_eq(o.rc, -ECANCELED);
	check_eq(weft_chan_try_send(c, &(int){ 9 }), 0);
	check_eq(weft_chan_len(c), 1);
	check_eq(weft_chan_try_recv(c, &v), 0);
	check_eq(v, 9);
	check_eq(o.val, -1);
	weft_chan_free(c);
}

static void test_chan_cancel_blocked_send_transfers_nothing(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, cancel_send_main, NULL);
	run_checked(&two, cancel_send_main, NULL);
	watchdog_disarm();
}

static void test_chan_cancel_blocked_recv_transfers_nothing(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, cancel_recv_main, NULL);
	run_checked(&two, cancel_recv_main, NULL);
	watchdog_disarm();
}

/*
 * A sender and a receiver on one channel, both cancelled at random by a
 * third fiber. The sender resends a value whose send was cancelled, so
 * the receiver must see 0, 1, 2, ... exactly: a cancelled send that
 * still delivered shows as a duplicate, a lost one as a gap.
 */
struct cancel_race {
	weft_chan *c;
	weft_fiber *s, *r;
	bool timed;		/* short deadlines and select timeouts too */
	unsigned n;
	unsigned done;		/* atomic: sender and receiver ended */
	unsigned send_cancels, recv_cancels;
	unsigned send_timeouts, recv_timeouts;
	unsigned next;		/* the receiver's expected value */
};

/*
 * One send or receive: plain, or (timed) under a deadline 0..31 us
 * away, or as a select with such a timeout beside a NULL case.
 */
static int race_op(struct cancel_race *cr, bool send, unsigned *v,
		   unsigned *seed)
{
	unsigned r;
	int64_t old;
	int rc;

	if (!cr->timed)
		return send ? weft_chan_send(cr->c, v) :
			      weft_chan_recv(cr->c, v);
	*seed ^= *seed << 13;
	*seed ^= *seed >> 17;
	*seed ^= *seed << 5;
	r = *seed;
	if (r % 2) {
		struct weft_select_case sc[2] = {
			{ NULL, WEFT_SELECT_RECV, NULL, 99 },
			{ cr->c, send ? WEFT_SELECT_SEND : WEFT_SELECT_RECV,
			  v, 99 },
		};

		rc = weft_select(sc, 2, (int64_t)(r >> 8) % 32 * 1000);
		if (rc == 1)
			return sc[1].res;
		return rc == -EAGAIN ? -ETIMEDOUT : rc;
	}
	old = weft_set_deadline(weft_now_ns() +
				(int64_t)(r >> 8) % 32 * 1000);
	rc = send ? weft_chan_send(cr->c, v) : weft_chan_recv(cr->c, v);
	weft_set_deadline(old);
	return rc;
}

static void *race_sender(void *arg)
{
	struct cancel_race *cr = arg;

	unsigned seed = 0x9e3779b9u;

	for (unsigned v = 0; v < cr->n;) {
		int rc = race_op(cr, true, &v, &seed);

		if (rc == 0)
			v++;
		else if (rc == -ECANCELED)
			cr->send_cancels++;
		else if (rc == -ETIMEDOUT && cr->timed)
			cr->send_timeouts++;
		else
			check_eq(rc, 0);
	}
	/* Not a cancellation point (unless it waits): close. */
	check_eq(weft_chan_close(cr->c), 0);
	__atomic_add_fetch(&cr->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *race_receiver(void *arg)
{
	struct cancel_race *cr = arg;
	unsigned seed = 0x85ebca6bu, v;
	int rc;

	while ((rc = race_op(cr, false, &v, &seed)) != -EPIPE) {
		if (rc == -ECANCELED) {
			cr->recv_cancels++;
			continue;
		}
		if (rc == -ETIMEDOUT && cr->timed) {
			cr->recv_timeouts++;
			continue;
		}
		check_eq(rc, 0);
		check_eq(v, cr->next);
		cr->next = v + 1;
	}
	__atomic_add_fetch(&cr->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *race_canceller(void *arg)
{
	struct cancel_race *cr = arg;
	unsigned seed = 2463534242u;

	while (__atomic_load_n(&cr->done, __ATOMIC_ACQUIRE) < 2) {
		seed ^= seed << 13;
		seed ^= seed >> 17;
		seed ^= seed << 5;
		weft_cancel(seed & 1 ? cr->s : cr->r);
		for (unsigned i = seed % 4; i > 0; i--)
			weft_yield();
	}
	return NULL;
}

/* Whether a round raced at all: a cancel (and, if timed, a timeout) hit. */
static bool race_happened(const struct cancel_race *cr)
{
	return cr->send_cancels + cr->recv_cancels > 0 &&
	       (!cr->timed || cr->send_timeouts + cr->recv_timeouts > 0);
}

static void cancel_race_main(void *arg)
{
	size_t cap = (size_t)(uintptr_t)arg & 0xff;
	struct cancel_race cr = { 0 };
	weft_fiber *k;

	/*
	 * Nothing may be lost in any round. A round in which the canceller
	 * never caught a blocked call (on a loaded machine the pair can
	 * finish before it runs) proves nothing, so it is run again, up to
	 * ten times, and the races must have happened in the end.
	 */
	for (int round = 0; round < 10; round++) {
		memset(&cr, 0, sizeof(cr));
		cr.timed = (uintptr_t)arg & 0x100;
		cr.c = new_chan(sizeof(unsigned), cap);
		cr.n = 20000 / sanitizer_scale();
		cr.r = check_spawn(race_receiver, &cr);
		cr.s = check_spawn(race_sender, &cr);
		k = check_spawn(race_canceller, &cr);
		/* The canceller stops once both have ended; join them. */
		check_join(k);
		check_join(cr.s);
		check_join(cr.r);
		check_eq(cr.next, cr.n);
		if (race_happened(&cr))
			break;
		weft_chan_free(cr.c);
		cr.c = NULL;
	}
	/* The races happened. */
	check(cr.send_cancels + cr.recv_cancels > 0);
	if (cr.timed)
		check(cr.send_timeouts + cr.recv_timeouts > 0);
	print_message("cap %zu%s: %u values; %u sends and %u receives "
		      "cancelled, %u and %u timed out\n", cap,
		      cr.timed ? " timed" : "", cr.n, cr.send_cancels,
		      cr.recv_cancels, cr.send_timeouts, cr.recv_timeouts);
	weft_chan_free(cr.c);
}

static void test_chan_cancel_and_timeout_races_lose_nothing(void **state)
{
	(void)state;
	watchdog_arm(__func__, 60);
	run_checked(&two, cancel_race_main, (void *)0);
	run_checked(&two, cancel_race_main, (void *)2);
	run_checked(&one, cancel_race_main, (void *)0);
	run_checked(&two, cancel_race_main, (void *)0x100);
	run_checked(&two, cancel_race_main, (void *)0x102);
	run_checked(&one, cancel_race_main, (void *)0x100);
	watchdog_disarm();
}

struct deadline_op {
	weft_chan *c;
	bool send;
	int64_t deadline;
	int rc;
	int val;
	uint64_t returned_at;
};

static void *deadline_op(void *arg)
{
	struct deadline_op *d = arg;
	int64_t old = weft_set_deadline(d->deadline);

	d->rc = d->send ? weft_chan_send(d->c, &d->val) :
			  weft_chan_recv(d->c, &d->val);
	d->returned_at = weft_now_ns();
	check_eq(weft_set_deadline(old), d->deadline);
	return NULL;
}

/* Now plus @ms milliseconds, as a deadline. */
static int64_t in_ms(int64_t ms)
{
	return weft_now_ns() + ms * MS;
}

static void deadline_main(void *arg)
{
	struct deadline_op d;
	weft_chan *c0, *c1;
	int v;

	(void)arg;
	c0 = new_chan(sizeof(int), 0);
	c1 = new_chan(sizeof(int), 1);

	/* A blocked receive times out; nothing is taken afterwards. */
	d = (struct deadline_op){ .c = c0, .val = -1,
				  .deadline = in_ms(20) };
	check_join(check_spawn(deadline_op, &d));
	check_eq(d.rc, -ETIMEDOUT);
	check(d.returned_at >= (uint64_t)d.deadline);
	check_eq(d.val, -1);
	check_eq(weft_chan_try_send(c0, &(int){ 1 }), -EAGAIN);

	d = (struct deadline_op){ .c = c1, .val = -1,
				  .deadline = in_ms(20) };
	check_join(check_spawn(deadline_op, &d));
	check_eq(d.rc, -ETIMEDOUT);
	check(d.returned_at >= (uint64_t)d.deadline);
	check_eq(weft_chan_try_send(c1, &(int){ 2 }), 0);
	check_eq(weft_chan_len(c1), 1);

	/* A blocked send on a full channel times out; nothing is added. */
	d = (struct deadline_op){ .c = c1, .send = true, .val = 3,
				  .deadline = in_ms(20) };
	check_join(check_spawn(deadline_op, &d));
	check_eq(d.rc, -ETIMEDOUT);
	check(d.returned_at >= (uint64_t)d.deadline);
	check_eq(weft_chan_len(c1), 1);
	check_eq(weft_chan_try_recv(c1, &v), 0);
	check_eq(v, 2);
	check_eq(weft_chan_try_recv(c1, &v), -EAGAIN);

	/* A past deadline: a call that would wait fails at once, */
	d = (struct deadline_op){ .c = c0, .send = true, .val = 4,
				  .deadline = in_ms(-1) };
	check_join(check_spawn(deadline_op, &d));
	check_eq(d.rc, -ETIMEDOUT);
	/* one that need not wait goes through. */
	check_eq(weft_chan_try_send(c1, &(int){ 5 }), 0);
	d = (struct deadline_op){ .c = c1, .val = -1,
				  .deadline = in_ms(-1) };
	check_join(check_spawn(deadline_op, &d));
	check_eq(d.rc, 0);
	check_eq(d.val, 5);

	/* The deadline was restored: the main fiber waits as usual. */
	check_eq(weft_set_deadline(WEFT_FOREVER), WEFT_FOREVER);
	weft_chan_free(c0);
	weft_chan_free(c1);
}

static void test_chan_deadline_times_out_blocked_ops(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, deadline_main, NULL);
	run_checked(&two, deadline_main, NULL);
	watchdog_disarm();
}

/* Calls outside a fiber ---------------------------------------------------- */

struct outside {
	weft_chan *c;
	int send_rc, recv_rc, sel_block_rc, sel_forever_rc, sel_poll_rc;
	int sel_res, try_send_rc, try_recv_rc, val;
};

static void *outside_thread(void *arg)
{
	struct outside *o = arg;
	struct weft_select_case sc = { o->c, WEFT_SELECT_RECV, &o->val, 99 };
	int v = 1;

	o->send_rc = weft_chan_send(o->c, &v);
	o->recv_rc = weft_chan_recv(o->c, &v);
	o->sel_block_rc = weft_select(&sc, 1, 5 * MS);
	o->sel_forever_rc = weft_select(&sc, 1, WEFT_FOREVER);
	o->try_send_rc = weft_chan_try_send(o->c, &v);
	o->sel_poll_rc = weft_select(&sc, 1, 0);
	o->sel_res = sc.res;
	o->try_recv_rc = weft_chan_try_recv(o->c, &v);
	return NULL;
}

static void outside_main(void *arg)
{
	struct outside *o = arg;
	pthread_t t;

	o->c = new_chan(sizeof(int), 1);
	check_eq(pthread_create(&t, NULL, outside_thread, o), 0);
	pthread_join(t, NULL);
	weft_chan_free(o->c);
}

static void test_chan_blocking_calls_outside_a_fiber_are_eperm(void **state)
{
	struct outside o = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&two, outside_main, &o);
	assert_int_equal(o.send_rc, -EPERM);
	assert_int_equal(o.recv_rc, -EPERM);
	assert_int_equal(o.sel_block_rc, -EPERM);
	assert_int_equal(o.sel_forever_rc, -EPERM);
	assert_int_equal(o.try_send_rc, 0);
	assert_int_equal(o.sel_poll_rc, 0);
	assert_int_equal(o.sel_res, 0);
	assert_int_equal(o.val, 1);
	assert_int_equal(o.try_recv_rc, -EAGAIN);
	watchdog_disarm();
}

/* Inside a generator body nothing may suspend. */
static void *gen_body(weft_gen *g, void *arg)
{
	weft_chan *c = arg;
	struct weft_select_case sc = { c, WEFT_SELECT_RECV, NULL, 99 };
	int v = 1;

	(void)g;
	check_eq(weft_chan_send(c, &v), -EPERM);
	check_eq(weft_chan_recv(c, &v), -EPERM);
	check_eq(weft_select(&sc, 1, 5 * MS), -EPERM);
	check_eq(weft_chan_try_send(c, &v), 0);
	check_eq(weft_select(&sc, 1, 0), 0);
	check_eq(weft_chan_try_recv(c, &v), -EAGAIN);
	return (void *)1;
}

static void gen_main(void *arg)
{
	weft_chan *c = new_chan(sizeof(int), 1);
	weft_gen *g = NULL;
	void *out = NULL;

	(void)arg;
	check_eq(weft_gen_new(&g, gen_body, c, 0), 0);
	check_eq(weft_gen_send(g, NULL, &out), 1);
	check_eq((intptr_t)out, 1);
	weft_gen_free(g);
	weft_chan_free(c);
}

static void test_chan_blocking_calls_in_a_generator_are_eperm(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, gen_main, NULL);
	watchdog_disarm();
}

/* Select ------------------------------------------------------------------- */

static void select_ready_main(void *arg)
{
	struct weft_select_case sc[3];
	weft_chan *c[3];
	int v[3] = { -1, -1, -1 };
	int rc;

	(void)arg;
	for (int i = 0; i < 3; i++) {
		c[i] = new_chan(sizeof(int), 1);
		sc[i] = (struct weft_select_case){ c[i], WEFT_SELECT_RECV,
						   &v[i], 99 };
	}
	/* Nothing ready: timeout 0 is Go's default case. */
	check_eq(weft_select(sc, 3, 0), -EAGAIN);
	check_eq(v[0] + v[1] + v[2], -3);
	check_eq(weft_chan_try_send(c[1], &(int){ 11 }), 0);
	for (int k = 0; k < 2; k++) {
		rc = weft_select(sc, 3, k ? WEFT_FOREVER : 0);
		check_eq(rc, 1);
		check_eq(sc[1].res, 0);
		check_eq(v[1], 11);
		check_eq(v[0], -1);
		check_eq(v[2], -1);
		check_eq(weft_chan_len(c[1]), 0);
		check_eq(weft_chan_try_send(c[1], &(int){ 11 }), 0);
		v[1] = -1;
	}
	check_eq(weft_chan_try_recv(c[1], NULL), 0);

	/* A send case to a channel with room. */
	sc[2].op = WEFT_SELECT_SEND;
	v[2] = 22;
	rc = weft_select(sc, 3, 10 * MS);
	check_eq(rc, 2);
	check_eq(sc[2].res, 0);
	check_eq(weft_chan_try_recv(c[2], &v[0]), 0);
	check_eq(v[0], 22);
	for (int i = 0; i < 3; i++)
		weft_chan_free(c[i]);
}

static void test_select_takes_the_ready_case(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, select_ready_main, NULL);
	watchdog_disarm();
}

static void select_timeout_main(void *arg)
{
	struct weft_select_case sc[2];
	weft_chan *a, *b;
	uint64_t t0;
	int v;

	(void)arg;
	a = new_chan(sizeof(int), 0);
	b = new_chan(sizeof(int), 1);
	check_eq(weft_chan_try_send(b, &(int){ 1 }), 0);
	sc[0] = (struct weft_select_case){ a, WEFT_SELECT_RECV, &v, 99 };
	sc[1] = (struct weft_select_case){ b, WEFT_SELECT_SEND, &v, 99 };
	t0 = weft_now_ns();
	check_eq(weft_select(sc, 2, 20 * MS), -ETIMEDOUT);
	check(weft_now_ns() - t0 >= 20 * MS);
	check_eq(sc[0].res, 99);
	/* Nothing moved, and no waiter is left behind on either channel. */
	check_eq(weft_chan_len(b), 1);
	check_eq(weft_chan_try_send(a, &v), -EAGAIN);
	check_eq(weft_chan_try_recv(b, &v), 0);
	check_eq(weft_chan_try_recv(b, &v), -EAGAIN);
	/* Alone, a send and a receive on one unbuffered channel never pair
	 * with each other. */
	sc[1] = (struct weft_select_case){ a, WEFT_SELECT_SEND, &v, 99 };
	check_eq(weft_select(sc, 2, 0), -EAGAIN);
	check_eq(weft_select(sc, 2, 10 * MS), -ETIMEDOUT);
	check_eq(weft_chan_try_recv(a, &v), -EAGAIN);
	check_eq(weft_chan_try_send(a, &v), -EAGAIN);
	weft_chan_free(a);
	weft_chan_free(b);
}

static void test_select_times_out(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&two, select_timeout_main, NULL);
	watchdog_disarm();
}

static void select_closed_main(void *arg)
{
	struct weft_select_case sc[2];
	weft_chan *a, *b;
	int v = -1;

	(void)arg;
	a = new_chan(sizeof(int), 0);
	b = new_chan(sizeof(int), 2);
	check_eq(weft_chan_close(b), 0);
	sc[0] = (struct weft_select_case){ a, WEFT_SELECT_RECV, &v, 99 };
	sc[1] = (struct weft_select_case){ b, WEFT_SELECT_RECV, &v, 99 };
	check_eq(weft_select(sc, 2, 0), 1);
	check_eq(sc[1].res, -EPIPE);
	check_eq(v, -1);
	sc[1].res = 99;
	check_eq(weft_select(sc, 2, WEFT_FOREVER), 1);
	check_eq(sc[1].res, -EPIPE);
	/* A send to a closed channel is ready too, with -EPIPE. */
	sc[1].op = WEFT_SELECT_SEND;
	sc[1].res = 99;
	check_eq(weft_select(sc, 2, WEFT_FOREVER), 1);
	check_eq(sc[1].res, -EPIPE);
	check_eq(weft_chan_len(b), 0);
	weft_chan_free(a);
	weft_chan_free(b);
}

static void test_select_closed_channel_is_epipe(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, select_closed_main, NULL);
	watchdog_disarm();
}

/* A fiber blocked in select, woken by a partner or a close. */
struct sel_op {
	struct weft_select_case sc[4];
	size_t n;
	int64_t timeout;
	int rc;
	unsigned stage;	/* atomic: 1 calling, 2 returned */
};

static void *select_op(void *arg)
{
	struct sel_op *s = arg;

	__atomic_store_n(&s->stage, 1, __ATOMIC_RELEASE);
	s->rc = weft_select(s->sc, s->n, s->timeout);
	__atomic_store_n(&s->stage, 2, __ATOMIC_RELEASE);
	return NULL;
}

static void select_blocked_main(void *arg)
{
	struct sel_op s = { 0 };
	weft_chan *a, *b;
	weft_fiber *f;
	int va = -1, vb = 33, v = -1;

	(void)arg;
	a = new_chan(sizeof(int), 0);
	b = new_chan(sizeof(int), 0);

	/* Woken on its receive case by a sender. */
	s.sc[0] = (struct weft_select_case){ a, WEFT_SELECT_RECV, &va, 99 };
	s.sc[1] = (struct weft_select_case){ b, WEFT_SELECT_SEND, &vb, 99 };
	s.n = 2;
	s.timeout = WEFT_FOREVER;
	f = check_spawn(select_op, &s);
	settle();
	check(__atomic_load_n(&s.stage, __ATOMIC_ACQUIRE) != 2);
	check_eq(weft_chan_send(a, &(int){ 44 }), 0);
	check_join(f);
	check_eq(s.rc, 0);
	check_eq(s.sc[0].res, 0);
	check_eq(va, 44);
	/* Its send waiter on b is gone. */
	check_eq(weft_chan_try_recv(b, &v), -EAGAIN);

	/* Woken on its send case by a receiver. */
	s.sc[0].res = s.sc[1].res = 99;
	s.stage = 0;
	f = check_spawn(select_op, &s);
	settle();
	check_eq(weft_chan_recv(b, &v), 0);
	check_join(f);
	check_eq(s.rc, 1);
	check_eq(s.sc[1].res, 0);
	check_eq(v, 33);
	check_eq(weft_chan_try_send(a, &v), -EAGAIN);

	/* Woken by a close of one of its channels. */
	s.sc[0].res = s.sc[1].res = 99;
	s.stage = 0;
	va = -1;
	f = check_spawn(select_op, &s);
	settle();
	check_eq(weft_chan_close(a), 0);
	check_join(f);
	check_eq(s.rc, 0);
	check_eq(s.sc[0].res, -EPIPE);
	check_eq(va, -1);
	check_eq(weft_chan_try_recv(b, &v), -EAGAIN);

	/* A send case woken by a close. */
	s.sc[0] = (struct weft_select_case){ NULL, WEFT_SELECT_RECV, &va, 99 };
	s.sc[1].res = 99;
	s.stage = 0;
	f = check_spawn(select_op, &s);
	settle();
	check_eq(weft_chan_close(b), 0);
	check_join(f);
	check_eq(s.rc, 1);
	check_eq(s.sc[1].res, -EPIPE);
	weft_chan_free(a);
	weft_chan_free(b);
}

static void test_select_blocked_is_woken_by_partner_or_close(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, select_blocked_main, NULL);
	run_checked(&two, select_blocked_main, NULL);
	watchdog_disarm();
}

static void select_null_main(void *arg)
{
	struct weft_select_case sc[3];
	struct sel_op s = { 0 };
	weft_chan *c;
	weft_fiber *f;
	uint64_t t0;
	int v = -1;

	(void)arg;
	c = new_chan(sizeof(int), 1);
	sc[0] = (struct weft_select_case){ NULL, WEFT_SELECT_RECV, &v, 99 };
	sc[1] = (struct weft_select_case){ NULL, WEFT_SELECT_SEND, &v, 99 };
	sc[2] = (struct weft_select_case){ c, WEFT_SELECT_RECV, &v, 99 };
	/* Only NULL cases: nothing ever fires. */
	check_eq(weft_select(sc, 2, 0), -EAGAIN);
	t0 = weft_now_ns();
	check_eq(weft_select(sc, 2, 10 * MS), -ETIMEDOUT);
	check(weft_now_ns() - t0 >= 10 * MS);
	/* A NULL case beside a ready one: the ready one, every time. */
	check_eq(weft_chan_try_send(c, &(int){ 1 }), 0);
	check_eq(weft_select(sc, 3, 0), 2);
	check_eq(v, 1);
	for (int i = 0; i < 100; i++) {
		check_eq(weft_chan_try_send(c, &i), 0);
		check_eq(weft_select(sc, 3, WEFT_FOREVER), 2);
		check_eq(v, i);
	}
	check_eq(sc[0].res, 99);
	check_eq(sc[1].res, 99);
	/* A blocked select with NULL cases is woken by its real one. */
	s.sc[0] = sc[0];
	s.sc[1] = sc[2];
	s.sc[2] = sc[1];
	s.n = 3;
	s.timeout = WEFT_FOREVER;
	f = check_spawn(select_op, &s);
	settle();
	check_eq(weft_chan_send(c, &(int){ 77 }), 0);
	check_join(f);
	check_eq(s.rc, 1);
	check_eq(v, 77);
	weft_chan_free(c);
}

static void test_select_null_channels_never_fire(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, select_null_main, NULL);
	run_checked(&two, select_null_main, NULL);
	watchdog_disarm();
}

static void select_empty_main(void *arg)
{
	struct weft_select_case sc;
	uint64_t t0;

	(void)arg;
	check_eq(weft_select(NULL, 0, 0), -EAGAIN);
	check_eq(weft_select(&sc, 0, 0), -EAGAIN);
	t0 = weft_now_ns();
	check_eq(weft_select(NULL, 0, 20 * MS), -ETIMEDOUT);
	check(weft_now_ns() - t0 >= 20 * MS);
}

static void *select_forever_empty(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)weft_select(NULL, 0, WEFT_FOREVER);
}

static void select_empty_forever_main(void *arg)
{
	weft_fiber *f;
	void *r;

	(void)arg;
	/* With no case and no timeout, only a cancel ends it. */
	f = check_spawn(select_forever_empty, NULL);
	settle();
	check_eq(weft_cancel(f), 0);
	check_eq(weft_join(f, &r), 0);
	check_eq((intptr_t)r, -ECANCELED);
}

static void test_select_with_no_cases_waits_for_timeout(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, select_empty_main, NULL);
	run_checked(&two, select_empty_forever_main, NULL);
	watchdog_disarm();
}

static void select_args_main(void *arg)
{
	struct weft_select_case sc[WEFT_SELECT_MAX + 1];
	weft_chan *c[WEFT_SELECT_MAX + 1];
	int v = -1;

	(void)arg;
	for (unsigned i = 0; i <= WEFT_SELECT_MAX; i++) {
		c[i] = new_chan(sizeof(int), 1);
		sc[i] = (struct weft_select_case){ c[i], WEFT_SELECT_RECV,
						   &v, 99 };
	}
	check_eq(weft_chan_try_send(c[WEFT_SELECT_MAX - 1], &(int){ 64 }), 0);
	/* Too many cases. */
	check_eq(weft_select(sc, WEFT_SELECT_MAX + 1, 0), -EINVAL);
	check_eq(weft_select(sc, WEFT_SELECT_MAX + 1, WEFT_FOREVER), -EINVAL);
	/* Bad ops, wherever they are. */
	sc[3].op = 0;
	check_eq(weft_select(sc, 4, 0), -EINVAL);
	sc[3].op = 3;
	check_eq(weft_select(sc, 4, WEFT_FOREVER), -EINVAL);
	sc[3].op = -1;
	check_eq(weft_select(sc, WEFT_SELECT_MAX, 0), -EINVAL);
	/* A bad op on a NULL channel is still a bad op. */
	sc[3].chan = NULL;
	check_eq(weft_select(sc, 4, 0), -EINVAL);
	sc[3] = (struct weft_select_case){ c[3], WEFT_SELECT_RECV, &v, 99 };
	/* NULL cases with n > 0. */
	check_eq(weft_select(NULL, 1, 0), -EINVAL);
	check_eq(weft_select(NULL, 1, WEFT_FOREVER), -EINVAL);
	/* None of that touched the item: the maximum works. */
	check_eq(v, -1);
	check_eq(weft_chan_len(c[WEFT_SELECT_MAX - 1]), 1);
	check_eq(weft_select(sc, WEFT_SELECT_MAX, WEFT_FOREVER),
		 WEFT_SELECT_MAX - 1);
	check_eq(v, 64);
	for (unsigned i = 0; i <= WEFT_SELECT_MAX; i++)
		weft_chan_free(c[i]);
}

static void test_select_rejects_bad_arguments(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, select_args_main, NULL);
	watchdog_disarm();
}

/*
 * Go's TestSelectDuplicateChannel: A selects on c twice and d; B waits
 * on c; waking A through d must take both of A's waiters off c, so that
 * the next send on c wakes B, not A's stale record.
 */
struct dup {
	weft_chan *c, *d, *e;
};

static void *dup_a(void *arg)
{
	struct dup *dp = arg;
	struct weft_select_case sc[3];
	int v1 = -1, v2 = -1, v3 = -1;

	sc[0] = (struct weft_select_case){ dp->c, WEFT_SELECT_RECV, &v1, 99 };
	sc[1] = (struct weft_select_case){ dp->c, WEFT_SELECT_RECV, &v2, 99 };
	sc[2] = (struct weft_select_case){ dp->d, WEFT_SELECT_RECV, &v3, 99 };
	check_eq(weft_select(sc, 3, WEFT_FOREVER), 2);
	check_eq(v3, 7);
	check_eq(weft_chan_send(dp->e, &(int){ 9 }), 0);
	return NULL;
}

static void *dup_b(void *arg)
{
	struct dup *dp = arg;
	int v = -1;

	check_eq(weft_chan_recv(dp->c, &v), 0);
	check_eq(v, 8);
	return NULL;
}

static void select_dup_main(void *arg)
{
	unsigned iters = (unsigned)(uintptr_t)arg;
	struct dup dp;
	weft_fiber *a, *b;
	int v;

	for (unsigned i = 0; i < iters; i++) {
		dp.c = new_chan(sizeof(int), 0);
		dp.d = new_chan(sizeof(int), 0);
		dp.e = new_chan(sizeof(int), 0);
		a = check_spawn(dup_a, &dp);
		weft_yield();	/* A queues on c first, if it can */
		b = check_spawn(dup_b, &dp);
		weft_yield();	/* then B */
		check_eq(weft_chan_send(dp.d, &(int){ 7 }), 0);
		check_eq(weft_chan_recv(dp.e, &v), 0);
		check_eq(v, 9);
		check_eq(weft_chan_send(dp.c, &(int){ 8 }), 0);
		check_join(a);
		check_join(b);
		weft_chan_free(dp.c);
		weft_chan_free(dp.d);
		weft_chan_free(dp.e);
	}
}

/* Both cases on one channel, ready: either may be chosen, both ever. */
static void select_dup_ready_main(void *arg)
{
	struct weft_select_case sc[2];
	unsigned hits[2] = { 0, 0 };
	weft_chan *c;
	int v = -1;

	(void)arg;
	c = new_chan(sizeof(int), 1);
	sc[0] = (struct weft_select_case){ c, WEFT_SELECT_RECV, &v, 99 };
	sc[1] = (struct weft_select_case){ c, WEFT_SELECT_RECV, &v, 99 };
	for (int i = 0; i < 1000; i++) {
		int rc;

		check_eq(weft_chan_try_send(c, &i), 0);
		rc = weft_select(sc, 2, 0);
		check(rc == 0 || rc == 1);
		if (rc == 0 || rc == 1)
			hits[rc]++;
		check_eq(v, i);
	}
	check(hits[0] > 100 && hits[1] > 100);
	/* A send and a receive case on one buffered channel. */
	sc[1].op = WEFT_SELECT_SEND;
	for (int i = 0; i < 100; i++) {
		int want = weft_chan_len(c) == 1 ? 0 : 1;

		check_eq(weft_select(sc, 2, WEFT_FOREVER), want);
	}
	weft_chan_free(c);
}

static void test_select_duplicate_channel(void **state)
{
	unsigned iters = 1000 / sanitizer_scale();

	(void)state;
	watchdog_arm(__func__, 60);
	run_checked(&one, select_dup_main, (void *)(uintptr_t)iters);
	run_checked(&two, select_dup_main, (void *)(uintptr_t)iters);
	run_checked(&one, select_dup_ready_main, NULL);
	watchdog_disarm();
}

/*
 * Go's TestNonblockSelectRace and Race2: while a fiber selects with
 * timeout 0 over c1 and c2, the main fiber makes c2 ready before taking
 * c1's item, so at every instant one of them is ready: the select must
 * never report -EAGAIN.
 */
struct nb {
	weft_chan *c1, *c2;
};

static void *nb_select(void *arg)
{
	struct nb *nb = arg;
	struct weft_select_case sc[2] = {
		{ nb->c1, WEFT_SELECT_RECV, NULL, 99 },
		{ nb->c2, WEFT_SELECT_RECV, NULL, 99 },
	};

	return (void *)(intptr_t)weft_select(sc, 2, 0);
}

static void nb_race_main(void *arg)
{
	bool close_c2 = arg != NULL;
	unsigned n = (unsigned)stress_iters(100000 / sanitizer_scale());
	unsigned missed = 0;
	struct nb nb;

	for (unsigned i = 0; i < n; i++) {
		struct weft_select_case take = { NULL, WEFT_SELECT_RECV,
						 NULL, 99 };
		weft_fiber *f;
		void *r;

		nb.c1 = new_chan(sizeof(int), 1);
		nb.c2 = new_chan(sizeof(int), close_c2 ? 0 : 1);
		check_eq(weft_chan_try_send(nb.c1, &(int){ 1 }), 0);
		f = check_spawn(nb_select, &nb);
		if (close_c2)
			check_eq(weft_chan_close(nb.c2), 0);
		else
			check_eq(weft_chan_try_send(nb.c2, &(int){ 1 }), 0);
		take.chan = nb.c1;
		weft_select(&take, 1, 0);
		check_eq(weft_join(f, &r), 0);
		if ((intptr_t)r == -EAGAIN)
			missed++;
		else
			check((intptr_t)r == 0 || (intptr_t)r == 1);
		weft_chan_free(nb.c1);
		weft_chan_free(nb.c2);
	}
	check_eq(missed, 0);
}

/* The simplest form: a buffered item must always be found. */
static void nb_simple_main(void *arg)
{
	unsigned n = (unsigned)stress_iters(10000);
	weft_chan *c;
	int v;

	(void)arg;
	c = new_chan(sizeof(int), 1);
	for (unsigned i = 0; i < n; i++) {
		struct weft_select_case sc = { c, WEFT_SELECT_RECV, &v, 99 };

		check_eq(weft_chan_try_send(c, &i), 0);
		check_eq(weft_select(&sc, 1, 0), 0);
		check_eq(v, i);
	}
	weft_chan_free(c);
}

static void test_select_nonblocking_never_misses_a_ready_case(void **state)
{
	(void)state;
	watchdog_arm(__func__, 120);
	run_checked(&two, nb_simple_main, NULL);
	run_checked(&two, nb_race_main, NULL);
	run_checked(&two, nb_race_main, (void *)1);
	watchdog_disarm();
}

/* Fairness ----------------------------------------------------------------- */

/* Two ready cases, 1,000 times: each is chosen more than 10% of them. */
static void fair_ready_main(void *arg)
{
	unsigned trials = (unsigned)(uintptr_t)arg;
	struct weft_select_case sc[2];
	unsigned hits[2] = { 0, 0 };
	weft_chan *c[2];
	int v;

	for (int i = 0; i < 2; i++) {
		c[i] = new_chan(sizeof(int), 1);
		check_eq(weft_chan_try_send(c[i], &i), 0);
		sc[i] = (struct weft_select_case){ c[i], WEFT_SELECT_RECV,
						   &v, 99 };
	}
	for (unsigned t = 0; t < trials; t++) {
		int rc = weft_select(sc, 2, t % 2 ? 0 : WEFT_FOREVER);

		if (rc != 0 && rc != 1) {
			check(rc == 0 || rc == 1);
			break;
		}
		check_eq(v, rc);
		hits[rc]++;
		check_eq(weft_chan_try_send(c[rc], &rc), 0);
	}
	if (trials == 1000) {
		check(hits[0] > trials / 10);
		check(hits[1] > trials / 10);
	} else {
		/* Go's TestSelectFairness: within 10 sigma of the mean. */
		double sigma = 0.5 * __builtin_sqrt((double)trials);

		check(__builtin_fabs(hits[0] - trials / 2.0) <= 10 * sigma);
	}
	for (int i = 0; i < 2; i++)
		weft_chan_free(c[i]);
}

/*
 * Go's TestPseudoRandomSend: a select with two send cases, 1 and 0, on
 * one channel, 100 times, against a receiver that yields before each
 * receive; each value must come more than 10% of the time, whether the
 * select finds the receiver waiting or waits for it itself.
 */
#define PRS_N 100

struct prs {
	weft_chan *c;
	int got[PRS_N];
};

static void *prs_receiver(void *arg)
{
	struct prs *p = arg;

	for (int i = 0; i < PRS_N; i++) {
		weft_yield();
		check_eq(weft_chan_recv(p->c, &p->got[i]), 0);
	}
	return NULL;
}

static void prs_main(void *arg)
{
	size_t caps[] = { 0, PRS_N };
	unsigned *zeros = arg;

	for (int k = 0; k < 2; k++) {
		struct prs p = { 0 };
		int one_ = 1, zero = 0, n0 = 0, n1 = 0;
		struct weft_select_case sc[2];
		weft_fiber *f;

		p.c = new_chan(sizeof(int), caps[k]);
		sc[0] = (struct weft_select_case){ p.c, WEFT_SELECT_SEND,
						   &one_, 99 };
		sc[1] = (struct weft_select_case){ p.c, WEFT_SELECT_SEND,
						   &zero, 99 };
		f = check_spawn(prs_receiver, &p);
		for (int i = 0; i < PRS_N; i++) {
			int rc = weft_select(sc, 2, WEFT_FOREVER);

			check(rc == 0 || rc == 1);
		}
		check_join(f);
		for (int i = 0; i < PRS_N; i++) {
			check(p.got[i] == 0 || p.got[i] == 1);
			n0 += p.got[i] == 0;
			n1 += p.got[i] == 1;
		}
		zeros[2 * k] = (unsigned)n0;
		zeros[2 * k + 1] = (unsigned)n1;
		weft_chan_free(p.c);
	}
}

static void test_select_chooses_fairly_among_ready_cases(void **state)
{
	(void)state;
	watchdog_arm(__func__, 60);
	run_checked(&one, fair_ready_main, (void *)1000);
	run_checked(&two, fair_ready_main, (void *)1000);
	run_checked(&two, fair_ready_main, (void *)10000);
	watchdog_disarm();
}

static void test_select_pseudo_random_send(void **state)
{
	const struct weft_config *cfgs[] = { &one, &two };

	(void)state;
	watchdog_arm(__func__, 60);
	unsigned counts[2][4] = { { 0 } };

	for (int i = 0; i < 2; i++) {
		run_checked(cfgs[i], prs_main, counts[i]);
		print_message("%u worker(s): cap 0: %u zeros, %u ones; cap %d: "
			      "%u zeros, %u ones\n", cfgs[i]->workers,
			      counts[i][0], counts[i][1], PRS_N, counts[i][2],
			      counts[i][3]);
	}
	for (int i = 0; i < 2; i++)
		for (int k = 0; k < 4; k++)
			assert_true(counts[i][k] > PRS_N / 10);
	watchdog_disarm();
}

/*
 * Go's TestSelfSelect: two fibers, 1,000 selects each over a send and a
 * receive case on the same channel; on an unbuffered channel a fiber
 * must never receive its own value, and nothing deadlocks.
 */
#define SELF_ITERS 1000

struct self_sel {
	weft_chan *c;
	size_t cap;
	int p;
	unsigned self_receives;
};

static void *self_selector(void *arg)
{
	struct self_sel *s = arg;
	int v = -1;

	for (int i = 0; i < SELF_ITERS; i++) {
		struct weft_select_case sc[2];
		int send_i = s->p == 0 || i % 2 == 0 ? 0 : 1;
		int rc;

		sc[send_i] = (struct weft_select_case){ s->c, WEFT_SELECT_SEND,
							&s->p, 99 };
		sc[1 - send_i] = (struct weft_select_case){ s->c,
							    WEFT_SELECT_RECV,
							    &v, 99 };
		rc = weft_select(sc, 2, WEFT_FOREVER);
		check(rc == 0 || rc == 1);
		if (rc != 1 - send_i)
			continue;
		check_eq(sc[rc].res, 0);
		if (s->cap == 0 && v == s->p)
			s->self_receives++;
	}
	return NULL;
}

static void self_select_main(void *arg)
{
	size_t caps[] = { 0, 10 };

	(void)arg;
	for (int k = 0; k < 2; k++) {
		struct self_sel s[2];
		weft_fiber *f[2];
		weft_chan *c = new_chan(sizeof(int), caps[k]);

		for (int p = 0; p < 2; p++) {
			s[p] = (struct self_sel){ c, caps[k], p, 0 };
			f[p] = check_spawn(self_selector, &s[p]);
		}
		for (int p = 0; p < 2; p++) {
			check_join(f[p]);
			check_eq(s[p].self_receives, 0);
		}
		weft_chan_free(c);
	}
}

static void test_select_self_select(void **state)
{
	(void)state;
	watchdog_arm(__func__, 60);
	run_checked(&two, self_select_main, NULL);
	run_checked(&one, self_select_main, NULL);
	watchdog_disarm();
}

/* Cancellation, deadlines and huge timeouts of a blocked select ------------ */

static void select_cancel_main(void *arg)
{
	struct sel_op s = { 0 };
	weft_chan *a, *b;
	weft_fiber *f;
	int va = -1, vb = -1;

	(void)arg;
	a = new_chan(sizeof(int), 0);
	b = new_chan(sizeof(int), 1);
	s.sc[0] = (struct weft_select_case){ a, WEFT_SELECT_RECV, &va, 99 };
	s.sc[1] = (struct weft_select_case){ b, WEFT_SELECT_RECV, &vb, 99 };
	s.n = 2;
	s.timeout = WEFT_FOREVER;
	f = check_spawn(select_op, &s);
	settle();
	check(__atomic_load_n(&s.stage, __ATOMIC_ACQUIRE) != 2);
	check_eq(weft_cancel(f), 0);
	check_join(f);
	check_eq(s.rc, -ECANCELED);
	check_eq(s.sc[0].res, 99);
	check_eq(s.sc[1].res, 99);
	/* Its waiters are gone from both channels; nothing was taken. */
	check_eq(weft_chan_try_send(a, &(int){ 1 }), -EAGAIN);
	check_eq(weft_chan_try_send(b, &(int){ 2 }), 0);
	check_eq(weft_chan_len(b), 1);
	check_eq(va, -1);
	check_eq(vb, -1);

	/* With a timeout too: the cancel comes first. */
	check_eq(weft_chan_try_recv(b, NULL), 0);
	s.timeout = 10000 * MS;
	s.stage = 0;
	f = check_spawn(select_op, &s);
	settle();
	check_eq(weft_cancel(f), 0);
	check_join(f);
	check_eq(s.rc, -ECANCELED);
	check_eq(weft_chan_try_send(a, &(int){ 1 }), -EAGAIN);
	weft_chan_free(a);
	weft_chan_free(b);
}

static void test_select_cancelled_while_blocked(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, select_cancel_main, NULL);
	run_checked(&two, select_cancel_main, NULL);
	watchdog_disarm();
}

static void *select_with_deadline(void *arg)
{
	struct sel_op *s = arg;
	int64_t old = weft_set_deadline(weft_now_ns() + 20 * MS);

	s->rc = weft_select(s->sc, s->n, s->timeout);
	weft_set_deadline(old);
	return NULL;
}

static void select_deadline_main(void *arg)
{
	struct sel_op s = { 0 };
	weft_chan *a;
	uint64_t t0;
	int v = -1;

	(void)arg;
	a = new_chan(sizeof(int), 0);
	s.sc[0] = (struct weft_select_case){ a, WEFT_SELECT_RECV, &v, 99 };
	s.n = 1;
	/* The fiber's deadline bounds a select without a timeout, */
	s.timeout = WEFT_FOREVER;
	t0 = weft_now_ns();
	check_join(check_spawn(select_with_deadline, &s));
	check_eq(s.rc, -ETIMEDOUT);
	check(weft_now_ns() - t0 >= 20 * MS);
	/* and one with a longer timeout. */
	s.timeout = 100000 * MS;
	check_join(check_spawn(select_with_deadline, &s));
	check_eq(s.rc, -ETIMEDOUT);
	check_eq(weft_chan_try_send(a, &v), -EAGAIN);
	check_eq(v, -1);
	weft_chan_free(a);
}

static void test_select_honours_the_fiber_deadline(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&two, select_deadline_main, NULL);
	watchdog_disarm();
}

/* The largest timeout is "about 292 years", not "already past". */
static void select_huge_timeout_main(void *arg)
{
	struct sel_op s = { 0 };
	weft_chan *a;
	weft_fiber *f;
	int v = -1;

	(void)arg;
	a = new_chan(sizeof(int), 0);
	s.sc[0] = (struct weft_select_case){ a, WEFT_SELECT_RECV, &v, 99 };
	s.n = 1;
	s.timeout = INT64_MAX;
	f = check_spawn(select_op, &s);
	settle();
	if (__atomic_load_n(&s.stage, __ATOMIC_ACQUIRE) == 1)
		check_eq(weft_chan_send(a, &(int){ 5 }), 0);
	check_join(f);
	check_eq(s.rc, 0);
	check_eq(v, 5);
	weft_chan_free(a);
}

static void test_select_huge_timeout_waits(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, select_huge_timeout_main, NULL);
	watchdog_disarm();
}

/*
 * Any negative timeout waits without limit (weft.h, Time and deadlines),
 * as WEFT_FOREVER does; -2 was once refused with -EINVAL. Checked only in
 * the direction a slow machine cannot fail: still waiting after 20 ms,
 * then ended by a partner, a cancel or the fiber's deadline.
 */
static void select_negative_timeout_main(void *arg)
{
	static const int64_t none[] = { WEFT_FOREVER, -2, INT64_MIN };
	struct sel_op s;
	weft_chan *a;
	weft_fiber *f;
	uint64_t t0;
	int v;

	(void)arg;
	a = new_chan(sizeof(int), 0);
	for (unsigned i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		s = (struct sel_op){ .n = 1, .timeout = none[i] };
		s.sc[0] = (struct weft_select_case){ a, WEFT_SELECT_RECV, &v,
						     99 };
		v = -1;
		f = check_spawn(select_op, &s);
		while (__atomic_load_n(&s.stage, __ATOMIC_ACQUIRE) == 0)
			weft_yield();
		weft_sleep_ns(20 * MS);
		check(__atomic_load_n(&s.stage, __ATOMIC_ACQUIRE) == 1);
		/* Only to a waiting select: a send nobody takes would hang. */
		if (__atomic_load_n(&s.stage, __ATOMIC_ACQUIRE) == 1)
			check_eq(weft_chan_send(a, &(int){ 7 }), 0);
		check_join(f);
		check_eq(s.rc, 0);
		check_eq(s.sc[0].res, 0);
		check_eq(v, 7);
	}

	/* With no cases, only a cancel ends it. */
	s = (struct sel_op){ .n = 0, .timeout = -2 };
	f = check_spawn(select_op, &s);
	while (__atomic_load_n(&s.stage, __ATOMIC_ACQUIRE) == 0)
		weft_yield();
	weft_sleep_ns(20 * MS);
	check(__atomic_load_n(&s.stage, __ATOMIC_ACQUIRE) == 1);
	check_eq(weft_cancel(f), 0);
	check_join(f);
	check_eq(s.rc, -ECANCELED);

	/* The fiber's deadline (20 ms off) still applies. */
	s = (struct sel_op){ .n = 1, .timeout = -2 };
	s.sc[0] = (struct weft_select_case){ a, WEFT_SELECT_RECV, &v, 99 };
	t0 = weft_now_ns();
	check_join(check_spawn(select_with_deadline, &s));
	check_eq(s.rc, -ETIMEDOUT);
	check(weft_now_ns() - t0 >= 20 * MS);
	check_eq(weft_chan_try_send(a, &v), -EAGAIN);
	weft_chan_free(a);
}

static void test_select_negative_timeout_waits_without_limit(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, select_negative_timeout_main, NULL);
	run_checked(&two, select_negative_timeout_main, NULL);
	watchdog_disarm();
}

/* Many selects blocked on one channel each get one value. */
#define MANY_SEL 16

static void *many_sel(void *arg)
{
	weft_chan **cs = arg;
	struct weft_select_case sc[2];
	int v = -1;

	sc[0] = (struct weft_select_case){ cs[0], WEFT_SELECT_RECV, &v, 99 };
	sc[1] = (struct weft_select_case){ cs[1], WEFT_SELECT_RECV, &v, 99 };
	if (weft_select(sc, 2, WEFT_FOREVER) != 0)
		return (void *)-1;
	return (void *)(intptr_t)v;
}

static void many_sel_main(void *arg)
{
	weft_fiber *f[MANY_SEL];
	weft_chan *cs[MANY_SEL][2];
	weft_chan *shared;
	unsigned seen = 0;
	void *r;

	(void)arg;
	shared = new_chan(sizeof(int), 0);
	for (int i = 0; i < MANY_SEL; i++) {
		cs[i][0] = shared;
		cs[i][1] = new_chan(sizeof(int), 0);
		f[i] = check_spawn(many_sel, cs[i]);
	}
	settle();
	for (int i = 0; i < MANY_SEL; i++)
		check_eq(weft_chan_send(shared, &i), 0);
	for (int i = 0; i < MANY_SEL; i++) {
		check_eq(weft_join(f[i], &r), 0);
		if ((intptr_t)r < 0 || (intptr_t)r >= MANY_SEL) {
			check((intptr_t)r >= 0 && (intptr_t)r < MANY_SEL);
			continue;
		}
		seen |= 1u << (intptr_t)r;
		/* Its other waiter is gone. */
		check_eq(weft_chan_try_send(cs[i][1], &i), -EAGAIN);
		weft_chan_free(cs[i][1]);
	}
	check_eq(seen, (1u << MANY_SEL) - 1);
	check_eq(weft_chan_try_send(shared, &seen), -EAGAIN);
	weft_chan_free(shared);
}

static void test_select_many_waiters_on_one_channel(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&one, many_sel_main, NULL);
	run_checked(&two, many_sel_main, NULL);
	watchdog_disarm();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chan_new_checks_sizes),
		cmocka_unit_test(test_chan_try_calls_work_without_a_runtime),
		cmocka_unit_test(test_chan_unbuffered_send_waits_for_receiver),
		cmocka_unit_test(test_chan_ping_pong),
		cmocka_unit_test(test_chan_every_capacity_go_testchan),
		cmocka_unit_test(test_chan_zero_size_elements),
		cmocka_unit_test(test_chan_close_wakes_blocked_receivers),
		cmocka_unit_test(test_chan_close_wakes_blocked_senders),
		cmocka_unit_test(test_chan_close_drains_buffer_then_epipe),
		cmocka_unit_test(test_chan_close_from_a_plain_thread),
		cmocka_unit_test(test_chan_four_producers_each_value_received_once),
		cmocka_unit_test(test_chan_plain_thread_feeds_fibers),
		cmocka_unit_test(test_chan_cancel_blocked_send_transfers_nothing),
		cmocka_unit_test(test_chan_cancel_blocked_recv_transfers_nothing),
		cmocka_unit_test(test_chan_cancel_and_timeout_races_lose_nothing),
		cmocka_unit_test(test_chan_deadline_times_out_blocked_ops),
		cmocka_unit_test(test_chan_blocking_calls_outside_a_fiber_are_eperm),
		cmocka_unit_test(test_chan_blocking_calls_in_a_generator_are_eperm),
		cmocka_unit_test(test_select_takes_the_ready_case),
		cmocka_unit_test(test_select_times_out),
		cmocka_unit_test(test_select_closed_channel_is_epipe),
		cmocka_unit_test(test_select_blocked_is_woken_by_partner_or_close),
		cmocka_unit_test(test_select_null_channels_never_fire),
		cmocka_unit_test(test_select_with_no_cases_waits_for_timeout),
		cmocka_unit_test(test_select_rejects_bad_arguments),
		cmocka_unit_test(test_select_duplicate_channel),
		cmocka_unit_test(test_select_nonblocking_never_misses_a_ready_case),
		cmocka_unit_test(test_select_chooses_fairly_among_ready_cases),
		cmocka_unit_test(test_select_pseudo_random_send),
		cmocka_unit_test(test_select_self_select),
		cmocka_unit_test(test_select_cancelled_while_blocked),
		cmocka_unit_test(test_select_honours_the_fiber_deadline),
		cmocka_unit_test(test_select_huge_timeout_waits),
		cmocka_unit_test(test_select_negative_timeout_waits_without_limit),
		cmocka_unit_test(test_select_many_waiters_on_one_channel),
	};

	skip_without_backend();
	return cmocka_run_group_tests_name("chan", tests, NULL, NULL);
}
