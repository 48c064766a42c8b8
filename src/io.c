/* SPDX-License-Identifier: MIT */
/*
 * I/O suspension points and the waits a worker owns.
 *
 * A fiber's I/O call takes an SQE on its current worker's ring, points
 * user_data at an owned_wait record on its own stack, and parks. The
 * worker submits all its fibers' SQEs at once when it next reaches its
 * scheduler context (at the latest every 61 schedules), and handles the
 * completions there: each one stores the result in its record and makes
 * the fiber runnable. Completions are handled only in the scheduler
 * context, never by a fiber on its way out, because every fiber that
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
 * Deadlines. A fiber with a deadline (weft_set_deadline) links an
 * IORING_OP_LINK_TIMEOUT with the absolute deadline to each SQE; an
 * operation cut short by it returns -ETIMEDOUT.
 *
 * Only the owner worker's thread runs any of this for a given ring. That
 * is also why ThreadSanitizer, which cannot see through io_uring, needs no
 * annotations here: an SQE is prepared, submitted and reaped by one
 * thread, and the result reaches a fiber that resumes elsewhere through
 * the run queues, which are annotated (runq.c).
 */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include <ck_pr.h>

#include "fiber.h"
#include "io.h"
#include "scheduler.h"
#include "waitq.h"

#ifdef WEFT_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#define mark_defined(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
#else
#define mark_defined(p, n) ((void)(p), (void)(n))
#endif

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
	struct io_uring_sqe *sqe;

	/* Consumed by the wait it ends. */
	ck_pr_store_uint(&f->cancel_req, 0);
	if (ow->is_timer) {
		spin_lock(&w->timers_lock);
		weft__timer_del(&w->timers, &ow->timer);
		spin_unlock(&w->timers_lock);
		weft__io_complete(w, ow, -ECANCELED);
		return;
	}
	if (ow->cancelled)
		return;
	ow->cancelled = true;
	sqe = weft__worker_sqe(w, 1);
	io_uring_prep_cancel(sqe, ow, 0);
	io_uring_sqe_set_data64(sqe, TAG_CANCEL);
	w->io_inflight++;
	w->io_unsubmitted++;
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
	       w->backlog_n || ck_pr_load_ptr(&w->inbox);
}

void weft__owned_poll(struct worker *w)
{
	/* A racy peek; drain_inbox() takes the stack atomically. */
	if (ck_pr_load_ptr(&w->inbox))
		drain_inbox(w);
	/* A racy peek too; the heap is read under its lock. */
	if (ck_pr_load_uint(&w->timers.n))
		weft__timers_fire(w);
	if (w->io_inflight || w->io_unsubmitted || w->backlog_n)
		weft__worker_poll(w, false, 0);
}

/* Submitting ---------------------------------------------------------------- */

/* One I/O call in progress; lives on the calling fiber's stack. */
struct io_call {
	struct worker *w;
	struct owned_wait ow;
	int err;		/* io_begin() failed with this */
};

/*
 * Check the calling context and return an SQE to prepare, with room left
 * for a linked timeout. NULL with c->err set: -EPERM outside a fiber,
 * -ETIMEDOUT already past the fiber's deadline.
 */
static struct io_uring_sqe *io_begin(struct io_call *c)
{
	struct worker *w = weft__may_suspend();
	struct fiber *f;

	if (!w) {
		c->err = -EPERM;
		return NULL;
	}
	f = w->cur;
	if (deadline_passed(f->deadline_ns)) {
		c->err = -ETIMEDOUT;
		return NULL;
	}
	c->w = w;
	return weft__worker_sqe(w, 2);
}

/*
 * Run the SQE the caller prepared: add the fiber's deadline, if any, as a
 * linked timeout, and park until the owner hands the result back.
 */
static int io_run(struct io_call *c, struct io_uring_sqe *sqe)
{
	struct worker *w = c->w;
	struct owned_wait *ow = &c->ow;
	int64_t deadline = w->cur->deadline_ns;
	int res;

	ow->is_timer = false;
	fiber_waits_on(w->cur, WAIT_IO | (unsigned)sqe->opcode << 8,
		       (uint64_t)(int64_t)sqe->fd);
	io_uring_sqe_set_data(sqe, ow);
	w->io_inflight++;
	w->io_unsubmitted++;
	if (deadline != WEFT_FOREVER) {
		/* io_begin() reserved this one. */
		struct io_uring_sqe *lt = io_uring_get_sqe(&w->ring);

		weft_assert(lt);
		ow->ts.tv_sec = deadline / 1000000000;
		ow->ts.tv_nsec = deadline % 1000000000;
		sqe->flags |= IOSQE_IO_LINK;
		io_uring_prep_link_timeout(lt, &ow->ts, IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data64(lt, TAG_LINK_TIMEOUT);
		w->io_inflight++;
		w->io_unsubmitted++;
	}
	res = weft__owned_wait(w, ow);
	/* Cut short by the linked timeout rather than by weft_cancel(). */
	if (res == -ECANCELED && !ow->cancelled && deadline_passed(deadline))
		res = -ETIMEDOUT;
	return res;
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
	struct io_call c;
	struct io_uring_sqe *sqe = io_begin(&c);

	if (!sqe)
		return c.err;
	if (len > UINT32_MAX)
		len = UINT32_MAX;
	io_uring_prep_read(sqe, fd, buf, (unsigned)len, (uint64_t)off);
	return read_done(buf, io_run(&c, sqe));
}

ssize_t weft_pwrite(int fd, const void *buf, size_t len, int64_t off)
{
	struct io_call c;
	struct io_uring_sqe *sqe = io_begin(&c);

	if (!sqe)
		return c.err;
	if (len > UINT32_MAX)
		len = UINT32_MAX;
	io_uring_prep_write(sqe, fd, buf, (unsigned)len, (uint64_t)off);
	return io_run(&c, sqe);
}

ssize_t weft_readv(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
	struct io_call c;
	struct io_uring_sqe *sqe;
	ssize_t res;
	int i;

	if (iovcnt < 0)
		return -EINVAL;
	sqe = io_begin(&c);
	if (!sqe)
		return c.err;
	io_uring_prep_readv(sqe, fd, iov, (unsigned)iovcnt, (uint64_t)off);
	res = io_run(&c, sqe);
	for (i = 0; res > 0 && i < iovcnt; i++) {
		size_t n = (size_t)res < iov[i].iov_len ? (size_t)res
							 : iov[i].iov_len;

		read_done(iov[i].iov_base, (ssize_t)n);
	}
	return res;
}

ssize_t weft_writev(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
	struct io_call c;
	struct io_uring_sqe *sqe;

	if (iovcnt < 0)
		return -EINVAL;
	sqe = io_begin(&c);
	if (!sqe)
		return c.err;
	io_uring_prep_writev(sqe, fd, iov, (unsigned)iovcnt, (uint64_t)off);
	return io_run(&c, sqe);
}

ssize_t weft_recv(int fd, void *buf, size_t len, int flags)
{
	struct io_call c;
	struct io_uring_sqe *sqe = io_begin(&c);

	if (!sqe)
		return c.err;
	io_uring_prep_recv(sqe, fd, buf, len, flags);
	return read_done(buf, io_run(&c, sqe));
}

ssize_t weft_send(int fd, const void *buf, size_t len, int flags)
{
	struct io_call c;
	struct io_uring_sqe *sqe = io_begin(&c);

	if (!sqe)
		return c.err;
	io_uring_prep_send(sqe, fd, buf, len, flags);
	return io_run(&c, sqe);
}

int weft_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	struct io_call c;
	struct io_uring_sqe *sqe = io_begin(&c);
	int res;

	if (!sqe)
		return c.err;
	io_uring_prep_accept(sqe, fd, addr, addrlen, flags);
	res = io_run(&c, sqe);
	/* The kernel filled in the peer's address. */
	if (res >= 0 && addr && addrlen) {
		mark_defined(addrlen, sizeof(*addrlen));
		mark_defined(addr, *addrlen);
	}
	return res;
}

int weft_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	struct io_call c;
	struct io_uring_sqe *sqe = io_begin(&c);

	if (!sqe)
		return c.err;
	io_uring_prep_connect(sqe, fd, addr, addrlen);
	return io_run(&c, sqe);
}

int weft_openat(int dfd, const char *path, int flags, unsigned mode)
{
	struct io_call c;
	struct io_uring_sqe *sqe = io_begin(&c);

	if (!sqe)
		return c.err;
	io_uring_prep_openat(sqe, dfd, path, flags, mode);
	return io_run(&c, sqe);
}

int weft_close(int fd)
{
	struct io_call c;
	struct io_uring_sqe *sqe = io_begin(&c);

	if (!sqe)
		return c.err;
	io_uring_prep_close(sqe, fd);
	return io_run(&c, sqe);
}

int weft_fsync(int fd)
{
	struct io_call c;
	struct io_uring_sqe *sqe = io_begin(&c);

	if (!sqe)
		return c.err;
	io_uring_prep_fsync(sqe, fd, 0);
	return io_run(&c, sqe);
}

int weft_shutdown(int fd, int how)
{
	struct io_call c;
	struct io_uring_sqe *sqe = io_begin(&c);

	if (!sqe)
		return c.err;
	io_uring_prep_shutdown(sqe, fd, how);
	return io_run(&c, sqe);
}

int weft_poll(int fd, short events, int64_t timeout_ns)
{
	struct io_call c;
	struct io_uring_sqe *sqe;
	struct fiber *f;
	int64_t saved;
	int res;

	sqe = io_begin(&c);
	if (!sqe)
		return c.err;
	/* The earlier of the call's timeout and the fiber's deadline. The
	 * fiber record moves with the fiber, so f stays right. */
	f = c.w->cur;
	saved = f->deadline_ns;
	f->deadline_ns = deadline_min(saved, deadline_after(timeout_ns));
	io_uring_prep_poll_add(sqe, fd, (unsigned)(unsigned short)events);
	res = io_run(&c, sqe);
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
