/* SPDX-License-Identifier: MIT */
/*
 * The out-of-line half of the wait queues (waitq.h): the unlock callback
 * every primitive parks with, and waking everything a queue holds.
 */
#include <errno.h>
#include <limits.h>

#include "fiber.h"
#include "scheduler.h"
#include "waitq.h"

bool weft__unlock_spin(struct fiber *f, void *arg)
{
	(void)f;
	spin_unlock(arg);
	return true;
}

int weft__waitq_wait(struct worker *w, struct spinlock *lock, struct waitq *q,
		     unsigned kind, const void *obj, int64_t deadline_ns)
{
	struct waiter me;
	int res;

	if (deadline_passed(deadline_min(deadline_ns, w->cur->deadline_ns))) {
		spin_unlock(lock);
		return -ETIMEDOUT;
	}
	me.elem = NULL;
	me.index = 0;
	me.token = weft__park_token(w);
	fiber_waits_on(w->cur, kind, (uintptr_t)obj);
	waitq_push(q, &me);
	res = weft__park_until(w, weft__unlock_spin, lock, deadline_ns);
	if (res < 0) {
		spin_lock(lock);
		if (me.linked)
			waitq_unlink(q, &me);
		spin_unlock(lock);
	}
	return res < 0 ? res : 0;
}

static struct fiber *fiber_of_token(weft_token token)
{
	return weft__fiber_at((uint32_t)(token >> 32) - 1);
}

unsigned weft__waitq_claim_upto(struct waitq *q, int res,
				struct wake_list *wl, unsigned max)
{
	struct waiter *w;
	unsigned n;

	for (n = 0; n < max && (w = waitq_pop(q)); n++) {
		if (!weft__claim_park(w->token, res + w->index))
			continue;
		/* Ours until queued: the fiber cannot run before. */
		list_push_back(&wl->waiters, &w->link);
	}
	return n;
}

void weft__waitq_claim_all(struct waitq *q, int res,
			   struct wake_list *wl)
{
	weft__waitq_claim_upto(q, res, wl, UINT_MAX);
}

void weft__wake_list_run(struct wake_list *wl)
{
	struct list_node *n;

	/* Popped before the fiber can run and its stack move on. */
	while ((n = list_pop_front(&wl->waiters)))
		weft__make_runnable(fiber_of_token(
			list_entry(n, struct waiter, link)->token));
}
