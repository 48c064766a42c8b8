/* SPDX-License-Identifier: MIT */
/*
 * The epoll backend of the poller (poller.h), for where io_uring is
 * refused: each worker's epoll set, its fibers' readiness waits, and
 * wake-ups.
 *
 * An I/O call is tried at once without blocking (RWF_NOWAIT for read and
 * write, MSG_DONTWAIT for recv and send, a non-blocking socket for accept
 * and connect, and for sendfile(2), which has no MSG_DONTWAIT). If the
 * descriptor is not ready the fiber watches it: an
 * owned wait (io.h) linked into the worker's table under the descriptor,
 * which is armed in the worker's epoll set with EPOLLONESHOT for what all
 * its watchers want. When it fires, the worker ends the watches it
 * satisfies, re-arms it for the rest, and the woken fibers try again.
 *
 * What cannot wait for readiness runs on the blocking pool: regular files
 * and block devices (always "ready", they block on the disk instead)
 * unless RWF_NOWAIT finds the data cached, descriptors epoll refuses
 * (EPERM), fsync, and an openat that could not be done in place (io.c:
 * a path not wholly in the kernel's lookup cache). Descriptors where
 * RWF_NOWAIT is not supported (a tty, an eventfd, on older kernels a pipe)
 * are polled first and then read or written plainly.
 *
 * Calls that complete at once do not suspend, so a fiber whose socket is
 * always ready could keep its worker to itself: every IO_NOWAIT_MAX-th
 * such call in a row on a worker yields instead (weft__io_nowait). A cancellation pending when a
 * call starts ends it with -ECANCELED before it is tried, as io_uring
 * would end the operation.
 *
 * Wake-ups are writes to the worker's eventfd, which is in the set. The
 * set, the table and the eventfd's reads belong to the owner's thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <ck_pr.h>

#include "fiber.h"
#include "owned.h"
#include "poller.h"
#include "scheduler.h"
#include "waitq.h"

/* A descriptor's watchers on one worker. */
struct fd_watch {
	struct list waits;		/* struct owned_wait, by fdw.link,
					 * newest first                   */
	bool added;			/* in the set, as far as we know */
};

/* A worker's epoll state (struct worker.epoll). */
struct epoll_worker {
	int epfd;
	struct fd_watch *watch;		/* per descriptor, indexed by fd    */
	unsigned nr_watch;		/* entries in watch                 */
};

#define EFD_DATA UINT64_MAX	/* epoll_event.data of the eventfd       */
#define EVENTS_MAX 128		/* events taken from the kernel at once */
#define WATCH_MIN 64		/* first size of a worker's table       */

/* The events a watcher may ask for; epoll's bits are poll(2)'s. */
#define EVENTS_MASK                                                      \
	(EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDHUP | EPOLLRDNORM |      \
	 EPOLLRDBAND | EPOLLWRNORM | EPOLLWRBAND)
/* Events that end every watch, whatever it asked for. */
#define EVENTS_ALWAYS (EPOLLERR | EPOLLHUP)

/* Setup and wake-ups ------------------------------------------------------ */

static void epoll_fini(struct worker *w)
{
	struct epoll_worker *e = w->epoll;

	if (!e)
		return;
	close(e->epfd);
	if (w->efd >= 0)
		close(w->efd);
	free(e->watch);
	free(e);
	w->efd = -1;
	w->epoll = NULL;
}

static int epoll_init(struct worker *w)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EFD_DATA };
	struct epoll_worker *e = calloc(1, sizeof(*e));
	int err;

	if (!e)
		return -ENOMEM;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd < 0) {
		err = -errno;
		free(e);
		return err;
	}
	w->epoll = e;
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0 || epoll_ctl(e->epfd, EPOLL_CTL_ADD, w->efd, &ev) < 0) {
		err = -errno;
		epoll_fini(w);
		return err;
	}
	return 0;
}

static void epoll_signal(struct worker *target)
{
	int ret;

	/* EAGAIN: the counter is full, so the target will wake anyway. */
	do
		ret = eventfd_write(target->efd, 1);
	while (ret < 0 && errno == EINTR);
	weft_assert(ret == 0 || errno == EAGAIN);
}

/* The table ---------------------------------------------------------------- */

/* Make room for @fd in @w's table. */
static int table_reserve(struct worker *w, int fd)
{
	struct epoll_worker *e = w->epoll;
	struct fd_watch *t;
	unsigned n;

	if (fd < 0)
		return -EBADF;
	if ((unsigned)fd < e->nr_watch)
		return 0;
	for (n = e->nr_watch ? e->nr_watch : WATCH_MIN; n <= (unsigned)fd;)
		n *= 2;
	t = realloc(e->watch, n * sizeof(*t));
	if (!t)
		return -ENOMEM;
	memset(t + e->nr_watch, 0, (n - e->nr_watch) * sizeof(*t));
	e->watch = t;
	e->nr_watch = n;
	return 0;
}

/* What @fw's watchers wait for, together. */
static uint32_t wanted(const struct fd_watch *fw)
{
	const struct list_node *n;
	uint32_t events = 0;

	list_for_each(n, &fw->waits)
		events |= list_entry(n, struct owned_wait, fdw.link)->fdw.events;
	return events;
}

/*
 * Arm @fd in @w's set for @events, once. The table's hint says whether to
 * add or modify; a descriptor closed and reused behind our back makes it
 * wrong, and the other call is tried. -EPERM: epoll cannot watch @fd.
 */
static int arm(struct worker *w, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events | EPOLLONESHOT,
				  .data.u64 = (uint64_t)fd };
	struct fd_watch *fw = &w->epoll->watch[fd];
	int op = fw->added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

	for (;;) {
		if (epoll_ctl(w->epoll->epfd, op, fd, &ev) == 0) {
			fw->added = true;
			return 0;
		}
		if (errno == ENOENT && op == EPOLL_CTL_MOD)
			op = EPOLL_CTL_ADD;
		else if (errno == EEXIST && op == EPOLL_CTL_ADD)
			op = EPOLL_CTL_MOD;
		else
			return -errno;
	}
}

void weft__epoll_unwatch(struct worker *w, struct owned_wait *ow)
{
	list_remove(&w->epoll->watch[ow->fdw.fd].waits, &ow->fdw.link);
	w->io_inflight--;
}

/*
 * Park the calling fiber until @r->fd is ready for @events, its deadline
 * passes (-ETIMEDOUT) or it is cancelled (-ECANCELED). Returns the events
 * that ended the watch, or -errno if it could not be set up.
 */
static int watch(struct worker *w, const struct io_req *r, uint32_t events)
{
	int64_t deadline = w->cur->deadline_ns;
	struct owned_wait ow;
	struct fd_watch *fw;
	int err;

	err = table_reserve(w, r->fd);
	if (err)
		return err;
	fw = &w->epoll->watch[r->fd];
	err = arm(w, r->fd, events | wanted(fw));
	if (err)
		return err;
	weft__owned_begin(w, &ow);
	ow.kind = OWNED_FD;
	ow.expiry_res = -ETIMEDOUT;
	weft__timer_init(&ow.timer, TIMER_OWNED);
	if (deadline != WEFT_FOREVER) {
		spin_lock(&w->timers_lock);
		err = weft__timer_add(&w->timers, &ow.timer, deadline);
		spin_unlock(&w->timers_lock);
		if (err)
			return err;
	}
	ow.fdw.fd = r->fd;
	ow.fdw.events = events;
	list_push_front(&fw->waits, &ow.fdw.link);
	w->io_inflight++;
	w->io_nowait = 0;
	fiber_waits_on(w->cur, WAIT_IO | (unsigned)r->op << 8,
		       (uint64_t)(int64_t)r->fd);
	return weft__owned_wait(w, &ow);
}

/* End @ow, and its timer, with @res. Owner only. */
static void finish(struct worker *w, struct owned_wait *ow, int res)
{
	spin_lock(&w->timers_lock);
	weft__timer_del(&w->timers, &ow->timer);
	spin_unlock(&w->timers_lock);
	weft__io_complete(w, ow, res);
}

static void epoll_cancel(struct worker *w, struct owned_wait *ow)
{
	/* A watch holds no buffer: nothing to wait for. */
	finish(w, ow, -ECANCELED);
}

/* Waiting ------------------------------------------------------------------ */

/* Wake the watchers of @fd that @revents satisfies; re-arm for the rest. */
static void fd_ready(struct worker *w, int fd, uint32_t revents)
{
	struct list_node *n, *next;
	struct fd_watch *fw;
	int err;

	/* A stale event for a descriptor nobody here watched. */
	if (fd < 0 || (unsigned)fd >= w->epoll->nr_watch)
		return;
	fw = &w->epoll->watch[fd];
	list_for_each_safe(n, next, &fw->waits) {
		struct owned_wait *ow =
			list_entry(n, struct owned_wait, fdw.link);

		if (revents & (ow->fdw.events | EVENTS_ALWAYS))
			finish(w, ow, (int)revents);
	}
	if (list_empty(&fw->waits))
		return;
	err = arm(w, fd, wanted(fw));
	/* Nobody would wake them: let them find out why. */
	while (err && !list_empty(&fw->waits))
		finish(w, list_entry(fw->waits.first, struct owned_wait,
				     fdw.link), err);
}

static void drain_eventfd(struct worker *w)
{
	eventfd_t v;

	(void)eventfd_read(w->efd, &v);
}

static int sleep_in_set(struct worker *w, struct epoll_event *evs, int max,
			int64_t timeout_ns)
{
	static unsigned no_pwait2;
	struct timespec ts, *tsp = NULL;
	int n, ms;

	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	if (!ck_pr_load_uint(&no_pwait2)) {
		n = epoll_pwait2(w->epoll->epfd, evs, max, tsp, NULL);
		if (n >= 0 || errno != ENOSYS)
			return n;
		/* Before Linux 5.11, or a sandbox that hides it. */
		ck_pr_store_uint(&no_pwait2, 1);
	}
	/* Milliseconds, rounded up: never wake before the timer is due. */
	if (timeout_ns < 0)
		ms = -1;
	else if (timeout_ns / 1000000 >= INT32_MAX)
		ms = INT32_MAX;
	else
		ms = (int)((timeout_ns + 999999) / 1000000);
	return epoll_wait(w->epoll->epfd, evs, max, ms);
}

/*
 * Take what the set reports, no more descriptors than the run queue has
 * room for (the rest stay ready in the set for the next pass), and wake
 * their watchers. With @wait, sleep first.
 */
static void epoll_poll(struct worker *w, bool wait, int64_t timeout_ns)
{
	struct epoll_event evs[EVENTS_MAX];
	unsigned room = WEFT_RUNQ_SIZE - weft__runq_len(&w->rq);
	int max = room < EVENTS_MAX ? (int)room : EVENTS_MAX;
	int n, i;

	if (!wait && (max == 0 || !w->io_inflight))
		return;
	if (max == 0)
		max = 1;
	n = sleep_in_set(w, evs, max, wait ? timeout_ns : 0);
	/* EINTR (a signal): the scheduler looks again. */
	for (i = 0; i < n; i++) {
		if (evs[i].data.u64 == EFD_DATA)
			drain_eventfd(w);
		else
			fd_ready(w, (int)evs[i].data.u64, evs[i].events);
	}
}

/* The calls -------------------------------------------------------------- */

static bool is_rw(enum io_op op)
{
	return op == IO_READ || op == IO_WRITE || op == IO_READV ||
	       op == IO_WRITEV;
}

static bool is_read(enum io_op op)
{
	return op == IO_READ || op == IO_READV || op == IO_RECV ||
	       op == IO_ACCEPT;
}

/* read, write and their vector forms, at r->off (-1: the file position). */
static ssize_t rw(const struct io_req *r, int rwf)
{
	struct iovec one = { .iov_base = r->buf, .iov_len = r->len };
	const struct iovec *iov = &one;
	int cnt = 1;
	ssize_t n;

	if (r->op == IO_READV || r->op == IO_WRITEV) {
		iov = r->buf;
		cnt = (int)r->len;
	}
	if (r->op == IO_READ || r->op == IO_READV)
		n = preadv2(r->fd, iov, cnt, (off_t)r->off, rwf);
	else
		n = pwritev2(r->fd, iov, cnt, (off_t)r->off, rwf);
	return n < 0 ? -errno : n;
}

/* @r done the blocking way; on a pool thread. */
static ssize_t blocking_call(const struct io_req *r)
{
	struct pollfd pfd = { .fd = r->fd, .events = (short)r->flags };
	int res;

	switch (r->op) {
	case IO_OPENAT:
		res = openat(r->fd, r->buf, r->flags, (mode_t)r->len);
		break;
	case IO_FSYNC:
		res = fsync(r->fd);
		break;
	case IO_POLL:
		res = poll(&pfd, 1, -1);
		if (res > 0)
			return pfd.revents;
		break;
	default:
		return rw(r, 0);
	}
	return res < 0 ? -errno : res;
}

struct pool_call {
	const struct io_req *r;
	ssize_t res;
};

static void *pool_run(void *arg)
{
	struct pool_call *c = arg;

	c->res = blocking_call(c->r);
	return NULL;
}

/* Run @r on the blocking pool; not cancellable, no deadline (weft.h). */
static ssize_t in_pool(const struct io_req *r)
{
	struct pool_call c = { .r = r };
	int err = weft_blocking(pool_run, &c, NULL);

	return err ? err : c.res;
}

/* A regular file or block device: its calls block on the disk. */
static bool on_disk(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 &&
	       (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) ||
		S_ISDIR(st.st_mode));
}

/*
 * Try @r once without blocking; -EAGAIN if it would block. @plain: the
 * descriptor does not know RWF_NOWAIT, so ask poll(2) first and then
 * read or write as usual.
 */
static ssize_t attempt(const struct io_req *r, bool plain)
{
	struct pollfd pfd = { .fd = r->fd };
	ssize_t n;
	int res;

	switch (r->op) {
	case IO_RECV:
		n = recv(r->fd, r->buf, r->len, r->flags | MSG_DONTWAIT);
		break;
	case IO_SEND:
		n = send(r->fd, r->buf, r->len,
			 r->flags | MSG_DONTWAIT | MSG_NOSIGNAL);
		break;
	case IO_ACCEPT:
		n = accept4(r->fd, r->buf, r->addrlen, r->flags);
		break;
	case IO_SENDFILE: {
		off_t off = (off_t)r->off;

		n = sendfile(r->fd, r->flags, &off, r->len);
		break;
	}
	case IO_POLL:
		pfd.events = (short)r->flags;
		res = poll(&pfd, 1, 0);
		if (res < 0)
			return -errno;
		if (res == 0)
			return -EAGAIN;
		/* As IORING_OP_POLL_ADD answers a bad descriptor. */
		return pfd.revents & POLLNVAL ? -EBADF : pfd.revents;
	default:
		if (!plain)
			return rw(r, RWF_NOWAIT);
		pfd.events = is_read(r->op) ? POLLIN : POLLOUT;
		res = poll(&pfd, 1, 0);
		if (res < 0)
			return -errno;
		if (res == 0)
			return -EAGAIN;
		return rw(r, 0);
	}
	return n < 0 ? -errno : n;
}

static int set_nonblocking(int fd)
{
	int on = 1;

	return ioctl(fd, FIONBIO, &on) < 0 ? -errno : 0;
}

static ssize_t do_connect(struct worker *w, struct io_req *r)
{
	socklen_t len = sizeof(int);
	int res, err;

	res = set_nonblocking(r->fd);
	for (; !res; w = weft__worker_self()) {
		res = weft__cancel_point(w);
		if (res)
			break;
		if (connect(r->fd, r->buf, (socklen_t)r->len) == 0)
			break;
		res = -errno;
		/* EAGAIN: a full Unix socket backlog; try again when the
		 * listener takes one. */
		if (res != -EINPROGRESS && res != -EAGAIN)
			break;
		err = res;
		res = watch(w, r, EPOLLOUT);
		if (res < 0)
			break;
		if (err == -EAGAIN) {
			res = 0;
			continue;
		}
		if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			return -errno;
		return -err;
	}
	return res;
}

static ssize_t do_close(struct worker *w, int fd)
{
	/* Its registrations go with it (when no other descriptor shares
	 * the file); the next watch of this number adds it again. */
	if (fd >= 0 && (unsigned)fd < w->epoll->nr_watch)
		w->epoll->watch[fd].added = false;
	/* Linux releases the descriptor even when close fails with EINTR. */
	if (close(fd) < 0 && errno != EINTR)
		return -errno;
	return 0;
}

static ssize_t epoll_io(struct worker *w, struct io_req *r)
{
	bool plain = false;
	ssize_t res;
	int err;

	switch (r->op) {
	case IO_OPENAT:	/* one the lookup cache could not do in place */
	case IO_FSYNC:
		return in_pool(r);
	case IO_CLOSE:
		return do_close(w, r->fd);
	case IO_SHUTDOWN:
		return shutdown(r->fd, r->flags) < 0 ? -errno : 0;
	case IO_CONNECT:
		return do_connect(w, r);
	case IO_ACCEPT:
	case IO_SENDFILE:
		/* sendfile(2) has no MSG_DONTWAIT: the socket must not
		 * block (weft.h says so). */
		err = set_nonblocking(r->fd);
		if (err)
			return err;
		break;
	case IO_SPLICE:
		return -EINVAL;	/* io_uring's, inside its IO_SENDFILE */
	default:
		break;
	}
	for (;;) {
		err = weft__cancel_point(w);
		if (err)
			return err;
		res = attempt(r, plain);
		if (res == -EOPNOTSUPP && is_rw(r->op) && !plain) {
			if (on_disk(r->fd))
				return in_pool(r);
			plain = true;
			continue;
		}
		if (res != -EAGAIN) {
			weft__io_nowait(w);
			return res;
		}
		/* Not ready, and no time left to wait (a poll with a
		 * timeout of 0). */
		if (deadline_passed(w->cur->deadline_ns))
			return -ETIMEDOUT;
		if (r->op == IO_POLL)
			res = watch(w, r, (uint32_t)r->flags & EVENTS_MASK);
		else
			res = watch(w, r, is_read(r->op) ? EPOLLIN : EPOLLOUT);
		/* Not a descriptor epoll can watch: a file that would block
		 * on the disk, say. */
		if (res == -EPERM)
			return in_pool(r);
		if (res < 0 || r->op == IO_POLL)
			return res < 0 ? res
				       : res & (r->flags | POLLERR | POLLHUP);
		/* The fiber may resume on another worker. */
		w = weft__worker_self();
	}
}

const struct poller weft__poller_epoll = {
	.name = "epoll",
	.backend = WEFT_BACKEND_EPOLL,
	.init = epoll_init,
	.fini = epoll_fini,
	.io = epoll_io,
	.cancel = epoll_cancel,
	.poll = epoll_poll,
	.signal = epoll_signal,
};
