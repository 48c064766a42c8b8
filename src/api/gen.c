/* SPDX-License-Identifier: MIT */
/*
 * Generators: Python's generators and coroutines as C functions with their
 * own stacks, driven by whoever calls weft_gen_send(). This file owns the
 * generator record, its stack and contexts, the state machine of
 * inspect.getgeneratorstate (CREATED, RUNNING, SUSPENDED, CLOSED), close
 * and yield from. The scheduler is never involved: a generator runs on the
 * thread of the context that resumes it, for exactly as long as that
 * context waits in weft_gen_send(), so nothing here is atomic. A generator
 * may be driven from different threads over its life (a fiber that sends,
 * yields, migrates and sends again), but by one at a time.
 *
 * Contexts. A send switches from the caller to the generator's context
 * and back; the caller's context lives on the caller's stack for the
 * length of that send (struct ctx in resume()), and the generator keeps a
 * pointer to it, so every send may come from somewhere else: a plain
 * thread, a fiber on any worker, or another generator's body (nesting).
 * For ASan the caller's stack bounds come from the generator running on
 * this thread (cur_gen), else the running fiber's stack, else the
 * thread's own stack; for TSan the caller is __tsan_get_current_fiber().
 *
 * Suspension rule. While a fiber runs a generator (its gen_depth is
 * non-zero), the fiber must not be switched out: the generator's context
 * points into the fiber's stack and the thread's cur_gen would go stale.
 * The scheduler's suspending calls refuse with -EPERM while gen_depth is
 * set (weft__may_suspend() in sched.c).
 *
 * Stacks come from the shared pool in stack.c (no per-worker cache, so
 * any thread may create and free generators, inside or outside
 * weft_run()). A stack is given back as soon as its generator is closed,
 * and the canary of an unguarded stack is checked whenever the generator
 * switches out, as sched.c does for fibers.
 *
 * Tests: tests/test_gen.c; examples/coroutine_send.c,
 * examples/generator_states.c, examples/yield_from.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "ctx.h"
#include "fiber.h"
#include "internal.h"
#include "scheduler.h"
#include "stack.h"

#ifdef WEFT_ASAN
#include <sanitizer/asan_interface.h>
#endif
#ifdef WEFT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* WEFT_GEN_EXIT is this object's address. */
WEFT_API const char weft_gen_exit_marker = 0;

struct weft_gen {
	/*
	 * Owned by the context driving the generator: the sender while it
	 * waits in weft_gen_send() or weft_gen_close(), else whoever holds
	 * the handle.
	 */
	struct ctx ctx;			/* the generator's own context      */
	struct ctx *caller;		/* the sender's context; in a send  */
	struct stack *stack;		/* NULL once closed                 */
	void *(*fn)(weft_gen *g, void *arg);
	void *arg;
	void *xfer;			/* value crossing the next switch   */
	enum weft_gen_state state;
};

/*
 * The generator whose body runs on this thread right now, or NULL. Set
 * and restored around each switch into a generator; its body never
 * leaves the thread before it switches back (see "Suspension rule").
 */
static WEFT_TLS weft_gen *cur_gen;

/* Stacks and overflow -------------------------------------------------- */

static __attribute__((noreturn, cold)) void overflowed(const char *how)
{
	weft__die_msg("a generator overflowed its stack (", how, ")\n");
	abort();
}

/* Before every switch out of @g: the cheap check, as schedule() does. */
static inline void check_canary(const weft_gen *g)
{
	if (unlikely(!weft__stack_canary_ok(g->stack)))
		overflowed("no guard page; canary clobbered below");
}

/* Give back @g's stack and TSan fiber; @g is not running. */
static void release_stack(weft_gen *g)
{
	if (!g->stack)
		return;
#ifdef WEFT_TSAN
	if (g->ctx.tsan_fiber)
		__tsan_destroy_fiber(g->ctx.tsan_fiber);
	g->ctx.tsan_fiber = NULL;
#endif
	/* The thorough check, once, now that nothing runs on it. */
	if (unlikely(!weft__stack_gap_clean(g->stack)))
		overflowed("no guard page; wrote in the gap below");
#ifdef WEFT_ASAN
	/*
	 * Dropped where it yielded (it ignored the exit): its frames, from
	 * its saved stack pointer up, are still poisoned. A body that
	 * returned cleared its own on its last switch (weft__switch), and
	 * one that never ran left none.
	 */
	if (g->state == WEFT_GEN_SUSPENDED) {
		char *sp = g->ctx.sp;
		char *top = weft__stack_top(g->stack);

		__asan_unpoison_memory_region(sp, (size_t)(top - sp));
	}
#endif
	weft__stack_free(NULL, g->stack);
	g->stack = NULL;
}

#ifdef WEFT_ASAN
/* This thread's own stack, looked up once (ASan builds only). */
static WEFT_TLS void *thread_stack_lo;
static WEFT_TLS size_t thread_stack_size;

/* Fill in the stack bounds of the context calling weft_gen_send(). */
static void caller_bounds(struct ctx *c, const struct fiber *f)
{
	pthread_attr_t attr;

	if (cur_gen) {
		c->stack_lo = cur_gen->stack->lo;
		c->stack_size = cur_gen->stack->size;
		return;
	}
	if (f) {
		c->stack_lo = f->ctx.stack_lo;
		c->stack_size = f->ctx.stack_size;
		return;
	}
	if (!thread_stack_size &&
	    pthread_getattr_np(pthread_self(), &attr) == 0) {
		pthread_attr_getstack(&attr, &thread_stack_lo,
				      &thread_stack_size);
		pthread_attr_destroy(&attr);
	}
	c->stack_lo = thread_stack_lo;
	c->stack_size = thread_stack_size;
}
#endif

/* Switching ------------------------------------------------------------ */

/* The generator's first code on its own stack; never returns. */
static void gen_entry(void *arg)
{
	weft_gen *g = arg;
	void *ret;

	weft__switch_landed();
	ret = g->fn(g, g->arg);
	g->xfer = ret;
	g->state = WEFT_GEN_CLOSED;
	check_canary(g);
	/* This stack never runs again; the sender frees it. */
	weft__switch(&g->ctx, g->caller, true);
	__builtin_unreachable();
}

/*
 * Run @g (CREATED or SUSPENDED, g->xfer holding what its pending yield
 * returns) until it yields or returns; then g->xfer holds the value it
 * yielded or returned. On return, @g is SUSPENDED or CLOSED, and a closed
 * generator's stack has been given back. Any thread; not a yield point.
 */
static void resume(weft_gen *g)
{
	struct worker *w = weft__worker_self();
	struct fiber *f = w ? w->cur : NULL;
	weft_gen *outer = cur_gen;
	struct ctx caller = { .sp = NULL };

#ifdef WEFT_ASAN
	caller_bounds(&caller, f);
#endif
#ifdef WEFT_TSAN
	caller.tsan_fiber = __tsan_get_current_fiber();
	/* Made on first use: a generator closed before it ever ran never
	 * gets one (destroying a never-entered TSan fiber is untested). */
	if (!g->ctx.tsan_fiber)
		g->ctx.tsan_fiber = __tsan_create_fiber(0);
#endif
	g->caller = &caller;
	g->state = WEFT_GEN_RUNNING;
	cur_gen = g;
	/* The fiber must not be switched out while @g runs on this thread;
	 * see "Suspension rule". */
	if (f)
		f->gen_depth++;
	weft__switch(&caller, &g->ctx, false);
	if (f)
		f->gen_depth--;
	cur_gen = outer;
	g->caller = NULL;
	if (g->state == WEFT_GEN_CLOSED)
		release_stack(g);
}

/* Is the caller @g's own body, running? */
static inline bool in_body_of(const weft_gen *g)
{
	return g && g == cur_gen && g->state == WEFT_GEN_RUNNING;
}

/* API ------------------------------------------------------------------ */

int weft_gen_new(weft_gen **out, void *(*fn)(weft_gen *g, void *arg),
		 void *arg, size_t stack_size)
{
	weft_gen *g;
	int err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!fn || weft__stack_round(stack_size) == 0)
		return -EINVAL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	err = weft__stack_alloc(NULL, stack_size, &g->stack);
	if (err) {
		free(g);
		return err;
	}
	g->fn = fn;
	g->arg = arg;
	g->state = WEFT_GEN_CREATED;
	g->ctx.stack_lo = g->stack->lo;
	g->ctx.stack_size = g->stack->size;
	g->ctx.asan_fake = NULL;
	g->ctx.tsan_fiber = NULL;
	g->ctx.sp = weft__ctx_make(weft__stack_top(g->stack), gen_entry, g);
	*out = g;
	return 0;
}

int weft_gen_send(weft_gen *g, void *in, void **out)
{
	if (!g)
		return -EINVAL;
	switch (g->state) {
	case WEFT_GEN_RUNNING:
		return -EBUSY;
	case WEFT_GEN_CLOSED:
		return -EPIPE;
	case WEFT_GEN_CREATED:
		/* Python: "can't send non-None value to a just-started
		 * generator"; there is no yield to receive it yet. */
		if (in)
			return -EINVAL;
		break;
	case WEFT_GEN_SUSPENDED:
		if (in == WEFT_GEN_EXIT)
			return -EINVAL;
		break;
	}
	g->xfer = in;
	resume(g);
	if (out)
		*out = g->xfer;
	return g->state == WEFT_GEN_CLOSED ? 1 : 0;
}

void *weft_gen_yield(weft_gen *g, void *value)
{
	if (!in_body_of(g))
		return WEFT_GEN_EXIT;
	check_canary(g);
	g->xfer = value;
	g->state = WEFT_GEN_SUSPENDED;
	weft__switch(&g->ctx, g->caller, false);
	/* Resumed by a send (its value) or a close (WEFT_GEN_EXIT), maybe
	 * on another thread. */
	return g->xfer;
}

void *weft_gen_yield_from(weft_gen *g, weft_gen *sub)
{
	void *in = NULL;
	void *v;
	int rc;

	if (!in_body_of(g) || !sub || sub == g)
		return WEFT_GEN_EXIT;
	if (sub->state == WEFT_GEN_RUNNING)
		return WEFT_GEN_EXIT;
	for (;;) {
		rc = weft_gen_send(sub, in, &v);
		if (rc == 1)
			return v;
		/* Closed already, or by someone else while we were suspended:
		 * Python's yield from an exhausted generator gives None. */
		if (rc == -EPIPE)
			return NULL;
		if (rc < 0)
			return WEFT_GEN_EXIT;
		in = weft_gen_yield(g, v);
		if (in == WEFT_GEN_EXIT) {
			/* As Python's close() of a delegating generator: the
			 * subgenerator first. */
			weft_gen_close(sub);
			return WEFT_GEN_EXIT;
		}
	}
}

int weft_gen_close(weft_gen *g)
{
	if (!g)
		return -EINVAL;
	switch (g->state) {
	case WEFT_GEN_CREATED:
		g->state = WEFT_GEN_CLOSED;
		release_stack(g);
		return 0;
	case WEFT_GEN_RUNNING:
		return -EBUSY;
	case WEFT_GEN_CLOSED:
		return 0;
	case WEFT_GEN_SUSPENDED:
		break;
	}
	g->xfer = WEFT_GEN_EXIT;
	resume(g);
	/* Yielded again: Python's "generator ignored GeneratorExit". */
	return g->state == WEFT_GEN_CLOSED ? 0 : -EINVAL;
}

enum weft_gen_state weft_gen_state(const weft_gen *g)
{
	return g ? g->state : WEFT_GEN_CLOSED;
}

void weft_gen_free(weft_gen *g)
{
	if (!g || g->state == WEFT_GEN_RUNNING)
		return;
	/* As Python's generator finaliser: close it, so its cleanup runs.
	 * If it ignores the exit, it is dropped where it yielded. */
	if (g->state == WEFT_GEN_SUSPENDED)
		weft_gen_close(g);
	release_stack(g);
	free(g);
}
