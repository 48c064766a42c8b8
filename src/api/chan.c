/* SPDX-License-Identifier: MIT */
/*
 * Channels and select, with Go's semantics (Go's runtime/chan.go and
 * select.go are the model).
 *
 * A channel is a ring buffer of elements (none when unbuffered), a queue
 * of waiting receivers and one of waiting senders, and a spinlock over
 * all of it. Waiters follow the protocol in waitq.h. The invariants,
 * under the lock:
 *   - receivers wait only while the buffer is empty, senders only while
 *     it is full (for an unbuffered channel: always "full and empty"),
 *     so at most one of the two queues is non-empty;
 *   - a waiter's record names the element to move: a sender's value, or
 *     a receiver's slot. The waker moves it (sender's memory to
 *     receiver's, through the buffer's head when the buffer is full),
 *     after claiming the park and before the waiter can run.
 * A woken partner goes to the waker's LIFO slot (weft__make_runnable),
 * so a ping-pong between two fibers stays on one worker, hot in cache.
 * Closing is the one call that may wake very many: it claims them in
 * batches of CLOSE_BATCH, letting the lock go between batches.
 *
 * Select locks every channel of its cases at once, in address order
 * (so two selects cannot deadlock), polls the cases in a random order
 * (so no ready case starves), and if none is ready queues one waiter per
 * case, all holding the same park token: the first waker to claim the
 * park wins, and its result is the case index. The others find the
 * token claimed and skip those waiters; the fiber unlinks them when it
 * resumes.
 *
 * A waker's result is the case index (0 outside select), plus
 * WAKE_CLOSED when the channel was closed instead; it is never negative,
 * so a negative park result always means a timer (-ETIMEDOUT) or a
 * canceller (-ECANCELED), who leave the waiter linked.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fiber.h"
#include "prng.h"
#include "waitq.h"

#define WAKE_CLOSED (1 << 16)	/* added to the result: the channel closed */
#define CHAN_ELEM_MAX 65536u
/* Waiters weft_chan_close() claims under one holding of the lock. */
#define CLOSE_BATCH 64u

struct weft_chan {
	struct spinlock lock;
	bool closed;
	size_t elem_size;
	size_t cap;		/* elements the buffer holds            */
	size_t head;		/* index of the oldest element          */
	uint64_t count;		/* elements in the buffer; atomic reads */
	struct waitq recvq;
	struct waitq sendq;
	unsigned char *buf;	/* cap * elem_size bytes                */
};

int weft_chan_new(weft_chan **out, size_t elem_size, size_t capacity)
{
	weft_chan *c;

	if (!out || elem_size > CHAN_ELEM_MAX ||
	    (elem_size && capacity > (SIZE_MAX - sizeof(*c)) / elem_size))
		return -EINVAL;
	c = calloc(1, sizeof(*c) + elem_size * capacity);
	if (!c)
		return -ENOMEM;
	c->elem_size = elem_size;
	c->cap = capacity;
	c->buf = (unsigned char *)(c + 1);
	*out = c;
	return 0;
}

void weft_chan_free(weft_chan *c)
{
	free(c);
}

size_t weft_chan_len(weft_chan *c)
{
	return c ? (size_t)ck_pr_load_64(&c->count) : 0;
}

size_t weft_chan_cap(const weft_chan *c)
{
	return c ? c->cap : 0;
}

static inline void elem_copy(const weft_chan *c, void *dst, const void *src)
{
	if (!dst || !src)
		return;
	/* Fixed sizes inline to a move or two; the rest call memcpy. */
	switch (c->elem_size) {
	case 0:
		break;
	case 4:
		memcpy(dst, src, 4);
		break;
	case 8:
		memcpy(dst, src, 8);
		break;
	case 16:
		memcpy(dst, src, 16);
		break;
	default:
		memcpy(dst, src, c->elem_size);
	}
}

static inline unsigned char *slot(const weft_chan *c, size_t i)
{
	return c->buf + (i % c->cap) * c->elem_size;
}

/*
 * The non-blocking halves, lock held. Each returns 0 (done; *wake is a
 * claimed partner to queue after unlocking, or NULL), -EPIPE (closed) or
 * -EAGAIN (it would have to wait).
 */
static int send_locked(weft_chan *c, const void *elem, struct fiber **wake)
{
	struct waiter *r;

	*wake = NULL;
	if (c->closed)
		return -EPIPE;
	/* A waiting receiver means the buffer is empty: hand over. */
	*wake = waitq_claim_first(&c->recvq, 0, &r);
	if (*wake) {
		elem_copy(c, r->elem, elem);
		return 0;
	}
	if (c->count < c->cap) {
		elem_copy(c, slot(c, c->head + c->count), elem);
		ck_pr_store_64(&c->count, c->count + 1);
		return 0;
	}
	return -EAGAIN;
}

static int recv_locked(weft_chan *c, void *elem, struct fiber **wake)
{
	struct waiter *s;

	*wake = NULL;
	/* A waiting sender means the buffer is full (or there is none). */
	*wake = waitq_claim_first(&c->sendq, 0, &s);
	if (*wake) {
		if (c->cap == 0) {
			elem_copy(c, elem, s->elem);
		} else {
			/* Take the oldest, put the sender's in its place:
			 * FIFO order is kept. */
			elem_copy(c, elem, slot(c, c->head));
			elem_copy(c, slot(c, c->head), s->elem);
			c->head = (c->head + 1) % c->cap;
		}
		return 0;
	}
	if (c->count > 0) {
		elem_copy(c, elem, slot(c, c->head));
		c->head = (c->head + 1) % c->cap;
		ck_pr_store_64(&c->count, c->count - 1);
		return 0;
	}
	return c->closed ? -EPIPE : -EAGAIN;
}

static inline int wake_res(int res)
{
	return (res & WAKE_CLOSED) ? -EPIPE : 0;
}

/* Send or receive; wait if @w (the caller's worker, checked) is set. */
static int chan_op(struct worker *w, weft_chan *c, void *elem, bool is_send)
{
	struct waitq *q;
	struct waiter me;
	struct fiber *wake, *self;
	int res;

	if (!c)
		return -EINVAL;
	spin_lock(&c->lock);
	res = is_send ? send_locked(c, elem, &wake) : recv_locked(c, elem, &wake);
	if (res != -EAGAIN || !w) {
		spin_unlock(&c->lock);
		if (wake)
			weft__make_runnable_on(w ? w : weft__worker_self(), wake);
		return res;
	}
	self = w->cur;
	if (deadline_passed(self->deadline_ns)) {
		spin_unlock(&c->lock);
		return -ETIMEDOUT;
	}
	me.token = weft__park_token(w);
	fiber_waits_on(self, is_send ? WAIT_CHAN_SEND : WAIT_CHAN_RECV,
		       (uintptr_t)c);
	me.elem = elem;
	me.index = 0;
	q = is_send ? &c->sendq : &c->recvq;
	waitq_push(q, &me);
	res = weft__park_until(w, weft__unlock_spin, &c->lock, WEFT_FOREVER);
	if (res >= 0)
		return wake_res(res);
	/* A timer or canceller ended the wait: nothing moved. */
	spin_lock(&c->lock);
	if (me.linked)
		waitq_unlink(q, &me);
	spin_unlock(&c->lock);
	return res;
}

int weft_chan_send(weft_chan *c, const void *elem)
{
	struct worker *w = weft__may_suspend();

	if (!w)
		return -EPERM;
	return chan_op(chaos_point(w), c, (void *)elem, true);
}

int weft_chan_recv(weft_chan *c, void *elem)
{
	struct worker *w = weft__may_suspend();

	if (!w)
		return -EPERM;
	return chan_op(chaos_point(w), c, elem, false);
}

int weft_chan_try_send(weft_chan *c, const void *elem)
{
	return chan_op(NULL, c, (void *)elem, true);
}

int weft_chan_try_recv(weft_chan *c, void *elem)
{
	return chan_op(NULL, c, elem, false);
}

int weft_chan_close(weft_chan *c)
{
	struct wake_list wl = { { NULL, NULL } };

	if (!c)
		return -EINVAL;
	spin_lock(&c->lock);
	if (c->closed) {
		spin_unlock(&c->lock);
		return -EPIPE;
	}
	c->closed = true;
	/*
	 * Receivers wait only on an empty buffer, so all of them get
	 * -EPIPE now; so do senders, whose elements were never taken.
	 * Closed, the queues only shrink (no call waits on a closed
	 * channel), so the lock is let go between batches: a caller that
	 * arrives meanwhile, or a waiter being cancelled, does not spin
	 * behind a million claims. The last batch is the one that leaves
	 * both queues empty; after it the channel is not touched again, so
	 * a woken receiver may free it.
	 */
	for (;;) {
		unsigned n = weft__waitq_claim_upto(&c->recvq, WAKE_CLOSED,
						    &wl, CLOSE_BATCH);
		bool last;

		weft__waitq_claim_upto(&c->sendq, WAKE_CLOSED, &wl,
				       CLOSE_BATCH - n);
		last = waitq_empty(&c->recvq) && waitq_empty(&c->sendq);
		spin_unlock(&c->lock);
		weft__wake_list_run(&wl);
		if (last)
			return 0;
		spin_lock(&c->lock);
	}
}

/* Select ------------------------------------------------------------------ */

struct select_locks {
	weft_chan **chans;	/* sorted, no duplicates */
	unsigned n;
};

static void sel_lock(struct select_locks *sl)
{
	for (unsigned i = 0; i < sl->n; i++)
		spin_lock(&sl->chans[i]->lock);
}

static void sel_unlock(struct select_locks *sl)
{
	for (unsigned i = sl->n; i-- > 0;)
		spin_unlock(&sl->chans[i]->lock);
}

static bool sel_unlock_cb(struct fiber *f, void *arg)
{
	(void)f;
	sel_unlock(arg);
	return true;
}

/*
 * The poll order: on a worker, from its PRNG (so that chaos mode's seed
 * decides it too); elsewhere, from one per thread seeded by the clock.
 */
static WEFT_TLS uint64_t sel_rng;

static unsigned sel_rand(unsigned bound)
{
	struct worker *w = weft__worker_self();

	if (w)
		return weft__rand(w) % bound;
	if (!sel_rng)
		sel_rng = prng_seed((uint64_t)(uintptr_t)&sel_rng ^
				    (uint64_t)weft_now_ns());
	return prng_next(&sel_rng) % bound;
}

/* weft_select() once its arguments are checked. */
static int select_checked(struct weft_select_case *cases, size_t n,
			  int64_t timeout_ns)
{
	/* Sized by n, not the maximum: a fiber's stack may be small. */
	weft_chan *chans[n ? n : 1];
	struct waiter ws[n ? n : 1];
	unsigned order[n ? n : 1];
	struct select_locks sl = { chans, 0 };
	struct worker *w = timeout_ns ? weft__worker_self() : NULL;
	struct fiber *wake, *self;
	int64_t deadline = w ? deadline_after(timeout_ns) : WEFT_FOREVER;
	weft_token token;
	bool block = w != NULL;
	int res;

	/* Lock order: by address, each channel once (insertion sort; n is
	 * small). Poll order: a random permutation (Fisher-Yates). */
	for (unsigned i = 0; i < n; i++) {
		weft_chan *c = cases[i].chan;
		unsigned j;

		order[i] = i;
		if (!c)
			continue;
		for (j = sl.n; j > 0 && sl.chans[j - 1] > c; j--)
			;
		if (j > 0 && sl.chans[j - 1] == c)
			continue;
		memmove(&sl.chans[j + 1], &sl.chans[j],
			(sl.n - j) * sizeof(sl.chans[0]));
		sl.chans[j] = c;
		sl.n++;
	}
	for (unsigned i = (unsigned)n; i > 1; i--) {
		unsigned j = sel_rand(i), t = order[i - 1];

		order[i - 1] = order[j];
		order[j] = t;
	}

	sel_lock(&sl);
	for (unsigned k = 0; k < n; k++) {
		struct weft_select_case *sc = &cases[order[k]];

		if (!sc->chan)
			continue;
		res = sc->op == WEFT_SELECT_SEND ?
			      send_locked(sc->chan, sc->elem, &wake) :
			      recv_locked(sc->chan, sc->elem, &wake);
		if (res == -EAGAIN)
			continue;
		sel_unlock(&sl);
		if (wake)
			weft__make_runnable(wake);
		sc->res = res;
		return (int)order[k];
	}
	if (!block) {
		sel_unlock(&sl);
		return -EAGAIN;
	}
	self = w->cur;
	deadline = deadline_min(deadline, self->deadline_ns);
	if (deadline_passed(deadline)) {
		sel_unlock(&sl);
		return -ETIMEDOUT;
	}

	/* Nothing ready: one waiter per case, one park for all, queued in
	 * the random poll order too, so that when several cases share a
	 * channel its partner does not always pick the first. */
	token = weft__park_token(w);
	for (unsigned k = 0; k < n; k++) {
		unsigned i = order[k];
		struct weft_select_case *sc = &cases[i];

		ws[i].linked = false;
		if (!sc->chan)
			continue;
		ws[i].token = token;
		ws[i].elem = sc->elem;
		ws[i].index = (int)i;
		waitq_push(sc->op == WEFT_SELECT_SEND ? &sc->chan->sendq :
							&sc->chan->recvq,
			   &ws[i]);
	}
	fiber_waits_on(w->cur, WAIT_SELECT, n);
	res = weft__park_until(w, sel_unlock_cb, &sl, deadline);

	/* Take back the waiters nobody popped. */
	sel_lock(&sl);
	for (unsigned i = 0; i < n; i++) {
		struct weft_select_case *sc = &cases[i];

		if (ws[i].linked)
			waitq_unlink(sc->op == WEFT_SELECT_SEND ?
					     &sc->chan->sendq :
					     &sc->chan->recvq,
				     &ws[i]);
	}
	sel_unlock(&sl);
	if (res < 0)
		return res;
	cases[res & (WAKE_CLOSED - 1)].res = wake_res(res);
	return res & (WAKE_CLOSED - 1);
}

int weft_select(struct weft_select_case *cases, size_t n, int64_t timeout_ns)
{
	if (n > WEFT_SELECT_MAX || (n && !cases))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if ((cases[i].op != WEFT_SELECT_SEND &&
		     cases[i].op != WEFT_SELECT_RECV) ||
		    cases[i].reserved[0] || cases[i].reserved[1])
			return -EINVAL;
	if (timeout_ns != 0 && !weft__may_suspend())
		return -EPERM;
	return select_checked(cases, n, timeout_ns);
}
