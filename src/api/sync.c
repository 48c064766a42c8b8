/* SPDX-License-Identifier: MIT */
/*
 * Locks and friends that park fibers: mutex, condition variable, wait
 * group, semaphore, once. Each is a wait queue (waitq.h) plus a little
 * state; the waiting and waking protocol is the one described there.
 *
 * The mutex follows Go's sync.Mutex. Its state word holds LOCKED,
 * STARVING and the number of queued waiters; the queue itself is guarded
 * by the mutex's spinlock. In normal mode an unlock frees the lock and
 * wakes the first waiter, which then competes with fibers arriving
 * meanwhile (a running fiber usually wins: no switch is needed, which is
 * what makes the lock fast under contention); a waiter that loses goes
 * back to the front of the queue. Once a waiter has waited over
 * STARVE_NS, it sets STARVING: from then on an unlock hands the lock
 * straight to the first waiter (LOCKED never clears) and newcomers
 * queue behind, so nobody starves. Handoff mode ends when the waiter
 * served had waited less than STARVE_NS or was the last. Invariants:
 * STARVING implies LOCKED; the waiter count equals the queue length
 * whenever the spinlock is free.
 *
 * Locking a mutex is not a cancellation point (the fiber parks as
 * WAIT_NO_CANCEL, like a blocking-pool call): code between lock and
 * unlock need not handle a lock that failed. The one exception is a
 * deadlocked runtime (weft_run() found every fiber asleep for good):
 * then a mutex wait ends with -EDEADLK, without the lock. The other
 * waits are cancellable and bounded by the fiber's deadline.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "fiber.h"
#include "waitq.h"

#define M_LOCKED 1u
#define M_STARVING 2u
#define M_WAITER 4u		/* one waiter in the count */
#define STARVE_NS 1000000	/* Go's starvationThresholdNs */

#define WAKE_WOKEN 0		/* normal mode: try again             */
#define WAKE_HANDOFF 1		/* handoff mode: the lock is yours    */

/*
 * The layouts behind weft.h's opaque lock types, each inside the public
 * storage it is given, which fixes only size and alignment: these may
 * change freely as long as they fit. All zero is the initial state of
 * each (a semaphore's count aside, which WEFT_SEM_INIT sets in place).
 * The library never sees a caller's declaration of one (no LTO across
 * the boundary), so reaching the bytes through these types is safe, as
 * with glibc's pthread types.
 */
struct mutex {
	unsigned state;		/* Atomic: LOCKED, STARVING, waiter count */
	struct spinlock lock;	/* guarding q                            */
	struct waitq q;		/* Protected by lock.                     */
};

struct cond {
	struct spinlock lock;	/* guarding q                            */
	struct waitq q;		/* Protected by lock.                     */
};

/* Wait group and semaphore. Protected by lock. */
struct counter {
	int64_t count;		/* wg: tasks not done; sem: free units    */
	struct spinlock lock;	/* guarding count and q                   */
	struct waitq q;		/* wg: waiters for zero; sem: for a unit  */
};

struct once {
	unsigned done;		/* Atomic; see weft_call_once()           */
	weft_mutex m;		/* serialises the first callers           */
};

#define FITS(type, pub)                                                    \
	_Static_assert(sizeof(type) <= sizeof(pub) &&                      \
			       _Alignof(type) <= _Alignof(pub),            \
		       #type " fits in " #pub)
FITS(struct mutex, weft_mutex);
FITS(struct cond, weft_cond);
FITS(struct counter, weft_wg);
FITS(struct counter, weft_sem);
FITS(struct once, weft_once);
/* WEFT_SEM_INIT(n) stores n where the count is. */
_Static_assert(offsetof(struct counter, count) == offsetof(weft_sem,
							   init_count_) &&
		       sizeof(((weft_sem *)0)->init_count_) ==
			       sizeof(((struct counter *)0)->count),
	       "WEFT_SEM_INIT sets the semaphore's count");

static inline struct mutex *mutex_of(weft_mutex *m)
{
	return (struct mutex *)(void *)m->opaque_;
}

static inline struct cond *cond_of(weft_cond *c)
{
	return (struct cond *)(void *)c->opaque_;
}

static inline struct counter *wg_of(weft_wg *wg)
{
	return (struct counter *)(void *)wg->opaque_;
}

static inline struct counter *sem_of(weft_sem *s)
{
	return (struct counter *)(void *)s;
}

static inline struct once *once_of(weft_once *o)
{
	return (struct once *)(void *)o->opaque_;
}

/* Mutex ------------------------------------------------------------------ */

void weft_mutex_init(weft_mutex *m)
{
	memset(m, 0, sizeof(*m));
}

static inline void mutex_acquired(struct mutex *m)
{
	/* Acquire: pairs with the fence in weft_mutex_unlock() or the
	 * hand-off in mutex_handoff(). */
	ck_pr_fence_lock();
	weft__hb_acquire(m);
}

int weft_mutex_trylock(weft_mutex *pm)
{
	struct mutex *m = mutex_of(pm);
	unsigned s = ck_pr_load_uint(&m->state);

	while (!(s & M_LOCKED)) {
		/* Full barrier on success; with mutex_acquired()'s fence,
		 * pairs with the release in weft_mutex_unlock(). */
		if (ck_pr_cas_uint_value(&m->state, s, s | M_LOCKED, &s)) {
			mutex_acquired(m);
			return 0;
		}
	}
	return -EBUSY;
}

/*
 * A deadlock break or a deadline ended @me's wait (see
 * weft__fiber_break_deadlock): leave the queue, unless an unlock popped
 * us already and, its claim having failed, counted us out and passed us
 * over.
 */
static void mutex_withdraw(struct mutex *m, struct waiter *me)
{
	spin_lock(&m->lock);
	if (me->linked) {
		waitq_unlink(&m->q, me);
		/* No pairing: only the count changes, atomically because
		 * lockers CAS the word without our spinlock; the queue is
		 * ordered by the spinlock. */
		ck_pr_sub_uint(&m->state, M_WAITER);
	}
	spin_unlock(&m->lock);
}

static int mutex_lock_slow(struct mutex *m, struct worker *w,
			   int64_t deadline_ns)
{
	struct fiber *self = w->cur;
	struct waiter me;
	bool requeue = false;	/* woken once and lost: go first again */
	bool starving = false;
	int64_t since = weft_now_ns();
	unsigned s;
	int res;

	me.elem = NULL;
	me.index = 0;
	me.since_ns = since;
	for (;;) {
		spin_lock(&m->lock);
		s = ck_pr_load_uint(&m->state);
		for (;;) {
			unsigned next;

			if ((s & M_LOCKED) && deadline_passed(deadline_ns)) {
				spin_unlock(&m->lock);
				return -ETIMEDOUT;
			}
			if (!(s & M_LOCKED)) {
				/* STARVING implies LOCKED: free means ours to
				 * take, in either mode. Pairs with the release
				 * in weft_mutex_unlock() (mutex_acquired()). */
				if (ck_pr_cas_uint_value(&m->state, s,
							 s | M_LOCKED, &s)) {
					spin_unlock(&m->lock);
					mutex_acquired(m);
					return 0;
				}
				continue;
			}
			next = s + M_WAITER;
			if (starving)
				next |= M_STARVING;
			/* Fails if it was unlocked meanwhile: look again.
			 * Full barrier: counted before we queue; pairs with
			 * the CAS in weft_mutex_unlock(), which then sees
			 * a waiter and takes the spinlock to wake one. */
			if (ck_pr_cas_uint_value(&m->state, s, next, &s))
				break;
		}
		me.token = weft__park_token(w);
		fiber_waits_on(self, WAIT_MUTEX, (uintptr_t)m);
		if (requeue)
			waitq_push_front(&m->q, &me);
		else
			waitq_push(&m->q, &me);
		/* Not cancellable; ordered before PARKED by the park CAS. */
		ck_pr_store_ptr(&self->wait_owner, WAIT_NO_CANCEL);
		/* weft_mutex_lock: no deadline, not even the fiber's. */
		res = deadline_ns == WEFT_FOREVER
			      ? weft__park(w, weft__unlock_spin, &m->lock)
			      : weft__park_until(w, weft__unlock_spin, &m->lock,
						 deadline_ns);
		/* We may have moved to another worker. */
		w = weft__worker_self();
		ck_pr_store_ptr(&self->wait_owner, NULL);
		if (res == WAKE_HANDOFF) {
			mutex_acquired(m);
			return 0;
		}
		if (res == -EDEADLK || res == -ETIMEDOUT || res == -ENOMEM) {
			mutex_withdraw(m, &me);
			return res;
		}
		weft_assert(res == WAKE_WOKEN);
		requeue = true;
		starving = starving || weft_now_ns() - since > STARVE_NS;
	}
}

/*
 * Both lock calls: @timed, the earlier of @deadline_ns and the fiber's
 * own deadline bounds the wait; else nothing does. A free lock is taken
 * whatever the time, as pthread_mutex_timedlock does.
 */
static inline int mutex_lock(weft_mutex *pm, bool timed, int64_t deadline_ns)
{
	struct worker *w = weft__may_suspend();
	struct mutex *m = mutex_of(pm);

	if (!w)
		return -EPERM;
	w = chaos_point(w);
	/* Full barrier on success; with mutex_acquired()'s fence, pairs
	 * with the release in weft_mutex_unlock(). */
	if (likely(ck_pr_cas_uint(&m->state, 0, M_LOCKED))) {
		mutex_acquired(m);
		return 0;
	}
	return mutex_lock_slow(m, w,
			       timed ? deadline_min(deadline_ns,
						    w->cur->deadline_ns)
				     : WEFT_FOREVER);
}

int weft_mutex_lock(weft_mutex *m)
{
	return mutex_lock(m, false, WEFT_FOREVER);
}

int weft_mutex_lock_until(weft_mutex *m, int64_t deadline_ns)
{
	return mutex_lock(m, true, deadline_ns);
}

/*
 * Handoff mode: give the lock, still LOCKED, to the first waiter. Only a
 * deadlocked runtime ends mutex waits early; a waiter it got first is
 * passed over, and if none is left the lock is simply freed.
 */
static void mutex_handoff(struct mutex *m)
{
	struct waiter *first;
	struct fiber *f = NULL;
	unsigned s, next;

	spin_lock(&m->lock);
	/* The critical section happens before the next owner's. */
	weft__hb_release(m);
	/* STARVING was set by a waiter that is queued until served. */
	while (!f && (first = waitq_pop(&m->q))) {
		s = ck_pr_load_uint(&m->state);
		do {
			next = s - M_WAITER;
			if (waitq_empty(&m->q) ||
			    weft_now_ns() - first->since_ns < STARVE_NS)
				next &= ~M_STARVING;
			/* Only lockers adding themselves race us, under
			 * the spinlock we hold, so this settles at once.
			 * Pairs with the waiter-count CAS in mutex_lock(). */
		} while (!ck_pr_cas_uint_value(&m->state, s, next, &s));
		f = weft__claim_park(first->token, WAKE_HANDOFF);
	}
	if (!f) {
		/* Release, as weft_mutex_unlock() does; pairs with the
		 * acquire in mutex_acquired(). The CAS is a full barrier.
		 * Nobody is queued, so nobody need be woken. */
		ck_pr_fence_unlock();
		s = ck_pr_load_uint(&m->state);
		while (!ck_pr_cas_uint_value(&m->state, s,
					     s & ~(M_LOCKED | M_STARVING), &s))
			;
	}
	spin_unlock(&m->lock);
	if (f)
		weft__make_runnable(f);
}

int weft_mutex_unlock(weft_mutex *pm)
{
	struct mutex *m = mutex_of(pm);
	unsigned s = ck_pr_load_uint(&m->state);
	struct fiber *f = NULL;
	struct waiter *wt;

	for (;;) {
		if (!(s & M_LOCKED))
			return -EPERM;
		if (s & M_STARVING) {
			mutex_handoff(m);
			return 0;
		}
		weft__hb_release(m);
		/* Release: the critical section before LOCKED clears;
		 * pairs with the acquire in mutex_acquired(). The CAS below
		 * is a full barrier: the release, then the waiter count,
		 * which pairs with the waiter-count CAS in mutex_lock(). */
		ck_pr_fence_unlock();
		if (ck_pr_cas_uint_value(&m->state, s, s & ~M_LOCKED, &s))
			break;
	}
	if (s < M_WAITER)
		return 0;
	/* Normal mode: wake the first waiter to compete for the lock. */
	spin_lock(&m->lock);
	/* A claim fails only for a waiter a deadlock break got first: each
	 * waiter popped is counted out, and the next one tried. */
	while (!f && (wt = waitq_pop(&m->q))) {
		/* No pairing: the count only, atomic against lockers'
		 * CAS; the queue itself is ordered by the spinlock. */
		ck_pr_sub_uint(&m->state, M_WAITER);
		f = weft__claim_park(wt->token, WAKE_WOKEN);
	}
	spin_unlock(&m->lock);
	if (f)
		weft__make_runnable(f);
	return 0;
}

/* Condition variable ------------------------------------------------------- */

void weft_cond_init(weft_cond *c)
{
	memset(c, 0, sizeof(*c));
}

struct cond_park {
	struct spinlock *lock;
	weft_mutex *m;
};

/* Post-switch: let signallers in, then release the mutex. */
static bool cond_unlock(struct fiber *f, void *arg)
{
	struct cond_park *cp = arg;
	/* Read before the first unlock: a signal may resume the fiber on
	 * another worker at once, and @cp is on its stack. */
	weft_mutex *m = cp->m;

	(void)f;
	spin_unlock(cp->lock);
	weft_mutex_unlock(m);
	return true;
}

int weft_cond_wait_until(weft_cond *pc, weft_mutex *m, int64_t deadline_ns)
{
	struct worker *w = weft__may_suspend();
	struct cond *c = cond_of(pc);
	struct cond_park cp = { &c->lock, m };
	struct waiter me;
	int res;

	if (!w)
		return -EPERM;
	if (!(ck_pr_load_uint(&mutex_of(m)->state) & M_LOCKED))
		return -EPERM;
	deadline_ns = deadline_min(deadline_ns, w->cur->deadline_ns);
	if (deadline_passed(deadline_ns))
		return -ETIMEDOUT;
	me.elem = NULL;
	me.index = 0;
	spin_lock(&c->lock);
	me.token = weft__park_token(w);
	fiber_waits_on(w->cur, WAIT_COND, (uintptr_t)c);
	waitq_push(&c->q, &me);
	res = weft__park_until(w, cond_unlock, &cp, deadline_ns);
	if (res < 0) {
		spin_lock(&c->lock);
		if (me.linked)
			waitq_unlink(&c->q, &me);
		spin_unlock(&c->lock);
	}
	/* -EDEADLK only from a deadlocked runtime: @m is not held then. */
	if (weft_mutex_lock(m) == -EDEADLK)
		return -EDEADLK;
	return res < 0 ? res : 0;
}

int weft_cond_wait(weft_cond *c, weft_mutex *m)
{
	return weft_cond_wait_until(c, m, WEFT_FOREVER);
}

int weft_cond_signal(weft_cond *pc)
{
	struct cond *c = cond_of(pc);
	struct fiber *f;

	spin_lock(&c->lock);
	f = waitq_claim_first(&c->q, 0, NULL);
	spin_unlock(&c->lock);
	if (f)
		weft__make_runnable(f);
	return 0;
}

int weft_cond_broadcast(weft_cond *pc)
{
	struct cond *c = cond_of(pc);
	struct wake_list wl = { { NULL, NULL } };

	spin_lock(&c->lock);
	weft__waitq_claim_all(&c->q, 0, &wl);
	spin_unlock(&c->lock);
	weft__wake_list_run(&wl);
	return 0;
}

/* Wait group ----------------------------------------------------------------- */

void weft_wg_init(weft_wg *wg)
{
	memset(wg, 0, sizeof(*wg));
}

/*
 * The wait group's word: the count, and WG_WAITERS when a fiber may be
 * queued. Adders change it by CAS without the lock: a spawn loop adds on
 * one core while the children finish on another, and a lock would move
 * the line three times an operation (the lock, a spinning reader, the
 * unlock) where a CAS moves it once.
 *
 * A waiter takes the lock, reads the word and, unless the count is zero,
 * sets WG_WAITERS and queues, both under the lock. An adder that brings
 * the count to zero clears the flag in the same CAS and, only if it was
 * set, takes the lock and wakes the queue. So:
 *   - No waiter misses a zero: its flag is in the word before it queues,
 *     so the CAS that makes zero either sees the flag (and its adder's
 *     lock comes after the queueing) or came first (and the waiter reads
 *     zero).
 *   - With no waiter queued, the adder that makes zero touches nothing
 *     after its CAS, so the waiter that reads that zero may free the
 *     group at once (the usual case: a wait group on the waiter's stack).
 *   - A queued waiter wakes only to a zero: if another add raised the
 *     count again before the adder got the lock, the adder sets the flag
 *     back and the queue waits for the next zero.
 */
#define WG_WAITERS ((uint64_t)1 << 63)

static inline uint64_t *wg_word(struct counter *wg)
{
	return (uint64_t *)&wg->count;
}

int weft_wg_add(weft_wg *pwg, int delta)
{
	struct counter *wg = wg_of(pwg);
	struct wake_list wl = { { NULL, NULL } };
	uint64_t *word = wg_word(wg);
	uint64_t cur = ck_pr_load_64(word);
	uint64_t next;

	/* For TSan, which does not see ck's atomics: what this adder did
	 * before happens before a waiter's return (the acquire there). */
	weft__hb_release(wg);
	do {
		int64_t count = (int64_t)(cur & ~WG_WAITERS) + delta;

		if (count < 0)
			return -EINVAL;
		next = (uint64_t)count;
		if (count != 0)
			next |= cur & WG_WAITERS;
		/* Full barrier: pairs with the flag's CAS in weft_wg_wait()
		 * and, for a waiter that reads zero, with its load. */
	} while (!ck_pr_cas_64_value(word, cur, next, &cur));
	if (next != 0 || !(cur & WG_WAITERS))
		return 0;

	spin_lock(&wg->lock);
	for (;;) {
		/* Under the lock, so no waiter queues meanwhile. */
		cur = ck_pr_load_64(word);
		if ((cur & ~WG_WAITERS) == 0) {
			weft__waitq_claim_all(&wg->q, 0, &wl);
			break;
		}
		/* Raised again: hand the queue on to the next zero. Pairs
		 * with the adders' CAS in weft_wg_add(). */
		if ((cur & WG_WAITERS) ||
		    ck_pr_cas_64(word, cur, cur | WG_WAITERS))
			break;
	}
	spin_unlock(&wg->lock);
	weft__wake_list_run(&wl);
	return 0;
}

int weft_wg_done(weft_wg *wg)
{
	return weft_wg_add(wg, -1);
}

int weft_wg_wait(weft_wg *pwg)
{
	struct worker *w = weft__may_suspend();
	struct counter *wg = wg_of(pwg);
	int rc;

	if (!w)
		return -EPERM;
	spin_lock(&wg->lock);
	/* Flag, then queue, under the lock; see weft_wg_add(). */
	for (;;) {
		uint64_t cur = ck_pr_load_64(wg_word(wg));

		if ((cur & ~WG_WAITERS) == 0) {
			spin_unlock(&wg->lock);
			/* Pairs with the release in weft_wg_add(). */
			weft__hb_acquire(wg);
			return 0;
		}
		/* Full barrier: pairs with the adders' CAS. */
		if ((cur & WG_WAITERS) ||
		    ck_pr_cas_64(wg_word(wg), cur, cur | WG_WAITERS))
			break;
	}
	rc = weft__waitq_wait(w, &wg->lock, &wg->q, WAIT_WG, wg, WEFT_FOREVER);
	/* Every adder's release, not only the waker's. */
	weft__hb_acquire(wg);
	return rc;
}

/* Semaphore --------------------------------------------------------------------- */

int weft_sem_init(weft_sem *ps, int64_t value)
{
	if (value < 0)
		return -EINVAL;
	memset(ps, 0, sizeof(*ps));
	sem_of(ps)->count = value;
	return 0;
}

int weft_sem_try_acquire(weft_sem *ps)
{
	struct counter *s = sem_of(ps);
	int res = -EAGAIN;

	spin_lock(&s->lock);
	/* Units are handed to waiters directly, so a free unit means
	 * nobody waits: taking it overtakes no one. */
	if (s->count > 0) {
		s->count--;
		res = 0;
	}
	spin_unlock(&s->lock);
	return res;
}

int weft_sem_acquire(weft_sem *ps)
{
	struct worker *w = weft__may_suspend();
	struct counter *s = sem_of(ps);

	if (!w)
		return -EPERM;
	spin_lock(&s->lock);
	if (s->count > 0) {
		s->count--;
		spin_unlock(&s->lock);
		return 0;
	}
	/* A waker hands its unit over with the wake-up. */
	return weft__waitq_wait(w, &s->lock, &s->q, WAIT_SEM, s,
			       WEFT_FOREVER);
}

int weft_sem_release(weft_sem *ps)
{
	struct counter *s = sem_of(ps);
	struct fiber *f;

	spin_lock(&s->lock);
	f = waitq_claim_first(&s->q, 0, NULL);
	if (!f) {
		if (s->count == INT64_MAX) {
			spin_unlock(&s->lock);
			return -EOVERFLOW;
		}
		s->count++;
	}
	spin_unlock(&s->lock);
	if (f)
		weft__make_runnable(f);
	return 0;
}

/* Once --------------------------------------------------------------------------- */

int weft_call_once(weft_once *po, void (*fn)(void *), void *arg)
{
	struct once *o = once_of(po);
	int err;

	if (ck_pr_load_uint(&o->done)) {
		/* Acquire: fn's effects; pairs with the release in
		 * weft_call_once()'s slow path below. */
		ck_pr_fence_acquire();
		weft__hb_acquire(o);
		return 0;
	}
	if (!fn)
		return -EINVAL;
	err = weft_mutex_lock(&o->m);
	if (err)
		return err;
	if (!o->done) {
		fn(arg);
		weft__hb_release(o);
		/* Release: fn's effects before done; pairs with the
		 * acquire on weft_call_once()'s fast path above. */
		ck_pr_fence_release();
		ck_pr_store_uint(&o->done, 1);
	}
	weft_mutex_unlock(&o->m);
	return 0;
}
