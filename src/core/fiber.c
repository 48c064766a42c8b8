/* SPDX-License-Identifier: MIT */
/*
 * Fibers: the record table behind weft_fiber handles, spawn, the first
 * entry, exit, join, detach and cancel; and the names of what a fiber
 * waits on (weft__wait_names, weft__io_op_names) for the reports, the
 * trace and debuggers.
 *
 * Life cycle and ownership.
 *   free     in a worker's record cache; owned by that worker.
 *   spawned  queued, holding a stack it has not run on (the worker that
 *            first runs it may trade it for a warmer one of its cache,
 *            weft__fiber_bind); owned by the queue that holds it.
 *   running  owned by its worker; its stack is in use (or, run inline
 *            by its joiner, the joiner's stack: see "Lazy children").
 *   parked   off its stack; owned by the wait structure holding its token
 *            (see Parking in sched.c).
 *   ended    stack freed; the record waits for its joiner. A detached
 *            record is freed by the exit itself.
 *
 * Handles. Records live in chunks of 1024 whose addresses stay put for
 * the whole weft_run (record.c; an idle chunk's memory may be given back,
 * and then reads as free records), so a record's address never changes
 * meaning while the runtime runs. A handle is (generation << 32 | index + 1); the generation is odd
 * while the record is live and is bumped when the record is freed, so
 * every use of a stale handle is caught (-ESRCH) rather than touching a
 * record that now belongs to another fiber.
 *
 * Join and detach. One atomic word per fiber, join_word, settles every
 * race between the fiber's end, its joiner, detach and cancellation:
 *   0                 running, unclaimed
 *   CLAIMED           a join claimed it; joiner not parked yet
 *   CLAIMED | token   the joiner is parked under that wake token
 *   DETACHED          weft_detach() claimed it
 *   ... | DONE        the fiber has ended
 * The exit sets DONE and acts on what it finds: a token is woken, a
 * detached record is freed. A joiner cancelled while parked takes its
 * token back with one CAS (CLAIMED|token -> 0); if that fails, the fiber
 * ended first and the join completes normally.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include <ck_pr.h>

#include "abarrier.h"
#include "abi.h"
#include "ctx.h"
#include "fiber.h"
#include "fls.h"
#include "poller.h"
#include "record.h"
#include "scheduler.h"
#include "waitq.h"
#include "trace.h"

struct fiber *weft__fiber_at(uint32_t index)
{
	return weft__record_slot(index);
}

static inline weft_fiber *handle_of(const struct fiber *f, uint32_t gen)
{
	return (weft_fiber *)(uintptr_t)(((uint64_t)gen << 32) |
					 (f->index + 1));
}

struct fiber *weft__fiber_lookup(weft_fiber *h)
{
	uint64_t v = (uint64_t)(uintptr_t)h;
	uint32_t gen = (uint32_t)(v >> 32);
	struct fiber *f;

	if ((uint32_t)v == 0 || !(gen & 1))
		return NULL;
	f = weft__record_slot((uint32_t)v - 1);
	/* A racy check by design: a handle used after its fiber was freed
	 * is refused, unless the user races the free itself. */
	if (!f || ck_pr_load_32(&f->gen) != gen)
		return NULL;
	return f;
}

/* Return @f to @w's cache; every handle to it goes stale. Owner only. */
static void record_free(struct worker *w, struct fiber *f)
{
	/* Even: not live. Lookups racing this see either value. */
	ck_pr_store_32(&f->gen, f->gen + 1);
	weft__record_free(w, f);
}

/* Spawn --------------------------------------------------------------- */

static void fiber_entry(void *arg)
{
	struct fiber *f = arg;

	weft__landed();
	errno = 0;
	f->result = f->fn(f->arg);
	if (f->fls)
		weft__fls_exit(f);
	weft__exit_current(weft__worker_self());
}

static int spawn_on(struct worker *w, void *(*fn)(void *), void *arg,
		    const struct weft_spawn_opts *opts, bool detached,
		    struct fiber **out)
{
	size_t size = weft__sched.stack_size;
	struct fiber *f;
	int err;

	if (opts && opts->stack_size)
		size = opts->stack_size;
	err = weft__record_alloc(w, &f);
	if (err)
		return err;
	err = weft__stack_alloc(&w->stacks, size, &f->stack);
	if (err) {
		/* Never live: its generation stays even. */
		weft__record_free(w, f);
		return err;
	}

	f->stack_size = weft__stack_usable(&w->stacks, size, f->stack);
	f->host_stack = false;
	f->fn = fn;
	f->arg = arg;
	/* spawn_site: the caller's to set. */
	f->result = NULL;
	f->saved_errno = 0;
	f->wake_res = 0;
	f->is_main = false;
	f->park_seq = 0;
	f->park_word = FIBER_RUNNING;
	f->cancel_req = 0;
	/* cancel_queued is not reset: a stale inbox entry may still hold
	 * the record; its owner clears it when it drains the inbox. */
	f->deadline_ns = WEFT_FOREVER;
	f->gen_depth = 0;
	f->fls = NULL;
	f->exit_fn = NULL;
	f->host = NULL;
	f->guest = NULL;
	f->owned = NULL;
	f->wait_owner = NULL;
	f->wait_kind = WAIT_NONE;
	f->join_word = detached ? JOIN_DETACHED : 0;
	f->id = w->nr_spawned * weft__sched.nr_workers + w->id + 1;
	f->name[0] = '\0';
	if (opts && opts->name) {
		strncpy(f->name, opts->name, sizeof(f->name) - 1);
		f->name[sizeof(f->name) - 1] = '\0';
	}
	/* Its first frame is written when it first runs (weft__fiber_bind). */
	f->ctx.sp = NULL;
#ifdef WEFT_TSAN
	f->ctx.tsan_fiber = __tsan_create_fiber(0);
	if (f->name[0])
		__tsan_set_fiber_name(f->ctx.tsan_fiber, f->name);
#endif
	/* Odd: live. Published to other threads by the queue push. */
	ck_pr_store_32(&f->gen, f->gen + 1);
	/* Owner-written counter; see weft__check_quiescent(). */
	ck_pr_store_64(&w->nr_spawned, w->nr_spawned + 1);
	*out = f;
	return 0;
}

void weft__fiber_bind(struct worker *w, struct fiber *f)
{
	weft__stack_swap_warm(&w->stacks, f->stack_size, &f->stack);
	f->ctx.stack_lo = f->stack->lo;
	f->ctx.stack_size = f->stack_size;
	f->ctx.asan_fake = NULL;
	f->ctx.sp = weft__ctx_make(weft__stack_top(f->stack), fiber_entry, f);
	f->stack->touched = true;
}

/* The trace's spawn event, and the child's name in 8-byte pieces. */
static void trace_spawn(struct worker *w, const struct fiber *f)
{
	weft__trace(w, TR_SPAWN, f->id, 0);
	for (unsigned i = 0; i < 4 && f->name[i * 8]; i++) {
		uint64_t chunk;

		memcpy(&chunk, &f->name[i * 8], 8);
		weft__trace_put(weft__trace_ring(w->id), TR_NAME | i << 24,
				f->id, chunk, 0);
	}
}

/* weft_spawn(), called from @site. */
static int spawn_from(weft_fiber **out, void *(*fn)(void *), void *arg,
		      const struct weft_spawn_opts *opts, void *site)
{
	struct worker *w = weft__worker_self();
	struct weft_spawn_opts known;
	struct fiber *f;
	int err;

	if (!fn)
		return -EINVAL;
	if (!w || !w->cur)
		return -EPERM;
	if (opts) {
		/* The fields the caller's weft.h has; the rest are defaults. */
		err = weft__abi_copy_in(&known, sizeof(known), opts, opts->size,
					WEFT_SPAWN_OPTS_SIZE_V1);
		if (err)
			return err;
		opts = &known;
	}
	if (ck_pr_load_uint(&weft__sched.shutdown))
		return -ECANCELED;
	err = spawn_on(w, fn, arg, opts, out == NULL, &f);
	if (err)
		return err;
	f->spawn_site = site;
	if (unlikely(weft__trace_on))
		trace_spawn(w, f);
	if (out)
		*out = handle_of(f, f->gen);
	/* A joinable child goes on the fork deque: its parent most likely
	 * joins it soon, and the deque runs the newest first (depth first,
	 * few stacks alive) while thieves take the oldest. A detached one is
	 * an independent task: into the LIFO slot, as Go puts a new
	 * goroutine in runnext, and on to the FIFO ring from there. */
	if (out)
		weft__enqueue_forked(w, f);
	else
		weft__make_runnable_on(w, f);
	return 0;
}

int weft_spawn(weft_fiber **out, void *(*fn)(void *), void *arg,
	       const struct weft_spawn_opts *opts)
{
	return spawn_from(out, fn, arg, opts, __builtin_return_address(0));
}

int weft_go(void *(*fn)(void *), void *arg)
{
	return spawn_from(NULL, fn, arg, NULL, __builtin_return_address(0));
}

const char *const weft__wait_names[WAIT_KIND_COUNT] = {
	[WAIT_NONE] = "",
	[WAIT_JOIN] = "weft_join",
	[WAIT_JOIN_ANY] = "weft_join_any",
	[WAIT_MUTEX] = "weft_mutex_lock",
	[WAIT_COND] = "weft_cond_wait",
	[WAIT_WG] = "weft_wg_wait",
	[WAIT_SEM] = "weft_sem_wait",
	[WAIT_CHAN_SEND] = "channel send",
	[WAIT_CHAN_RECV] = "channel receive",
	[WAIT_SELECT] = "weft_select",
	[WAIT_SLEEP] = "sleep",
	[WAIT_IO] = "I/O",
	[WAIT_BLOCKING] = "weft_blocking",
	[WAIT_SCOPE] = "weft_scope_run",
};

const char *const weft__io_op_names[IO_OP_COUNT] = {
	[IO_READ] = "read",	    [IO_WRITE] = "write",
	[IO_READV] = "read",	    [IO_WRITEV] = "write",
	[IO_RECV] = "recv",	    [IO_SEND] = "send",
	[IO_ACCEPT] = "accept",	    [IO_CONNECT] = "connect",
	[IO_OPENAT] = "openat",	    [IO_CLOSE] = "close",
	[IO_FSYNC] = "fsync",	    [IO_SHUTDOWN] = "shutdown",
	[IO_POLL] = "poll",	    [IO_SENDFILE] = "sendfile",
	[IO_SPLICE] = "splice",
};

const char *weft__io_op_name(unsigned op)
{
	return op < IO_OP_COUNT ? weft__io_op_names[op] : "I/O";
}

static void *main_entry(void *arg)
{
	void **pair = arg;
	void (*fn)(void *) = (void (*)(void *))pair[0];

	fn(pair[1]);
	return NULL;
}

/* Static storage: weft_run is not reentrant (-EBUSY). */
static void *main_pair[2];
static void (*main_shutdown_begun)(void);

int weft__fiber_spawn_main(struct worker *w, void (*fn)(void *), void *arg,
			   void (*shutdown_begun)(void))
{
	struct fiber *f;
	int err;

	main_shutdown_begun = shutdown_begun;
	main_pair[0] = (void *)fn;
	main_pair[1] = arg;
	/* A host stack's size (where there is one), so that its children
	 * of the default size can run inline. */
	err = spawn_on(w, main_entry, main_pair,
		       &(struct weft_spawn_opts){
			       .name = "main",
			       .stack_size = weft__sched.host_stack_size },
		       true, &f);
	if (err)
		return err;
	f->is_main = true;
	f->spawn_site = NULL;
	if (unlikely(weft__trace_on))
		trace_spawn(w, f);
	weft__enqueue_local(w, f);
	return 0;
}

/* Exit ---------------------------------------------------------------- */

static void begin_shutdown(void)
{
	ck_pr_store_uint(&weft__sched.shutdown, 1);
	/* StoreLoad: shutdown (and deadlocked, when that is why) before
	 * looking for parked fibers. Pairs with
	 * the fence in weft__finish_park(), which reads shutdown after PARKED. */
	ck_pr_fence_store_load();
	weft__fiber_cancel_all();
	if (main_shutdown_begun)
		main_shutdown_begun();
}

void weft__fiber_break_deadlock(void)
{
	struct sched *s = &weft__sched;

	ck_pr_store_uint(&s->deadlocked, 1);
	if (!ck_pr_load_uint(&s->shutdown)) {
		/* The main fiber is among the sleepers: end the program as
		 * its return would. */
		begin_shutdown();
		return;
	}
	/* Shutdown began earlier and some fibers did not end when
	 * cancelled: end their waits again, mutex waits now included.
	 * StoreLoad: deadlocked before reading park words; pairs with the
	 * fence in weft__finish_park(). */
	ck_pr_fence_store_load();
	weft__fiber_cancel_all();
}

struct fiber *weft__fiber_claim_joiner(struct fiber *f)
{
	/* Only a parked joiner's token can sit here, and nothing but our
	 * own exit can clear it once a join claimed us, except the joiner's
	 * cancellation, which must first win the same park CAS. */
	uint64_t word = ck_pr_load_64(&f->join_word);

	if (!(word & ~JOIN_FLAGS))
		return NULL;
	/* Pairs with the release in publish_joiner(). */
	weft__hb_acquire(&f->join_word);
	return weft__claim_park(word & ~JOIN_FLAGS, 0);
}

void weft__fiber_finish(struct worker *w, struct fiber *f)
{
	void (*exit_fn)(void *) = f->exit_fn;
	void *exit_arg = f->exit_arg;
	bool is_main = f->is_main;
	uint64_t old;

#ifdef WEFT_TSAN
	__tsan_destroy_fiber(f->ctx.tsan_fiber);
#endif
	/* The thorough check, once per fiber, now that it is off its stack. */
	if (unlikely(!weft__stack_gap_clean(f->stack)))
		weft__overflow_unguarded(f, "no guard page; wrote in the gap below");
	weft__stack_free(&w->stacks, f->stack);
	f->stack = NULL;
	/* A count only, no pairing: nothing rides on it. */
	if (f->host_stack)
		ck_pr_dec_uint(&weft__sched.host_stacks);
	ck_pr_store_uint(&f->park_word, FIBER_DEAD);
	/* Owner-written counter: the fiber has ended, before anyone can see
	 * its end (a joiner's weft_stats() must not count it as live); see
	 * weft__check_quiescent(). */
	ck_pr_store_64(&w->nr_exited, w->nr_exited + 1);
	/* f->result happens before the joiner reads it. */
	weft__hb_release(f);
	/* Full barrier: the result and the DEAD state before DONE; pairs
	 * with the claiming CAS in weft_join() and weft_detach(), and with
	 * the token's CAS in publish_joiner(). */
	do {
		old = ck_pr_load_64(&f->join_word);
	} while (!ck_pr_cas_64(&f->join_word, old, old | JOIN_DONE));

	if (old == JOIN_DETACHED) {
		record_free(w, f);
	} else if (old & ~JOIN_FLAGS) {
		/* Pairs with the release in publish_joiner(). */
		weft__hb_acquire(&f->join_word);
		weft__ready(old & ~JOIN_FLAGS, 0);
	}
	if (exit_fn)
		exit_fn(exit_arg);

	if (is_main)
		begin_shutdown();
	if (ck_pr_load_uint(&weft__sched.shutdown))
		weft__check_quiescent();
}

/* Join and detach ------------------------------------------------------ */

/* What a parked joiner publishes; lives on the joiner's stack. */
struct join_wait {
	struct fiber *target;
	weft_token token;
};

/*
 * Post-switch half of a join: publish the joiner's token. Like every
 * unlock callback it reads only its argument, never the parked fiber,
 * whose record a waker may hand to another thread the moment this CAS
 * lands.
 */
static bool publish_joiner(struct fiber *self, void *arg)
{
	struct join_wait *jw = arg;
	uint64_t *word = &jw->target->join_word;
	weft_token token = jw->token;

	/* Our reads of @jw (above) happen before the ender that takes the
	 * token resumes us and reuses the stack (TSan cannot see the CAS);
	 * pairs with the acquires in weft__fiber_claim_joiner() and
	 * weft__fiber_finish(); and before a canceller that resumes us,
	 * which acquires @self (weft__fiber_try_cancel()). */
	weft__hb_release(word);
	weft__hb_release(self);
	/* Fails only if the fiber ended meanwhile (DONE was or-ed in):
	 * then the park is called off. Full barrier. */
	return ck_pr_cas_64(word, JOIN_CLAIMED, JOIN_CLAIMED | token);
}

/*
 * Lazy children. A joinable child that nobody has started is only a
 * record (its stack is reserved, not yet run on). When its parent joins
 * it while it still sits at the bottom of this worker's fork deque, the
 * parent takes it back and runs it inline: a plain call on the parent's
 * stack, with no switch, no park and no wake-up, as Cilk runs a child
 * and as Fibril (Yang and Mellor-Crummey, PPoPP 2016) runs a task that
 * was not stolen. The child is still a fiber: w->cur is the child, so
 * weft_self(), its id, name, deadline, cancellation and fiber-local
 * values are its own; it may park, and the parent's frames below it
 * then wait with it and move with it. It borrows what describes the
 * stack (its bounds for ASan, the TSan fiber) from its host, and a
 * guard-page hit is reported as its own, naming the host.
 *
 * Only when the child loses nothing by it: at least the child's own
 * stack size is left below the joiner's frame (so a small-stack child
 * inlines almost anywhere, and a default-stack child inside a fiber
 * with a larger stack); the joiner has no deadline and no cancel
 * request pending, and shutdown has not begun (a join that could end
 * early parks instead); and the scheduler lets this stand in for a
 * schedule (weft__inline_turn). The one thing a joiner gives up: a
 * cancel request that arrives while its child runs inline cannot end
 * the join, so weft_cancel() cancels the child too (through the
 * joiner's guest handle; see try_inline() for how one barrier, the
 * join's claim, orders it against the request and also serves the fork
 * deque's pop, and how one worker needs none: a cancel from a plain
 * thread pays a heavy barrier instead); the join completes when the
 * child ends, and the joiner's request stays for its next suspension.
 *
 * A child the joiner has no room for (the joiner runs on a stack no
 * bigger than the child's, say one a thief stole) is given a bigger one
 * before the joiner parks (give_room, "Host stacks"), so that the
 * subtree below it runs inline there rather than a switch a fiber.
 */

/*
 * Run @f, which we took off our fork deque and claimed the join of, on
 * our stack; our guest handle names it already (try_inline()). Inlined
 * into weft_join(): each level of a tree run inline then costs one frame
 * and one call (weft_join's) instead of two.
 */
static inline __attribute__((always_inline)) void
run_inline(struct worker *w, struct fiber *self, struct fiber *f)
{
	int saved_errno = *w->errno_p;
	void (*exit_fn)(void *);

	/* Never run on: straight back to the cache, still warm. */
	weft__stack_unreserve(&w->stacks, f->stack);
	/* A count only, no pairing: nothing rides on it. */
	if (f->host_stack)
		ck_pr_dec_uint(&weft__sched.host_stacks);
	f->host_stack = false;
	ck_pr_store_ptr(&f->stack, self->stack);
	/* Release: the host's stack before any context the child saves,
	 * which a racing backtrace reads first; pairs with the load fence
	 * in weft__fiber_backtrace(). */
	ck_pr_fence_store();
	f->host = self;
	f->ctx.stack_lo = self->ctx.stack_lo;
	f->ctx.stack_size = self->ctx.stack_size;
	f->ctx.asan_fake = NULL;
#ifdef WEFT_TSAN
	__tsan_destroy_fiber(f->ctx.tsan_fiber);
	f->ctx.tsan_fiber = self->ctx.tsan_fiber;
#endif
	/* The claim's full barrier ordered guest before this load of our
	 * cancel request: either weft_cancel() passes one on, or we do. */
	if (ck_pr_load_uint(&self->cancel_req))
		ck_pr_store_uint(&f->cancel_req, 1);
	/* An atomic store: the monitor and weft_dump read it. */
	ck_pr_store_ptr(&w->cur, f);
	weft__trace(w, TR_RUN, f->id, 0);
	*w->errno_p = 0;
	f->result = f->fn(f->arg);
	if (f->fls)
		weft__fls_exit(f);
	/* If it parked, this is another worker now. */
	w = weft__worker_self();
	if (unlikely(!weft__stack_canary_ok(f->stack)))
		weft__overflow_unguarded(f, "no guard page; canary clobbered below");
	ck_pr_store_ptr(&w->cur, self);
	ck_pr_store_ptr(&self->guest, NULL);
	weft__trace(w, TR_RUN, self->id, 0);

	/* Its end, as weft__fiber_finish() does it, minus the stack. */
	exit_fn = f->exit_fn;
	f->stack = NULL;
	f->host = NULL;
	ck_pr_store_uint(&f->park_word, FIBER_DEAD);
	ck_pr_store_64(&w->nr_exited, w->nr_exited + 1);
	/* We claimed the join, so nothing else writes this word now. */
	ck_pr_store_64(&f->join_word, JOIN_CLAIMED | JOIN_DONE);
	if (exit_fn)
		exit_fn(f->exit_arg);
	if (ck_pr_load_uint(&weft__sched.shutdown))
		weft__check_quiescent();
	*w->errno_p = saved_errno;
}

/* Bytes under the joiner's frame the inline call itself may use. */
#define INLINE_SLACK 512u

/*
 * Host stacks. A child the joiner has no room for runs on a stack of its
 * own, and its own children need room there: a child with less than the
 * default size gets a default stack, and a default-size one gets
 * WEFT_HOST_STACK_SCALE times the default (only touched pages cost
 * memory; every worker caches that size too), at most
 * HOST_STACKS_PER_WORKER per worker at once, so that many such children
 * parked at once keep their own stacks.
 */
#define HOST_STACKS_PER_WORKER 16u

static bool host_stack_take(void)
{
	struct sched *s = &weft__sched;

	/* A count only, no pairing: nothing rides on it. */
	if (ck_pr_faa_uint(&s->host_stacks, 1) <
	    HOST_STACKS_PER_WORKER * s->nr_workers)
		return true;
	/* No pairing: the count, as above. */
	ck_pr_dec_uint(&s->host_stacks);
	return false;
}

/*
 * Give @f, which @w's running fiber joins but has no room to run, a
 * bigger stack (see "Host stacks"), so that the subtree below it runs
 * inline there rather than a switch a fiber. It stays where it was, at
 * the bottom of the fork deque; only the owner may touch it there, so it
 * comes off while its stack changes.
 */
static void give_room(struct worker *w, struct fiber *f)
{
	size_t want = weft__sched.stack_size;
	bool host = false;
	struct stack *big;

	if (f->stack_size > want)
		return;
	if (f->stack_size == want) {
		if (!weft__sched.host_stack_size || !host_stack_take())
			return;
		want = weft__sched.host_stack_size;
		host = true;
	}
	if (weft__forkq_pop_if(&w->fq, &f->node)) {
		if (weft__stack_alloc(&w->stacks, want, &big) == 0) {
			weft__stack_free(&w->stacks, f->stack);
			f->stack = big;
			f->stack_size = big->size;
			f->host_stack = host;
			host = false;
		}
		/* Into the slot it just left: cannot fail. */
		weft_assert(weft__forkq_push(&w->fq, &f->node));
	}
	/* No pairing: a count (see host_stack_take()). */
	if (host)
		ck_pr_dec_uint(&weft__sched.host_stacks);
}

/* Our guest while a join finds out whether its child is its own. */
#define GUEST_PENDING ((weft_fiber *)(uintptr_t)1)

enum inline_try {
	INLINE_NO,	/* not claimed: the join goes on as any join      */
	INLINE_RAN,	/* claimed, ran inline, ended                      */
	INLINE_PARK,	/* claimed, but a thief took it: the join parks    */
};

/*
 * Run @f inline if we can: @self joins it, and nobody had claimed its
 * join when we looked. One full barrier does it all, the join's claim:
 * before it, the fork deque's pop claims @f's position and our guest
 * says "pending"; after it, the pop learns whether a thief took @f
 * (weft__forkq_pop_begin()), and we read our cancel request (in
 * run_inline()). So weft_cancel(), which stores a request and then reads
 * guest, either finds "pending" and waits the few instructions until
 * guest names @f or nothing, or we see its request (see "Lazy
 * children"). A claim lost to a weft_detach() or another join (a misuse:
 * one of them gets -EINVAL) puts @f back where it was.
 */
static enum inline_try try_inline(struct worker *w, struct fiber *self,
				  struct fiber *f)
{
	size_t room = (size_t)((char *)__builtin_frame_address(0) -
			       (char *)self->ctx.stack_lo);
	bool claimed, ours;

	if (self->deadline_ns != WEFT_FOREVER ||
	    ck_pr_load_uint(&self->cancel_req) ||
	    ck_pr_load_uint(&weft__sched.shutdown))
		return INLINE_NO;
	/* @f may be running elsewhere, or ending: until it is ours, only
	 * what stays put while it lives may be read. */
	if (room < f->stack_size + INLINE_SLACK) {
		give_room(w, f);
		return INLINE_NO;
	}
	if (!weft__inline_turn(w) || !weft__forkq_pop_begin(&w->fq, &f->node))
		return INLINE_NO;
	if (weft__sched.light_inline) {
		/*
		 * One worker: no thief can take @f, and every fiber that
		 * could detach it or join it runs on this thread, so the
		 * claim cannot fail and needs no atomic RMW (a plain thread
		 * may do neither). Only a cancel from a plain thread races
		 * us, and it pays for the StoreLoad instead: guest before
		 * our read of the request in run_inline(); pairs with the
		 * heavy barrier in weft_cancel().
		 */
		ck_pr_store_64(&f->join_word, JOIN_CLAIMED);
		weft_assert(weft__forkq_pop_end(&w->fq));
		/* An atomic store: weft_cancel() reads it. */
		ck_pr_store_ptr(&self->guest, handle_of(f, f->gen));
		weft__abarrier_light();
	} else {
		/* An atomic store: weft_cancel() reads it. */
		ck_pr_store_ptr(&self->guest, GUEST_PENDING);
		/* Full barrier: the pop's bottom and our guest before the
		 * pop's read of top and our read of the cancel request, which
		 * pairs with the fence in weft_cancel() (the request before
		 * guest); and the race with a detach or another join, which
		 * pairs with the CAS in weft_detach() and weft_join_any(). */
		claimed = ck_pr_cas_64(&f->join_word, 0, JOIN_CLAIMED);
		ours = weft__forkq_pop_end(&w->fq);
		if (!claimed || !ours) {
			/* An atomic store, as above. */
			ck_pr_store_ptr(&self->guest, NULL);
			if (ours)
				/* Into the slot it just left: cannot fail. */
				weft_assert(weft__forkq_push(&w->fq, &f->node));
			return claimed ? INLINE_PARK : INLINE_NO;
		}
		/* An atomic store, as above. */
		ck_pr_store_ptr(&self->guest, handle_of(f, f->gen));
	}
	run_inline(w, self, f);
	return INLINE_RAN;
}

/* Wait, parked, for @f, whose join @self claimed; 0 once it has ended. */
static int join_parked(struct worker *w, struct fiber *self, struct fiber *f)
{
	struct join_wait jw;
	int res;

	jw.target = f;
	jw.token = weft__park_token(w);
	fiber_waits_on(self, WAIT_JOIN, f->id);
	/* Bounded by the fiber's deadline, if it has one. */
	res = weft__park_until(w, publish_joiner, &jw, WEFT_FOREVER);
	/* Cancelled, past the deadline, or no timer: take the token back
	 * unless the fiber ended. Full barrier; pairs with the CAS that
	 * sets DONE in weft__fiber_finish(). */
	if (res < 0 && ck_pr_cas_64(&f->join_word, JOIN_CLAIMED | jw.token, 0))
		return res;
	return 0;
}

int weft_join(weft_fiber *h, void **result)
{
	struct worker *w = weft__may_suspend();
	struct fiber *self, *f;
	uint64_t old;
	int res;

	if (!w)
		return -EPERM;
	self = w->cur;
	f = weft__fiber_lookup(h);
	if (!f)
		return -ESRCH;
	if (f == self)
		return -EDEADLK;

	old = ck_pr_load_64(&f->join_word);
	switch (old == 0 ? try_inline(w, self, f) : INLINE_NO) {
	case INLINE_RAN:
		break;
	case INLINE_PARK:
		res = join_parked(w, self, f);
		if (res < 0)
			return res;
		break;
	case INLINE_NO:
		/* Claim the join. Full barrier on success. */
		for (;;) {
			old = ck_pr_load_64(&f->join_word);
			if (old != 0 && old != JOIN_DONE)
				return -EINVAL;
			/* Full barrier; settles the race with detach, other
			 * joins and the fiber's exit: pairs with the CAS in
			 * weft_detach(), weft_join_any()'s claim() and
			 * weft__fiber_finish(). */
			if (ck_pr_cas_64(&f->join_word, old,
					 old | JOIN_CLAIMED))
				break;
		}
		if (old == 0) {
			res = join_parked(w, self, f);
			if (res < 0)
				return res;
		}
		break;
	}
	weft__fiber_reap(weft__worker_self(), f, result);
	return 0;
}

void weft__fiber_reap(struct worker *w, struct fiber *f, void **result)
{
	/* Pairs with the release in weft__fiber_finish(). */
	weft__hb_acquire(f);
	weft_assert(ck_pr_load_64(&f->join_word) & JOIN_DONE);
	if (result)
		*result = f->result;
	record_free(w, f);
}

int weft_detach(weft_fiber *h)
{
	struct worker *w = weft__worker_self();
	struct fiber *f;
	uint64_t old;

	if (!w)
		return -EPERM;
	f = weft__fiber_lookup(h);
	if (!f)
		return -ESRCH;
	for (;;) {
		old = ck_pr_load_64(&f->join_word);
		if (old != 0 && old != JOIN_DONE)
			return -EINVAL;
		/* Full barrier; settles the race with the fiber's exit:
		 * pairs with the CAS in weft__fiber_finish(). */
		if (ck_pr_cas_64(&f->join_word, old, old | JOIN_DETACHED))
			break;
	}
	if (old == JOIN_DONE) {
		weft__hb_acquire(f);
		record_free(w, f);
	}
	return 0;
}

/* Cancel -------------------------------------------------------------- */

/*
 * A deadlocked runtime ends mutex waits too, which nothing else may: a
 * fiber asleep in weft_mutex_lock() gets -EDEADLK, without the lock and
 * without its cancel request consumed (sync.c takes its waiter out of
 * the queue).
 */
static void break_mutex_wait(struct fiber *f, unsigned cur)
{
	/* Same arbitration as weft__ready(); full barrier. Pairs with
	 * the CAS in weft__claim_park() and the one to PARKED in
	 * weft__finish_park(). */
	if (!ck_pr_cas_uint(&f->park_word, cur,
			    (cur & ~PARK_STATE_MASK) | FIBER_READY))
		return;
	weft__hb_acquire(f);
	f->wake_res = -EDEADLK;
	weft__make_runnable(f);
}

void weft__fiber_try_cancel(struct fiber *f)
{
	unsigned cur;
	struct worker *owner;
	unsigned shutting;

again:
	cur = ck_pr_load_uint(&f->park_word);

	if ((cur & PARK_STATE_MASK) != FIBER_PARKED)
		return;
	/* PARKED before wait_owner: both were written before the park CAS
	 * that published PARKED; pairs with that CAS in
	 * weft__finish_park(). */
	ck_pr_fence_load();
	/* Read once: the fiber may wake and park elsewhere meanwhile. */
	owner = ck_pr_load_ptr(&f->wait_owner);
	/* A wait owned by a worker (I/O, a timer) is ended by its owner;
	 * a blocking-pool call or a mutex lock is not ended early at all
	 * (the request stays pending for the next suspension). */
	if (owner == WAIT_NO_CANCEL) {
		if (ck_pr_load_uint(&weft__sched.deadlocked) &&
		    ck_pr_load_uint(&f->wait_kind) == WAIT_MUTEX)
			break_mutex_wait(f, cur);
		return;
	}
	if (owner) {
		weft__owned_cancel(f, owner);
		return;
	}
	/*
	 * Claim the request first: it ends one park. A canceller that
	 * lost the race to the fiber's own park (weft__finish_park saw the
	 * request, ended that park and consumed it) must not end the next
	 * one, which may have begun by now: its CAS below would find that
	 * park PARKED too. Full barrier; pairs with the store of the
	 * request in weft_cancel() and with this same CAS in a racing
	 * weft__fiber_try_cancel(). At shutdown every park ends.
	 */
	shutting = ck_pr_load_uint(&weft__sched.shutdown);
	if (!shutting && !ck_pr_cas_uint(&f->cancel_req, 1, 0))
		return;
	/* Same arbitration as weft__ready(); full barrier. Pairs with
	 * the CAS in weft__claim_park() and the one to PARKED in
	 * weft__finish_park(). */
	if (!ck_pr_cas_uint(&f->park_word, cur,
			    (cur & ~PARK_STATE_MASK) | FIBER_READY)) {
		/* A waker ended it first: the request is the fiber's next
		 * suspension's, as weft_cancel() promises. */
		if (shutting)
			return;
		ck_pr_store_uint(&f->cancel_req, 1);
		/* StoreLoad, as in weft_cancel(): a park that began while
		 * we held the request saw none; if the fiber is parked
		 * again, end that park instead. Pairs with the CAS to
		 * PARKED in weft__finish_park(). */
		ck_pr_fence_store_load();
		if ((ck_pr_load_uint(&f->park_word) & PARK_STATE_MASK) ==
		    FIBER_PARKED)
			goto again;
		return;
	}
	weft__hb_acquire(f);
	/* The request is consumed by the park it ended. */
	ck_pr_store_uint(&f->cancel_req, 0);
	f->wake_res = -ECANCELED;
	weft__make_runnable(f);
}

int weft_cancel(weft_fiber *h)
{
	struct fiber *f;
	bool heavy;

	if (!ck_pr_load_ptr(&weft__sched.workers))
		return -EPERM;
	f = weft__fiber_lookup(h);
	if (!f)
		return -ESRCH;
	/* On one worker an inline join claims with plain stores, and we
	 * order its guest against our request (try_inline()); a fiber or
	 * the sched ctx runs on the joiner's own thread already. */
	heavy = weft__sched.light_inline && !weft__worker_self();
	do {
		ck_pr_store_uint(&f->cancel_req, 1);
		/* StoreLoad: the request before reading park_word (pairs
		 * with the fence in weft__finish_park()) and guest (with
		 * the claim's CAS in try_inline(), or its light barrier). */
		if (heavy)
			weft__abarrier_heavy();
		else
			ck_pr_fence_store_load();
		weft__fiber_try_cancel(f);
		/* A fiber running a child inline cannot end its join before
		 * the child ends: the child is cancelled with it, and so on
		 * up. A guest that has just ended is a stale handle. */
		h = ck_pr_load_ptr(&f->guest);
		/* Its join is finding out whether its child is its own: a
		 * few instructions that never block (try_inline()), unless
		 * the kernel preempted its thread in them. */
		for (unsigned spins = 0; h == GUEST_PENDING; spins++) {
			if (spins < 128)
				ck_pr_stall();
			else
				sched_yield();
			h = ck_pr_load_ptr(&f->guest);
		}
		/*
		 * Only while the request is still there: if a park took it
		 * (ours in weft__fiber_try_cancel(), or the fiber's own), the
		 * fiber may since have run on and joined another child
		 * inline, which this request is not for. The fiber clears
		 * its request before it publishes a later guest, so reading
		 * guest first and then the request, in that order, sees the
		 * clear. No pairing: program order is enough (x86 keeps
		 * loads in order and stores in order), so a compiler barrier.
		 */
		ck_pr_fence_load();
		if (h && !ck_pr_load_uint(&f->cancel_req))
			break;
	} while (h && (f = weft__fiber_lookup(h)) != NULL);
	return 0;
}

static void cancel_one(struct fiber *f, void *arg)
{
	(void)arg;
	weft__fiber_try_cancel(f);
}

void weft__fiber_cancel_all(void)
{
	weft__record_foreach_live(cancel_one, NULL);
}

struct alive_walk {
	void (*fn)(struct fiber *f, void *arg);
	void *arg;
};

static void if_alive(struct fiber *f, void *arg)
{
	struct alive_walk *aw = arg;

	if ((ck_pr_load_uint(&f->park_word) & PARK_STATE_MASK) != FIBER_DEAD)
		aw->fn(f, aw->arg);
}

void weft__fiber_foreach_alive(void (*fn)(struct fiber *f, void *arg),
			       void *arg)
{
	struct alive_walk aw = { fn, arg };

	weft__record_foreach_live(if_alive, &aw);
}

bool weft_cancelled(void)
{
	struct worker *w = weft__worker_self();

	if (!w || !w->cur)
		return false;
	return ck_pr_load_uint(&w->cur->cancel_req) ||
	       ck_pr_load_uint(&weft__sched.shutdown);
}

void weft__fiber_at_exit(void (*fn)(void *), void *arg)
{
	struct fiber *f = weft__worker_self()->cur;

	f->exit_fn = fn;
	f->exit_arg = arg;
}

int weft__cancel_point(struct worker *w)
{
	struct fiber *f = w->cur;

	/* Both read as weft_cancelled() reads them; a request stored after
	 * this load is seen by the fiber's next park (weft__finish_park). */
	if (ck_pr_load_uint(&weft__sched.shutdown))
		return -ECANCELED;
	if (!ck_pr_load_uint(&f->cancel_req))
		return 0;
	/* Only the fiber itself clears its request. */
	ck_pr_store_uint(&f->cancel_req, 0);
	return -ECANCELED;
}

/* Accessors ------------------------------------------------------------ */

weft_fiber *weft_self(void)
{
	struct worker *w = weft__worker_self();

	if (!w || !w->cur)
		return NULL;
	return handle_of(w->cur, w->cur->gen);
}

uint64_t weft_fiber_id(void)
{
	struct worker *w = weft__worker_self();

	return w && w->cur ? w->cur->id : 0;
}

unsigned weft_worker_id(void)
{
	struct worker *w = weft__worker_self();

	return w ? w->id : UINT32_MAX;
}
