/* SPDX-License-Identifier: MIT */
/*
 * Fiber stacks. This file owns every stack slot: the slabs they are carved
 * from, the pools that group slabs by usable size, the guard-page budget,
 * the canaries of unguarded slots, and the per-worker stack caches. The
 * pools, slabs and budget are shared by all workers and protected by one
 * pthread mutex (pool_lock), taken only on the slow path; a stack_cache
 * is touched by its owner worker only. The two slot counters are written
 * under pool_lock and may be read by any thread. The user-facing policy
 * is in weft.h ("Stacks", "Guard pages and the map budget").
 *
 * Layout. A slot is one page followed by the usable stack:
 *
 *	[ gap page ][ usable: lo .. lo + size )
 *
 * The gap page is made PROT_NONE (a guard) while the guard budget allows;
 * otherwise it stays readable and writable and must stay all zero, as
 * mmap made it: the scheduler checks its top 16 bytes (the canary)
 * whenever the fiber switches out, and the whole page when the fiber
 * ends. Nothing is written there, so an unguarded stack costs no more
 * memory than a guarded one. A
 * slot's guard status is fixed when it is carved and kept for the life of
 * its slab, so reusing a stack costs no system call.
 *
 * Slabs. One mmap holds up to WEFT_STACK_SLAB_SLOTS slots, carved lazily
 * in address order, so a slab costs one mapping plus two per guarded slot
 * (the guard splits its neighbourhood into separate mappings). 128 slots
 * of the default 64 KiB make an 8.5 MiB slab: one mmap, one calloc and a
 * 5 KiB descriptor array then serve 128 spawns, and slabs add under 1% to
 * the mapping count. Slabs are also capped at SLAB_BYTES_MAX of address
 * space, so that a pool of 1 MiB stacks does not reserve 128 MiB for a
 * program that makes three of them. The descriptors (struct stack) live
 * in the calloc'd slab header, never in stack memory, so a free stack's
 * pages are not touched and may stay unbacked.
 *
 * Pools. One pool per usable size, in a short list; each keeps its slabs
 * that have a free or uncarved slot on a list, partly used slabs first
 * and at most one wholly free slab (kept so that a workload which
 * oscillates around a slab boundary does not mmap and munmap each time)
 * at the end. A second wholly free slab is unmapped at once, which gives
 * its mappings and guard budget back. A slab a few live fibers keep
 * mapped would keep the touched pages of all its free stacks too (a
 * server's burst of connection fibers, say): so each trim gives back the
 * pages of free stacks that stayed on a slab's free list a whole period
 * (pool_bare(), MADV_DONTNEED; guards and mappings stay as they are).
 *
 * Small stacks. A request of at most WEFT_STACK_SMALL bytes gets a slot
 * of exactly that size, packed back to back with no guard page and no
 * gap page: its lowest SMALL_GAP bytes are its gap (the same zero
 * canary, checked the same way), the rest is usable. Two parked fibers
 * then share a page. Under the sanitizers, whose frames are much larger,
 * the request gets SANITIZER_SMALL instead. Lazy PLT binding would save
 * the vector registers on the stack (over a kilobyte), so the library
 * and its users in this tree link with -z now (meson.build).
 *
 * Tools. A stack is made undefined (so writable from any stack) for
 * memcheck when it is freed; each carved slot is registered as a Valgrind
 * stack until its slab is unmapped; each slab is an LSan root region, so
 * objects referenced only from a suspended fiber are not reported as
 * leaks. A free stack's ASan shadow is clean, so that its next user gets
 * no false reports from the frames of the last, and
 * only the shadow of what a stack used is ever written: unpoisoning a
 * range writes an eighth of its size as shadow, and commits it, so
 * clearing a whole 1 GiB stack at each free would cost 128 MiB of memory
 * per stack. A new slot's shadow is clean (that of an unmapped slab was).
 * When a context leaves its stack for good, the frames still on it are
 * cleared by weft__switch() (weft__asan_forget_frames() in ctx.h), and
 * those of a generator dropped where it yielded by gen.c; frames below
 * were cleared as they returned, or by ASan's __asan_handle_no_return
 * when a longjmp or throw skipped them. ASan does that only from up to
 * ASAN_NORETURN_MAX below the top, so for stacks that can go deeper
 * stack_scrub() clears from the lowest page the stack ever touched.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <ck_pr.h>

#include "config.h"
#include "internal.h"
#include "list.h"
#include "stack.h"
#include "weft.h"

#ifdef WEFT_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/lsan_interface.h>
#endif
#if WEFT_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#endif

/* A small stack's gap: the lowest bytes of its slot (see Small stacks). */
#define SMALL_GAP 64u
/* What a small stack request gets under a sanitizer. */
#define SANITIZER_SMALL ((size_t)32 << 10)

/* Most address space one slab reserves (unless one slot needs more). */
#define SLAB_BYTES_MAX ((size_t)32 << 20)

/* Fallback when /proc/sys/vm/max_map_count cannot be read (the default). */
#define MAP_COUNT_FALLBACK 65530u

/*
 * Most guarded slots under Valgrind, whatever vm.max_map_count says: its
 * address-space manager tracks every mapping of the process in a fixed
 * table (VG_N_SEGMENTS, 30,000 in 3.19) and exits when that fills, which
 * about 14,500 guard pages do. 4,096 guards take 8,192 entries.
 */
#define VALGRIND_GUARD_BUDGET 4096u

struct pool;

struct slab {
	/* Set at creation, then read-only. */
	struct pool *pool;	/* the pool this slab serves */
	char *base;		/* start of the mapping */
	size_t map_len;		/* length of the mapping */
	unsigned nr_slots;	/* slots the mapping holds */

	/* Protected by pool_lock. */
	struct list_node avail;	/* on the pool's avail list, when on_avail */
	bool on_avail;		/* has a free or uncarved slot: listed */
	struct stack *free;	/* free carved slots, via stack.next */
	unsigned nr_carved;	/* slots[0 .. nr_carved) are carved */
	unsigned nr_free;	/* carved slots on the free list */
	unsigned nr_guarded;	/* carved slots with a guard page */
	bool guard_markers;	/* every slot's gap holds a madvise guard */
	unsigned free_epoch;	/* trim_epoch when it became wholly free */
	struct stack slots[];	/* descriptors, set when carved */
};

/*
 * A depot list: a Treiber stack of magazines whose head carries a count
 * that every change bumps, swapped with one double-width CAS, so a
 * popper that read a head which was popped and pushed back meanwhile
 * (ABA) fails and retries. Magazines are never freed, so reading a
 * popped one's link is safe. ck_stack_pop_mpmc is the same algorithm,
 * but reads the link with a plain load (a race for TSan) and counts by
 * adding to a null pointer (UBSan), hence this one.
 */
struct mag_list {
	struct magazine *head;
	void *count;		/* a counter, only ever compared */
} __attribute__((aligned(16)));

struct pool {
	/* The depot: lock-free, any thread (see Magazines). */
	struct mag_list full;	/* magazines holding stacks */
	struct mag_list empty;	/* magazines holding none */
	unsigned nr_full;	/* atomic: about how many are on full */

	/* Set at creation, then read-only. */
	size_t size;		/* usable bytes of its stacks */
	unsigned slab_slots;	/* slots per slab for this size */

	/* Protected by pool_lock. */
	struct list avail;	/* slabs: partly used first, wholly free last */
	unsigned nr_empty;	/* wholly free slabs listed */
	struct pool *next;	/* the pools list */
};

/* A batch of free stacks of one pool's size (see Magazines). */
/* Full magazines a depot keeps; past that they go back to the slabs. */
#define DEPOT_FULL_MAX 16u

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102	/* Linux 6.13; not in Debian 12's headers */
#endif

/* Set once by stack_init (pthread_once), then read-only. */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static size_t page_size;		/* sysconf(_SC_PAGESIZE) */
static unsigned guard_budget_default;	/* from vm.max_map_count */
static bool guard_madvise_ok;		/* MADV_GUARD_INSTALL works here */

/*
 * Trim periods so far (weft__stack_trim); a slab wholly free since an
 * earlier period has been unused for a whole one. Protected by pool_lock.
 */
static unsigned trim_epoch;
/* The gap pages of a slab, for one process_madvise; under pool_lock. */
static struct iovec guard_iov[WEFT_STACK_SLAB_SLOTS];

/* Test hook (weft__stack_force_mprotect); atomic. */
static unsigned force_mprotect;

/* Protects everything below, and the pools and slabs. */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pool *pools;		/* one pool per usable size */
static unsigned guard_budget;		/* most guarded slots alive */
/*
 * Guarded count at which mprotect last failed with ENOMEM (the process
 * ran out of mappings elsewhere): no guard is tried at or above it until
 * a slab is unmapped. ~0u when no failure is outstanding.
 */
static unsigned guard_ceiling = ~0u;

/*
 * Slots carved from live slabs, and of those the guarded ones. Written
 * under pool_lock with ck_pr_store_64; read with ck_pr_load_64 by anyone.
 * Stats and budget only: a reader without the lock needs no ordering.
 */
static uint64_t nr_mapped;
static uint64_t nr_guarded;
/* Of the guarded, those with a madvise marker (no mapping, no budget). */
static uint64_t nr_marked;

/* Read vm.max_map_count, or return the fallback if it cannot be read. */
static unsigned read_max_map_count(void)
{
	char buf[32];
	unsigned long v;
	ssize_t n;
	char *end;
	int fd;

	fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return MAP_COUNT_FALLBACK;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return MAP_COUNT_FALLBACK;
	buf[n] = '\0';
	v = strtoul(buf, &end, 10);
	if (end == buf || v == 0 || v > ~0u)
		return MAP_COUNT_FALLBACK;
	return (unsigned)v;
}

/*
 * Whether this kernel installs guard pages by madvise (Linux 6.13+): a
 * marker in the page table, not a mapping, so guards split no mapping and
 * need no budget. Not under the sanitizers, whose leak scan reads whole
 * slabs and would fault on a marker it cannot see in /proc/self/maps, nor
 * under Valgrind, which does not know the advice.
 */
static bool probe_guard_madvise(void)
{
	bool ok;
	void *p;

#if defined(WEFT_ASAN) || defined(WEFT_TSAN)
	return false;
#endif
#if WEFT_HAVE_VALGRIND
	if (RUNNING_ON_VALGRIND)
		return false;
#endif
	p = mmap(NULL, 2 * page_size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return false;
	ok = madvise(p, page_size, MADV_GUARD_INSTALL) == 0;
	munmap(p, 2 * page_size);
	return ok;
}

/*
 * WEFT_STACK_GUARD=mprotect: guards by mprotect even where markers work,
 * for processes to be saved with gdb's gcore (see weft.h). "auto", or
 * unset, keeps the probe's choice; anything else is named and ignored.
 */
static bool want_mprotect_env(void)
{
	const char *v = getenv("WEFT_STACK_GUARD");

	if (!v || !*v || strcmp(v, "auto") == 0)
		return false;
	if (strcmp(v, "mprotect") == 0)
		return true;
	fprintf(stderr, "weft: WEFT_STACK_GUARD=%s is not auto or mprotect; "
		"ignoring it\n", v);
	return false;
}

/*
 * Learn the page size and the default guard budget: a quarter of the
 * mapping cap, an eighth under sanitizers, whose runtimes map heavily,
 * and at most VALGRIND_GUARD_BUDGET under Valgrind. Runs once, before
 * any stack exists.
 */
static void stack_init(void)
{
	unsigned max_maps = read_max_map_count();
	long ps = sysconf(_SC_PAGESIZE);

	page_size = ps > 0 ? (size_t)ps : 4096;
#if defined(WEFT_ASAN) || defined(WEFT_TSAN)
	guard_budget_default = max_maps / 8;
#else
	guard_budget_default = max_maps / 4;
#endif
#if WEFT_HAVE_VALGRIND
	if (RUNNING_ON_VALGRIND && guard_budget_default > VALGRIND_GUARD_BUDGET)
		guard_budget_default = VALGRIND_GUARD_BUDGET;
#endif
	/* The variable first: a bad value is named on every build. */
	guard_madvise_ok = !want_mprotect_env() && probe_guard_madvise();
	pthread_mutex_lock(&pool_lock);
	if (guard_budget == 0)
		guard_budget = guard_budget_default;
	pthread_mutex_unlock(&pool_lock);
}

static inline void ensure_init(void)
{
	pthread_once(&init_once, stack_init);
}

/* The gap below a stack of usable size @size: a page, or SMALL_GAP. */
static inline size_t gap_of(size_t size)
{
	return size < page_size ? SMALL_GAP : page_size;
}

/* Add @delta to one of the slot counters. Caller holds pool_lock. */
static void counter_add(uint64_t *counter, int64_t delta)
{
	/*
	 * Only pool_lock holders write, so load + store loses no update;
	 * the store is atomic for lock-free readers. Relaxed is enough:
	 * the lock orders writers, and readers want no ordering.
	 */
	ck_pr_store_64(counter, ck_pr_load_64(counter) + (uint64_t)delta);
}

#ifdef WEFT_ASAN
/*
 * The most stack, from the top down, that ASan's __asan_handle_no_return
 * clears when a longjmp or throw skips frames (kMaxExpectedCleanupSize in
 * asan_rtl.cpp, the same in gcc's libasan); from deeper it clears nothing
 * and warns once.
 */
#define ASAN_NORETURN_MAX ((size_t)64 << 20)

/* Pages one mincore() call looks at in lowest_touched(). */
#define MINCORE_PAGES 1024u

/*
 * The lowest resident page of @s, or its top if none; @s->lo if mincore
 * fails. No stack page is given back while its slab is mapped, so short
 * of swapping, that is the lowest page any context on @s ever touched.
 * Every frame a context had, and so every poisoned byte it can leave,
 * is at or above the page its deepest call wrote a return address to.
 * One mincore() per MINCORE_PAGES pages, from the bottom up: 0.4 ms for
 * a 1 GiB stack that used its top few pages. Out of line, so that only
 * the free of a big stack puts the vector on the freeing context's stack.
 */
static __attribute__((noinline)) char *lowest_touched(const struct stack *s)
{
	unsigned char vec[MINCORE_PAGES];
	char *top = weft__stack_top(s);
	char *p = s->lo;

	while (p < top) {
		size_t len = (size_t)(top - p);
		size_t i;

		if (len > MINCORE_PAGES * page_size)
			len = MINCORE_PAGES * page_size;
		if (mincore(p, len, vec) != 0)
			return s->lo;
		for (i = 0; i < len / page_size; i++)
			if (vec[i] & 1)
				return p + i * page_size;
		p += len;
	}
	return top;
}
#endif

/*
 * Make @s's memory fresh for the tools: no stale shadow from the previous
 * fiber (ASan; see Tools above for who clears what), and writable from
 * any stack (memcheck marks what a fiber popped as inaccessible, so the
 * next fiber's first frame, written from the scheduler's stack, would be
 * reported). Owner of @s only.
 */
static void stack_scrub(struct stack *s)
{
#ifdef WEFT_ASAN
	/*
	 * Only a stack deeper than ASan's no-return cleanup (give or take
	 * the two pages ASan rounds by) can keep frames a longjmp skipped.
	 */
	if (s->size + 2 * page_size > ASAN_NORETURN_MAX) {
		char *lo = lowest_touched(s);
		char *top = weft__stack_top(s);

		ASAN_UNPOISON_MEMORY_REGION(lo, (size_t)(top - lo));
	}
#endif
#if WEFT_HAVE_VALGRIND
	VALGRIND_MAKE_MEM_UNDEFINED(s->lo, s->size);
#endif
	(void)s;
}

size_t weft__stack_round(size_t size)
{
	ensure_init();
	if (size == 0)
		size = WEFT_STACK_DEFAULT;
	if (size > STACK_SIZE_MAX)
		return 0;
#if defined(WEFT_ASAN) || defined(WEFT_TSAN)
	/* The park path alone overflows a page under ASan. */
	if (size <= WEFT_STACK_SMALL)
		size = SANITIZER_SMALL;
#else
	if (size <= WEFT_STACK_SMALL && WEFT_STACK_SMALL < page_size)
		return WEFT_STACK_SMALL - SMALL_GAP;
#endif
	if (size < WEFT_STACK_MIN)
		size = WEFT_STACK_MIN;
	return (size + page_size - 1) & ~(page_size - 1);
}

void weft__stack_cache_init(struct stack_cache *c, size_t size)
{
	size_t small = weft__stack_round(WEFT_STACK_SMALL);

	weft_assert(size != 0 && size == weft__stack_round(size));
	memset(c, 0, sizeof(*c));
	c->cls[0].size = size;
	if (small != size)
		c->cls[1].size = small;
}

void weft__stack_cache_add_class(struct stack_cache *c, size_t size)
{
	weft_assert(size != 0 && size == weft__stack_round(size));
	for (unsigned i = 0; i < WEFT_STACK_CLASSES; i++) {
		if (c->cls[i].size == size)
			return;
		if (c->cls[i].size == 0) {
			c->cls[i].size = size;
			return;
		}
	}
}

/* Avail-list helpers. Caller holds pool_lock. */
static inline struct slab *slab_of(struct list_node *n)
{
	return n ? list_entry(n, struct slab, avail) : NULL;
}

static void avail_remove(struct pool *p, struct slab *sl)
{
	list_remove(&p->avail, &sl->avail);
	sl->on_avail = false;
}

static void avail_push_head(struct pool *p, struct slab *sl)
{
	list_push_front(&p->avail, &sl->avail);
	sl->on_avail = true;
}

static void avail_push_tail(struct pool *p, struct slab *sl)
{
	list_push_back(&p->avail, &sl->avail);
	sl->on_avail = true;
}

static unsigned slab_used(const struct slab *sl)
{
	return sl->nr_carved - sl->nr_free;
}

/* Find or create the pool for usable size @size. Caller holds pool_lock. */
static struct pool *pool_get(size_t size)
{
	size_t slot = size + gap_of(size);
	struct pool *p;
	size_t n;

	for (p = pools; p; p = p->next)
		if (p->size == size)
			return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->size = size;
	n = SLAB_BYTES_MAX / slot;
	if (n > WEFT_STACK_SLAB_SLOTS)
		n = WEFT_STACK_SLAB_SLOTS;
	p->slab_slots = n ? (unsigned)n : 1;
	p->next = pools;
	pools = p;
	return p;
}

/*
 * Put a madvise guard in the gap page of every slot of @sl at once, if
 * this kernel has them: one process_madvise() for the whole slab (a
 * madvise() a slot if that is refused), while the slab is new and
 * unshared, instead of an mprotect (and two mappings) a slot as they are
 * carved. They cost no memory and stay until the slab is unmapped.
 * Returns whether every slot has one. Caller holds pool_lock.
 */
static bool install_guard_markers(struct slab *sl)
{
	size_t slot = sl->pool->size + page_size;
	size_t want = (size_t)sl->nr_slots * page_size;
	long done = -1;
	int pidfd;

	if (!guard_madvise_ok || ck_pr_load_uint(&force_mprotect) ||
	    gap_of(sl->pool->size) != page_size)
		return false;
	for (unsigned i = 0; i < sl->nr_slots; i++) {
		guard_iov[i].iov_base = sl->base + (size_t)i * slot;
		guard_iov[i].iov_len = page_size;
	}
	/* Opened each time: a pid file descriptor kept across a fork
	 * would name the parent. */
	pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (pidfd >= 0) {
		done = syscall(SYS_process_madvise, pidfd, guard_iov,
			       (size_t)sl->nr_slots, MADV_GUARD_INSTALL, 0u);
		close(pidfd);
	}
	if (done == (long)want)
		return true;
	for (unsigned i = 0; i < sl->nr_slots; i++)
		if (madvise(guard_iov[i].iov_base, page_size,
			    MADV_GUARD_INSTALL) != 0)
			return false;
	return true;
}

/*
 * Map a new, wholly uncarved slab for @p and put it at the end of the
 * avail list (it counts as @p's empty slab). Caller holds pool_lock.
 */
static struct slab *slab_create(struct pool *p)
{
	size_t len = (size_t)p->slab_slots * (p->size + gap_of(p->size));
	struct slab *sl;
	void *base;

	sl = calloc(1, sizeof(*sl) + p->slab_slots * sizeof(sl->slots[0]));
	if (!sl)
		return NULL;
	/*
	 * NORESERVE: under the default (heuristic) overcommit policy the
	 * slab is then not charged at all, so reserving room for many
	 * mostly idle stacks cannot fail for want of commit charge; only
	 * touched pages cost memory. Strict overcommit ignores the flag.
	 */
	base = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		free(sl);
		return NULL;
	}
	sl->pool = p;
	sl->base = base;
	sl->map_len = len;
	sl->nr_slots = p->slab_slots;
	sl->guard_markers = install_guard_markers(sl);
#ifdef WEFT_ASAN
	/*
	 * A suspended fiber may hold the only pointer to an object; make
	 * LeakSanitizer scan its stack. One region per slab, as the LSan
	 * header asks for few regions; guard pages are skipped.
	 */
	__lsan_register_root_region(base, len);
#endif
	avail_push_tail(p, sl);
	p->nr_empty++;
	return sl;
}

/*
 * Unmap @sl, which has no stack in use, and give its mappings, guard
 * budget and descriptors back. Returns 0, or -errno if munmap failed
 * (it can, when splitting a merged mapping at the mapping cap), in which
 * case @sl is left as it was. Caller holds pool_lock; @sl is not listed.
 */
static int slab_destroy(struct slab *sl)
{
	if (munmap(sl->base, sl->map_len) != 0)
		return -errno;
#ifdef WEFT_ASAN
	__lsan_unregister_root_region(sl->base, sl->map_len);
#endif
#if WEFT_HAVE_VALGRIND
	/*
	 * Deregistered after the unmap, so that a failed unmap leaves
	 * everything as it was; nothing runs on these stacks either way.
	 */
	for (unsigned i = 0; i < sl->nr_carved; i++)
		VALGRIND_STACK_DEREGISTER(sl->slots[i].vg_id);
#endif
	counter_add(&nr_mapped, -(int64_t)sl->nr_carved);
	counter_add(&nr_guarded, -(int64_t)sl->nr_guarded);
	if (sl->guard_markers)
		counter_add(&nr_marked, -(int64_t)sl->nr_guarded);
	guard_ceiling = ~0u;
	free(sl);
	return 0;
}

/*
 * Carve the next slot of @sl: give it a guard page if the budget allows
 * (and the kernel agrees), else a zero canary. Caller holds pool_lock.
 */
static struct stack *slab_carve(struct slab *sl)
{
	size_t size = sl->pool->size;
	size_t gap_len = gap_of(size);
	/* Only mprotect guards cost mappings, so only they count. */
	uint64_t guarded = ck_pr_load_64(&nr_guarded) - ck_pr_load_64(&nr_marked);
	unsigned i = sl->nr_carved++;
	struct stack *s = &sl->slots[i];
	char *gap = sl->base + (size_t)i * (size + gap_len);

	s->lo = gap + gap_len;
	s->size = size;
	s->slab = sl;
	s->next = NULL;
	s->guarded = false;
	/* A small stack's gap is not a page of its own: never guarded. */
	if (sl->guard_markers) {
		s->guarded = true;
		sl->nr_guarded++;
		counter_add(&nr_guarded, 1);
		counter_add(&nr_marked, 1);
	} else if (gap_len == page_size && guarded < guard_budget &&
		   guarded < guard_ceiling) {
		if (mprotect(gap, page_size, PROT_NONE) == 0) {
			s->guarded = true;
			sl->nr_guarded++;
			counter_add(&nr_guarded, 1);
		} else {
			/* ENOMEM: the process is out of mappings. */
			weft_assert(errno == ENOMEM);
			guard_ceiling = (unsigned)guarded;
		}
	}
	/* An unguarded slot's canary is its gap page staying all zero, as
	 * mmap made it: nothing is written, so it costs no memory. */
#if WEFT_HAVE_VALGRIND
	s->vg_id = VALGRIND_STACK_REGISTER(s->lo, (char *)s->lo + size - 1);
#endif
	counter_add(&nr_mapped, 1);
	return s;
}

/* Take a stack from @p, mapping a slab if needed. Caller holds pool_lock. */
static struct stack *pool_take(struct pool *p)
{
	struct slab *sl = slab_of(p->avail.first);
	struct stack *s;

	if (!sl) {
		sl = slab_create(p);
		if (!sl)
			return NULL;
	}
	if (slab_used(sl) == 0)
		p->nr_empty--;
	if (sl->free) {
		s = sl->free;
		sl->free = s->next;
		sl->nr_free--;
		s->next = NULL;
	} else {
		s = slab_carve(sl);
	}
	if (!sl->free && sl->nr_carved == sl->nr_slots)
		avail_remove(p, sl);
	return s;
}

/*
 * Give @s back to its slab. A slab that becomes wholly free goes to the
 * end of the avail list and stays mapped, guards and all, so that the
 * next burst reuses it without a system call; weft__stack_trim() unmaps
 * the ones that stay unused. Caller holds pool_lock.
 */
static void pool_put(struct stack *s)
{
	struct slab *sl = s->slab;
	struct pool *p = sl->pool;

	s->next = sl->free;
	sl->free = s;
	sl->nr_free++;
	s->bare = false;
	s->free_epoch = trim_epoch;
	if (slab_used(sl) == 0) {
		if (sl->on_avail)
			avail_remove(p, sl);
		avail_push_tail(p, sl);
		p->nr_empty++;
		sl->free_epoch = trim_epoch;
	} else if (!sl->on_avail) {
		avail_push_head(p, sl);
	}
}

/*
 * Unmap @p's wholly free slabs: every one (@all), or those beyond
 * WEFT_STACK_EMPTY_SLABS unused since before the last trim. They sit at
 * the tail of the avail list. Caller holds pool_lock.
 */
static void pool_trim(struct pool *p, bool all)
{
	unsigned keep = all ? 0 : WEFT_STACK_EMPTY_SLABS;
	struct slab *sl = slab_of(p->avail.last);

	while (sl && slab_used(sl) == 0 && p->nr_empty > keep) {
		struct slab *prev = slab_of(sl->avail.prev);

		if (all || sl->free_epoch != trim_epoch) {
			avail_remove(p, sl);
			p->nr_empty--;
			if (slab_destroy(sl) != 0) {
				/* munmap refused (mapping cap): keep it. */
				avail_push_tail(p, sl);
				p->nr_empty++;
				break;
			}
		}
		sl = prev;
	}
}

/*
 * Give back the pages of @p's free stacks that have been on their slab's
 * free list since before the last trim, up to *@budget of them; the next
 * user faults in zeroed pages. Only page-aligned stacks: small ones share
 * pages. Caller holds pool_lock, so no one takes a stack meanwhile.
 */
static void pool_bare(struct pool *p, unsigned *budget)
{
	struct list_node *n;

	if (p->size % page_size)
		return;
	list_for_each(n, &p->avail) {
		struct slab *sl = slab_of(n);

		for (struct stack *s = sl->free; s; s = s->next) {
			if (!*budget)
				return;
			if (s->bare || s->free_epoch == trim_epoch)
				continue;
			if (madvise(s->lo, s->size, MADV_DONTNEED) != 0)
				return;
			s->bare = true;
			s->touched = false;
			(*budget)--;
		}
	}
}

void weft__stack_trim(bool all)
{
	unsigned budget = WEFT_STACK_BARE_MAX;

	ensure_init();
	pthread_mutex_lock(&pool_lock);
	for (struct pool *p = pools; p; p = p->next) {
		pool_trim(p, all);
		if (!all)
			pool_bare(p, &budget);
	}
	trim_epoch++;
	pthread_mutex_unlock(&pool_lock);
}

/* Magazines and the depot ---------------------------------------------- */

/* The class of @c that holds stacks of usable size @size, or NULL. */
static struct stack_class *class_of(struct stack_cache *c, size_t size)
{
	if (!c)
		return NULL;
	for (unsigned i = 0; i < WEFT_STACK_CLASSES; i++)
		if (c->cls[i].size == size)
			return &c->cls[i];
	return NULL;
}

/* @cl's pool, found (or made) under pool_lock the first time. */
static struct pool *class_pool(struct stack_class *cl)
{
	if (!cl->pool) {
		pthread_mutex_lock(&pool_lock);
		cl->pool = pool_get(cl->size);
		pthread_mutex_unlock(&pool_lock);
	}
	return cl->pool;
}

#ifdef CK_F_PR_CAS_PTR_2_VALUE
static void depot_push(struct mag_list *list, struct magazine *m)
{
	struct mag_list old, new;

	/* Our writes to @m (its stacks) before whoever pops it. */
	weft__hb_release(m);
	old.count = ck_pr_load_ptr(&list->count);
	old.head = ck_pr_load_ptr(&list->head);
	do {
		ck_pr_store_ptr(&m->next, old.head);
		new.head = m;
		new.count = (void *)((uintptr_t)old.count + 1);
		/* Full barrier: the link before the head that shows it;
		 * pairs with the CAS in depot_pop(). On failure @old gets
		 * the current head and count. */
	} while (!ck_pr_cas_ptr_2_value(list, &old, &new, &old));
}

static struct magazine *depot_pop(struct mag_list *list)
{
	struct mag_list old, new;

	old.count = ck_pr_load_ptr(&list->count);
	old.head = ck_pr_load_ptr(&list->head);
	do {
		if (!old.head)
			return NULL;
		/* Maybe stale (popped meanwhile): then the count moved and
		 * the CAS fails. */
		new.head = ck_pr_load_ptr(&old.head->next);
		new.count = (void *)((uintptr_t)old.count + 1);
		/* Full barrier; pairs with the CAS in depot_push(). */
	} while (!ck_pr_cas_ptr_2_value(list, &old, &new, &old));
	weft__hb_acquire(old.head);
	return old.head;
}
#else
#error "the stack depot needs a double-width CAS (CK_F_PR_CAS_PTR_2_VALUE)"
#endif

/* An empty magazine for @p: from its depot, else a new one (or NULL). */
static struct magazine *mag_empty(struct pool *p)
{
	struct magazine *m = depot_pop(&p->empty);

	if (!m)
		m = calloc(1, sizeof(*m));
	return m;
}

/* Give @m's stacks back to their slabs; @m is left empty. */
static void mag_drain(struct magazine *m)
{
	pthread_mutex_lock(&pool_lock);
	for (unsigned i = 0; i < m->nr; i++)
		pool_put(m->items[i]);
	pthread_mutex_unlock(&pool_lock);
	m->nr = 0;
}

/*
 * Hand the non-empty @m to @p's depot, or, when the depot already keeps
 * DEPOT_FULL_MAX, its stacks to their slabs (so that memory a burst took
 * can go back) and @m to the empty list.
 */
static void depot_put_full(struct pool *p, struct magazine *m)
{
	if (ck_pr_load_uint(&p->nr_full) < DEPOT_FULL_MAX) {
		/* No pairing: a count for the cap only, not ordered with
		 * the push. */
		ck_pr_inc_uint(&p->nr_full);
		depot_push(&p->full, m);
		return;
	}
	mag_drain(m);
	depot_push(&p->empty, m);
}

static struct magazine *depot_get_full(struct pool *p)
{
	struct magazine *m = depot_pop(&p->full);

	if (m)
		/* No pairing: the cap's count; see depot_put_full(). */
		ck_pr_dec_uint(&p->nr_full);
	return m;
}

/*
 * Both of @cl's magazines are empty: load a full one from the depot,
 * giving it an empty one back, or fill one from the slabs under
 * pool_lock (up to a whole magazine in one hold). False if no stack
 * could be had.
 */
static bool class_refill(struct stack_class *cl)
{
	struct pool *p = class_pool(cl);
	struct magazine *m;

	if (!p)
		return false;
	m = depot_get_full(p);
	if (m) {
		if (cl->prev)
			depot_push(&p->empty, cl->prev);
		cl->prev = cl->loaded;
		cl->loaded = m;
		return true;
	}
	if (!cl->loaded) {
		cl->loaded = mag_empty(p);
		if (!cl->loaded)
			return false;
	}
	m = cl->loaded;
	pthread_mutex_lock(&pool_lock);
	while (m->nr < WEFT_STACK_MAG) {
		struct stack *s = pool_take(p);

		if (!s)
			break;
		m->items[m->nr++] = s;
	}
	pthread_mutex_unlock(&pool_lock);
	return m->nr > 0;
}

int weft__stack_alloc_slow(struct stack_cache *c, size_t size,
			   struct stack **out)
{
	size_t usable = weft__stack_round(size);
	struct stack_class *cl;
	struct stack *s = NULL;
	struct pool *p;

	if (usable == 0)
		return -EINVAL;
	cl = class_of(c, usable);
	if (cl) {
		if (!cl->loaded || cl->loaded->nr == 0) {
			if (cl->prev && cl->prev->nr > 0) {
				struct magazine *t = cl->loaded;

				cl->loaded = cl->prev;
				cl->prev = t;
			} else if (!class_refill(cl)) {
				return -ENOMEM;
			}
		}
		/* Scrubbed when it was freed; a new slot is fresh. */
		*out = cl->loaded->items[--cl->loaded->nr];
		return 0;
	}
	pthread_mutex_lock(&pool_lock);
	p = pool_get(usable);
	if (p)
		s = pool_take(p);
	pthread_mutex_unlock(&pool_lock);
	if (!s)
		return -ENOMEM;
	*out = s;
	return 0;
}

void weft__stack_swap_warm(struct stack_cache *c, size_t size,
			   struct stack **s)
{
	struct stack_class *cl = class_of(c, size);
	struct stack *warm;

	if (!cl || !cl->loaded || cl->loaded->nr == 0)
		return;
	/* Never run on, so nothing to scrub: it goes back as it came. */
	warm = cl->loaded->items[cl->loaded->nr - 1];
	cl->loaded->items[cl->loaded->nr - 1] = *s;
	*s = warm;
}

struct stack *weft__stack_peek_warm(struct stack_cache *c, size_t size,
				    struct stack *s)
{
	struct stack_class *cl = class_of(c, size);

	if (!cl || !cl->loaded || cl->loaded->nr == 0)
		return s;
	return cl->loaded->items[cl->loaded->nr - 1];
}

void weft__stack_free_slow(struct stack_cache *c, struct stack *s)
{
	struct stack_class *cl = class_of(c, s->size);
	struct magazine *full;
	struct pool *p;

	stack_scrub(s);
	if (cl && cl->loaded && cl->loaded->nr < WEFT_STACK_MAG) {
		cl->loaded->items[cl->loaded->nr++] = s;
		return;
	}
	if (cl && cl->prev && cl->prev->nr < WEFT_STACK_MAG) {
		full = cl->loaded;
		cl->loaded = cl->prev;
		cl->prev = full;
		cl->loaded->items[cl->loaded->nr++] = s;
		return;
	}
	/* Both full (or not there yet): the full previous one goes to the
	 * depot, the loaded one becomes previous, an empty one is loaded. */
	p = cl ? class_pool(cl) : NULL;
	if (p) {
		struct magazine *m = mag_empty(p);

		if (m) {
			full = cl->prev;
			cl->prev = cl->loaded;
			cl->loaded = m;
			m->items[m->nr++] = s;
			if (full)
				depot_put_full(p, full);
			return;
		}
	}
	pthread_mutex_lock(&pool_lock);
	pool_put(s);
	pthread_mutex_unlock(&pool_lock);
}

/* Every stack in @p's depot back to the slabs; magazines kept empty. */
static void depot_drain(struct pool *p)
{
	struct magazine *m;

	while ((m = depot_get_full(p)) != NULL) {
		mag_drain(m);
		depot_push(&p->empty, m);
	}
}

void weft__stack_cache_flush(struct stack_cache *c)
{
	struct pool *p;

	for (unsigned i = 0; i < WEFT_STACK_CLASSES; i++) {
		struct stack_class *cl = &c->cls[i];
		struct magazine *m[2] = { cl->loaded, cl->prev };

		for (unsigned k = 0; k < 2; k++) {
			if (!m[k])
				continue;
			mag_drain(m[k]);
			depot_push(&cl->pool->empty, m[k]);
		}
		cl->loaded = NULL;
		cl->prev = NULL;
	}
	/* The pools list only grows; a pool is never freed. */
	pthread_mutex_lock(&pool_lock);
	p = pools;
	pthread_mutex_unlock(&pool_lock);
	for (; p; p = p->next)
		depot_drain(p);
	weft__stack_trim(true);
}

unsigned weft__stack_cached(const struct stack_cache *c, size_t size)
{
	for (unsigned i = 0; i < WEFT_STACK_CLASSES; i++) {
		const struct stack_class *cl = &c->cls[i];

		if (cl->size == size)
			return (cl->loaded ? cl->loaded->nr : 0) +
			       (cl->prev ? cl->prev->nr : 0);
	}
	return 0;
}

bool weft__stack_gap_clean(const struct stack *s)
{
	size_t gap_len = gap_of(s->size);
	const uint64_t *w = (const uint64_t *)((char *)s->lo - gap_len);
	uint64_t any = 0;
	size_t i;

	if (s->guarded)
		return true;
	/* Reading a page nobody wrote maps the shared zero page: no cost
	 * in memory, and a few hundred ns once per fiber. */
	for (i = 0; i < gap_len / sizeof(*w); i++)
		any |= w[i];
	return any == 0;
}

bool weft__stack_fault_is_overflow(const struct stack *s, const void *addr)
{
	/*
	 * page_size was set before @s existed. Unsigned wrap makes an
	 * address at or above lo compare large.
	 */
	size_t gap_len = gap_of(s->size);
	uintptr_t gap = (uintptr_t)s->lo - gap_len;

	return (uintptr_t)addr - gap < gap_len;
}

void weft__stack_counts(uint64_t *mapped, uint64_t *guarded)
{
	/* Stats only; each counter is exact, the pair is not one instant. */
	*mapped = ck_pr_load_64(&nr_mapped);
	*guarded = ck_pr_load_64(&nr_guarded);
}

uint64_t weft__stack_guard_maps(void)
{
	return ck_pr_load_64(&nr_guarded) - ck_pr_load_64(&nr_marked);
}

unsigned weft__stack_guard_mechanism(void)
{
	ensure_init();
	return guard_madvise_ok && !ck_pr_load_uint(&force_mprotect)
		       ? WEFT_GUARD_MADVISE
		       : WEFT_GUARD_MPROTECT;
}

void weft__stack_force_mprotect(bool on)
{
	ck_pr_store_uint(&force_mprotect, on);
}

void weft__stack_set_guard_budget(unsigned slots)
{
	ensure_init();
	pthread_mutex_lock(&pool_lock);
	guard_budget = slots ? slots : guard_budget_default;
	pthread_mutex_unlock(&pool_lock);
}
