/* SPDX-License-Identifier: MIT */
/*
 * Tests for src/mech/runq.c: every node queued comes out exactly once,
 * and a queue that holds nodes never looks empty. Single-threaded cases
 * check, for every ring size from 0 to WEFT_RUNQ_SIZE and at counter
 * positions that wrap 2^32, FIFO pops, steal-half batches, the LIFO slot,
 * overflow to the inject queue, batch pops from it and the length hints;
 * a model test replays random operation mixes against a plain-array
 * model. One case runs an owner and a thief thread and counts "empty"
 * answers given while work provably existed. The file is also built with
 * -DWEFT_RUNQ_SIZE=4u (test_runq_small), so every loop is written in
 * terms of WEFT_RUNQ_SIZE.
 */
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <ck_pr.h>

#include "internal.h"
#include "runq.h"

#define SIZE WEFT_RUNQ_SIZE
#define HALF (WEFT_RUNQ_SIZE / 2u)
#define NITEMS (3u * WEFT_RUNQ_SIZE + 8u)

/*
 * test_runq_small links runq.c alone, without sched.c: this weak
 * definition serves there and yields to sched.c's everywhere else.
 */
__attribute__((weak)) void weft__assert_fail(const char *expr,
					      const char *file, int line)
{
	fprintf(stderr, "weft: assertion failed: %s (%s:%d)\n", expr, file,
		line);
	abort();
}

struct item {
	struct rq_node node;
	unsigned id;		/* index in fx->items */
	unsigned seen;		/* times a queue handed this item out */
};

struct fixture {
	struct runq a;		/* the owner ("victim") ring */
	struct runq b;		/* the thief ring */
	struct injq q;
	struct item items[NITEMS];
};

/* Counter positions to start from: fresh, odd, and across the 2^32 wrap. */
static const unsigned start_pos[] = { 0u, HALF + 1u, UINT_MAX - HALF };

static int setup(void **state)
{
	struct fixture *fx;
	unsigned i;

	if (posix_memalign((void **)&fx, WEFT_CACHELINE, sizeof(*fx)) != 0)
		return -1;
	memset(fx, 0, sizeof(*fx));
	weft__runq_init(&fx->a);
	weft__runq_init(&fx->b);
	weft__injq_init(&fx->q);
	for (i = 0; i < NITEMS; i++)
		fx->items[i].id = i;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

static struct item *item_of(struct rq_node *n)
{
	return n == NULL ? NULL : container_of(n, struct item, node);
}

/* Single-threaded only: move an empty ring's counters to @pos. */
static void set_pos(struct runq *rq, unsigned pos)
{
	/* Test set-up on an idle ring; no other thread sees it. */
	ck_pr_store_uint(&rq->head, pos);
	/* As above. */
	ck_pr_store_uint(&rq->tail, pos);
}

static void clear_seen(struct fixture *fx)
{
	unsigned i;

	for (i = 0; i < NITEMS; i++)
		fx->items[i].seen = 0;
}

static void push_items(struct fixture *fx, struct runq *rq, unsigned from,
		       unsigned count)
{
	unsigned i;

	for (i = from; i < from + count; i++)
		assert_false(weft__runq_push(rq, &fx->items[i].node, &fx->q));
}

/* Pop @count nodes and require them to be items from..from+count-1. */
static void pop_expect(struct fixture *fx, struct runq *rq, unsigned from,
		       unsigned count)
{
	unsigned i;

	for (i = from; i < from + count; i++) {
		struct item *it = item_of(weft__runq_pop(rq));

		assert_ptr_equal(it, &fx->items[i]);
		it->seen++;
	}
}

static void test_runq_push_pop_fifo_each_size(void **state)
{
	struct fixture *fx = *state;
	unsigned p;
	unsigned i;

	for (p = 0; p < sizeof(start_pos) / sizeof(start_pos[0]); p++) {
		weft__runq_init(&fx->a);
		set_pos(&fx->a, start_pos[p]);
		/* The counters keep running, so each size starts elsewhere. */
		for (i = 0; i <= SIZE; i++) {
			assert_null(weft__runq_pop(&fx->a));
			push_items(fx, &fx->a, 0, i);
			assert_int_equal(weft__runq_len(&fx->a), i);
			pop_expect(fx, &fx->a, 0, i);
			assert_null(weft__runq_pop(&fx->a));
			assert_int_equal(weft__runq_len(&fx->a), 0);
			assert_int_equal(weft__injq_len(&fx->q), 0);
		}
	}
}

static void test_runq_steal_takes_half(void **state)
{
	struct fixture *fx = *state;
	unsigned p;
	unsigned i;
	unsigned j;

	for (p = 0; p < sizeof(start_pos) / sizeof(start_pos[0]); p++) {
		weft__runq_init(&fx->a);
		weft__runq_init(&fx->b);
		set_pos(&fx->a, start_pos[p]);
		set_pos(&fx->b, start_pos[p] * 3u + 1u);
		for (i = 0; i <= SIZE; i++) {
			unsigned want = i - i / 2;	/* ceil(i / 2) */
			struct item *got;

			clear_seen(fx);
			push_items(fx, &fx->a, 0, i);
			got = item_of(weft__runq_steal(&fx->b, &fx->a, true));
			if (i == 0) {
				assert_null(got);
				assert_int_equal(weft__runq_len(&fx->b), 0);
				continue;
			}
			/* The thief runs the newest of its batch... */
			assert_ptr_equal(got, &fx->items[want - 1]);
			got->seen++;
			/* ...and queues the older ones in order. */
			assert_int_equal(weft__runq_len(&fx->b), want - 1);
			pop_expect(fx, &fx->b, 0, want - 1);
			assert_null(weft__runq_pop(&fx->b));
			/* The victim keeps the newer floor(i / 2). */
			assert_int_equal(weft__runq_len(&fx->a), i / 2);
			pop_expect(fx, &fx->a, want, i / 2);
			assert_null(weft__runq_pop(&fx->a));
			for (j = 0; j < i; j++)
				assert_int_equal(fx->items[j].seen, 1);
		}
	}
}

static void test_runq_lifo_put_take_displace(void **state)
{
	struct fixture *fx = *state;
	struct rq_node *x = &fx->items[0].node;
	struct rq_node *y = &fx->items[1].node;

	assert_null(weft__runq_lifo_take(&fx->a));
	assert_null(weft__runq_lifo_put(&fx->a, x));
	assert_int_equal(weft__runq_len(&fx->a), 1);
	/* The ring's pop does not look at the LIFO slot. */
	assert_null(weft__runq_pop(&fx->a));
	assert_ptr_equal(weft__runq_lifo_put(&fx->a, y), x);
	assert_int_equal(weft__runq_len(&fx->a), 1);
	assert_ptr_equal(weft__runq_lifo_take(&fx->a), y);
	assert_null(weft__runq_lifo_take(&fx->a));
	assert_int_equal(weft__runq_len(&fx->a), 0);
}

static void test_runq_steal_takes_lifo_only_when_ring_empty(void **state)
{
	struct fixture *fx = *state;
	struct rq_node *l = &fx->items[NITEMS - 1].node;
	unsigned i;

	for (i = 1; i <= SIZE; i++) {
		struct item *got;

		weft__runq_init(&fx->a);
		weft__runq_init(&fx->b);
		push_items(fx, &fx->a, 0, i);
		assert_null(weft__runq_lifo_put(&fx->a, l));
		got = item_of(weft__runq_steal(&fx->b, &fx->a, true));
		assert_ptr_equal(got, &fx->items[i - i / 2 - 1]);
		/* The ring was not empty, so the LIFO node stays put. */
		assert_ptr_equal(weft__runq_lifo_take(&fx->a), l);
	}

	/* Ring empty: the thief takes the LIFO node, and only that; unless
	 * told to leave the slot to its owner for now. */
	weft__runq_init(&fx->a);
	weft__runq_init(&fx->b);
	assert_null(weft__runq_lifo_put(&fx->a, l));
	assert_null(weft__runq_steal(&fx->b, &fx->a, false));
	assert_int_equal(weft__runq_len(&fx->a), 1);
	assert_ptr_equal(weft__runq_steal(&fx->b, &fx->a, true), l);
	assert_int_equal(weft__runq_len(&fx->b), 0);
	assert_int_equal(weft__runq_len(&fx->a), 0);
	assert_null(weft__runq_lifo_take(&fx->a));
	/* Both empty. */
	assert_null(weft__runq_steal(&fx->b, &fx->a, true));
}

/* Take everything from fx->q one node at a time; expect @ids in order. */
static void injq_expect(struct fixture *fx, const unsigned *ids, unsigned n)
{
	unsigned tail = fx->b.tail;
	unsigned i;

	for (i = 0; i < n; i++) {
		struct item *it = item_of(weft__injq_pop_batch(&fx->q, &fx->b,
							       1));

		assert_ptr_equal(it, &fx->items[ids[i]]);
		it->seen++;
	}
	assert_null(weft__injq_pop_batch(&fx->q, &fx->b, 1));
	assert_int_equal(weft__injq_len(&fx->q), 0);
	/* max = 1 never moves a node into the ring. */
	assert_int_equal(fx->b.tail, tail);
}

static void test_runq_overflow_moves_half_and_new_to_injq(void **state)
{
	struct fixture *fx = *state;
	unsigned ids[HALF + 1];
	unsigned p;
	unsigned i;

	for (p = 0; p < sizeof(start_pos) / sizeof(start_pos[0]); p++) {
		weft__runq_init(&fx->a);
		set_pos(&fx->a, start_pos[p]);
		clear_seen(fx);
		push_items(fx, &fx->a, 0, SIZE);
		assert_int_equal(weft__injq_len(&fx->q), 0);
		assert_true(weft__runq_push(&fx->a, &fx->items[SIZE].node,
					    &fx->q));
		assert_int_equal(weft__injq_len(&fx->q), HALF + 1);
		assert_int_equal(weft__runq_len(&fx->a), SIZE - HALF);
		/*
		 * As Go's runqputslow: the inject queue gets the oldest half
		 * in order, then the new node; the ring keeps the newer half
		 * in order.
		 */
		for (i = 0; i < HALF; i++)
			ids[i] = i;
		ids[HALF] = SIZE;
		injq_expect(fx, ids, HALF + 1);
		pop_expect(fx, &fx->a, HALF, SIZE - HALF);
		assert_null(weft__runq_pop(&fx->a));
		for (i = 0; i <= SIZE; i++)
			assert_int_equal(fx->items[i].seen, 1);
	}
}

static void test_runq_overflow_repeats_and_conserves(void **state)
{
	struct fixture *fx = *state;
	unsigned n = 3u * SIZE + 1u;
	unsigned spills = 0;
	unsigned i;
	struct item *it;

	for (i = 0; i < n; i++)
		spills += weft__runq_push(&fx->a, &fx->items[i].node, &fx->q);
	/* A full ring drops to SIZE - HALF; refilling takes HALF pushes. */
	assert_int_equal(spills, (n - SIZE - 1u) / (HALF + 1u) + 1u);
	assert_int_equal(weft__injq_len(&fx->q), spills * (HALF + 1u));
	assert_int_equal(weft__runq_len(&fx->a) + weft__injq_len(&fx->q), n);
	while ((it = item_of(weft__injq_pop_batch(&fx->q, &fx->b, 1))) != NULL)
		it->seen++;
	while ((it = item_of(weft__runq_pop(&fx->a))) != NULL)
		it->seen++;
	for (i = 0; i < n; i++)
		assert_int_equal(fx->items[i].seen, 1);
}

static void test_injq_pop_batch_moves_up_to_max_minus_one(void **state)
{
	struct fixture *fx = *state;
	unsigned n = SIZE + 3u;
	unsigned next = 0;
	unsigned max;
	unsigned i;

	assert_null(weft__injq_pop_batch(&fx->q, &fx->a, SIZE + 1u));
	assert_int_equal(weft__runq_len(&fx->a), 0);
	for (i = 0; i < n; i++)
		weft__injq_push(&fx->q, &fx->items[i].node);
	assert_int_equal(weft__injq_len(&fx->q), n);

	/* Batches of every allowed size, each FIFO, until the queue runs dry. */
	for (max = 1; next < n; max = max % (SIZE + 1u) + 1u) {
		unsigned left = n - next;
		unsigned k = left < max ? left : max;

		assert_ptr_equal(weft__injq_pop_batch(&fx->q, &fx->a, max),
				 &fx->items[next].node);
		fx->items[next].seen++;
		assert_int_equal(weft__runq_len(&fx->a), k - 1);
		assert_int_equal(weft__injq_len(&fx->q), left - k);
		pop_expect(fx, &fx->a, next + 1, k - 1);
		next += k;
	}
	assert_null(weft__injq_pop_batch(&fx->q, &fx->a, SIZE + 1u));
	assert_int_equal(weft__runq_len(&fx->a), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(fx->items[i].seen, 1);
}

static void test_runq_len_hints(void **state)
{
	struct fixture *fx = *state;
	struct rq_node *l = &fx->items[NITEMS - 1].node;
	struct rq_node *got;

	assert_int_equal(weft__runq_len(&fx->a), 0);
	assert_int_equal(weft__injq_len(&fx->q), 0);
	push_items(fx, &fx->a, 0, SIZE);
	assert_int_equal(weft__runq_len(&fx->a), SIZE);
	/* A full ring plus the LIFO slot: the hint may exceed SIZE by one. */
	assert_null(weft__runq_lifo_put(&fx->a, l));
	assert_int_equal(weft__runq_len(&fx->a), SIZE + 1u);
	got = weft__runq_steal(&fx->b, &fx->a, true);
	assert_non_null(got);
	assert_int_equal(weft__runq_len(&fx->a), SIZE - HALF + 1u);
	assert_int_equal(weft__runq_len(&fx->b), HALF - 1u);
	weft__injq_push(&fx->q, got);
	assert_int_equal(weft__injq_len(&fx->q), 1);
	assert_ptr_equal(weft__runq_lifo_take(&fx->a), l);
	assert_int_equal(weft__runq_len(&fx->a), SIZE - HALF);
}

/*
 * The model: plain arrays of item ids for each ring, the LIFO slot and
 * the inject queue, updated by the rules the interface promises.
 */
struct model_ring {
	unsigned ids[SIZE];
	unsigned n;
	unsigned lifo;		/* id + 1, or 0 when empty */
};

struct model {
	struct model_ring r[2];
	unsigned q[NITEMS];
	unsigned qn;
	unsigned free_ids[NITEMS];
	unsigned nfree;
	uint32_t rng;
};

static uint32_t rnd(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

static unsigned ring_take_front(struct model_ring *m, unsigned k,
				unsigned *out)
{
	unsigned i;

	for (i = 0; i < k; i++)
		out[i] = m->ids[i];
	memmove(m->ids, m->ids + k, (m->n - k) * sizeof(m->ids[0]));
	m->n -= k;
	return k;
}

static void ring_append(struct model_ring *m, unsigned id)
{
	assert_true(m->n < SIZE);
	m->ids[m->n++] = id;
}

/* The expected result of pushing @id on ring @m. */
static bool model_push(struct model *m, struct model_ring *r, unsigned id)
{
	unsigned moved[SIZE];

	if (r->n < SIZE) {
		ring_append(r, id);
		return false;
	}
	ring_take_front(r, HALF, moved);
	memcpy(m->q + m->qn, moved, HALF * sizeof(moved[0]));
	m->qn += HALF;
	m->q[m->qn++] = id;
	return true;
}

/* A node came out of a queue: check it is @want (id + 1, 0 for NULL). */
static void model_out(struct fixture *fx, struct model *m,
		      struct rq_node *got, unsigned want)
{
	if (want == 0) {
		assert_null(got);
		return;
	}
	assert_ptr_equal(got, &fx->items[want - 1].node);
	m->free_ids[m->nfree++] = want - 1;
}

static void model_step(struct fixture *fx, struct model *m)
{
	struct runq *rq[2] = { &fx->a, &fx->b };
	unsigned w = rnd(&m->rng) & 1u;
	struct runq *me = rq[w];
	struct model_ring *mr = &m->r[w];
	struct model_ring *other = &m->r[!w];
	unsigned op = rnd(&m->rng) % 8u;
	unsigned batch[SIZE];
	unsigned id;
	unsigned k;

	if (op <= 1 && m->nfree > 0) {
		/* Push a free item; the slot in free_ids is reused. */
		k = rnd(&m->rng) % m->nfree;
		id = m->free_ids[k];
		m->free_ids[k] = m->free_ids[--m->nfree];
		assert_int_equal(weft__runq_push(me, &fx->items[id].node,
						 &fx->q),
				 model_push(m, mr, id));
	} else if (op == 2) {
		k = mr->n > 0 ? mr->ids[0] + 1 : 0;
		if (k != 0)
			ring_take_front(mr, 1, batch);
		model_out(fx, m, weft__runq_pop(me), k);
	} else if (op == 3 && m->nfree > 0) {
		struct rq_node *old;

		id = m->free_ids[--m->nfree];
		old = weft__runq_lifo_put(me, &fx->items[id].node);
		k = mr->lifo;
		mr->lifo = id + 1;
		if (k == 0) {
			assert_null(old);
		} else {
			/* The caller must push what it displaced. */
			assert_ptr_equal(old, &fx->items[k - 1].node);
			assert_int_equal(weft__runq_push(me, old, &fx->q),
					 model_push(m, mr, k - 1));
		}
	} else if (op == 4) {
		k = mr->lifo;
		mr->lifo = 0;
		model_out(fx, m, weft__runq_lifo_take(me), k);
	} else if (op == 5 && mr->n <= HALF) {
		/* Steal from the other ring into this one. */
		unsigned n = other->n;

		if (n == 0) {
			k = other->lifo;
			other->lifo = 0;
		} else {
			unsigned take = n - n / 2;
			unsigned i;

			ring_take_front(other, take, batch);
			for (i = 0; i + 1 < take; i++)
				ring_append(mr, batch[i]);
			k = batch[take - 1] + 1;
		}
		model_out(fx, m, weft__runq_steal(me, rq[!w], true), k);
	} else if (op == 6) {
		unsigned max = rnd(&m->rng) % (SIZE - mr->n + 1u) + 1u;
		unsigned i;

		k = m->qn < max ? m->qn : max;
		id = k > 0 ? m->q[0] + 1 : 0;
		for (i = 1; i < k; i++)
			ring_append(mr, m->q[i]);
		memmove(m->q, m->q + k, (m->qn - k) * sizeof(m->q[0]));
		m->qn -= k;
		model_out(fx, m, weft__injq_pop_batch(&fx->q, me, max), id);
	}
	assert_int_equal(weft__runq_len(&fx->a),
			 m->r[0].n + (m->r[0].lifo != 0));
	assert_int_equal(weft__runq_len(&fx->b),
			 m->r[1].n + (m->r[1].lifo != 0));
	assert_int_equal(weft__injq_len(&fx->q), m->qn);
}

static void test_runq_matches_model(void **state)
{
	struct fixture *fx = *state;
	struct model *m;
	unsigned seed;
	unsigned i;

	m = calloc(1, sizeof(*m));
	assert_non_null(m);
	for (seed = 1; seed <= 8; seed++) {
		struct rq_node *x;

		weft__runq_init(&fx->a);
		weft__runq_init(&fx->b);
		set_pos(&fx->a, start_pos[seed % 3]);
		set_pos(&fx->b, start_pos[(seed + 1) % 3]);
		memset(m, 0, sizeof(*m));
		m->rng = seed * 2654435761u;
		for (i = 0; i < NITEMS; i++)
			m->free_ids[m->nfree++] = i;
		for (i = 0; i < 20000; i++)
			model_step(fx, m);
		/* Drain the inject queue so the next seed starts empty. */
		while ((x = weft__injq_pop_batch(&fx->q, &fx->a, 1)) != NULL)
			;
	}
	free(m);
}

/*
 * Never spuriously empty (after Go's
 * RunSchedLocalQueueEmptyTest and CK's never-empty-under-reuse test).
 *
 * Three items circulate: the owner pops one (ring, else LIFO slot, else
 * the inject queue) and at once puts it back (ring or LIFO slot); the
 * thief steals from the owner and hands everything it got back through
 * the inject queue. So the owner holds at most one item, and the thief at
 * most two (a steal of ceil(n/2) from n <= 3).
 *
 * Owner check: when the owner holds nothing and finds its ring, its LIFO
 * slot and then the inject queue empty, that is a bug. Only the owner
 * refills its ring and slot, so both stayed empty until the inject queue
 * was read; at that moment the thief held at most two of the three items,
 * so the inject queue held at least one.
 *
 * Thief check: before stealing, holding nothing, the thief reads how many
 * items the owner has taken from the inject queue (stored after each
 * take, so a lower bound) and knows how many it put there; the
 * difference bounds the inject queue from above while the steal runs (it
 * can only shrink, as the thief is not pushing). If that bound is at most
 * one, the owner's ring and slot held at least one item throughout (three
 * items, the owner holding at most one), so an empty steal is a bug.
 */
struct spurious {
	struct runq *owner;
	struct runq *thief;
	struct injq *q;
	unsigned long iters;	/* owner operations, at least */
	unsigned min_steals;	/* thief steals the owner waits for */
	int64_t deadline_ns;	/* or until this CLOCK_MONOTONIC time */
	unsigned ready;		/* start line: both threads add one */
	unsigned stop;		/* set by the owner when done */
	unsigned nsteals;	/* thief: successful steals, for the owner */
	unsigned long ops;	/* owner: operations done */
	unsigned q_taken;	/* owner: items taken from q, a lower bound */
	/* Failure and statistics counters, read after join. */
	unsigned long owner_empty;
	unsigned long thief_empty;
	unsigned long overflows;
	unsigned long armed;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Both threads start together, so that they really overlap. */
static void start_line(struct spurious *s)
{
	/* The only RMW on ready; the loads below spin on its result. */
	ck_pr_inc_uint(&s->ready);
	/* Spin until both have arrived; no data rides on it. */
	while (ck_pr_load_uint(&s->ready) < 2)
		ck_pr_stall();
}

/* Owner: enough operations and enough steals, or out of time. */
static bool spurious_done(struct spurious *s, unsigned long i)
{
	if ((i & 4095u) != 0)
		return false;
	if (now_ns() > s->deadline_ns)
		return true;
	/* Statistics only; a stale value just means another round. */
	return i >= s->iters && ck_pr_load_uint(&s->nsteals) >= s->min_steals;
}

static void *spurious_owner(void *arg)
{
	struct spurious *s = arg;
	struct runq *rq = s->owner;
	unsigned taken = 0;
	uint32_t rng = 12345;
	unsigned long i;

	start_line(s);
	for (i = 0; !spurious_done(s, i); i++) {
		unsigned r = rnd(&rng);
		struct rq_node *x = NULL;
		struct rq_node *y;

		if ((r & 7u) == 0)
			x = weft__runq_lifo_take(rq);
		if (x == NULL)
			x = weft__runq_pop(rq);
		if (x == NULL)
			x = weft__runq_lifo_take(rq);
		if (x == NULL) {
			/* Owner's own tail: counts what the batch moved. */
			unsigned t = ck_pr_load_uint(&rq->tail);

			x = weft__injq_pop_batch(s->q, rq, 2);
			if (x != NULL) {
				/* As above. */
				taken += 1 + ck_pr_load_uint(&rq->tail) - t;
				/*
				 * Release: the pops happen before the count
				 * is seen. Pairs with the fence_load after
				 * the thief reads q_taken.
				 */
				ck_pr_fence_release();
				/* A lower bound for the thief; see above. */
				ck_pr_store_uint(&s->q_taken, taken);
			}
		}
		if (x == NULL) {
			s->owner_empty++;
			continue;
		}
		if ((r & 48u) == 0) {
			y = weft__runq_lifo_put(rq, x);
			if (y != NULL && weft__runq_push(rq, y, s->q))
				s->overflows++;
		} else if (weft__runq_push(rq, x, s->q)) {
			s->overflows++;
		}
		if ((r & 0xf00u) == 0)
			for (r >>= 16; (r & 63u) != 0; r--)
				ck_pr_stall();
	}
	s->ops = i;
	/* Releases the thief's loop; no data rides on it (join follows). */
	ck_pr_store_uint(&s->stop, 1);
	return NULL;
}

static void *spurious_thief(void *arg)
{
	struct spurious *s = arg;
	unsigned given = 0;
	unsigned steals = 0;

	start_line(s);
	/* Set once by the owner; a late read only costs one more pass. */
	while (ck_pr_load_uint(&s->stop) == 0) {
		/* See the owner's release fence. */
		unsigned qt = ck_pr_load_uint(&s->q_taken);
		struct rq_node *x;

		/*
		 * Load-load: q_taken is read before the steal's loads of the
		 * owner's ring. Pairs with the owner's release fence.
		 */
		ck_pr_fence_load();
		if (given - qt <= 1)
			s->armed++;
		x = weft__runq_steal(s->thief, s->owner, true);
		if (x == NULL) {
			if (given - qt <= 1)
				s->thief_empty++;
			continue;
		}
		/* Progress report for spurious_done(); only we write it. */
		ck_pr_store_uint(&s->nsteals, ++steals);
		do {
			weft__injq_push(s->q, x);
			given++;
		} while ((x = weft__runq_pop(s->thief)) != NULL);
	}
	return NULL;
}

/* TSan runs this loop some 20 times slower: ask for less there. */
static bool under_tsan(void)
{
	const char *san = getenv("WEFT_SANITIZE");

#ifdef WEFT_TSAN
	san = "thread";
#endif
	return san != NULL && strstr(san, "thread") != NULL;
}

static void test_runq_never_spuriously_empty(void **state)
{
	struct fixture *fx = *state;
	struct spurious s = {
		.owner = &fx->a,
		.thief = &fx->b,
		.q = &fx->q,
		.iters = under_tsan() ? 100000 : 1000000,
		.min_steals = under_tsan() ? 10000 : 100000,
		.deadline_ns = now_ns() + 2000000000,
	};
	pthread_t to;
	pthread_t tt;
	struct item *it;
	unsigned i;

	push_items(fx, &fx->a, 0, 3);
	assert_int_equal(pthread_create(&tt, NULL, spurious_thief, &s), 0);
	assert_int_equal(pthread_create(&to, NULL, spurious_owner, &s), 0);
	assert_int_equal(pthread_join(to, NULL), 0);
	assert_int_equal(pthread_join(tt, NULL), 0);
	print_message("owner ops %lu, steals %u, armed steals %lu\n", s.ops,
		      s.nsteals, s.armed);
	/* The two threads did overlap (a weak check, not to be flaky). */
	assert_true(s.nsteals > 0);
	assert_int_equal(s.owner_empty, 0);
	assert_int_equal(s.thief_empty, 0);
	assert_int_equal(s.overflows, 0);

	/* All three items are still there, each exactly once. */
	clear_seen(fx);
	while ((it = item_of(weft__runq_pop(&fx->a))) != NULL)
		it->seen++;
	if ((it = item_of(weft__runq_lifo_take(&fx->a))) != NULL)
		it->seen++;
	while ((it = item_of(weft__runq_pop(&fx->b))) != NULL)
		it->seen++;
	while ((it = item_of(weft__injq_pop_batch(&fx->q, &fx->b, 1))) != NULL)
		it->seen++;
	for (i = 0; i < NITEMS; i++)
		assert_int_equal(fx->items[i].seen, i < 3 ? 1 : 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_runq_push_pop_fifo_each_size, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_runq_steal_takes_half, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_runq_lifo_put_take_displace, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_runq_steal_takes_lifo_only_when_ring_empty, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_runq_overflow_moves_half_and_new_to_injq, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_runq_overflow_repeats_and_conserves, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_injq_pop_batch_moves_up_to_max_minus_one, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_runq_len_hints, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_runq_matches_model, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_runq_never_spuriously_empty, setup, teardown),
	};

	return cmocka_run_group_tests_name("runq", tests, NULL, NULL);
}
