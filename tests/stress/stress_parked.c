/* SPDX-License-Identifier: MIT */
/*
 * Many fibers parked at once in the public primitives, all woken, and the
 * memory given back (a run that parked and woke 5M fibers once kept its
 * memory at the peak). The main fiber spawns N fibers on small stacks
 * (WEFT_STACK_SMALL); a third wait in weft_chan_recv on one unbuffered
 * channel, a third in weft_sem_acquire, a third in weft_wg_wait. Once all
 * have arrived, a plain thread feeds the channel every value 0..N/3-1
 * with weft_chan_try_send (each succeeds only with a receiver parked) and
 * releases the semaphore N/3 times, while the main fiber ends the wait
 * group's count. Every fiber must wake exactly once (each channel value
 * received once), all are joined, and once it stops falling (10 s at
 * most) the process's VmRSS must be within a quarter of its growth
 * (plus 16 MiB): a long-lived program must not keep the peak of its
 * busiest moment (not under the sanitizers, which keep memory of their
 * own for every fiber there was).
 *
 * WEFT_STRESS_ITERS sets N (default 200,000; 50,000 under ASan, 10,000
 * under TSan, which maps two regions per fiber). tools/soak.sh runs it
 * with 5,000,000.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../helpers.h"

#define MS 1000000ull

struct crowd {
	unsigned n;
	weft_chan *c;		/* unbuffered; kind 0 receives here        */
	weft_sem sem;		/* kind 1                                  */
	weft_wg gate;		/* kind 2; count 1 until the main fiber    */
	weft_fiber **f;
	unsigned char *seen;	/* atomic: times each value was received   */
	unsigned arrived;	/* atomic: fibers about to wait            */
	unsigned woken[3];	/* atomic, per kind                        */
	unsigned errors;	/* atomic                                  */
};

static struct crowd cr;

static uint64_t vm_rss_kib(void)
{
	char buf[4096];
	unsigned long long kib = 0;
	const char *p;
	ssize_t n;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strstr(buf, "VmRSS:");
	if (p)
		sscanf(p + 6, "%llu", &kib);
	return kib;
}

/* Kept small: it runs on a 2 KiB stack. */
static void *waiter(void *arg)
{
	unsigned kind = (unsigned)(uintptr_t)arg;
	unsigned v = ~0u;
	int rc;

	/* Counting only; relaxed. */
	__atomic_fetch_add(&cr.arrived, 1, __ATOMIC_RELAXED);
	if (kind == 0) {
		rc = weft_chan_recv(cr.c, &v);
		if (rc == 0 && v < cr.n)
			__atomic_fetch_add(&cr.seen[v], 1, __ATOMIC_RELAXED);
	} else if (kind == 1) {
		rc = weft_sem_acquire(&cr.sem);
	} else {
		rc = weft_wg_wait(&cr.gate);
	}
	if (rc)
		__atomic_fetch_add(&cr.errors, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&cr.woken[kind], 1, __ATOMIC_RELAXED);
	return NULL;
}

/* The plain thread: a value for every receiver, a unit for every acquirer. */
static void *feeder(void *arg)
{
	unsigned nrecv = (cr.n + 2) / 3, nsem = (cr.n + 1) / 3;

	(void)arg;
	for (unsigned v = 0; v < nrecv; v++) {
		int rc;

		while ((rc = weft_chan_try_send(cr.c, &v)) == -EAGAIN)
			sched_yield();
		if (rc)
			__atomic_fetch_add(&cr.errors, 1, __ATOMIC_RELAXED);
	}
	for (unsigned i = 0; i < nsem; i++)
		if (weft_sem_release(&cr.sem))
			__atomic_fetch_add(&cr.errors, 1, __ATOMIC_RELAXED);
	return NULL;
}

struct figures {
	uint64_t rss_base, rss_parked, rss_after;	/* KiB */
	double spawn_s, wake_s, join_s;
	uint64_t live_parked;
};

static void parked_main(void *arg)
{
	struct figures *fg = arg;
	struct weft_spawn_opts small = { .stack_size = WEFT_STACK_SMALL };
	struct weft_stats st = { .size = sizeof(st) };
	uint64_t t0, t1;
	pthread_t t;

	fg->rss_base = vm_rss_kib();
	check_eq(weft_chan_new(&cr.c, sizeof(unsigned), 0), 0);
	check_eq(weft_sem_init(&cr.sem, 0), 0);
	weft_wg_init(&cr.gate);
	check_eq(weft_wg_add(&cr.gate, 1), 0);

	t0 = now_ns();
	for (unsigned i = 0; i < cr.n; i++) {
		int err = weft_spawn(&cr.f[i], waiter,
				     (void *)(uintptr_t)(i % 3), &small);

		check_eq(err, 0);
		if (err)
			return;
		if (i % 65536 == 0)
			watchdog_progress_add(65536);
	}
	while (__atomic_load_n(&cr.arrived, __ATOMIC_RELAXED) < cr.n)
		weft_sleep_ns(MS);
	settle();
	t1 = now_ns();
	fg->spawn_s = (double)(t1 - t0) / 1e9;
	fg->rss_parked = vm_rss_kib();
	check_eq(weft_stats(&st), 0);
	fg->live_parked = st.live;

	check_eq(pthread_create(&t, NULL, feeder, NULL), 0);
	check_eq(weft_wg_done(&cr.gate), 0);
	pthread_join(t, NULL);
	fg->wake_s = (double)(now_ns() - t1) / 1e9;

	t1 = now_ns();
	check_eq(weft_join_all(cr.f, cr.n, NULL), 0);
	fg->join_s = (double)(now_ns() - t1) / 1e9;
	check_eq(weft_stats(&st), 0);
	check_eq(st.live, 1);
	weft_chan_free(cr.c);

	/*
	 * The runtime trims idle memory about once a second: sample until
	 * VmRSS has not fallen for 2.5 s, 10 s at most (1 s under the
	 * sanitizers, whose figure is not held to).
	 */
	t1 = now_ns();
	fg->rss_after = vm_rss_kib();
	for (uint64_t last_drop = t1;;) {
		uint64_t r, now;

		weft_sleep_ns(100 * MS);
		r = vm_rss_kib();
		now = now_ns();
		if (r < fg->rss_after) {
			fg->rss_after = r;
			last_drop = now;
		}
		if (under_asan() || under_tsan() ? now - t1 >= 1000 * MS
		    : now - last_drop >= 2500 * MS || now - t1 >= 10000 * MS)
			break;
	}
}

static void test_parked_millions_wake_and_give_memory_back(void **state)
{
	struct weft_config cfg = { 0 };
	struct figures fg = { 0 };
	uint64_t growth;

	(void)state;
	memset(&cr, 0, sizeof(cr));
	cr.n = (unsigned)stress_iters(under_tsan() ? 10000u :
				      under_asan() ? 50000u : 200000u);
	cr.f = calloc(cr.n, sizeof(*cr.f));
	cr.seen = calloc(cr.n, 1);
	assert_non_null(cr.f);
	assert_non_null(cr.seen);
	watchdog_arm(__func__, 60 + cr.n / 20000);
	run_checked(&cfg, parked_main, &fg);
	watchdog_disarm();

	growth = fg.rss_parked > fg.rss_base ? fg.rss_parked - fg.rss_base : 0;
	printf("parked=%u live=%llu spawn_s=%.2f wake_s=%.2f join_s=%.2f "
	       "bytes_per_parked=%.0f rss_base_mib=%.1f rss_parked_mib=%.1f "
	       "rss_after_mib=%.1f\n", cr.n,
	       (unsigned long long)fg.live_parked, fg.spawn_s, fg.wake_s,
	       fg.join_s, (double)growth * 1024 / cr.n,
	       (double)fg.rss_base / 1024, (double)fg.rss_parked / 1024,
	       (double)fg.rss_after / 1024);
	assert_int_equal(cr.errors, 0);
	assert_int_equal(fg.live_parked, cr.n + 1);
	assert_int_equal(cr.woken[0], (cr.n + 2) / 3);
	assert_int_equal(cr.woken[1], (cr.n + 1) / 3);
	assert_int_equal(cr.woken[2], cr.n / 3);
	for (unsigned v = 0; v < (cr.n + 2) / 3; v++)
		if (cr.seen[v] != 1)
			fail_msg("value %u received %u times", v, cr.seen[v]);
	/* The sanitizers keep memory of their own for every fiber there
	 * was (shadow, fake stacks, TSan's fiber state): under them the
	 * figure is printed, not held to. */
	if (!under_asan() && !under_tsan() &&
	    fg.rss_after > fg.rss_base + growth / 4 + 16 * 1024)
		fail_msg("VmRSS %.1f MiB after %u fibers ended (%.1f MiB "
			 "before them, %.1f MiB with all parked)",
			 (double)fg.rss_after / 1024, cr.n,
			 (double)fg.rss_base / 1024,
			 (double)fg.rss_parked / 1024);
	free(cr.f);
	free(cr.seen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_parked_millions_wake_and_give_memory_back),
	};

	skip_without_backend();
	return cmocka_run_group_tests_name("stress_parked", tests, NULL,
					   NULL);
}
