/* SPDX-License-Identifier: MIT */
/*
 * The deadlock check (src/api/deadlock.c): when every fiber is asleep and
 * nothing can wake one, weft_run() names them on stderr, ends their waits
 * and returns -EDEADLK instead of hanging. Four real deadlocks: a cycle
 * of two channels, a cycle of two mutexes (each weft_mutex_lock returns
 * -EDEADLK without the lock), two fibers joining each other, and a mutex
 * cycle left by detached fibers after main has returned. Four sleeps that
 * something will end, which must not be reported: a timer, a read that a
 * child process will satisfy, a thread outside weft that will send, and a
 * weft_blocking() call. Each waits 1.2 s, past the check's once-a-second
 * look. Every case runs in a forked child (the test binary's watchdog
 * thread would turn the check off, as any foreign thread does), on one
 * worker and on two, on whichever backend WEFT_BACKEND asks for.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"

#define MS 1000000ull
/* How long a sleep that will end lasts: past the check's 1 s look. */
#define LATER_MS 1200u

/* One child's state; the child is a fresh fork each time. */
static struct {
	weft_chan *a, *b;
	weft_mutex m1, m2;
	weft_wg held;		/* each locker holds its first mutex */
	weft_wg done;
	weft_fiber *x, *y;
	weft_chan *go;
	int rc_x, rc_y;		/* what the two sleepers' waits returned */
	int pipe[2];
} fx;

static weft_fiber *spawn_named(void *(*fn)(void *), void *arg,
			       const char *name)
{
	struct weft_spawn_opts o = { .name = name };
	weft_fiber *f = NULL;

	check_eq(weft_spawn(&f, fn, arg, &o), 0);
	return f;
}

/* A child's time limit, in seconds (four times as long under ASan, TSan). */
#define CHILD_SECS 20u

/* The child: run @main_fn on @workers workers, then say what happened. */
struct child_arg {
	void (*main_fn)(void *);
	unsigned workers;
};

static void child(void *arg)
{
	struct child_arg *ca = arg;
	struct weft_config cfg = { .workers = ca->workers,
				   .backend = test_backend() };
	unsigned secs = CHILD_SECS;
	sigset_t alrm;
	int rc, free_;

	memset(&fx, 0, sizeof(fx));
	/* The watchdog's thread is not in this fork: take its SIGALRM here
	 * (the handler, inherited, writes its message and _exits 1). */
	if (under_tsan() || under_asan())
		secs *= 4;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_UNBLOCK, &alrm, NULL);
	alarm(secs);
	rc = weft_run(&cfg, ca->main_fn, NULL);
	alarm(0);
	/* Whoever held a mutex gave it back (any thread may try). */
	free_ = weft_mutex_trylock(&fx.m1) == 0 &&
		weft_mutex_trylock(&fx.m2) == 0;
	weft_chan_free(fx.a);
	weft_chan_free(fx.b);
	weft_chan_free(fx.go);
	fprintf(stderr, "\nrc=%d x=%d y=%d free=%d failed=%u line=%d\n", rc,
		fx.rc_x, fx.rc_y, free_, nr_failed, failed_line);
	_exit(0);
}

/* The child's last line, parsed. */
struct result {
	int rc, x, y, free_;
	unsigned failed;
};

static char out[65536];

/*
 * Run @main_fn in a child on one worker, then on two; *@out per run. A
 * deadlock the check misses would hang the child: its own alarm ends it
 * with the watchdog's message, naming @test, in *@out.
 */
static void run_both_at(const char *test, void (*main_fn)(void *),
			void (*verify)(unsigned))
{
	for (unsigned workers = 1; workers <= 2; workers++) {
		struct child_arg ca = { main_fn, workers };
		int status;

		/* For the child's watchdog message (see child()). */
		__atomic_store_n(&watchdog_secs, CHILD_SECS, __ATOMIC_RELAXED);
		__atomic_store_n(&watchdog_test, test, __ATOMIC_RELEASE);
		status = run_in_child(child, &ca, out, sizeof(out));

		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("%u worker(s): child status %d; stderr:\n%s",
				 workers, status, out);
		verify(workers);
	}
}
#define run_both(main_fn, verify) run_both_at(__func__, main_fn, verify)

static void expect_in_out(const char *what, unsigned workers)
{
	if (!strstr(out, what))
		fail_msg("%u worker(s): no \"%s\" in stderr:\n%s", workers,
			 what, out);
}

static struct result result(unsigned workers)
{
	const char *line = strstr(out, "\nrc=");
	struct result r;

	if (!line || sscanf(line, "\nrc=%d x=%d y=%d free=%d failed=%u",
			    &r.rc, &r.x, &r.y, &r.free_, &r.failed) != 5)
		fail_msg("%u worker(s): no result line:\n%s", workers, out);
	if (r.failed)
		fail_msg("%u worker(s): a check failed in a fiber:\n%s",
			 workers, out);
	return r;
}

/* Ended by the deadlock's breaking: cancelled, or the thing waited for
 * happened first because another fiber's wait was ended before. */
static bool ended(int rc, int broken)
{
	return rc == 0 || rc == broken;
}

static void expect_no_deadlock(unsigned workers)
{
	struct result r = result(workers);

	if (r.rc != 0 || r.x != 0 || r.y != 0 || !r.free_ ||
	    strstr(out, "deadlock"))
		fail_msg("%u worker(s): a false report:\n%s", workers, out);
}

static void expect_deadlock(unsigned workers, int x, int y)
{
	struct result r = result(workers);

	if (r.rc != -EDEADLK || r.x != x || r.y != y || !r.free_)
		fail_msg("%u worker(s): want rc=%d x=%d y=%d free=1:\n%s",
			 workers, -EDEADLK, x, y, out);
}

/* A channel cycle ------------------------------------------------------ */

/* Receive from @from, then pass it on to @to: a ring with no token. */
static void *relay(void *arg)
{
	bool first = arg == NULL;
	int v = 0;
	int rc = weft_chan_recv(first ? fx.a : fx.b, &v);

	if (rc == 0)
		rc = weft_chan_send(first ? fx.b : fx.a, &v);
	*(first ? &fx.rc_x : &fx.rc_y) = rc;
	return NULL;
}

static void chan_cycle_main(void *arg)
{
	(void)arg;
	check_eq(weft_chan_new(&fx.a, sizeof(int), 0), 0);
	check_eq(weft_chan_new(&fx.b, sizeof(int), 0), 0);
	fx.x = spawn_named(relay, NULL, "relay-a");
	fx.y = spawn_named(relay, &fx, "relay-b");
	/* Ends when the deadlock is broken; the fibers are left to the
	 * shutdown that follows. */
	check(ended(weft_join(fx.x, NULL), -ECANCELED));
}

static void chan_cycle_verify(unsigned workers)
{
	expect_in_out("weft: deadlock: all 3 fibers are asleep", workers);
	expect_in_out("\"relay-a\" waits to receive on channel", workers);
	expect_in_out("\"relay-b\" waits to receive on channel", workers);
	expect_in_out("\"main\" waits in weft_join", workers);
	/* Neither relay can get a value: both receives are cancelled. */
	expect_deadlock(workers, -ECANCELED, -ECANCELED);
}

static void test_chan_cycle(void **state)
{
	(void)state;
	run_both(chan_cycle_main, chan_cycle_verify);
}

/* A mutex cycle --------------------------------------------------------- */

/* Lock one mutex, wait until the other fiber holds the other, lock it. */
static void *locker(void *arg)
{
	bool first = arg == NULL;
	weft_mutex *mine = first ? &fx.m1 : &fx.m2;
	weft_mutex *theirs = first ? &fx.m2 : &fx.m1;
	int rc;

	check_eq(weft_mutex_lock(mine), 0);
	check_eq(weft_wg_done(&fx.held), 0);
	check_eq(weft_wg_wait(&fx.held), 0);
	rc = weft_mutex_lock(theirs);
	if (rc == 0)
		check_eq(weft_mutex_unlock(theirs), 0);
	check_eq(weft_mutex_unlock(mine), 0);
	*(first ? &fx.rc_x : &fx.rc_y) = rc;
	return NULL;
}

static void start_lockers(bool detached)
{
	weft_mutex_init(&fx.m1);
	weft_mutex_init(&fx.m2);
	weft_wg_init(&fx.held);
	check_eq(weft_wg_add(&fx.held, 2), 0);
	fx.x = spawn_named(locker, NULL, "locker-1");
	fx.y = spawn_named(locker, &fx, "locker-2");
	if (detached) {
		check_eq(weft_detach(fx.x), 0);
		check_eq(weft_detach(fx.y), 0);
	}
}

static void mutex_cycle_main(void *arg)
{
	(void)arg;
	start_lockers(false);
	check(ended(weft_join(fx.x, NULL), -ECANCELED));
}

/* One locker's lock returned -EDEADLK, the other's too, or it got the
 * mutex the first gave back; neither kept one (free=1). */
static void expect_lockers_broken(unsigned workers)
{
	struct result r = result(workers);

	if (r.rc != -EDEADLK || !ended(r.x, -EDEADLK) ||
	    !ended(r.y, -EDEADLK) || (r.x == 0 && r.y == 0) || !r.free_)
		fail_msg("%u worker(s): want rc=%d, x and y -EDEADLK or 0 "
			 "(not both), free=1:\n%s", workers, -EDEADLK, out);
}

static void mutex_cycle_verify(unsigned workers)
{
	expect_in_out("weft: deadlock: all 3 fibers are asleep", workers);
	expect_in_out("\"locker-1\" waits in weft_mutex_lock for mutex",
		      workers);
	expect_in_out("\"locker-2\" waits in weft_mutex_lock for mutex",
		      workers);
	expect_lockers_broken(workers);
}

static void test_mutex_cycle(void **state)
{
	(void)state;
	run_both(mutex_cycle_main, mutex_cycle_verify);
}

/* The same cycle once main has returned: shutdown cancels no mutex wait,
 * so before the check this hung for ever. */
static void after_main_main(void *arg)
{
	(void)arg;
	start_lockers(true);
	/* Return once both hold their first mutex: shutdown cancels no
	 * mutex wait, and the wait group is behind us. */
	check_eq(weft_wg_wait(&fx.held), 0);
}

static void after_main_verify(unsigned workers)
{
	expect_in_out("weft: deadlock: all 2 fibers are asleep", workers);
	expect_in_out("\"locker-1\" waits in weft_mutex_lock", workers);
	expect_lockers_broken(workers);
}

static void test_after_main(void **state)
{
	(void)state;
	run_both(after_main_main, after_main_verify);
}

/* Two fibers joining each other ------------------------------------------ */

static void *join_other(void *arg)
{
	bool first = arg == NULL;

	check_eq(weft_chan_recv(fx.go, NULL), 0);
	*(first ? &fx.rc_x : &fx.rc_y) = weft_join(first ? fx.y : fx.x, NULL);
	check_eq(weft_wg_done(&fx.done), 0);
	return NULL;
}

static void join_pair_main(void *arg)
{
	int v = 1;

	(void)arg;
	check_eq(weft_chan_new(&fx.go, sizeof(int), 2), 0);
	weft_wg_init(&fx.done);
	check_eq(weft_wg_add(&fx.done, 2), 0);
	fx.x = spawn_named(join_other, NULL, "join-1");
	fx.y = spawn_named(join_other, &fx, "join-2");
	check_eq(weft_chan_send(fx.go, &v), 0);
	check_eq(weft_chan_send(fx.go, &v), 0);
	check(ended(weft_wg_wait(&fx.done), -ECANCELED));
}

static void join_pair_verify(unsigned workers)
{
	expect_in_out("weft: deadlock: all 3 fibers are asleep", workers);
	expect_in_out("\"join-1\" waits in weft_join for fiber", workers);
	expect_in_out("\"join-2\" waits in weft_join for fiber", workers);
	/* One join is cancelled; the other too, or its fiber ended first. */
	{
		struct result r = result(workers);

		if (r.rc != -EDEADLK || !ended(r.x, -ECANCELED) ||
		    !ended(r.y, -ECANCELED) || (r.x == 0 && r.y == 0))
			fail_msg("%u worker(s): want rc=%d, joins -ECANCELED "
				 "or 0 (not both):\n%s", workers, -EDEADLK,
				 out);
	}
}

static void test_join_pair(void **state)
{
	(void)state;
	run_both(join_pair_main, join_pair_verify);
}

/* Sleeps that something will end ----------------------------------------- */

static void timer_main(void *arg)
{
	(void)arg;
	check_eq(weft_sleep_ns(LATER_MS * MS), 0);
}

static void test_timer_not_deadlock(void **state)
{
	(void)state;
	run_both(timer_main, expect_no_deadlock);
}

static void read_main(void *arg)
{
	pid_t pid;
	char c = 0;

	(void)arg;
	check_eq(pipe(fx.pipe), 0);
	pid = fork();
	if (pid == 0) {
		usleep(LATER_MS * 1000);
		_exit(write(fx.pipe[1], "x", 1) == 1 ? 0 : 1);
	}
	check(pid > 0);
	check_eq(weft_read(fx.pipe[0], &c, 1), 1);
	check_eq(c, 'x');
	close(fx.pipe[0]);
	close(fx.pipe[1]);
	check(waitpid(pid, NULL, 0) == pid);
}

static void test_read_not_deadlock(void **state)
{
	(void)state;
	run_both(read_main, expect_no_deadlock);
}

static void *later_send(void *arg)
{
	int v = 7;

	(void)arg;
	usleep(LATER_MS * 1000);
	check_eq(weft_chan_try_send(fx.a, &v), 0);
	return NULL;
}

static void thread_main(void *arg)
{
	pthread_t t;
	int v = 0;

	(void)arg;
	check_eq(weft_chan_new(&fx.a, sizeof(int), 1), 0);
	check_eq(pthread_create(&t, NULL, later_send, NULL), 0);
	check_eq(weft_chan_recv(fx.a, &v), 0);
	check_eq(v, 7);
	check_eq(pthread_join(t, NULL), 0);
}

static void test_thread_not_deadlock(void **state)
{
	(void)state;
	run_both(thread_main, expect_no_deadlock);
}

static void *nap(void *arg)
{
	usleep(LATER_MS * 1000);
	return arg;
}

static void blocking_main(void *arg)
{
	void *res = NULL;

	(void)arg;
	check_eq(weft_blocking(nap, &fx, &res), 0);
	check(res == &fx);
}

static void test_blocking_not_deadlock(void **state)
{
	(void)state;
	run_both(blocking_main, expect_no_deadlock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chan_cycle),
		cmocka_unit_test(test_mutex_cycle),
		cmocka_unit_test(test_after_main),
		cmocka_unit_test(test_join_pair),
		cmocka_unit_test(test_timer_not_deadlock),
		cmocka_unit_test(test_read_not_deadlock),
		cmocka_unit_test(test_thread_not_deadlock),
		cmocka_unit_test(test_blocking_not_deadlock),
	};

	skip_without_backend();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
