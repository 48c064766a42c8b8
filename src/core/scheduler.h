/* SPDX-License-Identifier: MIT */
/*
 * The scheduler's shared state: the runtime (struct sched), its workers,
 * execution contexts, and the one park/ready protocol every wait in weft
 * goes through. The design is explained at the top of sched.c.
 */
#ifndef WEFT_SCHEDULER_H
#define WEFT_SCHEDULER_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>


#include "ctx.h"
#include "forkq.h"
#include "internal.h"
#include "latency.h"
#include "list.h"
#include "poller.h"
#include "runq.h"
#include "stack.h"
#include "timer.h"

struct fiber;
struct uring_worker;
struct epoll_worker;

/* What the context switched to must do for the one that switched away. */
enum post_action {
	POST_NONE,
	POST_YIELD,	/* queue the fiber again                             */
	POST_PARK,	/* run the unlock callback; see Parking in sched.c   */
	POST_EXIT,	/* free the fiber's stack, publish its end           */
};

typedef bool (*weft_unlock_fn)(struct fiber *f, void *arg);

/* A fiber record's cache of free records; owner worker only. */
struct fiber_cache {
	struct fiber *head;	/* singly linked through fiber->free_next    */
	unsigned nr;		/* records in the list                       */
};

struct worker {
	/* Owner only, except where noted. */
	struct runq rq;			/* local run queue + LIFO slot      */
	struct forkq fq;		/* joinable children not yet started */
	unsigned id;			/* index in sched.workers           */
	struct fiber *cur;		/* running fiber; NULL in sched ctx;
					 * stored atomically (read by dump.c,
					 * the monitor) */
	struct ctx sched_ctx;		/* the scheduler loop's context     */
	int *errno_p;			/* this worker thread's errno: read
					 * through w, which callers reload
					 * after a switch, it never goes
					 * stale the way a cached TLS
					 * address could */
	unsigned tick;			/* schedules so far (61-tick check,
					 * the monitor's stall watch) */
	unsigned lifo_streak;		/* LIFO-slot wins in a row          */
	uint64_t rng;			/* prng.h state: victims, choices   */
	bool spinning;			/* counted in sched.nr_spinning     */

	/* Set by the context that switches away, run by the next one. */
	enum post_action post;
	struct fiber *post_fiber;
	weft_unlock_fn post_unlock;
	void *post_arg;
	/* A fiber's first run handed from schedule() to the sched ctx, to
	 * be bound there, after the post action (see schedule()). */
	struct fiber *handoff;

	struct stack_cache stacks;	/* free stacks of the default size  */
	struct fiber_cache fibers;	/* free fiber records               */

	/* Written by the owner with ck_pr_store, read by anyone (stats). */
	uint64_t nr_spawned;		/* fibers spawned on this worker    */
	uint64_t nr_exited;		/* fibers that ended on this worker */
	uint64_t nr_steals;		/* successful steals                */
	uint64_t nr_rescued;		/* other workers' timers it fired   */
	uint64_t nr_parks;		/* times this worker slept          */
	unsigned asleep;		/* 1 while it sleeps with no owned
					 * wait (no I/O, timer or cancel
					 * request): only another thread
					 * can wake it. Read by the monitor's
					 * deadlock check */

	/* Protected by sched.idle_lock; idle is also read racily (rescue.c). */
	unsigned idle;			/* on the idle list; stored atomically */
	struct list_node idle_link;	/* on sched.idle_list, under its lock */
	/* While asleep: when it will next look at the timers of the worker
	 * it watches (rescue.c), INT64_MAX if never. Stored atomically. */
	int64_t watch_until;

	/* I/O; owner only. See owned.c and poller.h. */
	unsigned io_inflight;		/* completions the kernel owes us,
					 * or fibers watching descriptors  */
	unsigned io_unsubmitted;	/* requests queued, not yet given
					 * to the kernel                   */
	unsigned io_backlog;		/* completions taken from the
					 * kernel, not yet handled         */
	unsigned io_nowait;		/* calls in a row that completed
					 * without a wait (weft__io_nowait) */

	/* Sleeping fibers' deadlines and timed parks' timers. Added and
	 * fired by the owner; a fiber whose timed park was ended by a
	 * waker removes its own timer, from whatever worker it resumed on.
	 * So the heap is guarded by timers_lock (spin.h);
	 * uncontended, except for those removals. See time.c. */
	struct spinlock timers_lock;
	struct timer_heap timers;

	/* Cancel requests for waits this worker owns (an SQE in flight, a
	 * timer in its heap): a stack of fibers linked through cancel_next.
	 * Any thread pushes (CAS), the owner takes all at once (swap). */
	struct fiber *inbox;

	/* The poller's own state: the backend's (poller.h), set up and
	 * entered by the owner thread only; NULL when that backend is not
	 * running. efd is the eventfd any thread may write to wake the
	 * worker, on either backend. */
	struct uring_worker *uring;	/* poller_uring.c                   */
	struct epoll_worker *epoll;	/* poller_epoll.c                   */
	int efd;

	/* Scheduling latency (latency.c): readies made here so far, and
	 * the waits of the sampled ones that ran here. Owner-written. */
	unsigned ready_ctr;
	struct latency_hist lat;

	pthread_t thread;		/* set before the thread starts     */
	void *altstack;			/* this thread's signal stack       */
	size_t altstack_size;
	stack_t old_altstack;		/* restored when the worker stops   */
	int init_err;			/* result of the thread's setup     */
	int poller_err;			/* of it, the poller's setup        */
};

/* The runtime: one per process, alive during weft_run(). */
struct sched {
	unsigned nr_workers;		/* immutable while running          */
	struct worker **workers;	/* immutable while running          */
	size_t stack_size;		/* default usable stack size        */
	size_t host_stack_size;		/* a host stack's (fiber.c), or 0   */
	unsigned ring_entries;		/* SQ entries per worker            */
	/* One worker, and the process registered for heavy barriers
	 * (abarrier.h): an inline join claims its child with plain stores
	 * and a cancel from a plain thread pays the barrier (fiber.c,
	 * try_inline()). Immutable while running. */
	bool light_inline;
	/* Chaos mode's I/O faults (WEFT_CHAOS_IO; io.c): the chance of
	 * each at a weft_* I/O call, in 1/2^32, 0 for none. */
	struct {
		uint32_t short_io, reset, nospc, delay;
	} chaos_io;

	/* Its own line: written by foreign wake-ups and overflow, it must
	 * not bounce the read-mostly fields above. */
	struct injq inject CK_CC_CACHELINE; /* global queue                */

	/* Atomic; see "Waking workers" in sched.c. */
	unsigned nr_spinning CK_CC_CACHELINE;
	unsigned nr_idle;		/* written under idle_lock          */
	struct spinlock idle_lock;
	struct list idle_list;		/* struct worker, by idle_link, newest
					 * first. Protected by idle_lock.  */

	/* Atomic flags; see "Shutdown" in sched.c. */
	unsigned shutdown CK_CC_CACHELINE; /* main returned: cancel all */
	unsigned stopping;		/* all fibers ended: workers exit   */
	unsigned deadlocked;		/* the monitor found every fiber
					 * asleep for good: every wait ends,
					 * mutex waits too (-EDEADLK)      */

	/* Called by the last worker to fall asleep with no owned wait
	 * while every other one is too; set by runtime.c (the monitor's
	 * deadlock check). */
	void (*all_asleep)(void);
	/* Atomic: 1 while a worker may make that call. The worker that
	 * makes it takes the 1 (fas); the monitor puts it back at its
	 * once-a-second look, so that a program whose workers keep falling
	 * asleep with a thread of its own around (which turns the check
	 * off) pays one kick a second, not one a sleep. */
	unsigned all_asleep_armed;

	/* A coarse clock for the reports: CLOCK_MONOTONIC in tenths of a
	 * second (weft__clock_ds), wrapping, advanced by the monitor at
	 * least every WEFT_CLOCK_TICK_MS. Read when a fiber parks, so that
	 * a dump can say how long it has waited without a clock read on
	 * the park path; read-mostly, on a line of its own. */
	uint32_t clock_ds CK_CC_CACHELINE;

	/* Atomic: host stacks out now (give_room in fiber.c); its own line,
	 * written once per fork-join subtree that moves to one. */
	unsigned host_stacks CK_CC_CACHELINE;
};

#define WEFT_CLOCK_TICK_MS 100u

static inline uint32_t weft__clock_ds(const struct timespec *ts)
{
	return (uint32_t)((uint64_t)ts->tv_sec * 10 +
			  (uint64_t)ts->tv_nsec / 100000000u);
}

extern struct sched weft__sched;

/* The calling thread's worker; set by weft__worker_set_self() only. */
extern WEFT_TLS struct worker *weft__tls_worker;

/*
 * The worker running the caller, or NULL on a thread that is not a
 * worker. A fiber may resume on another thread after any yield point, so
 * no caller may keep a thread-local address (or the thread pointer) in a
 * register across one. On x86-64 the read is one %fs-relative load in an
 * asm the compiler must redo at every call (volatile) and keep in order
 * with the calls around it (the memory clobber): a switch is such a
 * call. Elsewhere the read is out of line and opaque to the optimiser.
 */
#if defined(__x86_64__)
static inline struct worker *weft__worker_self(void)
{
	struct worker *w;

	__asm__ volatile("movq weft__tls_worker@gottpoff(%%rip), %0\n\t"
			 "movq %%fs:(%0), %0"
			 : "=r"(w)
			 :
			 : "memory");
	return w;
}
#else
struct worker *weft__worker_self(void);
#endif
void weft__worker_set_self(struct worker *w);

/* weft__may_suspend(), the check of every yield point, is in fiber.h. */

/*
 * May the running fiber of @w run a child inline now (weft_join in
 * fiber.c)? An inline run stands in for a schedule: on true it has been
 * counted as one (w->tick); false on the ticks where the scheduler looks
 * at the global queue, the ring and the owned waits if any of them holds
 * something, so that a tree of inline runs cannot starve them, and, in
 * chaos mode and -Drandomize_sched builds,
 * half the time, so that children still run in varied orders.
 */
static inline bool weft__inline_turn(struct worker *w);
/* Its answer on the ticks and in the modes where it may say no. */
bool weft__inline_turn_slow(struct worker *w);

/* How many schedules between forced looks at the global queue (Go's 61). */
#define INJECT_PERIOD 61

/* The scheduler loop of @w; returns when the runtime stops. */
void weft__worker_loop(struct worker *w);

/*
 * A wake token names one park of one fiber: the fiber's table index and
 * its park sequence number. Wait structures store tokens, not fiber
 * pointers, so a waker that comes late (the fiber was cancelled, resumed
 * and is now parked somewhere else) fails harmlessly instead of waking
 * the wrong wait. The low 3 bits of a token are always zero.
 */
typedef uint64_t weft_token;

/*
 * Start a park of the fiber running on @w (the caller's worker) and
 * return its token, to be put where a waker will find it before calling
 * weft__park(). Fiber context only.
 */
/*
 * Chaos mode (WEFT_CHAOS, weft__chaos_seed): the scheduler's choices come
 * from each worker's seeded PRNG (sched.c: which ready fiber runs next,
 * the LIFO slot's turn, steal victims, as always), and the calls that may
 * suspend pass a chaos point first, which yields one time in four so
 * that other fibers run in between. Nothing is done, and nothing but one
 * load is spent, when it is off. Returns the worker the fiber runs on
 * afterwards. Fiber context, on @w.
 */
void weft__chaos_yield(struct worker *w);
/* The next 32 bits of @w's PRNG (prng.h; seeded from the chaos seed
 * when there is one). Owner only. */
uint32_t weft__rand(struct worker *w);
static inline struct worker *chaos_point(struct worker *w)
{
	if (likely(!weft__chaos_seed))
		return w;
	weft__chaos_yield(w);
	return weft__worker_self();
}

/* Inline: every inline join asks, and almost every answer is yes. */
static inline bool weft__inline_turn(struct worker *w)
{
	unsigned tick = w->tick + 1;

	if (unlikely(tick % INJECT_PERIOD == 0 || weft__chaos_seed ||
		     WEFT_RANDOMIZE_SCHED))
		return weft__inline_turn_slow(w);
	/* Read by the monitor's stall watch; a plain store on x86. */
	ck_pr_store_uint(&w->tick, tick);
	return true;
}

weft_token weft__park_token(struct worker *w);

/*
 * Park the calling fiber, which runs on @w. The caller has made it findable by a waker
 * (put it in a wait queue under a lock, say) but must not let a waker act
 * before the fiber is off its stack, so it passes @unlock: it runs right
 * after the switch, on the next context, and releases the lock or
 * publishes the token. @unlock must touch only @arg (memory the waiter
 * owns, such as a struct on its stack), never the parked fiber's record:
 * once the token is public a waker may hand the fiber to another thread.
 * If it returns false the park is called off and the fiber is made ready
 * again. Returns the value the waker passed to
 * weft__ready(), or -ECANCELED after weft_cancel() or at shutdown.
 * Fiber context only. Yield point.
 */
int weft__park(struct worker *w, weft_unlock_fn unlock, void *arg);

/*
 * The post-switch step of a park (see Parking in sched.c): publish the
 * fiber @f, now off its stack, to wakers, run @unlock(@f, @arg), and
 * deliver a cancel request that came meanwhile. Run by the context @f
 * switched to, on the same worker (park.c).
 */
void weft__finish_park(struct fiber *f, weft_unlock_fn unlock, void *arg);

/*
 * Make the fiber parked under @token runnable; weft__park() returns @res
 * in it. Returns false if that park was already ended (by a canceller or
 * another waker), in which case nothing happens. Any thread.
 */
bool weft__ready(weft_token token, int res);

/*
 * The first half of weft__ready(): win the park named by @token and set
 * its result, but queue nothing; the caller now owns the fiber and must
 * run it or queue it. NULL if the park was already over. Any thread.
 */
struct fiber *weft__claim_park(weft_token token, int res);

/*
 * Whether the park named by @token has been won (by a waker, a timer or
 * a canceller) or is already past; false while the fiber is still on its
 * way into it or parked in it. A racy look; any thread.
 */
bool weft__park_over(weft_token token);

/*
 * Queue the fiber @f (not running, not queued) on the calling worker's
 * LIFO slot, or, from a thread that is not a worker, on the global queue,
 * and wake a worker if one should help. Any thread.
 */
void weft__make_runnable(struct fiber *f);

/* weft__make_runnable() by a caller that knows its worker @w (the
 * calling thread's, or NULL on a thread that is not a worker). */
void weft__make_runnable_on(struct worker *w, struct fiber *f);

/* Queue @f at the tail of the calling worker's run queue. Worker only. */
void weft__enqueue_local(struct worker *w, struct fiber *f);

/*
 * Queue the new joinable child @f on worker @w's fork deque (forkq.h),
 * or, if that is full, as weft__make_runnable_on() does. @w's own fiber
 * only.
 */
void weft__enqueue_forked(struct worker *w, struct fiber *f);

/* Give up the CPU for good: the calling fiber has ended. */
__attribute__((noreturn)) void weft__exit_current(struct worker *w);

/* The calling fiber's entry, after the first switch into it. */
void weft__landed(void);

/* Wake one idle worker if no worker is already looking for work. */
void weft__wake_one(void);

/* Wake every idle worker (shutdown). */
void weft__wake_all(void);

/* Called after every fiber exit during shutdown: stop when none is left. */
void weft__check_quiescent(void);
/* Whether some fiber was alive at one instant during the call. Any thread. */
bool weft__any_fiber_alive(void);

/* Wake @target if it sleeps in its poller (poller.h). Any thread. */
static inline void weft__worker_signal(struct worker *target)
{
	weft__poller->signal(target);
}

/*
 * Fault injection, for the tests of paths the kernel takes only under
 * memory pressure or on old kernels. While weft__fault_submit_err is
 * non-zero, one in weft__fault_submit_period (>= 2) of the times a worker
 * would enter its ring with submissions, at random, the call fails with
 * -weft__fault_submit_err before the kernel sees it, as the kernel fails
 * a submission it refuses (-EBUSY: completions backed up; -EBADR: one was
 * dropped); weft__fault_submit_hits counts them. And rings are set up
 * without trying the first weft__fault_ring_setup_skip sets of setup
 * flags (poller_uring.c), as on a kernel that refuses them. And while
 * weft__fault_uring_refuse_err is non-zero, worker
 * weft__fault_uring_refuse_worker's ring setup fails with
 * -weft__fault_uring_refuse_err, as where io_uring is refused, after the
 * other workers' succeeded. Set before weft_run(); zero otherwise.
 */
extern int weft__fault_submit_err;
extern unsigned weft__fault_submit_period;
extern unsigned long weft__fault_submit_hits;
extern unsigned weft__fault_ring_setup_skip;
extern int weft__fault_uring_refuse_err;
extern unsigned weft__fault_uring_refuse_worker;

/*
 * Submit what is queued, then handle completions and readiness; with
 * @wait, sleep in the poller first until something happens or
 * @timeout_ns passes (WEFT_FOREVER: no limit). Sched ctx only:
 * completions wake fibers, and every fiber that parked on this worker
 * must have finished parking before its completion is handled.
 */
static inline void weft__worker_poll(struct worker *w, bool wait,
				     int64_t timeout_ns)
{
	weft__poller->poll(w, wait, timeout_ns);
}

/*
 * Waits owned by a worker: an I/O operation in its ring, a watch in its
 * epoll set, or a timer in its heap. Only the owner may touch them, so cancelling one is a request to
 * the owner (owned.c).
 */
struct owned_wait;

/* End the owned wait @ow with @res and queue its fiber. Owner only. */
void weft__io_complete(struct worker *w, struct owned_wait *ow, int res);

/* Handle queued cancel requests and expired timers. Owner, sched ctx. */
void weft__owned_poll(struct worker *w);

/* True if @w has owned waits, queued SQEs or cancel requests to look at. */
bool weft__owned_pending(struct worker *w);

/*
 * Ask @owner, which @f's wait_owner named when the caller read it once,
 * to cancel @f's owned wait; nothing if @owner is NULL or
 * WAIT_NO_CANCEL. Any thread.
 */
void weft__owned_cancel(struct fiber *f, struct worker *owner);

/* Nanoseconds until @w's earliest timer, 0 if due, WEFT_FOREVER if none. */
int64_t weft__timer_timeout(struct worker *w);

/* End the waits of @w's expired timers. Owner, sched ctx (time.c). */
void weft__timers_fire(struct worker *w);

/*
 * Fire, for @w, the timers of worker @v due by @due_ns that need nothing
 * of @v: sleeps and timed parks (time.c). Their fibers go on @w's queue.
 * Returns how many. @w's sched ctx; @v is not @w.
 */
unsigned weft__timers_rescue(struct worker *w, struct worker *v,
			     int64_t due_ns);

/*
 * Taking over from a stalled worker (rescue.c). weft__rescue_timers:
 * fire whatever other busy workers' timers are overdue by the grace, on
 * @w; true if it queued a fiber (@w's sched ctx, or a fiber on @w). weft__rescue_timeout:
 * how long @w, falling asleep, may sleep before the worker it watches has
 * an overdue timer, WEFT_FOREVER if none; after park_worker()'s fence.
 * weft__rescue_watch: the fiber running on @v set a timer that is now
 * @v's earliest, @deadline_ns; tell the watcher if it must look sooner.
 * weft__rescue_nudge: the monitor saw @v stalled; wake an idle worker if
 * @v holds work another could take. Any thread.
 */
bool weft__rescue_timers(struct worker *w);
/* The same look at one other worker, chosen by @w's tick: for a busy
 * worker's every 61st schedule. Owner, fiber or sched ctx. */
void weft__rescue_peek(struct worker *w);
int64_t weft__rescue_timeout(struct worker *w);
void weft__rescue_watch(struct worker *v, int64_t deadline_ns);
void weft__rescue_nudge(struct worker *v);

/* The blocking pool's life (blocking.c). */
void weft__blocking_init(unsigned max_threads);
void weft__blocking_fini(void);
/* True if no job is queued or running; *@threads: pool threads alive. */
bool weft__blocking_idle(unsigned *threads);

/* Stack-overflow reporting (overflow.c). */
int weft__overflow_install(void);
void weft__overflow_uninstall(void);
int weft__overflow_thread_init(struct worker *w);
void weft__overflow_thread_fini(struct worker *w);
/* Report an overflow found by a canary or gap check on @f's unguarded
 * stack, then abort. */
__attribute__((noreturn)) void weft__overflow_unguarded(struct fiber *f,
							 const char *how);

#endif /* WEFT_SCHEDULER_H */
