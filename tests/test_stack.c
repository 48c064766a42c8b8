/* SPDX-License-Identifier: MIT */
/*
 * Tests for src/mech/stack.c: size rounding, the guard page and the canary
 * that replaces it beyond the guard budget, per-worker caches, slab
 * release, the mapping budget under 40,000 live stacks, pools per size,
 * four threads sharing the pool, and big stacks under ASan: what their
 * shadow costs, and reuse after a context that left poisoned frames
 * deep in one. Every test uses its own stack sizes,
 * so that no test sees slots that another carved, and restores the guard
 * budget in its teardown. Single-threaded except the pool-sharing test
 * and the ones that run fibers (one worker), which skip where weft_run()
 * has no io_uring.
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
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "helpers.h"
#include "internal.h"
#include "stack.h"

#ifdef WEFT_ASAN
#include <sanitizer/asan_interface.h>
#endif
#if WEFT_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#else
/* Built without valgrind's headers: never under valgrind's eye either. */
#define RUNNING_ON_VALGRIND 0
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
#if WEFT_HAVE_VALGRIND
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
	weft__stack_force_mprotect(false);
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

/* A guard of either kind: a write below the stack is a SIGSEGV. */
static void check_guard_stops_overflow(size_t size)
{
	size_t pg = page();
	struct stack *s;
	char *lo;
	int status;
	pid_t pid;

	assert_int_equal(weft__stack_alloc(NULL, size, &s), 0);
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

static void test_stack_guard_page_stops_overflow(void **state)
{
	(void)state;
	/* madvise guards where the kernel has them (else mprotect), then
	 * mprotect ones, each in a pool of its own. */
	check_guard_stops_overflow(12 * KIB);
	weft__stack_force_mprotect(true);
	check_guard_stops_overflow(16 * KIB);
	weft__stack_force_mprotect(false);
}

static void test_stack_beyond_budget_uses_canary(void **state)
{
	struct stack *s[5];
	unsigned guarded = 0;
	uint64_t *below;
	uint64_t saved;

	(void)state;
	/* The budget is for mprotect guards; madvise ones need none. */
	weft__stack_force_mprotect(true);
	weft__stack_set_guard_budget((unsigned)weft__stack_guard_maps() + 2);
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
	/* The first take filled a whole magazine from the slabs. */
	assert_int_equal(weft__stack_cached(&c, weft__stack_round(28 * KIB)),
			 WEFT_STACK_MAG - HELD);
	for (int i = HELD - 1; i >= 0; i--)
		weft__stack_free(&c, first[i]);
	assert_int_equal(weft__stack_cached(&c, weft__stack_round(28 * KIB)),
			 WEFT_STACK_MAG);
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
	assert_int_equal(weft__stack_cached(&c, weft__stack_round(28 * KIB)), 0);
}

/*
 * A fiber's first run trades the stack it was spawned with, never run on,
 * for the one most recently given back to that worker's cache: the warm
 * one is handed out, the cold one takes its place, and the cache's count
 * does not change. Another size class, or an empty cache, leaves the
 * stack as it was.
 */
static void test_stack_swap_warm_trades_for_the_latest_freed(void **state)
{
	size_t usable = weft__stack_round(28 * KIB);
	struct stack *cold, *warm, *other, *s, *again;
	struct stack_cache c, empty;

	(void)state;
	weft__stack_cache_init(&c, usable);
	weft__stack_cache_init(&empty, usable);
	assert_int_equal(weft__stack_alloc(&c, 28 * KIB, &cold), 0);
	assert_int_equal(weft__stack_alloc(&c, 28 * KIB, &warm), 0);
	weft__stack_free(&c, warm);
	assert_int_equal(weft__stack_cached(&c, usable), WEFT_STACK_MAG - 1);

	s = cold;
	weft__stack_swap_warm(&c, usable, &s);
	assert_ptr_equal(s, warm);
	assert_int_equal(weft__stack_cached(&c, usable), WEFT_STACK_MAG - 1);
	/* The cold one is now the next the cache hands out. */
	assert_int_equal(weft__stack_alloc(&c, 28 * KIB, &again), 0);
	assert_ptr_equal(again, cold);
	weft__stack_free(&c, again);

	/* An empty cache has nothing warmer. */
	weft__stack_swap_warm(&empty, usable, &s);
	assert_ptr_equal(s, warm);

	/* Nor does a cache without the size's class. */
	assert_int_equal(weft__stack_alloc(&c, 200 * KIB, &other), 0);
	/* The usable size: the class's without a read, else the stack's. */
	assert_int_equal(weft__stack_usable(&c, usable, cold), cold->size);
	assert_int_equal(weft__stack_usable(&c, 200 * KIB, other), other->size);
	assert_true(other->size >= 200 * KIB);
	s = other;
	weft__stack_swap_warm(&c, other->size, &s);
	assert_ptr_equal(s, other);

	weft__stack_free(&c, other);
	weft__stack_free(&c, warm);
	weft__stack_cache_flush(&c);
	weft__stack_cache_flush(&empty);
	assert_int_equal(weft__stack_cached(&c, usable), 0);
}

/*
 * A cache holds two magazines; freeing past that hands the older full
 * one to the pool's depot, where another worker's cache takes it whole
 * without going back to the slabs: every stack it gets is one the first
 * cache gave back, and nothing new is mapped.
 */
static bool among(struct stack *const *s, int n, const struct stack *x)
{
	for (int i = 0; i < n; i++)
		if (s[i] == x)
			return true;
	return false;
}

static void test_stack_full_magazines_go_to_the_depot(void **state)
{
	enum { N = 3 * WEFT_STACK_MAG };
	size_t size = weft__stack_round(76 * KIB);
	struct stack *s[N], *got[WEFT_STACK_MAG];
	struct stack_cache c, other;
	uint64_t mapped;

	(void)state;
	weft__stack_cache_init(&c, size);
	weft__stack_cache_init(&other, size);
	for (int i = 0; i < N; i++)
		assert_int_equal(weft__stack_alloc(&c, size, &s[i]), 0);
	for (int i = 0; i < N; i++)
		weft__stack_free(&c, s[i]);
	/* Two magazines stay; the rest went to the depot. */
	assert_int_equal(weft__stack_cached(&c, size), 2 * WEFT_STACK_MAG);
	mapped = mapped_now();
	for (int i = 0; i < WEFT_STACK_MAG; i++) {
		assert_int_equal(weft__stack_alloc(&other, size, &got[i]), 0);
		assert_true(among(s, N, got[i]));
	}
	assert_int_equal(mapped_now(), mapped);
	assert_int_equal(weft__stack_cached(&other, size), 0);
	for (int i = 0; i < WEFT_STACK_MAG; i++)
		weft__stack_free(&other, got[i]);
	weft__stack_cache_flush(&c);
	weft__stack_cache_flush(&other);
	assert_int_equal(weft__stack_cached(&c, size), 0);
	assert_int_equal(weft__stack_cached(&other, size), 0);
}

/* An added class is cached like the default one; adding it twice, or
 * past the classes there are, changes nothing. */
static void test_stack_added_class_is_cached(void **state)
{
	size_t size = weft__stack_round(64 * KIB);
	size_t big = weft__stack_round(256 * KIB);
	struct stack *s, *again;
	struct stack_cache c;
	unsigned n;

	(void)state;
	weft__stack_cache_init(&c, size);
	weft__stack_cache_add_class(&c, big);
	weft__stack_cache_add_class(&c, big);
	weft__stack_cache_add_class(&c, weft__stack_round(512 * KIB));
	assert_int_equal(weft__stack_alloc(&c, big, &s), 0);
	assert_int_equal(s->size, big);
	/* The refill brought a magazine: the rest of it is cached. */
	n = weft__stack_cached(&c, big);
	assert_true(n > 0);
	weft__stack_free(&c, s);
	assert_int_equal(weft__stack_cached(&c, big), n + 1);
	assert_int_equal(weft__stack_alloc(&c, big, &again), 0);
	assert_ptr_equal(again, s);
	assert_int_equal(weft__stack_cached(&c, big), n);
	weft__stack_free(&c, again);
	/* No class was left for 512 KiB: not cached. */
	assert_int_equal(weft__stack_alloc(&c, 512 * KIB, &s), 0);
	weft__stack_free(&c, s);
	assert_int_equal(weft__stack_cached(&c, weft__stack_round(512 * KIB)),
			 0);
	weft__stack_cache_flush(&c);
}

static void test_stack_idle_free_slabs_are_unmapped(void **state)
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
	/* Freed slabs stay mapped (the next burst needs no system call)... */
	weft__stack_counts(&m1, &g1);
	assert_true(m1 >= m0 + N - WEFT_STACK_SLAB_SLOTS);
	/* ... through one trim, which only starts their idle period... */
	weft__stack_trim(false);
	weft__stack_counts(&m1, &g1);
	assert_true(m1 >= m0 + N - WEFT_STACK_SLAB_SLOTS);
	/* ... and a second trim, a whole period later, gives back all but
	 * WEFT_STACK_EMPTY_SLABS of them. */
	weft__stack_trim(false);
	weft__stack_counts(&m1, &g1);
	assert_true(m1 <= m0 + WEFT_STACK_EMPTY_SLABS * WEFT_STACK_SLAB_SLOTS);
	assert_true(g1 <= g0 + WEFT_STACK_EMPTY_SLABS * WEFT_STACK_SLAB_SLOTS);
	free(s);
}

/* Resident pages of [p, p + len), by mincore(). */
static size_t resident_pages(void *p, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = (len + pg - 1) / pg;
	unsigned char *vec = calloc(n, 1);
	size_t count = 0;

	assert_non_null(vec);
	assert_int_equal(mincore(p, len, vec), 0);
	for (size_t i = 0; i < n; i++)
		count += vec[i] & 1;
	free(vec);
	return count;
}

/*
 * Free stacks on a slab that live fibers keep mapped give their pages
 * back after a whole trim period, and only those: the live stacks keep
 * their contents, and a bared stack comes back usable (zero-filled).
 */
static void test_stack_idle_free_stacks_give_back_pages(void **state)
{
	enum { N = 300, TOUCH = 16 * KIB };
	struct stack **s = calloc(N, sizeof(*s));
	size_t before = 0, after = 0, live = 0;
	struct stack *again;

	(void)state;
	assert_non_null(s);
	for (int i = 0; i < N; i++) {
		assert_int_equal(weft__stack_alloc(NULL, 64 * KIB, &s[i]), 0);
		memset((char *)weft__stack_top(s[i]) - TOUCH, (char)(i | 1),
		       TOUCH);
	}
	/* Every tenth stays in use, so no slab is wholly free. */
	for (int i = 0; i < N; i++)
		if (i % 10)
			weft__stack_free(NULL, s[i]);
	for (int i = 1; i < N; i += 10)
		before += resident_pages(s[i]->lo, s[i]->size);
	/* One trim starts their idle period: nothing given back yet. */
	weft__stack_trim(false);
	for (int i = 1; i < N; i += 10)
		after += resident_pages(s[i]->lo, s[i]->size);
	assert_int_equal(after, before);
	/* A second trim, a whole period later, gives them back. */
	weft__stack_trim(false);
	after = 0;
	for (int i = 1; i < N; i += 10)
		after += resident_pages(s[i]->lo, s[i]->size);
	if (!RUNNING_ON_VALGRIND)
		assert_true(after < before / 4);
	for (int i = 0; i < N; i += 10) {
		live += resident_pages(s[i]->lo, s[i]->size);
		assert_int_equal(((char *)weft__stack_top(s[i]))[-1],
				 (char)(i | 1));
	}
	assert_true(live >= (N / 10) * (TOUCH / 4096));
	/* A bared stack is handed out again and works. */
	assert_int_equal(weft__stack_alloc(NULL, 64 * KIB, &again), 0);
	memset((char *)weft__stack_top(again) - TOUCH, 7, TOUCH);
	weft__stack_free(NULL, again);
	for (int i = 0; i < N; i += 10)
		weft__stack_free(NULL, s[i]);
	weft__stack_trim(true);
	free(s);
}

/*
 * More stacks alive at once than vm.max_map_count allows with a guard
 * page on each (65,530 mappings give about 32,700): none may fail, and
 * the guarded ones stay within the budget.
 */
static void check_40000_alive(size_t size)
{
	enum { N = 40000 };
	struct stack **s = calloc(N, sizeof(*s));
	bool markers = weft__stack_guard_mechanism() == WEFT_GUARD_MADVISE;
	unsigned budget = default_budget();
	unsigned guarded_here = 0;
	uint64_t before = weft__stack_guard_maps();

	assert_non_null(s);
	for (int i = 0; i < N; i++) {
		char *top;

		assert_int_equal(weft__stack_alloc(NULL, size, &s[i]), 0);
		top = weft__stack_top(s[i]);
		memset(top - 64, (char)i, 64);
		guarded_here += s[i]->guarded;
	}
	if (markers) {
		/* madvise guards split no mapping: every stack has one. */
		assert_int_equal(guarded_here, N);
	} else {
		assert_true(weft__stack_guard_maps() <= budget);
		assert_true(guarded_here > 0);
		assert_true(before + guarded_here <= budget);
	}
	assert_true(mapped_now() >= N);
	assert_true(maps_lines() < max_map_count());
	for (int i = 0; i < N; i++) {
		assert_true(weft__stack_canary_ok(s[i]));
		assert_int_equal(((char *)weft__stack_top(s[i]))[-1], (char)i);
		weft__stack_free(NULL, s[i]);
	}
	free(s);
}

/*
 * More stacks alive at once than vm.max_map_count allows with an
 * mprotect guard on each (65,530 mappings give about 32,700): none may
 * fail, and the mprotect guards stay within the budget; with madvise
 * guards, all of them are guarded.
 */
static void test_stack_map_budget_allows_40000(void **state)
{
	(void)state;
	check_40000_alive(64 * KIB);
	if (weft__stack_guard_mechanism() == WEFT_GUARD_MPROTECT)
		return;		/* that was the mprotect pass */
	/* Freed slabs keep their guards (and, with mprotect, their share
	 * of the budget) until a trim gives them back. */
	weft__stack_trim(true);
	weft__stack_force_mprotect(true);
	check_40000_alive(52 * KIB);
	weft__stack_force_mprotect(false);
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
	assert_int_equal(weft__stack_cached(&c, weft__stack_round(8 * KIB)), 0);
	assert_int_equal(weft__stack_alloc(&c, 44 * KIB, &s[0]), 0);
	weft__stack_free(&c, s[0]);
	assert_int_equal(weft__stack_cached(&c, weft__stack_round(44 * KIB)),
			 WEFT_STACK_MAG);
	assert_int_equal(weft__stack_alloc(&c, 8 * KIB, &s[1]), 0);
	assert_int_equal(weft__stack_cached(&c, weft__stack_round(44 * KIB)),
			 WEFT_STACK_MAG);
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

/*
 * Stacks crossing threads, as fork-join makes them: one worker spawns,
 * a thief runs the child and frees its stack into its own cache. Each
 * thread takes stacks from its cache, stamps them and mails them to a
 * random thread (itself included), which checks the stamp and frees them
 * into its cache, so magazines fill on one side and drain on the other
 * and every hand-off goes through a pool's lock-free depot. A stack
 * handed out twice would carry two stamps: one check fails.
 */
#if defined(WEFT_ASAN) || defined(WEFT_TSAN)
enum { TR_ITERS = 20000 };	/* each stamp is a page: slow under them */
#else
enum { TR_ITERS = 200000 };
#endif
enum { TR_THREADS = 4, TR_BOX = 64 };

struct tr_box {
	pthread_mutex_t lock;
	unsigned nr;
	struct mt_held items[TR_BOX];
};

static struct tr_box tr_boxes[TR_THREADS];

static bool tr_post(unsigned to, struct stack *s, uint64_t pattern)
{
	struct tr_box *b = &tr_boxes[to];
	bool ok;

	pthread_mutex_lock(&b->lock);
	ok = b->nr < TR_BOX;
	if (ok) {
		b->items[b->nr].s = s;
		b->items[b->nr].pattern = pattern;
		b->nr++;
	}
	pthread_mutex_unlock(&b->lock);
	return ok;
}

static bool tr_take(unsigned me, struct mt_held *out)
{
	struct tr_box *b = &tr_boxes[me];
	bool ok;

	pthread_mutex_lock(&b->lock);
	ok = b->nr > 0;
	if (ok)
		*out = b->items[--b->nr];
	pthread_mutex_unlock(&b->lock);
	return ok;
}

static void *tr_thread(void *p)
{
	struct mt_arg *a = p;
	uint64_t rng = 0x2545f4914f6cdd1dull * (a->id + 1);
	size_t size = weft__stack_round(60 * KIB);
	unsigned me = a->id - 1;
	size_t pg = page();
	struct stack_cache c;
	struct mt_held h;

	weft__stack_cache_init(&c, size);
	for (uint64_t seq = 0; seq < TR_ITERS; seq++) {
		uint64_t r = xorshift(&rng);

		if (r & 1) {
			uint64_t pattern = (uint64_t)a->id << 56 | seq;
			struct stack *s;

			if (weft__stack_alloc(&c, size, &s) != 0) {
				a->errors++;
				continue;
			}
			mt_fill(s, pattern, pg);
			if (!tr_post((unsigned)(r >> 8) % TR_THREADS, s, pattern))
				weft__stack_free(&c, s);
		} else if (tr_take(me, &h)) {
			a->errors += mt_check(h.s, h.pattern, pg);
			weft__stack_free(&c, h.s);
		}
	}
	weft__stack_cache_flush(&c);
	return NULL;
}

static void test_stack_threads_trade_stacks(void **state)
{
	struct mt_arg args[TR_THREADS];
	pthread_t t[TR_THREADS];
	struct stack_cache c;
	struct mt_held h;
	unsigned long errors = 0;

	(void)state;
	for (unsigned i = 0; i < TR_THREADS; i++)
		pthread_mutex_init(&tr_boxes[i].lock, NULL);
	for (unsigned i = 0; i < TR_THREADS; i++) {
		args[i].id = i + 1;
		args[i].errors = 0;
		assert_int_equal(pthread_create(&t[i], NULL, tr_thread,
						&args[i]), 0);
	}
	for (unsigned i = 0; i < TR_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		errors += args[i].errors;
	}
	/* What is still in the mailboxes: checked, then back to the pool. */
	weft__stack_cache_init(&c, weft__stack_round(60 * KIB));
	for (unsigned i = 0; i < TR_THREADS; i++)
		while (tr_take(i, &h)) {
			errors += mt_check(h.s, h.pattern, page());
			weft__stack_free(&c, h.s);
		}
	weft__stack_cache_flush(&c);
	assert_int_equal(errors, 0);
}

/* Big stacks under ASan ----------------------------------------------- */

/*
 * Unpoisoning a range writes its ASan shadow, an eighth of its size, and
 * so commits that much memory: 128 MiB for a 1 GiB stack. Fibers and
 * generators on big stacks that use a few KiB of them must cost a few
 * KiB of shadow, and a stack reused after a context that left poisoned
 * frames deep in it must come back clean that deep.
 */

/* The largest stack, as many fibers at once as the example. */
#define BIG_STACK ((size_t)1 << 30)
#define BIG_FIBERS 8
#define BIG_ROUNDS 2
/* What they may add to RSS; whole-stack shadow commits 128 MiB a stack. */
#define BIG_RSS_MAX (64 * MIB)

/* Resident bytes of this process (/proc/self/statm), or 0. */
static size_t rss_bytes(void)
{
	unsigned long vm = 0;
	unsigned long res = 0;
	char buf[128];
	ssize_t n;
	int fd;

	fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%lu %lu", &vm, &res) != 2)
		return 0;
	return res * page();
}

/* Skip the test if the runtime cannot start here for want of io_uring. */
static void skip_unless_runtime(void)
{
	struct weft_config one = { .workers = 1 };
	int err = weft_run(&one, noop_main, NULL);

	if (err == -ENOSYS)
		skip();
	assert_int_equal(err, 0);
}

/*
 * @depth frames of a KiB each, with ASan redzones around their buffers
 * (on the fake stack instead under detect_stack_use_after_return).
 */
static __attribute__((noinline)) unsigned touch_frames(unsigned depth)
{
	char buf[1024];
	unsigned v;

	memset(buf, (int)depth, sizeof(buf));
	v = depth ? touch_frames(depth - 1) : 0;
	return v + (unsigned char)buf[depth % sizeof(buf)];
}

struct big_run {
	weft_wg ready;		/* counts fibers that have used their stack */
	weft_sem go;		/* lets them end */
	size_t rss_before;	/* RSS before the first spawn */
	size_t rss_alive[BIG_ROUNDS]; /* RSS with each round's fibers alive */
	size_t rss_after;	/* RSS after the last join */
};

static void *big_fiber(void *arg)
{
	struct big_run *r = arg;
	unsigned v = touch_frames(4);

	check_eq(weft_wg_done(&r->ready), 0);
	check_eq(weft_sem_acquire(&r->go), 0);
	return (void *)(uintptr_t)v;
}

static void big_main(void *arg)
{
	struct weft_spawn_opts opts = { .stack_size = BIG_STACK };
	struct big_run *r = arg;
	weft_fiber *f[BIG_FIBERS];

	r->rss_before = rss_bytes();
	for (int round = 0; round < BIG_ROUNDS; round++) {
		int n = 0;

		check_eq(weft_wg_add(&r->ready, BIG_FIBERS), 0);
		for (; n < BIG_FIBERS; n++)
			if (weft_spawn(&f[n], big_fiber, r, &opts) != 0)
				break;
		check_eq(n, BIG_FIBERS);
		check_eq(weft_wg_add(&r->ready, n - BIG_FIBERS), 0);
		check_eq(weft_wg_wait(&r->ready), 0);
		r->rss_alive[round] = rss_bytes();
		for (int i = 0; i < n; i++)
			check_eq(weft_sem_release(&r->go), 0);
		for (int i = 0; i < n; i++)
			check_join(f[i]);
	}
	r->rss_after = rss_bytes();
}

/*
 * Eight fibers on 1 GiB stacks, alive at once, each using a few KiB;
 * twice, so that the second eight reuse stacks (or addresses) the first
 * gave back. Without sanitizers the bound holds trivially.
 */
static void test_stack_big_stacks_cost_only_what_they_use(void **state)
{
	struct big_run r = { .ready = WEFT_WG_INIT, .go = WEFT_SEM_INIT(0) };
	size_t top;

	(void)state;
	skip_unless_runtime();
	watchdog_arm(__func__, 60);
	run_checked(&(struct weft_config){ .workers = 1 }, big_main, &r);
	watchdog_disarm();
	assert_true(r.rss_before > 0);
	top = r.rss_after;
	for (int i = 0; i < BIG_ROUNDS; i++) {
		print_message("rss with %d fibers on 1 GiB stacks alive, round "
			      "%d: %+zd KiB\n", BIG_FIBERS, i + 1,
			      (ssize_t)(r.rss_alive[i] - r.rss_before) /
				      (ssize_t)KIB);
		if (r.rss_alive[i] > top)
			top = r.rss_alive[i];
	}
	print_message("rss after the last join: %+zd KiB (from %zu KiB)\n",
		      (ssize_t)(r.rss_after - r.rss_before) / (ssize_t)KIB,
		      r.rss_before / KIB);
	assert_true(top < r.rss_before + BIG_RSS_MAX);
}

/*
 * Reuse after deep use. A context digs @deep bytes into its stack in
 * frames with variable-length buffers (on the real stack under ASan
 * even with a fake stack, each between poisoned redzones) and leaves
 * them there; the next user of the stack takes one buffer that spans
 * the whole dug range and writes all of it, which ASan reports if any
 * of the old redzones is still poisoned.
 */
struct deep {
	size_t deep;		/* bytes to dig below base */
	char *base;		/* digger's frame at the top of its stack */
	char *base2;		/* writer's frame, the same if reused */
	jmp_buf out;		/* the digger's way back up */
	weft_gen *g;		/* the digging generator, if one */
	bool dug;		/* the digger reached the bottom */
	bool poisoned;		/* the writer found stale poison (ASan) */
	bool wrote;		/* the writer wrote its whole buffer */
};

/* How the digger leaves its frames at the bottom. */
enum dig_end { DIG_LONGJMP, DIG_YIELD };

static __attribute__((noinline)) unsigned dig(struct deep *d, size_t pad,
					      enum dig_end end)
{
	char buf[pad];
	unsigned v;

	memset(buf, (int)pad, pad);
	if ((size_t)(d->base - (char *)__builtin_frame_address(0)) >= d->deep) {
		d->dug = true;
		if (end == DIG_LONGJMP)
			longjmp(d->out, 1);
		/* Ignore the close, so that the generator is dropped right
		 * here, its frames still on its stack. */
		if (weft_gen_yield(d->g, NULL) == WEFT_GEN_EXIT)
			weft_gen_yield(d->g, NULL);
		return 0;
	}
	v = dig(d, pad, end);
	/* @buf used after the call: no compiler may turn the recursion into
	 * a loop (clang did, with the sum as an accumulator), which would
	 * never get deeper. */
	__asm__ volatile("" : : "r"(buf) : "memory");
	return v + (unsigned char)buf[pad / 2];
}

/* Take a buffer over the whole dug range and write all of it. */
static __attribute__((noinline)) void write_deep(struct deep *d)
{
	size_t len = d->deep + 4 * MIB;
	char buf[len];

#ifdef WEFT_ASAN
	d->poisoned = __asan_region_is_poisoned(buf, len) != NULL;
	if (d->poisoned)
		return;
#endif
	memset(buf, 0x5a, len);
	d->wrote = buf[0] == 0x5a && buf[len - 1] == 0x5a;
}

/*
 * Frames a generator leaves when it is dropped where it yielded: a
 * 48 MiB stack, dug 16 MiB deep, then written by the next generator.
 */
#define DROP_STACK ((size_t)48 << 20)

static void *drop_digger(weft_gen *g, void *arg)
{
	struct deep *d = arg;

	(void)g;
	d->base = __builtin_frame_address(0);
	return (void *)(uintptr_t)dig(d, 1000, DIG_YIELD);
}

static void *drop_writer(weft_gen *g, void *arg)
{
	struct deep *d = arg;

	(void)g;
	d->base2 = __builtin_frame_address(0);
	write_deep(d);
	return NULL;
}

/*
 * Under TSan every frame and write is instrumented: the same reuse, less
 * deep. (What the depth is for, ASan's shadow, is not in that build.)
 */
#ifdef WEFT_TSAN
#define DIG_SCALE 16
#else
#define DIG_SCALE 1
#endif

static void test_stack_reuse_after_dropped_deep_generator(void **state)
{
	struct deep d = { .deep = 16 * MIB / DIG_SCALE };
	weft_gen *w;

	(void)state;
	assert_int_equal(weft_gen_new(&d.g, drop_digger, &d, DROP_STACK), 0);
	assert_int_equal(weft_gen_send(d.g, NULL, NULL), 0);
	assert_true(d.dug);
	/* Ignores the exit: dropped in its deepest frame. */
	weft_gen_free(d.g);

	assert_int_equal(weft_gen_new(&w, drop_writer, &d, DROP_STACK), 0);
	assert_int_equal(weft_gen_send(w, NULL, NULL), 1);
	weft_gen_free(w);
	/* The pool gave the writer the digger's stack. */
	assert_ptr_equal(d.base2, d.base);
	assert_false(d.poisoned);
	assert_true(d.wrote);
}

/*
 * A fiber that longjmps out of frames 96 MiB deep in a 256 MiB stack:
 * deeper than the 64 MiB ASan's __asan_handle_no_return clears (it
 * clears nothing then, and prints a warning once). The fiber ends; the
 * next fiber on the stack writes 100 MiB of it.
 */
#define LONGJMP_STACK ((size_t)256 << 20)

static void *longjmp_digger(void *arg)
{
	struct deep *d = arg;

	d->base = __builtin_frame_address(0);
	if (setjmp(d->out) == 0)
		dig(d, 1000, DIG_LONGJMP);
	return NULL;
}

static void *longjmp_writer(void *arg)
{
	struct deep *d = arg;

	d->base2 = __builtin_frame_address(0);
	write_deep(d);
	return NULL;
}

static void longjmp_main(void *arg)
{
	struct weft_spawn_opts opts = { .stack_size = LONGJMP_STACK };
	struct deep *d = arg;
	weft_fiber *f = NULL;

	check_eq(weft_spawn(&f, longjmp_digger, d, &opts), 0);
	if (f)
		check_join(f);
	f = NULL;
	check_eq(weft_spawn(&f, longjmp_writer, d, &opts), 0);
	if (f)
		check_join(f);
}

static void test_stack_reuse_after_deep_longjmp(void **state)
{
	struct deep d = { .deep = 96 * MIB / DIG_SCALE };

	(void)state;
	skip_unless_runtime();
	watchdog_arm(__func__, 60);
	run_checked(&(struct weft_config){ .workers = 1 }, longjmp_main, &d);
	watchdog_disarm();
	assert_true(d.dug);
	/* The pool gave the writer the digger's stack. */
	assert_ptr_equal(d.base2, d.base);
	assert_false(d.poisoned);
	assert_true(d.wrote);
}

/* WEFT_STACK_GUARD ------------------------------------------------------ */

/* `test_stack guard-env`: print the guard kind weft_stats reports. */
static void print_guard(void *arg)
{
	struct weft_stats st = { .size = sizeof(st) };

	(void)arg;
	if (weft_stats(&st) == 0)
		printf("stack_guard %u\n", st.stack_guard);
}

/* Run this program fresh (the guard kind is chosen once a process) with
 * WEFT_STACK_GUARD=@value; its stdout and stderr into @out. The path is
 * read through /proc/self/exe, which valgrind answers with this program
 * (/proc/PID/exe would name valgrind's own tool). */
static void run_guard_env(const char *value, char *out, size_t cap)
{
	char cmd[512], exe[256];
	ssize_t len;
	FILE *p;
	size_t n;

	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(len > 0);
	exe[len] = '\0';
	snprintf(cmd, sizeof(cmd), "WEFT_STACK_GUARD='%s' '%s' guard-env 2>&1",
		 value, exe);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	assert_int_equal(pclose(p), 0);
}

static void test_stack_guard_env(void **state)
{
	char out[1024], want[64];

	(void)state;
	run_guard_env("mprotect", out, sizeof(out));
	snprintf(want, sizeof(want), "stack_guard %u\n", WEFT_GUARD_MPROTECT);
	if (!strstr(out, want))
		fail_msg("WEFT_STACK_GUARD=mprotect: %s", out);
	run_guard_env("sideways", out, sizeof(out));
	assert_non_null(strstr(out, "weft: WEFT_STACK_GUARD=sideways is not "
				    "auto or mprotect; ignoring it"));
	assert_non_null(strstr(out, "stack_guard "));
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "guard-env") == 0)
		return weft_run(&(struct weft_config){ .workers = 1 },
				print_guard, NULL) == 0 ? 0 : 1;

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
		cmocka_unit_test_teardown(
			test_stack_swap_warm_trades_for_the_latest_freed,
			restore_budget),
		cmocka_unit_test_teardown(test_stack_full_magazines_go_to_the_depot,
					  restore_budget),
		cmocka_unit_test_teardown(test_stack_added_class_is_cached,
					  restore_budget),
		cmocka_unit_test_teardown(test_stack_idle_free_slabs_are_unmapped,
					  restore_budget),
		cmocka_unit_test(test_stack_idle_free_stacks_give_back_pages),
		cmocka_unit_test_teardown(test_stack_map_budget_allows_40000,
					  restore_budget),
		cmocka_unit_test_teardown(test_stack_sizes_use_separate_pools,
					  restore_budget),
		cmocka_unit_test_teardown(test_stack_threads_trade_stacks,
					  restore_budget),
		cmocka_unit_test_teardown(test_stack_threads_share_pool,
					  restore_budget),
		cmocka_unit_test_teardown(test_stack_big_stacks_cost_only_what_they_use,
					  restore_budget),
		cmocka_unit_test_teardown(test_stack_reuse_after_dropped_deep_generator,
					  restore_budget),
		cmocka_unit_test_teardown(test_stack_reuse_after_deep_longjmp,
					  restore_budget),
		cmocka_unit_test(test_stack_guard_env),
	};

	return cmocka_run_group_tests_name("stack", tests, NULL, NULL);
}
