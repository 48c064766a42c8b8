/* SPDX-License-Identifier: MIT */
/*
 * weft-load: a TCP request/response load generator on weft.
 *
 *	weft-load --port P [--conns C] [--size S] [--seconds T] [--workers N]
 *
 * It opens C connections to 127.0.0.1:P (default 100), one fiber each,
 * and once all are established every connection does round trips for T
 * seconds (default 3): write S bytes (default 64), read S bytes back and
 * check them byte for byte. It prints one line on stdout,
 *
 *	conns=C size=S seconds=T round_trips=N late=L rps=X p50_us=A
 *	p99_us=B p999_us=D errors=E mismatches=M connect_failures=F
 *	cpu_pct=U
 *
 * (as one line; N counts the round trips that ended inside the window, L
 * those that were in flight when it closed and were answered after it,
 * at most one per connection; U is the CPU time this process spent in
 * the window, all threads, in percent of one core: near 100 per worker,
 * the client is what limits the rate). It exits 0 if N is not 0 and E, M
 * and F are all 0, else 1, saying why on stderr: a run that served
 * nothing in its window (every answer late, or every connect failed) is
 * a failed run, whatever else it printed. Bad arguments print the usage
 * on stderr and exit 2.
 *
 * Phases. The main fiber spawns the connection fibers with at most
 * MAX_CONNECTING connects in flight, so that 10,000 connections do not
 * overrun a 4,096-entry listen backlog; a connect refused, timed out or
 * short of ports is retried a few times with a growing pause. When every
 * connect has ended, the main fiber opens the measurement window and
 * writes one byte into a pipe, on which every connection fiber has been
 * waiting in weft_poll(): all start at once. A round trip counts if it
 * ends inside the window; the one in flight when the window closes is
 * finished, checked and counted as late, not as a round trip, and any
 * still unfinished GRACE_NS later is cancelled and counted as an error.
 * rps is round trips over T, so late answers never raise it.
 *
 * Messages. Round trip k of connection c sends S bytes from a generator
 * seeded with (c, k), so every message differs from the ones before it
 * and from those of the other connections: an echo of the wrong bytes,
 * or of the right bytes on the wrong connection, is a mismatch. A
 * connection stops at its first error or mismatch.
 *
 * Latency. Each round trip's time, in nanoseconds from weft_now_ns(), is
 * counted in a log-linear histogram: exact below 64 ns, then 64 buckets
 * per power of two, so a bucket's midpoint is within 1/128 of any value
 * in it. There is one histogram per worker rather than per fiber, since
 * 10,000 fibers with a 30 KiB histogram each would weigh 300 MB: a fiber
 * reads its worker's id and increments that worker's histogram with no
 * yield point in between, so only that worker's thread ever writes it.
 * The main fiber merges them after joining every connection fiber.
 *
 * Threads: main() runs on the thread that becomes worker 0; every other
 * function here runs in a fiber, on whichever worker runs it. Counters
 * shared between fibers are updated with __atomic builtins, as each one
 * says.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <weft.h>

#define MS 1000000ull
#define SEC 1000000000ull

/* Connects in flight at once, at most. */
#define MAX_CONNECTING 500u
/* Attempts per connection, and how long each may take. */
#define CONNECT_TRIES 6
#define CONNECT_TIMEOUT_NS (5 * SEC)
/* Pause after the first failed attempt; doubled after each further one. */
#define CONNECT_BACKOFF_NS (20 * MS)
/* How long after the window the last round trips may take to finish. */
#define GRACE_NS (5 * SEC)
/* At most this many errors are described on stderr. */
#define MAX_REPORTS 5u

#define MAX_CONNS 1000000ul
#define MAX_SIZE (16ul << 20)
#define MAX_SECONDS 86400ul

/* The histogram: exact below HIST_SUB, then HIST_SUB buckets per octave. */
#define HIST_SUB_BITS 6
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS (HIST_SUB + (64 - HIST_SUB_BITS) * HIST_SUB)

/* One worker's latencies. Written only by that worker's thread. */
struct hist {
	uint64_t count[HIST_BUCKETS];
} __attribute__((aligned(64)));

struct load;

/* One connection. Written by its fiber; read by the main fiber after join. */
struct conn {
	struct load *ld;	/* the run this connection belongs to      */
	weft_fiber *fiber;	/* NULL if it could not be spawned         */
	uint32_t id;		/* index, seeds the messages               */
	bool connect_failed;	/* gave up connecting                      */
	bool mismatch;		/* an echo differed from what was sent     */
	bool error;		/* an I/O error, EOF or stall in the window */
	bool late;		/* its last round trip ended after the window */
	uint64_t round_trips;	/* round trips ended inside the window     */
};

/* One run. The fields above "Shared" are set before any fiber reads them. */
struct load {
	unsigned long conns;	 /* C                                      */
	unsigned long size;	 /* S, bytes per message                   */
	unsigned long seconds;	 /* T, the window                          */
	struct sockaddr_in addr; /* 127.0.0.1:P                            */
	int start_pipe[2];	 /* readable once the window opens         */
	unsigned nr_hists;	 /* one per worker                         */
	struct hist *hists;	 /* nr_hists of them                       */
	struct conn *conn;	 /* conns of them                          */

	/* Shared between fibers, through __atomic builtins. */
	unsigned connecting;	 /* connects in flight; relaxed            */
	unsigned long connected; /* connects ended, either way; relaxed    */
	unsigned long finished;	 /* connection fibers ended; relaxed       */
	uint64_t end_ns;	 /* window end; released before the pipe   */
	unsigned reports;	 /* errors described so far; relaxed       */

	/* The main fiber's only. */
	uint64_t cpu_start_ns;	 /* process CPU time when the window opened */
	uint64_t cpu_window_ns;	 /* process CPU time spent in the window    */
	int status;		 /* exit status; 1 until summarize() passes */
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: weft-load --port P [--conns C] [--size S] "
		"[--seconds T] [--workers N]\n"
		"  --port P     connect to 127.0.0.1:P (1 to 65535; required)\n"
		"  --conns C    connections (default 100; 1 to %lu)\n"
		"  --size S     bytes per message (default 64; 1 to %lu)\n"
		"  --seconds T  seconds to measure (default 3; 1 to %lu)\n"
		"  --workers N  worker threads (default 0: one per CPU; "
		"at most %u)\n",
		MAX_CONNS, MAX_SIZE, MAX_SECONDS, WEFT_WORKERS_MAX);
}

/* Parse a whole decimal number in [@min, @max] into *out. */
static bool parse_ulong(const char *s, unsigned long min, unsigned long max,
			unsigned long *out)
{
	unsigned long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* Describe one error on stderr, for the first MAX_REPORTS of them. */
static void report(struct conn *c, const char *what, long err)
{
	/* Relaxed: only bounds how much is printed. */
	if (__atomic_fetch_add(&c->ld->reports, 1, __ATOMIC_RELAXED) >=
	    MAX_REPORTS)
		return;
	if (err < 0)
		fprintf(stderr, "weft-load: connection %u: %s: %s\n", c->id,
			what, strerror((int)-err));
	else
		fprintf(stderr, "weft-load: connection %u: %s\n", c->id, what);
}

/* Histogram ---------------------------------------------------------- */

static unsigned hist_bucket(uint64_t v)
{
	unsigned e;

	if (v < HIST_SUB)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	return HIST_SUB + (e - HIST_SUB_BITS) * HIST_SUB +
	       (unsigned)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

/* The midpoint of bucket @b, in nanoseconds. */
static double hist_value(unsigned b)
{
	unsigned shift, sub;
	uint64_t lo;

	if (b < HIST_SUB)
		return b;
	shift = (b - HIST_SUB) / HIST_SUB;
	sub = (b - HIST_SUB) % HIST_SUB;
	lo = (uint64_t)(HIST_SUB + sub) << shift;
	return (double)lo + (double)((1ull << shift) - 1) / 2.0;
}

/*
 * Count one round trip of @ns. No yield point between reading the worker
 * id and the increment: only this worker's thread writes its histogram.
 */
static void hist_record(struct load *ld, uint64_t ns)
{
	unsigned w = weft_worker_id();

	if (w < ld->nr_hists)
		ld->hists[w].count[hist_bucket(ns)]++;
}

/* The value at quantile @q of @h (holding @n counts), in microseconds. */
static double hist_quantile_us(const struct hist *h, uint64_t n, double q)
{
	uint64_t rank = (uint64_t)(q * (double)n + 0.999999);
	uint64_t seen = 0;
	unsigned b;

	if (n == 0)
		return 0.0;
	if (rank < 1)
		rank = 1;
	for (b = 0; b < HIST_BUCKETS; b++) {
		seen += h->count[b];
		if (seen >= rank)
			return hist_value(b) / 1000.0;
	}
	return hist_value(HIST_BUCKETS - 1) / 1000.0;
}

/* Connections -------------------------------------------------------- */

/* splitmix64: a good 64-bit mix, so that nearby seeds differ everywhere. */
static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Fill @buf with the message of round trip @k on connection @id. */
static void fill_message(unsigned char *buf, size_t len, uint32_t id,
			 uint64_t k)
{
	uint64_t s = mix64(((uint64_t)id << 40) ^ k);
	size_t i;

	for (i = 0; i < len; i += 8) {
		size_t n = len - i < 8 ? len - i : 8;

		s = mix64(s);
		memcpy(buf + i, &s, n);
	}
}

static bool connect_err_is_transient(int err)
{
	return err == -ECONNREFUSED || err == -EAGAIN || err == -ETIMEDOUT ||
	       err == -EADDRNOTAVAIL || err == -ECONNRESET || err == -EINTR;
}

/*
 * Connect to the server, retrying transient failures with a growing
 * pause. Returns the socket or a negative errno. Yield point.
 */
static int connect_retry(struct conn *c)
{
	struct load *ld = c->ld;
	uint64_t pause_ns = CONNECT_BACKOFF_NS;
	int one = 1;
	int tries, fd, err = 0;

	for (tries = 0; tries < CONNECT_TRIES; tries++) {
		int64_t old;

		if (tries) {
			if (weft_sleep_ns(pause_ns) == -ECANCELED)
				return -ECANCELED;
			pause_ns *= 2;
		}
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			/* Read errno at once: this fiber may migrate. */
			err = -errno;
			if (err == -ENOBUFS || err == -ENOMEM)
				continue;
			return err;
		}
		old = weft_set_deadline((int64_t)(weft_now_ns() +
						  CONNECT_TIMEOUT_NS));
		err = weft_connect(fd, (struct sockaddr *)&ld->addr,
				   sizeof(ld->addr));
		weft_set_deadline(old);
		if (err == 0) {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				   sizeof(one));
			return fd;
		}
		weft_close(fd);
		if (!connect_err_is_transient(err))
			return err;
	}
	return err;
}

/*
 * Round trips on the connected socket @fd until the window closes, the
 * first error or mismatch, or cancellation.
 */
static void run_round_trips(struct conn *c, int fd, uint64_t end_ns)
{
	struct load *ld = c->ld;
	size_t size = ld->size;
	unsigned char *tx, *rx;
	uint64_t k;

	tx = malloc(2 * size);
	if (!tx) {
		report(c, "out of memory for buffers", 0);
		c->error = true;
		return;
	}
	rx = tx + size;
	for (k = 0;; k++) {
		uint64_t t0, t1;
		ssize_t n;

		fill_message(tx, size, c->id, k);
		t0 = weft_now_ns();
		if (t0 >= end_ns)
			break;
		n = weft_write_all(fd, tx, size);
		if (n < 0) {
			report(c, "write", n);
			c->error = true;
			break;
		}
		n = weft_read_full(fd, rx, size);
		if (n == -ECANCELED) {
			report(c, "no echo within the grace period", 0);
			c->error = true;
			break;
		}
		if (n != (ssize_t)size) {
			report(c, n < 0 ? "read" : "end of file mid-message",
			       n < 0 ? n : 0);
			c->error = true;
			break;
		}
		t1 = weft_now_ns();
		if (memcmp(tx, rx, size)) {
			report(c, "echo differs from the message sent", 0);
			c->mismatch = true;
			break;
		}
		if (t1 > end_ns) {
			/* Answered, but too late to count: say so, since a
			 * server that only ever answers late has served
			 * nothing in the window. */
			c->late = true;
			break;
		}
		hist_record(ld, t1 - t0);
		c->round_trips++;
	}
	free(tx);
}

/*
 * One connection's fiber: connect, wait for the window to open, run round
 * trips in it, close. @arg is its struct conn.
 */
static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct load *ld = c->ld;
	uint64_t end_ns;
	int fd, r;

	fd = connect_retry(c);
	/*
	 * Relaxed, these three counters: they only pace the main fiber
	 * and tell it when to go on; it reads the connection's results
	 * after joining the fiber, and the join orders those.
	 */
	__atomic_fetch_sub(&ld->connecting, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&ld->connected, 1, __ATOMIC_RELAXED);
	if (fd < 0) {
		report(c, "connect", fd);
		c->connect_failed = true;
		__atomic_fetch_add(&ld->finished, 1, __ATOMIC_RELAXED);
		return NULL;
	}

	do
		r = weft_poll(ld->start_pipe[0], POLLIN, WEFT_FOREVER);
	while (r == -EINTR);
	if (r < 0) {
		report(c, "waiting for the start", r);
		c->error = true;
	} else {
		/* Pairs with the release store in open_window(). */
		end_ns = __atomic_load_n(&ld->end_ns, __ATOMIC_ACQUIRE);
		run_round_trips(c, fd, end_ns);
	}
	weft_close(fd);
	__atomic_fetch_add(&ld->finished, 1, __ATOMIC_RELAXED);
	return NULL;
}

/* The run ------------------------------------------------------------ */

/* Sleep until every spawned connection fiber has finished connecting. */
static void wait_connected(struct load *ld, unsigned long spawned)
{
	/* Relaxed: see conn_main(). */
	while (__atomic_load_n(&ld->connected, __ATOMIC_RELAXED) < spawned)
		weft_sleep_ns(1 * MS);
}

/* Spawn the connection fibers; returns how many were spawned. */
static unsigned long spawn_conns(struct load *ld)
{
	struct weft_spawn_opts opts = { .name = "conn" };
	unsigned long i, spawned = 0;

	for (i = 0; i < ld->conns; i++) {
		struct conn *c = &ld->conn[i];
		int err;

		c->ld = ld;
		c->id = (uint32_t)i;
		/* Relaxed: a pace, not a synchronisation. */
		while (__atomic_load_n(&ld->connecting, __ATOMIC_RELAXED) >=
		       MAX_CONNECTING)
			weft_sleep_ns(MS / 5);
		__atomic_fetch_add(&ld->connecting, 1, __ATOMIC_RELAXED);
		err = weft_spawn(&c->fiber, conn_main, c, &opts);
		if (err) {
			__atomic_fetch_sub(&ld->connecting, 1,
					   __ATOMIC_RELAXED);
			c->fiber = NULL;
			c->connect_failed = true;
			report(c, "spawn", err);
			continue;
		}
		spawned++;
	}
	return spawned;
}

/* CPU time of this process so far, every thread, user and system. */
static uint64_t cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * SEC +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* Open the window: set its end, then let every connection fiber go. */
static int open_window(struct load *ld)
{
	uint64_t end_ns = weft_now_ns() + ld->seconds * SEC;
	ssize_t n;

	ld->cpu_start_ns = cpu_ns();
	/* Release: the end before the byte that lets readers look at it.
	 * Pairs with the acquire load in conn_main(). */
	__atomic_store_n(&ld->end_ns, end_ns, __ATOMIC_RELEASE);
	n = weft_write(ld->start_pipe[1], "g", 1);
	return n == 1 ? 0 : (n < 0 ? (int)n : -EIO);
}

/*
 * Wait for the window to close and its last round trips to end; cancel
 * the connection fibers still busy GRACE_NS later, then join them all.
 */
static void finish(struct load *ld, unsigned long spawned)
{
	/* Relaxed: this fiber stored it. */
	uint64_t end_ns = __atomic_load_n(&ld->end_ns, __ATOMIC_RELAXED);
	unsigned long i;

	weft_sleep_until((int64_t)end_ns);
	ld->cpu_window_ns = cpu_ns() - ld->cpu_start_ns;
	/* Joins ignore deadlines, so watch the count of finished fibers. */
	while (__atomic_load_n(&ld->finished, __ATOMIC_RELAXED) < spawned &&
	       (uint64_t)weft_now_ns() < end_ns + GRACE_NS)
		weft_sleep_ns(1 * MS);
	if (__atomic_load_n(&ld->finished, __ATOMIC_RELAXED) < spawned)
		for (i = 0; i < ld->conns; i++)
			if (ld->conn[i].fiber)
				weft_cancel(ld->conn[i].fiber);
	for (i = 0; i < ld->conns; i++)
		if (ld->conn[i].fiber)
			weft_join(ld->conn[i].fiber, NULL);
}

/*
 * Sum the connections and the histograms and print the summary line.
 * Returns the exit status: 0 only if round trips ended inside the window
 * and nothing went wrong. A run with no round trip in its window is a
 * failure even with no error counted (every answer came late), and a
 * summary that could not be written is one too: the scripts reading it
 * would find nothing.
 */
static int summarize(struct load *ld)
{
	uint64_t rts = 0, late = 0, errors = 0, mismatches = 0, failures = 0;
	struct hist *h = &ld->hists[0];
	unsigned long i;
	unsigned w, b;
	int status;

	for (i = 0; i < ld->conns; i++) {
		struct conn *c = &ld->conn[i];

		rts += c->round_trips;
		late += c->late;
		errors += c->error;
		mismatches += c->mismatch;
		failures += c->connect_failed;
	}
	for (w = 1; w < ld->nr_hists; w++)
		for (b = 0; b < HIST_BUCKETS; b++)
			h->count[b] += ld->hists[w].count[b];
	printf("conns=%lu size=%lu seconds=%lu round_trips=%llu late=%llu "
	       "rps=%.1f p50_us=%.1f p99_us=%.1f p999_us=%.1f errors=%llu "
	       "mismatches=%llu connect_failures=%llu cpu_pct=%.0f\n",
	       ld->conns, ld->size, ld->seconds, (unsigned long long)rts,
	       (unsigned long long)late, (double)rts / (double)ld->seconds,
	       hist_quantile_us(h, rts, 0.50), hist_quantile_us(h, rts, 0.99),
	       hist_quantile_us(h, rts, 0.999), (unsigned long long)errors,
	       (unsigned long long)mismatches, (unsigned long long)failures,
	       100.0 * (double)ld->cpu_window_ns /
		       (double)(ld->seconds * SEC));
	status = errors || mismatches || failures ? 1 : 0;
	if (failures == ld->conns) {
		fprintf(stderr, "weft-load: no connection was made: all %lu "
			"connects failed\n", ld->conns);
		status = 1;
	} else if (rts == 0) {
		fprintf(stderr, "weft-load: no round trip ended inside the "
			"%lu s window (%llu answered late, %llu connections "
			"with errors, %llu with mismatches, %llu connects "
			"failed)\n", ld->seconds, (unsigned long long)late,
			(unsigned long long)errors,
			(unsigned long long)mismatches,
			(unsigned long long)failures);
		status = 1;
	}
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "weft-load: writing the summary failed\n");
		status = 1;
	}
	return status;
}

/* The main fiber: connect, open the window, collect, print. */
static void load_main(void *arg)
{
	struct load *ld = arg;
	struct weft_stats st = { .size = sizeof(st) };
	unsigned long spawned, i;
	int err;

	err = weft_stats(&st);
	if (err)
		goto out_fail;
	ld->nr_hists = st.workers;
	ld->hists = aligned_alloc(64, st.workers * sizeof(*ld->hists));
	err = -ENOMEM;
	if (!ld->hists)
		goto out_fail;
	memset(ld->hists, 0, st.workers * sizeof(*ld->hists));

	spawned = spawn_conns(ld);
	wait_connected(ld, spawned);
	err = open_window(ld);
	if (err) {
		fprintf(stderr, "weft-load: start pipe: %s\n", strerror(-err));
		/* Nobody will start: end their waits. */
		for (i = 0; i < ld->conns; i++)
			if (ld->conn[i].fiber)
				weft_cancel(ld->conn[i].fiber);
	}
	finish(ld, spawned);
	ld->status = summarize(ld);
	if (err)
		ld->status = 1;
	free(ld->hists);
	return;

out_fail:
	fprintf(stderr, "weft-load: %s\n", strerror(-err));
	ld->status = 1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "conns", required_argument, NULL, 'c' },
		{ "size", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 't' },
		{ "workers", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct load ld = {
		.conns = 100,
		.size = 64,
		.seconds = 3,
		/* Failed until a summary says otherwise. */
		.status = 1,
	};
	struct weft_config cfg = { 0 };
	unsigned long port = 0, workers = 0;
	int c, err;

	while ((c = getopt_long(argc, argv, "p:c:s:t:w:h", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!parse_ulong(optarg, 1, 65535, &port))
				goto bad_usage;
			break;
		case 'c':
			if (!parse_ulong(optarg, 1, MAX_CONNS, &ld.conns))
				goto bad_usage;
			break;
		case 's':
			if (!parse_ulong(optarg, 1, MAX_SIZE, &ld.size))
				goto bad_usage;
			break;
		case 't':
			if (!parse_ulong(optarg, 1, MAX_SECONDS, &ld.seconds))
				goto bad_usage;
			break;
		case 'w':
			if (!parse_ulong(optarg, 0, WEFT_WORKERS_MAX, &workers))
				goto bad_usage;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad_usage;
		}
	}
	if (optind != argc || port == 0)
		goto bad_usage;

	signal(SIGPIPE, SIG_IGN);
	ld.addr.sin_family = AF_INET;
	ld.addr.sin_port = htons((uint16_t)port);
	ld.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ld.conn = calloc(ld.conns, sizeof(*ld.conn));
	if (!ld.conn || pipe2(ld.start_pipe, O_CLOEXEC)) {
		perror("weft-load");
		return 1;
	}

	cfg.workers = (unsigned)workers;
	err = weft_run(&cfg, load_main, &ld);
	if (err) {
		fprintf(stderr, "weft-load: weft_run: %s\n", strerror(-err));
		return 1;
	}
	close(ld.start_pipe[0]);
	close(ld.start_pipe[1]);
	free(ld.conn);
	return ld.status;

bad_usage:
	usage(stderr);
	return 2;
}
