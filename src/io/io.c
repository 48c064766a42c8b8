/* SPDX-License-Identifier: MIT */
/*
 * The I/O calls of weft.h: each becomes a request (struct io_req) that
 * the runtime's backend runs (poller.h), on the calling fiber's worker,
 * after the checks every backend shares (in a fiber, within its
 * deadline). Where the call must wait, the backend parks the fiber in a
 * wait its worker owns (owned.h).
 *
 * Deadlines. A fiber with a deadline (weft_set_deadline) bounds each I/O
 * wait by it: both backends put the wait's timer in the worker's heap,
 * as a sleep's; at expiry epoll ends the watch, io_uring cancels the SQE
 * and the wait ends when the kernel lets go of the buffer. A wait cut
 * short returns -ETIMEDOUT.
 *
 * In place. An openat whose every path component is in the kernel's
 * lookup cache, and a read at an offset from a file whose pages are in
 * memory, cannot block; done on the worker at once (in_place()) they
 * cost a system call, where the backend would charge a trip through the
 * ring and a park (io_uring) or through the blocking pool (epoll). Only
 * what would have to wait goes to the backend. A server of static files
 * does exactly these calls.
 *
 * Chaos mode's faults (WEFT_CHAOS_IO, with a chaos seed): before a call
 * reaches the backend, chaos_fault() may delay it (a sleep of up to a
 * millisecond), shorten a read, write, send or receive (to a random
 * length from 1, which the calls' contract allows), or fail it as the
 * kernel could: -ECONNRESET for a socket's send or receive, -ENOSPC for
 * a write. Each with the chance the variable sets, drawn from the
 * worker's seeded PRNG.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "config.h"
#include "fiber.h"
#include "poller.h"
#include "scheduler.h"
#include "waitq.h"

#if WEFT_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#define mark_defined(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
#else
#define mark_defined(p, n) ((void)(p), (void)(n))
#endif

const struct poller *weft__poller = &weft__poller_uring;

/* The calls --------------------------------------------------------------- */

void weft__io_nowait(struct worker *w)
{
	if (++w->io_nowait < IO_NOWAIT_MAX)
		return;
	w->io_nowait = 0;
	weft_yield();
}

/* May in_place() try @r? */
static bool may_do_in_place(const struct io_req *r)
{
	switch (r->op) {
	case IO_OPENAT:
		/* RESOLVE_CACHED refuses to create or truncate. */
		return !(r->flags & (O_CREAT | O_TRUNC)) &&
		       (r->flags & O_TMPFILE) != O_TMPFILE;
	case IO_READ:
	case IO_READV:
		/* At an offset: a file (a socket or pipe has none). */
		return r->off >= 0;
	default:
		return false;
	}
}

/*
 * Try @r without blocking, on the worker: openat2 with RESOLVE_CACHED
 * (Linux 5.12+, what io_uring tries first too), preadv2 with RWF_NOWAIT
 * (4.14+). What the call returns, or -EAGAIN where it would wait, where
 * the kernel lacks the flag, or where the descriptor is not a file that
 * knows RWF_NOWAIT (EOPNOTSUPP, ESPIPE): the backend does it then, and
 * answers as before.
 */
static ssize_t in_place(const struct io_req *r)
{
	struct iovec one = { .iov_base = r->buf, .iov_len = r->len };
	const struct iovec *iov = &one;
	int cnt = 1;
	ssize_t n;

	if (r->op == IO_OPENAT) {
		struct open_how how = {
			.flags = (uint64_t)(unsigned)r->flags,
			.resolve = RESOLVE_CACHED,
		};

		n = syscall(SYS_openat2, r->fd, r->buf, &how, sizeof(how));
	} else {
		if (r->op == IO_READV) {
			iov = r->buf;
			cnt = (int)r->len;
		}
		n = preadv2(r->fd, iov, cnt, (off_t)r->off, RWF_NOWAIT);
	}
	if (n >= 0)
		return n;
	switch (errno) {
	case EAGAIN:
	case ENOSYS:
	case EINVAL:
	case E2BIG:
	case EOPNOTSUPP:
	case ESPIPE:
		return -EAGAIN;
	default:
		return -errno;
	}
}

/* Whether the chance @p (in 1/2^32) comes up. */
static bool chance(struct worker *w, uint32_t p)
{
	return p && weft__rand(w) < p;
}

/*
 * Chaos mode's fault for @r, if one comes up: its error, or 0 (the call
 * goes on, perhaps shortened or late). @*wp: the worker, after a delay.
 */
static int chaos_fault(struct worker **wp, struct io_req *r)
{
	struct worker *w = *wp;
	bool rw = r->op == IO_READ || r->op == IO_WRITE ||
		  r->op == IO_RECV || r->op == IO_SEND;
	bool sock = r->op == IO_RECV || r->op == IO_SEND;

	if (chance(w, weft__sched.chaos_io.delay)) {
		/* Cancelled or out of time while delayed: that is the
		 * call's answer, as it would be had it waited in the
		 * kernel. */
		int err = weft_sleep_ns((int64_t)(weft__rand(w) %
						  1000000u));

		if (err)
			return err;
		*wp = w = weft__worker_self();
	}
	if (sock && chance(w, weft__sched.chaos_io.reset))
		return -ECONNRESET;
	if ((r->op == IO_WRITE || r->op == IO_WRITEV) &&
	    chance(w, weft__sched.chaos_io.nospc))
		return -ENOSPC;
	if (rw && r->len > 1 && chance(w, weft__sched.chaos_io.short_io))
		r->len = 1 + weft__rand(w) % (r->len - 1);
	return 0;
}

/*
 * What every call does before its backend sees @r: -EPERM outside a
 * fiber, -ETIMEDOUT already past the fiber's deadline, then chaos mode's
 * point and fault. 0 with the worker the call runs on in *@out.
 */
static ssize_t io_begin(struct io_req *r, struct worker **out)
{
	struct worker *w = weft__may_suspend();
	ssize_t res;

	if (!w)
		return -EPERM;
	if (deadline_passed(w->cur->deadline_ns))
		return -ETIMEDOUT;
	w = chaos_point(w);
	if (unlikely(weft__chaos_seed)) {
		res = chaos_fault(&w, r);
		if (res)
			return res;
	}
	*out = w;
	return 0;
}

/* Run @r on the calling fiber's worker (io_begin() first): in place if it
 * cannot block, else by the backend. */
static ssize_t io_run(struct io_req *r)
{
	struct worker *w;
	ssize_t res = io_begin(r, &w);

	if (res)
		return res;
	if (may_do_in_place(r)) {
		res = weft__cancel_point(w);
		if (res)
			return res;
		res = in_place(r);
		if (res != -EAGAIN) {
			weft__io_nowait(w);
			return res;
		}
	}
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

ssize_t weft_sendfile(int out_fd, int in_fd, int64_t offset, size_t count)
{
	struct io_req r = { .op = IO_SENDFILE, .fd = out_fd, .flags = in_fd,
			    .off = offset, .len = count };

	if (offset < 0)
		return -EINVAL;
	return io_run(&r);
}

int weft_poll(int fd, short events, int64_t timeout_ns)
{
	struct io_req r = { .op = IO_POLL, .fd = fd,
			    .flags = (int)(unsigned short)events };
	struct worker *w;
	struct fiber *f;
	int64_t saved;
	/* Chaos mode's faults: only a delay applies to a poll. */
	int res = (int)io_begin(&r, &w);

	if (res)
		return res;
	f = w->cur;
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
