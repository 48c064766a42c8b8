/* SPDX-License-Identifier: MIT */
/*
 * The io_uring backend of the poller (poller.h): workers' rings, their
 * fibers' operations, and wake-ups.
 *
 * Each worker creates its own ring on its own thread (SINGLE_ISSUER and
 * DEFER_TASKRUN require the owner to be the only one that enters it) and
 * sleeps in it when it has no work. It is woken by IORING_OP_MSG_RING
 * sent from another worker's ring, or, from a thread that has no ring, by
 * a write to its eventfd, on which the ring always has a read armed. One
 * wait therefore covers wake-ups, I/O completions and the earliest timer.
 * Ring calls on a worker's ring come only from that worker's thread.
 *
 * A fiber's I/O call takes an SQE on its current worker's ring, points
 * user_data at an owned_wait record on its own stack, and parks. The
 * worker submits all its fibers' SQEs at once when it next reaches its
 * scheduler context, and handles the completions there (see owned.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "config.h"

#if WEFT_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#define on_valgrind() (RUNNING_ON_VALGRIND != 0)
#else
#define on_valgrind() false
#endif

#include <ck_pr.h>
#include <liburing.h>

#include "fiber.h"
#include "owned.h"
#include "poller.h"
#include "scheduler.h"
#include "waitq.h"

/*
 * user_data of the CQEs on a worker's ring: an owned wait's record is a
 * pointer (at least CQE_TAG_MAX); anything smaller is one of these tags.
 */
#define TAG_WAKE 1u		/* a MSG_RING wake-up arrived               */
#define TAG_EVENTFD 2u		/* the eventfd read completed              */
#define TAG_MSG 3u		/* our MSG_RING failed; target in bits 8-31 */
#define TAG_CANCEL 5u		/* an IORING_OP_ASYNC_CANCEL               */
#define CQE_TAG_MAX 4096u

/* Empty pipes a worker keeps for weft_sendfile, and what one holds. */
#define PIPE_CACHE 8u
#define PIPE_BYTES (64u * 1024u)

/* A completion copied off the ring, to be handled later. */
struct cqe_copy {
	uint64_t tag;		/* user_data */
	int res;
};

/* A worker's ring and what goes with it (struct worker.uring). */
struct uring_worker {
	struct io_uring ring;
	bool taskrun_flag;		/* kernel flags pending task work   */
	bool wait_in_poll;		/* under valgrind: see wait_polled() */
	/* Completions taken off the CQ outside the sched ctx, to be
	 * handled there (flush()); worker.io_backlog of them. */
	struct cqe_copy *backlog;
	unsigned backlog_cap;
	uint64_t efd_buf;		/* target of the armed eventfd read */
	uint64_t fault_state;		/* fault injection's random state   */
	/* Empty pipes for weft_sendfile (uring_sendfile()). */
	int pipes[PIPE_CACHE][2];
	unsigned nr_pipes;
};

/*
 * Setup flags to try, best first. DEFER_TASKRUN runs completions only
 * when the owner enters the ring, which suits a thread that either runs
 * fibers or sleeps in the ring; older kernels refuse it with -EINVAL.
 * Measured against COOP_TASKRUN with tools/profile-echo.sh at 1,000
 * connections: 1.5 to 3 points less of weft-echo's CPU outside the TCP
 * code, on one worker and on two.
 */
static const unsigned ring_flags[] = {
	IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
		IORING_SETUP_TASKRUN_FLAG,
	IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN |
		IORING_SETUP_TASKRUN_FLAG,
	IORING_SETUP_COOP_TASKRUN,
	0,
};

/* The smallest ring used, and the kernel's CQ limit (IORING_MAX_CQ_ENTRIES). */
#define RING_ENTRIES_MIN 2u
#define CQ_ENTRIES_MAX 65536u

static void stash(struct worker *w);
static ssize_t uring_sendfile(struct worker *w, struct io_req *r);

int weft__fault_submit_err;
unsigned weft__fault_submit_period;
unsigned long weft__fault_submit_hits;
unsigned weft__fault_ring_setup_skip;
int weft__fault_uring_refuse_err;
unsigned weft__fault_uring_refuse_worker;

/* The injected failure for this entry of @w's ring, or 0 (scheduler.h). */
static inline int injected_fault(struct worker *w)
{
	if (likely(!weft__fault_submit_err))
		return 0;
	/* A pseudo-random one in period, so that no call site is skipped
	 * by a regular pattern of calls (Knuth's MMIX LCG, high bits). */
	w->uring->fault_state = w->uring->fault_state * 6364136223846793005ull +
			 1442695040888963407ull;
	if ((w->uring->fault_state >> 33) % weft__fault_submit_period)
		return 0;
	/* Relaxed: a count only, read once the workers have stopped. */
	__atomic_add_fetch(&weft__fault_submit_hits, 1, __ATOMIC_RELAXED);
	return -weft__fault_submit_err;
}

/*
 * Check what entering the ring returned. -EBADR means the kernel dropped
 * a completion, which IORING_FEAT_NODROP rules out unless it could not
 * allocate the overflow record: some fiber would wait forever, so stop
 * with a clear message. -EBUSY (completions backed up), -EAGAIN (no
 * memory for requests), -EINTR and -ETIME only end the call early, and
 * what it left unsubmitted is flushed later. Anything else is a bug.
 */
static void check_enter(int ret)
{
	if (ret >= 0 || ret == -EBUSY || ret == -EAGAIN || ret == -EINTR ||
	    ret == -ETIME)
		return;
	if (ret == -EBADR)
		weft__die_msg("the kernel dropped an io_uring completion",
			      " (out of memory for its overflow list)",
			      "; a fiber would wait forever; aborting\n");
	else
		weft__die_msg("entering the io_uring failed: ", strerror(-ret),
			      "; aborting\n");
	abort();
}

/*
 * Submit everything queued. -EBUSY means completions are backed up in
 * the kernel (CQ overflow, with IORING_FEAT_NODROP nothing is lost):
 * make room by moving the CQ's entries to the worker's backlog, and try
 * again. They are only copied here, not handled: this can run on a fiber
 * that has prepared an SQE but not yet parked, whose own completion must
 * wait for the scheduler context (see owned.c). Owner only.
 */
static void flush(struct worker *w)
{
	int ret;

	for (;;) {
		ret = injected_fault(w);
		if (!ret)
			ret = io_uring_submit(&w->uring->ring);
		check_enter(ret);
		if (ret >= 0)
			break;
		io_uring_get_events(&w->uring->ring);
		stash(w);
	}
	w->io_unsubmitted = 0;
}

static struct io_uring_sqe *ring_sqe(struct worker *w, unsigned need)
{
	/* A full SQ is flushed and retried, never an error. */
	if (io_uring_sq_space_left(&w->uring->ring) < need)
		flush(w);
	return io_uring_get_sqe(&w->uring->ring);
}

static void arm_eventfd(struct worker *w)
{
	struct io_uring_sqe *sqe = ring_sqe(w, 1);

	io_uring_prep_read(sqe, w->efd, &w->uring->efd_buf,
			   sizeof(w->uring->efd_buf), 0);
	io_uring_sqe_set_data64(sqe, TAG_EVENTFD);
}

static void uring_fini(struct worker *w)
{
	struct uring_worker *u = w->uring;

	if (!u)
		return;
	io_uring_queue_exit(&u->ring);
	if (w->efd >= 0)
		close(w->efd);
	while (u->nr_pipes--) {
		close(u->pipes[u->nr_pipes][0]);
		close(u->pipes[u->nr_pipes][1]);
	}
	free(u->backlog);
	free(u);
	w->efd = -1;
	w->uring = NULL;
	w->io_backlog = 0;
}

static int uring_init(struct worker *w)
{
	const size_t nr_flags = sizeof(ring_flags) / sizeof(ring_flags[0]);
	/* At least two entries: a call and the cancel that may follow it.
	 * The kernel rounds up to a power of two. */
	unsigned entries = weft__sched.ring_entries < RING_ENTRIES_MIN
				   ? RING_ENTRIES_MIN
				   : weft__sched.ring_entries;
	struct io_uring_params p;
	struct uring_worker *u = calloc(1, sizeof(*u));
	int ret = -EINVAL;
	size_t i;

	if (!u)
		return -ENOMEM;
	if (weft__fault_uring_refuse_err &&
	    w->id == weft__fault_uring_refuse_worker) {
		free(u);
		return -weft__fault_uring_refuse_err;
	}
	/* Tests skip the best sets to run on what older kernels offer. */
	i = weft__fault_ring_setup_skip < nr_flags ? weft__fault_ring_setup_skip
						   : nr_flags - 1;
	for (; i < nr_flags; i++) {
		memset(&p, 0, sizeof(p));
		/* Room for many wake-ups and completions at once; a full CQ
		 * would make MSG_RING senders fail. The kernel takes at most
		 * CQ_ENTRIES_MAX, so the largest rings get 2x, not 4x. */
		p.flags = ring_flags[i] | IORING_SETUP_CQSIZE;
		p.cq_entries = entries <= CQ_ENTRIES_MAX / 4 ? entries * 4
							     : CQ_ENTRIES_MAX;
		ret = io_uring_queue_init_params(entries, &u->ring, &p);
		if (ret != -EINVAL)
			break;
	}
	if (ret < 0) {
		free(u);
		return ret;
	}
	w->uring = u;
	/* With it the kernel flags pending completion work in shared
	 * memory, and a poll with nothing to do needs no system call. */
	u->taskrun_flag = (p.flags & IORING_SETUP_TASKRUN_FLAG) != 0;
	u->wait_in_poll = on_valgrind();
	w->efd = eventfd(0, EFD_CLOEXEC);
	if (w->efd < 0) {
		ret = -errno;
		uring_fini(w);
		return ret;
	}
	arm_eventfd(w);
	ret = io_uring_submit(&u->ring);
	if (ret < 0) {
		uring_fini(w);
		return ret;
	}
	return 0;
}

static void uring_signal(struct worker *target)
{
	struct worker *self = weft__worker_self();
	struct io_uring_sqe *sqe;
	int ret;

	if (self && self->uring) {
		sqe = ring_sqe(self, 1);
		io_uring_prep_msg_ring(sqe, target->uring->ring.ring_fd, 0,
				       TAG_WAKE, 0);
		/* No completion on our ring unless the message fails. */
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
		io_uring_sqe_set_data64(sqe, TAG_MSG | (uint64_t)target->id << 8);
		ret = injected_fault(self);
		if (!ret)
			ret = io_uring_submit(&self->uring->ring);
		check_enter(ret);
		if (ret >= 0)
			return;
		/* The message stays queued; the next flush sends it. */
	}
	/* No ring of our own (a foreign thread), or it failed: eventfd. */
	for (;;) {
		ret = eventfd_write(target->efd, 1);
		if (ret == 0 || errno != EINTR)
			break;
	}
	weft_assert(ret == 0);
}

/* Act on one completion. Owner only, sched ctx (see owned.c). */
static bool handle(struct worker *w, uint64_t tag, int res)
{
	if (tag >= CQE_TAG_MAX) {
		struct owned_wait *ow = (struct owned_wait *)(uintptr_t)tag;

		w->io_inflight--;
		if (ow->has_timer) {
			spin_lock(&w->timers_lock);
			weft__timer_del(&w->timers, &ow->timer);
			spin_unlock(&w->timers_lock);
		}
		weft__io_complete(w, ow, res);
		return false;
	}
	switch (tag & 0xff) {
	case TAG_WAKE:
		break;
	case TAG_EVENTFD:
		return true;
	case TAG_MSG:
		/* The target's CQ was full or gone: use its eventfd. */
		if (res < 0) {
			unsigned id = (unsigned)(tag >> 8);

			if (id < weft__sched.nr_workers)
				eventfd_write(weft__sched.workers[id]->efd, 1);
		}
		break;
	case TAG_CANCEL:
		w->io_inflight--;
		break;
	default:
		weft_assert(!"unknown completion tag");
	}
	return false;
}

/* Copy the CQ's entries to the backlog to make room. Owner only. */
static void stash(struct worker *w)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;

	io_uring_for_each_cqe(&w->uring->ring, head, cqe) {
		if (w->io_backlog == w->uring->backlog_cap) {
			unsigned cap = w->uring->backlog_cap
					       ? 2 * w->uring->backlog_cap
					       : 256;
			struct cqe_copy *b = realloc(w->uring->backlog,
						     cap * sizeof(*b));

			/* Losing a completion would hang its fiber. */
			if (!b) {
				weft__die_msg("out of memory for completions",
					      "", "; aborting\n");
				abort();
			}
			w->uring->backlog = b;
			w->uring->backlog_cap = cap;
		}
		w->uring->backlog[w->io_backlog].tag = io_uring_cqe_get_data64(cqe);
		w->uring->backlog[w->io_backlog].res = cqe->res;
		w->io_backlog++;
		seen++;
	}
	io_uring_cq_advance(&w->uring->ring, seen);
}

/*
 * Handle the backlog, then what the ring delivered: every wake-up, but no
 * more operation completions than the run queue has room for. The rest
 * wait, in order, in the CQ (or the kernel's overflow list, which
 * IORING_FEAT_NODROP keeps) for the next pass, which comes as soon as
 * these fibers ran. Spilling them to the global queue instead let new
 * completions overtake old ones: at 10,000 connections a few waited
 * seconds. Owner, sched ctx.
 */
static void reap(struct worker *w)
{
	unsigned room = WEFT_RUNQ_SIZE - weft__runq_len(&w->rq);
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0, i;
	bool rearm = false;

	for (i = 0; i < w->io_backlog; i++) {
		uint64_t tag = w->uring->backlog[i].tag;

		if (tag >= CQE_TAG_MAX) {
			if (room == 0)
				break;
			room--;
		}
		rearm |= handle(w, tag, w->uring->backlog[i].res);
	}
	/* Keep what is left, in order. */
	if (i) {
		memmove(w->uring->backlog, w->uring->backlog + i,
			(w->io_backlog - i) * sizeof(*w->uring->backlog));
		w->io_backlog -= i;
	}
	if (w->io_backlog == 0) {
		io_uring_for_each_cqe(&w->uring->ring, head, cqe) {
			uint64_t tag = io_uring_cqe_get_data64(cqe);

			if (tag >= CQE_TAG_MAX) {
				if (room == 0)
					break;
				room--;
			}
			seen++;
			rearm |= handle(w, tag, cqe->res);
		}
		io_uring_cq_advance(&w->uring->ring, seen);
	}
	if (rearm)
		arm_eventfd(w);
}

/*
 * Valgrind runs one thread at a time and does not know that io_uring_enter
 * can block: a worker asleep in its ring would hold valgrind's lock, and
 * no other thread, including the one that would wake it, could run. So
 * under valgrind a worker sleeps in poll(2) on the ring's fd, which
 * valgrind lets go of the lock for, then collects its completions without
 * blocking. Each poll is bounded, so a readiness the poll misses (task
 * work the kernel has not flagged yet) costs at most that long; a bounded
 * poll that found nothing polls again until the caller's timeout, so that
 * to the worker loop the sleep is one sleep, as in the ring (a wake-up
 * every POLLED_WAIT_MAX_MS would look like work to the deadlock check).
 */
#define POLLED_WAIT_MAX_MS 10

static int wait_polled(struct worker *w, int64_t timeout_ns)
{
	struct pollfd pfd = { .fd = w->uring->ring.ring_fd,
			      .events = POLLIN };
	int64_t end = timeout_ns >= 0 ? weft_now_ns() + timeout_ns : INT64_MAX;
	int ret;

	ret = injected_fault(w);
	if (!ret)
		ret = io_uring_submit(&w->uring->ring);
	if (ret < 0)
		return ret;
	for (;;) {
		int64_t left = end - weft_now_ns();
		int ms = POLLED_WAIT_MAX_MS;

		if (left < (int64_t)ms * 1000000)
			ms = left > 0 ? (int)((left + 999999) / 1000000) : 0;
		if (io_uring_cq_ready(&w->uring->ring) == 0)
			(void)poll(&pfd, 1, ms);
		ret = io_uring_get_events(&w->uring->ring);
		if (ret < 0 || io_uring_cq_ready(&w->uring->ring) ||
		    weft_now_ns() >= end)
			return ret;
	}
}

static void uring_poll(struct worker *w, bool wait, int64_t timeout_ns)
{
	struct __kernel_timespec ts, *tsp = NULL;
	struct io_uring_cqe *cqe;
	int ret;

	if (wait) {
		if (timeout_ns >= 0) {
			ts.tv_sec = timeout_ns / 1000000000;
			ts.tv_nsec = timeout_ns % 1000000000;
			tsp = &ts;
		}
		/* Submits what is queued (a re-armed read, fibers' SQEs),
		 * then sleeps until a completion or the timeout; a failure
		 * that check_enter() lets pass just ends the wait. */
		if (unlikely(w->uring->wait_in_poll)) {
			ret = wait_polled(w, timeout_ns);
		} else {
			ret = injected_fault(w);
			if (!ret)
				ret = io_uring_submit_and_wait_timeout(
					&w->uring->ring, &cqe, 1, tsp, NULL);
		}
		check_enter(ret);
		w->io_unsubmitted = 0;
	} else if (w->io_unsubmitted) {
		/* Submit, and let DEFER_TASKRUN post what has completed. */
		ret = injected_fault(w);
		if (!ret)
			ret = io_uring_submit_and_get_events(&w->uring->ring);
		check_enter(ret);
		w->io_unsubmitted = 0;
	} else if (!w->uring->taskrun_flag ||
		   (IO_URING_READ_ONCE(*w->uring->ring.sq.kflags) &
		    IORING_SQ_TASKRUN)) {
		/* Completions are waiting to be posted (or we cannot tell). */
		io_uring_get_events(&w->uring->ring);
	}
	reap(w);
	/* Submit a re-armed read now, so a foreign wake-up is never missed
	 * while we run fibers and until we sleep again; and anything a
	 * failed call above left queued. */
	if (io_uring_sq_ready(&w->uring->ring))
		flush(w);
}

/* Fibers' operations ------------------------------------------------------ */

/* Prepare @sqe for @r. */
static void prep(struct io_uring_sqe *sqe, const struct io_req *r)
{
	switch (r->op) {
	case IO_READ:
		io_uring_prep_read(sqe, r->fd, r->buf, (unsigned)r->len,
				   (uint64_t)r->off);
		break;
	case IO_WRITE:
		io_uring_prep_write(sqe, r->fd, r->buf, (unsigned)r->len,
				    (uint64_t)r->off);
		break;
	case IO_READV:
		io_uring_prep_readv(sqe, r->fd, r->buf, (unsigned)r->len,
				    (uint64_t)r->off);
		break;
	case IO_WRITEV:
		io_uring_prep_writev(sqe, r->fd, r->buf, (unsigned)r->len,
				     (uint64_t)r->off);
		break;
	case IO_RECV:
		io_uring_prep_recv(sqe, r->fd, r->buf, r->len, r->flags);
		break;
	case IO_SEND:
		io_uring_prep_send(sqe, r->fd, r->buf, r->len, r->flags);
		break;
	case IO_ACCEPT:
		io_uring_prep_accept(sqe, r->fd, r->buf, r->addrlen, r->flags);
		break;
	case IO_CONNECT:
		io_uring_prep_connect(sqe, r->fd, r->buf, (socklen_t)r->len);
		break;
	case IO_OPENAT:
		io_uring_prep_openat(sqe, r->fd, r->buf, r->flags,
				     (mode_t)r->len);
		break;
	case IO_CLOSE:
		io_uring_prep_close(sqe, r->fd);
		break;
	case IO_FSYNC:
		io_uring_prep_fsync(sqe, r->fd, 0);
		break;
	case IO_SHUTDOWN:
		io_uring_prep_shutdown(sqe, r->fd, r->flags);
		break;
	case IO_POLL:
		io_uring_prep_poll_add(sqe, r->fd, (unsigned)r->flags);
		break;
	case IO_SPLICE:
		io_uring_prep_splice(sqe, r->fd, r->off, r->flags, -1,
				     (unsigned)r->len, 0);
		break;
	case IO_SENDFILE:	/* two IO_SPLICEs: uring_sendfile() */
	case IO_OP_COUNT:
		weft_assert(!"no such operation");
	}
}

/*
 * Queue @r as an SQE and park until the owner hands the result back.
 * The fiber's deadline, if any, goes in the worker's timer heap, as a
 * sleep's does: when it passes, the owner cancels the SQE (time.c) and
 * the cancelled completion returns -ETIMEDOUT. A linked timeout
 * (IORING_OP_LINK_TIMEOUT) would cost the kernel an SQE, a CQE and an
 * hrtimer per call: measured on one worker with a 64-byte ping-pong over
 * a socketpair, 2,410-2,448 ns a round trip (four calls) against
 * 1,662-1,680 ns with no deadline.
 */
static ssize_t uring_io(struct worker *w, struct io_req *r)
{
	struct owned_wait ow;
	int64_t deadline = w->cur->deadline_ns;
	struct io_uring_sqe *sqe;
	int res;

	if (r->op == IO_SENDFILE)
		return uring_sendfile(w, r);
	weft__owned_begin(w, &ow);
	ow.kind = OWNED_SQE;
	weft__timer_init(&ow.timer, TIMER_OWNED);
	if (deadline != WEFT_FOREVER) {
		spin_lock(&w->timers_lock);
		res = weft__timer_add(&w->timers, &ow.timer, deadline);
		spin_unlock(&w->timers_lock);
		if (res)
			return res;
		ow.has_timer = true;
	}
	sqe = ring_sqe(w, 1);
	prep(sqe, r);
	fiber_waits_on(w->cur, WAIT_IO | (unsigned)r->op << 8,
		       (uint64_t)(int64_t)r->fd);
	io_uring_sqe_set_data(sqe, &ow);
	w->io_inflight++;
	w->io_unsubmitted++;
	w->io_nowait = 0;
	res = weft__owned_wait(w, &ow);
	/* Cut short by its deadline rather than by weft_cancel(). */
	if (res == -ECANCELED && ow.expired)
		res = -ETIMEDOUT;
	return res;
}

/*
 * weft_sendfile: splice the file into an empty pipe of the worker's,
 * then the pipe into the socket, looping until the pipe is empty again.
 * The socket is made non-blocking first: a splice into a full blocking
 * socket would hold an io-wq thread for as long as the client does not
 * read (one kernel thread a slow client); a non-blocking one fails with
 * -EAGAIN, and the fiber polls for POLLOUT, which holds nothing. io_uring
 * sends and receives do not look at O_NONBLOCK, so the socket's other
 * calls are unchanged. The fiber may change workers on the way; the pipe
 * goes back to the cache of the worker it ends on, and only empty: one
 * that still holds bytes (the socket failed, or the call was cancelled)
 * is closed.
 */
static ssize_t uring_sendfile(struct worker *w, struct io_req *r)
{
	struct io_req in = { .op = IO_SPLICE, .fd = r->flags, .off = r->off,
			     .len = r->len < PIPE_BYTES ? r->len : PIPE_BYTES };
	struct io_req out = { .op = IO_SPLICE, .off = -1, .flags = r->fd };
	struct uring_worker *u = w->uring;
	ssize_t got, sent = 0, n = 0;
	int p[2];

	int on = 1;

	if (ioctl(r->fd, FIONBIO, &on) < 0)
		return -errno;
	if (u->nr_pipes) {
		u->nr_pipes--;
		p[0] = u->pipes[u->nr_pipes][0];
		p[1] = u->pipes[u->nr_pipes][1];
	} else if (pipe2(p, O_CLOEXEC) != 0) {
		return -errno;
	}
	in.flags = p[1];
	got = uring_io(w, &in);
	out.fd = p[0];
	while (got > 0 && sent < got) {
		out.len = (size_t)(got - sent);
		n = uring_io(weft__worker_self(), &out);
		if (n == -EAGAIN) {
			struct io_req ready = { .op = IO_POLL, .fd = r->fd,
						.flags = POLLOUT };

			n = uring_io(weft__worker_self(), &ready);
			if (n < 0)
				break;
			continue;
		}
		if (n <= 0)
			break;
		sent += n;
	}
	u = weft__worker_self()->uring;
	if (sent == (got > 0 ? got : 0) && u->nr_pipes < PIPE_CACHE) {
		u->pipes[u->nr_pipes][0] = p[0];
		u->pipes[u->nr_pipes][1] = p[1];
		u->nr_pipes++;
	} else {
		close(p[0]);
		close(p[1]);
	}
	if (got <= 0)
		return got;	/* end of file, or nothing was read */
	if (sent > 0) {
		/* A cancellation that ended a later step is reported at the
		 * fiber's next suspension, so the bytes sent are not lost;
		 * the fiber runs, so only its own next park reads this. */
		if (n == -ECANCELED)
			ck_pr_store_uint(&weft__worker_self()->cur->cancel_req,
					 1);
		return sent;
	}
	return n < 0 ? n : -EIO;
}

/* Ask the kernel to stop @ow's operation; its completion ends the wait. */
static void uring_cancel(struct worker *w, struct owned_wait *ow)
{
	struct io_uring_sqe *sqe;

	if (ow->cancelled)
		return;
	ow->cancelled = true;
	sqe = ring_sqe(w, 1);
	io_uring_prep_cancel(sqe, ow, 0);
	io_uring_sqe_set_data64(sqe, TAG_CANCEL);
	w->io_inflight++;
	w->io_unsubmitted++;
}

const struct poller weft__poller_uring = {
	.name = "io_uring",
	.backend = WEFT_BACKEND_IO_URING,
	.init = uring_init,
	.fini = uring_fini,
	.io = uring_io,
	.cancel = uring_cancel,
	.poll = uring_poll,
	.signal = uring_signal,
};

unsigned weft__uring_setup_flags(const struct worker *w)
{
	return w->uring ? w->uring->ring.flags : 0;
}
