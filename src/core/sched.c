/* SPDX-License-Identifier: MIT */
/*
 * Scheduler overview.
 *
 * Terms. A fiber (F) is a task with its own stack. A worker (W) is an OS
 * thread that owns a run queue, a poller (poller.h: an io_uring, or an
 * epoll set where io_uring is refused) and (in the scheduler context,
 * "sched ctx") a loop that finds work. Every W is also the owner of its
 * poller: nothing else enters it.
 *
 * Switching. A fiber that gives up the CPU picks the next fiber itself
 * (LIFO slot, fork deque, local queue, global queue) and jumps straight
 * to it; only when it finds none does it jump to its worker's sched ctx,
 * which steals, polls and sleeps. A yield therefore costs one stack
 * switch, not two. Whatever the old fiber still needs done once it is
 * off its stack (be queued again, be published to wakers, be freed) it
 * leaves in the worker's post-switch slot, and the context it switched
 * to does it first thing after landing (after_switch()). This is how
 * the park protocol below releases a fiber only after it has stopped
 * running. One exception to the straight jump: a park that releases a
 * lock after the switch hands a next fiber whose stack was never run on
 * to the sched ctx (w->handoff), so that the page fault of its first
 * frame is not taken with that lock held (schedule()).
 *
 * Finding work, in order (pick_local(), then find_runnable()):
 *   1. every 61st schedule, one fiber from the global queue, else one
 *      from the local run queue, so that neither starves behind the
 *      LIFO slot and the fork deque (and a look at one other worker's
 *      overdue timers, rescue.c);
 *   2. the LIFO slot: the fiber this worker most recently made ready (a
 *      woken joiner, a channel partner, a detached spawn), hot in cache;
 *      at most 3 times in a row, then it goes to the back of the queue;
 *   3. the fork deque (forkq.h): the newest joinable child this worker
 *      spawned, so that fork-join runs depth first, as Cilk does (most
 *      such children never get here: their parent's weft_join takes
 *      them off the bottom and runs them inline, on its own stack, see
 *      "Lazy children" in fiber.c; each inline run counts as a schedule
 *      on the tick, weft__inline_turn);
 *   4. the local run queue (FIFO, 256 slots);
 *   5. the global queue, taking a batch;
 *   6. the waits this worker owns (owned.c): cancel requests from its
 *      inbox, expired timers, I/O completions and readiness; only here,
 *      in the sched ctx, so that a completion never races its fiber's
 *      park. A busy worker with any of them pending comes here every
 *      61st schedule;
 *   6b. the timers of other busy workers that are 2 ms overdue: a
 *      worker stalled by a fiber that does not yield cannot fire them
 *      (rescue.c);
 *   7. steal half of a random victim's queue, or else the oldest child
 *      on its fork deque (the biggest piece of a fork-join tree), trying
 *      every worker, and keep searching for up to 50 us (leaving other
 *      workers' LIFO slots alone for the first 3 us) before giving up;
 *   8. park: announce idleness, re-check every queue, sleep in the
 *      poller until a wake-up, a completion, our earliest timer, or the
 *      moment the worker we watch would have one 2 ms overdue.
 *
 * Chaos mode (WEFT_CHAOS, weft__chaos_seed). The order above is kept,
 * but each worker's PRNG, seeded from the chaos seed and the worker's
 * id, bends it: step 1 loses half its turns, the local queue goes before
 * step 3 one time in four, and the calls that may suspend (I/O, channel
 * send and receive, weft_mutex_lock) yield one time in four first
 * (chaos_point). Nothing else draws from the PRNG on one worker, so
 * there a seed is a schedule. Off, each of those costs one load.
 *
 * Run queues. See runq.h: an SPMC ring per worker with a stealable LIFO
 * slot, steal-half in one CAS, and a spinlocked global list for overflow
 * and for fibers made ready outside the workers. See forkq.h: a bounded
 * Chase-Lev deque per worker for joinable children, popped newest first
 * by its owner and stolen oldest first; full, a spawn falls back to the
 * LIFO slot. With one worker there is no thief, and the owners of both
 * pop without atomic read-modify-writes.
 *
 * Parking a fiber (weft__park here; the token, step 4 and weft__ready
 * in park.c). No wake-up may be lost between "register as a waiter" and
 * "off the stack", no waker may resume a fiber that is still running on
 * its stack, and no late waker may wake a later, unrelated park of the
 * same fiber:
 *   parker: 1. token = weft__park_token(): the fiber's index and a fresh
 *              park sequence number;
 *           2. put the token where a waker will find it, holding that
 *              place's lock (or not yet published);
 *           3. record unlock() as the post-switch action and switch away;
 *           4. on the next context: park_word = seq|PARKING, run unlock()
 *              (now a waker may find the token), CAS PARKING -> PARKED
 *              (a full barrier), then if a cancel request is pending, try
 *              to wake with -ECANCELED.
 *   waker:  CAS park_word seq|PARKING or seq|PARKED -> seq|READY, with
 *           the seq from its token; the winner writes the result and
 *           queues the fiber in its own LIFO slot. A loser, or a waker
 *           holding an old token, does nothing.
 *   cancel: store cancel_req, StoreLoad fence, then CAS PARKED -> READY
 *           on whatever park is current. Never from PARKING: the fiber
 *           would resume before its wait entry was complete.
 * Exactly one of waker and canceller wins, so the fiber is queued once;
 * with a fence on each side, either the parker sees the cancel request or
 * the canceller sees PARKED. A fiber woken by cancellation removes its
 * token from the wait structure when it resumes. Go's gopark(unlockf) is
 * the model; the sequence number is what lets weft cancel waits, which Go
 * does not.
 *
 * Every wait builds on this. Channels, select and the locks keep their
 * waiters in spinlocked queues (waitq.h): the unlock callback releases
 * the queue's lock, and a waker claims a park (weft__claim_park) before
 * it moves data or hands over a lock, so a waiter that a canceller or a
 * timer got first is simply skipped. A timed park (time.c) adds a timer
 * to the worker's heap as one more waker racing for the park. I/O and
 * sleeps are waits owned by a worker instead (owned.c), ended only by it.
 *
 * Waking workers. A worker that makes work ready wakes one idle worker,
 * unless some worker is already spinning (looking for work): that one will
 * find it, and when it does and more work is visible it wakes the next
 * (a chain that wakes only as many workers as the burst can use). At most
 * half of the busy workers spin at once. A parked worker sleeps in its
 * poller; it is woken by IORING_OP_MSG_RING from another worker's ring
 * or by a write to its eventfd (from a foreign thread, or any thread on
 * epoll). Lost wake-ups are excluded by fences:
 *   submitter: 1. push F   2. StoreLoad fence   3. idle > 0 and nobody
 *              spinning -> wake one
 *   parker:    1. join the idle list, stop spinning   2. StoreLoad fence
 *              3. re-check every queue, and only then sleep
 * Either the submitter sees the idle worker or the parker sees the work.
 * Pushes to the caller's own queue skip the fence: the owner is awake and
 * will run that work itself, so a missed wake-up costs parallelism only.
 *
 * Shutdown. When the main fiber returns, "shutdown" is set and every live
 * fiber is cancelled; from then on every park returns -ECANCELED at once
 * and spawns are refused. Each exit then checks whether fibers remain
 * (weft__check_quiescent); the last one sets "stopping" and wakes every
 * worker, and the workers leave their loops.
 *
 * Deadlock. A worker that falls asleep with nothing owned pending (no
 * I/O, timer or inbox entry) sets its "asleep" flag before the parking
 * fence; the last one to do so while every other is too calls
 * sched.all_asleep, which tells the monitor to look (deadlock.c), at
 * most once between two of the monitor's once-a-second looks. If
 * the monitor finds, twice 50 ms apart with no worker having woken, that
 * nothing could ever wake a fiber, it sets "deadlocked" and ends every
 * wait, mutex waits too (weft__fiber_break_deadlock), beginning shutdown
 * if main has not returned; weft_run() then returns -EDEADLK.
 *
 * Watching it. Each switch bumps the worker's tick and stores cur (the
 * monitor's stall watch, weft_dump); the trace (trace.h) and the
 * latency sample (latency.c: one ready in 64 stamped, its wait noted at
 * switch-in, ready_to_run()) hook the same places, a branch each when
 * not taken.
 *
 * Shared cache lines, path by path (what each one writes that another
 * worker may read or write; everything else is the worker's own):
 *   spawn: the new record and stack come from the worker's own caches
 *          (record.c, stack.c), which meet the shared pools only once a
 *          batch (128 records, 32 stacks; stacks through a lock-free
 *          depot, records through a depot of whole lists under one
 *          lock, so a spawner fed by another core's frees walks
 *          nothing); the cache's pop prefetches the next record, and
 *          the spawn reads no stack descriptor another core wrote; a
 *          joinable child goes to the worker's own fork deque, a
 *          detached one to its LIFO slot, lines thieves read only when
 *          they look for work; at its first run, on whichever worker,
 *          the child trades its stack for the one that worker freed
 *          last (weft__fiber_bind), and writes its first frame there: a
 *          spawn loop cycles a few warm stacks, not a million cold ones;
 *          wake_one() reads nr_idle and nr_spinning, one line that only
 *          parking and waking workers write, so while every worker is
 *          busy it is shared read-only and costs no coherence traffic.
 *   steal: a thief CASes the victim's queue head, or its fork deque's
 *          top: one line, contended only by thieves that picked the same
 *          random victim (and, for the deque's last child, its owner); a
 *          ring steal takes half, and a deque steal takes the oldest child,
 *          most of the work left in a fork-join tree, so either is rare
 *          per fiber. What a steal brings are pointers: each record then
 *          misses once, and pick_local() asks for the ring's next record
 *          as it takes one, so that miss overlaps the run before it.
 *   join:  the child's join_word, in its record: written by the child's
 *          exit and the joiner only; a join of an ended child reads it
 *          and never parks, and a join of a child still at the bottom of
 *          the joiner's own fork deque takes it back (the deque's bottom,
 *          the top only for its last child) and runs it inline, with one
 *          full barrier in all (the claim's CAS on join_word, which also
 *          orders the deque's pop and the joiner's guest handle for
 *          weft_cancel(): fiber.c, try_inline()); on one worker none,
 *          a cancel from a plain thread paying a membarrier instead.
 *   park:  the fiber's own park_word, CASed by at most the one waker
 *          and a canceller; wait queues are per object (channel, mutex).
 *   sleep: the worker's own timer heap, and its own poller.
 * The one global line on a hot path is the global queue's lock, taken
 * by foreign wake-ups, overflow (a full 256-slot ring) and every 61st
 * schedule when it is not empty (its taker walks the nodes it takes
 * under it, prefetching eight ahead through skip links, runq.h); and
 * the idle list's lock, taken when a worker sleeps or is woken. A wait
 * group's word is one line its adders CAS (a spawn loop's adds and its
 * children's dones); only its waiters take its lock. With 64 workers
 * that are busy neither global lock is
 * touched per fiber; when work is scarce, parking and waking dominate,
 * as in Go, whose idle P list sits behind one lock too.
 *
 * Lock order: sched.idle_lock and the global queue's lock are leaves;
 * never hold one while taking the other or while switching.
 *
 * Rejected designs. One shared run queue: every push and pop would fight
 * over one cache line. Switching through the sched ctx on every yield:
 * twice the switches. Waking a worker per spawn: workers wake, find
 * nothing and park again. ck_fifo_mpmc as the global queue: Debian's ck
 * 0.7.1 can report it empty while it is not, and a worker would park with
 * work queued.
 *
 * Layers. The source tree is five folders, each using only those before
 * it: base/ (macros, diagnostics, the ABI helpers, the context switch),
 * mech/ (stacks, run queues, the fork deque, the timer heap), core/
 * (fibers and their records, this file's loop, park.c's park/ready path, the waits a
 * worker owns, time, the rescue of a stalled worker, wait queues, and poller.h, the interface through
 * which the loop sleeps, polls and wakes workers), io/ (the I/O calls and the poller's
 * two backends, which park fibers in owned waits), api/ (channels, locks,
 * gather, generators, the blocking pool, the monitor, the overflow
 * handler, weft_run). No include points up: core reaches the backend
 * only through the weft__poller table, and the monitor only through the
 * callback weft__fiber_spawn_main() takes, both set by runtime.c.
 *
 * Tests: tests/test_sched.c (queues, parking, wake-ups from foreign
 * threads), tests/test_forkq.c and stress_forkq.c (the fork deque),
 * tests/stress/stress_park.c (park/wake races for seconds),
 * stress_yield.c, stress_spawn.c, stress_million.c, stress_io.c (I/O and
 * timers across workers).
 */
#include <errno.h>

#include <ck_pr.h>

#include "config.h"
#include "ctx.h"
#include "fiber.h"
#include "prng.h"
#include "record.h"
#include "scheduler.h"
#include "trace.h"

struct sched weft__sched;

/* How many LIFO-slot wins in a row before the queue gets a turn. */
#define LIFO_STREAK_MAX 3
/* How long a worker out of work keeps searching before it sleeps. */
#define SPIN_NS 50000u
/* How long a searching worker leaves other workers' LIFO slots alone. */
#define LIFO_GRACE_NS 3000u

WEFT_TLS struct worker *weft__tls_worker;

#if !defined(__x86_64__)
__attribute__((noinline)) struct worker *weft__worker_self(void)
{
	/* Never inlined, and the empty asm makes the compiler treat it as
	 * having side effects, so it is called again after every switch
	 * and no TLS address survives a migration. */
	__asm__ volatile("");
	return weft__tls_worker;
}
#endif

__attribute__((noinline)) void weft__worker_set_self(struct worker *w)
{
	weft__tls_worker = w;
	if (w)
		w->errno_p = &errno;
}

/* Switching (the annotated switch itself is weft__switch in ctx.h) ------ */

static void after_switch(struct worker *w);

/* First thing a new fiber does on its own stack. */
void weft__landed(void)
{
	weft__switch_landed();
	after_switch(weft__worker_self());
}

/* Random victim order ------------------------------------------------- */

static inline uint32_t next_rand(struct worker *w)
{
	return prng_next(&w->rng);
}

/* Finding work: the fast path, usable from a fiber -------------------- */

static struct fiber *take_inject(struct worker *w, unsigned max)
{
	struct rq_node *n;

	if (weft__injq_len(&weft__sched.inject) == 0)
		return NULL;
	n = weft__injq_pop_batch(&weft__sched.inject, &w->rq, max);
	return n ? fiber_of_node(n) : NULL;
}

static void push_local(struct worker *w, struct fiber *f);

/*
 * Pass up a shortcut this time? Half the time in -Drandomize_sched builds
 * (a testing aid) and in chaos mode (from the seeded PRNG); else never.
 */
static inline bool coin_says_pass(struct worker *w)
{
#if WEFT_RANDOMIZE_SCHED
	if (next_rand(w) & 1)
		return true;
#endif
	return unlikely(weft__chaos_seed) && (next_rand(w) & 1);
}

/* May the LIFO slot win this schedule? At most 3 times in a row. */
static inline bool lifo_turn(struct worker *w)
{
	return w->lifo_streak < LIFO_STREAK_MAX && !coin_says_pass(w);
}

bool weft__inline_turn_slow(struct worker *w)
{
	unsigned tick = w->tick + 1;

	/* On the scheduler's own turns at the global queue, the ring and
	 * the owned waits (pick_local(), pick_from_fiber()), give way if
	 * any of them has something: the joiner parks and schedules. */
	if (tick % INJECT_PERIOD == 0 &&
	    (weft__runq_len(&w->rq) != 0 ||
	     weft__injq_len(&weft__sched.inject) != 0 ||
	     weft__owned_pending(w)))
		return false;
	if (coin_says_pass(w))
		return false;
	/* Read by the monitor's stall watch; a plain store on x86. */
	ck_pr_store_uint(&w->tick, tick);
	return true;
}

uint32_t weft__rand(struct worker *w)
{
	return next_rand(w);
}

void weft__chaos_yield(struct worker *w)
{
	if ((next_rand(w) & 3) == 0)
		weft_yield();
}

/*
 * Steps 1-5 of "Finding work". Owner only; cheap enough to run on every
 * switch, and inlined into each caller, the switch among them.
 */
static inline __attribute__((always_inline)) struct fiber *
pick_local(struct worker *w)
{
	struct rq_node *n;
	struct fiber *f;
	unsigned batch;

	/* Read by the monitor's stall watch; a plain store on x86. */
	ck_pr_store_uint(&w->tick, w->tick + 1);
	if (unlikely(w->tick % INJECT_PERIOD == 0)) {
		/* Busy or not, one other worker's overdue timers (rescue.c);
		 * what it fires lands in our ring, taken below. */
		weft__rescue_peek(w);
		f = take_inject(w, 1);
		if (f)
			return f;
		/* The ring too: the fork deque, taken first below, must not
		 * starve woken and yielding fibers either. */
		n = weft__runq_pop(&w->rq);
		if (n)
			return fiber_of_node(n);
	}

	n = weft__runq_lifo_take(&w->rq);
	if (n) {
		if (lifo_turn(w)) {
			w->lifo_streak++;
			return fiber_of_node(n);
		}
		/* Let the queue have a turn; the slot's fiber goes last. */
		push_local(w, fiber_of_node(n));
	}
	w->lifo_streak = 0;

	/* Chaos mode: now and then the ring before the fork deque, so a
	 * woken or yielding fiber overtakes the children. */
	if (unlikely(weft__chaos_seed) && (next_rand(w) & 3) == 0) {
		n = weft__runq_pop(&w->rq);
		if (n)
			return fiber_of_node(n);
	}

	/* The newest joinable child: most likely the one about to be
	 * joined, so fork-join runs depth first. */
	if (weft__forkq_len(&w->fq) != 0) {
		n = weft__forkq_pop(&w->fq);
		if (n)
			return fiber_of_node(n);
	}

	n = weft__runq_pop(&w->rq);
	if (n) {
		/* Its successor's record, likely written on the core that
		 * spawned or woke it, arrives while this one runs. */
		struct rq_node *next = weft__runq_peek_hint(&w->rq);

		if (next)
			weft__record_prefetch(fiber_of_node(next));
		return fiber_of_node(n);
	}

	/* Our ring is empty, so a batch fits: Go takes len/workers + 1. */
	batch = weft__injq_len(&weft__sched.inject) / weft__sched.nr_workers + 1;
	if (batch > WEFT_RUNQ_SIZE / 2)
		batch = WEFT_RUNQ_SIZE / 2;
	return take_inject(w, batch);
}

/*
 * The next fiber to switch to from a fiber, or NULL for the sched ctx.
 * Every INJECT_PERIOD schedules a worker with I/O, timers or cancel
 * requests pending goes through its sched ctx, which alone handles them
 * (see owned.c): a busy worker still submits and reaps at least that often.
 */
static struct fiber *pick_from_fiber(struct worker *w)
{
	if (unlikely((w->tick + 1) % INJECT_PERIOD == 0) &&
	    weft__owned_pending(w))
		return NULL;
	return pick_local(w);
}

/* Queueing ------------------------------------------------------------ */

/*
 * Wake an idle worker if none is searching. The caller has published
 * work and, where it matters (work not on the caller's own queue), issued
 * a StoreLoad fence; see "Waking workers".
 */
void weft__wake_one(void)
{
	struct sched *s = &weft__sched;
	struct list_node *n;
	struct worker *w;

	/* Racy fast checks; the protocol tolerates a stale view (see
	 * "Waking workers": the parker re-checks after its fence). */
	if (ck_pr_load_uint(&s->nr_idle) == 0)
		return;
	if (ck_pr_load_uint(&s->nr_spinning) != 0)
		return;
	/* Become responsible for one spinner; full barrier. Pairs with the
	 * decrement in stop_spinning(). Only one waker gets past here. */
	if (!ck_pr_cas_uint(&s->nr_spinning, 0, 1))
		return;

	spin_lock(&s->idle_lock);
	n = list_pop_front(&s->idle_list);
	w = n ? list_entry(n, struct worker, idle_link) : NULL;
	if (w) {
		/* Under the lock; read racily by rescue.c. */
		ck_pr_store_uint(&w->idle, 0);
		/* Written under the lock; read racily by wakers. */
		ck_pr_store_uint(&s->nr_idle, s->nr_idle - 1);
	}
	spin_unlock(&s->idle_lock);

	if (!w) {
		/* Nobody to wake: hand the spinner count back. No pairing:
		 * the count only; the idle list was read under its lock. */
		ck_pr_dec_uint(&s->nr_spinning);
		return;
	}
	/* The woken worker starts out spinning, counted by our CAS. */
	weft__worker_signal(w);
}

void weft__wake_all(void)
{
	struct sched *s = &weft__sched;
	struct worker *woken[WEFT_WORKERS_MAX];
	struct list_node *link;
	unsigned n = 0, i;
	struct worker *w;

	spin_lock(&s->idle_lock);
	while ((link = list_pop_front(&s->idle_list))) {
		w = list_entry(link, struct worker, idle_link);
		/* Under the lock; read racily by rescue.c. */
		ck_pr_store_uint(&w->idle, 0);
		woken[n++] = w;
		/* Each woken worker counts as spinning, as in
		 * weft__wake_one(); pairs with the loads in
		 * weft__wake_one(). */
		ck_pr_inc_uint(&s->nr_spinning);
	}
	ck_pr_store_uint(&s->nr_idle, 0);
	spin_unlock(&s->idle_lock);

	/* From the copy: once the lock is dropped a woken worker may join
	 * the list again and rewrite its link. */
	for (i = 0; i < n; i++)
		weft__worker_signal(woken[i]);
}

/* Stamp one ready in 64 of @w's with the time, for the latency
 * histogram (latency.c); clear the others'. */
static inline void sample_ready(struct worker *w, struct fiber *f)
{
	f->ready_ticks = (++w->ready_ctr & LAT_SAMPLE_MASK) ? 0 : weft__ticks();
}

/* The same for a ready made by a thread outside weft. */
static inline void sample_ready_foreign(struct fiber *f)
{
	static WEFT_TLS unsigned ctr;

	f->ready_ticks = (++ctr & LAT_SAMPLE_MASK) ? 0 : weft__ticks();
}

/* Onto @w's ring, its ready time left as it is (a fiber that was ready
 * already, moved along). */
static void push_local(struct worker *w, struct fiber *f)
{
	if (weft__runq_push(&w->rq, &f->node, &weft__sched.inject)) {
		/* Work went to the global queue: StoreLoad before reading the
		 * idle count. Pairs with the fence in park_worker(). */
		ck_pr_fence_store_load();
	}
	weft__wake_one();
}

void weft__enqueue_local(struct worker *w, struct fiber *f)
{
	sample_ready(w, f);
	push_local(w, f);
}

void weft__enqueue_forked(struct worker *w, struct fiber *f)
{
	sample_ready(w, f);
	if (!weft__forkq_push(&w->fq, &f->node)) {
		/* Full (a long spawn loop): where any runnable fiber goes. */
		weft__make_runnable_on(w, f);
		return;
	}
	/* A fiber runs here and may keep on for a while: an idle worker
	 * must be free to steal the child (see weft__make_runnable_on()).
	 * Our own queue, so no fence (see "Waking workers"). */
	weft__wake_one();
}

void weft__make_runnable(struct fiber *f)
{
	weft__make_runnable_on(weft__worker_self(), f);
}

void weft__make_runnable_on(struct worker *w, struct fiber *f)
{
	struct rq_node *old;

	if (likely(w)) {
		sample_ready(w, f);
		old = weft__runq_lifo_put(&w->rq, &f->node);
		if (old)
			push_local(w, fiber_of_node(old));
		else if (w->cur)
			/* A fiber is running here and may not switch for a long
			 * time, so an idle worker must be free to take the slot
			 * (Go wakes after runqput too; Tokio #4941 is what
			 * happens otherwise). In the sched ctx the slot's fiber
			 * runs next, and nobody need be woken. */
			weft__wake_one();
		return;
	}
	sample_ready_foreign(f);
	weft__injq_push(&weft__sched.inject, &f->node);
	/* StoreLoad: the push before the idle count. Pairs with the fence
	 * in park_worker(). */
	ck_pr_fence_store_load();
	weft__wake_one();
}

/* Post-switch actions ------------------------------------------------- */

static void after_switch(struct worker *w)
{
	enum post_action post = w->post;
	struct fiber *f = w->post_fiber;

	w->post = POST_NONE;
	switch (post) {
	case POST_NONE:
		break;
	case POST_YIELD:
		weft__enqueue_local(w, f);
		break;
	case POST_PARK:
		weft__finish_park(f, w->post_unlock, w->post_arg);
		break;
	case POST_EXIT:
		weft__fiber_finish(w, f);
		break;
	}
}

/*
 * Switch the running fiber @cur away, to the next local fiber or to the
 * sched ctx. The post-switch action is already recorded. Returns when
 * @cur runs again, on whichever worker that is.
 */
/* @f is about to be switched to on @w: a first run binds it first. */
static inline void ready_to_run(struct worker *w, struct fiber *f)
{
	if (unlikely(!f->ctx.sp))
		weft__fiber_bind(w, f);
	/* A sampled ready: its wait into our histogram (latency.c). */
	if (unlikely(f->ready_ticks)) {
		lat_note(&w->lat, weft__ticks() - f->ready_ticks);
		f->ready_ticks = 0;
	}
}

static void schedule(struct worker *w, struct fiber *cur)
{
	struct fiber *next;
	struct ctx *to;

	if (unlikely(!weft__stack_canary_ok(cur->stack)))
		weft__overflow_unguarded(cur, "no guard page; canary clobbered below");

	next = pick_from_fiber(w);
	/*
	 * A first run on a stack never run on (or given back to the kernel)
	 * faults its top page in, a few microseconds: not while the lock a
	 * park releases after the switch is held, where every other worker
	 * that wants it would spin that long (a million fibers parking on
	 * one channel spent 40% of their time so). The sched ctx releases
	 * the lock, then binds and runs @next. A warm stack binds here.
	 */
	if (next && unlikely(!next->ctx.sp) && w->post == POST_PARK &&
	    w->post_unlock &&
	    !weft__stack_peek_warm(&w->stacks, next->stack_size,
				   next->stack)->touched) {
		w->handoff = next;
		next = NULL;
	}
	if (next)
		ready_to_run(w, next);
	to = next ? &next->ctx : &w->sched_ctx;
	/* Atomic stores of cur: the monitor and weft_dump read it. */
	ck_pr_store_ptr(&w->cur, next);
	weft__trace(w, next ? TR_RUN : TR_IDLE, next ? next->id : 0, 0);
	cur->saved_errno = *w->errno_p;
	weft__switch(&cur->ctx, to, false);
	/* Running again, maybe on another worker: reload it. */
	w = weft__worker_self();
	after_switch(w);
	*w->errno_p = cur->saved_errno;
}

void weft__exit_current(struct worker *w)
{
	struct fiber *cur = w->cur;
	struct fiber *next;

	if (unlikely(!weft__stack_canary_ok(cur->stack)))
		weft__overflow_unguarded(cur, "no guard page; canary clobbered below");
	w->post = POST_EXIT;
	w->post_fiber = cur;
	/* A parked joiner would be woken into our LIFO slot and run next
	 * anyway: hand over to it directly, saving a trip through the sched
	 * ctx (see weft__fiber_claim_joiner). */
	next = weft__fiber_claim_joiner(cur);
	if (!next)
		next = pick_from_fiber(w);
	if (next)
		ready_to_run(w, next);
	ck_pr_store_ptr(&w->cur, next);
	weft__trace(w, next ? TR_RUN : TR_IDLE, next ? next->id : 0, 0);
	weft__switch(&cur->ctx, next ? &next->ctx : &w->sched_ctx, true);
	__builtin_unreachable();
}

/* Parking ------------------------------------------------------------- */

int weft__park(struct worker *w, weft_unlock_fn unlock, void *arg)
{
	struct fiber *f = w->cur;

	weft_assert(f);
	weft__trace(w, TR_PARK, f->id,
		    f->wait_kind | (uint64_t)(uint32_t)f->wait_arg << 32);
	w->post = POST_PARK;
	w->post_fiber = f;
	w->post_unlock = unlock;
	w->post_arg = arg;
	schedule(w, f);
	/* Only we write it now: the winner of the CAS has queued us. */
	ck_pr_store_uint(&f->park_word, f->park_seq << 3 | FIBER_RUNNING);
	return f->wake_res;
}

/* Yield --------------------------------------------------------------- */

void weft_yield(void)
{
	struct worker *w = weft__may_suspend();
	struct fiber *f;

	if (!w)
		return;
	f = w->cur;
	/* Nothing else to run and nothing for the sched ctx to look at
	 * (completions, timers): carry on without a switch, but counted as
	 * a schedule, so the stall watch sees a yield point. */
	if (weft__runq_len(&w->rq) == 0 && weft__forkq_len(&w->fq) == 0 &&
	    weft__injq_len(&weft__sched.inject) == 0 &&
	    !weft__owned_pending(w)) {
		ck_pr_store_uint(&w->tick, w->tick + 1);
		return;
	}
	w->post = POST_YIELD;
	w->post_fiber = f;
	schedule(w, f);
}

/* The sched ctx: stealing and parking workers ------------------------- */

static void start_spinning(struct worker *w)
{
	w->spinning = true;
	/* Atomic RMW; pairs with the loads in weft__wake_one(). */
	ck_pr_inc_uint(&weft__sched.nr_spinning);
}

/* Found work while spinning: stop, and if we were the last spinner and
 * more work is visible, pass the search on (see "Waking workers"). */
static void stop_spinning(struct worker *w)
{
	struct sched *s = &weft__sched;

	if (!w->spinning)
		return;
	w->spinning = false;
	/* Atomic RMW and full barrier on x86: the decrement is visible
	 * before we look at the queues. Pairs with the CAS in
	 * weft__wake_one(). */
	ck_pr_dec_uint(&s->nr_spinning);
	if (weft__runq_len(&w->rq) > 0 || weft__forkq_len(&w->fq) > 0 ||
	    weft__injq_len(&s->inject) > 0)
		weft__wake_one();
}

static struct fiber *steal_work(struct worker *w, bool take_lifo)
{
	struct sched *s = &weft__sched;
	unsigned n = s->nr_workers;
	unsigned start = next_rand(w) % n;
	struct rq_node *node;
	unsigned i;

	for (i = 0; i < n; i++) {
		struct worker *v = s->workers[(start + i) % n];

		if (v == w)
			continue;
		/* Half of its ring; else its oldest joinable child (in
		 * fork-join the biggest piece left); else, past the grace
		 * period, its LIFO slot. */
		node = weft__runq_steal(&w->rq, &v->rq, false);
		if (!node)
			node = weft__forkq_steal(&v->fq);
		if (!node && take_lifo)
			node = weft__runq_steal(&w->rq, &v->rq, true);
		if (node) {
			ck_pr_store_64(&w->nr_steals, w->nr_steals + 1);
			weft__trace(w, TR_STEAL, fiber_of_node(node)->id, v->id);
			return fiber_of_node(node);
		}
	}
	return NULL;
}

/* Is any work visible anywhere? Used by the parker after its fence. */
static bool work_visible(void)
{
	struct sched *s = &weft__sched;
	unsigned i;

	if (weft__injq_len(&s->inject) > 0)
		return true;
	for (i = 0; i < s->nr_workers; i++)
		if (weft__runq_len(&s->workers[i]->rq) > 0 ||
		    weft__forkq_len(&s->workers[i]->fq) > 0)
			return true;
	return false;
}

/*
 * Is every worker asleep with no owned wait? Then no fiber runs and none
 * can be woken from inside the runtime: only a thread outside it (the
 * blocking pool, the program's own) could end a wait, and if none can,
 * every fiber is asleep for good. The monitor decides (see its deadlock
 * check); this only tells it when to look.
 */
static bool all_asleep(void)
{
	struct sched *s = &weft__sched;
	unsigned i;

	if (!s->all_asleep)
		return false;
	for (i = 0; i < s->nr_workers; i++)
		if (!ck_pr_load_uint(&s->workers[i]->asleep))
			return false;
	return true;
}

static void idle_remove_locked(struct worker *w)
{
	struct sched *s = &weft__sched;

	list_remove(&s->idle_list, &w->idle_link);
	/* Under the lock; read racily by rescue.c. */
	ck_pr_store_uint(&w->idle, 0);
	ck_pr_store_uint(&s->nr_idle, s->nr_idle - 1);
}

/*
 * Leave the idle list after waking or after finding work in the
 * re-check. A worker that is no longer on the list was taken off it by a
 * waker, which counted it as spinning.
 */
static void leave_idle(struct worker *w)
{
	struct sched *s = &weft__sched;
	bool was_woken;

	spin_lock(&s->idle_lock);
	was_woken = !w->idle;
	if (!was_woken)
		idle_remove_locked(w);
	spin_unlock(&s->idle_lock);
	if (was_woken)
		w->spinning = true;
}

/* Step 8: sleep until there may be work. */
static void park_worker(struct worker *w)
{
	struct sched *s = &weft__sched;
	int64_t timeout, rescue;

	spin_lock(&s->idle_lock);
	/* Under the lock; read racily by rescue.c. */
	ck_pr_store_uint(&w->idle, 1);
	list_push_front(&s->idle_list, &w->idle_link);
	ck_pr_store_uint(&s->nr_idle, s->nr_idle + 1);
	spin_unlock(&s->idle_lock);

	if (w->spinning) {
		w->spinning = false;
		/* Atomic RMW; pairs with the checks in weft__wake_one(). */
		ck_pr_dec_uint(&s->nr_spinning);
	}
	/* Owner-written, read by the monitor; before the fence, so that of
	 * two workers falling asleep at once one sees the other's flag. */
	ck_pr_store_uint(&w->asleep, !weft__owned_pending(w));
	/* Relaxed; until the bound below, a timer set on the worker we
	 * watch signals us (see "Ordering of the watch" in rescue.c). */
	ck_pr_store_64((uint64_t *)&w->watch_until, (uint64_t)INT64_MAX);
	/* StoreLoad: idle (and not spinning) before re-reading the queues,
	 * and before the watched worker's timers (rescue.c). Pairs with the
	 * fence in weft__make_runnable_on() and push_local() (every
	 * submitter's before weft__wake_one()), and, for the watch, in
	 * weft__rescue_watch(). */
	ck_pr_fence_store_load();

	/*
	 * Our own inbox too: a cancel request pushed there comes with a
	 * wake-up (an eventfd write or a MSG_RING) that a poll of our poller
	 * may already have reaped, after find_runnable() last looked at the
	 * inbox and before we got here. Sleeping now would lose it for good.
	 */
	if (work_visible() || ck_pr_load_ptr(&w->inbox) ||
	    ck_pr_load_uint(&s->stopping)) {
		ck_pr_store_uint(&w->asleep, 0);
		leave_idle(w);
		if (!w->spinning)
			start_spinning(w);
		return;
	}

	ck_pr_store_64(&w->nr_parks, w->nr_parks + 1);
	/* One kick per arming; see all_asleep_armed. Pairs with the
	 * store that re-arms it in monitor_main(). */
	if (w->asleep && all_asleep() &&
	    ck_pr_fas_uint(&s->all_asleep_armed, 0))
		s->all_asleep();
	/* Until a wake-up, a completion, the earliest timer, or the time
	 * the worker we watch would have a timer overdue (rescue.c). */
	timeout = weft__timer_timeout(w);
	rescue = weft__rescue_timeout(w);
	if (rescue != WEFT_FOREVER &&
	    (timeout == WEFT_FOREVER || rescue < timeout))
		timeout = rescue;
	weft__worker_poll(w, true, timeout);
	ck_pr_store_uint(&w->asleep, 0);
	leave_idle(w);
}

/*
 * Step 7, as a spinning worker: steal, and keep looking for a short while
 * before giving up, so that a burst of spawns keeps one searcher awake
 * instead of waking a sleeper per spawn. For the first LIFO_GRACE_NS a
 * victim's LIFO slot is left alone: it is most likely a fiber its owner
 * is about to run (a child about to be joined), and taking it would only
 * move the pair across cores (Go waits 3 us before taking runnext).
 */
static struct fiber *search(struct worker *w)
{
	int64_t start = weft_now_ns();
	int64_t spent = 0;
	struct fiber *f;
	unsigned i;

	do {
		f = steal_work(w, spent >= LIFO_GRACE_NS);
		if (!f && weft__owned_pending(w))
			weft__owned_poll(w);
		if (!f)
			(void)weft__rescue_timers(w);
		if (!f)
			f = pick_local(w);
		if (f || ck_pr_load_uint(&weft__sched.stopping))
			return f;
		for (i = 0; i < 32; i++)
			ck_pr_stall();
		spent = weft_now_ns() - start;
	} while (spent < SPIN_NS);
	return NULL;
}

static struct fiber *find_runnable(struct worker *w)
{
	struct sched *s = &weft__sched;
	struct fiber *f;
	unsigned busy;

	for (;;) {
		if (unlikely(ck_pr_load_uint(&s->stopping)))
			return NULL;
		/* Step 6: cancel requests, expired timers, completions. */
		if (weft__owned_pending(w))
			weft__owned_poll(w);
		f = pick_local(w);
		if (f)
			break;
		/* Timers a stalled worker left unfired (rescue.c). */
		if (weft__rescue_timers(w) && (f = pick_local(w)))
			break;
		/* Go's rule: at most half of the busy workers spin. */
		busy = s->nr_workers - ck_pr_load_uint(&s->nr_idle);
		if (w->spinning ||
		    2 * ck_pr_load_uint(&s->nr_spinning) < busy) {
			if (!w->spinning)
				start_spinning(w);
			f = search(w);
			if (f)
				break;
		}
		park_worker(w);
	}
	stop_spinning(w);
	return f;
}

void weft__worker_loop(struct worker *w)
{
	struct fiber *f;

	for (;;) {
		after_switch(w);
		f = w->handoff;
		w->handoff = NULL;
		if (!f)
			f = find_runnable(w);
		if (!f)
			break;
		ready_to_run(w, f);
		ck_pr_store_ptr(&w->cur, f);
		weft__trace(w, TR_RUN, f->id, 0);
		weft__switch(&w->sched_ctx, &f->ctx, false);
	}
	if (w->spinning) {
		w->spinning = false;
		/* No pairing: leaving for good, nothing to order against. */
		ck_pr_dec_uint(&weft__sched.nr_spinning);
	}
}

/* Shutdown ------------------------------------------------------------ */

bool weft__any_fiber_alive(void)
{
	struct sched *s = &weft__sched;
	uint64_t exited = 0, spawned = 0;
	unsigned i;

	/*
	 * Read every exit count first, then every spawn count: the spawn
	 * counts read are at least those at the end of the first pass, the
	 * exit counts at most, so equality means no fiber was alive at that
	 * instant.
	 */
	for (i = 0; i < s->nr_workers; i++)
		exited += ck_pr_load_64(&s->workers[i]->nr_exited);
	/* Exit counts before spawn counts; see above. Pairs with the
	 * order of the counter stores in spawn_on() and
	 * weft__fiber_finish(). */
	ck_pr_fence_load();
	for (i = 0; i < s->nr_workers; i++)
		spawned += ck_pr_load_64(&s->workers[i]->nr_spawned);
	return exited != spawned;
}

void weft__check_quiescent(void)
{
	struct sched *s = &weft__sched;

	/* A fiber is spawned only by a live fiber, so once none is live
	 * none ever will be. */
	if (weft__any_fiber_alive())
		return;
	/* Once; full barrier before waking everyone. Pairs with the loads
	 * of stopping in park_worker() and find_runnable(). */
	if (!ck_pr_cas_uint(&s->stopping, 0, 1))
		return;
	weft__wake_all();
}
