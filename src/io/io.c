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
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

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
