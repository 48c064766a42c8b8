/* SPDX-License-Identifier: MIT */
/*
 * I/O deadlines and cancellation racing completions, on every worker at
 * once: pairs of fibers stream numbered bytes over socketpairs, the
 * writer at random moments, the reader through receives under random
 * short deadlines while a third fiber cancels readers at random. A
 * receive that ends with -ETIMEDOUT or -ECANCELED must have taken
 * nothing (the kernel let go of the buffer without filling it); one that
 * returns data must return it all. So whatever the interleaving, each
 * reader must see exactly the stream its writer sent, in order, and
 * every fiber must finish (the watchdog fails a hang). On io_uring a
 * deadline is a heap timer that cancels the SQE when it fires, so this
 * is where that cancel meets the completion it races.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "../helpers.h"

#define US 1000ll

struct pair {
	int fd[2];
	unsigned bytes;		/* the stream's length               */
	unsigned seed;
	weft_fiber *reader;
	/* Results, read after weft_run(). */
	unsigned got;		/* bytes received in order           */
	unsigned bad;		/* bytes out of sequence             */
	unsigned timeouts, cancels, reads;
	int err;		/* an unexpected result, else 0     */
};

static unsigned next_rand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static char stream_byte(unsigned pair, unsigned i)
{
	return (char)(pair * 29 + i * 11 + i / 251);
}

static void *writer(void *arg)
{
	struct pair *p = arg;
	unsigned seed = p->seed * 7 + 1;
	char buf[64];
	unsigned sent = 0;

	while (sent < p->bytes) {
		unsigned n = 1 + next_rand(&seed) % sizeof(buf), i;

		if (n > p->bytes - sent)
			n = p->bytes - sent;
		for (i = 0; i < n; i++)
			buf[i] = stream_byte(p->seed, sent + i);
		if (weft_write_all(p->fd[0], buf, n) != (ssize_t)n) {
			p->err = -EIO;
			break;
		}
		sent += n;
		if (next_rand(&seed) % 4 == 0)
			weft_sleep_ns(next_rand(&seed) % 200 * US);
		else
			weft_yield();
	}
	return NULL;
}

static void *reader(void *arg)
{
	struct pair *p = arg;
	unsigned seed = p->seed * 13 + 5;
	char buf[64];

	while (p->got < p->bytes) {
		int64_t dl = weft_now_ns() +
			     (int64_t)(next_rand(&seed) % 150) * US;
		ssize_t n, i;

		weft_set_deadline(next_rand(&seed) % 8 ? dl : WEFT_FOREVER);
		n = weft_recv(p->fd[1], buf, 1 + next_rand(&seed) % sizeof(buf),
			      0);
		weft_set_deadline(WEFT_FOREVER);
		p->reads++;
		if (n == -ETIMEDOUT) {
			p->timeouts++;
			continue;
		}
		if (n == -ECANCELED) {
			p->cancels++;
			continue;
		}
		if (n <= 0) {
			p->err = n ? (int)n : -EPIPE;
			break;
		}
		for (i = 0; i < n; i++)
			p->bad += buf[i] != stream_byte(p->seed, p->got + (unsigned)i);
		p->got += (unsigned)n;
		watchdog_progress_add(1);
	}
	return NULL;
}

static struct pair *pairs;
static unsigned nr_pairs;
static int readers_done;

/* Cancel random readers until every reader is done. */
static void *canceller(void *arg)
{
	unsigned seed = 99;

	(void)arg;
	while (!__atomic_load_n(&readers_done, __ATOMIC_ACQUIRE)) {
		struct pair *p = &pairs[next_rand(&seed) % nr_pairs];

		if (p->reader)
			weft_cancel(p->reader);
		weft_sleep_ns(next_rand(&seed) % 50 * US);
	}
	return NULL;
}

static void pairs_main(void *arg)
{
	weft_fiber **w = calloc(nr_pairs, sizeof(*w)), *c;
	unsigned i;

	(void)arg;
	for (i = 0; i < nr_pairs; i++) {
		check_eq(weft_spawn(&pairs[i].reader, reader, &pairs[i], NULL), 0);
		check_eq(weft_spawn(&w[i], writer, &pairs[i], NULL), 0);
	}
	check_eq(weft_spawn(&c, canceller, NULL, NULL), 0);
	for (i = 0; i < nr_pairs; i++)
		check_eq(weft_join(w[i], NULL), 0);
	for (i = 0; i < nr_pairs; i++) {
		weft_fiber *r = pairs[i].reader;

		check_eq(weft_join(r, NULL), 0);
	}
	/* The canceller may still hold a reader's handle: it only cancels
	 * (a stale handle is -ESRCH, never another fiber: the handles
	 * carry a generation). */
	__atomic_store_n(&readers_done, 1, __ATOMIC_RELEASE);
	check_eq(weft_join(c, NULL), 0);
	free(w);
}

static void run_pairs(const struct weft_config *cfg)
{
	unsigned i, timeouts = 0, cancels = 0;

	nr_pairs = (unsigned)stress_iters(400 / sanitizer_scale());
	pairs = calloc(nr_pairs, sizeof(*pairs));
	readers_done = 0;
	for (i = 0; i < nr_pairs; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
					    0, pairs[i].fd), 0);
		pairs[i].bytes = 4096;
		pairs[i].seed = i + 1;
	}
	watchdog_arm(__func__, 240);
	run_checked(cfg, pairs_main, NULL);
	watchdog_disarm();
	for (i = 0; i < nr_pairs; i++) {
		assert_int_equal(pairs[i].err, 0);
		assert_int_equal(pairs[i].got, pairs[i].bytes);
		assert_int_equal(pairs[i].bad, 0);
		timeouts += pairs[i].timeouts;
		cancels += pairs[i].cancels;
		close(pairs[i].fd[0]);
		close(pairs[i].fd[1]);
	}
	/* The races were run, not just the happy path. */
	assert_true(timeouts > 0);
	assert_true(cancels > 0);
	print_message("%u pairs x %u bytes: %u receives timed out, %u "
		      "cancelled, none lost a byte\n", nr_pairs,
		      pairs[0].bytes, timeouts, cancels);
	free(pairs);
}

static void test_deadlines_and_cancels_lose_no_byte(void **state)
{
	struct weft_config two = { .workers = 2 };

	(void)state;
	run_pairs(&two);
}

static void test_deadlines_and_cancels_lose_no_byte_4_workers(void **state)
{
	struct weft_config four = { .workers = 4 };

	(void)state;
	run_pairs(&four);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deadlines_and_cancels_lose_no_byte),
		cmocka_unit_test(test_deadlines_and_cancels_lose_no_byte_4_workers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
