/* SPDX-License-Identifier: MIT */
/*
 * weft: an M:N green-thread runtime.
 *
 * This is the one public header. M fibers (lightweight coroutines with
 * their own stacks) run on N worker OS threads, one per core by default;
 * idle workers steal work from busy ones. A fiber that waits (for a join,
 * I/O, a sleep; channels and locks as they land) is suspended, and its
 * worker runs another fiber. Each worker owns an io_uring, through which
 * all fiber I/O goes and in which the worker sleeps when it has nothing
 * to run.
 *
 * Conventions.
 *  - Every call that can fail returns 0 (or a non-negative result) on
 *    success and a negative errno value on failure. errno is never the
 *    channel for weft's errors.
 *  - "Fiber context only" means the call must be made by a fiber running
 *    inside weft_run(); anywhere else it returns -EPERM (or, for a void
 *    function, does nothing).
 *  - "Yield point" means the calling fiber may be suspended there and may
 *    resume on another worker thread. weft saves each fiber's errno value
 *    when it switches out and restores it, on whatever thread it resumes
 *    on, when it switches back in. But never keep the address of a
 *    thread-local variable, errno included, across a yield point, and
 *    know that gcc and clang do so by themselves at -O2: glibc declares
 *    __errno_location() const, so a function that evaluates errno both
 *    before and after a yield point may read the first thread's errno
 *    after a migration. Read errno right after the call that set it, or
 *    in a separate noinline function. The same holds for __thread data.
 *
 * Stacks. Every fiber has its own mmap'd stack, carved from large slabs.
 * The default size is 64 KiB (weft_config.stack_size, or per spawn in
 * weft_spawn_opts.stack_size; sizes are rounded up to whole pages and at
 * least WEFT_STACK_MIN). Only touched pages cost memory.
 *
 * Guard pages and the map budget. A stack normally has a PROT_NONE guard
 * page below it; overflowing into it stops the process with a message
 * naming the fiber ("weft: fiber 12 "worker" overflowed its 65536-byte
 * stack (fault in the guard page at 0x...)") and abort(). Each guard
 * costs the process two kernel memory mappings, and Linux caps mappings
 * per process (vm.max_map_count, 65,530 by default), so weft spends at
 * most a quarter of that cap on guards (an eighth under sanitizers, which
 * map heavily themselves, and at most 4,096 under Valgrind). Stacks
 * carved beyond that budget get no guard page but an unused page-sized
 * gap below them that must stay all zero. An overflow on such a stack is
 * caught when the fiber next switches out (the top of the gap is checked
 * on every switch), when the fiber ends (the whole gap is checked), or,
 * if it runs on into the memory below and faults there, by its stack
 * pointer being below its stack; either way the same kind of message
 * names the fiber and the process aborts. Until then it may have
 * overwritten the top of the neighbouring stack. So a million fibers can
 * be alive at once on a stock machine, the first ~16,000 of them fully
 * guarded; weft_stats() reports how many stacks are guarded. A parked
 * fiber that used little stack costs about one page plus its 256-byte
 * record (4,393 bytes each, measured with a million parked): the gap page
 * is only ever read, so it costs no memory.
 *
 * Fiber handles. A weft_fiber * is an opaque handle that weft checks on
 * every use: a handle to a fiber that was joined, or to a detached fiber
 * that ended, is refused with -ESRCH instead of touching freed memory.
 * Handles are valid only inside the weft_run() that made them.
 */
#ifndef WEFT_H
#define WEFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define WEFT_API __attribute__((visibility("default")))
#else
#define WEFT_API
#endif

/* Smallest fiber stack weft hands out, in bytes. */
#define WEFT_STACK_MIN 4096u
/* Stack size used when neither the config nor the spawn names one. */
#define WEFT_STACK_DEFAULT (64u * 1024u)

/* Runtime ------------------------------------------------------------- */

struct weft_config {
	unsigned workers;	/* worker threads; 0: one per online CPU     */
	size_t stack_size;	/* default fiber stack; 0: WEFT_STACK_DEFAULT */
	unsigned ring_entries;	/* io_uring SQ entries per worker; 0: 256    */
	unsigned blocking_threads; /* weft_blocking() pool size; 0: 4        */
	/* More fields may follow; a zeroed struct means all defaults. */
};

/*
 * Start the runtime and run main_fn(arg) as the first fiber. The calling
 * thread becomes worker 0; workers - 1 more threads are started.
 *
 * When main_fn returns, every fiber still alive is cancelled, as
 * asyncio.run() does: each one's current suspension returns -ECANCELED,
 * and from then on every suspension of every fiber returns -ECANCELED at
 * once and weft_spawn() refuses new fibers. weft_run() returns when all
 * fibers have ended and the workers have stopped. A fiber that never
 * suspends and never checks weft_cancelled() keeps weft_run() waiting.
 *
 * Returns 0, or:
 *   -EINVAL  main_fn is NULL, or a config field is out of range
 *            (workers > WEFT_WORKERS_MAX, ring_entries > 32768,
 *            blocking_threads > WEFT_BLOCKING_MAX, stack_size > 1 GiB);
 *   -EBUSY   a runtime is already running in this process;
 *   -ENOSYS  io_uring is not available (kernel.io_uring_disabled, or a
 *            seccomp filter); one line on stderr says why;
 *   -ENOMEM, -EAGAIN  resources for the workers could not be had.
 * Any thread that is not already a weft worker.
 */
WEFT_API int weft_run(const struct weft_config *cfg,
		      void (*main_fn)(void *), void *arg);

/* Most workers weft_run() accepts. */
#define WEFT_WORKERS_MAX 256u
/* Most threads the blocking pool may have. */
#define WEFT_BLOCKING_MAX 64u

/* Fibers -------------------------------------------------------------- */

typedef struct weft_fiber weft_fiber;

struct weft_spawn_opts {
	size_t stack_size;	/* 0: the runtime's default                  */
	const char *name;	/* copied (first 31 bytes); NULL: unnamed    */
};

/*
 * Create a fiber that runs fn(arg) and make it runnable on the calling
 * worker. *out receives a handle that must be joined or detached exactly
 * once; @out may be NULL only if the fiber is to be detached at once (as
 * weft_go() does). @opts may be NULL.
 * Returns 0, or -EINVAL (fn is NULL, or stack_size above 1 GiB), -EPERM
 * (not in a fiber), -ECANCELED (the runtime is shutting down), -ENOMEM
 * or -EAGAIN (no memory or mappings for a stack or record).
 * Fiber context only. Not a yield point.
 */
WEFT_API int weft_spawn(weft_fiber **out, void *(*fn)(void *), void *arg,
			const struct weft_spawn_opts *opts);

/*
 * Wait for @f to end, store its return value in *result (if @result is
 * not NULL) and free it. Each fiber is joined at most once.
 * Returns 0, or:
 *   -EPERM      not called from a fiber;
 *   -ESRCH      @f is not a live handle (already joined, or detached and
 *               ended, or from another weft_run);
 *   -EDEADLK    @f is the calling fiber;
 *   -EINVAL     @f is detached, or another fiber is already joining it;
 *   -ECANCELED  the caller was cancelled while waiting; @f is untouched
 *               and may be joined again or detached.
 * Fiber context only. Yield point.
 */
WEFT_API int weft_join(weft_fiber *f, void **result);

/*
 * Let @f free itself when it ends; its result is discarded. After this
 * the handle must not be used again.
 * Returns 0, -ESRCH (not a live handle), -EINVAL (already detached, or
 * being joined), or -EPERM (not inside weft_run()).
 * Any worker thread; not a yield point.
 */
WEFT_API int weft_detach(weft_fiber *f);

/* Spawn a detached fiber with default options: weft_spawn() + weft_detach(). */
WEFT_API int weft_go(void *(*fn)(void *), void *arg);

/*
 * Let other runnable fibers run; the caller goes to the back of its
 * worker's run queue and may resume on another worker. Returns at once
 * when nothing else is runnable. Outside a fiber it does nothing.
 * Yield point.
 */
WEFT_API void weft_yield(void);

/* The calling fiber's handle, or NULL outside a fiber. */
WEFT_API weft_fiber *weft_self(void);

/*
 * Ask @f to stop: its current suspension, or its next one, returns
 * -ECANCELED. The request is consumed by the suspension that reports it
 * (as asyncio delivers CancelledError once); a fiber that is running and
 * never suspends can poll weft_cancelled(). Cancelling a fiber that has
 * ended has no effect.
 * Returns 0, -ESRCH (not a live handle) or -EPERM (not inside weft_run()).
 * Any thread, fibers included; not a yield point.
 */
WEFT_API int weft_cancel(weft_fiber *f);

/*
 * True if the calling fiber has a cancellation request pending or the
 * runtime is shutting down. Does not consume the request.
 */
WEFT_API bool weft_cancelled(void);

/*
 * Index (0 .. workers-1) of the worker running the caller right now.
 * It can change after any yield point. Outside a worker: UINT32_MAX.
 */
WEFT_API unsigned weft_worker_id(void);

/*
 * The calling fiber's id: a number unique within the weft_run (the main
 * fiber is 1), also used in stack overflow reports. 0 outside a fiber.
 */
WEFT_API uint64_t weft_fiber_id(void);

/* Time and deadlines ----------------------------------------------------- */

/* "No deadline". Time is an int64_t of nanoseconds on CLOCK_MONOTONIC. */
#define WEFT_FOREVER ((int64_t)-1)

/* Now on CLOCK_MONOTONIC, in nanoseconds. Any thread. */
WEFT_API uint64_t weft_now_ns(void);

/*
 * Suspend the calling fiber for @ns nanoseconds (0: just let the worker
 * look at its timers and I/O once). Sleeping fibers wait in their
 * worker's timer heap and cost no kernel timer each.
 * Returns 0, -ECANCELED, -ETIMEDOUT (the fiber's deadline came first), or
 * -EPERM outside a fiber. Yield point.
 */
WEFT_API int weft_sleep_ns(uint64_t ns);

/* As weft_sleep_ns(), until the absolute time @deadline_ns. */
WEFT_API int weft_sleep_until(int64_t deadline_ns);

/*
 * Give the calling fiber a deadline, absolute on CLOCK_MONOTONIC
 * (WEFT_FOREVER clears it), and return the previous one. While it is set,
 * every I/O call and sleep of this fiber that would still be waiting at
 * @deadline_ns stops waiting and returns -ETIMEDOUT (an I/O call only once
 * the kernel has let go of its buffer). This is a fiber-wide scope, like
 * Trio's move_on_at: set it around one call, or around a whole exchange
 * (weft_write_all() plus weft_read_full(), say), then restore the old
 * value. Joins are not bounded by it. Returns WEFT_FOREVER outside a
 * fiber and does nothing there.
 */
WEFT_API int64_t weft_set_deadline(int64_t deadline_ns);

/* I/O ------------------------------------------------------------------- */

/*
 * Each call has the meaning of the system call it is named after, runs
 * through the calling worker's io_uring, and suspends the calling fiber,
 * never the worker, until it completes. Results: the system call's result,
 * or a negative errno (-EBADF, -ECONNREFUSED, -EPIPE, ...); -ECANCELED
 * after weft_cancel() (only once the kernel has finished with the
 * buffer: if the operation completed first, its real result is returned);
 * -ETIMEDOUT past the fiber's deadline; -EPERM outside a fiber.
 * Submission is batched: a worker submits the calls of all its fibers
 * once per scheduling round. A file offset of -1 means "the current file
 * position", as read(2) and write(2) use it. All are yield points.
 */
WEFT_API ssize_t weft_read(int fd, void *buf, size_t len);
WEFT_API ssize_t weft_write(int fd, const void *buf, size_t len);
WEFT_API ssize_t weft_pread(int fd, void *buf, size_t len, int64_t off);
WEFT_API ssize_t weft_pwrite(int fd, const void *buf, size_t len, int64_t off);
WEFT_API ssize_t weft_readv(int fd, const struct iovec *iov, int iovcnt,
			    int64_t off);
WEFT_API ssize_t weft_writev(int fd, const struct iovec *iov, int iovcnt,
			     int64_t off);
WEFT_API ssize_t weft_recv(int fd, void *buf, size_t len, int flags);
WEFT_API ssize_t weft_send(int fd, const void *buf, size_t len, int flags);
WEFT_API int weft_accept(int fd, struct sockaddr *addr, socklen_t *addrlen,
			 int flags);
WEFT_API int weft_connect(int fd, const struct sockaddr *addr,
			  socklen_t addrlen);
WEFT_API int weft_openat(int dfd, const char *path, int flags, unsigned mode);
WEFT_API int weft_close(int fd);
WEFT_API int weft_fsync(int fd);
WEFT_API int weft_shutdown(int fd, int how);

/*
 * Wait until @fd is ready for @events (POLLIN, POLLOUT, ...) and return
 * the ready events, or -ETIMEDOUT after @timeout_ns (WEFT_FOREVER: no
 * limit; the fiber's deadline applies too).
 */
WEFT_API int weft_poll(int fd, short events, int64_t timeout_ns);

/*
 * Write all @len bytes, or read exactly @len bytes, looping over short
 * transfers. Return @len, or on failure a negative errno; weft_read_full()
 * returns the bytes read so far (less than @len) at end of file.
 */
WEFT_API ssize_t weft_write_all(int fd, const void *buf, size_t len);
WEFT_API ssize_t weft_read_full(int fd, void *buf, size_t len);

/* The blocking pool ------------------------------------------------------ */

/*
 * Run fn(arg) on a thread of the blocking pool, for a call that cannot go
 * through io_uring (getaddrinfo, a CPU-heavy routine, a foreign library),
 * and park the calling fiber until it returns; the worker runs other
 * fibers meanwhile. *result (if @result is not NULL) receives fn's return
 * value. The pool starts threads on demand, up to
 * weft_config.blocking_threads; further calls queue. The call cannot be
 * cancelled once made: weft_cancel() takes effect at the fiber's next
 * suspension after it returns.
 * Returns 0, -EINVAL (fn is NULL), -EPERM (not in a fiber), or -EAGAIN
 * (no pool thread could be started). Fiber context only. Yield point.
 */
WEFT_API int weft_blocking(void *(*fn)(void *), void *arg, void **result);

/* Statistics ------------------------------------------------------------ */

struct weft_stats {
	unsigned workers;	  /* worker threads                          */
	uint64_t spawned;	  /* fibers spawned so far                   */
	uint64_t live;		  /* fibers spawned and not yet ended        */
	uint64_t steals;	  /* successful steals (batches)             */
	uint64_t parks;		  /* times a worker went to sleep            */
	uint64_t stacks_mapped;	  /* stack slots carved from slabs           */
	uint64_t stacks_guarded;  /* of those, slots with a guard page       */
};

/*
 * Snapshot of the runtime's counters. Each field is read without
 * stopping the workers, so the fields are individually exact but not a
 * single instant. Returns 0, or -EPERM outside weft_run().
 */
WEFT_API int weft_stats(struct weft_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_H */
