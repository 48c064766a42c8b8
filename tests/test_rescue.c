/* SPDX-License-Identifier: MIT */
/*
 * Rescue (src/core/rescue.c): while a fiber holds its worker without a
 * yield point, the other worker takes over what it can. On two workers,
 * with the stall report off (the rescue does not depend on it):
 *  - a sleep set on the hog's worker just before the hog started ends
 *    a few ms late, not when the hog ends; so does the timeout of a timed
 *    wait (a channel receive under the fiber's deadline);
 *  - the same when the hog sits in a blocking system call;
 *  - a fiber made ready on the hog's worker starts on the other one;
 *  - on epoll, an I/O deadline in the hog's heap (which waits for its
 *    owner) does not hold up a sleep behind it, and still ends its read
 *    with -ETIMEDOUT once the hog is done.
 * Which worker a fiber lands on is the scheduler's choice, so each case
 * runs a few attempts, counts only those where the sleeper and the hog
 * shared a worker (weft_worker_id), and needs at least one such.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"

#define MS 1000000ll
/* How long the hog holds its worker; a late wake-up is measured
 * against it. */
#define HOG_MS 150
/* Generous for a loaded 2-core machine under sanitizers; without the
 * rescue the lateness would be about HOG_MS. Judged on the median of the
 * attempts: one attempt whose rescuer the machine did not schedule for
 * 140 ms (seen with a load average near 300 under ASan) says nothing of
 * the rescue; without one, every attempt is about HOG_MS late. */
#define LATE_MAX_MS 60
#define ATTEMPTS 8

enum hog_kind { HOG_SPIN, HOG_SYSCALL };
enum wait_kind { WAIT_SLEEP, WAIT_CHAN };

struct hog {
	enum hog_kind kind;
	unsigned worker;	/* where it ran */
};

static void *hog_fn(void *arg)
{
	struct hog *h = arg;
	int64_t t0 = (int64_t)now_ns();

	h->worker = weft_worker_id();
	if (h->kind == HOG_SYSCALL) {
		/* A plain blocking call: the worker sleeps in the kernel. */
		usleep(HOG_MS * 1000);
		return NULL;
	}
	while ((int64_t)now_ns() - t0 < HOG_MS * MS)
		;
	return NULL;
}

/* Wait 1 ms the way @w says; returns the lateness in ns. */
static int64_t wait_1ms(enum wait_kind w, weft_chan *c)
{
	int64_t t0 = weft_now_ns(), old;
	int v;

	if (w == WAIT_SLEEP) {
		check_eq(weft_sleep_ns(MS), 0);
	} else {
		old = weft_set_deadline(t0 + MS);
		check_eq(weft_chan_recv(c, &v), -ETIMEDOUT);
		weft_set_deadline(old);
	}
	return weft_now_ns() - t0 - MS;
}

struct attempt {
	enum hog_kind hog;
	enum wait_kind wait;
	unsigned colocated;	/* attempts where both shared a worker */
	int64_t worst_ns;	/* their worst lateness */
	int64_t late_ns[ATTEMPTS];	/* each one's lateness */
	uint64_t rescued;	/* weft_stats().rescued at the end */
};

/* Count an attempt whose waiter and hog shared a worker, and its wait. */
static void note_attempt(struct attempt *a, bool shared, int64_t late)
{
	if (!shared)
		return;
	a->late_ns[a->colocated++] = late;
	if (late > a->worst_ns)
		a->worst_ns = late;
}

static int cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

	return (a > b) - (a < b);
}

/* The median of @n lateness figures (the upper one of an even count). */
static int64_t median_ns(const int64_t *v, unsigned n)
{
	int64_t s[ATTEMPTS];

	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_i64);
	return s[n / 2];
}

/* What every rescue case asks of its attempts, @what naming the wait. */
static void check_attempts(const struct attempt *a, const char *what)
{
	int64_t med;

	print_message("worst lateness %.2f ms, %u attempts shared a worker\n",
		      (double)a->worst_ns / MS, a->colocated);
	if (a->colocated == 0)
		fail_msg("%s: the hog never ran where the waiter waited", what);
	med = median_ns(a->late_ns, a->colocated);
	if (med > LATE_MAX_MS * MS)
		fail_msg("%s beside a %d ms hog ended %lld ms late in the "
			 "median of %u attempts that shared a worker (worst "
			 "%lld ms)", what, HOG_MS, (long long)(med / MS),
			 a->colocated, (long long)(a->worst_ns / MS));
	/* Each shared attempt was a wait another worker ended. */
	assert_true(a->rescued >= a->colocated);
}

static uint64_t rescued_now(void)
{
	struct weft_stats st = { .size = sizeof(st) };

	check_eq(weft_stats(&st), 0);
	return st.rescued;
}

static void attempt_main(void *arg)
{
	struct attempt *a = arg;
	weft_chan *c;

	check_eq(weft_chan_new(&c, sizeof(int), 0), 0);
	for (unsigned i = 0; i < ATTEMPTS; i++) {
		struct hog h = { .kind = a->hog, .worker = UINT32_MAX };
		weft_fiber *f;
		unsigned here;
		int64_t late;

		/* Let the other worker fall asleep first. */
		check_eq(weft_sleep_ns(5 * MS), 0);
		/* A joinable child is started next on this worker, unless
		 * the other one takes it first; the wait's timer goes in
		 * this worker's heap before the hog starts. */
		check_eq(weft_spawn(&f, hog_fn, &h, NULL), 0);
		here = weft_worker_id();
		late = wait_1ms(a->wait, c);
		check_join(f);
		note_attempt(a, h.worker == here, late);
	}
	a->rescued = rescued_now();
	weft_chan_free(c);
}

static void run_attempts(enum hog_kind hog, enum wait_kind wait)
{
	struct weft_config cfg = { .workers = 2 };
	struct attempt a = { .hog = hog, .wait = wait };

	run_checked(&cfg, attempt_main, &a);
	check_attempts(&a, "a 1 ms wait");
}

static void test_sleep_beside_spinner(void **state)
{
	(void)state;
	run_attempts(HOG_SPIN, WAIT_SLEEP);
}

static void test_timed_wait_beside_spinner(void **state)
{
	(void)state;
	/* Valgrind runs one thread at a time: a spinning worker keeps the
	 * others, the rescuer among them, off the CPU for its whole turn,
	 * so the lateness measured is valgrind's scheduling. */
	if (under_valgrind()) {
		printf("not under valgrind: it runs one thread at a time, so a "
		       "spinner decides when the rescuer runs\n");
		return;
	}
	run_attempts(HOG_SPIN, WAIT_CHAN);
}

static void test_sleep_beside_blocking_call(void **state)
{
	(void)state;
	run_attempts(HOG_SYSCALL, WAIT_SLEEP);
}

/* A fiber made ready on a hogged worker ---------------------------------- */

struct ready {
	int64_t made_ns;	/* when it was spawned */
	int64_t ran_ns;		/* when it began */
};

static void *note_start(void *arg)
{
	struct ready *r = arg;

	r->ran_ns = weft_now_ns();
	return NULL;
}

static void ready_main(void *arg)
{
	int64_t *delay = arg;	/* ATTEMPTS of them */

	for (unsigned i = 0; i < ATTEMPTS; i++) {
		struct ready r = { 0, 0 };
		weft_fiber *f;
		int64_t t0;

		check_eq(weft_sleep_ns(5 * MS), 0);
		r.made_ns = weft_now_ns();
		check_eq(weft_spawn(&f, note_start, &r, NULL), 0);
		/* Hog this worker: the child waits on its fork deque. */
		t0 = (int64_t)now_ns();
		while ((int64_t)now_ns() - t0 < HOG_MS * MS)
			;
		check_join(f);
		delay[i] = r.ran_ns - r.made_ns;
	}
}

static void test_ready_fiber_taken_over(void **state)
{
	struct weft_config cfg = { .workers = 2 };
	int64_t delay[ATTEMPTS] = { 0 }, worst = 0, med;

	(void)state;
	run_checked(&cfg, ready_main, delay);
	for (unsigned i = 0; i < ATTEMPTS; i++)
		if (delay[i] > worst)
			worst = delay[i];
	med = median_ns(delay, ATTEMPTS);
	print_message("worst start delay %.2f ms, median %.2f ms\n",
		      (double)worst / MS, (double)med / MS);
	if (med > LATE_MAX_MS * MS)
		fail_msg("a fiber made ready beside a %d ms hog started after "
			 "%lld ms in the median of %d attempts", HOG_MS,
			 (long long)(med / MS), ATTEMPTS);
}

/* An I/O deadline ahead of a sleep in the hog's heap ---------------------- */

struct reader {
	int fd;
	unsigned worker;
	ssize_t res;
};

static void *read_until(void *arg)
{
	struct reader *r = arg;
	char b;

	r->worker = weft_worker_id();
	weft_set_deadline(weft_now_ns() + MS);
	r->res = weft_read(r->fd, &b, 1);
	return NULL;
}

/* Tries, and how many of them must share a worker before the hog. */
#define IO_TRIES 40
#define IO_WANT 3

static void io_first_main(void *arg)
{
	struct attempt *a = arg;
	int p[2];

	check_eq(pipe(p), 0);
	for (unsigned i = 0; i < IO_TRIES && a->colocated < IO_WANT; i++) {
		struct hog h = { .kind = HOG_SPIN, .worker = UINT32_MAX };
		struct reader r = { .fd = p[0], .worker = UINT32_MAX };
		weft_fiber *fh, *fr;
		unsigned here;
		int64_t late;

		check_eq(weft_sleep_ns(5 * MS), 0);
		/* The reader runs at the yield and parks with its 1 ms
		 * deadline. If it parked where this fiber resumed, the hog
		 * is spawned and this fiber's 1 ms sleep, set after the
		 * reader's, sits behind it in the heap when the hog starts;
		 * otherwise the try is over when the reader times out. */
		check_eq(weft_spawn(&fr, read_until, &r, NULL), 0);
		weft_yield();
		here = weft_worker_id();
		if (r.worker != here) {
			check_join(fr);
			continue;
		}
		check_eq(weft_spawn(&fh, hog_fn, &h, NULL), 0);
		late = wait_1ms(WAIT_SLEEP, NULL);
		check_join(fr);
		check_join(fh);
		check_eq(r.res, -ETIMEDOUT);
		note_attempt(a, h.worker == here, late);
	}
	a->rescued = rescued_now();
	close(p[0]);
	close(p[1]);
}

static void test_sleep_behind_io_deadline(void **state)
{
	struct weft_config cfg = { .workers = 2 };
	struct attempt a = { 0 };

	(void)state;
	run_checked(&cfg, io_first_main, &a);
	check_attempts(&a, "a 1 ms sleep behind an I/O deadline");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sleep_beside_spinner),
		cmocka_unit_test(test_timed_wait_beside_spinner),
		cmocka_unit_test(test_sleep_beside_blocking_call),
		cmocka_unit_test(test_ready_fiber_taken_over),
		cmocka_unit_test(test_sleep_behind_io_deadline),
	};

	unsetenv("WEFT_STALL_MS");
	skip_without_backend();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
