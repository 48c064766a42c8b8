/* SPDX-License-Identifier: MIT */
/*
 * Generator behaviour (src/api/gen.c): the state machine, values in and out,
 * the error returns that stand for Python's exceptions, close and its
 * cleanup, yield from, nesting, free of a suspended generator, deep
 * recursion on a large stack, many generators at once, and generators
 * driven by fibers that migrate between workers. Everything but the last
 * case runs in plain main(), without weft_run(): generators need no
 * runtime. Each case uses only its own generators and locals.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "helpers.h"

#define V(x) ((void *)(intptr_t)(x))
#define I(p) ((intptr_t)(p))

/* Shared bodies ------------------------------------------------------- */

/* Flags a body sets, one struct per case, passed as arg. */
struct probe {
	enum weft_gen_state seen;	/* state of g seen from its body    */
	int started;			/* the body ran                     */
	int cleaned;			/* it saw WEFT_GEN_EXIT, cleaned up */
	int send_rc;			/* a send it made                   */
	int close_rc;			/* a close it made                  */
	void *yield_rc;			/* a yield it made                  */
	weft_gen *other;		/* another generator it uses        */
};

/* Yields 1, 2, then returns 3; records its state and any cleanup. */
static void *one_two_three(weft_gen *g, void *arg)
{
	struct probe *p = arg;

	p->started = 1;
	p->seen = weft_gen_state(g);
	if (weft_gen_yield(g, V(1)) == WEFT_GEN_EXIT)
		goto out_cleanup;
	if (weft_gen_yield(g, V(2)) == WEFT_GEN_EXIT)
		goto out_cleanup;
	return V(3);
out_cleanup:
	p->cleaned = 1;
	return V(-1);
}

/* Yields each value it receives plus one, forever; cleans up on exit. */
static void *plus_one(weft_gen *g, void *arg)
{
	struct probe *p = arg;
	void *in = weft_gen_yield(g, V(0));

	while (in != WEFT_GEN_EXIT)
		in = weft_gen_yield(g, V(I(in) + 1));
	if (p)
		p->cleaned = 1;
	return NULL;
}

/* States and values --------------------------------------------------- */

static void test_gen_states_follow_a_python_generator(void **state)
{
	struct probe p = { .seen = WEFT_GEN_CLOSED };
	weft_gen *g;
	void *out = NULL;

	(void)state;
	assert_int_equal(weft_gen_new(&g, one_two_three, &p, 0), 0);
	assert_int_equal(weft_gen_state(g), WEFT_GEN_CREATED);
	assert_false(p.started);

	assert_int_equal(weft_gen_send(g, NULL, &out), 0);
	assert_int_equal(I(out), 1);
	assert_int_equal(p.seen, WEFT_GEN_RUNNING);
	assert_int_equal(weft_gen_state(g), WEFT_GEN_SUSPENDED);

	assert_int_equal(weft_gen_send(g, NULL, &out), 0);
	assert_int_equal(I(out), 2);
	assert_int_equal(weft_gen_state(g), WEFT_GEN_SUSPENDED);

	assert_int_equal(weft_gen_send(g, NULL, &out), 1);
	assert_int_equal(I(out), 3);
	assert_int_equal(weft_gen_state(g), WEFT_GEN_CLOSED);
	assert_false(p.cleaned);
	weft_gen_free(g);
	assert_int_equal(weft_gen_state(NULL), WEFT_GEN_CLOSED);
}

static void test_gen_sent_values_come_back_through_yield(void **state)
{
	weft_gen *g;
	void *out;
	intptr_t i;

	(void)state;
	assert_int_equal(weft_gen_new(&g, plus_one, NULL, 0), 0);
	assert_int_equal(weft_gen_send(g, NULL, &out), 0);
	assert_int_equal(I(out), 0);
	for (i = -1000; i < 1000; i++) {
		assert_int_equal(weft_gen_send(g, V(i), &out), 0);
		assert_int_equal(I(out), i + 1);
	}
	/* A NULL out is allowed. */
	assert_int_equal(weft_gen_send(g, V(7), NULL), 0);
	weft_gen_free(g);
}

static void test_gen_new_rejects_bad_arguments(void **state)
{
	weft_gen *g = (weft_gen *)&g;

	(void)state;
	assert_int_equal(weft_gen_new(&g, NULL, NULL, 0), -EINVAL);
	assert_null(g);
	assert_int_equal(weft_gen_new(NULL, plus_one, NULL, 0), -EINVAL);
	assert_int_equal(weft_gen_new(&g, plus_one, NULL,
				      ((size_t)1 << 30) + 1), -EINVAL);
	/* Exactly 1 GiB is allowed; only touched pages cost memory. */
	assert_int_equal(weft_gen_new(&g, plus_one, NULL, (size_t)1 << 30), 0);
	weft_gen_free(g);
	/* A tiny request is rounded up to WEFT_STACK_MIN and still runs. */
	assert_int_equal(weft_gen_new(&g, plus_one, NULL, 1), 0);
	assert_int_equal(weft_gen_send(g, NULL, NULL), 0);
	weft_gen_free(g);
}

/* Errors that stand for Python's exceptions --------------------------- */

static void test_gen_first_send_of_a_value_is_einval(void **state)
{
	struct probe p = { 0 };
	weft_gen *g;
	void *out = V(99);

	(void)state;
	assert_int_equal(weft_gen_new(&g, one_two_three, &p, 0), 0);
	assert_int_equal(weft_gen_send(g, V(5), &out), -EINVAL);
	assert_int_equal(I(out), 99);
	assert_false(p.started);
	assert_int_equal(weft_gen_state(g), WEFT_GEN_CREATED);
	/* It can still be started properly. */
	assert_int_equal(weft_gen_send(g, NULL, &out), 0);
	assert_int_equal(I(out), 1);
	weft_gen_free(g);
}

static void test_gen_send_of_the_exit_marker_is_einval(void **state)
{
	struct probe p = { 0 };
	weft_gen *g;

	(void)state;
	assert_int_equal(weft_gen_new(&g, plus_one, &p, 0), 0);
	assert_int_equal(weft_gen_send(g, NULL, NULL), 0);
	assert_int_equal(weft_gen_send(g, WEFT_GEN_EXIT, NULL), -EINVAL);
	assert_int_equal(weft_gen_state(g), WEFT_GEN_SUSPENDED);
	assert_false(p.cleaned);
	assert_int_equal(weft_gen_send(NULL, NULL, NULL), -EINVAL);
	weft_gen_free(g);
}

static void test_gen_send_after_closed_is_epipe(void **state)
{
	struct probe p = { 0 };
	weft_gen *g;
	void *out = V(99);

	(void)state;
	/* Run to the end. */
	assert_int_equal(weft_gen_new(&g, one_two_three, &p, 0), 0);
	while (weft_gen_send(g, NULL, NULL) == 0)
		;
	assert_int_equal(weft_gen_send(g, NULL, &out), -EPIPE);
	assert_int_equal(I(out), 99);
	assert_int_equal(weft_gen_send(g, NULL, NULL), -EPIPE);
	weft_gen_free(g);

	/* Closed while suspended. */
	assert_int_equal(weft_gen_new(&g, one_two_three, &p, 0), 0);
	assert_int_equal(weft_gen_send(g, NULL, NULL), 0);
	assert_int_equal(weft_gen_close(g), 0);
	assert_int_equal(weft_gen_send(g, NULL, &out), -EPIPE);
	weft_gen_free(g);
}

/* Sends to, closes and frees itself; all refused, it stays RUNNING. */
static void *self_sender(weft_gen *g, void *arg)
{
	struct probe *p = arg;

	p->send_rc = weft_gen_send(g, NULL, NULL);
	p->close_rc = weft_gen_close(g);
	weft_gen_free(g);
	p->seen = weft_gen_state(g);
	return V(42);
}

static void test_gen_sending_to_itself_is_ebusy(void **state)
{
	struct probe p = { 0 };
	weft_gen *g;
	void *out;

	(void)state;
	assert_int_equal(weft_gen_new(&g, self_sender, &p, 0), 0);
	assert_int_equal(weft_gen_send(g, NULL, &out), 1);
	assert_int_equal(I(out), 42);
	assert_int_equal(p.send_rc, -EBUSY);
	assert_int_equal(p.close_rc, -EBUSY);
	assert_int_equal(p.seen, WEFT_GEN_RUNNING);
	weft_gen_free(g);
}

/* Yields on a generator that is not its own: p->other. */
static void *wrong_yielder(weft_gen *g, void *arg)
{
	struct probe *p = arg;

	p->yield_rc = weft_gen_yield(p->other, V(1));
	p->seen = weft_gen_state(p->other);
	return weft_gen_yield_from(p->other, g);
}

static void test_gen_yield_outside_its_body_returns_exit(void **state)
{
	struct probe p = { 0 };
	weft_gen *g;
	weft_gen *h;
	void *out;

	(void)state;
	assert_int_equal(weft_gen_new(&g, plus_one, NULL, 0), 0);
	/* From plain main(), on a CREATED, a SUSPENDED and no generator. */
	assert_ptr_equal(weft_gen_yield(g, V(1)), WEFT_GEN_EXIT);
	assert_int_equal(weft_gen_state(g), WEFT_GEN_CREATED);
	assert_int_equal(weft_gen_send(g, NULL, NULL), 0);
	assert_ptr_equal(weft_gen_yield(g, V(1)), WEFT_GEN_EXIT);
	assert_ptr_equal(weft_gen_yield(NULL, V(1)), WEFT_GEN_EXIT);
	assert_ptr_equal(weft_gen_yield_from(g, NULL), WEFT_GEN_EXIT);
	assert_int_equal(weft_gen_state(g), WEFT_GEN_SUSPENDED);

	/* From another generator's body. */
	p.other = g;
	assert_int_equal(weft_gen_new(&h, wrong_yielder, &p, 0), 0);
	assert_int_equal(weft_gen_send(h, NULL, &out), 1);
	assert_ptr_equal(out, WEFT_GEN_EXIT);
	assert_ptr_equal(p.yield_rc, WEFT_GEN_EXIT);
	assert_int_equal(p.seen, WEFT_GEN_SUSPENDED);
	/* g was left alone: it still answers. */
	assert_int_equal(weft_gen_send(g, V(5), &out), 0);
	assert_int_equal(I(out), 6);
	weft_gen_free(h);
	weft_gen_free(g);
}

/* Close --------------------------------------------------------------- */

static void test_gen_close_of_a_created_generator_never_runs_it(void **state)
{
	struct probe p = { 0 };
	weft_gen *g;

	(void)state;
	assert_int_equal(weft_gen_new(&g, one_two_three, &p, 0), 0);
	assert_int_equal(weft_gen_close(g), 0);
	assert_int_equal(weft_gen_state(g), WEFT_GEN_CLOSED);
	assert_false(p.started);
	assert_int_equal(weft_gen_send(g, NULL, NULL), -EPIPE);
	assert_false(p.started);
	/* Closing again is fine. */
	assert_int_equal(weft_gen_close(g), 0);
	weft_gen_free(g);
	assert_int_equal(weft_gen_close(NULL), -EINVAL);
}

static void test_gen_close_of_a_suspended_generator_runs_cleanup(void **state)
{
	struct probe p = { 0 };
	weft_gen *g;

	(void)state;
	assert_int_equal(weft_gen_new(&g, one_two_three, &p, 0), 0);
	assert_int_equal(weft_gen_send(g, NULL, NULL), 0);
	assert_false(p.cleaned);
	assert_int_equal(weft_gen_close(g), 0);
	assert_true(p.cleaned);
	assert_int_equal(weft_gen_state(g), WEFT_GEN_CLOSED);
	assert_int_equal(weft_gen_close(g), 0);
	weft_gen_free(g);
}

static void test_gen_close_of_a_finished_generator_is_zero(void **state)
{
	struct probe p = { 0 };
	weft_gen *g;

	(void)state;
	assert_int_equal(weft_gen_new(&g, one_two_three, &p, 0), 0);
	while (weft_gen_send(g, NULL, NULL) == 0)
		;
	assert_int_equal(weft_gen_close(g), 0);
	assert_false(p.cleaned);
	assert_int_equal(weft_gen_state(g), WEFT_GEN_CLOSED);
	weft_gen_free(g);
}

/*
 * Ignores the first exit (yields "ignored" instead), then yields what it
 * is sent until the next exit, which it honours; counts both in
 * p->cleaned. With p->started set, it ignores every exit.
 */
static void *stubborn(weft_gen *g, void *arg)
{
	struct probe *p = arg;
	void *in = weft_gen_yield(g, V(1));
	int ignored = 0;

	for (;;) {
		if (in == WEFT_GEN_EXIT) {
			p->cleaned++;
			if (ignored++ && !p->started)
				return NULL;
			in = weft_gen_yield(g, V(-1));
			continue;
		}
		in = weft_gen_yield(g, in);
	}
}

static void test_gen_close_ignored_is_einval_and_stays_suspended(void **state)
{
	struct probe p = { 0 };
	weft_gen *g;
	void *out;

	(void)state;
	assert_int_equal(weft_gen_new(&g, stubborn, &p, 0), 0);
	assert_int_equal(weft_gen_send(g, NULL, NULL), 0);
	assert_int_equal(weft_gen_close(g), -EINVAL);
	assert_int_equal(p.cleaned, 1);
	assert_int_equal(weft_gen_state(g), WEFT_GEN_SUSPENDED);
	/* As in Python, it carries on from the yield it ignored with. */
	assert_int_equal(weft_gen_send(g, V(8), &out), 0);
	assert_int_equal(I(out), 8);
	/* The second exit is honoured. */
	assert_int_equal(weft_gen_close(g), 0);
	assert_int_equal(p.cleaned, 2);
	assert_int_equal(weft_gen_state(g), WEFT_GEN_CLOSED);
	weft_gen_free(g);
}

static void test_gen_free_of_one_that_ignores_every_exit_works(void **state)
{
	struct probe p = { .started = 1 };
	weft_gen *g;

	(void)state;
	assert_int_equal(weft_gen_new(&g, stubborn, &p, 0), 0);
	assert_int_equal(weft_gen_send(g, NULL, NULL), 0);
	assert_int_equal(weft_gen_close(g), -EINVAL);
	assert_int_equal(weft_gen_close(g), -EINVAL);
	assert_int_equal(weft_gen_state(g), WEFT_GEN_SUSPENDED);
	/* Free closes once more, is refused, and drops it (ASan checks the
	 * stack and record are not leaked). */
	weft_gen_free(g);
	assert_int_equal(p.cleaned, 3);
}

static void test_gen_free_of_a_suspended_generator_runs_cleanup(void **state)
{
	struct probe p = { 0 };
	weft_gen *g;

	(void)state;
	assert_int_equal(weft_gen_new(&g, one_two_three, &p, 0), 0);
	assert_int_equal(weft_gen_send(g, NULL, NULL), 0);
	assert_int_equal(weft_gen_send(g, NULL, NULL), 0);
	weft_gen_free(g);
	assert_true(p.cleaned);

	/* Free of a CREATED one runs nothing; NULL is a no-op. */
	p = (struct probe){ 0 };
	assert_int_equal(weft_gen_new(&g, one_two_three, &p, 0), 0);
	weft_gen_free(g);
	assert_false(p.started);
	weft_gen_free(NULL);
}

/* yield from ------------------------------------------------------------ */

/* Yields "ready", then twice each value sent; returns their sum. */
static void *doubler(weft_gen *g, void *arg)
{
	struct probe *p = arg;
	intptr_t sum = 0;
	void *in = weft_gen_yield(g, V(-100));

	p->started = 1;
	while (in != WEFT_GEN_EXIT) {
		if (I(in) == 0)
			return V(sum);
		sum += I(in);
		in = weft_gen_yield(g, V(2 * I(in)));
	}
	p->cleaned = 1;
	return NULL;
}

/* Yields 'A', delegates to p->other, yields its result, returns 7. */
static void *delegator(weft_gen *g, void *arg)
{
	struct probe *p = arg;
	void *r;

	if (weft_gen_yield(g, V(-200)) == WEFT_GEN_EXIT)
		goto out_cleanup;
	r = weft_gen_yield_from(g, p->other);
	if (r == WEFT_GEN_EXIT)
		goto out_cleanup;
	p->yield_rc = r;
	if (weft_gen_yield(g, r) == WEFT_GEN_EXIT)
		goto out_cleanup;
	return V(7);
out_cleanup:
	p->cleaned = 1;
	return NULL;
}

static void test_gen_yield_from_forwards_sends_and_returns_result(void **state)
{
	struct probe sp = { 0 };
	struct probe op = { 0 };
	weft_gen *sub;
	weft_gen *g;
	void *out;

	(void)state;
	assert_int_equal(weft_gen_new(&sub, doubler, &sp, 0), 0);
	op.other = sub;
	assert_int_equal(weft_gen_new(&g, delegator, &op, 0), 0);

	assert_int_equal(weft_gen_send(g, NULL, &out), 0);
	assert_int_equal(I(out), -200);
	assert_int_equal(weft_gen_state(sub), WEFT_GEN_CREATED);
	/* This send resumes g's first yield; g then starts sub with NULL. */
	assert_int_equal(weft_gen_send(g, V(555), &out), 0);
	assert_int_equal(I(out), -100);
	assert_int_equal(weft_gen_state(sub), WEFT_GEN_SUSPENDED);
	/* Values sent into g reach sub; sub's yields come out of g. */
	assert_int_equal(weft_gen_send(g, V(3), &out), 0);
	assert_int_equal(I(out), 6);
	assert_int_equal(weft_gen_send(g, V(10), &out), 0);
	assert_int_equal(I(out), 20);
	assert_int_equal(weft_gen_send(g, V(-4), &out), 0);
	assert_int_equal(I(out), -8);
	/* 0 ends sub; its result is the value of yield from. */
	assert_int_equal(weft_gen_send(g, V(0), &out), 0);
	assert_int_equal(I(out), 9);
	assert_int_equal(I(op.yield_rc), 9);
	assert_int_equal(weft_gen_state(sub), WEFT_GEN_CLOSED);
	assert_int_equal(weft_gen_send(g, NULL, &out), 1);
	assert_int_equal(I(out), 7);
	assert_false(sp.cleaned);
	assert_false(op.cleaned);
	weft_gen_free(g);
	weft_gen_free(sub);
}

static void test_gen_close_during_yield_from_closes_the_sub(void **state)
{
	struct probe sp = { 0 };
	struct probe op = { 0 };
	weft_gen *sub;
	weft_gen *g;
	void *out;

	(void)state;
	assert_int_equal(weft_gen_new(&sub, doubler, &sp, 0), 0);
	op.other = sub;
	assert_int_equal(weft_gen_new(&g, delegator, &op, 0), 0);
	assert_int_equal(weft_gen_send(g, NULL, NULL), 0);
	assert_int_equal(weft_gen_send(g, NULL, NULL), 0);
	assert_int_equal(weft_gen_send(g, V(4), &out), 0);
	assert_int_equal(I(out), 8);

	assert_int_equal(weft_gen_close(g), 0);
	assert_true(sp.cleaned);
	assert_true(op.cleaned);
	assert_int_equal(weft_gen_state(sub), WEFT_GEN_CLOSED);
	assert_int_equal(weft_gen_state(g), WEFT_GEN_CLOSED);
	weft_gen_free(g);
	weft_gen_free(sub);
}

static void *yield_from_other(weft_gen *g, void *arg)
{
	struct probe *p = arg;

	p->yield_rc = weft_gen_yield_from(g, g);
	return weft_gen_yield_from(g, p->other);
}

static void test_gen_yield_from_closed_sub_gives_null_itself_exit(
	void **state)
{
	struct probe p = { 0 };
	weft_gen *sub;
	weft_gen *g;
	void *out = V(1);

	(void)state;
	assert_int_equal(weft_gen_new(&sub, plus_one, NULL, 0), 0);
	assert_int_equal(weft_gen_close(sub), 0);
	p.other = sub;
	assert_int_equal(weft_gen_new(&g, yield_from_other, &p, 0), 0);
	assert_int_equal(weft_gen_send(g, NULL, &out), 1);
	assert_ptr_equal(p.yield_rc, WEFT_GEN_EXIT);
	assert_null(out);
	weft_gen_free(g);
	weft_gen_free(sub);
}

/* Nesting -------------------------------------------------------------- */

struct level {
	int depth;			/* 1 for the outermost              */
	weft_gen *self;
	struct level *up;		/* the level driving this one       */
	struct level *down;		/* the level this one drives        */
	enum weft_gen_state up_seen;	/* the driver's state, from inside  */
	int up_yield_is_exit;		/* a yield on the driver, refused   */
};

/*
 * Level n yields, three times, 10 * (what level n + 1 yielded) + n; the
 * innermost (3) yields 3 three times. Each level drives the next with
 * plain sends, so each must switch back to the right context.
 */
static void *level_body(weft_gen *g, void *arg)
{
	struct level *l = arg;
	void *v;
	int i;

	if (l->up) {
		l->up_seen = weft_gen_state(l->up->self);
		l->up_yield_is_exit =
			weft_gen_yield(l->up->self, V(1)) == WEFT_GEN_EXIT;
	}
	if (!l->down) {
		for (i = 0; i < 3; i++)
			if (weft_gen_yield(g, V(l->depth)) == WEFT_GEN_EXIT)
				return NULL;
		return V(-l->depth);
	}
	if (weft_gen_new(&l->down->self, level_body, l->down, 32 * 1024))
		return NULL;
	for (i = 0; i < 3; i++) {
		if (weft_gen_send(l->down->self, NULL, &v) != 0)
			break;
		if (weft_gen_yield(g, V(10 * I(v) + l->depth)) == WEFT_GEN_EXIT)
			break;
	}
	/* Let it return; the driver checks what it gave. */
	if (weft_gen_send(l->down->self, NULL, &v) != 1 ||
	    I(v) != -l->down->depth)
		return V(-100);
	weft_gen_free(l->down->self);
	l->down->self = NULL;
	return V(-l->depth);
}

static void test_gen_nested_three_deep_return_to_their_drivers(void **state)
{
	struct level lv[3] = {
		{ .depth = 1, .down = &lv[1] },
		{ .depth = 2, .up = &lv[0], .down = &lv[2] },
		{ .depth = 3, .up = &lv[1] },
	};
	void *out;
	int i;

	(void)state;
	assert_int_equal(weft_gen_new(&lv[0].self, level_body, &lv[0], 0), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(weft_gen_send(lv[0].self, NULL, &out), 0);
		assert_int_equal(I(out), 321);
		assert_int_equal(weft_gen_state(lv[0].self),
				 WEFT_GEN_SUSPENDED);
		assert_int_equal(weft_gen_state(lv[1].self),
				 WEFT_GEN_SUSPENDED);
		assert_int_equal(weft_gen_state(lv[2].self),
				 WEFT_GEN_SUSPENDED);
	}
	assert_int_equal(weft_gen_send(lv[0].self, NULL, &out), 1);
	assert_int_equal(I(out), -1);
	assert_null(lv[1].self);
	assert_null(lv[2].self);
	/* From inside, each saw its driver RUNNING and could not yield it. */
	for (i = 1; i < 3; i++) {
		assert_int_equal(lv[i].up_seen, WEFT_GEN_RUNNING);
		assert_true(lv[i].up_yield_is_exit);
	}
	weft_gen_free(lv[0].self);
}

/* Deep recursion on a big stack --------------------------------------- */

#define FRAME_BYTES 1024
#define DEPTH 160		/* about 170 KiB: more than the default 64 */

/* Fills a 1 KiB frame, recurses, and yields on the way back up. */
static __attribute__((noinline)) intptr_t dive(weft_gen *g, int depth)
{
	volatile unsigned char frame[FRAME_BYTES];
	intptr_t sum;
	int i;

	for (i = 0; i < FRAME_BYTES; i += 64)
		frame[i] = (unsigned char)(depth + i);
	sum = depth ? dive(g, depth - 1) : 0;
	if (weft_gen_yield(g, V(depth)) == WEFT_GEN_EXIT)
		return -1;
	/* The frame survived the switches. */
	for (i = 0; i < FRAME_BYTES; i += 64)
		if (frame[i] != (unsigned char)(depth + i))
			return -1000000;
	return sum < 0 ? sum : sum + depth;
}

static void *deep(weft_gen *g, void *arg)
{
	(void)arg;
	return V(dive(g, DEPTH));
}

static void test_gen_deep_recursion_on_a_256k_stack(void **state)
{
	weft_gen *g;
	void *out;
	int i;

	(void)state;
	assert_int_equal(weft_gen_new(&g, deep, NULL, 256 * 1024), 0);
	for (i = 0; i <= DEPTH; i++) {
		assert_int_equal(weft_gen_send(g, NULL, &out), 0);
		assert_int_equal(I(out), i);
	}
	assert_int_equal(weft_gen_send(g, NULL, &out), 1);
	assert_int_equal(I(out), DEPTH * (DEPTH + 1) / 2);
	weft_gen_free(g);
}

/* Many at once ---------------------------------------------------------- */

#define NR_MANY 10000
#define MANY_BATCH 1000		/* live TSan fibers at once (gcc: < 8,128) */
#define MANY_STEPS 4

/* Yields arg + 0 .. arg + MANY_STEPS - 1, returns arg. */
static void *counter(weft_gen *g, void *arg)
{
	int i;

	for (i = 0; i < MANY_STEPS; i++)
		if (weft_gen_yield(g, V(I(arg) + i)) == WEFT_GEN_EXIT)
			return NULL;
	return arg;
}

static void test_gen_ten_thousand_run_to_completion_and_free(void **state)
{
	weft_gen **gs;
	void *out;
	int i, b, step;

	(void)state;
	watchdog_arm(__func__, 60);
	gs = calloc(NR_MANY, sizeof(*gs));
	assert_non_null(gs);
	for (i = 0; i < NR_MANY; i++)
		assert_int_equal(weft_gen_new(&gs[i], counter, V(i * 16),
					      16 * 1024), 0);
	/* Interleaved within each batch: every generator of the batch is
	 * suspended at once, each on its own stack. */
	for (b = 0; b < NR_MANY; b += MANY_BATCH) {
		for (step = 0; step < MANY_STEPS; step++)
			for (i = b; i < b + MANY_BATCH; i++) {
				assert_int_equal(weft_gen_send(gs[i], NULL,
							       &out), 0);
				assert_int_equal(I(out), i * 16 + step);
			}
		for (i = b; i < b + MANY_BATCH; i++) {
			assert_int_equal(weft_gen_send(gs[i], NULL, &out), 1);
			assert_int_equal(I(out), i * 16);
			assert_int_equal(weft_gen_state(gs[i]),
					 WEFT_GEN_CLOSED);
		}
		watchdog_progress_add(MANY_BATCH);
	}
	for (i = 0; i < NR_MANY; i++)
		weft_gen_free(gs[i]);
	free(gs);
	watchdog_disarm();
}

/* Driven by fibers on two workers -------------------------------------- */

#define NR_DRIVERS 8
#define NR_SENDS 500
#define NR_BUSY 4

struct driver {
	int errors;			/* wrong values, wrong contexts     */
	int eperm;			/* suspending calls refused inside  */
	unsigned workers_seen;		/* bit per worker that sent         */
	weft_fiber *self;
};

/* Running sum; checks that it runs on its driver's fiber, which it must
 * not suspend. */
static void *fiber_sum(weft_gen *g, void *arg)
{
	struct driver *d = arg;
	intptr_t total = 0;
	void *x;

	for (;;) {
		x = weft_gen_yield(g, V(total));
		if (x == WEFT_GEN_EXIT)
			return NULL;
		if (weft_self() != d->self)
			d->errors++;
		weft_yield();	/* refused: does nothing */
		if (weft_sleep_ns(1000) == -EPERM)
			d->eperm++;
		total += I(x);
	}
}

static unsigned busy_stop;

static void *busy(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&busy_stop, __ATOMIC_ACQUIRE))
		weft_yield();
	return NULL;
}

static void *drive(void *arg)
{
	struct driver *d = arg;
	weft_gen *g;
	intptr_t expect = 0;
	void *out;
	int i;

	d->self = weft_self();
	if (weft_gen_new(&g, fiber_sum, d, 0)) {
		d->errors++;
		return NULL;
	}
	if (weft_gen_send(g, NULL, &out) != 0 || out != V(0))
		d->errors++;
	for (i = 1; i <= NR_SENDS; i++) {
		/* Let others run: this fiber may come back on another
		 * worker, and the next send must still return here. */
		weft_yield();
		d->workers_seen |= 1u << (weft_worker_id() & 31);
		expect += i;
		if (weft_gen_send(g, V(i), &out) != 0 || out != V(expect))
			d->errors++;
	}
	if (weft_gen_close(g) != 0 ||
	    weft_gen_state(g) != WEFT_GEN_CLOSED)
		d->errors++;
	weft_gen_free(g);
	return NULL;
}

static struct driver drivers[NR_DRIVERS];

static void fibers_main(void *arg)
{
	weft_fiber *busy_f[NR_BUSY];
	weft_fiber *drv[NR_DRIVERS];
	int i;

	(void)arg;
	for (i = 0; i < NR_BUSY; i++)
		weft_spawn(&busy_f[i], busy, NULL, NULL);
	for (i = 0; i < NR_DRIVERS; i++)
		weft_spawn(&drv[i], drive, &drivers[i], NULL);
	for (i = 0; i < NR_DRIVERS; i++)
		weft_join(drv[i], NULL);
	__atomic_store_n(&busy_stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < NR_BUSY; i++)
		weft_join(busy_f[i], NULL);
}

static void test_gen_driven_by_fibers_that_migrate(void **state)
{
	struct weft_config two = { .workers = 2 };
	unsigned seen = 0;
	int err;
	int i;

	(void)state;
	watchdog_arm(__func__, 60);
	err = weft_run(&two, fibers_main, NULL);
	if (err == -ENOSYS) {
		watchdog_disarm();
		skip();
	}
	assert_int_equal(err, 0);
	for (i = 0; i < NR_DRIVERS; i++) {
		assert_int_equal(drivers[i].errors, 0);
		assert_int_equal(drivers[i].eperm, NR_SENDS);
		seen |= drivers[i].workers_seen;
	}
	/* Both workers drove generators (which fiber ran where is up to
	 * the scheduler, so nothing stronger is asserted). */
	assert_int_not_equal(seen, 0);
	watchdog_disarm();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gen_states_follow_a_python_generator),
		cmocka_unit_test(test_gen_sent_values_come_back_through_yield),
		cmocka_unit_test(test_gen_new_rejects_bad_arguments),
		cmocka_unit_test(test_gen_first_send_of_a_value_is_einval),
		cmocka_unit_test(test_gen_send_of_the_exit_marker_is_einval),
		cmocka_unit_test(test_gen_send_after_closed_is_epipe),
		cmocka_unit_test(test_gen_sending_to_itself_is_ebusy),
		cmocka_unit_test(test_gen_yield_outside_its_body_returns_exit),
		cmocka_unit_test(test_gen_close_of_a_created_generator_never_runs_it),
		cmocka_unit_test(test_gen_close_of_a_suspended_generator_runs_cleanup),
		cmocka_unit_test(test_gen_close_of_a_finished_generator_is_zero),
		cmocka_unit_test(test_gen_close_ignored_is_einval_and_stays_suspended),
		cmocka_unit_test(test_gen_free_of_one_that_ignores_every_exit_works),
		cmocka_unit_test(test_gen_free_of_a_suspended_generator_runs_cleanup),
		cmocka_unit_test(test_gen_yield_from_forwards_sends_and_returns_result),
		cmocka_unit_test(test_gen_close_during_yield_from_closes_the_sub),
		cmocka_unit_test(test_gen_yield_from_closed_sub_gives_null_itself_exit),
		cmocka_unit_test(test_gen_nested_three_deep_return_to_their_drivers),
		cmocka_unit_test(test_gen_deep_recursion_on_a_256k_stack),
		cmocka_unit_test(test_gen_ten_thousand_run_to_completion_and_free),
		cmocka_unit_test(test_gen_driven_by_fibers_that_migrate),
	};

	/* Only the last case needs the runtime (and io_uring); it skips
	 * itself where weft_run() is refused. */
	return cmocka_run_group_tests_name("gen", tests, NULL, NULL);
}
