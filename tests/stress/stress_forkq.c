/* SPDX-License-Identifier: MIT */
/*
 * Work-stealing conservation stress for src/mech/forkq.c, the Chase-Lev fork
 * deque (after stress_runq.c). One owner thread pushes every item of a
 * round (1,000,000 by default) in bursts and pops some back after each
 * burst, often more than it pushed, so that the deque runs empty and the
 * owner's pop of the last node races a thief's steal of it; now and then
 * a long burst fills the deque, so that pushes are refused and slots are
 * reused under thieves that may have read them stale. Two thief threads
 * steal all the time. Random ck_pr_stall() spins perturb the timing.
 *
 * Each item carries a magic value, a sequence number (push order) and a
 * claim counter that whoever takes it increments. After each round every
 * claim counter must be exactly 1 and no taker may have seen a bad magic.
 * Each thief must see its steals in increasing sequence order (a steal
 * takes the oldest node and top only grows). The owner's pops must be
 * newest first: the first pop after a push returns that push's item or
 * NULL, each further pop returns an older item than the one before, and
 * once a pop has said empty, pops say so until the next push.
 *
 * WEFT_STRESS_ITERS sets the items per round (200,000 when WEFT_SANITIZE
 * names thread); there are five rounds. Failures are counted in the
 * threads and asserted on the main thread after the join; a round that
 * has not finished in 60 s fails instead of hanging.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
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

#define ITEM_MAGIC 0xf0e4c0deu
#define NTHIEVES 2
#define NWORKERS (1 + NTHIEVES)
#define ROUNDS 5
#define ROUND_TIMEOUT_NS (60 * (int64_t)1000000000)

struct item {
	struct rq_node node;
	uint32_t magic;		/* ITEM_MAGIC; set before the round starts */
	uint32_t seq;		/* push order; set before the round starts */
	unsigned claim;		/* ck_pr_faa by whoever takes the item */
};

/* What a worker did; failures first. */
struct stats {
	unsigned long bad_magic;	/* took a node that is not an item */
	unsigned long double_claims;	/* took an item already taken */
	unsigned long order_errors;	/* a pop or steal out of order */
	unsigned long drain_errors;	/* more than SIZE nodes at the end */
	unsigned long pops;
	unsigned long pop_nulls;
	unsigned long lost_fresh;	/* pop NULL just after a push */
	unsigned long steals;
	unsigned long steal_nulls;
	unsigned long full;		/* pushes refused */
};

struct shared;

struct worker {
	/* Written by this worker only (ck_pr_store); summed by thieves. */
	unsigned claimed CK_CC_CACHELINE;
	/* The rest is private to the worker's thread until the join. */
	struct shared *sh CK_CC_CACHELINE;
	unsigned id;			/* 0 is the owner */
	pthread_t thread;
	uint32_t rng;
	unsigned nclaimed;
	struct stats st;
};

struct shared {
	struct forkq q;
	struct worker w[NWORKERS];
	struct item *items;
	unsigned nitems;
	pthread_barrier_t start;
	int64_t deadline_ns;
	unsigned producer_done;		/* owner: all pushed and drained */
	unsigned timed_out;		/* a thief gave up waiting */
};

/*
 * The owner's view of its own end: what its next pop may return. Only
 * the owner pushes, so between two pushes the deque only shrinks, from
 * the bottom by the owner's pops and from the top by steals.
 */
struct pop_check {
	uint32_t bound;		/* seq of the last push or the last pop */
	bool fresh;		/* no pop since the push of seq bound */
	bool empty;		/* a pop said empty since the last push */
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

/*
 * @it came out of the deque: it must be valid and taken for the first
 * time. False if it is not an item, so that its seq means nothing.
 */
static bool claim(struct worker *w, struct item *it)
{
	if (it->magic != ITEM_MAGIC) {
		w->st.bad_magic++;
		return false;
	}
	/* Counts takers; the main thread reads it after the join. */
	if (ck_pr_faa_uint(&it->claim, 1) != 0)
		w->st.double_claims++;
	/* Progress for the thieves' exit test; no data rides on it. */
	ck_pr_store_uint(&w->claimed, ++w->nclaimed);
	return true;
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

/* The owner pushed @it. */
static void pushed(struct pop_check *pc, struct item *it)
{
	pc->bound = it->seq;
	pc->fresh = true;
	pc->empty = false;
}

/* One owner pop, checked against what the owner pushed and popped. */
static bool owner_pop(struct worker *w, struct pop_check *pc)
{
	struct rq_node *x = weft__forkq_pop(&w->sh->q);
	struct item *it;

	if (x == NULL) {
		w->st.pop_nulls++;
		if (pc->fresh)
			w->st.lost_fresh++;
		pc->fresh = false;
		pc->empty = true;
		return false;
	}
	w->st.pops++;
	it = item_of(x);
	if (!claim(w, it))
		return true;
	/*
	 * The newest node is the one at bottom - 1, pushed last; the ones
	 * below it are older, and an empty deque stays empty without a push.
	 */
	if (pc->empty || (pc->fresh ? it->seq != pc->bound :
				      it->seq >= pc->bound))
		w->st.order_errors++;
	pc->bound = it->seq;
	pc->fresh = false;
	return true;
}

static void *owner_main(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	struct pop_check pc = { .empty = true };
	unsigned i = 0;
	unsigned k;

	pin(w->id);
	pthread_barrier_wait(&sh->start);
	while (i < sh->nitems) {
		uint32_t r = rnd(&w->rng);
		/* Mostly short bursts; now and then one to fill the deque. */
		unsigned burst = (r & 63u) == 0 ? 2u * WEFT_FORKQ_SIZE :
						  1u + ((r >> 6) & 15u);
		/* 0 to burst + 2 pops: the deque often runs dry. */
		unsigned npop = (r >> 12) % (burst + 3u);

		for (k = 0; k < burst && i < sh->nitems; k++) {
			struct item *it = &sh->items[i];

			if (!weft__forkq_push(&sh->q, &it->node)) {
				/* Full: pop instead; the item waits. */
				w->st.full++;
				break;
			}
			pushed(&pc, it);
			i++;
			perturb(w);
		}
		for (k = 0; k < npop; k++) {
			/* Pops after an empty one check that it stays so. */
			owner_pop(w, &pc);
			perturb(w);
		}
	}
	/* No more pushes: at most SIZE nodes are left to pop. */
	for (k = 0; k <= WEFT_FORKQ_SIZE && owner_pop(w, &pc); k++)
		;
	if (k > WEFT_FORKQ_SIZE)
		w->st.drain_errors++;
	/*
	 * Tells the thieves that no item will appear again; they still wait
	 * for every claim, so no data rides on it.
	 */
	ck_pr_store_uint(&sh->producer_done, 1);
	return NULL;
}

static void *thief_main(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	uint32_t next_seq = 0;		/* lowest seq the next steal may have */
	unsigned long idle = 0;

	pin(w->id);
	pthread_barrier_wait(&sh->start);
	for (;;) {
		struct rq_node *x = weft__forkq_steal(&sh->q);

		if (x != NULL) {
			struct item *it = item_of(x);

			w->st.steals++;
			if (claim(w, it)) {
				/* Oldest first, and top only grows. */
				if (it->seq < next_seq)
					w->st.order_errors++;
				next_seq = it->seq + 1;
			}
			perturb(w);
			continue;
		}
		w->st.steal_nulls++;
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
			perturb(w);
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
	weft__forkq_init(&sh->q, false);
	/* Odd rounds run the counters across 2^32 early on. */
	if (round & 1u) {
		sh->q.top = UINT32_MAX - 1000u * round;
		sh->q.bottom = sh->q.top;
	}
	for (i = 0; i < sh->nitems; i++) {
		sh->items[i] = (struct item){
			.magic = ITEM_MAGIC,
			.seq = i,
		};
	}
	sh->producer_done = 0;
	sh->timed_out = 0;
	sh->deadline_ns = now_ns() + ROUND_TIMEOUT_NS;
	assert_int_equal(pthread_barrier_init(&sh->start, NULL, NWORKERS + 1),
			 0);
	for (i = 0; i < NWORKERS; i++) {
		struct worker *w = &sh->w[i];

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
		tot.drain_errors += w->st.drain_errors;
		tot.pops += w->st.pops;
		tot.pop_nulls += w->st.pop_nulls;
		tot.lost_fresh += w->st.lost_fresh;
		tot.steals += w->st.steals;
		tot.steal_nulls += w->st.steal_nulls;
		tot.full += w->st.full;
	}
	print_message("round %u: %u items in %.2f s; pops %lu (%lu empty, "
		      "%lu just after a push), steals %lu + %lu (%lu empty), "
		      "refused pushes %lu\n",
		      round, sh->nitems, (double)(now_ns() - t0) / 1e9,
		      tot.pops, tot.pop_nulls, tot.lost_fresh,
		      sh->w[1].st.steals, sh->w[2].st.steals, tot.steal_nulls,
		      tot.full);
	assert_int_equal(sh->timed_out, 0);
	assert_int_equal(lost, 0);
	assert_int_equal(dup, 0);
	assert_int_equal(tot.bad_magic, 0);
	assert_int_equal(tot.double_claims, 0);
	assert_int_equal(tot.order_errors, 0);
	assert_int_equal(tot.drain_errors, 0);
	assert_int_equal(tot.pops + tot.steals, sh->nitems);
	assert_int_equal(weft__forkq_len(&sh->q), 0);
	assert_int_equal(sh->q.top, sh->q.bottom);
	assert_null(weft__forkq_steal(&sh->q));
}

static void test_forkq_steal_conserves_items(void **state)
{
	struct shared *sh = *state;
	unsigned round;

	for (round = 0; round < ROUNDS; round++)
		run_round(sh, round);
}

static int setup(void **state)
{
	struct shared *sh;

	/* struct forkq and the workers are cache-line aligned. */
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
			test_forkq_steal_conserves_items, setup, teardown),
	};

	return cmocka_run_group_tests_name("stress_forkq", tests, NULL, NULL);
}
