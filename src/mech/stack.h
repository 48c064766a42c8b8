/* SPDX-License-Identifier: MIT */
/*
 * Fiber stacks: carved from large mmap'd slabs, a guard page below each
 * (MADV_GUARD_INSTALL where the kernel has it, else mprotect while the
 * process's mapping budget allows, a canary-checked gap after that),
 * per-worker magazines exchanged through a lock-free depot so that a
 * spawn or an exit normally takes no lock and makes no system call, and
 * registration with Valgrind and ASan. The policy is
 * described for users in weft.h ("Guard pages and the map budget").
 */
#ifndef WEFT_STACK_H
#define WEFT_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "internal.h"

#if WEFT_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#endif

struct slab;

/* One stack slot. The slot's memory is [lo - page, lo + size). */
struct stack {
	void *lo;		/* lowest usable byte                        */
	size_t size;		/* usable bytes; the top is lo + size        */
	struct slab *slab;	/* the slab this slot was carved from        */
	struct stack *next;	/* free-list link; owned by whoever holds it */
	unsigned vg_id;		/* Valgrind stack id (0 without Valgrind)    */
	bool guarded;		/* PROT_NONE page below lo; else a canary    */
	bool touched;		/* its top page is in memory: a fiber ran on
				 * it since it was mapped or bared; owner of
				 * the stack (weft__fiber_bind sets it)      */
	/* On its slab's free list (under pool_lock): */
	bool bare;		/* its pages were given back (trim)          */
	unsigned free_epoch;	/* trim_epoch when it came back              */
};

/*
 * Most slots per slab; fewer for stacks of 256 KiB and up, as a slab
 * spans at most 32 MiB unless one slot needs more.
 */
#define WEFT_STACK_SLAB_SLOTS 128

/* The largest stack weft hands out; bigger requests get -EINVAL. */
#define STACK_SIZE_MAX ((size_t)1 << 30)

/*
 * Stacks per magazine: the batch in which workers hand stacks to each
 * other through a pool's lock-free depot (stack.c, "Magazines").
 */
#define WEFT_STACK_MAG 32

/* Wholly free slabs a pool keeps mapped through periodic trims. */
#define WEFT_STACK_EMPTY_SLABS 4u

/* Free stacks whose pages one trim gives back, at most (each is one
 * madvise under the pool lock; a million take a few minutes). */
#define WEFT_STACK_BARE_MAX 4096u

/* Size classes a worker caches: the runtime's default size, small, and
 * one more its owner may add (fiber.c's host stacks). */
#define WEFT_STACK_CLASSES 3

/* A batch of free stacks (stack.c, "Magazines"). */
struct magazine {
	struct magazine *next;	/* atomic: link on a depot list */
	unsigned nr;		/* stacks in items[0 .. nr) */
	struct stack *items[WEFT_STACK_MAG];
};

struct pool;

/* One size class of a cache: two magazines, Bonwick's loaded and previous. */
struct stack_class {
	size_t size;		/* usable size; 0: class unused              */
	struct pool *pool;	/* its pool, found at the first refill       */
	struct magazine *loaded; /* taken from and given to first            */
	struct magazine *prev;	/* full or empty, swapped in when loaded
				 * runs out or over; NULL: none yet          */
};

/* A worker's stack cache; owner worker only. */
struct stack_cache {
	struct stack_class cls[WEFT_STACK_CLASSES];
};

/*
 * The usable size a request for @size bytes gets (0: the default), or 0
 * if @size is above 1 GiB.
 */
size_t weft__stack_round(size_t size);

/*
 * Set up an empty cache for stacks of usable size @size (already rounded)
 * and for small stacks (WEFT_STACK_SMALL, rounded).
 */
void weft__stack_cache_init(struct stack_cache *c, size_t size);

/* Cache stacks of usable size @size (already rounded) in @c too, unless
 * it does already or has no class left. */
void weft__stack_cache_add_class(struct stack_cache *c, size_t size);

/*
 * Get a stack with weft__stack_round(size) usable bytes, from @c when the
 * size matches its class (and @c is not NULL), else from the shared pool.
 * Its ASan shadow is clean. Returns 0, -ENOMEM (mmap failed) or -EINVAL
 * (size above 1 GiB). Any thread; @c only by its owner.
 */
int weft__stack_alloc_slow(struct stack_cache *c, size_t size,
			   struct stack **out);

static inline int weft__stack_alloc(struct stack_cache *c, size_t size,
				    struct stack **out)
{
	/* Inline, the common case: the default size (rounded already, as
	 * the first class is) from a loaded magazine that has one. */
	struct magazine *m = c ? c->cls[0].loaded : NULL;

	if (likely(m && size == c->cls[0].size && m->nr != 0)) {
		/* Scrubbed when it was freed; a new slot is fresh. */
		*out = m->items[--m->nr];
		return 0;
	}
	return weft__stack_alloc_slow(c, size, out);
}

/*
 * The usable size of @s, just taken by weft__stack_alloc(@c, @size, &@s):
 * for @c's default class known without reading @s, whose line may sit in
 * another CPU's cache (the worker that gave it back).
 */
static inline size_t weft__stack_usable(const struct stack_cache *c,
					size_t size, const struct stack *s)
{
	if (likely(c && size == c->cls[0].size))
		return size;
	return s->size;
}

/*
 * Trade *@s, a stack of usable size @size taken from a cache but never
 * run on, for the one most recently given back to @c in its size class,
 * if there is one: that one's top lines are likely still in this CPU's
 * cache, where *@s may not have been touched for a long time. The size
 * comes from the caller (the fiber's record) so that a stack another
 * worker took is not read here: a thief that runs a stolen child leaves
 * its descriptor's line where it was. The cache keeps the count it had.
 * @c by its owner only.
 */
void weft__stack_swap_warm(struct stack_cache *c, size_t size,
			   struct stack **s);

/* The stack weft__stack_swap_warm(@c, @size, &@s) would give: @c's
 * warmest, or @s. @c by its owner only. */
struct stack *weft__stack_peek_warm(struct stack_cache *c, size_t size,
				    struct stack *s);

/*
 * Give @s back. It must not be in use by any running context, and under
 * ASan the frames a context left on it must have been cleared already
 * (weft__switch() does for a context that exits; see Tools in stack.c).
 * Goes to @c if its class is there, else to the shared pool. A cache
 * whose magazines are full hands one, lock-free, to the pool's depot,
 * where any worker's cache takes it; a depot holding more than it keeps
 * gives the stacks back to their slabs; a slab wholly free is unmapped
 * once its pool keeps enough free slabs (stack.c, "Slabs").
 */
void weft__stack_free_slow(struct stack_cache *c, struct stack *s);

static inline void weft__stack_free(struct stack_cache *c, struct stack *s)
{
#ifndef WEFT_ASAN
	/* Inline, the common case: into the loaded magazine of @s's class,
	 * if it has room. Under ASan a stack needs more scrubbing (stack.c,
	 * stack_scrub()), so every free goes the long way. */
	for (unsigned i = 0; c && i < WEFT_STACK_CLASSES; i++) {
		struct magazine *m = c->cls[i].loaded;

		if (c->cls[i].size != s->size)
			continue;
		if (!m || m->nr == WEFT_STACK_MAG)
			break;
#if WEFT_HAVE_VALGRIND
		VALGRIND_MAKE_MEM_UNDEFINED(s->lo, s->size);
#endif
		m->items[m->nr++] = s;
		return;
	}
#endif
	weft__stack_free_slow(c, s);
}

/*
 * Give back @s, taken by weft__stack_alloc() and never run on (a child
 * its joiner ran inline): into the loaded magazine of the default class,
 * with nothing to scrub or mark, since nothing touched it after its last
 * free; anything else as weft__stack_free().
 */
static inline void weft__stack_unreserve(struct stack_cache *c,
					 struct stack *s)
{
#ifndef WEFT_ASAN
	struct magazine *m = c ? c->cls[0].loaded : NULL;

	if (likely(m && s->size == c->cls[0].size && m->nr != WEFT_STACK_MAG)) {
		m->items[m->nr++] = s;
		return;
	}
#endif
	weft__stack_free(c, s);
}

/*
 * Return every stack in @c, and every stack in the depots, to their
 * slabs (the end of a weft_run: its memory goes back). Owner of @c.
 */
void weft__stack_cache_flush(struct stack_cache *c);

/*
 * Unmap wholly free slabs: every one (@all: the end of a weft_run), or
 * those beyond WEFT_STACK_EMPTY_SLABS a pool that stayed unused for a
 * whole period since the last call (the monitor calls it every second,
 * so a burst's stacks go back to the system a second or two after it,
 * and not while it oscillates). Then give back the pages of free stacks
 * on their slabs that stayed free for a whole period too (MADV_DONTNEED,
 * at most WEFT_STACK_BARE_MAX a call), so that slabs a few live fibers
 * keep mapped do not keep a burst's memory. Stacks in magazines (at most
 * DEPOT_FULL_MAX full ones a pool, two a worker's class) keep theirs.
 * Any thread.
 */
void weft__stack_trim(bool all);

/* Stacks in @c of usable size @size (tests). Owner of @c. */
unsigned weft__stack_cached(const struct stack_cache *c, size_t size);

/*
 * True unless @s is unguarded and the top 16 bytes of its gap page (its
 * canary: they stay zero, as mmap made them) were written, that is, the
 * fiber on it ran below its lowest usable byte. Two loads and a compare,
 * for every switch-out, inline. Signal safe.
 */
static inline bool weft__stack_canary_ok(const struct stack *s)
{
	const uint64_t *w = (const uint64_t *)s->lo - 2;

	return s->guarded || (w[0] | w[1]) == 0;
}

/*
 * True unless @s is unguarded and anything in its whole gap page was
 * written: the thorough check, for when the fiber ends (an overflow that
 * wrote sparsely can miss the canary). Signal safe.
 */
bool weft__stack_gap_clean(const struct stack *s);

/*
 * True if @addr lies in the page below @s (the guard page, or the canary
 * gap of an unguarded stack): a fault there is a stack overflow.
 * Signal safe.
 */
bool weft__stack_fault_is_overflow(const struct stack *s, const void *addr);

/* Counters of slots currently carved from live slabs. Any thread. */
void weft__stack_counts(uint64_t *mapped, uint64_t *guarded);

/* Of the guarded slots, those guarded by mprotect: what the budget counts. */
uint64_t weft__stack_guard_maps(void);

/*
 * How new guard pages are made: WEFT_GUARD_MADVISE (MADV_GUARD_INSTALL,
 * Linux 6.13+: no mapping of its own, so every stack of a page or more is
 * guarded) or WEFT_GUARD_MPROTECT (within the map budget). Any thread.
 */
unsigned weft__stack_guard_mechanism(void);

/*
 * Test hook: make guards with mprotect from now on even where the kernel
 * has MADV_GUARD_INSTALL (@on), or go back to the probed choice. Slabs
 * already mapped keep theirs. Any thread.
 */
void weft__stack_force_mprotect(bool on);

/*
 * Test hook: guard at most @slots live slots from now on (slots already
 * carved keep their status); 0 restores the default, a quarter of
 * vm.max_map_count (an eighth under sanitizers). Any thread.
 */
void weft__stack_set_guard_budget(unsigned slots);

static inline void *weft__stack_top(const struct stack *s)
{
	return (char *)s->lo + s->size;
}

#endif /* WEFT_STACK_H */
