/* SPDX-License-Identifier: MIT */
/*
 * Tests for src/mech/forkq.c, the bounded Chase-Lev fork deque. Single-threaded
 * cases check, for every fill from 0 to WEFT_FORKQ_SIZE and at counter
 * positions that wrap 2^32: pops newest first, steals oldest first, pops
 * and steals mixed taking each node exactly once, pop_if (and its
 * two-step form) taking only the newest node and only when named, push refusing exactly
 * when WEFT_FORKQ_SIZE nodes are held and losing nothing, counters run
 * far past 2^32, solo mode, and the length hint after every operation; a
 * model test replays random operation mixes against a plain-array model.
 * One case runs an owner (taking by pop half the rounds, by pop_if or
 * by its two-step form the others)
 * and a thief thread racing for the last node and
 * checks that each node is taken exactly once. The file is also built
 * with -DWEFT_FORKQ_SIZE=4u (test_forkq_small), so every loop is written
 * in terms of WEFT_FORKQ_SIZE.
 */
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <ck_pr.h>

#include "forkq.h"
#include "internal.h"

#define SIZE WEFT_FORKQ_SIZE
/* More than SIZE + 1, so that a full deque leaves items to offer it. */
#define NITEMS (2u * WEFT_FORKQ_SIZE + 8u)
#define NPOS (sizeof(start_pos) / sizeof(start_pos[0]))

struct item {
	struct rq_node node;
	unsigned id;		/* index in fx->items */
	unsigned pushed;	/* times pushed successfully */
	unsigned seen;		/* times the deque handed this item out */
};

struct fixture {
	struct forkq q;
	struct item items[NITEMS];
};

/*
 * Counter positions to start from: fresh, odd, just before the 2^32 wrap
 * (UINT_MAX - 5 wraps after six pushes, inside one fill for the default
 * size) and half a deque before it (a full deque straddles the wrap).
 */
static const unsigned start_pos[] = {
	0u, SIZE / 2u + 1u, UINT_MAX - 5u, UINT_MAX - SIZE / 2u
};

static int setup(void **state)
{
	struct fixture *fx;
	unsigned i;

	/* struct forkq is cache-line aligned. */
	if (posix_memalign((void **)&fx, WEFT_CACHELINE, sizeof(*fx)) != 0)
		return -1;
	memset(fx, 0, sizeof(*fx));
	weft__forkq_init(&fx->q, false);
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

/*
 * Single-threaded only: a fresh deque whose counters both stand at @pos,
 * set right after init and before use, as no other thread sees it.
 */
static void reset(struct fixture *fx, unsigned pos, bool solo)
{
	unsigned i;

	weft__forkq_init(&fx->q, solo);
	ck_pr_store_uint(&fx->q.top, pos);
	ck_pr_store_uint(&fx->q.bottom, pos);
	for (i = 0; i < NITEMS; i++) {
		fx->items[i].pushed = 0;
		fx->items[i].seen = 0;
	}
}

static void push_ok(struct fixture *fx, unsigned id)
{
	unsigned len = weft__forkq_len(&fx->q);

	assert_true(weft__forkq_push(&fx->q, &fx->items[id].node));
	fx->items[id].pushed++;
	assert_int_equal(weft__forkq_len(&fx->q), len + 1);
}

/* Push items @from..@from+@count-1 in that order. */
static void push_range(struct fixture *fx, unsigned from, unsigned count)
{
	unsigned i;

	for (i = from; i < from + count; i++)
		push_ok(fx, i);
}

/* A refused push changes nothing. */
static void push_full(struct fixture *fx, unsigned id)
{
	unsigned top = fx->q.top;
	unsigned bottom = fx->q.bottom;

	assert_int_equal(weft__forkq_len(&fx->q), SIZE);
	assert_false(weft__forkq_push(&fx->q, &fx->items[id].node));
	assert_int_equal(fx->q.top, top);
	assert_int_equal(fx->q.bottom, bottom);
	assert_int_equal(weft__forkq_len(&fx->q), SIZE);
}

/* @got came out of the deque: it must be item @id (or NULL for -1). */
static void took(struct fixture *fx, struct rq_node *got, int id,
		 unsigned len)
{
	if (id < 0) {
		assert_null(got);
	} else {
		assert_ptr_equal(item_of(got), &fx->items[id]);
		fx->items[id].seen++;
	}
	assert_int_equal(weft__forkq_len(&fx->q), len);
}

static void pop_expect(struct fixture *fx, int id)
{
	unsigned len = weft__forkq_len(&fx->q);

	took(fx, weft__forkq_pop(&fx->q), id, id < 0 ? 0 : len - 1);
}

static void steal_expect(struct fixture *fx, int id)
{
	unsigned len = weft__forkq_len(&fx->q);

	took(fx, weft__forkq_steal(&fx->q), id, id < 0 ? 0 : len - 1);
}

/* The deque is empty, and says so to both kinds of taker. */
static void expect_empty(struct fixture *fx)
{
	assert_int_equal(weft__forkq_len(&fx->q), 0);
	pop_expect(fx, -1);
	if (!fx->q.solo)
		steal_expect(fx, -1);
	pop_expect(fx, -1);
	/* A taker that found it empty left it consistent, not below. */
	assert_int_equal(fx->q.top, fx->q.bottom);
}

/* Every item was handed out exactly as often as it was pushed. */
static void expect_conserved(struct fixture *fx)
{
	unsigned i;

	for (i = 0; i < NITEMS; i++)
		assert_int_equal(fx->items[i].seen, fx->items[i].pushed);
}

static void test_forkq_push_pop_lifo(void **state)
{
	struct fixture *fx = *state;
	unsigned p;
	unsigned n;
	unsigned i;

	for (p = 0; p < NPOS; p++) {
		reset(fx, start_pos[p], false);
		/* The counters keep running, so each fill starts elsewhere. */
		for (n = 0; n <= SIZE; n++) {
			expect_empty(fx);
			push_range(fx, 0, n);
			for (i = n; i > 0; i--)
				pop_expect(fx, (int)i - 1);
			expect_empty(fx);
		}
		expect_conserved(fx);
	}
}

static void test_forkq_steal_fifo(void **state)
{
	struct fixture *fx = *state;
	unsigned p;
	unsigned n;
	unsigned i;

	for (p = 0; p < NPOS; p++) {
		reset(fx, start_pos[p], false);
		for (n = 0; n <= SIZE; n++) {
			unsigned top = fx->q.top;

			push_range(fx, 0, n);
			for (i = 0; i < n; i++)
				steal_expect(fx, (int)i);
			expect_empty(fx);
			/* Each steal moved top by one, and nothing else did. */
			assert_int_equal(fx->q.top, top + n);
		}
		expect_conserved(fx);
	}
}

/*
 * weft__forkq_pop_if() as a join takes its child (fiber.c): the deque's
 * two steps around a full barrier of the caller's own, a CAS.
 */
static bool split_pop_if(struct forkq *q, struct rq_node *n)
{
	uint64_t word = 0;

	if (!weft__forkq_pop_begin(q, n))
		return false;
	/* The caller's barrier, as the join's claim: pairs with the fence
	 * in weft__forkq_steal(), through weft__forkq_pop_end(). */
	(void)ck_pr_cas_64(&word, 0, 1);
	return weft__forkq_pop_end(q);
}

/* Take @n by name: by pop_if, or @split, in two steps. */
static bool take_named(struct forkq *q, struct rq_node *n, bool split)
{
	return split ? split_pop_if(q, n) : weft__forkq_pop_if(q, n);
}

/*
 * weft__forkq_pop_if() of @id, or its two-step form: taken (len - 1) or
 * refused (nothing moved).
 */
static void pop_if_expect(struct fixture *fx, unsigned id, bool taken,
			  bool split)
{
	unsigned top = fx->q.top;
	unsigned bottom = fx->q.bottom;
	unsigned len = weft__forkq_len(&fx->q);

	assert_int_equal(take_named(&fx->q, &fx->items[id].node, split),
			 taken);
	if (taken) {
		fx->items[id].seen++;
		assert_int_equal(weft__forkq_len(&fx->q), len - 1);
	} else {
		assert_int_equal(fx->q.top, top);
		assert_int_equal(fx->q.bottom, bottom);
	}
}

/*
 * pop_if takes only the newest node, and only when it is the one named:
 * at every fill, in both modes, it refuses every older node and a node
 * already stolen, and empties the deque newest first; so does its
 * two-step form (pop_begin, the caller's barrier, pop_end).
 */
static void test_forkq_pop_if(void **state)
{
	struct fixture *fx = *state;
	unsigned p, n, i, solo, sp;

	for (sp = 0; sp <= 1; sp++)
	for (solo = 0; solo <= 1; solo++) {
		for (p = 0; p < NPOS; p++) {
			reset(fx, start_pos[p], solo);
			for (n = 0; n <= SIZE; n++) {
				push_range(fx, 0, n);
				/* A steal takes the oldest: now refused. */
				if (!solo && n > 1) {
					steal_expect(fx, 0);
					pop_if_expect(fx, 0, false, sp);
				}
				for (i = n; i > (!solo && n > 1 ? 1u : 0u); i--) {
					/* Older ones and an absent one: no. */
					if (i >= 2)
						pop_if_expect(fx, i - 2, false, sp);
					pop_if_expect(fx, n, false, sp);
					pop_if_expect(fx, i - 1, true, sp);
				}
				pop_if_expect(fx, 0, false, sp);
				expect_empty(fx);
			}
			expect_conserved(fx);
		}
	}
}

/*
 * Pops and steals in turn from a full deque: pops take the newest left,
 * steals the oldest left, and the two ends meet without a node taken
 * twice or skipped; also from each end first, and at every fill.
 */
static void test_forkq_pop_and_steal_mixed(void **state)
{
	struct fixture *fx = *state;
	unsigned p;
	unsigned n;
	unsigned pop_first;

	for (p = 0; p < NPOS; p++) {
		reset(fx, start_pos[p], false);
		for (pop_first = 0; pop_first <= 1; pop_first++) {
			for (n = 0; n <= SIZE; n++) {
				int lo = 0;
				int hi = (int)n - 1;
				unsigned turn = pop_first;

				push_range(fx, 0, n);
				while (lo <= hi) {
					if (turn++ & 1u)
						pop_expect(fx, hi--);
					else
						steal_expect(fx, lo++);
				}
				expect_empty(fx);
			}
		}
		expect_conserved(fx);
	}
}

/*
 * Push refuses exactly when SIZE nodes are held, changes nothing when it
 * does, and takes again as soon as either end frees a slot: the slot a
 * steal frees is the one the next push reuses.
 */
static void test_forkq_push_full(void **state)
{
	struct fixture *fx = *state;
	unsigned extra = SIZE;
	unsigned p;
	unsigned i;

	for (p = 0; p < NPOS; p++) {
		reset(fx, start_pos[p], false);
		push_range(fx, 0, SIZE);
		push_full(fx, extra);
		push_full(fx, extra);

		/* A steal makes room at the top; the push reuses its slot... */
		steal_expect(fx, 0);
		push_ok(fx, extra);
		assert_ptr_equal(fx->q.slots[start_pos[p] % SIZE],
				 &fx->items[extra].node);
		push_full(fx, extra + 1);
		/* ...and what went there is the newest. */
		pop_expect(fx, (int)extra);

		/* A pop makes room at the bottom. */
		push_ok(fx, extra + 1);
		push_full(fx, extra + 2);
		pop_expect(fx, (int)extra + 1);

		/* Nothing was lost or reordered by the refusals. */
		for (i = SIZE; i > 1; i--)
			pop_expect(fx, (int)i - 1);
		expect_empty(fx);
		expect_conserved(fx);
		assert_int_equal(fx->items[extra + 2].seen, 0);
	}
}

/*
 * The counters run on far past 2^32: cycles that fill the deque to every
 * level and empty it by steals and pops, from UINT_MAX - 5. A steal or
 * the pop of the last node moves top, so both counters wrap. Order and
 * the length hint are checked all the way, and the deque is full (and
 * only then) whenever SIZE nodes are held, wherever the wrap falls.
 */
static void test_forkq_counters_wrap(void **state)
{
	struct fixture *fx = *state;
	unsigned start = UINT_MAX - 5u;
	unsigned cycle;
	unsigned i;

	reset(fx, start, false);
	for (cycle = 0; cycle < 4u * SIZE + 16u; cycle++) {
		unsigned n = cycle % SIZE + 1u;
		unsigned nsteal = (cycle / 2u) % (n + 1u);

		push_range(fx, 0, n);
		if (n == SIZE)
			push_full(fx, n);
		for (i = 0; i < nsteal; i++)
			steal_expect(fx, (int)i);
		for (i = n; i > nsteal; i--)
			pop_expect(fx, (int)i - 1);
		expect_empty(fx);
	}
	expect_conserved(fx);
	/* Both counters went round past 2^32. */
	assert_true(fx->q.top < start);
	assert_int_equal(fx->q.bottom, fx->q.top);
}

/*
 * Solo mode (one worker, no thieves): pops newest first without touching
 * top, say empty when empty however often asked, and the deque still
 * fills to exactly SIZE; across the wrap too.
 */
static void test_forkq_solo(void **state)
{
	struct fixture *fx = *state;
	unsigned p;
	unsigned n;
	unsigned i;

	for (p = 0; p < NPOS; p++) {
		reset(fx, start_pos[p], true);
		for (n = 0; n <= SIZE; n++) {
			expect_empty(fx);
			push_range(fx, 0, n);
			if (n == SIZE)
				push_full(fx, n);
			/* Interleave pushes with the pops: still LIFO. */
			if (n >= 2) {
				pop_expect(fx, (int)n - 1);
				pop_expect(fx, (int)n - 2);
				push_ok(fx, n);
				pop_expect(fx, (int)n);
				push_range(fx, n - 2, 2);
			}
			for (i = n; i > 0; i--)
				pop_expect(fx, (int)i - 1);
			expect_empty(fx);
			expect_empty(fx);
		}
		expect_conserved(fx);
		/* White box: a solo pop is a plain decrement of bottom. */
		assert_int_equal(fx->q.top, start_pos[p]);
		assert_int_equal(fx->q.bottom, start_pos[p]);
	}
}

/* The length hint through the cases the others pass quickly. */
static void test_forkq_len(void **state)
{
	struct fixture *fx = *state;
	unsigned p;

	for (p = 0; p < NPOS; p++) {
		reset(fx, start_pos[p], false);
		assert_int_equal(weft__forkq_len(&fx->q), 0);
		/* Pops and steals of an empty deque leave it at 0. */
		pop_expect(fx, -1);
		steal_expect(fx, -1);
		assert_int_equal(weft__forkq_len(&fx->q), 0);
		push_ok(fx, 0);
		assert_int_equal(weft__forkq_len(&fx->q), 1);
		pop_expect(fx, 0);
		assert_int_equal(weft__forkq_len(&fx->q), 0);
		push_range(fx, 1, 2);
		assert_int_equal(weft__forkq_len(&fx->q), 2);
		steal_expect(fx, 1);
		assert_int_equal(weft__forkq_len(&fx->q), 1);
		steal_expect(fx, 2);
		assert_int_equal(weft__forkq_len(&fx->q), 0);
		push_range(fx, 3, SIZE);
		assert_int_equal(weft__forkq_len(&fx->q), SIZE);
		push_full(fx, 3 + SIZE);
		/* Full again through a slot a steal freed, maybe past 2^32. */
		steal_expect(fx, 3);
		push_ok(fx, 3 + SIZE);
		assert_int_equal(weft__forkq_len(&fx->q), SIZE);
		while (weft__forkq_len(&fx->q) > 0)
			assert_non_null(weft__forkq_pop(&fx->q));
		expect_empty(fx);
	}
}

/* The model: item ids in the deque, oldest first. */
struct model {
	unsigned ids[SIZE];
	unsigned n;
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

/* @push_w in 8: how often to push; below 4 the deque drains. */
static void model_step(struct fixture *fx, struct model *m, unsigned push_w)
{
	uint32_t r = rnd(&m->rng);
	struct rq_node *got;
	int want = -1;

	if ((r & 7u) < push_w) {
		unsigned k = (r >> 8) % m->nfree;
		unsigned id = m->free_ids[k];
		bool ok = weft__forkq_push(&fx->q, &fx->items[id].node);

		assert_int_equal(ok, m->n < SIZE);
		if (ok) {
			fx->items[id].pushed++;
			m->free_ids[k] = m->free_ids[--m->nfree];
			m->ids[m->n++] = id;
		}
	} else {
		bool steal = (r >> 3) & 1u;

		if (m->n > 0 && steal) {
			want = (int)m->ids[0];
			memmove(m->ids, m->ids + 1,
				(m->n - 1) * sizeof(m->ids[0]));
			m->n--;
		} else if (m->n > 0) {
			want = (int)m->ids[--m->n];
		}
		got = steal ? weft__forkq_steal(&fx->q) :
			      weft__forkq_pop(&fx->q);
		took(fx, got, want, m->n);
		if (want >= 0)
			m->free_ids[m->nfree++] = (unsigned)want;
	}
	assert_int_equal(weft__forkq_len(&fx->q), m->n);
}

static void test_forkq_matches_model(void **state)
{
	struct fixture *fx = *state;
	struct model *m;
	unsigned seed;
	unsigned i;

	m = calloc(1, sizeof(*m));
	assert_non_null(m);
	for (seed = 1; seed <= 8; seed++) {
		reset(fx, start_pos[seed % NPOS], false);
		memset(m, 0, sizeof(*m));
		m->rng = seed * 2654435761u;
		for (i = 0; i < NITEMS; i++)
			m->free_ids[m->nfree++] = i;
		/* Phases that mostly fill (so pushes get refused), mostly
		 * drain (so it often runs empty), and stay level. */
		for (i = 0; i < 40000; i++)
			model_step(fx, m, (unsigned[]){ 6, 2, 4, 7 }
					  [(i / 1000u) % 4u]);
		while (m->n > 0) {
			took(fx, weft__forkq_pop(&fx->q), (int)m->ids[m->n - 1],
			     m->n - 1);
			m->n--;
		}
		expect_empty(fx);
		expect_conserved(fx);
	}
	free(m);
}

/*
 * The race for the last node: the owner pushes one or two nodes, waits a
 * random while, and pops them back; a thief steals all the time, so it
 * often holds the last node's position when the owner's pop gets there,
 * and both CAS top. Each node must be taken exactly once: the owner's
 * pops return what it pushed (newest first) or NULL, and NULL for good
 * once the deque is empty; the thief takes nodes in push order; the
 * deque is empty after each of the owner's rounds. The counters start
 * just before 2^32, so the race runs across the wrap as well.
 */
struct race {
	struct forkq *q;
	struct item *items;
	unsigned nitems;
	unsigned ready;		/* start line: both threads add one */
	unsigned stop;		/* set by the owner when done */
	unsigned progress;	/* thief: nodes taken, for the owner */
	/* Counters read after the join. */
	unsigned long owner_takes;
	unsigned long owner_nulls;
	unsigned long thief_takes;
	unsigned long thief_misses;
	unsigned long owner_wrong;	/* a pop returned the wrong node */
	unsigned long owner_not_empty;	/* left nodes after its pops */
	unsigned long thief_order;	/* thief took nodes out of order */
	unsigned double_claims;		/* ck_pr_inc by either thread */
};

/* Counts takers; read on the main thread after the join. */
static void race_claim(struct race *s, struct rq_node *n)
{
	if (ck_pr_faa_uint(&item_of(n)->seen, 1) != 0)
		ck_pr_inc_uint(&s->double_claims);
}

static void start_line(struct race *s)
{
	/* The only RMW on ready; the loads below spin on its result. */
	ck_pr_inc_uint(&s->ready);
	/* Spin until both have arrived; no data rides on it. */
	while (ck_pr_load_uint(&s->ready) < 2)
		ck_pr_stall();
}

/*
 * Pop once, expecting @want or NULL; *@empty once a pop said empty. A
 * round in two takes by weft__forkq_pop(), the others name the node, by
 * weft__forkq_pop_if() or in two steps around a barrier (@how 0, 1, 2).
 */
static void race_pop(struct race *s, struct item *want, bool *empty,
		     unsigned how)
{
	struct rq_node *n;

	if (how)
		n = take_named(s->q, &want->node, how == 2) ? &want->node
							    : NULL;
	else
		n = weft__forkq_pop(s->q);

	if (n == NULL) {
		s->owner_nulls++;
		*empty = true;
		return;
	}
	if (*empty || item_of(n) != want)
		s->owner_wrong++;
	s->owner_takes++;
	race_claim(s, n);
}

static void *race_owner(void *arg)
{
	struct race *s = arg;
	uint32_t rng = 12345;
	unsigned i = 0;

	start_line(s);
	while (i + 2 <= s->nitems) {
		uint32_t r = rnd(&rng);
		unsigned k = (r & 3u) == 0 ? 2 : 1;
		bool empty = false;
		unsigned spin, how;

		if (!weft__forkq_push(s->q, &s->items[i].node) ||
		    (k == 2 && !weft__forkq_push(s->q,
						 &s->items[i + 1].node))) {
			/* Cannot be full: it is empty at each round's start. */
			s->owner_wrong++;
			break;
		}
		/* Sometimes none, mostly short, now and then long. */
		spin = (r >> 8) & ((r & 0x30000u) == 0 ? 255u : 15u);
		if ((r & 0xc0000u) == 0)
			spin = 0;
		for (; spin > 0; spin--)
			ck_pr_stall();
		/*
		 * Now and then wait a while for the thief to take something,
		 * so that it wins some even where it runs much slower than
		 * we do (TSan, a loaded machine).
		 */
		if ((r & 0x3f00000u) == 0) {
			unsigned seen = ck_pr_load_uint(&s->progress);

			/* Progress count only; no data rides on it. */
			for (spin = 4096; spin > 0 &&
			     ck_pr_load_uint(&s->progress) == seen; spin--)
				ck_pr_stall();
		}
		how = r >> 31 ? 0 : 1 + (r >> 30 & 1);
		race_pop(s, &s->items[i + k - 1], &empty, how);
		if (k == 2)
			race_pop(s, &s->items[i], &empty, how);
		/* Only we add nodes, so a deque we emptied stays empty. */
		if (weft__forkq_len(s->q) != 0)
			s->owner_not_empty++;
		i += k;
	}
	/* Releases the thief's loop; no data rides on it (join follows). */
	ck_pr_store_uint(&s->stop, 1);
	return NULL;
}

static void *race_thief(void *arg)
{
	struct race *s = arg;
	unsigned next = 0;	/* lowest id the next steal may return */

	start_line(s);
	/* Set once by the owner; a late read only costs one more pass. */
	while (ck_pr_load_uint(&s->stop) == 0) {
		struct rq_node *n = weft__forkq_steal(s->q);

		if (n == NULL) {
			s->thief_misses++;
			continue;
		}
		if (item_of(n)->id < next)
			s->thief_order++;
		next = item_of(n)->id + 1;
		s->thief_takes++;
		/* For the owner's wait; only we write it. */
		ck_pr_store_uint(&s->progress, s->progress + 1);
		race_claim(s, n);
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

static void test_forkq_last_node_race(void **state)
{
	struct fixture *fx = *state;
	struct race s = {
		.q = &fx->q,
		.nitems = under_tsan() ? 20000 : 200000,
	};
	pthread_t to;
	pthread_t tt;
	unsigned i;

	s.items = calloc(s.nitems, sizeof(*s.items));
	assert_non_null(s.items);
	for (i = 0; i < s.nitems; i++)
		s.items[i].id = i;
	reset(fx, UINT_MAX - 5u, false);
	assert_int_equal(pthread_create(&tt, NULL, race_thief, &s), 0);
	assert_int_equal(pthread_create(&to, NULL, race_owner, &s), 0);
	assert_int_equal(pthread_join(to, NULL), 0);
	assert_int_equal(pthread_join(tt, NULL), 0);
	print_message("owner took %lu (%lu empty pops), thief took %lu "
		      "(%lu empty steals)\n", s.owner_takes, s.owner_nulls,
		      s.thief_takes, s.thief_misses);
	assert_int_equal(s.owner_wrong, 0);
	assert_int_equal(s.owner_not_empty, 0);
	assert_int_equal(s.thief_order, 0);
	assert_int_equal(s.double_claims, 0);
	/* The owner pops as often as it pushes: a NULL for each theft. */
	assert_int_equal(s.owner_nulls, s.thief_takes);
	/* Every pushed item was taken; the owner pushed all but at most 1. */
	assert_true(s.owner_takes + s.thief_takes + 1 >= s.nitems);
	for (i = 0; i < s.nitems; i++) {
		if (i < s.owner_takes + s.thief_takes)
			assert_int_equal(s.items[i].seen, 1);
		else
			assert_int_equal(s.items[i].seen, 0);
	}
	/* The threads did overlap (a weak check, not to be flaky). */
	assert_true(s.thief_takes > 0);
	assert_true(s.owner_takes > 0);
	expect_empty(fx);
	free(s.items);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_forkq_push_pop_lifo,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_forkq_pop_if, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_forkq_steal_fifo, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_forkq_pop_and_steal_mixed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forkq_push_full, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_forkq_counters_wrap,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_forkq_solo, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_forkq_len, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_forkq_matches_model,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_forkq_last_node_race,
						setup, teardown),
	};

	return cmocka_run_group_tests_name("forkq", tests, NULL, NULL);
}
