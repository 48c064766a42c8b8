/* SPDX-License-Identifier: MIT */
/*
 * Park/wake races: a baton passed around a ring of fibers on every worker
 * through the park protocol, while a canceller fiber and a foreign thread
 * cancel ring members at random. A cancelled park must hand the baton
 * neither to nobody nor twice: every fiber must receive exactly its share
 * and the run must end (the watchdog fails a hang).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../helpers.h"
#include "scheduler.h"

#define RING 64

struct member {
	weft_token token;	/* current park's token, 0 when none */
	weft_fiber *handle;
	unsigned received;
	unsigned cancelled;
};

static struct member ring[RING];
static unsigned rounds;
static int stop_cancellers;
static unsigned long foreign_cancels, fiber_cancels;

struct publication {
	struct member *m;
	weft_token token;
};

static bool publish_token(struct fiber *f, void *arg)
{
	struct publication *p = arg;

	(void)f;
	/* Runs after the fiber is off its stack; pairs with the acquire
	 * load in pass_baton(). */
	__atomic_store_n(&p->m->token, p->token, __ATOMIC_RELEASE);
	return true;
}

/* Park until the baton arrives; cancelled parks just park again. */
static void wait_baton(struct member *m)
{
	for (;;) {
		struct publication p = { m, weft__park_token(weft__worker_self()) };
		int rc;

		rc = weft__park(weft__worker_self(), publish_token, &p);
		if (rc == 0)
			return;
		m->cancelled++;
	}
}

static void pass_baton(struct member *to)
{
	for (;;) {
		weft_token t = __atomic_load_n(&to->token, __ATOMIC_ACQUIRE);

		/* A stale token (its park was cancelled) fails; retry with
		 * the next one once the receiver has parked again. */
		if (t && weft__ready(t, 0))
			return;
		weft_yield();
	}
}

static void *member_main(void *arg)
{
	intptr_t i = (intptr_t)arg;
	struct member *m = &ring[i];
	unsigned r;

	for (r = 0; r < rounds; r++) {
		if (!(i == 0 && r == 0))
			wait_baton(m);
		m->received++;
		if (!(i == RING - 1 && r == rounds - 1))
			pass_baton(&ring[(i + 1) % RING]);
	}
	return NULL;
}

static void *canceller_fiber(void *arg)
{
	unsigned seed = 12345;

	(void)arg;
	while (!__atomic_load_n(&stop_cancellers, __ATOMIC_ACQUIRE)) {
		if (weft_cancel(ring[xorshift32(&seed) % RING].handle) == 0)
			fiber_cancels++;
		weft_yield();
	}
	return NULL;
}

static void *canceller_thread(void *arg)
{
	unsigned seed = 777;

	(void)arg;
	while (!__atomic_load_n(&stop_cancellers, __ATOMIC_ACQUIRE)) {
		if (weft_cancel(ring[xorshift32(&seed) % RING].handle) == 0)
			__atomic_add_fetch(&foreign_cancels, 1, __ATOMIC_RELAXED);
		sched_yield();
	}
	return NULL;
}

static void ring_main(void *arg)
{
	weft_fiber *c;
	pthread_t t;
	intptr_t i;

	(void)arg;
	/* Handles first, so cancellers never see a missing one. */
	for (i = 0; i < RING; i++)
		weft_spawn(&ring[i].handle, member_main, (void *)i, NULL);
	weft_spawn(&c, canceller_fiber, NULL, NULL);
	pthread_create(&t, NULL, canceller_thread, NULL);
	for (i = 0; i < RING; i++)
		weft_join(ring[i].handle, NULL);
	__atomic_store_n(&stop_cancellers, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	weft_join(c, NULL);
}

static void test_baton_survives_cancel_races(void **state)
{
	struct weft_config two = { .workers = 2 };
	unsigned long cancelled = 0;
	int i;

	(void)state;
	rounds = (unsigned)stress_iters(50000 / sanitizer_scale());
	watchdog_arm(__func__, 300);
	memset(ring, 0, sizeof(ring));
	assert_int_equal(weft_run(&two, ring_main, NULL), 0);
	for (i = 0; i < RING; i++) {
		assert_int_equal(ring[i].received, rounds);
		cancelled += ring[i].cancelled;
	}
	print_message("%u passes, %lu cancels sent (%lu foreign), %lu parks "
		      "cancelled\n", rounds * RING, fiber_cancels + foreign_cancels,
		      foreign_cancels, cancelled);
	/* The races were really exercised. */
	assert_true(cancelled > 0);
	watchdog_disarm();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_baton_survives_cancel_races),
	};

	skip_without_backend();
	return cmocka_run_group_tests_name("stress_park", tests, NULL, NULL);
}
