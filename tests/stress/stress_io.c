/* SPDX-License-Identifier: MIT */
/*
 * Socket I/O from thousands of fibers on every worker at once: pairs of
 * fibers ping-pong numbered messages over socketpairs while stealing moves
 * them between workers and their workers' rings. Every message must arrive
 * intact and in order, and every fiber must finish (the watchdog fails a
 * hang). Also a pile of sleepers woken in deadline order.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "../helpers.h"

#define MSG 64

struct pair {
	int fd[2];
	unsigned rounds;
	unsigned idx;		/* this pair's number               */
	/* One of each per side: the two fibers run on different workers. */
	unsigned bad[2];	/* corrupt or out-of-order messages */
	int err[2];		/* first failing call's result      */
};

static void fill(char *m, unsigned pair, unsigned seq)
{
	unsigned i;

	for (i = 0; i < MSG; i++)
		m[i] = (char)(pair * 31 + seq * 7 + i);
}

static void *pinger(void *arg)
{
	struct pair *p = arg;
	unsigned idx = p->idx;
	char out[MSG], in[MSG];
	unsigned seq;
	ssize_t n;

	for (seq = 0; seq < p->rounds; seq++) {
		fill(out, idx, seq);
		n = weft_write_all(p->fd[0], out, MSG);
		if (n == MSG)
			n = weft_read_full(p->fd[0], in, MSG);
		if (n != MSG) {
			p->err[0] = (int)n;
			break;
		}
		/* The ponger echoes each message back with one bit flipped. */
		in[0] ^= 1;
		p->bad[0] += memcmp(in, out, MSG) != 0;
	}
	return NULL;
}

static void *ponger(void *arg)
{
	struct pair *p = arg;
	unsigned idx = p->idx;
	char m[MSG], want[MSG];
	unsigned seq;
	ssize_t n;

	for (seq = 0; seq < p->rounds; seq++) {
		n = weft_read_full(p->fd[1], m, MSG);
		if (n != MSG) {
			p->err[1] = (int)n;
			break;
		}
		fill(want, idx, seq);
		p->bad[1] += memcmp(m, want, MSG) != 0;
		m[0] ^= 1;
		if (weft_write_all(p->fd[1], m, MSG) != MSG)
			break;
		watchdog_progress_add(1);
	}
	return NULL;
}

static struct pair *pairs;
static unsigned nr_pairs;

static void pairs_main(void *arg)
{
	weft_fiber **f = calloc(2 * nr_pairs, sizeof(*f));
	unsigned i;

	(void)arg;
	for (i = 0; i < nr_pairs; i++) {
		weft_spawn(&f[2 * i], pinger, &pairs[i], NULL);
		weft_spawn(&f[2 * i + 1], ponger, &pairs[i], NULL);
	}
	for (i = 0; i < 2 * nr_pairs; i++)
		weft_join(f[i], NULL);
	free(f);
}

static void test_many_fibers_ping_pong_over_sockets(void **state)
{
	struct weft_config two = { .workers = 2 };
	unsigned i, rounds;

	(void)state;
	nr_pairs = (unsigned)stress_iters(2000 / sanitizer_scale());
	rounds = 200;
	pairs = calloc(nr_pairs, sizeof(*pairs));
	for (i = 0; i < nr_pairs; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
					    0, pairs[i].fd), 0);
		pairs[i].rounds = rounds;
		pairs[i].idx = i;
	}
	watchdog_arm(__func__, 120);
	assert_int_equal(weft_run(&two, pairs_main, NULL), 0);
	watchdog_disarm();
	for (i = 0; i < nr_pairs; i++) {
		assert_int_equal(pairs[i].err[0], 0);
		assert_int_equal(pairs[i].err[1], 0);
		assert_int_equal(pairs[i].bad[0], 0);
		assert_int_equal(pairs[i].bad[1], 0);
		close(pairs[i].fd[0]);
		close(pairs[i].fd[1]);
	}
	print_message("%u pairs x %u round trips over sockets\n", nr_pairs,
		      rounds);
	free(pairs);
}

/*
 * Sleepers wake in deadline order: each records when it started sleeping
 * and its turn to wake. Only sleepers that went to sleep before their
 * deadline (by a margin) can be held to the order.
 */
static int64_t *deadline_of, *slept_at;
static unsigned *turn_of;
static unsigned next_turn;

static void *sleep_random(void *arg)
{
	uintptr_t i = (uintptr_t)arg;

	slept_at[i] = weft_now_ns();
	weft_sleep_until(deadline_of[i]);
	turn_of[i] = __atomic_fetch_add(&next_turn, 1, __ATOMIC_RELAXED);
	return NULL;
}

static unsigned nr_sleepers;

/* Time to budget for each sleeper to go to sleep: a first run is slow
 * under sanitizers (ASan sets up a fake stack per fiber). */
static int64_t per_sleeper_ns(void)
{
	return under_asan() || under_tsan() ? 25000 : 2000;
}

/* A bijection on [0, n): 2654435761 is prime, so coprime with n < it. */
static uint64_t shuffle(uint64_t i, uint64_t n)
{
	return (i * 2654435761ull) % n;
}

static void sleepers_main(void *arg)
{
	int64_t base;
	uintptr_t i;

	(void)arg;
	/* One worker, so "order of wake-up" is well defined, and no sleeper
	 * runs before this fiber first suspends. */
	for (i = 0; i < nr_sleepers; i++)
		weft_go(sleep_random, (void *)i);
	/* Deadlines only now, after the slow part (each spawn faults in a
	 * stack page): distinct, 10 us apart, in shuffled order, starting
	 * after every sleeper has had time to go to sleep. */
	base = weft_now_ns() + 100 * 1000000ll +
	       (int64_t)nr_sleepers * per_sleeper_ns();
	for (i = 0; i < nr_sleepers; i++)
		deadline_of[i] = base + (int64_t)shuffle(i, nr_sleepers) * 10000;
	while (__atomic_load_n(&next_turn, __ATOMIC_RELAXED) < nr_sleepers)
		weft_sleep_ns(1000000);
}

static void test_sleepers_wake_in_deadline_order(void **state)
{
	struct weft_config one = { .workers = 1 };
	unsigned i, j, inversions = 0, on_time = 0;
	unsigned *by_deadline;
	int64_t last_turn = -1;

	(void)state;
	nr_sleepers = (unsigned)stress_iters(100000 / sanitizer_scale());
	deadline_of = calloc(nr_sleepers, sizeof(*deadline_of));
	slept_at = calloc(nr_sleepers, sizeof(*slept_at));
	turn_of = calloc(nr_sleepers, sizeof(*turn_of));
	by_deadline = calloc(nr_sleepers, sizeof(*by_deadline));
	next_turn = 0;
	watchdog_arm(__func__, 120);
	assert_int_equal(weft_run(&one, sleepers_main, NULL), 0);
	watchdog_disarm();
	assert_int_equal(next_turn, nr_sleepers);
	/* Order fibers by deadline; their turns must then increase. */
	for (i = 0; i < nr_sleepers; i++)
		by_deadline[shuffle(i, nr_sleepers)] = i;
	for (j = 0; j < nr_sleepers; j++) {
		unsigned k = by_deadline[j];

		/* Asleep at least 1 ms before its deadline. */
		if (deadline_of[k] - slept_at[k] < 1000000)
			continue;
		on_time++;
		inversions += (int64_t)turn_of[k] < last_turn;
		last_turn = turn_of[k];
	}
	print_message("%u sleepers, %u asleep in time, %u out of order\n",
		      nr_sleepers, on_time, inversions);
	free(deadline_of);
	free(slept_at);
	free(turn_of);
	free(by_deadline);
	assert_true(on_time >= nr_sleepers / 2);
	assert_int_equal(inversions, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_fibers_ping_pong_over_sockets),
		cmocka_unit_test(test_sleepers_wake_in_deadline_order),
	};

	skip_without_backend();
	return cmocka_run_group_tests_name("stress_io", tests, NULL, NULL);
}
