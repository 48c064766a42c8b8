/* SPDX-License-Identifier: MIT */
/*
 * What every fiber is doing, in words: the wait it is parked on (from
 * the wait_kind and wait_arg each wait records before it parks), or the
 * worker it runs on, or that it is ready. One snapshot serves two
 * readers: weft_dump(), for a program that wants to look (any thread,
 * while weft_run runs), and the monitor's shutdown report. The snapshot
 * is racy by design: every field is read with a plain atomic load while
 * the fibers go on running, so a line can be a moment old, never torn
 * memory (fiber records are never unmapped while weft_run runs).
 *
 * WEFT_DUMP_SIGNAL=QUIT (or SIGQUIT, USR1, a number, ...) asks weft_run
 * for a dump on stderr whenever that signal arrives, as Go's SIGQUIT
 * does, except that the program goes on. The signal is blocked in every
 * thread weft_run starts (and in weft_run's own while it runs), so it
 * never interrupts a worker or a fiber's system call; it lands on the
 * dump thread, which unblocks it only inside sigsuspend(). The handler
 * does nothing; sigsuspend() returns and the thread writes the dump, out
 * of signal context, so nothing async-signal-unsafe runs in a handler.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ck_pr.h>

#include "backtrace.h"
#include "dump.h"
#include "fiber.h"
#include "poller.h"
#include "scheduler.h"

/* "waits in weft_mutex_lock on 0x...", and so on, into @buf. */
static void describe_wait(char *buf, size_t cap, unsigned kind, uint64_t arg)
{
	void *p = (void *)(uintptr_t)arg;

	switch (kind & 0xff) {
	case WAIT_JOIN:
		snprintf(buf, cap, "waits in weft_join for fiber %" PRIu64, arg);
		break;
	case WAIT_JOIN_ANY:
		snprintf(buf, cap, "waits in weft_join_any for one of %" PRIu64
			 " fibers", arg);
		break;
	case WAIT_MUTEX:
		snprintf(buf, cap, "waits in weft_mutex_lock for mutex %p, "
			 "which cancellation does not end", p);
		break;
	case WAIT_COND:
		snprintf(buf, cap, "waits in weft_cond_wait on %p", p);
		break;
	case WAIT_WG:
		snprintf(buf, cap, "waits in weft_wg_wait on %p", p);
		break;
	case WAIT_SCOPE:
		snprintf(buf, cap, "waits in weft_scope_run for the fibers "
			 "of scope %p", p);
		break;
	case WAIT_SEM:
		snprintf(buf, cap, "waits in weft_sem_wait on %p", p);
		break;
	case WAIT_CHAN_SEND:
		snprintf(buf, cap, "waits to send on channel %p", p);
		break;
	case WAIT_CHAN_RECV:
		snprintf(buf, cap, "waits to receive on channel %p", p);
		break;
	case WAIT_SELECT:
		snprintf(buf, cap, "waits in weft_select over %" PRIu64
			 " cases", arg);
		break;
	case WAIT_SLEEP:
		if ((int64_t)arg == INT64_MAX)
			snprintf(buf, cap, "sleeps without limit");
		else
			snprintf(buf, cap, "sleeps, %" PRId64 " ms left",
				 ((int64_t)arg - weft_now_ns()) /
					 1000000);
		break;
	case WAIT_IO:
		snprintf(buf, cap, "waits for a %s on fd %d",
			 weft__io_op_name((kind >> 8) & 0xff), (int)arg);
		break;
	case WAIT_BLOCKING:
		snprintf(buf, cap, "waits for a weft_blocking() call of %p to "
			 "return, which cancellation does not end", p);
		break;
	default:
		snprintf(buf, cap, "is parked, on a wait weft does not name");
		break;
	}
}

/* The worker @f is running on right now, or -1 (a racy snapshot). */
static int running_on(const struct fiber *f)
{
	struct sched *s = &weft__sched;

	for (unsigned i = 0; i < s->nr_workers; i++)
		if (ck_pr_load_ptr(&s->workers[i]->cur) == f)
			return (int)i;
	return -1;
}

/* Backtraces: of the first BT_FIBERS fibers listed, BT_FRAMES deep. */
#define BT_FIBERS 64
#define BT_FRAMES 16

struct list_walk {
	struct weft__fiber_list *l;
	bool shutdown;		/* word a running fiber as the shutdown report does */
	bool full;		/* out of memory: count, do not list */
	uint32_t now_ds;	/* weft__clock_ds() when the list began */
	struct weft__probe probe; /* reads the stacks (backtrace.c) */
	unsigned traced;	/* fibers given a backtrace so far */
};

/*
 * ", for 12.3 s" after @buf's wait, once it has lasted a second: the
 * wait's stamp is sched.clock_ds, up to WEFT_CLOCK_TICK_MS behind the
 * time it began, so the figure may be that much over. Shorter waits are
 * not worth a word. Unsigned arithmetic: the clock wraps.
 */
static void add_waited(char *buf, size_t cap, uint32_t waited_ds)
{
	size_t len = strlen(buf);

	if (waited_ds < 10 || len >= cap)
		return;
	snprintf(buf + len, cap - len, ", for %" PRIu32 ".%" PRIu32 " s",
		 waited_ds / 10, waited_ds % 10);
}

/* Append @n bytes of @p to @l's text; false if out of memory. */
static bool append(struct weft__fiber_list *l, const char *p, size_t n);

/*
 * After a fiber's line: its backtrace, if it is not running and the
 * walk has room, then where it was spawned. Each "weft:       " line.
 */
static bool list_frames(struct list_walk *lw, const struct fiber *f,
			bool running)
{
	void *pcs[BT_FRAMES];
	char where[200], line[240];
	void *site = ck_pr_load_ptr(&f->spawn_site);
	int n = 0, len;

	if (!running && lw->traced < BT_FIBERS) {
		/* For TSan: what the fiber wrote before it parked, and what
		 * its stack held before it was its, comes before this walk;
		 * pairs with the release in weft__finish_park(). */
		weft__hb_acquire(f);
		n = weft__fiber_backtrace(&lw->probe, f, pcs, BT_FRAMES);
		if (n > 0)
			lw->traced++;
	}
	for (int i = 0; i < n; i++) {
		weft__describe_pc(where, sizeof(where), pcs[i]);
		len = snprintf(line, sizeof(line), "weft:       #%d %s\n", i,
			       where);
		if (len > 0 && !append(lw->l, line,
				       (size_t)len < sizeof(line)
					       ? (size_t)len
					       : sizeof(line) - 1))
			return false;
	}
	if (!site)
		return true;
	/* The call's return address: the spawn call ends just before. */
	weft__describe_pc(where, sizeof(where), site);
	len = snprintf(line, sizeof(line), "weft:       spawned at %s\n",
		       where);
	return len <= 0 ||
	       append(lw->l, line, (size_t)len < sizeof(line)
					   ? (size_t)len
					   : sizeof(line) - 1);
}

/* Room for @n more bytes in @l's text; false if there is none to get. */
static bool reserve(struct weft__fiber_list *l, size_t n)
{
	size_t cap = l->cap ? l->cap : 16 * 1024;
	char *p;

	if (l->len + n <= l->cap)
		return true;
	while (cap < l->len + n)
		cap *= 2;
	p = realloc(l->text, cap);
	if (!p)
		return false;
	l->text = p;
	l->cap = cap;
	return true;
}

static void list_one(struct fiber *f, void *arg)
{
	struct list_walk *lw = arg;
	struct weft__fiber_list *l = lw->l;
	unsigned state = ck_pr_load_uint(&f->park_word) & PARK_STATE_MASK;
	char name[sizeof(f->name)], what[200], line[320];
	const struct fiber *guest;
	int n, worker;

	l->nr++;
	if (lw->full)
		return;
	for (size_t i = 0; i < sizeof(name); i++)
		name[i] = ck_pr_load_char(&f->name[i]);
	name[sizeof(name) - 1] = '\0';
	worker = running_on(f);
	guest = weft__fiber_lookup(ck_pr_load_ptr(&f->guest));
	if (guest) {
		/* Its own context is stale: no backtrace below. */
		snprintf(what, sizeof(what), "waits in weft_join for fiber %"
			 PRIu64 ", which runs inline on its stack",
			 ck_pr_load_64(&guest->id));
		worker = -1;
		state = FIBER_PARKED;
	} else if (state == FIBER_PARKED || state == FIBER_PARKING) {
		describe_wait(what, sizeof(what), ck_pr_load_uint(&f->wait_kind),
			      ck_pr_load_64(&f->wait_arg));
		add_waited(what, sizeof(what), lw->now_ds -
			   ck_pr_load_32(&f->wait_since_ds));
	} else if (worker >= 0 && lw->shutdown)
		snprintf(what, sizeof(what),
			 "runs on worker %d without reaching a yield point "
			 "(a blocking system call, or a loop that never "
			 "checks weft_cancelled())", worker);
	else if (worker >= 0)
		snprintf(what, sizeof(what), "runs on worker %d", worker);
	else
		snprintf(what, sizeof(what), "is ready to run");
	n = snprintf(line, sizeof(line), "weft:   fiber %" PRIu64 "%s%s%s %s\n",
		     ck_pr_load_64(&f->id), name[0] ? " \"" : "", name,
		     name[0] ? "\"" : "", what);
	if (n <= 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (!append(l, line, (size_t)n) ||
	    !list_frames(lw, f, worker >= 0 && state != FIBER_PARKED &&
					state != FIBER_PARKING)) {
		lw->full = true;
		return;
	}
	l->listed++;
}

static bool append(struct weft__fiber_list *l, const char *p, size_t n)
{
	if (!reserve(l, n))
		return false;
	memcpy(l->text + l->len, p, n);
	l->len += n;
	return true;
}

int weft__fiber_list(struct weft__fiber_list *l, bool shutdown)
{
	struct list_walk lw = { .l = l, .shutdown = shutdown };
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	lw.now_ds = weft__clock_ds(&now);
	memset(l, 0, sizeof(*l));
	/* Without the pipe the lines come without backtraces. */
	(void)weft__probe_open(&lw.probe);
	weft__fiber_foreach_alive(list_one, &lw);
	weft__probe_close(&lw.probe);
	return lw.full ? -ENOMEM : 0;
}

/* Write all of @len bytes of @p to @fd; 0 or -errno. */
static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int weft_dump(int fd)
{
	struct sched *s = &weft__sched;
	struct weft__fiber_list l;
	char head[200], tail[120];
	int n, err, listed;

	if (!ck_pr_load_ptr(&s->workers))
		return -EPERM;
	if (fd < 0)
		return -EBADF;
	/* Out of memory, the lines that fitted, and the tail says so. */
	(void)weft__fiber_list(&l, false);
	n = snprintf(head, sizeof(head),
		     "weft: %u fiber%s alive, %u worker%s, %s backend%s:\n",
		     l.nr, l.nr == 1 ? "" : "s", s->nr_workers,
		     s->nr_workers == 1 ? "" : "s", weft__poller->name,
		     ck_pr_load_uint(&s->shutdown) ? ", shutting down" : "");
	if (n < 0)
		n = 0;
	err = write_all(fd, head, (size_t)n);
	if (!err)
		err = write_all(fd, l.text ? l.text : "", l.len);
	if (!err && l.listed < l.nr) {
		n = snprintf(tail, sizeof(tail),
			     "weft:   (%u more not listed: out of memory)\n",
			     l.nr - l.listed);
		err = write_all(fd, tail, n > 0 ? (size_t)n : 0);
	}
	listed = (int)l.listed;
	free(l.text);
	return err ? err : listed;
}

/* WEFT_DUMP_SIGNAL ----------------------------------------------------- */

static struct {
	int sig;		/* 0: not installed                   */
	pthread_t thread;
	unsigned stop;		/* atomic                             */
	struct sigaction old;
	sigset_t old_mask;	/* weft_run's thread's, put back      */
} dsig;

/* Its only work is to end the dump thread's sigsuspend(). */
static void on_dump_signal(int sig)
{
	(void)sig;
}

static void *dump_thread(void *arg)
{
	sigset_t wait_mask;

	(void)arg;
	/* The signal stays blocked here too except inside sigsuspend(), so
	 * one that comes while a dump is written waits for the next. */
	pthread_sigmask(SIG_BLOCK, NULL, &wait_mask);
	sigdelset(&wait_mask, dsig.sig);
	for (;;) {
		sigsuspend(&wait_mask);
		if (ck_pr_load_uint(&dsig.stop))
			return NULL;
		(void)weft_dump(2);
	}
}
/*
 * The signal @s names ("QUIT", "SIGQUIT", "3"), or 0 if none, or one a
 * dump cannot take: SIGKILL and SIGSTOP cannot be caught, and the fault
 * signals belong to the stack-overflow handler and the sanitizers.
 */
static int parse_signal(const char *s)
{
	char *end;
	long n;
	int sig = 0;

	if (strncmp(s, "SIG", 3) == 0)
		s += 3;
	n = strtol(s, &end, 10);
	if (end != s && *end == '\0') {
		sig = n > 0 && n < NSIG ? (int)n : 0;
	} else {
		for (int i = 1; i < NSIG && !sig; i++) {
			const char *abbrev = sigabbrev_np(i);

			if (abbrev && strcmp(abbrev, s) == 0)
				sig = i;
		}
	}
	switch (sig) {
	case SIGKILL: case SIGSTOP: case SIGSEGV: case SIGBUS:
	case SIGILL: case SIGFPE: case SIGABRT: case SIGTRAP:
		return 0;
	}
	return sig;
}

void weft__dump_signal_start(void)
{
	const char *env = getenv("WEFT_DUMP_SIGNAL");
	struct sigaction sa;
	sigset_t set;
	int sig;

	dsig.sig = 0;
	if (!env || !*env)
		return;
	sig = parse_signal(env);
	if (!sig) {
		fprintf(stderr, "weft: WEFT_DUMP_SIGNAL=%s is not a signal a "
			"dump can use (try QUIT or USR1); ignoring it\n", env);
		return;
	}
	ck_pr_store_uint(&dsig.stop, 0);
	dsig.sig = sig;
	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(SIG_BLOCK, &set, &dsig.old_mask);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_dump_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, &dsig.old);
	if (pthread_create(&dsig.thread, NULL, dump_thread, NULL) != 0) {
		sigaction(sig, &dsig.old, NULL);
		pthread_sigmask(SIG_SETMASK, &dsig.old_mask, NULL);
		dsig.sig = 0;
	}
}

unsigned weft__dump_threads(void)
{
	return dsig.sig ? 1 : 0;
}

void weft__dump_signal_stop(void)
{
	if (!dsig.sig)
		return;
	ck_pr_store_uint(&dsig.stop, 1);
	pthread_kill(dsig.thread, dsig.sig);
	pthread_join(dsig.thread, NULL);
	/* A signal still pending on this thread now meets the old action,
	 * as it would have without weft. */
	sigaction(dsig.sig, &dsig.old, NULL);
	pthread_sigmask(SIG_SETMASK, &dsig.old_mask, NULL);
	dsig.sig = 0;
}
