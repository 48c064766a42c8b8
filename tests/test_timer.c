/* SPDX-License-Identifier: MIT */
/*
 * Tests for src/mech/timer.c, the per-worker deadline heap. Small cases check
 * the empty heap, deadline order, FIFO order among equal deadlines,
 * deletion from every kind of slot, re-adding, the @now_ns cut-off of
 * weft__timer_pop_expired() and extreme deadlines; a model test replays
 * seeded random add/del/pop mixes against a plain array and checks the
 * heap invariants (H1) and (H2) of timer.c after every operation; a last
 * case fills a heap with a million timers and prints the cost of an add
 * plus a pop at 100,000 timers. Single-threaded; every case owns its heap.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "internal.h"
#include "timer.h"

/*
 * A build of this file against timer.c alone, without sched.c, needs an
 * assertion handler; this weak one yields to sched.c's everywhere else.
 */
__attribute__((weak)) void weft__assert_fail(const char *expr,
					      const char *file, int line)
{
	fprintf(stderr, "weft: assertion failed: %s (%s:%d)\n", expr, file,
		line);
	abort();
}

/* splitmix64: a fixed seed gives the same sequence on every host. */
static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool before(const struct timer *a, const struct timer *b)
{
	if (a->deadline_ns != b->deadline_ns)
		return a->deadline_ns < b->deadline_ns;
	return a->seq < b->seq;
}

/* Check (H1), (H2) and (H3) of timer.c over the whole heap. */
static void check_heap(const struct timer_heap *h)
{
	unsigned i;

	assert_true(h->n <= h->cap);
	assert_true(weft__timer_first_ns(h) ==
		    (h->n ? h->v[0]->deadline_ns : INT64_MAX));
	for (i = 0; i < h->n; i++) {
		assert_non_null(h->v[i]);
		assert_int_equal(h->v[i]->idx, i);
		if (i > 0)
			assert_false(before(h->v[i], h->v[(i - 1) / 4]));
	}
}

static void init_all(struct timer *t, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		weft__timer_init(&t[i], TIMER_OWNED);
}

/* Pop every timer (none may be left unexpired) and count them. */
static unsigned drain(struct timer_heap *h, struct timer **out)
{
	struct timer *t;
	unsigned n = 0;

	while ((t = weft__timer_pop_expired(h, INT64_MAX))) {
		assert_false(weft__timer_queued(t));
		if (out)
			out[n] = t;
		n++;
	}
	assert_int_equal(h->n, 0);
	return n;
}

static void test_timer_empty_heap(void **state)
{
	struct timer_heap h;
	struct timer t;

	(void)state;
	weft__timer_heap_init(&h);
	weft__timer_init(&t, TIMER_OWNED);
	assert_null(h.v);
	assert_int_equal(h.n, 0);
	assert_null(weft__timer_first(&h));
	assert_null(weft__timer_pop_expired(&h, INT64_MAX));
	assert_null(weft__timer_pop_expired(&h, INT64_MIN));
	weft__timer_del(&h, &t);
	assert_false(weft__timer_queued(&t));
	assert_null(h.v);
	weft__timer_heap_fini(&h);
	weft__timer_heap_fini(&h);
}

static void test_timer_pops_in_deadline_order(void **state)
{
	static const int64_t dl[] = { 50, 10, 90, 30, 70, 20, 80, 0, 60, 40 };
	struct timer t[10];
	struct timer_heap h;
	struct timer *p;
	unsigned i;

	(void)state;
	weft__timer_heap_init(&h);
	init_all(t, 10);
	for (i = 0; i < 10; i++) {
		assert_int_equal(weft__timer_add(&h, &t[i], dl[i]), 0);
		assert_true(weft__timer_queued(&t[i]));
		check_heap(&h);
	}
	assert_ptr_equal(weft__timer_first(&h), &t[7]);
	for (i = 0; i < 10; i++) {
		p = weft__timer_pop_expired(&h, INT64_MAX);
		assert_non_null(p);
		assert_int_equal(p->deadline_ns, (int64_t)i * 10);
		assert_int_equal(p->idx, TIMER_IDLE);
		check_heap(&h);
	}
	assert_null(weft__timer_first(&h));
	weft__timer_heap_fini(&h);
}

static void test_timer_equal_deadlines_pop_fifo(void **state)
{
	struct timer t[300];
	struct timer *out[300];
	struct timer_heap h;
	unsigned i;

	(void)state;
	weft__timer_heap_init(&h);
	init_all(t, 300);
	/* Two deadlines, interleaved, across a growth of the array. */
	for (i = 0; i < 300; i++)
		assert_int_equal(weft__timer_add(&h, &t[i], 5 + (i & 1)), 0);
	check_heap(&h);
	assert_int_equal(drain(&h, out), 300);
	for (i = 0; i < 150; i++) {
		assert_ptr_equal(out[i], &t[2 * i]);
		assert_ptr_equal(out[150 + i], &t[2 * i + 1]);
	}
	weft__timer_heap_fini(&h);
}

/* Fill @h with t[i] at deadline i * 10 for every i < @n. */
static void fill(struct timer_heap *h, struct timer *t, unsigned n)
{
	unsigned i;

	weft__timer_heap_init(h);
	init_all(t, n);
	for (i = 0; i < n; i++)
		assert_int_equal(weft__timer_add(h, &t[i], (int64_t)i * 10), 0);
	check_heap(h);
}

/* Drain @h and check that it held exactly t[0..n) but for @gone. */
static void expect_all_but(struct timer_heap *h, struct timer *t, unsigned n,
			   unsigned gone)
{
	struct timer *out[64];
	unsigned i;
	unsigned j = 0;

	assert_int_equal(drain(h, out), n - 1);
	for (i = 0; i < n; i++)
		if (i != gone)
			assert_ptr_equal(out[j++], &t[i]);
	weft__timer_heap_fini(h);
}

static void test_timer_del_root(void **state)
{
	struct timer_heap h;
	struct timer t[21];

	(void)state;
	fill(&h, t, 21);
	assert_int_equal(t[0].idx, 0);
	weft__timer_del(&h, &t[0]);
	assert_false(weft__timer_queued(&t[0]));
	check_heap(&h);
	assert_ptr_equal(weft__timer_first(&h), &t[1]);
	expect_all_but(&h, t, 21, 0);
}

static void test_timer_del_middle(void **state)
{
	struct timer_heap h;
	struct timer t[21];

	(void)state;
	fill(&h, t, 21);
	/* Slot 2 has children 9..12 and a parent; its hole sifts down. */
	assert_int_equal(t[2].idx, 2);
	weft__timer_del(&h, &t[2]);
	assert_false(weft__timer_queued(&t[2]));
	check_heap(&h);
	expect_all_but(&h, t, 21, 2);
}

static void test_timer_del_middle_sifts_up(void **state)
{
	static const int64_t dl[] = { 0, 100, 1, 101, 102, 103, 104, 105, 106,
				      2 };
	struct timer_heap h;
	struct timer t[10];
	unsigned i;

	(void)state;
	weft__timer_heap_init(&h);
	init_all(t, 10);
	for (i = 0; i < 10; i++)
		assert_int_equal(weft__timer_add(&h, &t[i], dl[i]), 0);
	/*
	 * t[9] (deadline 2) sits last, under slot 2; deleting t[6], under
	 * slot 1 (deadline 100), moves it into a slot whose parent is later.
	 */
	assert_int_equal(t[9].idx, 9);
	assert_int_equal(t[6].idx, 6);
	weft__timer_del(&h, &t[6]);
	check_heap(&h);
	assert_int_equal(t[9].idx, 1);
	assert_int_equal(drain(&h, NULL), 9);
	weft__timer_heap_fini(&h);
}

static void test_timer_del_last(void **state)
{
	struct timer_heap h;
	struct timer t[21];

	(void)state;
	fill(&h, t, 21);
	assert_int_equal(t[20].idx, 20);
	weft__timer_del(&h, &t[20]);
	assert_false(weft__timer_queued(&t[20]));
	assert_int_equal(h.n, 20);
	check_heap(&h);
	expect_all_but(&h, t, 21, 20);
}

static void test_timer_del_only_timer(void **state)
{
	struct timer_heap h;
	struct timer t;

	(void)state;
	weft__timer_heap_init(&h);
	weft__timer_init(&t, TIMER_OWNED);
	assert_int_equal(weft__timer_add(&h, &t, 1), 0);
	weft__timer_del(&h, &t);
	assert_false(weft__timer_queued(&t));
	assert_int_equal(h.n, 0);
	assert_null(weft__timer_first(&h));
	weft__timer_heap_fini(&h);
}

static void test_timer_del_idle_is_noop(void **state)
{
	struct timer_heap h;
	struct timer t[5];
	struct timer idle;

	(void)state;
	fill(&h, t, 5);
	weft__timer_init(&idle, TIMER_OWNED);
	weft__timer_del(&h, &idle);
	assert_int_equal(h.n, 5);
	check_heap(&h);
	/* A second del of a deleted timer is also a no-op. */
	weft__timer_del(&h, &t[3]);
	weft__timer_del(&h, &t[3]);
	assert_int_equal(h.n, 4);
	check_heap(&h);
	expect_all_but(&h, t, 5, 3);
}

static void test_timer_readd_after_pop(void **state)
{
	struct timer_heap h;
	struct timer t[3];
	struct timer *p;

	(void)state;
	fill(&h, t, 3);
	p = weft__timer_pop_expired(&h, 0);
	assert_ptr_equal(p, &t[0]);
	assert_int_equal(weft__timer_add(&h, p, 15), 0);
	check_heap(&h);
	assert_ptr_equal(weft__timer_pop_expired(&h, 100), &t[1]);
	assert_ptr_equal(weft__timer_pop_expired(&h, 100), &t[0]);
	assert_int_equal(t[0].deadline_ns, 15);
	assert_ptr_equal(weft__timer_pop_expired(&h, 100), &t[2]);
	assert_null(weft__timer_pop_expired(&h, 100));
	weft__timer_heap_fini(&h);
}

static void test_timer_readd_after_del(void **state)
{
	struct timer_heap h;
	struct timer t[3];

	(void)state;
	fill(&h, t, 3);
	weft__timer_del(&h, &t[1]);
	/* Re-added at an equal deadline, t[1] now fires after t[2]. */
	assert_int_equal(weft__timer_add(&h, &t[1], 20), 0);
	assert_true(t[1].seq > t[2].seq);
	check_heap(&h);
	assert_ptr_equal(weft__timer_pop_expired(&h, 100), &t[0]);
	assert_ptr_equal(weft__timer_pop_expired(&h, 100), &t[2]);
	assert_ptr_equal(weft__timer_pop_expired(&h, 100), &t[1]);
	weft__timer_heap_fini(&h);
}

static void test_timer_pop_expired_respects_now(void **state)
{
	struct timer_heap h;
	struct timer t[8];
	unsigned i;

	(void)state;
	weft__timer_heap_init(&h);
	init_all(t, 8);
	for (i = 0; i < 8; i++)
		assert_int_equal(weft__timer_add(&h, &t[i], 100 + 10 * i), 0);
	assert_null(weft__timer_pop_expired(&h, 99));
	assert_null(weft__timer_pop_expired(&h, INT64_MIN));
	assert_int_equal(h.n, 8);
	for (i = 0; i < 8; i++)
		assert_true(weft__timer_queued(&t[i]));
	check_heap(&h);
	/* Deadline == now is expired; the one after it is not. */
	assert_ptr_equal(weft__timer_pop_expired(&h, 100), &t[0]);
	assert_null(weft__timer_pop_expired(&h, 100));
	assert_ptr_equal(weft__timer_pop_expired(&h, 135), &t[1]);
	assert_ptr_equal(weft__timer_pop_expired(&h, 135), &t[2]);
	assert_ptr_equal(weft__timer_pop_expired(&h, 135), &t[3]);
	assert_null(weft__timer_pop_expired(&h, 135));
	assert_int_equal(h.n, 4);
	check_heap(&h);
	weft__timer_heap_fini(&h);
}

static void test_timer_extreme_deadlines(void **state)
{
	static const int64_t dl[] = { INT64_MAX, -1, 0, INT64_MIN, INT64_MAX,
				      -5000000000ll, 1, INT64_MIN + 1 };
	static const unsigned order[] = { 3, 7, 5, 1, 2, 6, 0, 4 };
	struct timer_heap h;
	struct timer t[8];
	unsigned i;

	(void)state;
	weft__timer_heap_init(&h);
	init_all(t, 8);
	for (i = 0; i < 8; i++)
		assert_int_equal(weft__timer_add(&h, &t[i], dl[i]), 0);
	check_heap(&h);
	/* Each pops at a @now_ns equal to its deadline, not one before. */
	for (i = 0; i < 6; i++) {
		int64_t now = dl[order[i]];

		if (now > INT64_MIN)
			assert_null(weft__timer_pop_expired(&h, now - 1));
		assert_ptr_equal(weft__timer_pop_expired(&h, now),
				 &t[order[i]]);
		check_heap(&h);
	}
	/* Only INT64_MAX is left, and only now == INT64_MAX reaches it. */
	assert_null(weft__timer_pop_expired(&h, INT64_MAX - 1));
	assert_ptr_equal(weft__timer_pop_expired(&h, INT64_MAX), &t[0]);
	assert_ptr_equal(weft__timer_pop_expired(&h, INT64_MAX), &t[4]);
	assert_null(weft__timer_pop_expired(&h, INT64_MAX));
	weft__timer_heap_fini(&h);
}

static void test_timer_add_queued_aborts(void **state)
{
	struct timer_heap h;
	struct timer t;
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Keep the expected assertion message out of the log. */
		if (!freopen("/dev/null", "w", stderr))
			_exit(2);
		weft__timer_heap_init(&h);
		weft__timer_init(&t, TIMER_OWNED);
		if (weft__timer_add(&h, &t, 1) != 0)
			_exit(3);
		weft__timer_add(&h, &t, 2);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

/* The model test ------------------------------------------------------ */

#define MODEL_TIMERS 600u
#define MODEL_SEEDS 20u
#define MODEL_OPS 20000u

/* What the model believes about one timer. */
struct model_timer {
	bool queued;
	int64_t deadline_ns;
	uint64_t seq;
};

/* A deadline from a small range (many ties), or an extreme one. */
static int64_t model_deadline(uint64_t *s)
{
	uint64_t r = rnd(s);

	switch (r % 16) {
	case 0:
		return INT64_MAX;
	case 1:
		return INT64_MIN;
	case 2:
		return -(int64_t)((r >> 8) % 100);
	default:
		return (int64_t)((r >> 8) % 200);
	}
}

/* The timer the model says pops next, or -1 if none is queued. */
static int model_first(const struct model_timer *m)
{
	int best = -1;
	unsigned i;

	for (i = 0; i < MODEL_TIMERS; i++) {
		if (!m[i].queued)
			continue;
		if (best < 0 || m[i].deadline_ns < m[best].deadline_ns ||
		    (m[i].deadline_ns == m[best].deadline_ns &&
		     m[i].seq < m[best].seq))
			best = (int)i;
	}
	return best;
}

static void model_check(const struct timer_heap *h, const struct timer *t,
			const struct model_timer *m)
{
	unsigned queued = 0;
	unsigned i;

	check_heap(h);
	for (i = 0; i < MODEL_TIMERS; i++) {
		assert_int_equal(weft__timer_queued(&t[i]), m[i].queued);
		if (!m[i].queued)
			continue;
		queued++;
		assert_int_equal(t[i].deadline_ns, m[i].deadline_ns);
		assert_int_equal(t[i].seq, m[i].seq);
		assert_ptr_equal(h->v[t[i].idx], &t[i]);
	}
	assert_int_equal(h->n, queued);
}

static void model_run(uint64_t seed, struct timer *t, struct model_timer *m)
{
	/* Per seed, how often to add, so that heaps stay small or fill up. */
	unsigned add_pct = 30 + (unsigned)(seed % 5) * 10;
	uint64_t next_seq = 0;
	struct timer_heap h;
	uint64_t s = seed;
	unsigned op;
	unsigned i;

	weft__timer_heap_init(&h);
	init_all(t, MODEL_TIMERS);
	for (i = 0; i < MODEL_TIMERS; i++)
		m[i].queued = false;
	for (op = 0; op < MODEL_OPS; op++) {
		uint64_t r = rnd(&s);
		unsigned k = (unsigned)((r >> 8) % MODEL_TIMERS);
		unsigned pct = (unsigned)(r % 100);

		if (pct < add_pct) {
			int64_t dl = model_deadline(&s);

			if (m[k].queued)
				continue;
			assert_int_equal(weft__timer_add(&h, &t[k], dl), 0);
			m[k].queued = true;
			m[k].deadline_ns = dl;
			m[k].seq = next_seq++;
		} else if (pct < add_pct + 15) {
			/* Deletes idle timers as well as queued ones. */
			weft__timer_del(&h, &t[k]);
			m[k].queued = false;
		} else {
			int64_t now = model_deadline(&s);
			int want = model_first(m);
			struct timer *p;

			if (want >= 0 && m[want].deadline_ns > now)
				want = -1;
			p = weft__timer_pop_expired(&h, now);
			if (want < 0) {
				assert_null(p);
			} else {
				assert_ptr_equal(p, &t[want]);
				m[want].queued = false;
			}
		}
		model_check(&h, t, m);
	}
	weft__timer_heap_fini(&h);
}

static void test_timer_random_ops_match_model(void **state)
{
	struct model_timer *m;
	struct timer *t;
	uint64_t seed;

	(void)state;
	t = calloc(MODEL_TIMERS, sizeof(*t));
	m = calloc(MODEL_TIMERS, sizeof(*m));
	assert_non_null(t);
	assert_non_null(m);
	for (seed = 1; seed <= MODEL_SEEDS; seed++)
		model_run(seed, t, m);
	free(m);
	free(t);
}

/* Size and speed ------------------------------------------------------ */

#define MILLION 1000000u
#define BENCH_TIMERS 100000u

static void test_timer_million_pop_in_order(void **state)
{
	struct timer_heap h;
	struct timer *prev = NULL;
	struct timer *t;
	struct timer *p;
	uint64_t s = 42;
	unsigned n = 0;
	unsigned i;

	(void)state;
	t = calloc(MILLION, sizeof(*t));
	assert_non_null(t);
	weft__timer_heap_init(&h);
	init_all(t, MILLION);
	for (i = 0; i < MILLION; i++)
		assert_int_equal(weft__timer_add(&h, &t[i],
						 (int64_t)(rnd(&s) % 100000)),
				 0);
	assert_int_equal(h.n, MILLION);
	assert_true(h.cap >= MILLION);
	check_heap(&h);
	while ((p = weft__timer_pop_expired(&h, INT64_MAX))) {
		if (prev) {
			assert_true(prev->deadline_ns <= p->deadline_ns);
			if (prev->deadline_ns == p->deadline_ns)
				assert_true(prev < p);
		}
		assert_int_equal(p->idx, TIMER_IDLE);
		prev = p;
		n++;
	}
	assert_int_equal(n, MILLION);
	weft__timer_heap_fini(&h);
	free(t);
}

static void test_timer_add_pop_cost_at_100k(void **state)
{
	struct timer_heap h;
	struct timer *t;
	struct timer *p;
	uint64_t s = 7;
	uint64_t t0;
	uint64_t fill_ns;
	uint64_t hold_ns;
	unsigned i;

	(void)state;
	t = calloc(BENCH_TIMERS, sizeof(*t));
	assert_non_null(t);
	weft__timer_heap_init(&h);
	init_all(t, BENCH_TIMERS);

	/* Fill to 100k, then drain: one add and one pop per timer. */
	t0 = clock_ns();
	for (i = 0; i < BENCH_TIMERS; i++)
		weft__timer_add(&h, &t[i], (int64_t)(rnd(&s) % 1000000000));
	while (weft__timer_pop_expired(&h, INT64_MAX))
		;
	fill_ns = clock_ns() - t0;

	/*
	 * Hold at 100k: pop the earliest and re-add it a random interval
	 * later, as a worker does with sleeping fibers.
	 */
	for (i = 0; i < BENCH_TIMERS; i++)
		weft__timer_add(&h, &t[i], (int64_t)(rnd(&s) % 1000000000));
	t0 = clock_ns();
	for (i = 0; i < BENCH_TIMERS; i++) {
		p = weft__timer_pop_expired(&h, INT64_MAX);
		weft__timer_add(&h, p, p->deadline_ns +
			       (int64_t)(rnd(&s) % 1000000000));
	}
	hold_ns = clock_ns() - t0;
	assert_int_equal(h.n, BENCH_TIMERS);
	check_heap(&h);
	print_message("timer add+pop at 100k timers: fill/drain %.1f ns, "
		      "hold %.1f ns\n", (double)fill_ns / BENCH_TIMERS,
		      (double)hold_ns / BENCH_TIMERS);
	weft__timer_heap_fini(&h);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timer_empty_heap),
		cmocka_unit_test(test_timer_pops_in_deadline_order),
		cmocka_unit_test(test_timer_equal_deadlines_pop_fifo),
		cmocka_unit_test(test_timer_del_root),
		cmocka_unit_test(test_timer_del_middle),
		cmocka_unit_test(test_timer_del_middle_sifts_up),
		cmocka_unit_test(test_timer_del_last),
		cmocka_unit_test(test_timer_del_only_timer),
		cmocka_unit_test(test_timer_del_idle_is_noop),
		cmocka_unit_test(test_timer_readd_after_pop),
		cmocka_unit_test(test_timer_readd_after_del),
		cmocka_unit_test(test_timer_pop_expired_respects_now),
		cmocka_unit_test(test_timer_extreme_deadlines),
		cmocka_unit_test(test_timer_add_queued_aborts),
		cmocka_unit_test(test_timer_random_ops_match_model),
		cmocka_unit_test(test_timer_million_pop_in_order),
		cmocka_unit_test(test_timer_add_pop_cost_at_100k),
	};

	return cmocka_run_group_tests_name("timer", tests, NULL, NULL);
}
