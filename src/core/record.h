/* SPDX-License-Identifier: MIT */
/*
 * Fiber records: where they live and how their memory comes and goes
 * (record.c). fiber.c gives them meaning (handles, life cycle).
 */
#ifndef WEFT_RECORD_H
#define WEFT_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#include "fiber.h"

/* Records per chunk, and the most chunks (16,777,216 records). */
#define RECORD_CHUNK_SHIFT 10
#define RECORD_CHUNK_SIZE (1u << RECORD_CHUNK_SHIFT)
#define RECORD_MAX_CHUNKS (1u << 14)

/*
 * Free records a worker keeps; past that it gives RECORD_BATCH back to the
 * shared pool, and an empty cache takes RECORD_BATCH from it.
 */
#define RECORD_CACHE_MAX 256u
#define RECORD_BATCH 128u
/* Whole batches the pool's depot holds (record.c, "Depot"). */
#define RECORD_DEPOT 8u
/* Wholly free chunks the pool keeps in memory through periodic trims. */
#define RECORD_KEEP_CHUNKS 2u

/* weft__record_alloc() with @w's cache empty: refill it, then take. */
int weft__record_alloc_slow(struct worker *w, struct fiber **out);

/* Give RECORD_BATCH records of @w's cache to the pool. */
void weft__record_give_back(struct worker *w);

/*
 * Ask for every line of record @f, for writing, ahead of its spawn. A
 * record from the depot was last written on another core; one that came
 * back to this cache was last written here and costs the hints nothing.
 * NULL is fine: a prefetch never faults.
 */
static inline void weft__record_prefetch(const struct fiber *f)
{
	/* As an integer: an offset from NULL is undefined in C. */
	uintptr_t p = (uintptr_t)f;

	for (size_t off = 0; off < sizeof(*f); off += 64)
		__builtin_prefetch((const void *)(p + off), 1, 3);
}

/*
 * A free record for worker @w: its gen is even (not live), its index set,
 * every other field as the last fiber left it. Returns 0, -ENOMEM or
 * -EAGAIN (16,777,216 records in use). Worker @w only. Inline, as every
 * spawn takes one: only an empty cache goes to the pool. The next record
 * is prefetched: the pop reads its address anyway, and the next spawn
 * then finds it in this CPU's cache.
 */
static inline int weft__record_alloc(struct worker *w, struct fiber **out)
{
	struct fiber *f = w->fibers.head;

	if (unlikely(!f))
		return weft__record_alloc_slow(w, out);
	w->fibers.head = f->free_next;
	w->fibers.nr--;
	weft__record_prefetch(w->fibers.head);
	*out = f;
	return 0;
}

/* Give @f back, its gen already made even. Worker @w only. */
static inline void weft__record_free(struct worker *w, struct fiber *f)
{
	f->free_next = w->fibers.head;
	w->fibers.head = f;
	if (unlikely(++w->fibers.nr > RECORD_CACHE_MAX))
		weft__record_give_back(w);
}

/* The chunk table and the count of chunks made; record.c writes them. */
extern struct fiber *weft__record_chunks[RECORD_MAX_CHUNKS];
extern unsigned weft__record_nr_chunks;

/*
 * The record with table index @index, or NULL if no chunk holds it. Any
 * thread; a record stays readable for the whole weft_run (a chunk whose
 * memory was given back reads as zeros: gen 0, not live). Inline: every
 * join and cancel looks its handle up.
 */
static inline struct fiber *weft__record_slot(uint32_t index)
{
	unsigned c = index >> RECORD_CHUNK_SHIFT;

	if (c >= RECORD_MAX_CHUNKS ||
	    c >= ck_pr_load_uint(&weft__record_nr_chunks))
		return NULL;
	/* Pairs with the store fence in chunk_with_free(). */
	ck_pr_fence_load();
	return &((struct fiber *)ck_pr_load_ptr(&weft__record_chunks[c]))
		[index & (RECORD_CHUNK_SIZE - 1)];
}

/* Call @fn for every record whose gen is odd (live). Any thread. */
void weft__record_foreach_live(void (*fn)(struct fiber *f, void *arg),
			       void *arg);

/*
 * Give back the memory of wholly free chunks in the pool: those beyond
 * RECORD_KEEP_CHUNKS that stayed free for a whole period since the last
 * call (the monitor calls it every second). Any thread.
 */
void weft__record_trim(void);

/* Records held in memory (chunks in use or cached, times 1024). */
uint64_t weft__record_resident(void);

/* Where the chunk table (RECORD_MAX_CHUNKS pointers) and the count of
 * chunks made are, for debuggers (api/debug.c); read, never written. */
extern struct fiber *const *const weft__record_table;
extern const unsigned *const weft__record_nr_chunks_p;

/* Drop every record (after the workers stopped). */
void weft__record_fini(void);

#endif /* WEFT_RECORD_H */
