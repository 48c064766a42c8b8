/* SPDX-License-Identifier: MIT */
/*
 * I/O suspension points and the waits a worker owns.
 *
 * A fiber's I/O call becomes a request (struct io_req) that the runtime's
 * backend runs (poller.h). Where it must wait, the fiber parks in an
 * owned_wait record on its own stack: an SQE in the worker's io_uring, or
 * a watch in the worker's epoll set. The worker handles completions and
 * readiness only in its scheduler context (at the latest every 61
 * schedules), never on a fiber on its way out, because every fiber that
 * parked on this worker has finished parking by then (see Parking in
 * sched.c): a completion can never race its own park.
 *
 * Owned waits and cancellation. An SQE in flight and a timer in a heap
 * belong to one worker: only its thread may enter its ring or touch its
 * heap, and the record lives on the fiber's stack until the owner lets
 * the fiber go. So a cancellation (weft_cancel, shutdown) is not allowed
 * to end such a park itself. It pushes the fiber onto the owner's inbox
 * (an MPSC stack) and signals the owner, which then removes the timer
 * and wakes the fiber with -ECANCELED, or submits IORING_OP_ASYNC_CANCEL
 * for the SQE and lets the operation's own completion (with -ECANCELED,
 * or its real result if it finished first) wake the fiber. Until that
 * completion arrives the kernel may still write into the buffer, so the
 * call does not return before it.
 *
 * An epoll watch holds no buffer, so the owner ends it at once.
 *
 * Deadlines. A fiber with a deadline (weft_set_deadline) bounds each I/O
 * wait by it: io_uring links an IORING_OP_LINK_TIMEOUT to the SQE, epoll
 * puts the watch's timer in the heap; a wait cut short returns -ETIMEDOUT.
 *
 * Only the owner worker's thread runs any of this for a given ring or
 * set. That is also why ThreadSanitizer, which cannot see through the
 * kernel, needs no annotations here: a wait is set up, ended and reaped by
 * one thread, and the result reaches a fiber that resumes elsewhere
 * through the run queues, which are annotated (runq.c).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <ck_pr.h>

#include "fiber.h"
#include "io.h"
#include "poller.h"
#include "scheduler.h"
#include "waitq.h"

#ifdef WEFT_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#define mark_defined(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
#else
#define mark_defined(p, n) ((void)(p), (void)(n))
#endif

const struct poller *weft__poller = &weft__poller_uring;

/* Waiting ----------------------------------------------------------------- */

int weft__owned_wait(struct worker *w, struct owned_wait *ow)
{
	struct fiber *f = w->cur;

	ow->owner = w;
	ow->cancelled = false;
	ow->token = weft__park_token(w);
	/* Read by cancellers after PARKED; the park CAS orders these. */
	f->owned = ow;
	ck_pr_store_ptr(&f->wait_owner, w);
	weft__park(w, NULL, NULL);
	/* The owner ended the wait: nobody refers to @ow any more. */
	ck_pr_store_ptr(&f->wait_owner, NULL);
	f->owned = NULL;
	return ow->res;
}

void weft__io_complete(struct worker *w, struct owned_wait *ow, int res)
{
	struct fiber *f;

	if (ow->kind == OWNED_FD)
		weft__epoll_unwatch(w, ow);
	ow->res = res;
	/* Cannot fail: only the owner ends an owned wait, and it is here. */
	f = weft__claim_park(ow->token, 0);
	weft_assert(f);
	/* FIFO, not the LIFO slot: completions and timers handled in one
	 * pass resume in the order they came (a sleeper never overtakes
	 * one with an earlier deadline). */
	weft__enqueue_local(w, f);
}

/* Cancellation --------------------------------------------------------------- */

/*
 * The inbox is a Treiber stack with a single consumer that always takes
 * the whole stack, so there is no ABA: a node cannot be popped and pushed
 * back under a pusher's feet.
 */
static void inbox_push(struct worker *owner, struct fiber *f)
{
	struct fiber *head;

	do {
		head = ck_pr_load_ptr(&owner->inbox);
		f->cancel_next = head;
		/* The link and the record before the node is visible. */
		weft__hb_release(f);
		/* Full barrier; pairs with the swap in inbox_take(). */
	} while (!ck_pr_cas_ptr(&owner->inbox, head, f));
}

/* Take every queued request, newest first. Owner only. */
static struct fiber *inbox_take(struct worker *w)
{
	/* Atomic swap with NULL; pairs with the CAS in inbox_push(). */
	return ck_pr_fas_ptr(&w->inbox, NULL);
}

void weft__owned_cancel(struct fiber *f, struct worker *owner)
{
	/* @owner was read once by the caller: the fiber may have moved on
	 * to another wait since, even one nobody may end early. A stale
	 * owner is harmless (drain_inbox() checks); these are not. */
	if (!owner || owner == WAIT_NO_CANCEL)
		return;
	/* Atomic RMW: the fiber is in at most one inbox at a time. */
	if (!ck_pr_cas_uint(&f->cancel_queued, 0, 1))
		return;
	/* Pairs with the release in drain_inbox(): the last owner has
	 * read cancel_next before we write it. */
	weft__hb_acquire(&f->cancel_queued);
	inbox_push(owner, f);
	weft__worker_signal(owner);
}

/* End @f's owned wait on this worker with -ECANCELED. Owner only. */
static void cancel_here(struct worker *w, struct fiber *f)
{
	struct owned_wait *ow = f->owned;

	/* Consumed by the wait it ends. */
	ck_pr_store_uint(&f->cancel_req, 0);
	if (ow->kind == OWNED_TIMER) {
		spin_lock(&w->timers_lock);
		weft__timer_del(&w->timers, &ow->timer);
		spin_unlock(&w->timers_lock);
		weft__io_complete(w, ow, -ECANCELED);
		return;
	}
	weft__poller->cancel(w, ow);
}

static void drain_inbox(struct worker *w)
{
	struct fiber *next = inbox_take(w);

	while (next) {
		struct fiber *f = next;
		unsigned pw;

		/* Pairs with the release in inbox_push(). */
		weft__hb_acquire(f);
		/* Before the fiber can be queued again and relinked. */
		next = f->cancel_next;
		/* Full barrier: leave the inbox before looking at the wait,
		 * so a new request either sees 0 here or is handled below. */
		weft__hb_release(&f->cancel_queued);
		ck_pr_fas_uint(&f->cancel_queued, 0);
		/* An entry without a request behind it is stale: a slow
		 * canceller queued it after the request was served (by
		 * this wait or the fiber's own next park). It must not end
		 * the wait the fiber is in now; only a request or shutdown
		 * may. A canceller whose CAS on cancel_queued failed stored
		 * its request (or shutdown) before it; the full barrier
		 * above makes that store visible here. */
		if (!ck_pr_load_uint(&f->cancel_req) &&
		    !ck_pr_load_uint(&weft__sched.shutdown))
			continue;
		pw = ck_pr_load_uint(&f->park_word);
		if ((pw & PARK_STATE_MASK) == FIBER_PARKED &&
		    ck_pr_load_ptr(&f->wait_owner) == w) {
			cancel_here(w, f);
			continue;
		}
		/* The wait it was meant for is over; the request is the
		 * fiber's next suspension's business, or another owner's
		 * if it is parked there now. */
		weft__fiber_try_cancel(f);
	}
}

/* Owner's housekeeping --------------------------------------------------------- */

bool weft__owned_pending(struct worker *w)
{
	/* A racy peek at the inbox; drain_inbox() takes it properly. */
	return w->io_inflight || w->io_unsubmitted ||
	       ck_pr_load_uint(&w->timers.n) ||
	       w->io_backlog || ck_pr_load_ptr(&w->inbox);
}

void weft__owned_poll(struct worker *w)
{
	/* A racy peek; drain_inbox() takes the stack atomically. */
	if (ck_pr_load_ptr(&w->inbox))
		drain_inbox(w);
	/* A racy peek too; the heap is read under its lock. */
	if (ck_pr_load_uint(&w->timers.n))
		weft__timers_fire(w);
	if (w->io_inflight || w->io_unsubmitted || w->io_backlog)
		weft__worker_poll(w, false, 0);
}

/* The calls --------------------------------------------------------------- */

const char *weft__io_op_name(unsigned op)
{
	static const char *const names[IO_OP_COUNT] = {
		[IO_READ] = "read",	    [IO_WRITE] = "write",
		[IO_READV] = "read",	    [IO_WRITEV] = "write",
		[IO_RECV] = "recv",	    [IO_SEND] = "send",
		[IO_ACCEPT] = "accept",	    [IO_CONNECT] = "connect",
		[IO_OPENAT] = "openat",	    [IO_CLOSE] = "close",
		[IO_FSYNC] = "fsync",	    [IO_SHUTDOWN] = "shutdown",
		[IO_POLL] = "poll",
	};

	return op < IO_OP_COUNT ? names[op] : "I/O";
}

/*
 * Run @r on the calling fiber's worker: -EPERM outside a fiber, and
 * -ETIMEDOUT already past the fiber's deadline, before the backend sees
 * it.
 */
static ssize_t io_run(struct io_req *r)
{
	struct worker *w = weft__may_suspend();

	if (!w)
		return -EPERM;
	if (deadline_passed(w->cur->deadline_ns))
		return -ETIMEDOUT;
	return weft__poller->io(w, r);
}

static ssize_t read_done(void *buf, ssize_t res)
{
	/* Valgrind cannot see the kernel write the buffer. */
	if (res > 0)
		mark_defined(buf, (size_t)res);
	return res;
}

ssize_t weft_read(int fd, void *buf, size_t len)
{
	return weft_pread(fd, buf, len, -1);
}

ssize_t weft_write(int fd, const void *buf, size_t len)
{
	return weft_pwrite(fd, buf, len, -1);
}

ssize_t weft_pread(int fd, void *buf, size_t len, int64_t off)
{
	struct io_req r = { .op = IO_READ, .fd = fd, .buf = buf,
			    .len = len > UINT32_MAX ? UINT32_MAX : len,
			    .off = off };

	return read_done(buf, io_run(&r));
}

ssize_t weft_pwrite(int fd, const void *buf, size_t len, int64_t off)
{
	struct io_req r = { .op = IO_WRITE, .fd = fd, .buf = (void *)buf,
			    .len = len > UINT32_MAX ? UINT32_MAX : len,
			    .off = off };

	return io_run(&r);
}

ssize_t weft_readv(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
	struct io_req r = { .op = IO_READV, .fd = fd, .buf = (void *)iov,
			    .len = (size_t)iovcnt, .off = off };
	ssize_t res;
	int i;

	if (iovcnt < 0)
		return -EINVAL;
	res = io_run(&r);
	for (i = 0; res > 0 && i < iovcnt; i++) {
		size_t n = (size_t)res < iov[i].iov_len ? (size_t)res
							 : iov[i].iov_len;

		read_done(iov[i].iov_base, (ssize_t)n);
	}
	return res;
}

ssize_t weft_writev(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
	struct io_req r = { .op = IO_WRITEV, .fd = fd, .buf = (void *)iov,
			    .len = (size_t)iovcnt, .off = off };

	if (iovcnt < 0)
		return -EINVAL;
	return io_run(&r);
}

ssize_t weft_recv(int fd, void *buf, size_t len, int flags)
{
	struct io_req r = { .op = IO_RECV, .fd = fd, .buf = buf, .len = len,
			    .flags = flags };

	return read_done(buf, io_run(&r));
}

ssize_t weft_send(int fd, const void *buf, size_t len, int flags)
{
	struct io_req r = { .op = IO_SEND, .fd = fd, .buf = (void *)buf,
			    .len = len, .flags = flags };

	return io_run(&r);
}

int weft_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	struct io_req r = { .op = IO_ACCEPT, .fd = fd, .buf = addr,
			    .addrlen = addrlen, .flags = flags };
	int res = (int)io_run(&r);

	/* The kernel filled in the peer's address. */
	if (res >= 0 && addr && addrlen) {
		mark_defined(addrlen, sizeof(*addrlen));
		mark_defined(addr, *addrlen);
	}
	return res;
}

int weft_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	struct io_req r = { .op = IO_CONNECT, .fd = fd, .buf = (void *)addr,
			    .len = addrlen };

	return (int)io_run(&r);
}

int weft_openat(int dfd, const char *path, int flags, unsigned mode)
{
	struct io_req r = { .op = IO_OPENAT, .fd = dfd, .buf = (void *)path,
			    .flags = flags, .len = mode };

	return (int)io_run(&r);
}

int weft_close(int fd)
{
	struct io_req r = { .op = IO_CLOSE, .fd = fd };

	return (int)io_run(&r);
}

int weft_fsync(int fd)
{
	struct io_req r = { .op = IO_FSYNC, .fd = fd };

	return (int)io_run(&r);
}

int weft_shutdown(int fd, int how)
{
	struct io_req r = { .op = IO_SHUTDOWN, .fd = fd, .flags = how };

	return (int)io_run(&r);
}

int weft_poll(int fd, short events, int64_t timeout_ns)
{
	struct io_req r = { .op = IO_POLL, .fd = fd,
			    .flags = (int)(unsigned short)events };
	struct worker *w = weft__may_suspend();
	struct fiber *f;
	int64_t saved;
	int res;

	if (!w)
		return -EPERM;
	f = w->cur;
	if (deadline_passed(f->deadline_ns))
		return -ETIMEDOUT;
	/* The earlier of the call's timeout and the fiber's deadline. A
	 * timeout of 0 still checks once: the backend tries the call before
	 * it looks at the deadline. The fiber record moves with the fiber,
	 * so f stays right. */
	saved = f->deadline_ns;
	f->deadline_ns = deadline_min(saved, deadline_after(timeout_ns));
	res = (int)weft__poller->io(w, &r);
	f->deadline_ns = saved;
	return res;
}

/* Loops over short transfers ------------------------------------------------ */

/*
 * @buf advanced by @off bytes, in integers: the kernel, not the loop,
 * says what a NULL buffer means (-EFAULT, or nothing for /dev/null), and
 * pointer arithmetic on NULL is undefined even for an offset of 0.
 */
static uintptr_t buf_at(const void *buf, size_t off)
{
	return (uintptr_t)buf + off;
}

ssize_t weft_write_all(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = weft_write(fd, (const void *)buf_at(buf, done),
				       len - done);

		if (n < 0)
			return n;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

ssize_t weft_read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = weft_read(fd, (void *)buf_at(buf, done),
				      len - done);

		if (n < 0)
			return n;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}
