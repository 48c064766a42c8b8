/* SPDX-License-Identifier: MIT */
/*
 * weft_dump(): a line for every live fiber saying what it does. Five
 * named fibers park in five kinds of wait (channel receive, mutex, sleep,
 * read on a pipe, join of another fiber) beside main, which runs; the
 * dump, written to a memfd, must name each with the right wait and the
 * right object (the channel's and mutex's addresses, the fd, the joined
 * fiber's id), count six fibers and return six; a wait of a second or
 * more says how long it has lasted; a join running its child inline
 * says so, naming the child; each parked fiber's backtrace reaches
 * its own function, and the dump says where it was spawned. Also from a plain
 * thread while the fibers stay parked, with a failing descriptor (-EBADF,
 * -EPIPE) and outside weft_run() (-EPERM). WEFT_DUMP_SIGNAL=USR1 writes
 * one dump to stderr a signal and puts the old action back when weft_run
 * returns; a value it cannot use is named and ignored. On one worker and
 * on two, and on whichever backend WEFT_BACKEND asks for (meson runs it
 * on both).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"

#define MS 1000000ull

struct fx {
	weft_chan *chan;
	weft_mutex mutex;
	int pipe[2];
	weft_fiber *receiver;
	uint64_t receiver_id;	/* atomic: set by the receiver */
	int memfd;
	char text[16384];
	int sleep_rc;
};

static struct fx fx;

static void *receiver(void *arg)
{
	int v = 0;

	(void)arg;
	__atomic_store_n(&fx.receiver_id, weft_fiber_id(), __ATOMIC_RELEASE);
	check_eq(weft_chan_recv(fx.chan, &v), 0);
	check_eq(v, 42);
	return NULL;
}

static void *locker(void *arg)
{
	(void)arg;
	check_eq(weft_mutex_lock(&fx.mutex), 0);
	check_eq(weft_mutex_unlock(&fx.mutex), 0);
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	fx.sleep_rc = weft_sleep_ns(60000 * MS);
	return NULL;
}

static void *reader(void *arg)
{
	char c = 0;

	(void)arg;
	check_eq(weft_read(fx.pipe[0], &c, 1), 1);
	check_eq(c, 'x');
	return NULL;
}

static void *joiner(void *arg)
{
	(void)arg;
	check_eq(weft_join(fx.receiver, NULL), 0);
	return NULL;
}

/* weft_dump() into the memfd; its text into fx.text. Returns its rc. */
static int dump_to_text(void)
{
	int rc;
	ssize_t n;

	check_eq(ftruncate(fx.memfd, 0), 0);
	check_eq(lseek(fx.memfd, 0, SEEK_SET), 0);
	rc = weft_dump(fx.memfd);
	n = pread(fx.memfd, fx.text, sizeof(fx.text) - 1, 0);
	check(n >= 0);
	fx.text[n > 0 ? n : 0] = '\0';
	return rc;
}

/* The line fragments the dump must hold with every fiber parked. */
static unsigned expected(char want[][160])
{
	unsigned n = 0;

	snprintf(want[n++], 160, "\"receiver\" waits to receive on channel %p",
		 (void *)fx.chan);
	snprintf(want[n++], 160,
		 "\"locker\" waits in weft_mutex_lock for mutex %p",
		 (void *)&fx.mutex);
	snprintf(want[n++], 160, "\"sleeper\" sleeps, 5");
	snprintf(want[n++], 160, "\"reader\" waits for a read on fd %d",
		 fx.pipe[0]);
	/* The id, then the end of the line or how long it waited (a
	 * slow run may dump a second after the joiner parked). */
	snprintf(want[n], 160, "\"joiner\" waits in weft_join for fiber %"
		 PRIu64, __atomic_load_n(&fx.receiver_id, __ATOMIC_ACQUIRE));
	{
		const char *at = strstr(fx.text, want[n]);
		size_t len = strlen(want[n]);

		snprintf(want[n] + len, 160 - len, "%s",
			 at && strncmp(at + len, ", for ", 6) == 0 ? ", for "
								   : "\n");
		n++;
	}
	snprintf(want[n++], 160, "\"main\" runs on worker %u\n",
		 weft_worker_id());
	snprintf(want[n++], 160, "weft: 6 fibers alive, ");
	return n;
}

static bool all_found(char want[][160], unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (!strstr(fx.text, want[i]))
			return false;
	return true;
}

/*
 * In the dump's text, under the line of the fiber named @name: whether a
 * backtrace frame lies in [@fn, @fn + 512) (the function the fiber runs)
 * and whether the spawn site lies in [@spawner, @spawner + 8192).
 */
static void check_frames(const char *name, const void *fn,
			 const void *spawner)
{
	char key[64];
	const char *p;
	bool in_fn = false, spawned = false;

	snprintf(key, sizeof(key), "\"%s\" ", name);
	p = strstr(fx.text, key);
	check(p != NULL);
	if (!p)
		return;
	for (p = strchr(p, '\n'); p && strncmp(p + 1, "weft:       ", 12) == 0;
	     p = strchr(p + 1, '\n')) {
		const char *q = p + 13;
		bool site = strncmp(q, "spawned at ", 11) == 0;
		uintptr_t pc;

		if (site)
			q += 11;
		else if (*q == '#')
			q = strchr(q, ' ') + 1;
		if (sscanf(q, "%" SCNxPTR, &pc) != 1)
			continue;
		if (site)
			spawned = pc >= (uintptr_t)spawner &&
				  pc < (uintptr_t)spawner + 8192;
		else if (pc >= (uintptr_t)fn && pc < (uintptr_t)fn + 512)
			in_fn = true;
	}
	if (!in_fn || !spawned)
		fprintf(stderr, "%s: frame in its function %d, spawn site %d; "
			"the dump was:\n%s", name, in_fn, spawned, fx.text);
	check(in_fn);
	check(spawned);
}

static void *foreign_dump(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)dump_to_text();
}

static void dump_main(void *arg)
{
	static const char *names[] = { "receiver", "locker", "sleeper",
				       "reader", "joiner" };
	void *(*fns[])(void *) = { receiver, locker, sleeper, reader, joiner };
	weft_fiber *fs[5];
	char want[8][160];
	unsigned nwant = 0;
	int rc = 0, closed[2];
	pthread_t t;
	void *trc;

	(void)arg;
	memset(&fx, 0, sizeof(fx));
	fx.memfd = memfd_create("weft-dump", 0);
	check(fx.memfd >= 0);
	check_eq(weft_chan_new(&fx.chan, sizeof(int), 0), 0);
	weft_mutex_init(&fx.mutex);
	check_eq(weft_mutex_lock(&fx.mutex), 0);
	check_eq(pipe(fx.pipe), 0);
	for (unsigned i = 0; i < 5; i++) {
		check_eq(weft_spawn(&fs[i], fns[i], NULL,
			&(struct weft_spawn_opts){ .name = names[i] }), 0);
		if (i == 0)
			fx.receiver = fs[0];
	}

	/* Until every fiber has parked (a few ms; 5 s at most). */
	for (unsigned tries = 0; tries < 500; tries++) {
		weft_sleep_ns(10 * MS);
		if (!__atomic_load_n(&fx.receiver_id, __ATOMIC_ACQUIRE))
			continue;
		rc = dump_to_text();
		nwant = expected(want);
		if (all_found(want, nwant))
			break;
	}
	for (unsigned i = 0; i < nwant; i++)
		if (!strstr(fx.text, want[i])) {
			fprintf(stderr, "the dump lacks '%s'; it was:\n%s",
				want[i], fx.text);
			check(!"the dump names every fiber's wait");
		}
	check_eq(rc, 6);
	check(strstr(fx.text, " backend:\n") != NULL);
	/* Backtraces: each parked fiber's walk reaches its own function,
	 * and each names where dump_main spawned it. */
	for (unsigned i = 0; i < 5; i++)
		check_frames(names[i], (const void *)fns[i],
			     (const void *)dump_main);

	/* From a thread that is not a worker, the fibers still parked. */
	check_eq(pthread_create(&t, NULL, foreign_dump, NULL), 0);
	check_eq(pthread_join(t, &trc), 0);
	check_eq((int)(intptr_t)trc, 6);
	check(strstr(fx.text, want[0]) != NULL);

	/* Descriptors that cannot be written. */
	check_eq(weft_dump(-1), -EBADF);
	check_eq(pipe(closed), 0);
	check_eq(close(closed[1]), 0);
	check_eq(weft_dump(closed[1]), -EBADF);
	check_eq(close(closed[0]), 0);
	check_eq(pipe(closed), 0);
	check_eq(close(closed[0]), 0);
	check_eq(weft_dump(closed[1]), -EPIPE);
	check_eq(close(closed[1]), 0);

	/* Let every wait end, each the way it is meant to. */
	check_eq(weft_chan_send(fx.chan, &(int){ 42 }), 0);
	check_eq(weft_mutex_unlock(&fx.mutex), 0);
	check_eq(weft_cancel(fs[2]), 0);
	check_eq(write(fx.pipe[1], "x", 1), 1);
	for (unsigned i = 1; i < 5; i++)
		check_eq(weft_join(fs[i], NULL), 0);
	check_eq(fx.sleep_rc, -ECANCELED);

	/* Only main is left. */
	check_eq(dump_to_text(), 1);
	check(strstr(fx.text, "weft: 1 fiber alive, ") != NULL);
	weft_chan_free(fx.chan);
	close(fx.pipe[0]);
	close(fx.pipe[1]);
	close(fx.memfd);
}

static void run_dump(unsigned workers)
{
	struct weft_config cfg = { .workers = workers };

	watchdog_arm(__func__, 60);
	run_checked(&cfg, dump_main, NULL);
	watchdog_disarm();
}

static void test_dump_one_worker(void **state)
{
	(void)state;
	run_dump(1);
}

static void test_dump_two_workers(void **state)
{
	(void)state;
	run_dump(2);
}

/* How long a fiber has waited: said once it is a second or more. */
static void waited_main(void *arg)
{
	weft_fiber *f = NULL;
	char want[160];
	const char *at;
	unsigned secs = 0, tenths = 0;

	(void)arg;
	memset(&fx, 0, sizeof(fx));
	fx.memfd = memfd_create("weft-dump", 0);
	check(fx.memfd >= 0);
	check_eq(weft_chan_new(&fx.chan, sizeof(int), 0), 0);
	check_eq(weft_spawn(&f, receiver, NULL,
		&(struct weft_spawn_opts){ .name = "receiver" }), 0);
	snprintf(want, sizeof(want), "\"receiver\" waits to receive on "
		 "channel %p", (void *)fx.chan);
	/* Parked just now: no figure (unless this run is very slow). */
	while (!strstr(fx.text, want)) {
		weft_yield();
		dump_to_text();
	}
	at = strstr(fx.text, want) + strlen(want);
	if (*at != '\n')
		fprintf(stderr, "a fresh wait (slow run?):\n%s", fx.text);
	check_eq(weft_sleep_ns(1500 * MS), 0);
	dump_to_text();
	at = strstr(fx.text, want);
	check(at != NULL);
	if (at) {
		check_eq(sscanf(at + strlen(want), ", for %u.%u s\n", &secs,
				&tenths), 2);
		/* At least the 1.5 s slept; at most a tick more, or the
		 * sanitizers' and a loaded machine's slack. */
		check(secs * 10 + tenths >= 15);
		check(secs * 10 + tenths <= 100);
	}
	check_eq(weft_chan_send(fx.chan, &(int){ 42 }), 0);
	check_eq(weft_join(f, NULL), 0);
	weft_chan_free(fx.chan);
	close(fx.memfd);
}

static void test_dump_waited(void **state)
{
	struct weft_config cfg = { .workers = 2 };

	(void)state;
	watchdog_arm(__func__, 60);
	run_checked(&cfg, waited_main, NULL);
	watchdog_disarm();
}

/* A join running its child inline: the joiner says so, the child is
 * listed with its own wait. */
static void *inline_host(void *arg)
{
	weft_fiber *g;

	(void)arg;
	check_eq(weft_spawn(&g, receiver, NULL, &(struct weft_spawn_opts){
		.stack_size = WEFT_STACK_SMALL, .name = "guest" }), 0);
	check_eq(weft_join(g, NULL), 0);
	return NULL;
}

static void inline_main(void *arg)
{
	unsigned *inline_seen = arg;
	char want_guest[160], want_host[160];

	memset(&fx, 0, sizeof(fx));
	fx.memfd = memfd_create("weft-dump", 0);
	check(fx.memfd >= 0);
	check_eq(weft_chan_new(&fx.chan, sizeof(int), 0), 0);
	snprintf(want_guest, sizeof(want_guest), "\"guest\" waits to "
		 "receive on channel %p", (void *)fx.chan);
	/* Tries: -Drandomize_sched parks half of these joins instead. */
	for (int i = 0; i < 64 && !*inline_seen; i++) {
		weft_fiber *h = NULL;

		__atomic_store_n(&fx.receiver_id, 0, __ATOMIC_RELEASE);
		check_eq(weft_spawn(&h, inline_host, NULL,
			&(struct weft_spawn_opts){ .name = "host" }), 0);
		/* Until both are settled: a host that parks instead is
		 * "ready to run" for a moment, between its switch and its
		 * park's first step. */
		do {
			weft_yield();
			dump_to_text();
		} while (!strstr(fx.text, want_guest) ||
			 !strstr(fx.text, "\"host\" waits in weft_join "
				 "for fiber "));
		snprintf(want_host, sizeof(want_host), "\"host\" waits in "
			 "weft_join for fiber %" PRIu64 ", which runs inline "
			 "on its stack\n", __atomic_load_n(&fx.receiver_id,
							  __ATOMIC_ACQUIRE));
		if (strstr(fx.text, want_host))
			++*inline_seen;
		check_eq(weft_chan_send(fx.chan, &(int){ 42 }), 0);
		check_eq(weft_join(h, NULL), 0);
	}
	weft_chan_free(fx.chan);
	close(fx.memfd);
}

static void test_dump_inline_join(void **state)
{
	struct weft_config cfg = { .workers = 2 };
	unsigned inline_seen = 0;

	(void)state;
	watchdog_arm(__func__, 60);
	run_checked(&cfg, inline_main, &inline_seen);
	assert_int_equal(inline_seen, 1);
	watchdog_disarm();
}

static void test_dump_outside_run(void **state)
{
	(void)state;
	assert_int_equal(weft_dump(1), -EPERM);
}

/* WEFT_DUMP_SIGNAL ----------------------------------------------------- */

static unsigned napper_parked;	/* atomic */

static void *napper(void *arg)
{
	(void)arg;
	__atomic_store_n(&napper_parked, 1, __ATOMIC_RELEASE);
	weft_sleep_ns(60000 * MS);
	return NULL;
}

/* Parks "napper", sends the signal twice, leaves time for two dumps. */
static void signal_main(void *arg)
{
	weft_fiber *f;
	int sig = *(int *)arg;

	check_eq(weft_spawn(&f, napper, NULL,
			    &(struct weft_spawn_opts){ .name = "napper" }), 0);
	while (!__atomic_load_n(&napper_parked, __ATOMIC_ACQUIRE))
		weft_sleep_ns(MS);
	weft_sleep_ns(20 * MS);
	for (int i = 0; i < 2; i++) {
		check_eq(kill(getpid(), sig), 0);
		weft_sleep_ns(200 * MS);
	}
	check_eq(weft_cancel(f), 0);
	check_eq(weft_join(f, NULL), 0);
}

static void signal_child(void *arg)
{
	struct weft_config cfg = { .workers = 2 };

	/* Dies of the signal if no handler was installed. */
	run_checked(&cfg, signal_main, arg);
	/* Put back after weft_run: the default action of SIGUSR1 ends us. */
	raise(SIGUSR1);
	_exit(3);
}

static void test_dump_signal(void **state)
{
	static char out[65536];
	int sig = SIGUSR1, status;
	const char *p;

	(void)state;
	setenv("WEFT_DUMP_SIGNAL", "USR1", 1);
	status = run_in_child(signal_child, &sig, out, sizeof(out));
	unsetenv("WEFT_DUMP_SIGNAL");
	/* Killed by SIGUSR1 after weft_run returned: the old action is back. */
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGUSR1)
		fail_msg("status %#x; stderr:\n%s", status, out);
	p = strstr(out, "weft: 2 fibers alive, 2 workers, ");
	if (!p)
		fail_msg("no dump on stderr; it was:\n%s", out);
	assert_non_null(strstr(p, "\"napper\" sleeps, "));
	/* Main sleeps, or is still on its way there. */
	assert_non_null(strstr(p, " \"main\" "));
	/* Once a signal. */
	assert_non_null(strstr(p + 1, "weft: 2 fibers alive, "));
	assert_null(strstr(strstr(p + 1, "weft: 2 fibers alive, ") + 1,
			   "weft: 2 fibers alive, "));
}

static void bad_signal_child(void *arg)
{
	struct weft_config cfg = { .workers = 1 };

	(void)arg;
	_exit(weft_run(&cfg, noop_main, NULL) == 0 ? 0 : 1);
}

static void test_dump_signal_bad_value(void **state)
{
	static const char *bad[] = { "KILL", "SIGSEGV", "NOSUCH", "0", "999" };
	char out[4096];
	int status;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[128];

		setenv("WEFT_DUMP_SIGNAL", bad[i], 1);
		status = run_in_child(bad_signal_child, NULL, out, sizeof(out));
		unsetenv("WEFT_DUMP_SIGNAL");
		/* Named, ignored, and the run goes on. */
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		snprintf(want, sizeof(want), "weft: WEFT_DUMP_SIGNAL=%s is not "
			 "a signal a dump can use", bad[i]);
		if (!strstr(out, want))
			fail_msg("WEFT_DUMP_SIGNAL=%s: stderr was:\n%s", bad[i],
				 out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dump_inline_join),
		cmocka_unit_test(test_dump_outside_run),
		cmocka_unit_test(test_dump_one_worker),
		cmocka_unit_test(test_dump_two_workers),
		cmocka_unit_test(test_dump_waited),
		cmocka_unit_test(test_dump_signal),
		cmocka_unit_test(test_dump_signal_bad_value),
	};

	/* A dump into a pipe nobody reads must give -EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	skip_without_backend();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
