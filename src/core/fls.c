/* SPDX-License-Identifier: MIT */
/*
 * Fiber-local storage (pthread_key_create's model): up to WEFT_KEYS_MAX
 * keys for the process, each with an optional destructor, and for each
 * fiber an array of values, allocated at its first weft_key_set() and
 * freed when it ends, after the destructors have run on its own stack
 * (so they may call weft_close() and the like). A fiber that is
 * cancelled ends by returning, as every fiber does, so its destructors
 * run too.
 *
 * A key is its slot's index + 1 in the low 8 bits and the slot's
 * generation above them. Deleting a key makes its generation even;
 * creating one makes it odd again. A fiber's value remembers the
 * generation it was set under, so a value of a deleted key is neither
 * returned nor destroyed (as pthreads, which leaves such values to the
 * program), even once the slot serves a new key.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <ck_pr.h>

#include "fiber.h"
#include "fls.h"
#include "scheduler.h"
#include "waitq.h"

#define KEY_INDEX_BITS 8
#define GEN_MASK 0xffffffu	/* the generation bits a key carries */
#define DTOR_ROUNDS 4		/* PTHREAD_DESTRUCTOR_ITERATIONS       */

_Static_assert(WEFT_KEYS_MAX < (1u << KEY_INDEX_BITS), "keys fit the index");

struct key_slot {
	uint32_t gen;		/* odd: in use; atomic              */
	void (*dtor)(void *);	/* atomic; NULL: none               */
};

struct fls_val {
	uint32_t gen;		/* the key's generation at the set  */
	void *val;
};

struct fls {
	unsigned cap;		/* entries in v                     */
	struct fls_val v[];
};

static struct key_slot keys[WEFT_KEYS_MAX];
static struct spinlock keys_lock;	/* create and delete */

/* The slot @key names while it is live, and its generation; else -1. */
static int key_slot_of(weft_key key, uint32_t *gen)
{
	unsigned idx = (key & ((1u << KEY_INDEX_BITS) - 1)) - 1;

	if (idx >= WEFT_KEYS_MAX)
		return -1;
	*gen = key >> KEY_INDEX_BITS;
	/* Racy by design, as a fiber handle's check: a key used while it
	 * is being deleted may or may not be refused. */
	if (!(*gen & 1) ||
	    (ck_pr_load_32(&keys[idx].gen) & GEN_MASK) != *gen)
		return -1;
	return (int)idx;
}

int weft_key_create(weft_key *key, void (*destructor)(void *))
{
	int res = -EAGAIN;

	if (!key)
		return -EINVAL;
	spin_lock(&keys_lock);
	for (unsigned i = 0; i < WEFT_KEYS_MAX; i++) {
		uint32_t gen = keys[i].gen;

		if (gen & 1)
			continue;
		/* Skip the generations a key cannot carry whole. */
		gen = (gen + 1) & GEN_MASK;
		/* The destructor before the generation that makes it live:
		 * pairs with the load fence in weft__fls_exit(). */
		ck_pr_store_ptr(&keys[i].dtor, (void *)destructor);
		ck_pr_fence_store();
		ck_pr_store_32(&keys[i].gen, gen);
		*key = gen << KEY_INDEX_BITS | (i + 1);
		res = 0;
		break;
	}
	spin_unlock(&keys_lock);
	return res;
}

int weft_key_delete(weft_key key)
{
	uint32_t gen;
	int idx, res = -EINVAL;

	spin_lock(&keys_lock);
	idx = key_slot_of(key, &gen);
	if (idx >= 0) {
		/* Even: the key and every value set under it are gone. */
		ck_pr_store_32(&keys[idx].gen, gen + 1);
		ck_pr_store_ptr(&keys[idx].dtor, NULL);
		res = 0;
	}
	spin_unlock(&keys_lock);
	return res;
}

int weft_key_set(weft_key key, const void *value)
{
	struct worker *w = weft__worker_self();
	struct fiber *f;
	struct fls *fl;
	uint32_t gen;
	int idx;

	if (!w || !w->cur)
		return -EPERM;
	idx = key_slot_of(key, &gen);
	if (idx < 0)
		return -EINVAL;
	f = w->cur;
	fl = f->fls;
	if (!fl || (unsigned)idx >= fl->cap) {
		unsigned cap = fl ? fl->cap : 0, want = 8;

		while (want <= (unsigned)idx)
			want *= 2;
		fl = realloc(fl, sizeof(*fl) + want * sizeof(fl->v[0]));
		if (!fl)
			return -ENOMEM;
		for (unsigned i = cap; i < want; i++)
			fl->v[i] = (struct fls_val){ 0, NULL };
		fl->cap = want;
		f->fls = fl;
	}
	fl->v[idx].gen = gen;
	fl->v[idx].val = (void *)value;
	return 0;
}

void *weft_key_get(weft_key key)
{
	struct worker *w = weft__worker_self();
	struct fls *fl;
	uint32_t gen;
	int idx;

	if (!w || !w->cur)
		return NULL;
	fl = w->cur->fls;
	idx = key_slot_of(key, &gen);
	if (!fl || idx < 0 || (unsigned)idx >= fl->cap ||
	    fl->v[idx].gen != gen)
		return NULL;
	return fl->v[idx].val;
}

void weft__fls_exit(struct fiber *f)
{
	struct fls *fl = f->fls;

	for (int round = 0; fl && round < DTOR_ROUNDS; round++) {
		bool ran = false;

		for (unsigned i = 0; i < fl->cap; i++) {
			void (*dtor)(void *);
			void *val = fl->v[i].val;

			if (!val)
				continue;
			fl->v[i].val = NULL;
			/* Still the key it was set under? The generation,
			 * then the destructor: pairs with the store fence
			 * in weft_key_create(). */
			if ((ck_pr_load_32(&keys[i].gen) & GEN_MASK) !=
			    fl->v[i].gen)
				continue;
			ck_pr_fence_load();
			dtor = (void (*)(void *))ck_pr_load_ptr(&keys[i].dtor);
			if (dtor) {
				dtor(val);
				ran = true;
				/* A destructor may have set more values. */
				fl = f->fls;
			}
		}
		if (!ran)
			break;
	}
	free(f->fls);
	f->fls = NULL;
}
