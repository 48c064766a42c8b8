/* SPDX-License-Identifier: MIT */
/*
 * The poller: how a worker runs its fibers' I/O, sleeps until something
 * happens, and is woken from another thread. Two backends implement it:
 *
 *  - io_uring (poller_uring.c): an operation is an SQE on the worker's
 *    ring; the kernel does the work and posts a completion. Wake-ups are
 *    MSG_RING from another worker's ring, or an eventfd read kept armed.
 *  - epoll (poller_epoll.c): an operation is tried at once without
 *    blocking; if the descriptor is not ready the fiber watches it in the
 *    worker's epoll set and tries again when it is. Files, fsync and
 *    openat go through the blocking pool. Wake-ups are eventfd writes.
 *
 * Both finish a fiber's wait the same way: the owner worker, in its
 * scheduler context, calls weft__io_complete() on the wait's record (an
 * owned wait, io.h). The backend is chosen once, in weft_run(), before any
 * worker starts, and is the same for every worker.
 */
#ifndef WEFT_POLLER_H
#define WEFT_POLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct worker;
struct owned_wait;

/* The I/O calls of weft.h, as the backends see them. */
enum io_op {
	IO_READ,	/* buf, len, off (-1: the file position)            */
	IO_WRITE,	/* buf, len, off                                    */
	IO_READV,	/* buf: the iovec array, len: its count, off        */
	IO_WRITEV,	/* as IO_READV                                      */
	IO_RECV,	/* buf, len, flags                                  */
	IO_SEND,	/* buf, len, flags                                  */
	IO_ACCEPT,	/* buf: the address, addrlen, flags                 */
	IO_CONNECT,	/* buf: the address, len: its length                */
	IO_OPENAT,	/* fd: the directory, buf: the path, flags, len: mode */
	IO_CLOSE,
	IO_FSYNC,
	IO_SHUTDOWN,	/* flags: how                                      */
	IO_POLL,	/* flags: the poll(2) events                       */
	IO_SENDFILE,	/* fd: the socket, flags: the file, off, len        */
	IO_SPLICE,	/* fd: from (off, -1 for a pipe), flags: to, len;
			 * io_uring only, inside IO_SENDFILE             */
	IO_OP_COUNT,
};

/* One I/O call, on the calling fiber's stack. */
struct io_req {
	enum io_op op;
	int fd;
	int flags;
	void *buf;
	size_t len;
	int64_t off;
	socklen_t *addrlen;
};

/* "read", "accept", ... for reports (monitor.c), and the same as an
 * array for the trace and debuggers (fiber.c defines both). */
const char *weft__io_op_name(unsigned op);
extern const char *const weft__io_op_names[IO_OP_COUNT];

struct poller {
	const char *name;	/* "io_uring", "epoll"                   */
	unsigned backend;	/* WEFT_BACKEND_*                        */
	/* Set up / tear down @w's poller, on @w's own thread. */
	int (*init)(struct worker *w);
	void (*fini)(struct worker *w);
	/*
	 * Run @r for the fiber running on @w, which is allowed to suspend
	 * and is within its deadline. Returns what the system call would
	 * (-errno on failure), -ETIMEDOUT at the fiber's deadline,
	 * -ECANCELED on cancellation. Fiber context; yield point.
	 */
	ssize_t (*io)(struct worker *w, struct io_req *r);
	/*
	 * End the owned wait @ow, which is not a timer, early with
	 * -ECANCELED: at once, or, if the kernel may still write into the
	 * fiber's buffer, when it lets go. Owner only, sched ctx.
	 */
	void (*cancel)(struct worker *w, struct owned_wait *ow);
	/*
	 * Handle what has happened; with @wait, sleep first until something
	 * does or @timeout_ns passes (WEFT_FOREVER: no limit). Sched ctx.
	 */
	void (*poll)(struct worker *w, bool wait, int64_t timeout_ns);
	/* Wake @target if it sleeps in poll(), or make its next one
	 * return at once. Any thread. */
	void (*signal)(struct worker *target);
};

extern const struct poller weft__poller_uring;
extern const struct poller weft__poller_epoll;

/*
 * A call on @w completed without suspending: every IO_NOWAIT_MAX-th in a
 * row yields, so a fiber whose calls are always ready (a socket with
 * data waiting, a file in the page cache) cannot keep its worker to
 * itself. A backend that parks the fiber sets w->io_nowait to 0. Fiber
 * context (io.c).
 */
#define IO_NOWAIT_MAX 64
void weft__io_nowait(struct worker *w);

/* The setup flags of @w's ring, 0 if it has none (tests). */
unsigned weft__uring_setup_flags(const struct worker *w);

/* The backend of the running runtime; set before the workers start. */
extern const struct poller *weft__poller;

#endif /* WEFT_POLLER_H */
