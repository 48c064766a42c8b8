/* SPDX-License-Identifier: MIT */
/*
 * Chaos mode (WEFT_CHAOS): on one worker the same seed gives the same
 * interleaving run after run, and other seeds give others; a deliberate
 * check-then-act race that plain runs never break is broken within a few
 * seeds, and its failing seed breaks it every time; the seed is printed
 * when a run fails. The flight recorder (WEFT_TRACE) writes the same
 * trace, times aside, for the same seed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"

static struct weft_config one = { .workers = 1 };

/* A trace of who did what, in order -------------------------------------- */

#define TRACERS 6
#define STEPS 25
#define TRACE_LEN (TRACERS * STEPS)

struct trace {
	int n;
	unsigned char who[TRACE_LEN];
	unsigned char picked[TRACE_LEN];	/* select's case, in turn */
	int npicked;
	weft_chan *chan, *a, *b;
	weft_mutex lock;
	int spawned, joined;	/* fibers spawned; weft_join_all's result */
	bool parallel;		/* more than one worker: never block on a
				 * channel, which another tracer may drain */
};

struct tracer_arg {
	struct trace *t;
	unsigned char me;
};

static void *tracer(void *arg)
{
	struct tracer_arg *ta = arg;
	struct trace *t = ta->t;
	int v = 0;

	for (int i = 0; i < STEPS; i++) {
		weft_mutex_lock(&t->lock);
		/* Who holds the lock, in turn, is the trace. */
		t->who[t->n++] = ta->me;
		weft_mutex_unlock(&t->lock);
		switch (i % 4) {
		case 0:
			weft_yield();
			break;
		case 3: {
			/* Both cases ready: which one wins is select's
			 * random poll order, which the seed decides too. */
			int x = 1, y = 2, got = 0;
			struct weft_select_case c[2] = {
				{ t->a, WEFT_SELECT_RECV, &got },
				{ t->b, WEFT_SELECT_RECV, &got },
			};

			weft_chan_try_send(t->a, &x);
			weft_chan_try_send(t->b, &y);
			if (weft_select(c, 2, t->parallel ? 0 : WEFT_FOREVER) >= 0) {
				weft_mutex_lock(&t->lock);
				t->picked[t->npicked++] = (unsigned char)got;
				weft_mutex_unlock(&t->lock);
			}
			weft_chan_try_recv(t->a, &x);
			weft_chan_try_recv(t->b, &y);
			break;
		}
		case 1:
			if (t->parallel)
				weft_chan_try_send(t->chan, &v);
			else
				weft_chan_send(t->chan, &v);
			break;
		default:
			if (t->parallel)
				weft_chan_try_recv(t->chan, &v);
			else
				weft_chan_recv(t->chan, &v);
		}
	}
	return NULL;
}

static void trace_main(void *arg)
{
	struct trace *t = arg;
	struct tracer_arg ta[TRACERS];
	weft_fiber *f[TRACERS];

	if (weft_chan_new(&t->chan, sizeof(int), 64) ||
	    weft_chan_new(&t->a, sizeof(int), 1) ||
	    weft_chan_new(&t->b, sizeof(int), 1))
		return;
	for (int i = 0; i < TRACERS; i++) {
		ta[i] = (struct tracer_arg){ t, (unsigned char)('a' + i) };
		if (weft_spawn(&f[i], tracer, &ta[i], NULL) == 0)
			t->spawned++;
	}
	t->joined = weft_join_all(f, (size_t)t->spawned, NULL);
	weft_chan_free(t->chan);
	weft_chan_free(t->a);
	weft_chan_free(t->b);
}

static void trace_with_seed(const char *seed, struct trace *t)
{
	memset(t, 0, sizeof(*t));
	weft_mutex_init(&t->lock);
	if (seed)
		setenv("WEFT_CHAOS", seed, 1);
	else
		unsetenv("WEFT_CHAOS");
	assert_int_equal(weft_run(&one, trace_main, t), 0);
	unsetenv("WEFT_CHAOS");
	assert_int_equal(t->spawned, TRACERS);
	assert_int_equal(t->joined, 0);
	assert_int_equal(t->n, TRACE_LEN);
}

static void test_same_seed_same_interleaving(void **state)
{
	static struct trace a, b, c, plain;
	int differ = 0;

	(void)state;
	watchdog_arm(__func__, 60);
	trace_with_seed(NULL, &plain);
	trace_with_seed("12345", &a);
	for (int run = 0; run < 5; run++) {
		trace_with_seed("12345", &b);
		assert_memory_equal(a.who, b.who, TRACE_LEN);
		assert_int_equal(a.npicked, b.npicked);
		assert_memory_equal(a.picked, b.picked, (size_t)a.npicked);
	}
	/* Other seeds, other interleavings (and unlike the plain one). */
	for (int s = 1; s <= 5; s++) {
		char seed[8];

		snprintf(seed, sizeof(seed), "%d", s);
		trace_with_seed(seed, &c);
		differ += memcmp(a.who, c.who, TRACE_LEN) != 0;
	}
	assert_true(differ >= 4);
	assert_true(memcmp(a.who, plain.who, TRACE_LEN) != 0);
	watchdog_disarm();
}

/*
 * With two workers chaos explores without the promise: every run is
 * still right (each tracer takes its every turn) and the seeds between
 * them give more than one interleaving. The tracers' channel calls do
 * not wait here: in parallel, one tracer may drain what another's
 * blocking receive or select was counting on.
 */
static void test_two_workers_explore(void **state)
{
	static struct weft_config two = { .workers = 2 };
	static struct trace t, first;
	int distinct = 0;

	(void)state;
	watchdog_arm(__func__, 60);
	for (int s = 1; s <= 8; s++) {
		char seed[8];

		snprintf(seed, sizeof(seed), "%d", s);
		memset(&t, 0, sizeof(t));
		weft_mutex_init(&t.lock);
		t.parallel = true;
		setenv("WEFT_CHAOS", seed, 1);
		assert_int_equal(weft_run(&two, trace_main, &t), 0);
		unsetenv("WEFT_CHAOS");
		assert_int_equal(t.spawned, TRACERS);
		assert_int_equal(t.joined, 0);
		assert_int_equal(t.n, TRACE_LEN);
		for (int who = 0; who < TRACERS; who++) {
			int turns = 0;

			for (int i = 0; i < TRACE_LEN; i++)
				turns += t.who[i] == 'a' + who;
			assert_int_equal(turns, STEPS);
		}
		if (s == 1)
			first = t;
		else
			distinct += memcmp(first.who, t.who, TRACE_LEN) != 0;
	}
	assert_true(distinct >= 1);
	watchdog_disarm();
}

/* The same trace, from the flight recorder ---------------------------- */

/*
 * The run's WEFT_TRACE file reduced to what the schedule decides: for
 * every event of worker 0, in order, its kind and its name, with each
 * fiber id renumbered by first appearance (ids are not reused across
 * runs in one process) and without times. The monitor's track (tid 1)
 * records stalls, which depend on the clock, and is left out.
 */
#define SHAPE_MAX (1 << 20)

static size_t trace_shape(const char *path, char *out, size_t cap)
{
	uint64_t ids[TRACERS * 4 + 8];
	size_t nids = 0, len = 0;
	char line[512];
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		const char *ph = strstr(line, "\"ph\":\""), *name, *p;

		if (!ph || ph[6] == 'M' || !strstr(line, "\"tid\":0,"))
			continue;
		name = strstr(line, "\"name\":\"");
		assert_non_null(name);
		assert_true(len + 2 < cap);
		out[len++] = ph[6];
		for (p = name + 8; *p && *p != '"'; p++) {
			if (strncmp(p, "fiber ", 6) == 0 && p[6] >= '0' &&
			    p[6] <= '9') {
				uint64_t id = strtoull(p + 6, (char **)&p, 10);
				size_t k;

				for (k = 0; k < nids && ids[k] != id; k++)
					;
				if (k == nids) {
					assert_true(nids < sizeof(ids) / sizeof(*ids));
					ids[nids++] = id;
				}
				len += (size_t)snprintf(out + len, cap - len,
							"F%zu", k);
				assert_true(len + 2 < cap);
				p--;
				continue;
			}
			out[len++] = *p;
			assert_true(len + 2 < cap);
		}
		out[len++] = '\n';
	}
	fclose(f);
	out[len] = '\0';
	return len;
}

static size_t traced_shape(const char *seed, char *out, size_t cap)
{
	static struct trace t;
	char path[] = "/tmp/weft-chaos-trace-XXXXXX";
	int fd = mkstemp(path);
	size_t len;

	assert_true(fd >= 0);
	close(fd);
	setenv("WEFT_TRACE", path, 1);
	trace_with_seed(seed, &t);
	unsetenv("WEFT_TRACE");
	len = trace_shape(path, out, cap);
	unlink(path);
	return len;
}

static void test_same_seed_same_flight_recorder_trace(void **state)
{
	static char a[SHAPE_MAX], b[SHAPE_MAX], c[SHAPE_MAX];
	size_t la, lines = 0;

	(void)state;
	watchdog_arm(__func__, 60);
	la = traced_shape("12345", a, sizeof(a));
	for (size_t i = 0; i < la; i++)
		lines += a[i] == '\n';
	/* Every spawn, run slices of every tracer, the joins' parks. */
	assert_true(lines > 4 * TRACERS);
	assert_non_null(strstr(a, "spawn F"));
	assert_non_null(strstr(a, "park: "));
	for (int run = 0; run < 3; run++) {
		traced_shape("12345", b, sizeof(b));
		assert_string_equal(a, b);
	}
	/* The comparison can fail: another seed, another schedule. */
	traced_shape("54321", c, sizeof(c));
	assert_true(strcmp(a, c) != 0);
	watchdog_disarm();
}

/* A deliberate race --------------------------------------------------- */

/*
 * Two buyers and one item: each checks the stock, logs the sale on a
 * buffered channel (which never blocks), and then takes the item. The
 * check and the act are apart by one yield point; a plain run on one
 * worker never switches there, so it never oversells; chaos mode may.
 */
struct shop {
	int stock, sold;
	weft_chan *log;
};

static void *buyer(void *arg)
{
	struct shop *s = arg;
	int id = 1;

	if (s->stock > 0) {
		weft_chan_send(s->log, &id);
		s->stock--;
		s->sold++;
	}
	return NULL;
}

static void shop_main(void *arg)
{
	struct shop *s = arg;
	weft_fiber *f[2];

	if (weft_chan_new(&s->log, sizeof(int), 8))
		return;
	weft_spawn(&f[0], buyer, s, NULL);
	weft_spawn(&f[1], buyer, s, NULL);
	weft_join_all(f, 2, NULL);
	weft_chan_free(s->log);
}

static int sold_with_seed(const char *seed)
{
	struct shop s = { .stock = 1 };

	if (seed)
		setenv("WEFT_CHAOS", seed, 1);
	else
		unsetenv("WEFT_CHAOS");
	assert_int_equal(weft_run(&one, shop_main, &s), 0);
	unsetenv("WEFT_CHAOS");
	return s.sold;
}

static void test_chaos_finds_the_race_and_its_seed_replays_it(void **state)
{
	char seed[16];
	int found = 0;

	(void)state;
	watchdog_arm(__func__, 60);
	for (int i = 0; i < 200; i++)
		assert_int_equal(sold_with_seed(NULL), 1);
	for (int s = 1; s <= 64 && !found; s++) {
		snprintf(seed, sizeof(seed), "%d", s);
		if (sold_with_seed(seed) == 2)
			found = s;
	}
	print_message("chaos oversold with WEFT_CHAOS=%d\n", found);
	assert_true(found > 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(sold_with_seed(seed), 2);
	watchdog_disarm();
}

/* The seed on failure ----------------------------------------------------- */

static void yield_main(void *arg)
{
	(void)arg;
	weft_yield();
}

static void exits_with(void *arg)
{
	setenv("WEFT_CHAOS", "777", 1);
	weft_run(&one, yield_main, NULL);
	exit((int)(intptr_t)arg);
}

static void bad_seed(void *arg)
{
	(void)arg;
	setenv("WEFT_CHAOS", "7x", 1);
	weft_run(&one, yield_main, NULL);
	exit(3);
}

static void config_seed(void *arg)
{
	struct weft_config c = { .size = sizeof(c), .workers = 1,
				 .chaos_seed = 4242 };

	(void)arg;
	unsetenv("WEFT_CHAOS");
	weft_run(&c, yield_main, NULL);
	exit(3);
}

static void test_failing_run_prints_its_seed(void **state)
{
	char out[1024];
	int status;

	(void)state;
	watchdog_arm(__func__, 30);
	status = run_in_child(exits_with, (void *)(intptr_t)3, out, sizeof(out));
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 3);
	assert_non_null(strstr(out, "weft: chaos seed 777: WEFT_CHAOS=777 "
				    "replays this schedule\n"));
	status = run_in_child(exits_with, (void *)(intptr_t)0, out, sizeof(out));
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_null(strstr(out, "chaos seed"));
	/* A bad value is named and ignored: no seed to print. */
	status = run_in_child(bad_seed, NULL, out, sizeof(out));
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 3);
	assert_non_null(strstr(out, "WEFT_CHAOS=7x is not a number"));
	assert_null(strstr(out, "chaos seed"));
	/* The config's seed, without the variable. */
	status = run_in_child(config_seed, NULL, out, sizeof(out));
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 3);
	assert_non_null(strstr(out, "weft: chaos seed 4242: WEFT_CHAOS=4242 "));
	watchdog_disarm();
}

/* I/O faults (WEFT_CHAOS_IO) ---------------------------------------------- */

struct faults {
	ssize_t short_write, moved;
	int intact, reset, nospc, plain_write;
	int64_t delayed_ns;
};

static void *pipe_reader(void *arg)
{
	int fd = (int)(intptr_t)arg;
	static char got[8192];
	ssize_t n = weft_read_full(fd, got, sizeof(got));

	for (ssize_t i = 0; i < n; i++)
		if (got[i] != (char)(i * 7))
			return (void *)(intptr_t)-1;
	return (void *)(intptr_t)n;
}

static void short_main(void *arg)
{
	struct faults *f = arg;
	static char buf[8192];
	weft_fiber *r;
	void *res;
	int p[2];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7);
	if (pipe(p))
		return;
	weft_spawn(&r, pipe_reader, (void *)(intptr_t)p[0], NULL);
	f->short_write = weft_write(p[1], buf, 100);
	/* The rest, through short writes and reads, must still arrive
	 * whole: weft_write_all and weft_read_full loop. */
	f->moved = f->short_write +
		   weft_write_all(p[1], buf + f->short_write,
				  sizeof(buf) - (size_t)f->short_write);
	weft_close(p[1]);
	weft_join(r, &res);
	f->intact = (intptr_t)res == (intptr_t)sizeof(buf);
	weft_close(p[0]);
}

static void errors_main(void *arg)
{
	struct faults *f = arg;
	char path[] = "/tmp/weft-chaos-XXXXXX";
	int sv[2], fd = mkstemp(path);
	int64_t t0;

	unlink(path);
	if (fd < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return;
	f->reset = (int)weft_send(sv[0], "x", 1, 0);
	f->nospc = (int)weft_write(fd, "x", 1);
	t0 = weft_now_ns();
	for (int i = 0; i < 20; i++)
		weft_pread(fd, path, 1, 0);
	f->delayed_ns = weft_now_ns() - t0;
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

static void plain_main(void *arg)
{
	struct faults *f = arg;
	int p[2];

	if (pipe(p))
		return;
	f->plain_write = (int)weft_write(p[1], "0123456789", 10);
	close(p[0]);
	close(p[1]);
}

static void test_io_faults_reach_the_calls(void **state)
{
	struct faults f = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	setenv("WEFT_CHAOS", "3", 1);
	setenv("WEFT_CHAOS_IO", "short=1", 1);
	assert_int_equal(weft_run(&one, short_main, &f), 0);
	assert_true(f.short_write >= 1 && f.short_write < 100);
	assert_int_equal(f.moved, 8192);
	assert_true(f.intact);

	setenv("WEFT_CHAOS_IO", "reset=1,nospc=1,delay=1", 1);
	assert_int_equal(weft_run(&one, errors_main, &f), 0);
	assert_int_equal(f.reset, -ECONNRESET);
	assert_int_equal(f.nospc, -ENOSPC);
	/* 20 delays of up to 1 ms each. */
	assert_true(f.delayed_ns > 1000000);

	/* Without a seed the list does nothing. */
	unsetenv("WEFT_CHAOS");
	assert_int_equal(weft_run(&one, plain_main, &f), 0);
	assert_int_equal(f.plain_write, 10);
	unsetenv("WEFT_CHAOS_IO");
	watchdog_disarm();
}

/*
 * A delay reaches every weft_* I/O call: each is made DELAY_CALLS times
 * with WEFT_CHAOS_IO=delay=1, whose delays are up to a millisecond each,
 * and must take more than a millisecond in all (ten uniform delays sum
 * to less with a chance of 3 in ten million). The calls' results do not
 * matter here, only that each went through the fault point.
 */
#define DELAY_CALLS 10

enum { D_READ, D_WRITE, D_PREAD, D_PWRITE, D_READV, D_WRITEV, D_RECV,
       D_SEND, D_ACCEPT, D_CONNECT, D_OPENAT, D_CLOSE, D_FSYNC, D_SHUTDOWN,
       D_SENDFILE, D_POLL, D_COUNT };

static const char *const delay_names[D_COUNT] = {
	"read", "write", "pread", "pwrite", "readv", "writev", "recv", "send",
	"accept", "connect", "openat", "close", "fsync", "shutdown",
	"sendfile", "poll",
};

struct delays {
	int64_t ns[D_COUNT];
	int setup_failed;
};

static void delays_main(void *arg)
{
	struct delays *d = arg;
	char path[] = "/tmp/weft-chaos-delay-XXXXXX", buf[16] = "0123456789";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct iovec iov = { buf, 1 };
	int p[2], sv[2], sh[2], file, lis, fds[DELAY_CALLS];
	socklen_t sa_len;

	file = mkstemp(path);
	unlink(path);
	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1,
		 "weft-chaos-delay-%d", (int)getpid());
	sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
			     strlen(sa.sun_path + 1));
	lis = socket(AF_UNIX, SOCK_STREAM, 0);
	if (file < 0 || pipe(p) || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sh) ||
	    lis < 0 || bind(lis, (struct sockaddr *)&sa, sa_len) ||
	    listen(lis, 2 * DELAY_CALLS) ||
	    write(file, buf, sizeof(buf)) != (ssize_t)sizeof(buf) ||
	    write(p[1], buf, sizeof(buf)) != (ssize_t)sizeof(buf) ||
	    write(sv[1], buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
		d->setup_failed = 1;
		return;
	}
	for (int i = 0; i < DELAY_CALLS; i++) {
		int c = socket(AF_UNIX, SOCK_STREAM, 0);

		if (c < 0 || connect(c, (struct sockaddr *)&sa, sa_len)) {
			d->setup_failed = 1;
			return;
		}
		fds[i] = c;
	}
	for (int k = 0; k < D_COUNT; k++) {
		int64_t t0 = weft_now_ns();

		for (int i = 0; i < DELAY_CALLS; i++) {
			switch (k) {
			case D_READ: weft_read(p[0], buf, 1); break;
			case D_WRITE: weft_write(p[1], buf, 1); break;
			case D_PREAD: weft_pread(file, buf, 1, 0); break;
			case D_PWRITE: weft_pwrite(file, buf, 1, 0); break;
			case D_READV: weft_readv(file, &iov, 1, 0); break;
			case D_WRITEV: weft_writev(file, &iov, 1, 0); break;
			case D_RECV: weft_recv(sv[0], buf, 1, 0); break;
			case D_SEND: weft_send(sv[0], buf, 1, 0); break;
			case D_ACCEPT: {
				int a = weft_accept(lis, NULL, NULL, 0);

				if (a >= 0)
					close(a);
				close(fds[i]);
				break;
			}
			case D_CONNECT: {
				int c = socket(AF_UNIX, SOCK_STREAM, 0);

				weft_connect(c, (struct sockaddr *)&sa, sa_len);
				fds[i] = c;
				break;
			}
			case D_OPENAT:
				fds[i] = weft_openat(AT_FDCWD, "/dev/null",
						     O_RDONLY, 0);
				break;
			case D_CLOSE: weft_close(fds[i]); break;
			case D_FSYNC: weft_fsync(file); break;
			/* A pair of its own: a send to a peer that shut
			 * its reading side would raise SIGPIPE. */
			case D_SHUTDOWN: weft_shutdown(sh[1], SHUT_RD); break;
			case D_SENDFILE: weft_sendfile(sv[0], file, 0, 1); break;
			case D_POLL: weft_poll(p[0], POLLIN, 0); break;
			}
		}
		d->ns[k] = weft_now_ns() - t0;
	}
	close(file);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	close(sh[0]);
	close(sh[1]);
	close(lis);
}

static void test_io_delays_reach_every_call(void **state)
{
	struct delays d = { 0 };

	(void)state;
	watchdog_arm(__func__, 60);
	setenv("WEFT_CHAOS", "5", 1);
	setenv("WEFT_CHAOS_IO", "delay=1", 1);
	assert_int_equal(weft_run(&one, delays_main, &d), 0);
	unsetenv("WEFT_CHAOS_IO");
	unsetenv("WEFT_CHAOS");
	assert_false(d.setup_failed);
	for (int k = 0; k < D_COUNT; k++) {
		if (d.ns[k] <= 1000000)
			print_message("weft_%s: %d calls took %lld ns\n",
				      delay_names[k], DELAY_CALLS,
				      (long long)d.ns[k]);
		assert_true(d.ns[k] > 1000000);
	}
	watchdog_disarm();
}

static void bad_io_list(void *arg)
{
	struct faults f = { 0 };

	(void)arg;
	setenv("WEFT_CHAOS", "3", 1);
	setenv("WEFT_CHAOS_IO", "short=2", 1);
	weft_run(&one, plain_main, &f);
	exit(f.plain_write == 10 ? 0 : 1);
}

static void test_bad_io_fault_list_is_named_and_ignored(void **state)
{
	char out[1024];
	int status;

	(void)state;
	status = run_in_child(bad_io_list, NULL, out, sizeof(out));
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_non_null(strstr(out, "WEFT_CHAOS_IO=short=2 is not a list"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_seed_same_interleaving),
		cmocka_unit_test(test_two_workers_explore),
		cmocka_unit_test(test_same_seed_same_flight_recorder_trace),
		cmocka_unit_test(test_chaos_finds_the_race_and_its_seed_replays_it),
		cmocka_unit_test(test_failing_run_prints_its_seed),
		cmocka_unit_test(test_io_faults_reach_the_calls),
		cmocka_unit_test(test_io_delays_reach_every_call),
		cmocka_unit_test(test_bad_io_fault_list_is_named_and_ignored),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
