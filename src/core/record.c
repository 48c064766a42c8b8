/* SPDX-License-Identifier: MIT */
/*
 * Fiber records: the table that handles index, the per-worker caches of
 * free records, and the shared pool that gives the memory of idle chunks
 * back to the system. fiber.c gives records their meaning.
 *
 * Chunks. Records are made RECORD_CHUNK_SIZE at a time, in a chunk of
 * anonymous memory whose address is published once in the chunk table
 * (weft__record_chunks[]) and never changes or goes away during a
 * weft_run, so a lookup from any thread, by a handle however stale,
 * always reads a record-shaped memory (fiber.c checks the generation). A
 * chunk's memory may be given back with MADV_DONTNEED while every record
 * in it is free: it then reads as zeros, that is gen 0, not live, and
 * costs nothing until it is needed again, when its records are set up
 * anew.
 *
 * Caches and pool. A worker takes free records from its own cache and
 * frees into it (the joiner or the worker where a detached fiber ended,
 * not necessarily the one that spawned it). A cache past RECORD_CACHE_MAX
 * gives RECORD_BATCH records back to the pool, and an empty one takes
 * RECORD_BATCH from it, under one mutex (rec_lock), so the lock is taken
 * once per 128 spawns or exits at most. The cache's push and pop are
 * inline in record.h; going to the pool is here. The pool keeps its free
 * records on their chunks: chunks with some records in use first, wholly
 * free ones at the tail, so spawns fill used chunks and free ones stay
 * free.
 *
 * Depot. Between the caches and the chunks sits a depot of up to
 * RECORD_DEPOT whole batches, each the cache's own list of RECORD_BATCH
 * records, handed over as it is: giving one back or taking one is a
 * pointer under rec_lock. It is there for the producer and consumer
 * shape (one worker spawns, another runs the children and frees them):
 * through the chunks, the spawner would walk a free list of records last
 * written on the other core, one cache miss after another with the lock
 * held; from the depot it walks nothing, and the record cache's pop
 * (record.h) prefetches each record one spawn ahead. A trim first
 * returns the depot's records to their chunks, so that a depot never
 * keeps a chunk from going back.
 *
 * Trim. Every second the monitor asks the pool to give back the chunks
 * that stayed wholly free for a whole second, keeping RECORD_KEEP_CHUNKS
 * in memory. Two things must survive it:
 *   - Handle generations: a chunk set up again starts every record at
 *     the highest generation it had, so a handle from before can never
 *     match a new fiber.
 *   - A stale canceller (weft_cancel() racing a fiber's end, owned.c) may
 *     still link a free record into a worker's cancel inbox through the
 *     record's own cancel_next. Before giving a chunk back, every record's
 *     cancel_queued goes from 0 to RECORD_FROZEN by CAS: a record still
 *     in an inbox (1) keeps the chunk, and a canceller that comes later
 *     fails its 0 -> 1 CAS and links nothing, until the zeroing makes it
 *     0 again and anything it writes is written to fresh memory.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include <ck_pr.h>

#include "fiber.h"
#include "list.h"
#include "record.h"
#include "scheduler.h"

/* cancel_queued of a record in a chunk being given back (see Trim). */
#define RECORD_FROZEN 2u

#define CHUNK_BYTES ((size_t)RECORD_CHUNK_SIZE * sizeof(struct fiber))

struct chunk {
	/* Protected by rec_lock. */
	struct fiber *free;	/* free records in the pool, via free_next */
	unsigned nr_free;	/* how many (not those in worker caches) */
	bool listed;		/* on the avail list */
	bool released;		/* memory given back; on the released list */
	unsigned free_epoch;	/* trim_epoch when it became wholly free */
	uint32_t gen_floor;	/* highest generation, when released */
	struct list_node link;	/* on avail, or on released */
};

/* Chunk memory, published once with a store fence; never moved. */
struct fiber *weft__record_chunks[RECORD_MAX_CHUNKS];
/* Chunks made so far; atomic. */
unsigned weft__record_nr_chunks;

/* For debuggers (api/debug.c): the table and its length. */
struct fiber *const *const weft__record_table = weft__record_chunks;
const unsigned *const weft__record_nr_chunks_p = &weft__record_nr_chunks;
/* Chunks whose memory is in use; atomic, for weft_stats. */
static uint64_t nr_resident;

/* Everything below, and every struct chunk. */
static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;
static struct chunk meta[RECORD_MAX_CHUNKS];
static struct list avail;	/* chunks with free records, by link */
static struct list released;	/* chunks given back, by link */
static unsigned nr_wholly_free;	/* chunks on avail with every record free */
static unsigned trim_epoch;
/* Whole batches of free records (see Depot), linked by free_next. */
static struct fiber *depot[RECORD_DEPOT];
static unsigned depot_nr;
/*
 * The generation new chunks start at: above every one an earlier
 * weft_run handed out, so its handles stay refused in this one. Written
 * by weft__record_fini(), between runs.
 */
static uint32_t gen_base;

static inline unsigned chunk_no(const struct chunk *c)
{
	return (unsigned)(c - meta);
}

static void avail_unlink(struct chunk *c)
{
	list_remove(&avail, &c->link);
	c->listed = false;
}

static void avail_push(struct chunk *c, bool at_tail)
{
	c->listed = true;
	if (at_tail)
		list_push_back(&avail, &c->link);
	else
		list_push_front(&avail, &c->link);
}

static struct chunk *chunk_of(struct list_node *n)
{
	return n ? list_entry(n, struct chunk, link) : NULL;
}

/*
 * Set up every record of chunk @c (its memory zeroed: new, or given back)
 * as free, at generation @gen (even), and put them on its free list.
 * Caller holds rec_lock.
 */
static void chunk_populate(struct chunk *c, uint32_t gen)
{
	struct fiber *base = weft__record_chunks[chunk_no(c)];

	c->free = NULL;
	for (unsigned i = RECORD_CHUNK_SIZE; i-- > 0;) {
		struct fiber *f = &base[i];

		f->index = chunk_no(c) * RECORD_CHUNK_SIZE + i;
		f->park_word = FIBER_DEAD;
		ck_pr_store_32(&f->gen, gen);
		f->free_next = c->free;
		c->free = f;
	}
	c->nr_free = RECORD_CHUNK_SIZE;
	ck_pr_store_64(&nr_resident, ck_pr_load_64(&nr_resident) + 1);
}

/* A chunk with records to give: used ones first, then a released one set
 * up again, then a new one. NULL if none can be had. Caller holds rec_lock. */
static struct chunk *chunk_with_free(int *err)
{
	struct chunk *c = chunk_of(avail.first);
	unsigned n;
	void *mem;

	if (c)
		return c;
	c = chunk_of(list_pop_front(&released));
	if (c) {
		c->released = false;
		chunk_populate(c, c->gen_floor);
		nr_wholly_free++;
		avail_push(c, true);
		return c;
	}
	n = ck_pr_load_uint(&weft__record_nr_chunks);
	if (n >= RECORD_MAX_CHUNKS) {
		*err = -EAGAIN;
		return NULL;
	}
	mem = mmap(NULL, CHUNK_BYTES, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		*err = -ENOMEM;
		return NULL;
	}
	c = &meta[n];
	memset(c, 0, sizeof(*c));
	/* Read by lookups on any thread once the chunk count covers it. */
	ck_pr_store_ptr(&weft__record_chunks[n], mem);
	chunk_populate(c, gen_base);
	nr_wholly_free++;
	avail_push(c, true);
	/* Records set up before a lookup can reach them: pairs with the
	 * load of weft__record_nr_chunks in weft__record_slot(). */
	ck_pr_fence_store();
	ck_pr_store_uint(&weft__record_nr_chunks, n + 1);
	return c;
}

int weft__record_alloc_slow(struct worker *w, struct fiber **out)
{
	struct fiber *f;
	int err = 0;

	pthread_mutex_lock(&rec_lock);
	if (depot_nr != 0 && w->fibers.nr == 0) {
		w->fibers.head = depot[--depot_nr];
		w->fibers.nr = RECORD_BATCH;
	}
	while (w->fibers.nr < RECORD_BATCH) {
		struct chunk *c = chunk_with_free(&err);

		if (!c)
			break;
		if (c->nr_free == RECORD_CHUNK_SIZE)
			nr_wholly_free--;
		while (c->free && w->fibers.nr < RECORD_BATCH) {
			f = c->free;
			c->free = f->free_next;
			c->nr_free--;
			f->free_next = w->fibers.head;
			w->fibers.head = f;
			w->fibers.nr++;
		}
		if (c->nr_free == 0)
			avail_unlink(c);
		else if (c->nr_free == RECORD_CHUNK_SIZE)
			nr_wholly_free++;
	}
	pthread_mutex_unlock(&rec_lock);
	if (!w->fibers.head)
		return err ? err : -ENOMEM;
	f = w->fibers.head;
	w->fibers.head = f->free_next;
	w->fibers.nr--;
	weft__record_prefetch(w->fibers.head);
	*out = f;
	return 0;
}

/* Put @f, free, back on its chunk. Caller holds rec_lock. */
static void chunk_put(struct fiber *f)
{
	struct chunk *c = &meta[f->index >> RECORD_CHUNK_SHIFT];

	f->free_next = c->free;
	c->free = f;
	if (++c->nr_free == RECORD_CHUNK_SIZE) {
		/* Wholly free: to the tail, its idle time starting. */
		if (c->listed)
			avail_unlink(c);
		avail_push(c, true);
		nr_wholly_free++;
		c->free_epoch = trim_epoch;
	} else if (!c->listed) {
		avail_push(c, false);
	}
}

/* Owner only. */
void weft__record_give_back(struct worker *w)
{
	struct fiber *first = w->fibers.head;
	struct fiber *last = first;
	unsigned k = 1;

	/* The batch's end, found before the lock: our own cache, hot. */
	while (k < RECORD_BATCH && last && last->free_next) {
		last = last->free_next;
		k++;
	}
	pthread_mutex_lock(&rec_lock);
	if (k == RECORD_BATCH && depot_nr < RECORD_DEPOT) {
		w->fibers.head = last->free_next;
		w->fibers.nr -= RECORD_BATCH;
		last->free_next = NULL;
		depot[depot_nr++] = first;
		pthread_mutex_unlock(&rec_lock);
		return;
	}
	for (k = 0; k < RECORD_BATCH && w->fibers.head; k++) {
		struct fiber *f = w->fibers.head;

		w->fibers.head = f->free_next;
		w->fibers.nr--;
		chunk_put(f);
	}
	pthread_mutex_unlock(&rec_lock);
}

/* Return the depot's records to their chunks. Caller holds rec_lock. */
static void depot_flush(void)
{
	while (depot_nr != 0) {
		struct fiber *f = depot[--depot_nr];

		while (f) {
			struct fiber *next = f->free_next;

			chunk_put(f);
			f = next;
		}
	}
}

/*
 * Freeze every record of @c against stale cancellers (see Trim); false,
 * with nothing frozen, if one is still in a cancel inbox.
 */
static bool chunk_freeze(struct chunk *c)
{
	struct fiber *base = weft__record_chunks[chunk_no(c)];

	for (unsigned i = 0; i < RECORD_CHUNK_SIZE; i++) {
		/* Full barrier; fails for a record still in an inbox (1).
		 * Pairs with the 0 -> 1 CAS in weft__owned_cancel(). */
		if (!ck_pr_cas_uint(&base[i].cancel_queued, 0, RECORD_FROZEN)) {
			while (i-- > 0)
				ck_pr_store_uint(&base[i].cancel_queued, 0);
			return false;
		}
	}
	return true;
}

/* Give @c's memory back, its records all free and frozen; false if the
 * kernel refused. Caller holds rec_lock; @c is off the avail list. */
static bool chunk_release(struct chunk *c)
{
	struct fiber *base = weft__record_chunks[chunk_no(c)];
	uint32_t floor = 0;

	for (unsigned i = 0; i < RECORD_CHUNK_SIZE; i++)
		if (base[i].gen > floor)
			floor = base[i].gen;
	/* Free records have even generations; the next spawn adds one. */
	c->gen_floor = floor & ~1u;
	if (madvise(base, CHUNK_BYTES, MADV_DONTNEED) != 0) {
		/* Kept after all: thaw it, or no cancel could queue again. */
		for (unsigned i = 0; i < RECORD_CHUNK_SIZE; i++)
			ck_pr_store_uint(&base[i].cancel_queued, 0);
		return false;
	}
	c->released = true;
	c->free = NULL;
	c->nr_free = 0;
	list_push_front(&released, &c->link);
	ck_pr_store_64(&nr_resident, ck_pr_load_64(&nr_resident) - 1);
	return true;
}

void weft__record_trim(void)
{
	struct chunk *c, *prev;

	pthread_mutex_lock(&rec_lock);
	depot_flush();
	for (c = chunk_of(avail.last); c && c->nr_free == RECORD_CHUNK_SIZE &&
			     nr_wholly_free > RECORD_KEEP_CHUNKS;
	     c = prev) {
		prev = chunk_of(c->link.prev);
		if (c->free_epoch == trim_epoch || !chunk_freeze(c))
			continue;
		avail_unlink(c);
		if (chunk_release(c)) {
			nr_wholly_free--;
		} else {
			avail_push(c, true);
			break;
		}
	}
	trim_epoch++;
	pthread_mutex_unlock(&rec_lock);
}

uint64_t weft__record_resident(void)
{
	return ck_pr_load_64(&nr_resident) * RECORD_CHUNK_SIZE;
}

void weft__record_foreach_live(void (*fn)(struct fiber *f, void *arg),
			       void *arg)
{
	unsigned n = ck_pr_load_uint(&weft__record_nr_chunks);

	if (n > RECORD_MAX_CHUNKS)
		n = RECORD_MAX_CHUNKS;
	/* Pairs with the store fence in chunk_with_free(). */
	ck_pr_fence_load();
	for (unsigned c = 0; c < n; c++) {
		struct fiber *base = ck_pr_load_ptr(&weft__record_chunks[c]);

		for (unsigned i = 0; i < RECORD_CHUNK_SIZE; i++)
			if (ck_pr_load_32(&base[i].gen) & 1)
				fn(&base[i], arg);
	}
}

void weft__record_fini(void)
{
	unsigned n = ck_pr_load_uint(&weft__record_nr_chunks);
	uint32_t top = gen_base;

	for (unsigned i = 0; i < n && i < RECORD_MAX_CHUNKS; i++) {
		if (meta[i].released) {
			if (meta[i].gen_floor > top)
				top = meta[i].gen_floor;
		} else {
			for (unsigned k = 0; k < RECORD_CHUNK_SIZE; k++)
				if (weft__record_chunks[i][k].gen > top)
					top = weft__record_chunks[i][k].gen;
		}
		munmap(weft__record_chunks[i], CHUNK_BYTES);
		weft__record_chunks[i] = NULL;
	}
	/* Even, and past every generation handed out: the next run's
	 * handles are new to every program that kept an old one. */
	gen_base = (top + 2) & ~1u;
	memset(meta, 0, sizeof(meta[0]) * (n < RECORD_MAX_CHUNKS ? n : RECORD_MAX_CHUNKS));
	list_init(&avail);
	list_init(&released);
	nr_wholly_free = 0;
	/* Their records went with the chunks. */
	depot_nr = 0;
	nr_resident = 0;
	weft__record_nr_chunks = 0;
}
