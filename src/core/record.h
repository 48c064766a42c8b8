/* SPDX-License-Identifier: MIT */
/*
 * Fiber records: where they live and how their memory comes and goes
 * (record.c). fiber.c gives them meaning (handles, life cycle).
 */
#ifndef WEFT_RECORD_H
#define WEFT_RECORD_H

#include <stdbool.h>
#include <stdint.h>

struct fiber;
struct worker;

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
/* Wholly free chunks the pool keeps in memory through periodic trims. */
#define RECORD_KEEP_CHUNKS 2u

/*
 * A free record for worker @w: its gen is even (not live), its index set,
 * every other field as the last fiber left it. Returns 0, -ENOMEM or
 * -EAGAIN (16,777,216 records in use). Worker @w only.
 */
int weft__record_alloc(struct worker *w, struct fiber **out);

/* Give @f back, its gen already made even. Worker @w only. */
void weft__record_free(struct worker *w, struct fiber *f);

/*
 * The record with table index @index, or NULL if no chunk holds it. Any
 * thread; a record stays readable for the whole weft_run (a chunk whose
 * memory was given back reads as zeros: gen 0, not live).
 */
struct fiber *weft__record_slot(uint32_t index);

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
