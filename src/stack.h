/* SPDX-License-Identifier: MIT */
/*
 * Fiber stacks: carved from large mmap'd slabs, a guard page below each
 * while the process's mapping budget allows (a canary-checked gap after
 * that), a per-worker cache so a spawn does not normally take a lock or
 * make a syscall, and registration with Valgrind and ASan. The policy is
 * described for users in weft.h ("Guard pages and the map budget").
 */
#ifndef WEFT_STACK_H
#define WEFT_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct slab;

/* One stack slot. The slot's memory is [lo - page, lo + size). */
struct stack {
	void *lo;		/* lowest usable byte                        */
	size_t size;		/* usable bytes; the top is lo + size        */
	struct slab *slab;	/* the slab this slot was carved from        */
	struct stack *next;	/* free-list link; owned by whoever holds it */
	unsigned vg_id;		/* Valgrind stack id (0 without Valgrind)    */
	bool guarded;		/* PROT_NONE page below lo; else a canary    */
};

/*
 * Most slots per slab; fewer for stacks of 256 KiB and up, as a slab
 * spans at most 32 MiB unless one slot needs more.
 */
#define WEFT_STACK_SLAB_SLOTS 128

/* The largest stack weft hands out; bigger requests get -EINVAL. */
#define STACK_SIZE_MAX ((size_t)1 << 30)

/* Stacks cached per worker; owner worker only. */
#define WEFT_STACK_CACHE 64

struct stack_cache {
	size_t size;		/* the one usable size this cache holds      */
	unsigned nr;		/* cached stacks in items[0 .. nr)           */
	struct stack *items[WEFT_STACK_CACHE];
};

/*
 * The usable size a request for @size bytes gets (0: the default), or 0
 * if @size is above 1 GiB.
 */
size_t weft__stack_round(size_t size);

/* Set up an empty cache for stacks of usable size @size (already rounded). */
void weft__stack_cache_init(struct stack_cache *c, size_t size);

/*
 * Get a stack with weft__stack_round(size) usable bytes, from @c when the
 * size matches its class (and @c is not NULL), else from the shared pool.
 * Its ASan shadow is clean. Returns 0, -ENOMEM (mmap failed) or -EINVAL
 * (size above 1 GiB). Any thread; @c only by its owner.
 */
int weft__stack_alloc(struct stack_cache *c, size_t size, struct stack **out);

/*
 * Give @s back. It must not be in use by any running context, and under
 * ASan the frames a context left on it must have been cleared already
 * (weft__switch() does for a context that exits; see Tools in stack.c).
 * Goes to @c if it fits there, else (or when @c is full, half of @c along
 * with it) to the shared pool; a slab whose stacks are all free is
 * unmapped.
 */
void weft__stack_free(struct stack_cache *c, struct stack *s);

/* Return every stack in @c to the shared pool. */
void weft__stack_cache_flush(struct stack_cache *c);

/*
 * True unless @s is unguarded and the top 16 bytes of its gap page (its
 * canary: they stay zero, as mmap made them) were written, that is, the
 * fiber on it ran below its lowest usable byte. Two loads and a compare,
 * for every switch-out. Signal safe.
 */
bool weft__stack_canary_ok(const struct stack *s);

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
