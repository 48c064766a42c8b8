/* SPDX-License-Identifier: MIT */
/*
 * Scopes (weft_scope_run): structured concurrency, as Trio's nurseries,
 * libdill's bundles and asyncio.TaskGroup. A scope's fibers cannot
 * outlive it: weft_scope_run() runs the body in the calling fiber and
 * returns only once the body has returned and every fiber spawned into
 * the scope has ended. The first failure (a negative result) cancels the
 * rest.
 *
 * A scope is a record in a table that lives as long as the process:
 * records are reused, never freed, so a handle (index and generation, as
 * a fiber's) kept past its scope's end is recognised as stale
 * (-ESHUTDOWN) instead of reaching freed memory. A record's spinlock
 * guards its state; the owner waits on its queue (weft__waitq_wait), so
 * the dump names the wait. Neither ever fails, so a scope drains even
 * where every wait ends at once (shutdown, a deadlock broken).
 *
 * Children are detached fibers running child_main(), each with a node
 * (malloc'd by weft_scope_spawn) linked in its scope's list from before
 * the fiber exists until its function has returned, so that cancelling
 * the scope reaches every child, and counted in live until the fiber has
 * wholly ended (weft__fiber_at_exit: dead, counted out, freed), so that
 * the scope cannot close while a spawn is under way or a child's fiber
 * is still there. The spawner fills in the node's handle once
 * weft_spawn() returns; whichever of it and the child is last to touch
 * the node frees it (the child, unless it ended before the handle was
 * there). A handle cancelled after its fiber ended is refused harmlessly
 * (-ESRCH), as every stale fiber handle is.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include <ck_pr.h>

#include "fiber.h"
#include "list.h"
#include "scheduler.h"
#include "waitq.h"

#define CHUNK0 64u		/* records in chunk 0; chunk k has CHUNK0 << k */
#define CHUNKS 26u		/* 64 * (2^26 - 1) records at most            */

struct scope_child;

struct scope {
	uint32_t gen;		/* odd while open; stored under lock        */
	uint32_t index;		/* in the table                             */
	struct spinlock lock;	/* everything below                       */
	struct waitq q;	/* the owner, waiting for live to be 0      */
	unsigned live;		/* children not yet ended                   */
	bool cancelled;		/* no more spawns; the children were told   */
	bool body_running;	/* the owner is still in body               */
	bool body_cancelled;	/* ...and was cancelled by the scope        */
	weft_fiber *owner;	/* the fiber in weft_scope_run()            */
	int err;		/* the first failure, 0 if none             */
	int64_t deadline_ns;	/* children start with it as their deadline */
	struct list children;	/* struct scope_child, through link     */
	struct list_node free_link;	/* on table.free, under table.lock */
};

struct scope_child {
	struct scope *s;
	int (*fn)(void *);
	void *arg;
	weft_fiber *fiber;	/* NULL until weft_spawn() has returned     */
	bool ended;		/* the child ended before fiber was set     */
	struct list_node link;	/* on scope.children until it ends   */
};

static struct {
	pthread_mutex_t lock;	/* free, used, new chunks           */
	struct scope *chunk[CHUNKS];	/* stored atomically; read by lookup */
	struct list free;	/* struct scope, by free_link       */
	uint32_t used;		/* records ever handed out           */
} table = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The chunk and slot of record @index. */
static struct scope *slot_of(uint32_t index)
{
	uint32_t n = index / CHUNK0 + 1;
	unsigned k = 31u - (unsigned)__builtin_clz(n);
	struct scope *c;

	if (k >= CHUNKS)
		return NULL;
	/* Published by scope_alloc() after the chunk was zeroed. */
	c = ck_pr_load_ptr(&table.chunk[k]);
	if (!c)
		return NULL;
	return &c[index - CHUNK0 * ((1u << k) - 1)];
}

static struct scope *scope_alloc(void)
{
	struct scope *s = NULL;
	uint32_t index;
	unsigned k;

	pthread_mutex_lock(&table.lock);
	if (!list_empty(&table.free)) {
		s = list_entry(list_pop_front(&table.free), struct scope,
			       free_link);
		goto out;
	}
	index = table.used;
	k = 31u - (unsigned)__builtin_clz(index / CHUNK0 + 1);
	if (k >= CHUNKS)
		goto out;
	if (!table.chunk[k]) {
		struct scope *c = calloc((size_t)CHUNK0 << k, sizeof(*c));

		if (!c)
			goto out;
		/* The zeroed chunk (unlocked, empty queues) before its
		 * pointer; pairs with the load in slot_of(). */
		ck_pr_fence_store();
		ck_pr_store_ptr(&table.chunk[k], c);
	}
	s = slot_of(index);
	s->index = index;
	table.used++;
out:
	pthread_mutex_unlock(&table.lock);
	return s;
}

static void scope_free(struct scope *s)
{
	pthread_mutex_lock(&table.lock);
	list_push_front(&table.free, &s->free_link);
	pthread_mutex_unlock(&table.lock);
}

static weft_scope *handle_of(const struct scope *s)
{
	return (weft_scope *)(uintptr_t)((uint64_t)s->gen << 32 |
					 (uint64_t)(s->index + 1));
}

/*
 * The record @h names, locked, if it is still open; else NULL. The
 * generation is checked again under the lock, where it changes.
 */
static struct scope *scope_lock(weft_scope *h)
{
	uint64_t v = (uint64_t)(uintptr_t)h;
	uint32_t gen = (uint32_t)(v >> 32);
	struct scope *s;

	if ((uint32_t)v == 0 || !(gen & 1))
		return NULL;
	s = slot_of((uint32_t)v - 1);
	if (!s)
		return NULL;
	spin_lock(&s->lock);
	/* Under the lock, where weft_scope_run() changes it. */
	if (ck_pr_load_32(&s->gen) != gen) {
		spin_unlock(&s->lock);
		return NULL;
	}
	return s;
}

/* One child fewer; the last wakes the owner. Locked. */
static void live_drop(struct scope *s, struct wake_list *wl)
{
	if (--s->live == 0)
		weft__waitq_claim_all(&s->q, 0, wl);
}

/*
 * A child's fiber has ended (weft__fiber_at_exit): only now is it out of
 * the count, so the owner never sees a child's fiber still alive after
 * weft_scope_run() returns. In the sched ctx.
 */
static void child_gone(void *arg)
{
	struct wake_list wl = { { NULL, NULL } };
	struct scope *s = arg;

	spin_lock(&s->lock);
	live_drop(s, &wl);
	/* The owner may close the scope and reuse the record from here. */
	spin_unlock(&s->lock);
	weft__wake_list_run(&wl);
}

/* Record failure @err (first one wins) and cancel every child. Locked. */
static void scope_cancel_locked(struct scope *s, int err)
{
	struct list_node *n;

	if (err < 0 && !s->err)
		s->err = err;
	if (s->cancelled)
		return;
	s->cancelled = true;
	/* Body too, as Trio's nursery cancels the code inside it; the
	 * request is taken back when body returns (weft_scope_run). */
	if (s->body_running) {
		s->body_cancelled = true;
		weft_cancel(s->owner);
	}
	list_for_each(n, &s->children) {
		struct scope_child *c = list_entry(n, struct scope_child, link);

		if (c->fiber)
			weft_cancel(c->fiber);
	}
}

static void *child_main(void *arg)
{
	struct scope_child *c = arg;
	struct scope *s = c->s;
	bool mine;
	int res;

	weft_set_deadline(s->deadline_ns);
	res = c->fn(c->arg);
	spin_lock(&s->lock);
	if (res < 0 && !s->cancelled)
		scope_cancel_locked(s, res);
	/* Out of cancellation's reach; still counted in live. */
	list_remove(&s->children, &c->link);
	mine = c->fiber != NULL;
	c->ended = !mine;
	spin_unlock(&s->lock);
	if (mine)
		free(c);
	weft__fiber_at_exit(child_gone, s);
	return NULL;
}

int weft_scope_spawn(weft_scope *h, int (*fn)(void *), void *arg,
		     const struct weft_spawn_opts *opts)
{
	struct wake_list wl = { { NULL, NULL } };
	struct scope_child *c;
	struct scope *s;
	weft_fiber *f;
	int err;

	if (!weft__may_suspend())
		return -EPERM;
	if (!fn)
		return -EINVAL;
	c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	*c = (struct scope_child){ .fn = fn, .arg = arg };
	s = scope_lock(h);
	if (!s) {
		free(c);
		return -ESHUTDOWN;
	}
	if (s->cancelled) {
		spin_unlock(&s->lock);
		free(c);
		return -ECANCELED;
	}
	c->s = s;
	list_push_front(&s->children, &c->link);
	s->live++;
	spin_unlock(&s->lock);

	err = weft_spawn(&f, child_main, c, opts);
	spin_lock(&s->lock);
	if (err) {
		list_remove(&s->children, &c->link);
		live_drop(s, &wl);
		spin_unlock(&s->lock);
		weft__wake_list_run(&wl);
		free(c);
		return err;
	}
	if (c->ended) {
		/* Done and unlinked already: the node is ours to free. */
		spin_unlock(&s->lock);
		free(c);
	} else {
		c->fiber = f;
		/* Cancelled while the handle was not there to reach. */
		if (s->cancelled)
			weft_cancel(f);
		spin_unlock(&s->lock);
	}
	weft_detach(f);
	return 0;
}

int weft_scope_cancel(weft_scope *h)
{
	struct scope *s;

	/* Any thread, as weft_cancel(): the lock is a spinlock. */
	if (!ck_pr_load_ptr(&weft__sched.workers))
		return -EPERM;
	s = scope_lock(h);
	if (!s)
		return -ESHUTDOWN;
	scope_cancel_locked(s, -ECANCELED);
	spin_unlock(&s->lock);
	return 0;
}

/*
 * Wait, with @s locked, until every child has ended; returns locked. The
 * scope's deadline or a cancellation of the waiter cancels the children,
 * and the wait goes on without a deadline: children cannot outlive the
 * scope. Where every wait ends at once (shutdown, a deadlock broken),
 * the waiter yields until the children, cancelled too, have gone.
 */
static void scope_drain(struct scope *s, int64_t deadline)
{
	struct worker *w;

	while (s->live) {
		int res;

		w = weft__worker_self();
		res = weft__waitq_wait(w, &s->lock, &s->q, WAIT_SCOPE,
					   handle_of(s),
					   s->cancelled ? WEFT_FOREVER
							: deadline);

		spin_lock(&s->lock);
		if (res == 0)
			continue;
		scope_cancel_locked(s, res == -ETIMEDOUT ? -ETIMEDOUT
							 : -ECANCELED);
		if (res == -ETIMEDOUT ||
		    (res == -ECANCELED &&
		     /* Every wait ends at once from here on. */
		     !ck_pr_load_uint(&weft__sched.shutdown)))
			continue;
		spin_unlock(&s->lock);
		weft_yield();
		spin_lock(&s->lock);
	}
}

int weft_scope_run(int (*body)(weft_scope *s, void *arg), void *arg,
		   int64_t deadline_ns)
{
	struct worker *w = weft__may_suspend();
	int64_t deadline, outer;
	struct scope *s;
	int res;

	if (!w)
		return -EPERM;
	if (!body)
		return -EINVAL;
	if (ck_pr_load_uint(&weft__sched.shutdown))
		return -ECANCELED;
	s = scope_alloc();
	if (!s)
		return -ENOMEM;
	/* Nested in a fiber with a deadline (a child of a scope that has
	 * one, say), the earlier of the two holds. */
	deadline = deadline_min(deadline_ns, w->cur->deadline_ns);
	spin_lock(&s->lock);
	s->live = 0;
	s->cancelled = false;
	s->err = 0;
	s->deadline_ns = deadline;
	list_init(&s->children);
	s->owner = weft_self();
	s->body_running = true;
	s->body_cancelled = false;
	/* Odd: open. Lookups read it racily, scope_lock() under the lock. */
	ck_pr_store_32(&s->gen, s->gen + 1);
	spin_unlock(&s->lock);

	/* The body runs in this fiber, its waits bounded by the deadline. */
	outer = weft_set_deadline(deadline);
	res = body(handle_of(s), arg);
	/* The waits below must not end at the deadline: they drain. */
	weft_set_deadline(WEFT_FOREVER);

	spin_lock(&s->lock);
	s->body_running = false;
	/* A cancellation the scope sent body and no wait of body's took
	 * is taken back here, so it cannot end a wait after the scope. */
	if (s->body_cancelled)
		(void)weft__cancel_point(weft__worker_self());
	if (res < 0 && !s->cancelled)
		scope_cancel_locked(s, res);
	scope_drain(s, deadline);
	/* Even: closed; every handle to it is stale from here on. */
	ck_pr_store_32(&s->gen, s->gen + 1);
	if (s->err)
		res = s->err;
	spin_unlock(&s->lock);
	scope_free(s);
	weft_set_deadline(outer);
	return res;
}
