/* SPDX-License-Identifier: MIT */
/*
 * Fiber-local storage: each fiber sees its own values across yields and
 * migrations; destructors run when a fiber ends, cancelled or not, on its
 * own stack (they may do weft I/O), with extra rounds for values they set;
 * deleted keys; the errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"

#define MS 1000000ll
#define FIBERS 200

static struct weft_config two = { .workers = 2 };

static weft_key key_a, key_b;
static int dtor_calls, dtor_sum, wrong_values, rounds_seen;

static void count_dtor(void *v)
{
	__atomic_add_fetch(&dtor_calls, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&dtor_sum, (int)(intptr_t)v, __ATOMIC_RELAXED);
}

static void *own_value(void *arg)
{
	intptr_t i = (intptr_t)arg;

	if (weft_key_get(key_a) != NULL)
		__atomic_add_fetch(&wrong_values, 1, __ATOMIC_RELAXED);
	weft_key_set(key_a, (void *)(i + 1));
	for (int k = 0; k < 20; k++) {
		weft_yield();
		if (weft_key_get(key_a) != (void *)(i + 1))
			__atomic_add_fetch(&wrong_values, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void isolation_main(void *arg)
{
	weft_fiber *f[FIBERS];

	(void)arg;
	for (intptr_t i = 0; i < FIBERS; i++)
		weft_spawn(&f[i], own_value, (void *)i, NULL);
	weft_join_all(f, FIBERS, NULL);
}

static void test_each_fiber_has_its_own_values_and_destructors_run(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	dtor_calls = dtor_sum = wrong_values = 0;
	assert_int_equal(weft_key_create(&key_a, count_dtor), 0);
	assert_int_equal(weft_run(&two, isolation_main, NULL), 0);
	assert_int_equal(wrong_values, 0);
	assert_int_equal(dtor_calls, FIBERS);
	assert_int_equal(dtor_sum, FIBERS * (FIBERS + 1) / 2);
	assert_int_equal(weft_key_delete(key_a), 0);
	watchdog_disarm();
}

/* Cancelled fibers end by returning: their destructors run too. */
static void *sleep_with_value(void *arg)
{
	weft_key_set(key_a, arg);
	weft_sleep_ns(10000 * MS);
	return NULL;
}

static void cancel_main(void *arg)
{
	weft_fiber *f[10];

	(void)arg;
	for (intptr_t i = 0; i < 10; i++)
		weft_spawn(&f[i], sleep_with_value, (void *)(i + 1), NULL);
	weft_sleep_ns(5 * MS);
	for (int i = 0; i < 10; i++)
		weft_cancel(f[i]);
	weft_join_all(f, 10, NULL);
}

static void test_destructors_run_for_cancelled_fibers(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	dtor_calls = dtor_sum = 0;
	assert_int_equal(weft_key_create(&key_a, count_dtor), 0);
	assert_int_equal(weft_run(&two, cancel_main, NULL), 0);
	assert_int_equal(dtor_calls, 10);
	assert_int_equal(dtor_sum, 55);
	assert_int_equal(weft_key_delete(key_a), 0);
	watchdog_disarm();
}

/* A destructor that closes a descriptor with weft I/O, and one that sets
 * a value again every time: bounded to four rounds. */
static void close_dtor(void *v)
{
	weft_close((int)(intptr_t)v - 1);
}

static void again_dtor(void *v)
{
	__atomic_add_fetch(&rounds_seen, 1, __ATOMIC_RELAXED);
	weft_key_set(key_b, v);
}

struct io_res {
	int fd, fd_after;
};

static void *closes_at_exit(void *arg)
{
	struct io_res *r = arg;
	int p[2];

	if (pipe(p))
		return NULL;
	close(p[1]);
	r->fd = p[0];
	weft_key_set(key_a, (void *)(intptr_t)(p[0] + 1));
	weft_key_set(key_b, (void *)1);
	return NULL;
}

static void io_main(void *arg)
{
	struct io_res *r = arg;
	weft_fiber *f;

	weft_spawn(&f, closes_at_exit, r, NULL);
	weft_join(f, NULL);
	r->fd_after = fcntl(r->fd, F_GETFD);
}

static void test_destructors_may_do_io_and_get_four_rounds(void **state)
{
	struct io_res r = { -1, 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	rounds_seen = 0;
	assert_int_equal(weft_key_create(&key_a, close_dtor), 0);
	assert_int_equal(weft_key_create(&key_b, again_dtor), 0);
	assert_int_equal(weft_run(&two, io_main, &r), 0);
	assert_true(r.fd >= 0);
	assert_int_equal(r.fd_after, -1);
	assert_int_equal(rounds_seen, 4);
	assert_int_equal(weft_key_delete(key_a), 0);
	assert_int_equal(weft_key_delete(key_b), 0);
	watchdog_disarm();
}

/* Deleted keys, reused slots, errors. */
struct misc_res {
	int set_deleted, set_bad, create_null, stale_get_null, new_get_null;
	int exhausted_at;
};

static void misc_main(void *arg)
{
	struct misc_res *r = arg;
	weft_key k, k2, all[WEFT_KEYS_MAX];
	unsigned n = 0;

	weft_key_create(&k, count_dtor);
	weft_key_set(k, (void *)5);
	weft_key_delete(k);
	r->stale_get_null = weft_key_get(k) == NULL;
	r->set_deleted = weft_key_set(k, (void *)6);
	/* The freed slot serves a new key: the old value is not its. */
	weft_key_create(&k2, NULL);
	r->new_get_null = weft_key_get(k2) == NULL;
	weft_key_delete(k2);
	r->set_bad = weft_key_set(0, (void *)1);
	r->create_null = weft_key_create(NULL, NULL);
	while (n < WEFT_KEYS_MAX && weft_key_create(&all[n], NULL) == 0)
		n++;
	r->exhausted_at = weft_key_create(&k, NULL) == -EAGAIN ? (int)n : -1;
	while (n > 0)
		weft_key_delete(all[--n]);
}

static void test_deleted_keys_and_errors(void **state)
{
	struct misc_res r = { 0 };
	weft_key k;

	(void)state;
	watchdog_arm(__func__, 30);
	dtor_calls = 0;
	assert_int_equal(weft_run(&two, misc_main, &r), 0);
	assert_true(r.stale_get_null);
	assert_int_equal(r.set_deleted, -EINVAL);
	assert_true(r.new_get_null);
	assert_int_equal(r.set_bad, -EINVAL);
	assert_int_equal(r.create_null, -EINVAL);
	assert_int_equal(r.exhausted_at, WEFT_KEYS_MAX);
	/* The deleted key's value was not destroyed. */
	assert_int_equal(dtor_calls, 0);
	/* Outside a fiber. */
	assert_int_equal(weft_key_create(&k, NULL), 0);
	assert_int_equal(weft_key_set(k, (void *)1), -EPERM);
	assert_null(weft_key_get(k));
	assert_int_equal(weft_key_delete(k), 0);
	assert_int_equal(weft_key_delete(k), -EINVAL);
	watchdog_disarm();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_fiber_has_its_own_values_and_destructors_run),
		cmocka_unit_test(test_destructors_run_for_cancelled_fibers),
		cmocka_unit_test(test_destructors_may_do_io_and_get_four_rounds),
		cmocka_unit_test(test_deleted_keys_and_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
