/* SPDX-License-Identifier: MIT */
/*
 * Tests for src/stack.c: size rounding, the guard page and the canary
 * that replaces it beyond the guard budget, per-worker caches, slab
 * release, the mapping budget under 40,000 live stacks, pools per size,
 * and four threads sharing the pool. Every test uses its own stack sizes,
 * so that no test sees slots that another carved, and restores the guard
 * budget in its teardown. Single-threaded except the last test.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "stack.h"

#ifdef WEFT_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#endif

#define KIB ((size_t)1024)
#define MIB ((size_t)1024 * 1024)

static size_t page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

static uint64_t mapped_now(void)
{
	uint64_t m;
	uint64_t g;

	weft__stack_counts(&m, &g);
	return m;
}

static uint64_t guarded_now(void)
{
	uint64_t m;
	uint64_t g;

	weft__stack_counts(&m, &g);
	return g;
}

/* vm.max_map_count as stack.c reads it. */
static unsigned max_map_count(void)
{
	char buf[32] = "";
	unsigned long v = 0;
	int fd;

	fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, buf, sizeof(buf) - 1) > 0)
			v = strtoul(buf, NULL, 10);
		close(fd);
	}
	return v ? (unsigned)v : 65530u;
}

/* The default guard budget, as weft.h describes it. */
static unsigned default_budget(void)
{
#if defined(WEFT_ASAN) || defined(WEFT_TSAN)
	unsigned budget = max_map_count() / 8;
#else
	unsigned budget = max_map_count() / 4;
#endif
#ifdef WEFT_HAVE_VALGRIND
	/* Valgrind's own table of mappings is smaller; see stack.c. */
	if (RUNNING_ON_VALGRIND && budget > 4096)
		budget = 4096;
#endif
	return budget;
}

/* Lines in /proc/self/maps, that is, the mappings this process holds. */
static unsigned maps_lines(void)
{
	char buf[65536];
	unsigned lines = 0;
	ssize_t n;
	int fd;

	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	close(fd);
	return lines;
}

/* Built with a sanitizer: small stacks are a page there. */
static bool sanitized(void)
{
#if defined(WEFT_ASAN) || defined(WEFT_TSAN)
	return true;
#else
	return false;
#endif
}

static int restore_budget(void **state)
{
	(void)state;
	weft__stack_set_guard_budget(0);
	return 0;
}

static void test_stack_round_sizes(void **state)
{
	size_t pg = page();
	struct stack *s;

	(void)state;
	assert_int_equal(weft__stack_round(0),
			 round_up(WEFT_STACK_DEFAULT, pg));
	if (sanitized())
		assert_int_equal(weft__stack_round(1), 32 * KIB);
	else
		assert_int_equal(weft__stack_round(1), WEFT_STACK_SMALL - 64);
	assert_int_equal(weft__stack_round(WEFT_STACK_SMALL + 1),
			 round_up(WEFT_STACK_MIN, pg));
	assert_int_equal(weft__stack_round(4096), round_up(4096, pg));
	assert_int_equal(weft__stack_round(4097), round_up(8192, pg));
	assert_int_equal(weft__stack_round((size_t)1 << 30), (size_t)1 << 30);
	assert_int_equal(weft__stack_round(((size_t)1 << 30) + 1), 0);
	assert_int_equal(weft__stack_alloc(NULL, ((size_t)1 << 30) + 1, &s),
			 -EINVAL);
	assert_int_equal(weft__stack_alloc(NULL, SIZE_MAX, &s), -EINVAL);
}

static void test_stack_whole_range_is_writable(void **state)
{
	static const size_t sizes[] = { 2049, 4097, 3 * MIB };
	size_t pg = page();

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct stack *s;
		unsigned char *lo;
		unsigned char *top;

		assert_int_equal(weft__stack_alloc(NULL, sizes[i], &s), 0);
		lo = s->lo;
		top = weft__stack_top(s);
		assert_int_equal(s->size, weft__stack_round(sizes[i]));
		assert_int_equal((uintptr_t)lo % pg, 0);
		assert_int_equal((uintptr_t)top % pg, 0);
		assert_int_equal((uintptr_t)top % 16, 0);
		memset(lo, 0xa5, s->size);
		assert_int_equal(lo[0], 0xa5);
		assert_int_equal(top[-1], 0xa5);
		weft__stack_free(NULL, s);
	}
}

static void test_stack_guard_page_stops_overflow(void **state)
{
	size_t pg = page();
	struct stack *s;
	char *lo;
	int status;
	pid_t pid;

	(void)state;
	assert_int_equal(weft__stack_alloc(NULL, 12 * KIB, &s), 0);
	assert_true(s->guarded);
	assert_true(weft__stack_canary_ok(s));
	lo = s->lo;
	assert_true(weft__stack_fault_is_overflow(s, lo - 1));
	assert_true(weft__stack_fault_is_overflow(s, lo - pg));
	assert_false(weft__stack_fault_is_overflow(s, lo - pg - 1));
	assert_false(weft__stack_fault_is_overflow(s, lo));
	assert_false(weft__stack_fault_is_overflow(s, weft__stack_top(s)));

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		/* Die of the plain signal: no core file, and neither cmocka's
		 * nor a sanitizer's SIGSEGV handler. */
		setrlimit(RLIMIT_CORE, &no_core);
		signal(SIGSEGV, SIG_DFL);
		*(volatile char *)(lo - 1) = 1;
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSEGV);
	weft__stack_free(NULL, s);
}

static void test_stack_beyond_budget_uses_canary(void **state)
{
	struct stack *s[5];
	unsigned guarded = 0;
	uint64_t *below;
	uint64_t saved;

	(void)state;
	weft__stack_set_guard_budget((unsigned)guarded_now() + 2);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(weft__stack_alloc(NULL, 20 * KIB, &s[i]), 0);
		guarded += s[i]->guarded;
		assert_true(weft__stack_canary_ok(s[i]));
	}
	assert_int_equal(guarded, 2);
	assert_true(s[0]->guarded && s[1]->guarded);
	assert_false(s[4]->guarded);
	assert_true(weft__stack_fault_is_overflow(s[4], (char *)s[4]->lo - 1));

	/* An overflow by one word clobbers the canary. */
	assert_true(weft__stack_gap_clean(s[4]));
	below = (uint64_t *)s[4]->lo - 1;
	saved = *below;
	*below = 0x4141414141414141ull;
	assert_false(weft__stack_canary_ok(s[4]));
	assert_false(weft__stack_gap_clean(s[4]));
	*below = saved;
	assert_true(weft__stack_canary_ok(s[4]));

	/* A write deep in the gap misses the canary; the gap check sees it. */
	below = (uint64_t *)((char *)s[4]->lo - 3000);
	*below = 1;
	assert_true(weft__stack_canary_ok(s[4]));
	assert_false(weft__stack_gap_clean(s[4]));
	*below = 0;
	assert_true(weft__stack_gap_clean(s[4]));
	/* Guarded stacks have no gap to check. */
	assert_true(weft__stack_gap_clean(s[0]));

	for (int i = 0; i < 5; i++)
		weft__stack_free(NULL, s[i]);
}

/*
 * Small stacks: 2 KiB slots back to back, the lowest 64 bytes of each a
 * zero canary, never guarded; fully writable, and an overflow into the
 * canary is seen by both checks.
 */
static void test_stack_small_stacks_pack_two_per_page(void **state)
{
	struct stack *s[4];
	uint64_t *below;

	(void)state;
	if (sanitized())
		skip();
	for (int i = 0; i < 4; i++) {
		assert_int_equal(weft__stack_alloc(NULL, 1000, &s[i]), 0);
		assert_int_equal(s[i]->size, WEFT_STACK_SMALL - 64);
		assert_false(s[i]->guarded);
		assert_int_equal((uintptr_t)weft__stack_top(s[i]) % 16, 0);
		assert_true(weft__stack_canary_ok(s[i]));
		assert_true(weft__stack_gap_clean(s[i]));
		memset(s[i]->lo, 0x5a, s[i]->size);
	}
	/* Carved in address order from one slab: slots 2 KiB apart. */
	for (int i = 1; i < 4; i++)
		assert_int_equal((char *)s[i]->lo - (char *)s[i - 1]->lo,
				 WEFT_STACK_SMALL);
	/* Filling a stack left its neighbours' canaries alone. */
	for (int i = 0; i < 4; i++)
		assert_true(weft__stack_canary_ok(s[i]));
	assert_true(weft__stack_fault_is_overflow(s[2], (char *)s[2]->lo - 1));
	assert_true(weft__stack_fault_is_overflow(s[2], (char *)s[2]->lo - 64));
	assert_false(weft__stack_fault_is_overflow(s[2], (char *)s[2]->lo - 65));
	assert_false(weft__stack_fault_is_overflow(s[2], s[2]->lo));

	below = (uint64_t *)s[2]->lo - 1;
	*below = 1;
	assert_false(weft__stack_canary_ok(s[2]));
	*below = 0;
	below = (uint64_t *)((char *)s[2]->lo - 64);
	*below = 1;
	assert_true(weft__stack_canary_ok(s[2]));
	assert_false(weft__stack_gap_clean(s[2]));
	*below = 0;
	assert_true(weft__stack_gap_clean(s[2]));
	for (int i = 0; i < 4; i++)
		weft__stack_free(NULL, s[i]);
}

static void test_stack_cache_returns_same_stacks(void **state)
{
	enum { HELD = 8, ROUNDS = 10000 };
	struct stack *first[HELD];
	struct stack *s[HELD];
	struct stack_cache c;
	uint64_t mapped;

	(void)state;
	weft__stack_cache_init(&c, weft__stack_round(28 * KIB));
	for (int i = 0; i < HELD; i++)
		assert_int_equal(weft__stack_alloc(&c, 28 * KIB, &first[i]), 0);
	for (int i = HELD - 1; i >= 0; i--)
		weft__stack_free(&c, first[i]);
	assert_int_equal(c.nr, HELD);
	mapped = mapped_now();

	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < HELD; i++)
			assert_int_equal(weft__stack_alloc(&c, 28 * KIB, &s[i]),
					 0);
		/* LIFO: the stacks come back in the order first had. */
		for (int i = 0; i < HELD; i++)
			assert_ptr_equal(s[i], first[i]);
		for (int i = HELD - 1; i >= 0; i--)
			weft__stack_free(&c, s[i]);
	}
	assert_int_equal(mapped_now(), mapped);
	weft__stack_cache_flush(&c);
	assert_int_equal(c.nr, 0);
}

static void test_stack_full_cache_returns_half(void **state)
{
	struct stack *s[WEFT_STACK_CACHE + 1];
	struct stack_cache c;

	(void)state;
	weft__stack_cache_init(&c, weft__stack_round(76 * KIB));
	for (int i = 0; i <= WEFT_STACK_CACHE; i++)
		assert_int_equal(weft__stack_alloc(&c, 76 * KIB, &s[i]), 0);
	for (int i = 0; i < WEFT_STACK_CACHE; i++)
		weft__stack_free(&c, s[i]);
	assert_int_equal(c.nr, WEFT_STACK_CACHE);
	weft__stack_free(&c, s[WEFT_STACK_CACHE]);
	assert_int_equal(c.nr, WEFT_STACK_CACHE / 2 + 1);
	/* The newest stacks stayed. */
	assert_ptr_equal(c.items[c.nr - 1], s[WEFT_STACK_CACHE]);
	assert_ptr_equal(c.items[0], s[WEFT_STACK_CACHE / 2]);
	weft__stack_cache_flush(&c);
	assert_int_equal(c.nr, 0);
}

static void test_stack_free_slabs_are_unmapped(void **state)
{
	enum { N = 1000 };
	struct stack **s = calloc(N, sizeof(*s));
	uint64_t m0;
	uint64_t g0;
	uint64_t m1;
	uint64_t g1;

	(void)state;
	assert_non_null(s);
	weft__stack_counts(&m0, &g0);
	for (int i = 0; i < N; i++)
		assert_int_equal(weft__stack_alloc(NULL, 36 * KIB, &s[i]), 0);
	weft__stack_counts(&m1, &g1);
	assert_true(m1 >= m0 + N - WEFT_STACK_SLAB_SLOTS);
	for (int i = 0; i < N; i++)
		weft__stack_free(NULL, s[i]);
	/* At most one wholly free slab stays mapped for this size. */
	weft__stack_counts(&m1, &g1);
	assert_true(m1 <= m0 + WEFT_STACK_SLAB_SLOTS);
	assert_true(g1 <= g0 + WEFT_STACK_SLAB_SLOTS);
	free(s);
}

/*
 * More stacks alive at once than vm.max_map_count allows with a guard
 * page on each (65,530 mappings give about 32,700): none may fail, and
 * the guarded ones stay within the budget.
 */
static void test_stack_map_budget_allows_40000(void **state)
{
	enum { N = 40000 };
	struct stack **s = calloc(N, sizeof(*s));
	unsigned budget = default_budget();
	unsigned guarded_here = 0;
	uint64_t before = guarded_now();

	(void)state;
	assert_non_null(s);
	for (int i = 0; i < N; i++) {
		char *top;

		assert_int_equal(weft__stack_alloc(NULL, 64 * KIB, &s[i]), 0);
		top = weft__stack_top(s[i]);
		memset(top - 64, (char)i, 64);
		guarded_here += s[i]->guarded;
	}
	assert_true(guarded_now() <= budget);
	assert_true(guarded_here > 0);
	assert_true(before + guarded_here <= budget);
	assert_true(mapped_now() >= N);
	assert_true(maps_lines() < max_map_count());
	for (int i = 0; i < N; i++) {
		assert_true(weft__stack_canary_ok(s[i]));
		assert_int_equal(((char *)weft__stack_top(s[i]))[-1], (char)i);
		weft__stack_free(NULL, s[i]);
	}
	free(s);
}

static void test_stack_sizes_use_separate_pools(void **state)
{
	static const size_t sizes[] = { 4 * KIB, 8 * KIB, 44 * KIB,
					132 * KIB, MIB + 4 * KIB };
	enum { NS = sizeof(sizes) / sizeof(sizes[0]), PER = 3 };
	struct stack *s[NS * PER];
	struct stack_cache c;
	size_t pg = page();

	(void)state;
	for (int i = 0; i < NS * PER; i++) {
		size_t want = sizes[i % NS];

		assert_int_equal(weft__stack_alloc(NULL, want, &s[i]), 0);
		assert_int_equal(s[i]->size, weft__stack_round(want));
		memset(s[i]->lo, i, s[i]->size);
	}
	/* No two slots overlap, gap pages included. */
	for (int i = 0; i < NS * PER; i++) {
		uintptr_t a = (uintptr_t)s[i]->lo - pg;
		uintptr_t ae = (uintptr_t)weft__stack_top(s[i]);

		for (int j = i + 1; j < NS * PER; j++) {
			uintptr_t b = (uintptr_t)s[j]->lo - pg;
			uintptr_t be = (uintptr_t)weft__stack_top(s[j]);

			assert_true(ae <= b || be <= a);
		}
	}
	for (int i = 0; i < NS * PER; i++) {
		unsigned char *lo = s[i]->lo;

		assert_int_equal(lo[0], (unsigned char)i);
		assert_int_equal(lo[s[i]->size - 1], (unsigned char)i);
		weft__stack_free(NULL, s[i]);
	}

	/* Back again, in the other order, each from its own pool. */
	for (int i = NS * PER - 1; i >= 0; i--) {
		assert_int_equal(weft__stack_alloc(NULL, sizes[i % NS], &s[i]),
				 0);
		assert_int_equal(s[i]->size, weft__stack_round(sizes[i % NS]));
	}
	for (int i = 0; i < NS * PER; i++)
		weft__stack_free(NULL, s[i]);

	/* A cache takes and gives only its own size. */
	weft__stack_cache_init(&c, weft__stack_round(44 * KIB));
	assert_int_equal(weft__stack_alloc(&c, 8 * KIB, &s[0]), 0);
	assert_int_equal(s[0]->size, weft__stack_round(8 * KIB));
	weft__stack_free(&c, s[0]);
	assert_int_equal(c.nr, 0);
	assert_int_equal(weft__stack_alloc(&c, 44 * KIB, &s[0]), 0);
	weft__stack_free(&c, s[0]);
	assert_int_equal(c.nr, 1);
	assert_int_equal(weft__stack_alloc(&c, 8 * KIB, &s[1]), 0);
	assert_int_equal(c.nr, 1);
	assert_int_equal(s[1]->size, weft__stack_round(8 * KIB));
	weft__stack_free(&c, s[1]);
	weft__stack_cache_flush(&c);
}

enum { MT_THREADS = 4, MT_ITERS = 100000, MT_HELD = 96 };

struct mt_arg {
	unsigned id;		/* thread number, part of every pattern */
	unsigned long errors;	/* mismatches seen; read after the join */
};

struct mt_held {
	struct stack *s;	/* a stack this thread holds */
	uint64_t pattern;	/* what it wrote over the stack's top page */
};

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void mt_fill(struct stack *s, uint64_t pattern, size_t pg)
{
	uint64_t *w = (uint64_t *)((char *)weft__stack_top(s) - pg);

	for (size_t i = 0; i < pg / sizeof(*w); i++)
		w[i] = pattern;
}

static unsigned long mt_check(struct stack *s, uint64_t pattern, size_t pg)
{
	const uint64_t *w = (const uint64_t *)((char *)weft__stack_top(s) - pg);
	unsigned long bad = 0;

	for (size_t i = 0; i < pg / sizeof(*w); i++)
		bad += w[i] != pattern;
	return bad != 0;
}

/*
 * Hold up to MT_HELD stacks, taking and giving back at random, so that
 * the cache overflows into the pool and refills from it; one take in 16
 * is of a size the cache does not hold and goes to the pool directly.
 */
static void *mt_thread(void *p)
{
	struct mt_arg *a = p;
	struct mt_held held[MT_HELD];
	uint64_t rng = 0x9e3779b97f4a7c15ull * (a->id + 1);
	size_t pg = page();
	struct stack_cache c;
	unsigned nr = 0;

	weft__stack_cache_init(&c, weft__stack_round(60 * KIB));
	for (uint64_t seq = 0; seq < MT_ITERS; seq++) {
		uint64_t r = xorshift(&rng);

		if (nr == 0 || (nr < MT_HELD && (r & 1))) {
			size_t size = (r >> 8) % 16 ? 60 * KIB : 68 * KIB;
			uint64_t pattern = (uint64_t)a->id << 56 | seq;
			struct stack *s;

			if (weft__stack_alloc(&c, size, &s) != 0) {
				a->errors++;
				continue;
			}
			for (unsigned i = 0; i < nr; i++)
				a->errors += held[i].s == s;
			mt_fill(s, pattern, pg);
			held[nr].s = s;
			held[nr].pattern = pattern;
			nr++;
		} else {
			unsigned i = (unsigned)((r >> 8) % nr);

			a->errors += mt_check(held[i].s, held[i].pattern, pg);
			weft__stack_free(&c, held[i].s);
			held[i] = held[--nr];
		}
	}
	while (nr > 0) {
		nr--;
		a->errors += mt_check(held[nr].s, held[nr].pattern, pg);
		weft__stack_free(&c, held[nr].s);
	}
	weft__stack_cache_flush(&c);
	return NULL;
}

static void test_stack_threads_share_pool(void **state)
{
	struct mt_arg args[MT_THREADS];
	pthread_t t[MT_THREADS];

	(void)state;
	for (unsigned i = 0; i < MT_THREADS; i++) {
		args[i].id = i + 1;
		args[i].errors = 0;
		assert_int_equal(pthread_create(&t[i], NULL, mt_thread,
						&args[i]), 0);
	}
	for (unsigned i = 0; i < MT_THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	for (unsigned i = 0; i < MT_THREADS; i++)
		assert_int_equal(args[i].errors, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_stack_round_sizes,
					  restore_budget),
		cmocka_unit_test_teardown(test_stack_whole_range_is_writable,
					  restore_budget),
		cmocka_unit_test_teardown(test_stack_guard_page_stops_overflow,
					  restore_budget),
		cmocka_unit_test_teardown(test_stack_beyond_budget_uses_canary,
					  restore_budget),
		cmocka_unit_test_teardown(test_stack_small_stacks_pack_two_per_page,
					  restore_budget),
		cmocka_unit_test_teardown(test_stack_cache_returns_same_stacks,
					  restore_budget),
		cmocka_unit_test_teardown(test_stack_full_cache_returns_half,
					  restore_budget),
		cmocka_unit_test_teardown(test_stack_free_slabs_are_unmapped,
					  restore_budget),
		cmocka_unit_test_teardown(test_stack_map_budget_allows_40000,
					  restore_budget),
		cmocka_unit_test_teardown(test_stack_sizes_use_separate_pools,
					  restore_budget),
		cmocka_unit_test_teardown(test_stack_threads_share_pool,
					  restore_budget),
	};

	return cmocka_run_group_tests_name("stack", tests, NULL, NULL);
}
