/* SPDX-License-Identifier: MIT */
/*
 * Fiber API behaviour: spawn, join, detach, go, self and ids, nested
 * spawns, errno across migration, cancellation of a join (from a fiber
 * and from a foreign thread), shutdown cancelling parked fibers, and
 * lazy children: a join of an unstarted child running it inline, only
 * where the child loses nothing, with its identity, parks and
 * cancellation its own.
 * Results are recorded inside fibers and asserted after weft_run()
 * returns, on the test's own stack.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"
#include "monitor.h"
#include "record.h"
#include "scheduler.h"
#include "stack.h"

static struct weft_config two = { .workers = 2 };

#define MS 1000000ll

/* Spawn and join --------------------------------------------------------- */

#define NR_CHILDREN 1000

static long results[NR_CHILDREN];
static int join_errs;

static void *times_three(void *arg)
{
	weft_yield();
	return (void *)((intptr_t)arg * 3);
}

static void spawn_join_main(void *arg)
{
	weft_fiber *f[NR_CHILDREN];
	void *r;
	int i;

	(void)arg;
	for (i = 0; i < NR_CHILDREN; i++)
		if (weft_spawn(&f[i], times_three, (void *)(intptr_t)i, NULL))
			join_errs++;
	for (i = 0; i < NR_CHILDREN; i++) {
		if (weft_join(f[i], &r))
			join_errs++;
		results[i] = (long)(intptr_t)r;
	}
}

static void test_join_returns_each_result(void **state)
{
	int i;

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, spawn_join_main, NULL), 0);
	assert_int_equal(join_errs, 0);
	for (i = 0; i < NR_CHILDREN; i++)
		assert_int_equal(results[i], 3 * i);
	watchdog_disarm();
}

/* Detach and go ---------------------------------------------------------- */

static int detached_ran;
static int detach_rc, rejoin_rc, go_rc;

static void *count_run(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&detached_ran, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void detach_main(void *arg)
{
	weft_fiber *f;

	(void)arg;
	weft_spawn(&f, count_run, NULL, NULL);
	detach_rc = weft_detach(f);
	/* Detached and maybe already gone: either way not joinable. */
	rejoin_rc = weft_join(f, NULL);
	go_rc = weft_go(count_run, NULL);
	while (__atomic_load_n(&detached_ran, __ATOMIC_RELAXED) < 2)
		weft_yield();
}

static void test_detached_fibers_run_and_free_themselves(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, detach_main, NULL), 0);
	assert_int_equal(detach_rc, 0);
	assert_true(rejoin_rc == -EINVAL || rejoin_rc == -ESRCH);
	assert_int_equal(go_rc, 0);
	assert_int_equal(detached_ran, 2);
	watchdog_disarm();
}

/* Self, ids and names ----------------------------------------------------- */

static weft_fiber *seen_self;
static uint64_t child_id, main_id;
static bool self_null_outside;

static void *report_self(void *arg)
{
	(void)arg;
	seen_self = weft_self();
	child_id = weft_fiber_id();
	return NULL;
}

static void self_main(void *arg)
{
	struct weft_spawn_opts opts = { .name = "a-rather-long-name-that-gets-cut-somewhere" };
	weft_fiber *f;

	*(weft_fiber **)arg = NULL;
	main_id = weft_fiber_id();
	weft_spawn(&f, report_self, NULL, &opts);
	*(weft_fiber **)arg = f;
	weft_join(f, NULL);
}

static void test_self_matches_spawn_handle(void **state)
{
	weft_fiber *spawned;

	(void)state;
	self_null_outside = weft_self() == NULL && weft_fiber_id() == 0 &&
			    weft_worker_id() == UINT32_MAX;
	assert_true(self_null_outside);
	assert_int_equal(weft_run(&two, self_main, &spawned), 0);
	assert_ptr_equal(seen_self, spawned);
	assert_int_equal(main_id, 1);
	assert_true(child_id > 1);
}

/* Nested spawns ----------------------------------------------------------- */

static void *nest(void *arg)
{
	intptr_t depth = (intptr_t)arg;
	weft_fiber *a, *b;
	void *ra, *rb;

	if (depth == 0)
		return (void *)1;
	if (weft_spawn(&a, nest, (void *)(depth - 1), NULL) ||
	    weft_spawn(&b, nest, (void *)(depth - 1), NULL))
		return (void *)-1000000;
	weft_join(a, &ra);
	weft_join(b, &rb);
	return (void *)((intptr_t)ra + (intptr_t)rb);
}

static intptr_t leaves;

static void nest_main(void *arg)
{
	weft_fiber *f;
	void *r;

	(void)arg;
	weft_spawn(&f, nest, (void *)10, NULL);
	weft_join(f, &r);
	leaves = (intptr_t)r;
}

static void test_fibers_spawn_fibers_ten_levels_deep(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, nest_main, NULL), 0);
	assert_int_equal(leaves, 1024);
	watchdog_disarm();
}

/* errno across migration --------------------------------------------------- */

#define MIGRATORS 16

static int errno_mismatches;
static int migrations;

/*
 * errno read and written in functions of their own, as code does when it
 * checks errno right after a libc call. (A function that evaluates errno
 * on both sides of a yield point may keep the first thread's &errno: see
 * "Yield point" in weft.h.)
 */
static __attribute__((noinline)) int get_errno(void)
{
	__asm__ volatile("");
	return errno;
}

static __attribute__((noinline)) void set_errno(int v)
{
	__asm__ volatile("");
	errno = v;
}

static void *keep_errno(void *arg)
{
	int mine = 1000 + (int)(intptr_t)arg;
	unsigned w = weft_worker_id();
	int i;

	set_errno(mine);
	for (i = 0; i < 20000; i++) {
		weft_yield();
		if (get_errno() != mine)
			__atomic_add_fetch(&errno_mismatches, 1, __ATOMIC_RELAXED);
		if (weft_worker_id() != w) {
			w = weft_worker_id();
			__atomic_add_fetch(&migrations, 1, __ATOMIC_RELAXED);
		}
		/* Something else on this thread may have changed errno in
		 * between; ours must still be ours after the next yield. */
		set_errno(mine);
	}
	return NULL;
}

static void errno_main(void *arg)
{
	weft_fiber *f[MIGRATORS];
	int i;

	(void)arg;
	for (i = 0; i < MIGRATORS; i++)
		weft_spawn(&f[i], keep_errno, (void *)(intptr_t)i, NULL);
	for (i = 0; i < MIGRATORS; i++)
		weft_join(f[i], NULL);
}

static void test_errno_follows_the_fiber_across_workers(void **state)
{
	(void)state;
	watchdog_arm(__func__, 60);
	assert_int_equal(weft_run(&two, errno_main, NULL), 0);
	assert_int_equal(errno_mismatches, 0);
	assert_true(migrations > 0);
	watchdog_disarm();
}

/* Cancelling a join --------------------------------------------------------- */

static volatile int release_spinner;
static int cancelled_join_rc, second_join_rc, cancel_rc;

static void *spin_until_released(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&release_spinner, __ATOMIC_ACQUIRE))
		weft_yield();
	return (void *)7;
}

static void *join_arg(void *arg)
{
	cancelled_join_rc = weft_join(arg, NULL);
	return NULL;
}

static void cancel_join_main(void *arg)
{
	weft_fiber *spinner, *joiner;
	void *r = NULL;
	int i;

	(void)arg;
	weft_spawn(&spinner, spin_until_released, NULL, NULL);
	weft_spawn(&joiner, join_arg, spinner, NULL);
	for (i = 0; i < 100; i++)
		weft_yield();
	cancel_rc = weft_cancel(joiner);
	weft_join(joiner, NULL);
	__atomic_store_n(&release_spinner, 1, __ATOMIC_RELEASE);
	/* The cancelled join gave the spinner back: it can be joined. */
	second_join_rc = weft_join(spinner, &r);
	if (r != (void *)7)
		second_join_rc = -1000;
}

static void test_cancelled_join_returns_ecanceled_and_leaves_target(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, cancel_join_main, NULL), 0);
	assert_int_equal(cancel_rc, 0);
	assert_int_equal(cancelled_join_rc, -ECANCELED);
	assert_int_equal(second_join_rc, 0);
	watchdog_disarm();
}

/* Cancel from a foreign thread ----------------------------------------------- */

struct pair {
	weft_fiber *y, *z;
	int y_rc, z_rc;
	int y_done;
};

static void *join_z(void *arg)
{
	struct pair *p = arg;

	while (!__atomic_load_n(&p->z, __ATOMIC_ACQUIRE))
		weft_yield();
	p->y_rc = weft_join(p->z, NULL);
	__atomic_store_n(&p->y_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *join_y(void *arg)
{
	struct pair *p = arg;

	/* y joins z and z joins y: stuck until someone cancels z. */
	p->z_rc = weft_join(p->y, NULL);
	return NULL;
}

static void *cancel_from_thread(void *arg)
{
	struct pair *p = arg;

	return (void *)(intptr_t)weft_cancel(p->z);
}

static int thread_cancel_rc;

static void foreign_cancel_main(void *arg)
{
	struct pair *p = arg;
	weft_fiber *z;
	pthread_t t;
	void *r;

	weft_spawn(&p->y, join_z, p, NULL);
	weft_spawn(&z, join_y, p, NULL);
	__atomic_store_n(&p->z, z, __ATOMIC_RELEASE);
	pthread_create(&t, NULL, cancel_from_thread, p);
	pthread_join(t, &r);
	thread_cancel_rc = (int)(intptr_t)r;
	/* z is joining y, so y is not ours to join: wait for it to end. */
	while (!__atomic_load_n(&p->y_done, __ATOMIC_ACQUIRE))
		weft_yield();
}

static void test_foreign_thread_cancel_breaks_a_join_cycle(void **state)
{
	struct pair p = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, foreign_cancel_main, &p), 0);
	assert_int_equal(thread_cancel_rc, 0);
	assert_int_equal(p.z_rc, -ECANCELED);
	assert_int_equal(p.y_rc, 0);
	watchdog_disarm();
}

/* Shutdown --------------------------------------------------------------------- */

#define STUCK_PAIRS 50

static struct pair stuck[STUCK_PAIRS];

static void shutdown_main(void *arg)
{
	weft_fiber *z;
	int i;

	(void)arg;
	for (i = 0; i < STUCK_PAIRS; i++) {
		weft_spawn(&stuck[i].y, join_z, &stuck[i], NULL);
		weft_spawn(&z, join_y, &stuck[i], NULL);
		__atomic_store_n(&stuck[i].z, z, __ATOMIC_RELEASE);
	}
	for (i = 0; i < 1000; i++)
		weft_yield();
	/* Returning with 100 fibers deadlocked in joins: weft_run must
	 * cancel them and still return. */
}

static void test_shutdown_cancels_every_parked_fiber(void **state)
{
	int i, cancelled = 0;

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, shutdown_main, NULL), 0);
	for (i = 0; i < STUCK_PAIRS; i++) {
		cancelled += stuck[i].y_rc == -ECANCELED;
		cancelled += stuck[i].z_rc == -ECANCELED;
		/* At least one of each pair was cancelled; the other either
		 * was too or joined the first after it ended. */
		assert_true(stuck[i].y_rc == -ECANCELED ||
			    stuck[i].z_rc == -ECANCELED);
	}
	assert_true(cancelled >= STUCK_PAIRS);
	watchdog_disarm();
}

/* Spawn during shutdown is refused. */
static int late_spawn_rc = 1;

static void *spawn_late(void *arg)
{
	weft_fiber *f;

	(void)arg;
	/* Parks until shutdown cancels it, then tries to spawn. */
	while (!weft_cancelled())
		weft_yield();
	late_spawn_rc = weft_spawn(&f, count_run, NULL, NULL);
	return NULL;
}

static void late_main(void *arg)
{
	(void)arg;
	weft_go(spawn_late, NULL);
	weft_yield();
}

static void test_spawn_after_main_returned_is_ecanceled(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, late_main, NULL), 0);
	assert_int_equal(late_spawn_rc, -ECANCELED);
	watchdog_disarm();
}

/*
 * Fibers on small stacks (WEFT_STACK_SMALL) park in a channel receive,
 * sleep, move across workers and end: the whole park path fits in the
 * 1,984 usable bytes, and no canary is clobbered (an overflow would
 * abort the test).
 */
#define NR_SMALL 10000

static weft_chan *small_gate;
static long small_sum;

static void *small_fiber(void *arg)
{
	long v = -1;

	if (weft_chan_recv(small_gate, &v))
		return (void *)-1L;
	if (weft_sleep_ns(1000))
		return (void *)-1L;
	weft_yield();
	return (void *)(v + (long)(intptr_t)arg);
}

static void small_main(void *arg)
{
	static weft_fiber *fs[NR_SMALL];
	struct weft_spawn_opts o = { .stack_size = WEFT_STACK_SMALL,
				     .name = "small" };
	static void *res[NR_SMALL];

	(void)arg;
	if (weft_chan_new(&small_gate, sizeof(long), 16))
		return;
	for (long i = 0; i < NR_SMALL; i++)
		if (weft_spawn(&fs[i], small_fiber, (void *)(intptr_t)i, &o))
			return;
	for (long i = 0; i < NR_SMALL; i++)
		weft_chan_send(small_gate, &i);
	if (weft_join_all(fs, NR_SMALL, res))
		return;
	for (long i = 0; i < NR_SMALL; i++)
		small_sum += (long)res[i];
	weft_chan_free(small_gate);
}

static void test_small_stacks_park_and_wake(void **state)
{
	(void)state;
	watchdog_arm(__func__, 60);
	assert_int_equal(weft_run(&two, small_main, NULL), 0);
	/* Each result is a received value plus the fiber's index. */
	assert_int_equal(small_sum, 2L * (NR_SMALL - 1) * NR_SMALL / 2);
	watchdog_disarm();
}

/*
 * Memory goes back after a burst: 50,000 fibers alive at once (16,000
 * under TSan, which maps trace memory of its own for each one and dies
 * when a mapping fails; still well past the chunks kept), then all
 * ended. Their records stay cached through one trim (a second's idleness
 * starts), and the next gives every idle chunk beyond a few back. A
 * handle from before must stay stale even where its record is set up
 * again for the second burst, and the process's RSS must have fallen.
 */
#define BURST (under_tsan() ? 16000 : 50000)

static weft_sem burst_gate = WEFT_SEM_INIT(0);

static void *wait_gate(void *arg)
{
	weft_sem_acquire(&burst_gate);
	return arg;
}

static uint64_t records_now(void)
{
	struct weft_stats st = { .size = sizeof(st) };

	return weft_stats(&st) == 0 ? st.records : 0;
}

static long rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

struct burst_result {
	uint64_t peak, after_one, after_two;
	long rss_peak, rss_after;
	int stale_join, stale_cancel, errors;
};

static void burst(weft_fiber **f, int *errors)
{
	struct weft_spawn_opts small = { .stack_size = WEFT_STACK_SMALL };

	for (int i = 0; i < BURST; i++)
		if (weft_spawn(&f[i], wait_gate, (void *)(intptr_t)i, &small))
			(*errors)++;
	for (int i = 0; i < BURST; i++)
		weft_sem_release(&burst_gate);
}

static void burst_main(void *arg)
{
	struct burst_result *r = arg;
	weft_fiber **f = calloc(BURST, sizeof(*f));
	weft_fiber *old;
	void *res;

	if (!f) {
		r->errors++;
		return;
	}
	burst(f, &r->errors);
	r->peak = records_now();
	r->rss_peak = rss_kib();
	for (int i = 0; i < BURST; i++)
		if (weft_join(f[i], &res) || (intptr_t)res != i)
			r->errors++;
	old = f[BURST / 2];
	weft__record_trim();
	r->after_one = records_now();
	weft__record_trim();
	weft__stack_trim(false);
	weft__stack_trim(false);
	r->after_two = records_now();
	r->rss_after = rss_kib();
	/* Again: released chunks are set up anew. */
	burst(f, &r->errors);
	r->stale_join = weft_join(old, NULL);
	r->stale_cancel = weft_cancel(old);
	for (int i = 0; i < BURST; i++)
		if (weft_join(f[i], NULL))
			r->errors++;
	free(f);
}

/*
 * The record pool's depot (record.c): a consumer's overflow is handed to
 * the next empty cache whole, in order, and a trim returns the depot's
 * records to their chunks. Driven directly, with two workers' caches and
 * no weft_run, so nothing else takes or gives records meanwhile.
 */
#define DEPOT_N (RECORD_CACHE_MAX + 1)
#define DEPOT_MANY (4 * RECORD_CHUNK_SIZE)

static void test_record_depot_hands_a_batch_over_whole(void **state)
{
	static struct worker producer, consumer;
	static struct fiber *got[DEPOT_N], *again[RECORD_BATCH];
	struct fiber **many;
	struct fiber *head;

	(void)state;
	for (unsigned i = 0; i < DEPOT_N; i++) {
		assert_int_equal(weft__record_alloc(&producer, &got[i]), 0);
		assert_int_equal(got[i]->gen & 1, 0);
		for (unsigned k = 0; k < i; k++)
			assert_ptr_not_equal(got[k], got[i]);
	}
	/* The consumer frees them all: past RECORD_CACHE_MAX its cache
	 * gives its newest RECORD_BATCH away, once. */
	for (unsigned i = 0; i < DEPOT_N; i++)
		weft__record_free(&consumer, got[i]);
	assert_int_equal(consumer.fibers.nr, DEPOT_N - RECORD_BATCH);
	/* The consumer's cache holds the oldest; what it gave are the
	 * RECORD_BATCH freed last, newest first. */
	head = consumer.fibers.head;
	assert_ptr_equal(head, got[DEPOT_N - RECORD_BATCH - 1]);

	/* An empty cache takes that batch whole, in the order it was
	 * given: no chunk walk could give back exactly these. The
	 * producer's leftovers (fewer than a batch: three refills of 128
	 * less 257) go to their chunks, not the depot. */
	assert_true(producer.fibers.nr < RECORD_BATCH);
	while (producer.fibers.nr)
		weft__record_give_back(&producer);
	for (unsigned i = 0; i < RECORD_BATCH; i++)
		assert_int_equal(weft__record_alloc(&producer, &again[i]), 0);
	for (unsigned i = 0; i < RECORD_BATCH; i++)
		assert_ptr_equal(again[i], got[DEPOT_N - 1 - i]);

	/* Give everything back. */
	for (unsigned i = 0; i < RECORD_BATCH; i++)
		weft__record_free(&producer, again[i]);
	while (producer.fibers.nr)
		weft__record_give_back(&producer);
	while (consumer.fibers.nr)
		weft__record_give_back(&consumer);

	/* Four chunks' worth through the consumer: the depot fills with
	 * records from all over them. Two trims must still give back every
	 * chunk but those kept, which they could not while the depot held
	 * some of each chunk's records. */
	many = calloc(DEPOT_MANY, sizeof(*many));
	assert_non_null(many);
	for (unsigned i = 0; i < DEPOT_MANY; i++)
		assert_int_equal(weft__record_alloc(&producer, &many[i]), 0);
	assert_true(weft__record_resident() >= DEPOT_MANY);
	for (unsigned i = 0; i < DEPOT_MANY; i++)
		weft__record_free(&consumer, many[DEPOT_MANY - 1 - i]);
	while (producer.fibers.nr)
		weft__record_give_back(&producer);
	while (consumer.fibers.nr)
		weft__record_give_back(&consumer);
	weft__record_trim();
	weft__record_trim();
	assert_true(weft__record_resident() <=
		    (uint64_t)RECORD_KEEP_CHUNKS * RECORD_CHUNK_SIZE);
	free(many);
	weft__record_fini();
}

static void test_records_are_given_back_after_a_burst(void **state)
{
	struct burst_result r = { 0 };
	/* Chunks still in memory afterwards: those kept, and those that
	 * hold records the workers' caches keep. */
	uint64_t bound = (RECORD_KEEP_CHUNKS + 8) * RECORD_CHUNK_SIZE;

	(void)state;
	/* The test drives the trims; the monitor's would race its counts. */
	weft__trim_period_ms = 0;
	run_checked(&two, burst_main, &r);
	weft__trim_period_ms = 1000;
	print_message("records: %lu at the peak, %lu after one trim, %lu after "
		      "two; RSS %ld KiB -> %ld KiB\n",
		      (unsigned long)r.peak, (unsigned long)r.after_one,
		      (unsigned long)r.after_two, r.rss_peak, r.rss_after);
	assert_int_equal(r.errors, 0);
	assert_true(r.peak >= BURST);
	/* One trim only starts the idle period. */
	assert_true(r.after_one >= BURST);
	assert_true(r.after_two <= bound);
	/* Records are 256 bytes each; at least half of them came back. */
	assert_true(r.rss_peak - r.rss_after >= (long)BURST * 256 / 2 / 1024);
	assert_int_equal(r.stale_join, -ESRCH);
	assert_int_equal(r.stale_cancel, -ESRCH);
}

/*
 * Shutdown that cannot finish names what keeps it, once. The main fiber
 * returns holding a mutex another fiber waits for (cancellation does not
 * end a mutex wait), while a third sits in a raw blocking read on its
 * worker. weft_run can never return; after the grace period the monitor
 * must say so, naming both. In a child, killed once it has spoken.
 */
static weft_mutex stuck_mutex = WEFT_MUTEX_INIT;
static int stuck_pipe[2];

static void *lock_forever(void *arg)
{
	(void)arg;
	weft_mutex_lock(&stuck_mutex);
	return NULL;
}

static int reader_in;

static void *read_raw(void *arg)
{
	char c;

	(void)arg;
	__atomic_store_n(&reader_in, 1, __ATOMIC_RELEASE);
	(void)!read(stuck_pipe[0], &c, 1);	/* blocks its worker */
	return NULL;
}

static void stuck_main(void *arg)
{
	weft_fiber *f;

	(void)arg;
	weft_mutex_lock(&stuck_mutex);
	weft_spawn(&f, lock_forever, NULL,
		   &(struct weft_spawn_opts){ .name = "locker" });
	weft_detach(f);
	weft_spawn(&f, read_raw, NULL,
		   &(struct weft_spawn_opts){ .name = "reader" });
	weft_detach(f);
	/* Not a sleep: the reader may block this worker, whose timers
	 * nobody else runs; a queued fiber is stolen by the other worker. */
	while (!__atomic_load_n(&reader_in, __ATOMIC_ACQUIRE))
		weft_yield();
}

static void test_stuck_shutdown_names_its_fibers(void **state)
{
	char out[4096];
	size_t len = 0;
	int errp[2], status;
	int64_t until;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(errp), 0);
	assert_int_equal(pipe(stuck_pipe), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(errp[1], 2);
		close(errp[0]);
		weft__shutdown_grace_ms = 100;
		weft_run(&two, stuck_main, NULL);
		_exit(3);	/* weft_run cannot return here */
	}
	close(errp[1]);
	/* Read until both fibers are named, or 20 s. */
	until = weft_now_ns() + 20000 * MS;
	while (len < sizeof(out) - 1 && weft_now_ns() < until) {
		struct pollfd p = { .fd = errp[0], .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(errp[0], out + len, sizeof(out) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		out[len] = '\0';
		if (strstr(out, "\"locker\"") && strstr(out, "\"reader\""))
			break;
	}
	/* Three more grace periods: no second report may come. */
	usleep(300 * 1000);
	for (;;) {
		struct pollfd p = { .fd = errp[0], .events = POLLIN };
		ssize_t n;

		if (len >= sizeof(out) - 1 || poll(&p, 1, 0) <= 0)
			break;
		n = read(errp[0], out + len, sizeof(out) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	out[len] = '\0';
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(errp[0]);
	close(stuck_pipe[0]);
	close(stuck_pipe[1]);
	print_message("%s", out);
	assert_true(WIFSIGNALED(status));	/* it was still waiting */
	assert_non_null(strstr(out, "weft: shutdown has waited 100 ms for 2 "
				    "fibers that did not end when cancelled"));
	assert_non_null(strstr(out, "\"locker\" waits in weft_mutex_lock"));
	assert_non_null(strstr(out, "\"reader\" runs on worker "));
	/* Once: the header appears one time only. */
	assert_null(strstr(strstr(out, "shutdown has waited") + 1,
			   "shutdown has waited"));
}


/* Lazy children (fiber.c): a join of an unstarted child runs it inline -- */

static const struct weft_spawn_opts small_opts = {
	.stack_size = WEFT_STACK_SMALL, .name = "lazy"
};

/* Tries per case: under -Drandomize_sched and chaos mode half of the
 * joins that could run inline park instead, so a case tries until it
 * has seen an inline run (2^-64 to miss), and checks every try. */
#define INLINE_TRIES 64

/* @child ran just below @parent on the same stack: inline. Frame
 * addresses, not locals': under ASan locals may live on a fake stack. */
static bool ran_below(uintptr_t parent, uintptr_t child)
{
	return child < parent && parent - child < 4096;
}

struct lazy {
	uintptr_t parent_sp, child_sp, grand_sp;
	weft_fiber *handle, *self_in_child, *self_after;
	weft_fiber *parent_self;
	uint64_t parent_id, child_id;
	int errno_in_child, errno_after, join_rc, sleep_rc;
	void *res;
	unsigned inline_runs, tries, wrong;
};

/* Test @name: @main_fn on two workers, nothing wrong, @want inline runs. */
static void run_lazy(const char *name, void (*main_fn)(void *),
		     struct lazy *r, unsigned want)
{
	watchdog_arm(name, 30);
	assert_int_equal(weft_run(&two, main_fn, r), 0);
	assert_int_equal(r->wrong, 0);
	assert_int_equal(r->inline_runs, want);
	watchdog_disarm();
}

static void *lazy_child(void *arg)
{
	struct lazy *r = arg;
	volatile char here = 0;

	r->child_sp = (uintptr_t)__builtin_frame_address(0);
	r->self_in_child = weft_self();
	r->child_id = weft_fiber_id();
	r->errno_in_child = get_errno();
	set_errno(ENOENT);
	/* Park and come back, maybe on the other worker. */
	r->sleep_rc = weft_sleep_ns(100000);
	if (weft_self() != r->self_in_child)
		r->wrong++;
	return (void *)(uintptr_t)(42 + here);
}

static void lazy_main(void *arg)
{
	struct lazy *r = arg;

	for (r->tries = 0; r->tries < INLINE_TRIES && !r->inline_runs;
	     r->tries++) {
		r->parent_sp = (uintptr_t)__builtin_frame_address(0);
		r->parent_self = weft_self();
		r->parent_id = weft_fiber_id();
		if (weft_spawn(&r->handle, lazy_child, r, &small_opts))
			return;
		set_errno(EAGAIN);
		r->join_rc = weft_join(r->handle, &r->res);
		r->errno_after = get_errno();
		r->self_after = weft_self();
		if (r->join_rc || r->res != (void *)42 || r->sleep_rc ||
		    r->self_in_child != r->handle || r->errno_in_child != 0 ||
		    r->errno_after != EAGAIN || r->child_id == r->parent_id ||
		    r->self_after != r->parent_self ||
		    weft_fiber_id() != r->parent_id)
			r->wrong++;
		if (ran_below(r->parent_sp, r->child_sp))
			r->inline_runs++;
	}
}

/*
 * The child runs inline on its joiner's stack and is still itself:
 * weft_self() is its handle, its id its own, errno starts at 0 and the
 * joiner's errno survives; it parks (a sleep) and resumes, on either
 * worker, and the joiner carries on as itself with the child's result.
 */
static void test_unstarted_child_runs_inline_as_itself(void **state)
{
	struct lazy r = { 0 };

	(void)state;
	run_lazy(__func__, lazy_main, &r, 1);
}

static void *lazy_grandchild(void *arg)
{
	struct lazy *r = arg;
	volatile char here = 0;

	r->grand_sp = (uintptr_t)__builtin_frame_address(0);
	return (void *)(uintptr_t)(5 + here);
}

static void *lazy_middle(void *arg)
{
	struct lazy *r = arg;
	volatile char here = 0;
	weft_fiber *g;
	void *v = NULL;

	r->child_sp = (uintptr_t)__builtin_frame_address(0);
	if (weft_spawn(&g, lazy_grandchild, r, &small_opts) ||
	    weft_join(g, &v) || v != (void *)5)
		r->wrong++;
	return (void *)(uintptr_t)(6 + here);
}

static void *lazy_small_parent(void *arg)
{
	struct lazy *r = arg;
	weft_fiber *c;
	void *v = NULL;

	r->parent_sp = (uintptr_t)__builtin_frame_address(0);
	if (weft_spawn(&c, lazy_middle, r, &small_opts) ||
	    weft_join(c, &v) || v != (void *)6)
		r->wrong++;
	return NULL;
}

static void lazy_room_main(void *arg)
{
	struct lazy *r = arg;
	weft_fiber *p;

	for (r->tries = 0; r->tries < INLINE_TRIES && !r->inline_runs;
	     r->tries++) {
		/* Started by the scheduler while we sleep, so on its own
		 * small stack, not inline on ours. */
		if (weft_spawn(&p, lazy_small_parent, r, &small_opts) ||
		    weft_sleep_ns(MS) || weft_join(p, NULL))
			r->wrong++;
		/* A small stack has no room for a small child: never on it. */
		if (ran_below(r->parent_sp, r->child_sp))
			r->wrong++;
		/* Given a default stack, the middle fiber had room for its
		 * own child. */
		if (ran_below(r->child_sp, r->grand_sp))
			r->inline_runs++;
	}
}

/*
 * A small-stack fiber joining a small-stack child has no room to run it
 * inline: the child gets a default stack instead, and its own child
 * then runs inline on that.
 */
static void test_child_without_room_gets_a_default_stack(void **state)
{
	struct lazy r = { 0 };

	(void)state;
	run_lazy(__func__, lazy_room_main, &r, 1);
}

static void *lazy_default_middle(void *arg)
{
	struct lazy *r = arg;
	weft_fiber *g;
	void *v = NULL;

	r->child_sp = (uintptr_t)__builtin_frame_address(0);
	if (weft_spawn(&g, lazy_grandchild, r, NULL) || weft_join(g, &v) ||
	    v != (void *)5)
		r->wrong++;
	return (void *)6;
}

static void *lazy_default_parent(void *arg)
{
	struct lazy *r = arg;
	weft_fiber *c;
	void *v = NULL;

	r->parent_sp = (uintptr_t)__builtin_frame_address(0);
	if (weft_spawn(&c, lazy_default_middle, r, NULL) ||
	    weft_join(c, &v) || v != (void *)6)
		r->wrong++;
	return NULL;
}

static void lazy_host_main(void *arg)
{
	struct lazy *r = arg;
	weft_fiber *p;

	for (r->tries = 0; r->tries < INLINE_TRIES && !r->inline_runs;
	     r->tries++) {
		if (weft_spawn(&p, lazy_default_parent, r, NULL) ||
		    weft_sleep_ns(MS) || weft_join(p, NULL))
			r->wrong++;
		if (ran_below(r->parent_sp, r->child_sp))
			r->wrong++;
		if (ran_below(r->child_sp, r->grand_sp))
			r->inline_runs++;
	}
	if (ck_pr_load_uint(&weft__sched.host_stacks) != 0)
		r->wrong++;
}

/*
 * The same with default stacks: the middle fiber gets a host stack,
 * bigger than the default, and its child runs inline on it; the count
 * of host stacks out is back to 0 once they have ended.
 */
static void test_default_child_without_room_gets_a_host_stack(void **state)
{
	struct lazy r = { 0 };

	(void)state;
	run_lazy(__func__, lazy_host_main, &r, 1);
}

#define HOSTS_WANTED 200

struct lazy_hosts {
	weft_wg blocked, release_wg;
	weft_chan *gate;
	unsigned peak, wrong;
};

static void *lazy_blocked_child(void *arg)
{
	struct lazy_hosts *h = arg;
	void *v;

	weft_wg_done(&h->blocked);
	if (weft_chan_recv(h->gate, &v) != -EPIPE)
		h->wrong++;
	return NULL;
}

static void *lazy_host_parent(void *arg)
{
	struct lazy_hosts *h = arg;
	weft_fiber *c;

	if (weft_spawn(&c, lazy_blocked_child, h, NULL) || weft_join(c, NULL))
		h->wrong++;
	return NULL;
}

static void lazy_hosts_main(void *arg)
{
	struct lazy_hosts *h = arg;
	weft_fiber *p[HOSTS_WANTED];
	unsigned i;

	if (weft_chan_new(&h->gate, 0, 0))
		return;
	weft_wg_add(&h->blocked, HOSTS_WANTED);
	for (i = 0; i < HOSTS_WANTED; i++)
		if (weft_spawn(&p[i], lazy_host_parent, h, NULL))
			h->wrong++;
	/* Every child parked, each holding the stack it was given. */
	weft_wg_wait(&h->blocked);
	h->peak = ck_pr_load_uint(&weft__sched.host_stacks);
	weft_chan_close(h->gate);
	for (i = 0; i < HOSTS_WANTED; i++)
		if (weft_join(p[i], NULL))
			h->wrong++;
	if (ck_pr_load_uint(&weft__sched.host_stacks) != 0)
		h->wrong++;
	weft_chan_free(h->gate);
}

/* 200 joins that each want a host stack, all parked at once: at most 16
 * a worker are given out, and all come back. */
static void test_host_stacks_are_bounded(void **state)
{
	struct lazy_hosts h = { WEFT_WG_INIT, WEFT_WG_INIT, NULL, 0, 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, lazy_hosts_main, &h), 0);
	assert_int_equal(h.wrong, 0);
	print_message("host stacks out at the peak: %u\n", h.peak);
	assert_true(h.peak >= 1);
	assert_true(h.peak <= 2 * 16);
	watchdog_disarm();
}

static void *lazy_default_child(void *arg)
{
	struct lazy *r = arg;

	r->child_sp = (uintptr_t)__builtin_frame_address(0);
	return NULL;
}

static void lazy_never_main(void *arg)
{
	struct lazy *r = arg;
	weft_fiber *c;
	int64_t old;
	int i;

	r->parent_sp = (uintptr_t)__builtin_frame_address(0);
	for (i = 0; i < INLINE_TRIES; i++) {
		/* Its own default size is more than is left on ours. */
		if (weft_spawn(&c, lazy_default_child, r, NULL) ||
		    weft_join(c, NULL))
			r->wrong++;
		if (ran_below(r->parent_sp, r->child_sp))
			r->inline_runs++;
		/* A joiner with a deadline could end its join early. */
		old = weft_set_deadline((int64_t)weft_now_ns() + 10000 * MS);
		if (weft_spawn(&c, lazy_default_child, r, &small_opts) ||
		    weft_join(c, NULL))
			r->wrong++;
		weft_set_deadline(old);
		if (ran_below(r->parent_sp, r->child_sp))
			r->inline_runs++;
	}
}

/* In a fiber the scheduler started, on its own default stack (main's
 * is bigger). */
static void *lazy_never_fiber(void *arg)
{
	lazy_never_main(arg);
	return NULL;
}

static void lazy_never_outer(void *arg)
{
	struct lazy *r = arg;
	weft_fiber *f;

	if (weft_spawn(&f, lazy_never_fiber, r, NULL) || weft_sleep_ns(MS) ||
	    weft_join(f, NULL))
		r->wrong++;
}

/* No inline run where the child would lose by it. */
static void test_no_inline_run_without_room_or_with_a_deadline(void **state)
{
	struct lazy r = { 0 };

	(void)state;
	run_lazy(__func__, lazy_never_outer, &r, 0);
}

struct lazy_cancel {
	weft_chan *never;
	weft_fiber *target;
	bool cancel_joiner;	/* else the child */
	uintptr_t joiner_sp, child_sp;
	int wait_rc, join_rc, next_rc;
	unsigned inline_runs, wrong;
};

/* Waits until cancelled: on a channel nobody sends on, or 10 s asleep
 * (when its joiner is the one cancelled, the cancel must reach it). */
static void *lazy_waiter(void *arg)
{
	struct lazy_cancel *c = arg;
	volatile char here = 0;
	void *v;

	c->child_sp = (uintptr_t)__builtin_frame_address(0);
	c->wait_rc = c->cancel_joiner ? weft_sleep_ns(10000 * MS)
				      : weft_chan_recv(c->never, &v);
	return (void *)(uintptr_t)(9 + here);
}

static void *lazy_canceller(void *arg)
{
	struct lazy_cancel *c = arg;

	weft_sleep_ns(2 * MS);
	weft_cancel(c->target);
	return NULL;
}

static void *lazy_joiner(void *arg)
{
	struct lazy_cancel *c = arg;
	weft_fiber *w;
	void *v = NULL;

	c->joiner_sp = (uintptr_t)__builtin_frame_address(0);
	if (weft_spawn(&w, lazy_waiter, c, &small_opts))
		return NULL;
	c->target = c->cancel_joiner ? weft_self() : w;
	if (weft_go(lazy_canceller, c))
		return NULL;
	c->join_rc = weft_join(w, &v);
	/* A join that parked ends at the cancel; the child is still
	 * joinable. */
	if (c->join_rc == -ECANCELED &&
	    (weft_cancel(w) != 0 || weft_join(w, &v) != 0))
		c->wrong++;
	if (v != (void *)9)
		c->wrong++;
	c->next_rc = weft_sleep_ns(1);
	return NULL;
}

static void lazy_cancel_main(void *arg)
{
	struct lazy_cancel *c = arg;
	weft_fiber *j;
	int i;

	if (weft_chan_new(&c->never, 0, 0))
		return;
	for (i = 0; i < INLINE_TRIES && !c->inline_runs; i++) {
		bool inl;

		c->wait_rc = c->join_rc = c->next_rc = 1;
		if (weft_spawn(&j, lazy_joiner, c, NULL) || weft_join(j, NULL))
			c->wrong++;
		inl = ran_below(c->joiner_sp, c->child_sp);
		c->inline_runs += inl;
		if (!c->cancel_joiner) {
			/* The child's wait ends, inline or not. */
			if (c->wait_rc != -ECANCELED || c->join_rc != 0 ||
			    c->next_rc != 0)
				c->wrong++;
		} else if (inl) {
			/* Cancelled while its child ran inline: the cancel
			 * reaches the child too, the join completes, and
			 * the joiner's next suspension is cancelled. */
			if (c->wait_rc != -ECANCELED || c->join_rc != 0 ||
			    c->next_rc != -ECANCELED)
				c->wrong++;
		} else if (c->join_rc != -ECANCELED || c->next_rc != 0) {
			c->wrong++;
		}
	}
	weft_chan_close(c->never);
	weft_chan_free(c->never);
}

/*
 * Cancelling a child that runs inline ends its wait as anywhere else.
 * Cancelling its joiner meanwhile cannot end the join (the joiner's
 * frames are under the child's), so it cancels the child too: the join
 * completes when the child ends, and the joiner's next suspension
 * returns -ECANCELED; a join that parked instead returns -ECANCELED at
 * once.
 */
static void test_cancel_reaches_an_inline_child_and_its_joiner(void **state)
{
	struct lazy_cancel c = { 0 };

	(void)state;
	watchdog_arm(__func__, 60);
	assert_int_equal(weft_run(&two, lazy_cancel_main, &c), 0);
	assert_int_equal(c.wrong, 0);
	assert_int_equal(c.inline_runs, 1);
	c = (struct lazy_cancel){ .cancel_joiner = true };
	assert_int_equal(weft_run(&two, lazy_cancel_main, &c), 0);
	assert_int_equal(c.wrong, 0);
	assert_int_equal(c.inline_runs, 1);
	watchdog_disarm();
}

/* Joins and the fiber deadline ----------------------------------------- */

static void *sleep_long(void *arg)
{
	int *res = arg;

	*res = weft_sleep_ns(10000 * MS);
	return (void *)(intptr_t)7;
}

struct join_dl_res {
	int join_rc, rejoin_rc, child_res;
	int any_rc, any_rejoin;
	int all_rc, all_after, all_res[3];
	void *value;
	int64_t took;
};

static void join_dl_main(void *arg)
{
	struct join_dl_res *r = arg;
	weft_fiber *f, *g[3];
	int64_t t0, old;

	/* weft_join: -ETIMEDOUT, the child untouched and joinable. */
	if (weft_spawn(&f, sleep_long, &r->child_res, NULL))
		return;
	t0 = (int64_t)weft_now_ns();
	old = weft_set_deadline(t0 + 10 * MS);
	r->join_rc = weft_join(f, &r->value);
	r->took = (int64_t)weft_now_ns() - t0;
	weft_set_deadline(old);
	weft_cancel(f);
	r->rejoin_rc = weft_join(f, &r->value);

	/* weft_join_any: -ETIMEDOUT, nothing joined. */
	for (int i = 0; i < 3; i++)
		if (weft_spawn(&g[i], sleep_long, &r->all_res[i], NULL))
			return;
	old = weft_set_deadline((int64_t)weft_now_ns() + 5 * MS);
	r->any_rc = weft_join_any(g, 3, NULL);
	weft_set_deadline(old);

	/* weft_join_all: -ETIMEDOUT, the rest cancelled and all joined. */
	old = weft_set_deadline((int64_t)weft_now_ns() + 5 * MS);
	r->all_rc = weft_join_all(g, 3, NULL);
	r->all_after = weft_set_deadline(old) == WEFT_FOREVER ? -1 : 0;
	r->any_rejoin = weft_join(g[0], NULL);
}

static void test_joins_honour_the_fiber_deadline(void **state)
{
	struct join_dl_res r = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, join_dl_main, &r), 0);
	assert_int_equal(r.join_rc, -ETIMEDOUT);
	assert_true(r.took >= 10 * MS && r.took < 5000 * MS);
	assert_int_equal(r.rejoin_rc, 0);
	assert_int_equal((intptr_t)r.value, 7);
	assert_int_equal(r.child_res, -ECANCELED);
	assert_int_equal(r.any_rc, -ETIMEDOUT);
	assert_int_equal(r.all_rc, -ETIMEDOUT);
	/* The deadline join_all found is the one it leaves. */
	assert_int_equal(r.all_after, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(r.all_res[i], -ECANCELED);
	assert_int_equal(r.any_rejoin, -ESRCH);
	watchdog_disarm();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_depot_hands_a_batch_over_whole),
		cmocka_unit_test(test_join_returns_each_result),
		cmocka_unit_test(test_detached_fibers_run_and_free_themselves),
		cmocka_unit_test(test_self_matches_spawn_handle),
		cmocka_unit_test(test_fibers_spawn_fibers_ten_levels_deep),
		cmocka_unit_test(test_errno_follows_the_fiber_across_workers),
		cmocka_unit_test(test_cancelled_join_returns_ecanceled_and_leaves_target),
		cmocka_unit_test(test_foreign_thread_cancel_breaks_a_join_cycle),
		cmocka_unit_test(test_shutdown_cancels_every_parked_fiber),
		cmocka_unit_test(test_spawn_after_main_returned_is_ecanceled),
		cmocka_unit_test(test_small_stacks_park_and_wake),
		cmocka_unit_test(test_stuck_shutdown_names_its_fibers),
		cmocka_unit_test(test_records_are_given_back_after_a_burst),
		cmocka_unit_test(test_joins_honour_the_fiber_deadline),
		cmocka_unit_test(test_unstarted_child_runs_inline_as_itself),
		cmocka_unit_test(test_child_without_room_gets_a_default_stack),
		cmocka_unit_test(test_default_child_without_room_gets_a_host_stack),
		cmocka_unit_test(test_host_stacks_are_bounded),
		cmocka_unit_test(test_no_inline_run_without_room_or_with_a_deadline),
		cmocka_unit_test(test_cancel_reaches_an_inline_child_and_its_joiner),
	};

	skip_without_backend();
	return cmocka_run_group_tests_name("fiber", tests, NULL, NULL);
}
