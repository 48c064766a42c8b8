/* SPDX-License-Identifier: MIT */
/*
 * The fiber record and its handle table. See fiber.c for the life cycle
 * (spawn, run, park, exit, join or detach) and who owns a record in each
 * state.
 */
#ifndef WEFT_FIBER_H
#define WEFT_FIBER_H

#include <stdbool.h>
#include <stdint.h>

#include <ck_pr.h>

#include "runq.h"
#include "scheduler.h"

/*
 * park_word = park sequence << 3 | one of these; see Parking in sched.c.
 * The sequence is the one in the fiber's current wake token.
 */
enum {
	FIBER_RUNNING = 0, /* on a worker, or queued to run                 */
	FIBER_PARKING = 1, /* off its stack, unlock() publishing its token  */
	FIBER_PARKED = 2,  /* off its stack, waiting; cancellable           */
	FIBER_READY = 3,   /* made ready by a waker; queued or about to be  */
	FIBER_DEAD = 4,	   /* ended, or a free record                       */
};
#define PARK_STATE_MASK 7u
#define PARK_SEQ_MASK 0x1fffffffu	/* 29 bits of sequence */

/*
 * join_word = the parked joiner's wake token | these flags; see "Join and
 * detach" in fiber.c.
 */
#define JOIN_DETACHED ((uint64_t)1)	/* weft_detach() claimed it      */
#define JOIN_CLAIMED ((uint64_t)2)	/* a join claimed it             */
#define JOIN_DONE ((uint64_t)4)		/* the fiber has ended           */
#define JOIN_FLAGS ((uint64_t)7)

struct fiber {
	/* Owned by the queue that holds the fiber while it is queued. */
	struct rq_node node;

	/* Owned by the worker running the fiber. */
	struct ctx ctx;
	/* When it was last made ready, in weft__ticks(), if that ready was
	 * sampled for the latency histogram (latency.c); else 0. Written by
	 * whoever queues it, read by the worker that runs it: on the first
	 * cache line, after the queue link and the context, which every
	 * ready and every switch touch anyway. */
	uint64_t ready_ticks;
	/* The stack it runs on: its own, or, while it runs inline (see
	 * "Lazy children" in fiber.c), its host's. */
	struct stack *stack;
	/* While it runs inline: the joiner whose stack it runs on; else
	 * NULL. Owned by the worker running it. */
	struct fiber *host;
	/* Atomic: while it runs a child inline, that child's handle (for
	 * weft_cancel, which passes a cancel on to it, and weft_dump); else
	 * NULL. */
	weft_fiber *guest;
	void *(*fn)(void *);
	void *arg;
	void *result;		/* published by JOIN_DONE                   */
	int saved_errno;	/* errno while switched out                 */
	int wake_res;		/* written by the waker that won park_word  */
	bool is_main;		/* weft_run's first fiber                   */
	int64_t deadline_ns;	/* weft_set_deadline(); WEFT_FOREVER if none */
	unsigned gen_depth;	/* generators it is running right now (gen.c);
				 * a fiber inside one must not suspend       */
	void *fls;		/* its fiber-local values (fls.c), or NULL   */
	/* Called once the fiber has ended and is counted out (see
	 * weft__fiber_at_exit), or NULL. */
	void (*exit_fn)(void *);
	void *exit_arg;

	/*
	 * The worker-owned wait (I/O, timer) the fiber is parked in, and its
	 * owner, or NULL. Written by the fiber before it parks; cancellers
	 * read only wait_owner (ordered after PARKED by the park CAS); only
	 * the owner follows the owned pointer, which points into the stack.
	 */
	struct owned_wait *owned;
	struct worker *wait_owner;	/* or WAIT_NO_CANCEL          */
	/* Link in an owner's cancel inbox; see owned.c. */
	struct fiber *cancel_next;
	/* Atomic: set while the fiber sits in some worker's inbox. */
	unsigned cancel_queued;

	unsigned park_seq;	/* sequence of the current/last park        */
	/* Atomic, written by the fiber: see enum wait_kind. */
	unsigned wait_kind;
	uint32_t wait_since_ds;	/* sched.clock_ds when it began to wait    */
	uint64_t wait_arg;

	/* Atomic, any thread. */
	unsigned park_word;	/* park_seq << 3 | FIBER_*                  */
	unsigned cancel_req;	/* weft_cancel() asked; consumed by a park  */
	uint64_t join_word;	/* JOIN_* flags | the joiner's wake token   */
	uint32_t gen;		/* handle generation; odd while live        */

	/* Its own stack's usable bytes: set at spawn, changed only by its
	 * joiner while it holds the unstarted fiber (give_room, fiber.c). */
	size_t stack_size;
	bool host_stack;	/* that stack is one of the counted host stacks */

	/* Immutable while live. */
	uint32_t index;		/* slot in the handle table                 */
	uint64_t id;		/* weft_fiber_id()                          */
	char name[32];

	/* Where weft_spawn was called from (a return address), for the
	 * reports (dump.c, monitor.c). Written at spawn, read racily. */
	void *spawn_site;

	/* Owner worker's free list only. */
	struct fiber *free_next;
} __attribute__((aligned(WEFT_CACHELINE)));

/*
 * A host stack (see "Host stacks" in fiber.c) is this many times the
 * default size; so is the main fiber's stack, so that it has room for
 * default-size children to run inline.
 */
#define WEFT_HOST_STACK_SCALE 4u

/*
 * What a parked fiber waits on, for the reports that name stuck fibers
 * (monitor.c). The fiber writes it before it parks (wait_kind, and
 * wait_arg: the object, fd or fiber id); a reader trusts it only while
 * park_word says the fiber is parked.
 */
enum wait_kind {
	WAIT_NONE,
	WAIT_JOIN,	/* arg: the joined fiber's id                     */
	WAIT_JOIN_ANY,	/* arg: how many fibers                           */
	WAIT_MUTEX,	/* arg: the weft_mutex                            */
	WAIT_COND,	/* arg: the weft_cond                             */
	WAIT_WG,	/* arg: the weft_wg                               */
	WAIT_SEM,	/* arg: the weft_sem                              */
	WAIT_CHAN_SEND,	/* arg: the channel                               */
	WAIT_CHAN_RECV,	/* arg: the channel                               */
	WAIT_SELECT,	/* arg: how many cases                            */
	WAIT_SLEEP,	/* arg: the deadline                              */
	WAIT_IO,	/* arg: fd; the enum io_op in bits 8..15 of kind   */
	WAIT_BLOCKING,	/* arg: the function's address                    */
	WAIT_SCOPE,	/* arg: the scope's handle                        */
	WAIT_KIND_COUNT,
};

/* What each wait_kind waits in ("weft_join", "channel receive", ...),
 * for the trace and for debuggers; "" for WAIT_NONE. */
extern const char *const weft__wait_names[WAIT_KIND_COUNT];

/* wait_owner of a wait nobody may end early (a blocking-pool call). */
#define WAIT_NO_CANCEL ((struct worker *)1)

/*
 * The calling worker if the caller is a fiber allowed to suspend here,
 * else NULL: outside a fiber, or inside a generator body the fiber drives
 * (it runs on the generator's stack; see gen.c). Every yield point checks
 * this first and returns -EPERM (or, if void, does nothing) on NULL.
 */
static inline struct worker *weft__may_suspend(void)
{
	struct worker *w = weft__worker_self();

	if (!w || !w->cur || w->cur->gen_depth)
		return NULL;
	return w;
}

static inline struct fiber *fiber_of_node(struct rq_node *n)
{
	return container_of(n, struct fiber, node);
}

/* Say what the running fiber @f is about to park on (enum wait_kind). */
static inline void fiber_waits_on(struct fiber *f, unsigned kind,
				  uint64_t arg)
{
	/* Plain stores in effect; read racily by reports only. */
	ck_pr_store_uint(&f->wait_kind, kind);
	ck_pr_store_32(&f->wait_since_ds,
		       ck_pr_load_32(&weft__sched.clock_ds));
	ck_pr_store_64(&f->wait_arg, arg);
}

/* The record behind a handle, or NULL if the handle is not live. */
struct fiber *weft__fiber_lookup(weft_fiber *h);

/* The record with table index @index (type-stable during weft_run). */
struct fiber *weft__fiber_at(uint32_t index);

static inline weft_token fiber_token(const struct fiber *f, unsigned seq)
{
	return ((uint64_t)(f->index + 1) << 32) |
	       ((uint64_t)(seq & PARK_SEQ_MASK) << 3);
}

/* Cancel every live fiber (shutdown). */
void weft__fiber_cancel_all(void);

/*
 * Have fn(arg) called when the running fiber has ended: off its stack,
 * dead, counted out of weft_stats' live and, if detached, freed; in its
 * last worker's sched ctx, so @fn must not suspend (it may take a
 * spinlock and wake fibers). One per fiber; the last call wins. For
 * scopes, whose owner must not see a child still alive. Fiber context.
 */
void weft__fiber_at_exit(void (*fn)(void *), void *arg);

/*
 * For a call that completes without parking: -ECANCELED if a park of the
 * running fiber would end at once, because a cancellation is pending
 * (consumed here, as a park consumes it) or the runtime shuts down; else
 * 0. Fiber context, on @w.
 */
int weft__cancel_point(struct worker *w);

/* Wake a parked fiber with -ECANCELED if it still has a request pending
 * (or, once the runtime is deadlocked, a mutex waiter with -EDEADLK). */
void weft__fiber_try_cancel(struct fiber *f);

/*
 * Every fiber is asleep and nothing can wake one (the monitor's deadlock
 * check): set sched.deadlocked and end every wait, mutex waits included,
 * beginning shutdown if the main fiber has not returned. weft_run() then
 * returns -EDEADLK. Any thread; once.
 */
void weft__fiber_break_deadlock(void);

/*
 * The ending fiber @f's parked joiner, claimed (see weft__claim_park) so
 * that @f can switch straight to it; NULL if there is none to claim.
 * Called on @f's stack just before its last switch. Its post-exit action
 * then publishes the end, and its own wake-up of the joiner finds the
 * park already claimed and does nothing.
 */
struct fiber *weft__fiber_claim_joiner(struct fiber *f);

/*
 * Finish a join: the caller holds the claim (JOIN_CLAIMED) of @f, which
 * has ended (JOIN_DONE). Store its result in *result (if not NULL) and
 * free the record. Worker @w's fiber only.
 */
void weft__fiber_reap(struct worker *w, struct fiber *f, void **result);

/*
 * Ready @f, which has never run (f->ctx.sp is NULL until then), for its
 * first switch on worker @w: trade its stack for the warmest of @w's
 * cache (weft__stack_swap_warm) and write its first frame there. Owner of
 * @w, before @f becomes w->cur.
 */
void weft__fiber_bind(struct worker *w, struct fiber *f);

/* Post-switch work for a fiber that ended; runs on the next context. */
void weft__fiber_finish(struct worker *w, struct fiber *f);

/*
 * Create weft_run's first fiber on worker 0 (not yet inside a fiber).
 * When it ends, shutdown begins: every fiber is cancelled, then
 * @shutdown_begun() runs once (weft_run passes the monitor's, which
 * starts the grace period of its shutdown report; any thread).
 */
int weft__fiber_spawn_main(struct worker *w, void (*fn)(void *), void *arg,
			   void (*shutdown_begun)(void));

/*
 * Call @fn for every record that is live and has not ended, from any
 * thread (records are read racily, with atomic loads: a report, not a
 * synchronisation).
 */
void weft__fiber_foreach_alive(void (*fn)(struct fiber *f, void *arg),
			       void *arg);


#endif /* WEFT_FIBER_H */
