/* SPDX-License-Identifier: MIT */
/*
 * Work-stealing conservation stress for src/mech/runq.c (after
 * Tokio's queue stress1/stress2 and CK's validate programs). One owner
 * thread pushes every item of a round (1,000,000 by default) on its ring,
 * now and then through its LIFO slot, and pops some back; two thief
 * threads steal from it and from each other into their own rings, drain
 * those by popping, and drain the inject queue that the owner's ring
 * overflows into. Each item carries a magic value, a sequence number and
 * a claim counter: at the end every claim counter must be exactly 1. The
 * owner's pops and each thief's steals from the owner must also see the
 * owner's ring items in push order. Random ck_pr_stall() spins perturb
 * the timing. WEFT_STRESS_ITERS sets the items per round (200,000 when
 * WEFT_SANITIZE names thread); there are five rounds. Failures are counted
 * in the threads and asserted on the main thread after the join.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
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

#define ITEM_MAGIC 0x57ef7a5eu
#define NTHIEVES 2
#define NWORKERS (1 + NTHIEVES)
#define ROUNDS 5
#define ROUND_TIMEOUT_NS (60 * (int64_t)1000000000)

struct item {
	struct rq_node node;
	uint32_t magic;		/* ITEM_MAGIC; set before the round starts */
	uint32_t seq;		/* push order; set before the round starts */
	unsigned claim;		/* ck_pr_faa by whoever takes the item */
	unsigned via_lifo;	/* set by the owner before it publishes */
};

/* What a worker did; failures first. */
struct stats {
	unsigned long bad_magic;	/* took a node that is not an item */
	unsigned long double_claims;	/* took an item already taken */
	unsigned long order_errors;	/* owner-ring items out of order */
	unsigned long pops;
	unsigned long steals_owner;
	unsigned long steals_thief;
	unsigned long injq_pops;
	unsigned long overflows;
};

struct shared;

struct worker {
	struct runq rq;			/* this worker's ring */
	/* Written by this worker only (ck_pr_store); summed by thieves. */
	unsigned claimed CK_CC_CACHELINE;
	/* The rest is private to the worker's thread until the join. */
	struct shared *sh CK_CC_CACHELINE;
	unsigned id;			/* 0 is the owner */
	pthread_t thread;
	uint32_t rng;
	unsigned nclaimed;
	uint32_t last_seq;		/* last owner-ring seq seen, + 1 */
	struct stats st;
};

struct shared {
	struct worker w[NWORKERS];
	struct injq q;
	struct item *items;
	unsigned nitems;
	uint32_t pop_mask;		/* owner pops when (rnd & mask) == 0 */
	pthread_barrier_t start;
	int64_t deadline_ns;
	unsigned producer_done;		/* owner: all pushed and drained */
	unsigned timed_out;		/* a thief gave up waiting */
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint32_t rnd(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

/* Now and then spin for a short random time. */
static void perturb(struct worker *w)
{
	uint32_t r = rnd(&w->rng);

	if ((r & 15u) != 0)
		return;
	for (r = (r >> 8) & 63u; r > 0; r--)
		ck_pr_stall();
}

static struct item *item_of(struct rq_node *n)
{
	return container_of(n, struct item, node);
}

/* @it came out of a queue: it must be valid and taken for the first time. */
static void claim(struct worker *w, struct item *it)
{
	if (it->magic != ITEM_MAGIC) {
		w->st.bad_magic++;
		return;
	}
	/* Counts takers; the main thread reads it after the join. */
	if (ck_pr_faa_uint(&it->claim, 1) != 0)
		w->st.double_claims++;
	/* Progress for the thieves' exit test; no data rides on it. */
	ck_pr_store_uint(&w->claimed, ++w->nclaimed);
}

/* Items from the owner's ring that skipped its LIFO slot arrive in order. */
static void check_order(struct worker *w, struct item *it)
{
	if (it->magic != ITEM_MAGIC || it->via_lifo)
		return;
	if (it->seq < w->last_seq)
		w->st.order_errors++;
	w->last_seq = it->seq + 1;
}

static unsigned total_claimed(struct shared *sh)
{
	unsigned sum = 0;
	unsigned i;

	for (i = 0; i < NWORKERS; i++)
		/* Progress counters; see claim(). */
		sum += ck_pr_load_uint(&sh->w[i].claimed);
	return sum;
}

/*
 * Give the owner a CPU of its own and spread the thieves over the others,
 * so that the owner always races a running thief. A failure only costs
 * speed.
 */
static void pin(unsigned id)
{
	cpu_set_t allowed;
	cpu_set_t one;
	unsigned n;
	unsigned k;
	int cpu;

	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
		return;
	n = (unsigned)CPU_COUNT(&allowed);
	if (n < 2)
		return;
	k = id == 0 ? 0 : 1 + (id - 1) % (n - 1);
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (CPU_ISSET(cpu, &allowed) && k-- == 0)
			break;
	}
	if (cpu == CPU_SETSIZE)
		return;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
}

static void *owner_main(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	struct rq_node *x;
	unsigned i;

	pin(w->id);
	pthread_barrier_wait(&sh->start);
	for (i = 0; i < sh->nitems; i++) {
		struct item *it = &sh->items[i];
		uint32_t r = rnd(&w->rng);
		struct rq_node *y = &it->node;

		if ((r & 7u) == 0) {
			it->via_lifo = 1;
			y = weft__runq_lifo_put(&w->rq, y);
		}
		if (y != NULL && weft__runq_push(&w->rq, y, &sh->q))
			w->st.overflows++;
		if (((r >> 3) & sh->pop_mask) == 0 &&
		    (x = weft__runq_pop(&w->rq)) != NULL) {
			w->st.pops++;
			check_order(w, item_of(x));
			claim(w, item_of(x));
		}
		if ((r & 0x3e00u) == 0 &&
		    (x = weft__runq_lifo_take(&w->rq)) != NULL)
			claim(w, item_of(x));
		perturb(w);
	}
	for (;;) {
		x = weft__runq_lifo_take(&w->rq);
		if (x == NULL)
			x = weft__runq_pop(&w->rq);
		if (x == NULL)
			break;
		claim(w, item_of(x));
	}
	/*
	 * Tells the thieves that no item will appear in the owner's ring
	 * again; they still wait for every claim, so no data rides on it.
	 */
	ck_pr_store_uint(&sh->producer_done, 1);
	return NULL;
}

/* A thief's ring got @n nodes at [@t, @t + n) from the owner's: check order. */
static void check_batch(struct worker *w, unsigned t, unsigned n,
			struct rq_node *last)
{
	unsigned i;

	for (i = 0; i < n; i++)
		/* Our own slots, which only we write. */
		check_order(w, item_of(ck_pr_load_ptr(
				       &w->rq.slots[(t + i) %
						    WEFT_RUNQ_SIZE])));
	check_order(w, item_of(last));
}

/* Anything to do for a thief: its ring, a steal, then the inject queue. */
static struct rq_node *thief_find(struct worker *w)
{
	struct shared *sh = w->sh;
	uint32_t r = rnd(&w->rng);
	struct worker *v;
	struct rq_node *x;
	unsigned t;

	x = weft__runq_pop(&w->rq);
	if (x != NULL) {
		w->st.pops++;
		return x;
	}
	/* Mostly the owner; now and then the other thief. */
	v = (r & 3u) != 0 ? &sh->w[0] : &sh->w[w->id == 1 ? 2 : 1];
	/* Our own tail. */
	t = ck_pr_load_uint(&w->rq.tail);
	x = weft__runq_steal(&w->rq, &v->rq, true);
	if (x != NULL) {
		if (v->id == 0) {
			w->st.steals_owner++;
			/* Our own tail, just published by the steal. */
			check_batch(w, t, ck_pr_load_uint(&w->rq.tail) - t, x);
		} else {
			w->st.steals_thief++;
		}
		return x;
	}
	if (weft__injq_len(&sh->q) != 0) {
		/* Our ring is empty, so any batch up to SIZE + 1 fits. */
		x = weft__injq_pop_batch(&sh->q, &w->rq,
					 1 + (r >> 8) % (WEFT_RUNQ_SIZE / 2 + 1));
		if (x != NULL)
			w->st.injq_pops++;
	}
	return x;
}

static void *thief_main(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	unsigned long idle = 0;

	pin(w->id);
	pthread_barrier_wait(&sh->start);
	for (;;) {
		struct rq_node *x = thief_find(w);

		if (x != NULL) {
			claim(w, item_of(x));
			perturb(w);
			continue;
		}
		/* Exit test only; every claim is checked after the join. */
		if (ck_pr_load_uint(&sh->producer_done) &&
		    total_claimed(sh) >= sh->nitems)
			break;
		if ((++idle & 1023u) == 0 && now_ns() > sh->deadline_ns) {
			/* Read after the join. */
			ck_pr_store_uint(&sh->timed_out, 1);
			break;
		}
		if ((idle & 63u) == 0)
			sched_yield();
		else
			ck_pr_stall();
	}
	return NULL;
}

static unsigned stress_items(void)
{
	const char *s = getenv("WEFT_STRESS_ITERS");
	const char *san = getenv("WEFT_SANITIZE");

	if (s != NULL && atoi(s) > 0)
		return (unsigned)atoi(s);
#ifdef WEFT_TSAN
	san = "thread";
#endif
	if (san != NULL && strstr(san, "thread") != NULL)
		return 200000;
	return 1000000;
}

static void run_round(struct shared *sh, unsigned round)
{
	unsigned long lost = 0;
	unsigned long dup = 0;
	struct stats tot = { 0 };
	int64_t t0;
	unsigned i;

	memset(sh->w, 0, sizeof(sh->w));
	weft__injq_init(&sh->q);
	for (i = 0; i < sh->nitems; i++) {
		sh->items[i] = (struct item){
			.magic = ITEM_MAGIC,
			.seq = i,
		};
	}
	/* Rounds alternate between an owner that pops 1/2, 1/4 and 1/8. */
	sh->pop_mask = (2u << (round % 3)) - 1u;
	sh->producer_done = 0;
	sh->timed_out = 0;
	sh->deadline_ns = now_ns() + ROUND_TIMEOUT_NS;
	assert_int_equal(pthread_barrier_init(&sh->start, NULL, NWORKERS + 1),
			 0);
	for (i = 0; i < NWORKERS; i++) {
		struct worker *w = &sh->w[i];

		weft__runq_init(&w->rq);
		w->sh = sh;
		w->id = i;
		w->rng = 0x9e3779b9u * (round * NWORKERS + i + 1);
		assert_int_equal(pthread_create(&w->thread, NULL,
						i == 0 ? owner_main :
							 thief_main,
						w),
				 0);
	}
	t0 = now_ns();
	pthread_barrier_wait(&sh->start);
	for (i = 0; i < NWORKERS; i++)
		assert_int_equal(pthread_join(sh->w[i].thread, NULL), 0);
	pthread_barrier_destroy(&sh->start);

	for (i = 0; i < sh->nitems; i++) {
		if (sh->items[i].claim == 0)
			lost++;
		else if (sh->items[i].claim > 1)
			dup++;
	}
	for (i = 0; i < NWORKERS; i++) {
		struct worker *w = &sh->w[i];

		tot.bad_magic += w->st.bad_magic;
		tot.double_claims += w->st.double_claims;
		tot.order_errors += w->st.order_errors;
		tot.pops += w->st.pops;
		tot.steals_owner += w->st.steals_owner;
		tot.steals_thief += w->st.steals_thief;
		tot.injq_pops += w->st.injq_pops;
		tot.overflows += w->st.overflows;
	}
	print_message("round %u: %u items in %.2f s; pops %lu, steals from "
		      "owner %lu, from thief %lu, inject pops %lu, overflows "
		      "%lu\n",
		      round, sh->nitems, (double)(now_ns() - t0) / 1e9,
		      tot.pops, tot.steals_owner, tot.steals_thief,
		      tot.injq_pops, tot.overflows);
	assert_int_equal(sh->timed_out, 0);
	assert_int_equal(lost, 0);
	assert_int_equal(dup, 0);
	assert_int_equal(tot.bad_magic, 0);
	assert_int_equal(tot.double_claims, 0);
	assert_int_equal(tot.order_errors, 0);
	assert_int_equal(weft__injq_len(&sh->q), 0);
	for (i = 0; i < NWORKERS; i++)
		assert_int_equal(weft__runq_len(&sh->w[i].rq), 0);
}

static void test_runq_steal_conserves_items(void **state)
{
	struct shared *sh = *state;
	unsigned round;

	for (round = 0; round < ROUNDS; round++)
		run_round(sh, round);
}

static int setup(void **state)
{
	struct shared *sh;

	if (posix_memalign((void **)&sh, WEFT_CACHELINE, sizeof(*sh)) != 0)
		return -1;
	memset(sh, 0, sizeof(*sh));
	sh->nitems = stress_items();
	sh->items = calloc(sh->nitems, sizeof(*sh->items));
	if (sh->items == NULL) {
		free(sh);
		return -1;
	}
	*state = sh;
	return 0;
}

static int teardown(void **state)
{
	struct shared *sh = *state;

	free(sh->items);
	free(sh);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_runq_steal_conserves_items, setup, teardown),
	};

	return cmocka_run_group_tests_name("stress_runq", tests, NULL, NULL);
}
