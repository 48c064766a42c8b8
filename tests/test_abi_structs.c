/* SPDX-License-Identifier: MIT */
/*
 * The ABI of weft.h's structs (see "Structs that grow" there): the
 * layouts of the first ABI are pinned; a config, spawn options or stats
 * struct from an older header (a smaller size) is read or written only
 * as far as its size, with the rest defaulted, which a guard of 0xff
 * bytes after it checks; size 0 means the first ABI's layout; a newer
 * header's larger size works when its extra bytes are zero and is
 * refused with -EINVAL when they are not. Also: the version the library
 * reports, the select case's reserved words, the opaque lock types'
 * all-zero and static initial states, and sleeps of zero or negative
 * length. Each case runs its own weft_run().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"

/* Room for any struct under test plus a guard or a newer header's tail. */
#define BUF_SIZE 512

/* An 8-byte aligned buffer that a struct of weft.h is built in. */
struct buf {
	_Alignas(8) unsigned char b[BUF_SIZE];
};

/* The caller's first @size bytes of @s, then 0xff bytes to the end. */
static void put_older(struct buf *b, const void *s, size_t size)
{
	memset(b->b, 0xff, sizeof(b->b));
	memcpy(b->b, s, size);
	memcpy(b->b, &size, sizeof(size));
}

static bool all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
	while (n--)
		if (*p++ != v)
			return false;
	return true;
}

/* Version -------------------------------------------------------------- */

static void test_version_of_library_is_the_headers(void **state)
{
	char s[32];

	(void)state;
	assert_int_equal(weft_version(), WEFT_VERSION_NUMBER);
	assert_int_equal(WEFT_VERSION_NUMBER,
			 WEFT_VERSION_MAJOR * 10000 + WEFT_VERSION_MINOR * 100 +
				 WEFT_VERSION_PATCH);
	snprintf(s, sizeof(s), "%d.%d.%d", WEFT_VERSION_MAJOR,
		 WEFT_VERSION_MINOR, WEFT_VERSION_PATCH);
	assert_string_equal(s, WEFT_VERSION_STRING);
}

/* Layouts -------------------------------------------------------------- */

static void test_first_abi_layouts_are_pinned(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct weft_config), WEFT_CONFIG_SIZE_V1);
	assert_int_equal(WEFT_CONFIG_SIZE_V1, 48);
	assert_int_equal(offsetof(struct weft_config, stall_ms), 36);
	assert_int_equal(offsetof(struct weft_config, chaos_seed), 40);
	assert_int_equal(sizeof(struct weft_spawn_opts),
			 WEFT_SPAWN_OPTS_SIZE_V1);
	assert_int_equal(WEFT_SPAWN_OPTS_SIZE_V1, 24);
	assert_int_equal(offsetof(struct weft_spawn_opts, name), 16);
	assert_int_equal(sizeof(struct weft_stats), WEFT_STATS_SIZE_V1);
	assert_int_equal(WEFT_STATS_SIZE_V1, 128);
	assert_int_equal(offsetof(struct weft_stats, latency_max_ns), 120);
	assert_int_equal(sizeof(struct weft_worker_stats),
			 WEFT_WORKER_STATS_SIZE_V1);
	assert_int_equal(WEFT_WORKER_STATS_SIZE_V1, 64);
	/* Arrays of these: the stride is fixed for good. */
	assert_int_equal(sizeof(struct weft_select_case), 48);
	assert_int_equal(offsetof(struct weft_select_case, reserved), 32);
	/* Opaque lock storage: size and alignment are the whole ABI. */
	assert_int_equal(sizeof(weft_mutex), WEFT_MUTEX_SIZE);
	assert_int_equal(sizeof(weft_cond), WEFT_COND_SIZE);
	assert_int_equal(sizeof(weft_wg), WEFT_WG_SIZE);
	assert_int_equal(sizeof(weft_sem), WEFT_SEM_SIZE);
	assert_int_equal(sizeof(weft_once), WEFT_ONCE_SIZE);
	assert_int_equal(_Alignof(weft_mutex), 8);
	assert_int_equal(_Alignof(weft_cond), 8);
	assert_int_equal(_Alignof(weft_wg), 8);
	assert_int_equal(_Alignof(weft_sem), 8);
	assert_int_equal(_Alignof(weft_once), 8);
}

/* weft_config ----------------------------------------------------------- */

/* What the main fiber saw of its runtime. */
struct seen {
	int stats_err;
	unsigned workers;
	unsigned backend;
};

static void note_main(void *arg)
{
	struct seen *s = arg;
	struct weft_stats st = { .size = sizeof(st) };

	s->stats_err = weft_stats(&st);
	s->workers = st.workers;
	s->backend = st.backend;
}

static void test_config_from_older_header_is_read_to_its_size(void **state)
{
	/* A header without stall_ms and chaos_seed, the last fields: the
	 * 0xff bytes where they would be (an out-of-range 0xffffffff, a
	 * chaos seed) must not be read. */
	struct weft_config old = { .workers = 1 };
	struct seen s = { -1, 0, 0 };
	struct buf b;

	(void)state;
	put_older(&b, &old, offsetof(struct weft_config, stall_ms));
	assert_int_equal(weft_run((struct weft_config *)(void *)b.b,
				  note_main, &s), 0);
	assert_int_equal(s.stats_err, 0);
	assert_int_equal(s.workers, 1);
	assert_true(all_bytes(b.b + offsetof(struct weft_config, stall_ms),
			      sizeof(b.b) -
				      offsetof(struct weft_config, stall_ms),
			      0xff));

	/* Older still: only the size and workers. */
	old.workers = 2;
	put_older(&b, &old, offsetof(struct weft_config, stack_size));
	assert_int_equal(weft_run((struct weft_config *)(void *)b.b,
				  note_main, &s), 0);
	assert_int_equal(s.workers, 2);
}

static void test_config_of_size_zero_is_the_first_abi(void **state)
{
	struct weft_config c = { 0 };
	struct seen s = { -1, 0, 0 };

	(void)state;
	c.workers = 2;
	assert_int_equal(weft_run(&c, note_main, &s), 0);
	assert_int_equal(s.stats_err, 0);
	assert_int_equal(s.workers, 2);
	/* The same with the size written out. */
	c.size = sizeof(c);
	c.workers = 1;
	assert_int_equal(weft_run(&c, note_main, &s), 0);
	assert_int_equal(s.workers, 1);
	/* A field after workers is read too (WEFT_BACKEND overrides it). */
	c.size = WEFT_CONFIG_SIZE_V1;
	c.backend = WEFT_BACKEND_EPOLL;
	assert_int_equal(weft_run(&c, note_main, &s), 0);
	if (!getenv("WEFT_BACKEND"))
		assert_int_equal(s.backend, WEFT_BACKEND_EPOLL);
}

static void test_config_from_newer_header_needs_a_zero_tail(void **state)
{
	struct weft_config c = { .size = sizeof(c) + 16, .workers = 1 };
	struct seen s = { -1, 0, 0 };
	struct buf b;

	(void)state;
	memset(b.b, 0, sizeof(b.b));
	memcpy(b.b, &c, sizeof(c));
	/* Zero beyond what this library knows: fields left at their
	 * defaults, which it can honour. */
	assert_int_equal(weft_run((struct weft_config *)(void *)b.b,
				  note_main, &s), 0);
	assert_int_equal(s.workers, 1);
	/* A field it does not know was set: refused, nothing started. */
	b.b[sizeof(c) + 15] = 1;
	assert_int_equal(weft_run((struct weft_config *)(void *)b.b,
				  note_main, &s), -EINVAL);
	b.b[sizeof(c) + 15] = 0;
	b.b[sizeof(c)] = 0x80;
	assert_int_equal(weft_run((struct weft_config *)(void *)b.b,
				  note_main, &s), -EINVAL);
}

static void test_config_of_nonsense_size_is_einval(void **state)
{
	struct weft_config c = { .workers = 1 };

	(void)state;
	c.size = 1;
	assert_int_equal(weft_run(&c, noop_main, NULL), -EINVAL);
	c.size = sizeof(size_t) - 1;
	assert_int_equal(weft_run(&c, noop_main, NULL), -EINVAL);
	/* Over a page: a size member nobody set. */
	c.size = 4097;
	assert_int_equal(weft_run(&c, noop_main, NULL), -EINVAL);
	c.size = SIZE_MAX;
	assert_int_equal(weft_run(&c, noop_main, NULL), -EINVAL);
	/* Just the size member: every field a default. */
	c.size = sizeof(size_t);
	assert_int_equal(weft_run(&c, noop_main, NULL), 0);
}

/* weft_spawn_opts ------------------------------------------------------- */

static void *return_arg(void *arg)
{
	return arg;
}

/* Spawn return_arg with @opts and join it: 0 and its result, or the
 * spawn's error. */
static int spawn_join(const struct weft_spawn_opts *opts)
{
	weft_fiber *f = NULL;
	void *res = NULL;
	int err = weft_spawn(&f, return_arg, (void *)(uintptr_t)7, opts);

	if (err)
		return err;
	check_eq(weft_join(f, &res), 0);
	check_eq((uintptr_t)res, 7);
	return 0;
}

static void spawn_opts_main(void *arg)
{
	struct weft_spawn_opts o = { .stack_size = WEFT_STACK_SMALL };
	struct buf b;

	(void)arg;
	/* An older header without name: the 0xff bytes where the pointer
	 * would be must not be read (strncpy would fault on them). */
	put_older(&b, &o, offsetof(struct weft_spawn_opts, name));
	check_eq(spawn_join((struct weft_spawn_opts *)(void *)b.b), 0);
	check(all_bytes(b.b + offsetof(struct weft_spawn_opts, name),
			sizeof(b.b) - offsetof(struct weft_spawn_opts, name),
			0xff));

	/* Size 0, and the full size: both the first ABI. */
	o = (struct weft_spawn_opts){ .name = "zero" };
	check_eq(spawn_join(&o), 0);
	o = (struct weft_spawn_opts){ .size = sizeof(o), .name = "full" };
	check_eq(spawn_join(&o), 0);

	/* A newer header: a zero tail works, anything else is refused. */
	o = (struct weft_spawn_opts){ .size = sizeof(o) + 8, .name = "new" };
	memset(b.b, 0, sizeof(b.b));
	memcpy(b.b, &o, sizeof(o));
	check_eq(spawn_join((struct weft_spawn_opts *)(void *)b.b), 0);
	b.b[sizeof(o) + 3] = 1;
	check_eq(spawn_join((struct weft_spawn_opts *)(void *)b.b), -EINVAL);

	o = (struct weft_spawn_opts){ .size = 3 };
	check_eq(spawn_join(&o), -EINVAL);
	o.size = 8192;
	check_eq(spawn_join(&o), -EINVAL);
}

static void test_spawn_opts_follow_the_size_rule(void **state)
{
	struct weft_config cfg = { .workers = 1 };

	(void)state;
	run_checked(&cfg, spawn_opts_main, NULL);
}

/* weft_stats and weft_worker_stats --------------------------------------- */

static void stats_main(void *arg)
{
	size_t older = offsetof(struct weft_stats, latency_samples);
	struct weft_stats st;
	struct weft_worker_stats ws;
	struct buf b;

	(void)arg;
	/* An older header without the latency figures: nothing written
	 * past its size, and size says how much was filled in. */
	memset(&st, 0, sizeof(st));
	put_older(&b, &st, older);
	check_eq(weft_stats((struct weft_stats *)(void *)b.b), 0);
	memcpy(&st, b.b, older);
	check_eq(st.size, older);
	check_eq(st.workers, 1);
	check(st.spawned >= 1);
	check(all_bytes(b.b + older, sizeof(b.b) - older, 0xff));

	/* Size 0: the first ABI's 128 bytes, and size says so. */
	memset(b.b, 0xff, sizeof(b.b));
	memset(b.b, 0, sizeof(size_t));
	check_eq(weft_stats((struct weft_stats *)(void *)b.b), 0);
	memcpy(&st, b.b, sizeof(st));
	check_eq(st.size, WEFT_STATS_SIZE_V1);
	check_eq(st.workers, 1);
	check(all_bytes(b.b + WEFT_STATS_SIZE_V1,
			sizeof(b.b) - WEFT_STATS_SIZE_V1, 0xff));

	/* A newer header: the known part written, and nothing past it,
	 * not even zeroes (a garbage size must do the least harm). */
	memset(b.b, 0xff, sizeof(b.b));
	st.size = sizeof(st) + 40;
	memcpy(b.b, &st.size, sizeof(st.size));
	check_eq(weft_stats((struct weft_stats *)(void *)b.b), 0);
	memcpy(&st, b.b, sizeof(st));
	check_eq(st.size, sizeof(st));
	check_eq(st.workers, 1);
	check(all_bytes(b.b + sizeof(st), sizeof(b.b) - sizeof(st), 0xff));

	/* A size nobody set: refused, nothing written. */
	memset(b.b, 0xff, sizeof(b.b));
	st.size = 5;
	memcpy(b.b, &st.size, sizeof(st.size));
	check_eq(weft_stats((struct weft_stats *)(void *)b.b), -EINVAL);
	check(all_bytes(b.b + sizeof(size_t), sizeof(b.b) - sizeof(size_t),
			0xff));
	st.size = 1u << 20;
	memcpy(b.b, &st.size, sizeof(st.size));
	check_eq(weft_stats((struct weft_stats *)(void *)b.b), -EINVAL);

	/* weft_worker_stats follows the same rule. */
	older = offsetof(struct weft_worker_stats, latency_samples);
	memset(&ws, 0, sizeof(ws));
	put_older(&b, &ws, older);
	check_eq(weft_worker_stats(0, (struct weft_worker_stats *)(void *)b.b),
		 0);
	memcpy(&ws, b.b, older);
	check_eq(ws.size, older);
	check(all_bytes(b.b + older, sizeof(b.b) - older, 0xff));
	ws = (struct weft_worker_stats){ .size = 2 };
	check_eq(weft_worker_stats(0, &ws), -EINVAL);
	ws = (struct weft_worker_stats){ .size = 0 };
	check_eq(weft_worker_stats(0, &ws), 0);
	check_eq(ws.size, WEFT_WORKER_STATS_SIZE_V1);
}

static void test_stats_are_written_to_the_callers_size(void **state)
{
	struct weft_config cfg = { .workers = 1 };

	(void)state;
	run_checked(&cfg, stats_main, NULL);
}

/* weft_select_case ------------------------------------------------------- */

static void test_select_case_reserved_words_must_be_zero(void **state)
{
	weft_chan *c = NULL;
	int v = 0;
	struct weft_select_case sc = { NULL, WEFT_SELECT_RECV, &v, 0 };

	(void)state;
	assert_int_equal(weft_chan_new(&c, sizeof(int), 1), 0);
	sc.chan = c;
	/* Timeout 0 may be called from any thread. */
	assert_int_equal(weft_select(&sc, 1, 0), -EAGAIN);
	sc.reserved[0] = 1;
	assert_int_equal(weft_select(&sc, 1, 0), -EINVAL);
	sc.reserved[0] = 0;
	sc.reserved[1] = UINT64_MAX;
	assert_int_equal(weft_select(&sc, 1, 0), -EINVAL);
	sc.reserved[1] = 0;
	v = 5;
	assert_int_equal(weft_chan_try_send(c, &v), 0);
	v = 0;
	assert_int_equal(weft_select(&sc, 1, 0), 0);
	assert_int_equal(v, 5);
	weft_chan_free(c);
}

/* Lock types -------------------------------------------------------------- */

static weft_mutex static_mutex = WEFT_MUTEX_INIT;
static weft_sem static_sem = WEFT_SEM_INIT(2);
static weft_wg static_wg = WEFT_WG_INIT;

static void test_locks_start_zeroed_or_from_their_initialisers(void **state)
{
	/* calloc'd: all zero bytes, no _init. */
	weft_mutex *m = calloc(1, sizeof(*m));
	weft_sem *s = calloc(1, sizeof(*s));
	weft_wg *wg = calloc(1, sizeof(*wg));
	weft_cond *cv = calloc(1, sizeof(*cv));

	(void)state;
	assert_non_null(m);
	assert_non_null(s);
	assert_non_null(wg);
	assert_non_null(cv);
	/* The non-blocking calls work from any thread. */
	assert_int_equal(weft_mutex_trylock(m), 0);
	assert_int_equal(weft_mutex_trylock(m), -EBUSY);
	assert_int_equal(weft_mutex_unlock(m), 0);
	assert_int_equal(weft_mutex_unlock(m), -EPERM);
	assert_int_equal(weft_sem_try_acquire(s), -EAGAIN);
	assert_int_equal(weft_sem_release(s), 0);
	assert_int_equal(weft_sem_try_acquire(s), 0);
	assert_int_equal(weft_wg_done(wg), -EINVAL);
	assert_int_equal(weft_wg_add(wg, 1), 0);
	assert_int_equal(weft_wg_done(wg), 0);
	assert_int_equal(weft_cond_signal(cv), 0);
	assert_int_equal(weft_cond_broadcast(cv), 0);

	assert_int_equal(weft_mutex_trylock(&static_mutex), 0);
	assert_int_equal(weft_mutex_unlock(&static_mutex), 0);
	assert_int_equal(weft_sem_try_acquire(&static_sem), 0);
	assert_int_equal(weft_sem_try_acquire(&static_sem), 0);
	assert_int_equal(weft_sem_try_acquire(&static_sem), -EAGAIN);
	assert_int_equal(weft_wg_done(&static_wg), -EINVAL);

	/* _init gives the same state as the initialisers. */
	memset(s, 0xff, sizeof(*s));
	assert_int_equal(weft_sem_init(s, 1), 0);
	assert_int_equal(weft_sem_try_acquire(s), 0);
	assert_int_equal(weft_sem_try_acquire(s), -EAGAIN);
	free(cv);
	free(wg);
	free(s);
	free(m);
}

/* Sleeps of no length ------------------------------------------------------ */

static void *set_flag(void *arg)
{
	__atomic_store_n((int *)arg, 1, __ATOMIC_RELAXED);
	return NULL;
}

/*
 * weft_sleep_ns(ns) for ns <= 0: returns 0, but only after suspending
 * once, so a fiber made ready before it has run by then (one worker).
 */
static void no_sleep_main(void *arg)
{
	static const int64_t lengths[] = { 0, -1, -1000000000, INT64_MIN };

	(void)arg;
	for (unsigned i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		int flag = 0;
		weft_fiber *f = check_spawn(set_flag, &flag);
		int64_t t0 = weft_now_ns();

		check_eq(weft_sleep_ns(lengths[i]), 0);
		check_eq(__atomic_load_n(&flag, __ATOMIC_RELAXED), 1);
		/* At once: well under the second a real sleep would take. */
		check(weft_now_ns() - t0 < 500000000);
		check_join(f);
	}
	/* The fiber's deadline still comes first, as for any sleep. */
	check_eq(weft_set_deadline(0), WEFT_FOREVER);
	check_eq(weft_sleep_ns(-1), -ETIMEDOUT);
	check_eq(weft_set_deadline(WEFT_FOREVER), 0);
	check(weft_now_ns() > 0);
}

static void test_sleep_of_zero_or_less_suspends_once(void **state)
{
	struct weft_config cfg = { .workers = 1 };

	(void)state;
	run_checked(&cfg, no_sleep_main, NULL);
	/* Outside a fiber, as for every sleep. */
	assert_int_equal(weft_sleep_ns(-1), -EPERM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_of_library_is_the_headers),
		cmocka_unit_test(test_first_abi_layouts_are_pinned),
		cmocka_unit_test(test_config_from_older_header_is_read_to_its_size),
		cmocka_unit_test(test_config_of_size_zero_is_the_first_abi),
		cmocka_unit_test(test_config_from_newer_header_needs_a_zero_tail),
		cmocka_unit_test(test_config_of_nonsense_size_is_einval),
		cmocka_unit_test(test_spawn_opts_follow_the_size_rule),
		cmocka_unit_test(test_stats_are_written_to_the_callers_size),
		cmocka_unit_test(test_select_case_reserved_words_must_be_zero),
		cmocka_unit_test(test_locks_start_zeroed_or_from_their_initialisers),
		cmocka_unit_test(test_sleep_of_zero_or_less_suspends_once),
	};

	return cmocka_run_group_tests_name("abi_structs", tests, NULL, NULL);
}
