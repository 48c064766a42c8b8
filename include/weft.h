/* SPDX-License-Identifier: MIT */
/*
 * weft: an M:N green-thread runtime.
 *
 * This is the one public header and the reference of the API: every
 * call is documented where it is declared, in the layout described
 * under "How each call is documented" below; tools/weft-man.py turns
 * these comments into the weft(3) man page. M fibers (lightweight
 * coroutines with their own stacks) run on N worker OS threads, one per
 * core by default; idle workers steal work from busy ones. A fiber that
 * waits (for a join, I/O, a sleep, a channel, a lock) is suspended, and
 * its worker runs another fiber. Each worker owns an io_uring (or, where
 * io_uring is refused, an epoll set: see WEFT_BACKEND_AUTO), through
 * which all fiber I/O goes and in which the worker sleeps when it has
 * nothing to run.
 *
 * Conventions.
 *  - Every call that can fail returns 0 (or a non-negative result) on
 *    success and a negative errno value on failure. errno is never the
 *    channel for weft's errors.
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
 * How each call is documented. A doc comment (one opened with a slash
 * and two stars) precedes each declaration; it begins with the call's
 * name and what it does ("weft_spawn() - create a fiber"), goes on with
 * the details, and ends with three parts:
 *  - "Context:" where the call may be made, in the words below, and
 *    whether it is a yield point;
 *  - "Returns:" what a success returns;
 *  - "Errors:" each negative errno value the call can return and what it
 *    means, or "none".
 *
 * The words of "Context:".
 *  - fiber: by a fiber running inside weft_run(), not from a generator
 *    body (see Generators); anywhere else the call returns -EPERM, or,
 *    for a void call, does nothing.
 *  - fiber or generator body: by a fiber, or by the body of a generator
 *    a fiber drives (the call then acts on that fiber); elsewhere as the
 *    call says.
 *  - any thread while weft_run() runs: any thread of the process, a weft
 *    worker or not, between weft_run()'s start and its return; otherwise
 *    -EPERM.
 *  - any thread: any thread, inside or outside weft_run().
 *
 * Stacks. Every fiber has its own mmap'd stack, carved from large slabs.
 * The default size is 64 KiB (weft_config.stack_size, or per spawn in
 * weft_spawn_opts.stack_size; sizes are rounded up to whole pages and at
 * least WEFT_STACK_MIN). Only touched pages cost memory.
 *
 * Small stacks. A spawn asking for at most WEFT_STACK_SMALL bytes gets a
 * 2 KiB slot, packed two to a page with no guard page; its lowest 64
 * bytes are a zero canary checked as described below, leaving 1,984
 * usable bytes. A parked fiber on a small stack costs the slot plus its
 * 256-byte record, instead of a page or more. That is room for a fiber
 * that waits and moves data, not for printf, deep calls or a
 * weft_select() over many cases (its records live on the stack). Link
 * with -Wl,-z,now: a lazily bound call (the first printf, say) saves the
 * vector registers on the stack and alone can overflow it. Under ASan
 * and TSan, whose frames are much larger, the request gets 32 KiB.
 *
 * Guard pages and the map budget. A stack of a page or more has a guard
 * page below it; overflowing into it stops the process with a message
 * naming the fiber ("weft: fiber 12 "worker" overflowed its 65536-byte
 * stack (fault in the guard page at 0x...)") and abort(). Where the
 * kernel has MADV_GUARD_INSTALL (Linux 6.13 and later, probed at start),
 * a guard is a marker in the page table: it costs no memory and no
 * kernel memory mapping, so every such stack is guarded at any count.
 * Elsewhere (older kernels, and under sanitizers or Valgrind, whose own
 * tools would trip over markers) a guard is an mprotect'ed page, which
 * costs the process two kernel memory mappings, and Linux caps mappings
 * per process (vm.max_map_count, 65,530 by default); then weft spends at
 * most a quarter of that cap on guards (an eighth under sanitizers, which
 * map heavily themselves, and at most 4,096 under Valgrind). Stacks
 * carved beyond that budget, and small stacks (WEFT_STACK_SMALL), get no
 * guard page but a gap below them that must stay all zero. An overflow on
 * such a stack is caught when the fiber next switches out (the top of
 * the gap is checked on every switch), when the fiber ends (the whole gap
 * is checked), or, if it runs on into the memory below and faults there,
 * by its stack pointer being below its stack; either way the same kind
 * of message names the fiber and the process aborts. Until then it may
 * have overwritten the top of the neighbouring stack. weft_stats() says
 * which kind of guard is in use (stack_guard) and how many stacks are
 * guarded. The environment variable WEFT_STACK_GUARD=mprotect makes
 * guards with mprotect even where markers work: gdb's gcore cannot save
 * memory next to a marker (it reads 1 MiB at a time and loses the rest
 * of a read that meets one), so a process to be inspected with gcore and
 * tools/gdb/weft.py should run with it; a kernel core dump (ulimit -c)
 * saves the stacks either way. A stack is guarded once, when its slab is
 * mapped: reusing it costs no system call. A parked fiber that used
 * little stack costs about one page plus its 256-byte record: the gap
 * page is never written, so it costs no memory.
 *
 * Fiber handles. A weft_fiber * is an opaque handle that weft checks on
 * every use: a handle to a fiber that was joined, or to a detached fiber
 * that ended, is refused with -ESRCH instead of touching freed memory.
 * Handles are valid only inside the weft_run() that made them.
 *
 * Structs that grow. struct weft_config, weft_spawn_opts, weft_stats and
 * weft_worker_stats begin with a size member: set it to sizeof the
 * struct, or leave it 0 (a zeroed struct), which means the layout of the
 * first ABI (WEFT_*_SIZE_V1). weft reads (config, spawn options) or
 * writes (stats) only that many bytes, so a program built against an
 * older weft.h keeps working with a newer library: fields its header did
 * not have take their defaults. A size larger than this library knows
 * is from a newer header: the bytes beyond must be zero (fields this
 * library cannot honour are refused with -EINVAL, as openat2(2) does),
 * and a stats struct gets the known part written, nothing beyond, and
 * its size set to the bytes written: set .size before weft_stats(),
 * as a size left uninitialised may be anything.
 * A size of 1 to 7 or above 4096 is -EINVAL. Fields added after the
 * first ABI are read only with a size that covers them: write
 * `.size = sizeof(cfg)` to use one. Structs used in arrays
 * (weft_select_case) cannot grow that way and have reserved words
 * instead, which must be zero. Lock types (weft_mutex, ...) are opaque
 * bytes of a fixed size. See "ABI" in README.md for when the soname
 * changes.
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

/* Version -------------------------------------------------------------- */

/* WEFT_VERSION_MAJOR, _MINOR, _PATCH, _STRING and _NUMBER, from meson. */
#include "weft_version.h"

/**
 * weft_version() - the version of the library the program runs with
 *
 * Encoded as WEFT_VERSION_NUMBER is (MAJOR * 10000 + MINOR * 100 +
 * PATCH), which gives the version of the weft.h the program was compiled
 * against. A library with the same MAJOR (and so the same soname) runs
 * every program built against a header of that MAJOR with a MINOR no
 * higher than its own.
 *
 * Context: any thread. Not a yield point.
 * Returns: the version number, always positive.
 * Errors: none.
 */
WEFT_API int weft_version(void);

/* Smallest page-sized fiber stack weft hands out, in bytes. */
#define WEFT_STACK_MIN 4096u
/*
 * A stack_size of 1 to WEFT_STACK_SMALL bytes asks for a small stack: a
 * 2 KiB slot with 1,984 usable bytes and no guard page (see Stacks).
 */
#define WEFT_STACK_SMALL 2048u
/* Stack size used when neither the config nor the spawn names one. */
#define WEFT_STACK_DEFAULT (64u * 1024u)

/* Runtime ------------------------------------------------------------- */

struct weft_config {
	/* sizeof(struct weft_config), or 0: WEFT_CONFIG_SIZE_V1 (see
	 * "Structs that grow"). */
	size_t size;
	/* Worker threads; 0: the environment variable WEFT_WORKERS if set
	 * (1 to WEFT_WORKERS_MAX, as GOMAXPROCS), else one per online CPU. */
	unsigned workers;
	size_t stack_size;	/* default fiber stack; 0: WEFT_STACK_DEFAULT */
	/* io_uring SQ entries per worker, 1 to 32768 (0: 256). A ring has at
	 * least 2 (an I/O call with a deadline takes two) and the kernel
	 * rounds up to a power of two; the CQ is 4x as large, at most 65536.
	 * Any size works: a full SQ is flushed, never an error. The epoll
	 * backend checks the range and ignores the value. */
	unsigned ring_entries;
	unsigned blocking_threads; /* weft_blocking() pool size; 0: 4        */
	/* The I/O backend, WEFT_BACKEND_*; 0: WEFT_BACKEND_AUTO. The
	 * environment variable WEFT_BACKEND=auto|io_uring|epoll overrides
	 * it (a bad value is named once on stderr and ignored). */
	unsigned backend;
	/* Stall report, in ms: a fiber that runs this long without reaching
	 * a yield point (a blocking system call, a loop making no weft call
	 * that switches) is named once on stderr with its worker. 0: off,
	 * unless the environment variable WEFT_STALL_MS is set;
	 * WEFT_STALL_MS=N overrides the field (0 turns the report off). At
	 * most WEFT_STALL_MS_MAX. With the report on, the monitor also
	 * wakes an idle worker for a worker seen stuck at one look (a
	 * quarter of the threshold) with work another could take, a
	 * backstop for the rescue (see Stalls at weft_run). */
	unsigned stall_ms;
	/* Chaos mode, for tests: with a seed other than 0, the scheduler's
	 * choices (which ready fiber runs next, the LIFO slot's turn, steal
	 * victims) come from a PRNG seeded with it, and the calls that may
	 * suspend (I/O, channel send and receive, weft_mutex_lock) yield
	 * one time in four first, so that other fibers run in between. On
	 * one worker the same seed gives the same interleaving every run
	 * (timers and I/O readiness aside); with more it explores. A run
	 * that fails (a non-zero exit, a failed internal assertion, a
	 * crash report) prints "weft: chaos seed N: WEFT_CHAOS=N replays
	 * this schedule". The environment variable WEFT_CHAOS=N overrides
	 * the field (WEFT_CHAOS=random: a fresh seed, printed at the
	 * start). With a seed, WEFT_CHAOS_IO=short=P,reset=P,nospc=P,
	 * delay=P (chances from 0 to 1, any subset) also injects faults
	 * at every weft_* I/O call: a read, write, send or receive cut
	 * short (to 1 byte or more, as the calls may return), a send or
	 * receive failing with -ECONNRESET, a write with -ENOSPC, a delay
	 * of up to 1 ms first (a cancel or deadline during it is the
	 * call's answer). 0: off, and then it costs one load at those
	 * calls. */
	uint64_t chaos_seed;
	/* More fields may follow; a zeroed struct means all defaults. */
};

/* sizeof(struct weft_config) in the first ABI (weft 0.1). */
#define WEFT_CONFIG_SIZE_V1 48u

#define WEFT_STALL_MS_MAX 3600000u

/*
 * I/O backends. AUTO tries io_uring and, where it is refused (EPERM,
 * EACCES: a container's seccomp profile or kernel.io_uring_disabled;
 * ENOSYS: a kernel without it; ENOMEM: a low RLIMIT_MEMLOCK on older
 * kernels), runs on epoll instead, with one line on stderr saying why and
 * how to choose. Asking for IO_URING where it is refused makes weft_run()
 * fail with -ENOSYS (-ENOMEM when the refusal was ENOMEM); asking for
 * EPOLL never tries io_uring.
 *
 * On both, what cannot block is done at once on the worker, without
 * suspending: weft_openat() of a path whose every component is in the
 * kernel's lookup cache (openat2 RESOLVE_CACHED; not with O_CREAT,
 * O_TRUNC or O_TMPFILE), and weft_pread() or weft_readv() at an offset
 * (not -1) of a file whose pages are in memory (preadv2 RWF_NOWAIT). A
 * cancellation already asked for still ends such a call with -ECANCELED
 * before it starts, and every 64th call in a row that did not suspend
 * yields.
 *
 * Every call behaves the same on both, with these differences on epoll:
 *  - Sockets and pipes are read and written without blocking
 *    (MSG_DONTWAIT, RWF_NOWAIT); a call that finds its descriptor ready
 *    returns without suspending, and every 64th such call in a row on a
 *    worker yields, so a busy descriptor cannot starve the worker's other
 *    fibers. weft_accept() and weft_connect() put their socket in
 *    non-blocking mode (O_NONBLOCK), as Go does.
 *  - Regular files, weft_openat() and weft_fsync() (what the above does
 *    not do at once), and descriptors epoll cannot watch, run in the
 *    blocking pool (weft_config.blocking_threads):
 *    they are neither cancelled nor cut short by a deadline once started.
 *  - weft_close() and weft_shutdown() do not suspend.
 *  - weft_recv() with MSG_WAITALL returns what has arrived once anything
 *    has, as a non-blocking recv(2) does; loop for the rest.
 * On both, closing a descriptor another fiber waits on does not wake that
 * fiber; shut the socket down (weft_shutdown) or cancel the fiber first.
 */
#define WEFT_BACKEND_AUTO 0u
#define WEFT_BACKEND_IO_URING 1u
#define WEFT_BACKEND_EPOLL 2u

/**
 * weft_run() - start the runtime and run main_fn(arg) as the first fiber
 *
 * The calling thread becomes worker 0; workers - 1 more threads are
 * started. @cfg may be NULL (all defaults). The main fiber's stack is
 * four times the default size (only touched pages cost memory; the
 * default size where four times would pass 1 GiB), so that children of
 * the default size it joins can run inline (see weft_join).
 *
 * When main_fn returns, every fiber still alive is cancelled, as
 * asyncio.run() does: each one's current suspension returns -ECANCELED,
 * and from then on every suspension of every fiber returns -ECANCELED at
 * once and weft_spawn() refuses new fibers. weft_run() returns when all
 * fibers have ended and the workers have stopped. A fiber that never
 * suspends and never checks weft_cancelled(), one parked where
 * cancellation does not reach (weft_mutex_lock, weft_blocking), or one
 * in a blocking system call keeps weft_run() waiting: 2 s after shutdown
 * began, weft_run() names each such fiber once on stderr (id, name, and
 * what it waits on or the worker it runs on), and goes on waiting.
 *
 * Stalls: a fiber that runs without reaching a yield point (a long loop,
 * a blocking system call) holds its worker; weft does not preempt it.
 * The other workers take over what they can meanwhile: fibers ready on
 * the stalled worker (its run queue, run-next slot and fork deque) are
 * stolen; its sleeps and the timeouts of its timed waits (weft_sleep_*,
 * and the deadlines that end channel, select, condition, wait-group and
 * semaphore waits) are fired by another worker once 2 ms overdue, and
 * their fibers run there. What waits for the stalled fiber to reach a
 * yield point: the I/O of fibers parked on that worker (completions,
 * readiness, the deadlines and cancellation of that I/O), and
 * weft_cancel() of a fiber sleeping there. On one worker nothing can be
 * taken over. A sleeper beside a hog is woken about 2 ms late while
 * another worker is idle. Each idle worker watches one other (the next
 * in order); with more than two workers, a stalled worker whose watcher
 * is busy waits for the next worker that runs out of work, or for the
 * stall report's backstop (weft_config.stall_ms).
 *
 * Deadlocks: when every fiber is asleep and nothing can wake one (every
 * worker idle with no I/O in flight and no timer armed, so no sleep and
 * no deadline pending; the blocking pool idle; no thread in the process
 * but weft's own), weft_run() writes "weft: deadlock: all N fibers are
 * asleep" and a line for each fiber (as weft_dump) to stderr, ends every
 * wait (cancelled as at shutdown; weft_mutex_lock returns -EDEADLK
 * without the lock) and returns -EDEADLK once the fibers have ended, as
 * Go's "all goroutines are asleep - deadlock!", but without killing the
 * program. Any thread of the program's own (one that might yet close a
 * channel or unlock a mutex) turns the check off while it lives, since
 * weft cannot know what it will do: such a deadlock hangs, and
 * weft_dump() or WEFT_DUMP_SIGNAL shows it. The check looks when the
 * last worker falls asleep and once a second, and reports only what it
 * sees twice 50 ms apart with no worker having woken between.
 *
 * Context: any thread but a weft worker, one weft_run() at a time in a
 * process; the caller is worker 0 until the call returns.
 * Returns: 0 once main_fn and every other fiber have ended.
 * Errors:
 *   -EINVAL   main_fn is NULL, or a config field is out of range
 *             (workers > WEFT_WORKERS_MAX, ring_entries > 32768,
 *             blocking_threads > WEFT_BLOCKING_MAX, stack_size > 1 GiB,
 *             backend > WEFT_BACKEND_EPOLL, stall_ms > WEFT_STALL_MS_MAX),
 *             or cfg->size is refused (see "Structs that grow");
 *   -EBUSY    a runtime is already running in this process, or the
 *             caller is one of its workers;
 *   -ENOSYS   the backend asked for (WEFT_BACKEND_IO_URING) is not
 *             available (kernel.io_uring_disabled, a seccomp filter, a
 *             kernel without it); one line on stderr says why;
 *   -ENOMEM, -EAGAIN  resources for the workers (memory, a thread, a
 *             ring or an epoll set, the SIGSEGV handler) could not be
 *             had, or another errno of the system call that failed;
 *             nothing was left running;
 *   -EDEADLK  every fiber was found asleep for good (see Deadlocks
 *             above); the runtime was ended and is torn down as after 0.
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
	size_t size;		/* sizeof, or 0: WEFT_SPAWN_OPTS_SIZE_V1     */
	size_t stack_size;	/* 0: the runtime's default                  */
	const char *name;	/* copied (first 31 bytes); NULL: unnamed    */
};

/* sizeof(struct weft_spawn_opts) in the first ABI (weft 0.1). */
#define WEFT_SPAWN_OPTS_SIZE_V1 24u

/**
 * weft_spawn() - create a fiber that runs fn(arg)
 *
 * The fiber is made runnable on the calling worker. *out receives a
 * handle that must be joined or detached exactly once; @out may be NULL
 * only if the fiber is to be detached at once (as weft_go() does).
 * @opts may be NULL.
 *
 * Order: a joinable child waits on the worker's fork deque, where the
 * worker starts its newest child first (fork-join runs depth first) and
 * an idle worker takes the oldest; a detached one (@out NULL) takes the
 * worker's run-next slot, moving the fiber there before it to the back
 * of the run queue. Its stack is reserved here, so a lack of memory is
 * this call's error, never a later one.
 *
 * Context: fiber or generator body. Not a yield point.
 * Returns: 0, with the handle in *out.
 * Errors:
 *   -EINVAL     @fn is NULL, opts->stack_size is above 1 GiB, or
 *               opts->size is refused (see "Structs that grow");
 *   -EPERM      not called from a fiber;
 *   -ECANCELED  the runtime is shutting down;
 *   -ENOMEM, -EAGAIN  no memory or mappings for a stack or record (the
 *               errno of mmap(2)).
 */
WEFT_API int weft_spawn(weft_fiber **out, void *(*fn)(void *), void *arg,
			const struct weft_spawn_opts *opts);

/**
 * weft_join() - wait for a fiber to end and free it
 *
 * Wait for @f to end, store its return value in *result (if @result is
 * not NULL) and free it. Each fiber is joined at most once. The wait is
 * bounded by the caller's deadline (weft_set_deadline).
 *
 * A child nobody has started yet (the newest one this worker spawned
 * and no other worker took) may run inline: the join calls it on the
 * caller's stack, with no switch, as Cilk runs a child. It is still its
 * own fiber (weft_self(), weft_fiber_id(), its name, deadline,
 * cancellation and fiber-local values are its own, and it may suspend).
 * This happens only where the child loses nothing: at least its own
 * stack size is left on the caller's stack, and the caller has no
 * deadline and no pending cancel request. A child the caller has no
 * room for gets a bigger stack before it runs, so that its own children
 * can run inline on it: the default size if it asked for less, four
 * times the default if it asked for the default (at most 16 of those
 * per worker at a time; only touched pages cost memory). One
 * difference shows: a cancel request that reaches the caller while its
 * child runs inline cannot end the join (the caller's frames are under
 * the child's), so weft_cancel() passes it on to the child as well; the
 * join completes when the child ends, and the caller's next yield point
 * returns -ECANCELED.
 *
 * Context: fiber. Yield point.
 * Returns: 0; the handle is no longer valid.
 * Errors:
 *   -EPERM      not called from a fiber;
 *   -ESRCH      @f is not a live handle (already joined, or detached and
 *               ended, or from another weft_run);
 *   -EDEADLK    @f is the calling fiber;
 *   -EINVAL     @f is detached, or another fiber is already joining it;
 *   -ECANCELED  the caller was cancelled while waiting; @f is untouched
 *               and may be joined again or detached;
 *   -ETIMEDOUT  the caller's deadline passed while waiting; @f is
 *               untouched, as for -ECANCELED;
 *   -ENOMEM     the caller has a deadline and its timer could not be
 *               armed; @f is untouched.
 */
WEFT_API int weft_join(weft_fiber *f, void **result);

/**
 * weft_detach() - let a fiber free itself when it ends
 *
 * @f's result is discarded when it ends (at once if it has ended
 * already). After this the handle must not be used again.
 *
 * Context: fiber or generator body (any code on a weft worker thread;
 * not a thread of the program's own or of the blocking pool). Not a
 * yield point.
 * Returns: 0.
 * Errors:
 *   -ESRCH   @f is not a live handle;
 *   -EINVAL  @f is already detached, or being joined;
 *   -EPERM   not called on a weft worker thread.
 */
WEFT_API int weft_detach(weft_fiber *f);

/**
 * weft_go() - spawn a detached fiber with default options
 *
 * weft_spawn(NULL, fn, arg, NULL): the fiber frees itself when it ends.
 *
 * Context: fiber or generator body. Not a yield point.
 * Returns: 0.
 * Errors: as weft_spawn(): -EINVAL (@fn is NULL), -EPERM, -ECANCELED,
 * -ENOMEM, -EAGAIN.
 */
WEFT_API int weft_go(void *(*fn)(void *), void *arg);

/**
 * weft_yield() - let other runnable fibers run
 *
 * The caller goes to the back of its worker's run queue and may resume
 * on another worker. Returns at once when nothing else is runnable.
 *
 * Context: fiber; elsewhere (a plain thread, a generator body) it does
 * nothing. Yield point.
 * Returns: nothing.
 * Errors: none.
 */
WEFT_API void weft_yield(void);

/**
 * weft_self() - the calling fiber's handle
 *
 * Context: fiber or generator body (the driving fiber's handle). Not a
 * yield point.
 * Returns: the handle, or NULL when not called on behalf of a fiber.
 * Errors: none.
 */
WEFT_API weft_fiber *weft_self(void);

/**
 * weft_cancel() - ask a fiber to stop
 *
 * @f's current suspension, or its next one, returns -ECANCELED. The
 * request is consumed by the suspension that reports it (as asyncio
 * delivers CancelledError once); a fiber that is running and never
 * suspends can poll weft_cancelled(). Cancelling a fiber that has
 * ended has no effect. Waits cancellation does not reach
 * (weft_mutex_lock, weft_blocking) keep the request for the next one.
 * So does an I/O call whose operation finished before it could be
 * withdrawn (io_uring can lose that race): the call returns its own
 * result, the bytes it moved are not lost, and the next suspension
 * returns -ECANCELED; and one whose deadline ended it in the same
 * moment (it returns -ETIMEDOUT).
 *
 * Context: any thread while weft_run() runs, fibers included. Not a
 * yield point. From a plain thread while one worker runs it costs a
 * few microseconds (a membarrier(2), which spares every join on the
 * worker a locked instruction); elsewhere tens of nanoseconds.
 * Returns: 0.
 * Errors:
 *   -ESRCH  @f is not a live handle;
 *   -EPERM  weft_run() is not running.
 */
WEFT_API int weft_cancel(weft_fiber *f);

/**
 * weft_cancelled() - whether the calling fiber is asked to stop
 *
 * True if the calling fiber has a cancellation request pending or the
 * runtime is shutting down. Does not consume the request.
 *
 * Context: fiber or generator body; elsewhere false. Not a yield point.
 * Returns: true or false.
 * Errors: none.
 */
WEFT_API bool weft_cancelled(void);

/**
 * weft_worker_id() - the worker running the caller right now
 *
 * An index from 0 to workers - 1. It can change after any yield point.
 *
 * Context: any thread. Not a yield point.
 * Returns: the index, or UINT32_MAX on a thread that is not a weft
 * worker.
 * Errors: none.
 */
WEFT_API unsigned weft_worker_id(void);

/**
 * weft_fiber_id() - the calling fiber's id
 *
 * A number unique within the weft_run (the main fiber is 1), also used
 * in stack overflow reports, weft_dump() and traces.
 *
 * Context: any thread. Not a yield point.
 * Returns: the id, or 0 when not called on behalf of a fiber.
 * Errors: none.
 */
WEFT_API uint64_t weft_fiber_id(void);

/* Time and deadlines ----------------------------------------------------- */

/*
 * Time is an int64_t of nanoseconds on CLOCK_MONOTONIC, and every call
 * that takes one follows one rule: a negative time means no limit.
 *  - A deadline (weft_sleep_until, weft_set_deadline,
 *    weft_cond_wait_until, weft_mutex_lock_until, weft_scope_run) is
 *    absolute. Negative: no deadline, and WEFT_FOREVER is the one to
 *    write. 0, or any time already past: it has passed, so a sleep
 *    returns 0 at once (having suspended once, as weft_sleep_ns(0)
 *    does) and a timed wait returns -ETIMEDOUT at once having done
 *    nothing.
 *  - A timeout (weft_poll, weft_select) is relative. Negative: wait
 *    without limit. 0: do not wait (select returns -EAGAIN when nothing
 *    is ready, poll checks once). Positive: that many nanoseconds; one
 *    too large to add to the clock means no limit.
 * The fiber's deadline (weft_set_deadline) bounds every such wait too.
 */
#define WEFT_FOREVER ((int64_t)-1)

/**
 * weft_now_ns() - now on CLOCK_MONOTONIC, in nanoseconds
 *
 * Context: any thread. Not a yield point.
 * Returns: the time, never negative.
 * Errors: none.
 */
WEFT_API int64_t weft_now_ns(void);

/**
 * weft_sleep_ns() - suspend the calling fiber for @ns nanoseconds
 *
 * @ns is a relative time that, unlike a timeout, has no "no limit"
 * value: 0 or any negative @ns is a sleep until now, which suspends the
 * fiber once (the worker looks at its timers and I/O, runs what else is
 * ready, and the sleep returns 0 at its next timer pass), and one too
 * large to add to the clock sleeps until a cancel or the fiber's
 * deadline (as weft_sleep_until of WEFT_FOREVER). Sleeping fibers wait
 * in their worker's timer heap and cost no kernel timer each.
 *
 * Context: fiber. Yield point.
 * Returns: 0 once the time has come.
 * Errors:
 *   -ECANCELED  the fiber was cancelled while it slept;
 *   -ETIMEDOUT  the fiber's deadline came first (at once, without
 *               suspending, if it has passed);
 *   -ENOMEM     the worker's timer heap could not grow;
 *   -EPERM      not called from a fiber.
 */
WEFT_API int weft_sleep_ns(int64_t ns);

/**
 * weft_sleep_until() - suspend the calling fiber until an absolute time
 *
 * As weft_sleep_ns(), until @deadline_ns on CLOCK_MONOTONIC. With no
 * deadline (WEFT_FOREVER, any negative) only a cancel or the fiber's
 * deadline ends the sleep; 0 or a time past returns 0 at the worker's
 * next timer pass, as weft_sleep_ns(0).
 *
 * Context: fiber. Yield point.
 * Returns: 0 once the time has come.
 * Errors: as weft_sleep_ns(): -ECANCELED, -ETIMEDOUT, -ENOMEM, -EPERM.
 */
WEFT_API int weft_sleep_until(int64_t deadline_ns);

/**
 * weft_set_deadline() - bound every wait of the calling fiber
 *
 * Give the calling fiber a deadline, absolute on CLOCK_MONOTONIC
 * (WEFT_FOREVER, or any negative value, clears it; 0 or a time past
 * makes each wait it bounds return -ETIMEDOUT at once), and return the
 * previous one. While it is set, every I/O call and sleep of this fiber
 * that would still be waiting at @deadline_ns stops waiting and returns
 * -ETIMEDOUT (an I/O call only once the kernel has let go of its
 * buffer). This is a fiber-wide scope, like Trio's move_on_at: set it
 * around one call, or around a whole exchange (weft_write_all() plus
 * weft_read_full(), say), then restore the old value. Channel
 * operations, select and the waits on a condition variable, wait group
 * or semaphore honour it too, and so do joins (weft_join,
 * weft_join_any: the fibers are left as they were; weft_join_all: the
 * rest are cancelled and still joined, as on a cancellation), and
 * weft_mutex_lock_until. weft_mutex_lock is not bounded by it: a lock
 * call that could fail would leave unchecked callers in their critical
 * section without the lock; nor is weft_blocking.
 *
 * Context: fiber or generator body (the driving fiber's deadline);
 * elsewhere it does nothing. Not a yield point.
 * Returns: the previous deadline, WEFT_FOREVER if there was none or when
 * not called on behalf of a fiber.
 * Errors: none.
 */
WEFT_API int64_t weft_set_deadline(int64_t deadline_ns);

/* I/O ------------------------------------------------------------------- */

/*
 * Each call has the meaning of the system call it is named after, runs
 * through the calling worker's backend (io_uring or epoll, see
 * WEFT_BACKEND_AUTO for how they differ), and suspends the calling fiber,
 * never the worker, until it completes. A file offset of -1 means "the
 * current file position", as read(2) and write(2) use it.
 *
 * The I/O errors, which every call below can return besides its own:
 *   -errno      the error of the underlying system call, negated (-EBADF,
 *               -ECONNREFUSED, -EPIPE, ...), as the kernel reports it
 *               through io_uring or the system call itself;
 *   -ECANCELED  weft_cancel() of the caller, or the runtime's shutdown
 *               (only once the kernel has finished with the buffer: if
 *               the operation completed first, its real result is
 *               returned and a weft_cancel() request is kept for the
 *               next suspension);
 *   -ETIMEDOUT  the fiber's deadline (weft_set_deadline) passed, at once
 *               if it had passed before the call (a weft_cancel() request
 *               that came at the same moment is kept for the next
 *               suspension);
 *   -ENOMEM     the fiber has a deadline and its timer could not be
 *               armed, or (epoll) the worker's descriptor table could not
 *               grow;
 *   -EPERM      not called from a fiber;
 *   -EAGAIN     (epoll) the call had to run in the blocking pool, which
 *               had no thread and could not start one;
 *   -ECONNRESET, -ENOSPC  injected by chaos mode (WEFT_CHAOS_IO; see
 *               weft_config.chaos_seed), which also cuts transfers short.
 *
 * On io_uring, submission is batched: a worker submits the calls of all
 * its fibers once per scheduling round. A full submission queue or a
 * backed-up completion queue never fails a call: the worker flushes,
 * makes room and retries, and no completion is lost
 * (IORING_FEAT_NODROP). Should the kernel still report a dropped
 * completion (-EBADR, when it could not allocate), the process stops
 * with "weft: the kernel dropped an io_uring completion ..." rather than
 * leave a fiber waiting forever. Older kernels without DEFER_TASKRUN or
 * SINGLE_ISSUER get rings without them.
 */

/**
 * weft_read() - read(2) from @fd at its file position
 *
 * Up to @len bytes into @buf (at most UINT32_MAX a call: a larger @len
 * gives a short read).
 *
 * Context: fiber. Yield point.
 * Returns: the bytes read, 0 at end of file.
 * Errors: the I/O errors (see I/O), among them read(2)'s.
 */
WEFT_API ssize_t weft_read(int fd, void *buf, size_t len);

/**
 * weft_write() - write(2) to @fd at its file position
 *
 * Up to @len bytes from @buf (at most UINT32_MAX a call); a short write
 * is a success: weft_write_all() loops.
 *
 * Context: fiber. Yield point.
 * Returns: the bytes written.
 * Errors: the I/O errors (see I/O), among them write(2)'s.
 */
WEFT_API ssize_t weft_write(int fd, const void *buf, size_t len);

/**
 * weft_pread() - pread(2) from @fd at offset @off
 *
 * As weft_read(), at @off (-1: the file position, as weft_read()). A
 * read at an offset of a file whose pages are in memory is done at once
 * (see WEFT_BACKEND_AUTO).
 *
 * Context: fiber. Yield point.
 * Returns: the bytes read, 0 at end of file.
 * Errors: the I/O errors (see I/O), among them pread(2)'s.
 */
WEFT_API ssize_t weft_pread(int fd, void *buf, size_t len, int64_t off);

/**
 * weft_pwrite() - pwrite(2) to @fd at offset @off
 *
 * As weft_write(), at @off (-1: the file position, as weft_write()).
 *
 * Context: fiber. Yield point.
 * Returns: the bytes written.
 * Errors: the I/O errors (see I/O), among them pwrite(2)'s.
 */
WEFT_API ssize_t weft_pwrite(int fd, const void *buf, size_t len, int64_t off);

/**
 * weft_readv() - preadv(2) from @fd into @iovcnt buffers at @off
 *
 * @off -1: the file position, as readv(2). @iov must stay valid until
 * the call returns.
 *
 * Context: fiber. Yield point.
 * Returns: the bytes read, 0 at end of file.
 * Errors: -EINVAL for a negative @iovcnt; the I/O errors (see I/O),
 * among them preadv(2)'s.
 */
WEFT_API ssize_t weft_readv(int fd, const struct iovec *iov, int iovcnt,
			    int64_t off);

/**
 * weft_writev() - pwritev(2) to @fd from @iovcnt buffers at @off
 *
 * @off -1: the file position, as writev(2).
 *
 * Context: fiber. Yield point.
 * Returns: the bytes written.
 * Errors: -EINVAL for a negative @iovcnt; the I/O errors (see I/O),
 * among them pwritev(2)'s.
 */
WEFT_API ssize_t weft_writev(int fd, const struct iovec *iov, int iovcnt,
			     int64_t off);

/**
 * weft_recv() - recv(2) from the socket @fd
 *
 * @flags as recv(2)'s (MSG_WAITALL: see the epoll differences at
 * WEFT_BACKEND_AUTO).
 *
 * Context: fiber. Yield point.
 * Returns: the bytes received, 0 when the peer has shut down.
 * Errors: the I/O errors (see I/O), among them recv(2)'s.
 */
WEFT_API ssize_t weft_recv(int fd, void *buf, size_t len, int flags);

/**
 * weft_send() - send(2) to the socket @fd
 *
 * @flags as send(2)'s.
 *
 * Context: fiber. Yield point.
 * Returns: the bytes sent.
 * Errors: the I/O errors (see I/O), among them send(2)'s.
 */
WEFT_API ssize_t weft_send(int fd, const void *buf, size_t len, int flags);

/**
 * weft_accept() - accept4(2) a connection on the listening socket @fd
 *
 * @addr and @addrlen as accept4(2)'s (both may be NULL); @flags as its
 * (SOCK_NONBLOCK, SOCK_CLOEXEC). On epoll the listening socket is made
 * non-blocking (O_NONBLOCK).
 *
 * Context: fiber. Yield point.
 * Returns: the new connection's descriptor.
 * Errors: the I/O errors (see I/O), among them accept4(2)'s.
 */
WEFT_API int weft_accept(int fd, struct sockaddr *addr, socklen_t *addrlen,
			 int flags);

/**
 * weft_connect() - connect(2) the socket @fd to @addr
 *
 * Waits until the connection is made or refused. On epoll the socket is
 * made non-blocking (O_NONBLOCK).
 *
 * Context: fiber. Yield point.
 * Returns: 0.
 * Errors: the I/O errors (see I/O), among them connect(2)'s
 * (-ECONNREFUSED, -ENETUNREACH, ...).
 */
WEFT_API int weft_connect(int fd, const struct sockaddr *addr,
			  socklen_t addrlen);

/**
 * weft_openat() - openat(2) @path relative to @dfd
 *
 * @flags and @mode as openat(2)'s. A path every component of which is in
 * the kernel's lookup cache is opened at once (see WEFT_BACKEND_AUTO);
 * on epoll the rest is opened in the blocking pool.
 *
 * Context: fiber. Yield point.
 * Returns: the new descriptor.
 * Errors: the I/O errors (see I/O), among them openat(2)'s.
 */
WEFT_API int weft_openat(int dfd, const char *path, int flags, unsigned mode);

/**
 * weft_close() - close(2) @fd
 *
 * Closing a descriptor another fiber waits on does not wake that fiber
 * (see WEFT_BACKEND_AUTO). On epoll it does not suspend.
 *
 * Context: fiber. Yield point.
 * Returns: 0.
 * Errors: the I/O errors (see I/O), among them close(2)'s.
 */
WEFT_API int weft_close(int fd);

/**
 * weft_fsync() - fsync(2) @fd
 *
 * On epoll it runs in the blocking pool.
 *
 * Context: fiber. Yield point.
 * Returns: 0.
 * Errors: the I/O errors (see I/O), among them fsync(2)'s.
 */
WEFT_API int weft_fsync(int fd);

/**
 * weft_shutdown() - shutdown(2) the socket @fd
 *
 * @how as shutdown(2)'s (SHUT_RD, SHUT_WR, SHUT_RDWR). The way to wake
 * a fiber waiting on @fd. On epoll it does not suspend.
 *
 * Context: fiber. Yield point.
 * Returns: 0.
 * Errors: the I/O errors (see I/O), among them shutdown(2)'s.
 */
WEFT_API int weft_shutdown(int fd, int how);

/**
 * weft_poll() - wait until @fd is ready
 *
 * Wait until @fd is ready for @events (POLLIN, POLLOUT, ...), for at
 * most @timeout_ns (negative, as WEFT_FOREVER: no limit; 0: check once,
 * do not wait). The fiber's deadline applies too.
 *
 * Context: fiber. Yield point.
 * Returns: the ready events (poll(2)'s revents: of @events, and POLLERR,
 * POLLHUP).
 * Errors:
 *   -ETIMEDOUT  not ready within @timeout_ns (at once for 0), or the
 *               fiber's deadline passed;
 *   -EBADF      @fd is not an open descriptor;
 *   the other I/O errors (see I/O), but for chaos mode's, which
 *   weft_poll() does not inject.
 */
WEFT_API int weft_poll(int fd, short events, int64_t timeout_ns);

/**
 * weft_sendfile() - send a file to a socket without copying
 *
 * Send up to @count bytes of the file @in_fd, from @offset (which must
 * be >= 0; the file position is neither used nor changed), to the socket
 * @out_fd without copying them through user memory, as sendfile(2)
 * does. Like sendfile(2) it may raise SIGPIPE on a reset peer: servers
 * ignore that signal.
 * Both backends make @out_fd non-blocking (O_NONBLOCK), which weft's
 * own calls do not mind, and wait for POLLOUT while it is full. How:
 * io_uring splices the file into a pipe the worker keeps, then the pipe
 * into the socket (at most a pipe's 64 KiB a call); epoll calls
 * sendfile(2) on the worker (a file not in the page cache then blocks
 * the worker while it is read, as it does nginx's without aio). A
 * cancellation that comes after some bytes were sent is reported by the
 * fiber's next suspension instead, so the count is not lost.
 *
 * Context: fiber. Yield point.
 * Returns: the bytes sent, which may be fewer than @count (loop for the
 * rest), 0 at the end of the file.
 * Errors:
 *   -EINVAL  a negative @offset, or descriptors the kernel cannot
 *            splice or sendfile;
 *   -EIO     (io_uring) bytes were read from the file but the socket
 *            took none, with no error to report;
 *   the errno of ioctl(2), pipe2(2), splice(2) or sendfile(2), and the
 *   other I/O errors (see I/O): -EPIPE, -ECONNRESET, -ECANCELED,
 *   -ETIMEDOUT, -ENOMEM, -EPERM.
 */
WEFT_API ssize_t weft_sendfile(int out_fd, int in_fd, int64_t offset,
			       size_t count);

/**
 * weft_write_all() - write all @len bytes to @fd
 *
 * weft_write() in a loop over short writes, from the file position. On
 * an error the bytes already written are not reported.
 *
 * Context: fiber. Yield point.
 * Returns: @len.
 * Errors: those of weft_write(), and -EIO if a write wrote nothing.
 */
WEFT_API ssize_t weft_write_all(int fd, const void *buf, size_t len);

/**
 * weft_read_full() - read exactly @len bytes from @fd, or up to the end
 *
 * weft_read() in a loop over short reads, from the file position. On an
 * error the bytes already read are not reported.
 *
 * Context: fiber. Yield point.
 * Returns: @len, or the bytes read before end of file (less than @len).
 * Errors: those of weft_read().
 */
WEFT_API ssize_t weft_read_full(int fd, void *buf, size_t len);

/* The blocking pool ------------------------------------------------------ */

/**
 * weft_blocking() - run a blocking call off the workers
 *
 * Run fn(arg) on a thread of the blocking pool, for a call that cannot go
 * through the I/O backend (getaddrinfo, a CPU-heavy routine, a foreign
 * library), and park the calling fiber until it returns; the worker runs
 * other fibers meanwhile. The epoll backend runs file I/O here too.
 * *result (if @result is not NULL) receives fn's return value. The pool
 * starts threads on demand, up to weft_config.blocking_threads; further
 * calls queue. The call cannot be cancelled once made, and the fiber's
 * deadline does not bound it: weft_cancel() takes effect at the fiber's
 * next suspension after it returns.
 *
 * Context: fiber. Yield point.
 * Returns: 0 once fn has returned.
 * Errors:
 *   -EINVAL  @fn is NULL;
 *   -EPERM   not called from a fiber;
 *   -EAGAIN  the pool had no thread and none could be started (the
 *            error of pthread_create(3)).
 */
WEFT_API int weft_blocking(void *(*fn)(void *), void *arg, void **result);

/* Gather ---------------------------------------------------------------- */

/**
 * weft_join_all() - join every fiber of a set (asyncio.gather)
 *
 * Join every fiber of fs[0..n) and store its return value in results[i]
 * (@results may be NULL). Every handle is joined whatever happens: if
 * the caller is cancelled while waiting, the fibers not yet ended are
 * cancelled too (as gather cancels its children) and still joined, and
 * -ECANCELED is returned once they all have ended; the same, with
 * -ETIMEDOUT, when the caller's deadline passes, and with -ENOMEM when
 * the timer of that deadline cannot be armed. During the runtime's
 * shutdown it returns -ECANCELED at once, leaving the rest to the
 * runtime, which ends them. A handle that cannot be joined is skipped,
 * its results[i] set to NULL, and its error returned after the others
 * were joined. The joins go from the last handle to the first, so that
 * children spawned in order and not started yet run inline (see
 * weft_join).
 *
 * Context: fiber. Yield point.
 * Returns: 0 once every fiber was joined.
 * Errors:
 *   -EPERM      not called from a fiber (nothing joined);
 *   -EINVAL     @fs is NULL with n > 0 (nothing joined); or a handle is
 *               detached or being joined (skipped);
 *   -ESRCH, -EDEADLK  a handle is not live, or is the caller (skipped);
 *   -ECANCELED, -ETIMEDOUT, -ENOMEM  as above (-ENOMEM: the caller
 *               has a deadline and a join's timer could not be armed).
 * When several handles fail, the error of the lowest index is returned;
 * -ECANCELED, -ETIMEDOUT and -ENOMEM take precedence.
 */
WEFT_API int weft_join_all(weft_fiber *const *fs, size_t n, void **results);

/**
 * weft_join_any() - join the first fiber of a set to end
 *
 * asyncio.wait(..., return_when=FIRST_COMPLETED): wait until one of
 * fs[0..n) has ended, join it, store its return value in *result (if not
 * NULL) and return its index. The others are left as they were, still to
 * be joined or detached. If several have ended, the lowest index wins.
 * @fs must stay valid until the call returns.
 *
 * Context: fiber. Yield point.
 * Returns: the index of the fiber joined.
 * Errors:
 *   -EINVAL     n is 0 or above INT32_MAX, @fs is NULL, a handle is
 *               being joined or is detached, or one appears twice;
 *   -ESRCH      a handle is not live;
 *   -EDEADLK    the caller is among them;
 *   -ECANCELED, -ETIMEDOUT  the caller was cancelled, or its deadline
 *               passed: nothing joined;
 *   -ENOMEM     the caller has a deadline and its timer could not be
 *               armed: nothing joined;
 *   -EPERM      not called from a fiber.
 */
WEFT_API int weft_join_any(weft_fiber *const *fs, size_t n, void **result);

/* Fiber-local storage ------------------------------------------------- */

/*
 * Keys for values each fiber has its own of, as pthread_key_create gives
 * threads (and Python's contextvars give tasks). A fiber's values are
 * NULL until it sets them. When a fiber ends (returning from its
 * function, which a cancelled fiber does too), for each key with a
 * destructor and a non-NULL value the value is set to NULL and the
 * destructor called with it, on the fiber's own stack, so it may call
 * weft functions; values set again by destructors get up to four rounds
 * in all. A deleted key's values are neither returned nor destroyed.
 */
typedef unsigned weft_key;
#define WEFT_KEYS_MAX 128u

/**
 * weft_key_create() - create a fiber-local key
 *
 * @destructor (may be NULL) is called with each fiber's non-NULL value
 * when that fiber ends. Keys are process-wide and outlive weft_run().
 *
 * Context: any thread. Not a yield point.
 * Returns: 0, with the key in *key.
 * Errors:
 *   -EINVAL  @key is NULL;
 *   -EAGAIN  all WEFT_KEYS_MAX keys exist.
 */
WEFT_API int weft_key_create(weft_key *key, void (*destructor)(void *value));

/**
 * weft_key_delete() - delete a fiber-local key
 *
 * Values set under @key are dropped, their destructors not called.
 *
 * Context: any thread. Not a yield point.
 * Returns: 0.
 * Errors:
 *   -EINVAL  @key is not a live key.
 */
WEFT_API int weft_key_delete(weft_key key);

/**
 * weft_key_set() - set the calling fiber's value for a key
 *
 * Context: fiber or generator body (the driving fiber's value). Not a
 * yield point.
 * Returns: 0.
 * Errors:
 *   -EINVAL  @key is not a live key;
 *   -ENOMEM  the fiber's table of values could not grow;
 *   -EPERM   not called on behalf of a fiber.
 */
WEFT_API int weft_key_set(weft_key key, const void *value);

/**
 * weft_key_get() - the calling fiber's value for a key
 *
 * Context: fiber or generator body (the driving fiber's value). Not a
 * yield point.
 * Returns: the value; NULL if unset, if @key is not live, or when not
 * called on behalf of a fiber.
 * Errors: none.
 */
WEFT_API void *weft_key_get(weft_key key);

/* Scopes --------------------------------------------------------------- */

/*
 * A scope (Trio's nursery, asyncio.TaskGroup, Kotlin's coroutineScope):
 * fibers spawned into it cannot outlive it. weft_scope_run() calls
 * body(scope, arg) in the calling fiber and returns only once body has
 * returned and every fiber spawned into the scope has ended.
 *
 * Results. Children are int (*)(void *), as body is; a negative result
 * is a failure. The first failure (body's or a child's) cancels the
 * scope: every child still running, and body if it is still running, is
 * cancelled (as by weft_cancel: its current or next wait returns
 * -ECANCELED, once; a fiber that waits again after that waits), no new
 * child may join, and the scope returns that failure. A cancellation
 * body did not take is taken back when body returns, so it never reaches
 * the caller's later waits. Results after the scope is cancelled, the
 * -ECANCELED of cancelled children among them, are ignored. With no
 * failure, weft_scope_run() returns body's result, once every child's
 * fiber has ended (weft_stats' live no longer counts it).
 *
 * Deadline. @deadline_ns (absolute, weft_now_ns(); WEFT_FOREVER: none),
 * or the calling fiber's own deadline if that is earlier, bounds body's
 * waits and every child's (each child starts with it as its
 * weft_set_deadline), and when it passes with children left, they are
 * cancelled; the scope then returns -ETIMEDOUT unless a failure came
 * first. A child cut off at the deadline sees -ETIMEDOUT from its own
 * deadline or -ECANCELED from the scope, whichever comes first; one that
 * returns 0 anyway is not a failure. weft_mutex_lock, which the fiber
 * deadline does not bound, is not cut short by it.
 *
 * Cancellation and nesting. If the fiber in weft_scope_run() is
 * cancelled while it waits for the children, the scope is cancelled and
 * returns -ECANCELED once they have ended; while body runs, body's own
 * wait reports it, as any. A child may run a scope of its own: cancelling
 * the outer scope cancels the child, whose wait for its inner scope
 * cancels that one in turn; the inner scope's deadline is at most the
 * outer one's. At shutdown the scope cancels its children and still
 * waits for them.
 */
typedef struct weft_scope weft_scope;

/**
 * weft_scope_run() - run body in a scope whose fibers cannot outlive it
 *
 * Call body(scope, arg) in the calling fiber, then wait until every fiber
 * spawned into the scope has ended (see Scopes above for results,
 * deadline and cancellation).
 *
 * Context: fiber. Yield point.
 * Returns: body's result (which may itself be negative: the scope's
 * first failure), once every child has ended.
 * Errors:
 *   -ETIMEDOUT  the scope's deadline passed with children left;
 *   -ECANCELED  the scope was cancelled (weft_scope_cancel, or the
 *               caller cancelled while waiting for the children), or the
 *               runtime is shutting down (body not run);
 *   -EINVAL     @body is NULL;
 *   -ENOMEM     no memory for the scope;
 *   -EPERM      not called from a fiber;
 *   or the first negative result of body or a child.
 */
WEFT_API int weft_scope_run(int (*body)(weft_scope *scope, void *arg),
			    void *arg, int64_t deadline_ns);

/**
 * weft_scope_spawn() - spawn a fiber into a scope
 *
 * Spawn fn(arg) as a fiber of @scope, from body, from any of the scope's
 * fibers, or from any fiber holding the handle while the scope is open
 * (until weft_scope_run() returns). @opts as weft_spawn's (NULL: the
 * defaults). The fiber is the scope's to join: there is no handle.
 *
 * Context: fiber (not a generator body). Not a yield point.
 * Returns: 0.
 * Errors:
 *   -ESHUTDOWN  the scope has ended: the handle is stale;
 *   -ECANCELED  the scope is cancelled, or the runtime shuts down; fn
 *               does not run;
 *   -EINVAL     @fn is NULL, or bad @opts (as weft_spawn);
 *   -ENOMEM, -EAGAIN  as weft_spawn;
 *   -EPERM      not called from a fiber.
 */
WEFT_API int weft_scope_spawn(weft_scope *scope, int (*fn)(void *arg),
			      void *arg, const struct weft_spawn_opts *opts);

/**
 * weft_scope_cancel() - cancel a scope
 *
 * Cancel @scope as a failure would, with -ECANCELED as its result unless
 * a failure came first: body (while it runs) and every child still
 * running are cancelled, and no new child may join.
 *
 * Context: any thread while weft_run() runs, as weft_cancel(). Not a
 * yield point.
 * Returns: 0.
 * Errors:
 *   -ESHUTDOWN  the scope has ended;
 *   -EPERM      weft_run() is not running.
 */
WEFT_API int weft_scope_cancel(weft_scope *scope);

/* Channels ------------------------------------------------------------- */

/*
 * Go's channels. A channel carries elements of a fixed size, copied in
 * and out. Capacity 0 makes it unbuffered: a send waits until a receiver
 * takes the element, and the element goes straight from the sender's
 * memory to the receiver's. With capacity N, up to N elements wait in
 * the channel in FIFO order. Any number of fibers on any workers may send
 * and receive. A handoff to a waiting fiber queues it on the waker's
 * worker to run next, so a ping-pong stays on one core, hot in cache.
 *
 * Blocking calls honour the fiber's deadline (weft_set_deadline) and
 * cancellation when they have to wait: they return -ETIMEDOUT or
 * -ECANCELED having transferred nothing. The try variants never block
 * and may be called from any thread, including threads that are not
 * weft workers: that is how a plain pthread feeds fibers.
 */
typedef struct weft_chan weft_chan;

/**
 * weft_chan_new() - create a channel
 *
 * A new channel for elements of @elem_size bytes (0 is allowed: a pure
 * signal, and element pointers may then be NULL) holding up to @capacity
 * of them (0: unbuffered).
 *
 * Context: any thread. Not a yield point.
 * Returns: 0, with the channel in *out.
 * Errors:
 *   -EINVAL  @out is NULL, @elem_size is above 65,536, or the buffer
 *            would overflow size_t;
 *   -ENOMEM  no memory for the channel.
 */
WEFT_API int weft_chan_new(weft_chan **out, size_t elem_size, size_t capacity);

/**
 * weft_chan_send() - send an element, waiting for room
 *
 * Copy the element at @elem into the channel, or straight to a waiting
 * receiver; wait while the channel is full (unbuffered: until a
 * receiver takes it).
 *
 * Context: fiber. Yield point.
 * Returns: 0 once the element was taken or buffered.
 * Errors:
 *   -EPIPE      the channel is closed (also when it is closed while the
 *               sender waits);
 *   -ETIMEDOUT  the fiber's deadline passed while waiting: nothing sent;
 *   -ECANCELED  the fiber was cancelled while waiting: nothing sent;
 *   -ENOMEM     the fiber has a deadline and its timer could not be
 *               armed: nothing sent;
 *   -EINVAL     @c is NULL;
 *   -EPERM      not called from a fiber.
 */
WEFT_API int weft_chan_send(weft_chan *c, const void *elem);

/**
 * weft_chan_recv() - receive an element, waiting for one
 *
 * Receive an element into @elem (NULL: discard it); wait while the
 * channel is empty.
 *
 * Context: fiber. Yield point.
 * Returns: 0 with an element received.
 * Errors:
 *   -EPIPE      the channel is closed and empty (elements sent before the
 *               close are all delivered first);
 *   -ETIMEDOUT  the fiber's deadline passed while waiting: nothing
 *               received;
 *   -ECANCELED  the fiber was cancelled while waiting: nothing received;
 *   -ENOMEM     the fiber has a deadline and its timer could not be
 *               armed: nothing received;
 *   -EINVAL     @c is NULL;
 *   -EPERM      not called from a fiber.
 */
WEFT_API int weft_chan_recv(weft_chan *c, void *elem);

/**
 * weft_chan_try_send() - send an element if it can go at once
 *
 * As weft_chan_send(), but never waits.
 *
 * Context: any thread. Not a yield point.
 * Returns: 0 with the element taken or buffered.
 * Errors:
 *   -EAGAIN  the channel is full (unbuffered: no receiver waits);
 *   -EPIPE   the channel is closed;
 *   -EINVAL  @c is NULL.
 */
WEFT_API int weft_chan_try_send(weft_chan *c, const void *elem);

/**
 * weft_chan_try_recv() - receive an element if one is there
 *
 * As weft_chan_recv(), but never waits.
 *
 * Context: any thread. Not a yield point.
 * Returns: 0 with an element received.
 * Errors:
 *   -EAGAIN  the channel is empty (unbuffered: no sender waits);
 *   -EPIPE   the channel is closed and empty;
 *   -EINVAL  @c is NULL.
 */
WEFT_API int weft_chan_try_recv(weft_chan *c, void *elem);

/**
 * weft_chan_close() - close a channel
 *
 * Waiting receivers and senders wake with -EPIPE (receivers only once
 * the buffer is empty), later sends fail with -EPIPE and receives drain
 * the buffer, then fail with -EPIPE.
 *
 * Context: any thread. Not a yield point.
 * Returns: 0.
 * Errors:
 *   -EPIPE   the channel was already closed;
 *   -EINVAL  @c is NULL.
 */
WEFT_API int weft_chan_close(weft_chan *c);

/**
 * weft_chan_len() - elements buffered in a channel right now
 *
 * Context: any thread. Not a yield point.
 * Returns: the count, a moment old; 0 for a NULL @c.
 * Errors: none.
 */
WEFT_API size_t weft_chan_len(weft_chan *c);

/**
 * weft_chan_cap() - a channel's capacity
 *
 * Context: any thread. Not a yield point.
 * Returns: the capacity given to weft_chan_new(); 0 for a NULL @c.
 * Errors: none.
 */
WEFT_API size_t weft_chan_cap(const weft_chan *c);

/**
 * weft_chan_free() - free a channel
 *
 * Free a channel nobody uses any more (no fiber waits on it, none will
 * call it again). Elements still buffered are discarded. NULL is a no-op.
 *
 * Context: any thread. Not a yield point.
 * Returns: nothing.
 * Errors: none.
 */
WEFT_API void weft_chan_free(weft_chan *c);

/* Select --------------------------------------------------------------- */

enum weft_select_op { WEFT_SELECT_SEND = 1, WEFT_SELECT_RECV = 2 };

struct weft_select_case {
	weft_chan *chan;	/* NULL: the case never fires (Go's nil chan) */
	int op;			/* WEFT_SELECT_SEND or WEFT_SELECT_RECV       */
	void *elem;		/* send: the element; recv: where to put it   */
	int res;		/* out, chosen case: 0 or -EPIPE (closed)     */
	/* Must be zero (as `{ ch, op, elem }` or a zeroed array leaves
	 * them). Cases are passed as an array whose stride the caller's
	 * header fixes, so this struct cannot grow by a size member: later
	 * per-case fields will take these words, zero meaning today's
	 * behaviour. */
	uint64_t reserved[2];
};

/* The most cases one weft_select() takes. */
#define WEFT_SELECT_MAX 64u

/**
 * weft_select() - wait until one of several channel operations can go
 *
 * Go's select: wait until one of cases[0..n) can proceed, perform it and
 * return its index; cases[index].res is 0, or -EPIPE for a receive from
 * a closed, drained channel or a send to a closed channel. When several
 * are ready, one is chosen uniformly at random, so no case starves; a
 * select that has to wait queues its cases in a random order too.
 * @timeout_ns bounds the wait (see Time and deadlines): 0 makes it
 * non-blocking (Go's default case: -EAGAIN when nothing is ready), a
 * negative one (WEFT_FOREVER) waits without limit, as does one too large
 * to add to the clock, and any other returns -ETIMEDOUT after that many
 * nanoseconds. The fiber's deadline applies too. n may be 0 (wait for
 * the timeout).
 *
 * Context: fiber, yield point; with @timeout_ns 0, any thread and not a
 * yield point.
 * Returns: the index of the case performed.
 * Errors:
 *   -EAGAIN     @timeout_ns is 0 and no case is ready;
 *   -ETIMEDOUT  the timeout or the fiber's deadline passed: no case was
 *               performed;
 *   -ECANCELED  the fiber was cancelled while waiting: no case was
 *               performed;
 *   -ENOMEM     the timer of the wait could not be armed;
 *   -EINVAL     n is above WEFT_SELECT_MAX, an op is not
 *               WEFT_SELECT_SEND or WEFT_SELECT_RECV, a reserved word is
 *               not zero, or @cases is NULL with n > 0;
 *   -EPERM      @timeout_ns is not 0 and the caller is not a fiber.
 */
WEFT_API int weft_select(struct weft_select_case *cases, size_t n,
			 int64_t timeout_ns);

/* Locks and friends ------------------------------------------------------ */

/*
 * These park fibers, never worker threads. Each is a plain struct that
 * may live anywhere (static, on a stack, in a heap object), set up by its
 * static initialiser or its _init function and needing no destruction.
 * Each is opaque storage of a fixed size in bytes (WEFT_MUTEX_SIZE, ...),
 * aligned as a uint64_t; its layout inside is weft's business and may
 * change between releases without changing the ABI. All zero bytes is
 * a valid initial state of each (an unlocked mutex, a wait group at
 * zero, a semaphore with no unit), so a zeroed struct, as calloc()
 * gives, needs no _init. Waiting calls are fiber context only (-EPERM
 * elsewhere); releasing and non-blocking calls (unlock, trylock, signal,
 * broadcast, add, done, release, try_acquire) work from any thread.
 * Waiters queue in FIFO order.
 */
#define WEFT_MUTEX_SIZE 48u
#define WEFT_COND_SIZE 48u
#define WEFT_WG_SIZE 48u
#define WEFT_SEM_SIZE 48u
#define WEFT_ONCE_SIZE 64u

typedef struct weft_mutex {
	uint64_t opaque_[WEFT_MUTEX_SIZE / 8];
} weft_mutex;
#define WEFT_MUTEX_INIT { { 0 } }

/*
 * A mutual exclusion lock, as Go's sync.Mutex: not tied to the fiber that
 * locked it (any fiber or thread may unlock) and not recursive. Normally
 * a fiber that arrives while the lock is free takes it even if others
 * wait, which keeps it fast under contention; but a waiter that has
 * waited over 1 ms switches the lock to handoff mode, in which each
 * unlock hands it straight to the longest waiter and newcomers queue, so
 * no waiter starves. Locking is not a cancellation point: a cancel
 * request stays pending for the fiber's next suspension.
 */

/**
 * weft_mutex_init() - initialise a mutex, unlocked
 *
 * The same as WEFT_MUTEX_INIT or all zero bytes.
 *
 * Context: any thread. Not a yield point.
 * Returns: nothing.
 * Errors: none.
 */
WEFT_API void weft_mutex_init(weft_mutex *m);

/**
 * weft_mutex_lock() - lock a mutex, waiting as long as it takes
 *
 * Neither cancellation nor the fiber's deadline ends the wait, so that
 * callers which do not check the result never run their critical section
 * without the lock.
 *
 * Context: fiber. Yield point.
 * Returns: 0 with @m locked.
 * Errors:
 *   -EDEADLK  the runtime found every fiber asleep for good (see
 *             weft_run): @m not locked;
 *   -EPERM    not called from a fiber.
 */
WEFT_API int weft_mutex_lock(weft_mutex *m);

/**
 * weft_mutex_lock_until() - lock a mutex, giving up at a deadline
 *
 * As weft_mutex_lock(), but giving up at @deadline_ns (absolute;
 * negative: none) or at the fiber's own deadline (weft_set_deadline),
 * whichever is earlier; a free lock is taken even past both, as
 * pthread_mutex_timedlock does. Cancellation does not end the wait.
 *
 * Context: fiber. Yield point.
 * Returns: 0 with @m locked.
 * Errors:
 *   -ETIMEDOUT  the deadline passed: @m not locked;
 *   -ENOMEM     the deadline's timer could not be armed: @m not locked;
 *   -EDEADLK    as weft_mutex_lock(): @m not locked;
 *   -EPERM      not called from a fiber.
 */
WEFT_API int weft_mutex_lock_until(weft_mutex *m, int64_t deadline_ns);

/**
 * weft_mutex_trylock() - lock a mutex if it is free
 *
 * Context: any thread. Not a yield point.
 * Returns: 0 with @m locked.
 * Errors:
 *   -EBUSY  @m is locked.
 */
WEFT_API int weft_mutex_trylock(weft_mutex *m);

/**
 * weft_mutex_unlock() - unlock a mutex
 *
 * Any fiber or thread may unlock, not only the one that locked. In
 * handoff mode the lock goes straight to the longest waiter.
 *
 * Context: any thread. Not a yield point.
 * Returns: 0.
 * Errors:
 *   -EPERM  @m was not locked.
 */
WEFT_API int weft_mutex_unlock(weft_mutex *m);

typedef struct weft_cond {
	uint64_t opaque_[WEFT_COND_SIZE / 8];
} weft_cond;
#define WEFT_COND_INIT { { 0 } }

/**
 * weft_cond_init() - initialise a condition variable
 *
 * The same as WEFT_COND_INIT or all zero bytes.
 *
 * Context: any thread. Not a yield point.
 * Returns: nothing.
 * Errors: none.
 */
WEFT_API void weft_cond_init(weft_cond *c);

/**
 * weft_cond_wait() - wait on a condition variable
 *
 * Unlock @m, wait for a signal, lock @m again. As with every condition
 * variable, a return does not prove the condition holds: check it in a
 * loop. The wait is bounded by the fiber's deadline and ended by a
 * cancellation; locking @m again is not (as weft_mutex_lock).
 *
 * Context: fiber. Yield point.
 * Returns: 0 with @m locked again.
 * Errors:
 *   -ECANCELED  the fiber was cancelled; @m locked again;
 *   -ETIMEDOUT  the fiber's deadline passed; @m locked again;
 *   -ENOMEM     the deadline's timer could not be armed; @m locked
 *               again;
 *   -EDEADLK    the runtime found every fiber asleep for good (see
 *               weft_run) while this one waited to lock @m again: @m
 *               not locked;
 *   -EPERM      not called from a fiber, or @m is not locked (then @m is
 *               untouched).
 */
WEFT_API int weft_cond_wait(weft_cond *c, weft_mutex *m);

/**
 * weft_cond_wait_until() - wait on a condition variable until a deadline
 *
 * As weft_cond_wait(), giving up with -ETIMEDOUT at @deadline_ns
 * (WEFT_FOREVER or any negative: no deadline) or at the fiber's own
 * deadline, whichever is earlier. A deadline of 0 or past gives
 * -ETIMEDOUT at once, @m never unlocked.
 *
 * Context: fiber. Yield point.
 * Returns: 0 with @m locked again.
 * Errors: as weft_cond_wait(): -ECANCELED, -ETIMEDOUT, -ENOMEM,
 * -EDEADLK, -EPERM.
 */
WEFT_API int weft_cond_wait_until(weft_cond *c, weft_mutex *m,
				  int64_t deadline_ns);

/**
 * weft_cond_signal() - wake the longest waiter of a condition variable
 *
 * Context: any thread. Not a yield point.
 * Returns: 0.
 * Errors: none.
 */
WEFT_API int weft_cond_signal(weft_cond *c);

/**
 * weft_cond_broadcast() - wake every waiter of a condition variable
 *
 * Context: any thread. Not a yield point.
 * Returns: 0.
 * Errors: none.
 */
WEFT_API int weft_cond_broadcast(weft_cond *c);

typedef struct weft_wg {
	uint64_t opaque_[WEFT_WG_SIZE / 8];
} weft_wg;
#define WEFT_WG_INIT { { 0 } }

/*
 * Go's sync.WaitGroup: add to the counter for each task started, call
 * done as each ends, and wait until the counter is zero. The done that
 * brings the counter to zero touches the group no more once a waiter can
 * return, so a group's only waiter may free it (or return from the frame
 * that holds it) as soon as weft_wg_wait() returns.
 */

/**
 * weft_wg_init() - initialise a wait group, its counter at zero
 *
 * The same as WEFT_WG_INIT or all zero bytes.
 *
 * Context: any thread. Not a yield point.
 * Returns: nothing.
 * Errors: none.
 */
WEFT_API void weft_wg_init(weft_wg *wg);

/**
 * weft_wg_add() - add @delta (which may be negative) to the counter
 *
 * When the counter reaches zero every waiter wakes.
 *
 * Context: any thread. Not a yield point.
 * Returns: 0.
 * Errors:
 *   -EINVAL  the counter would go below zero (it is left unchanged).
 */
WEFT_API int weft_wg_add(weft_wg *wg, int delta);

/**
 * weft_wg_done() - take one from the counter: weft_wg_add(wg, -1)
 *
 * Context: any thread. Not a yield point.
 * Returns: 0.
 * Errors:
 *   -EINVAL  the counter is already zero.
 */
WEFT_API int weft_wg_done(weft_wg *wg);

/**
 * weft_wg_wait() - wait until the counter is zero
 *
 * Context: fiber. Yield point.
 * Returns: 0 once the counter is zero (at once if it is).
 * Errors:
 *   -ECANCELED  the fiber was cancelled while waiting;
 *   -ETIMEDOUT  the fiber's deadline passed while waiting;
 *   -ENOMEM     the deadline's timer could not be armed;
 *   -EPERM      not called from a fiber.
 */
WEFT_API int weft_wg_wait(weft_wg *wg);

/*
 * The one lock type a static initialiser does not leave all zero:
 * WEFT_SEM_INIT(n) stores n in init_count_, which the library keeps as
 * the count itself (so its place is part of the ABI); the rest is zero.
 */
typedef struct weft_sem {
	int64_t init_count_;
	uint64_t opaque_[WEFT_SEM_SIZE / 8 - 1];
} weft_sem;
#define WEFT_SEM_INIT(n) { (n), { 0 } }

/**
 * weft_sem_init() - initialise a counting semaphore with @value units
 *
 * A counting semaphore (asyncio.Semaphore), FIFO among waiters. The same
 * as WEFT_SEM_INIT(value).
 *
 * Context: any thread. Not a yield point.
 * Returns: 0.
 * Errors:
 *   -EINVAL  @value is negative (@s is untouched).
 */
WEFT_API int weft_sem_init(weft_sem *s, int64_t value);

/**
 * weft_sem_acquire() - take one unit, waiting while there is none
 *
 * Context: fiber. Yield point.
 * Returns: 0 with a unit taken.
 * Errors:
 *   -ECANCELED  the fiber was cancelled while waiting: no unit taken;
 *   -ETIMEDOUT  the fiber's deadline passed while waiting: no unit
 *               taken;
 *   -ENOMEM     the deadline's timer could not be armed: no unit taken;
 *   -EPERM      not called from a fiber.
 */
WEFT_API int weft_sem_acquire(weft_sem *s);

/**
 * weft_sem_try_acquire() - take one unit if one is free
 *
 * Context: any thread. Not a yield point.
 * Returns: 0 with a unit taken.
 * Errors:
 *   -EAGAIN  no unit is free.
 */
WEFT_API int weft_sem_try_acquire(weft_sem *s);

/**
 * weft_sem_release() - give one unit back
 *
 * The unit goes to the longest waiter, if any, else to the count.
 *
 * Context: any thread. Not a yield point.
 * Returns: 0.
 * Errors:
 *   -EOVERFLOW  the count is at INT64_MAX.
 */
WEFT_API int weft_sem_release(weft_sem *s);

typedef struct weft_once {
	uint64_t opaque_[WEFT_ONCE_SIZE / 8];
} weft_once;
#define WEFT_ONCE_INIT { { 0 } }

/**
 * weft_call_once() - run fn(arg) exactly once for @o
 *
 * However many fibers call this at the same time, fn runs once; the
 * others wait until it has returned (in weft_mutex_lock, so neither a
 * cancellation nor a deadline ends that wait).
 *
 * Context: fiber, yield point; once fn has run, any thread and not a
 * yield point.
 * Returns: 0 once fn has run.
 * Errors:
 *   -EINVAL   @fn is NULL and it has not run yet;
 *   -EPERM    not called from a fiber before fn has run;
 *   -EDEADLK  the runtime found every fiber asleep for good (see
 *             weft_run) while this one waited: fn may not have run.
 */
WEFT_API int weft_call_once(weft_once *o, void (*fn)(void *), void *arg);

/* Generators ------------------------------------------------------------ */

/*
 * Python's generators, the C way: a coroutine with its own stack, driven
 * by whoever calls weft_gen_send(), on the caller's thread, without the
 * scheduler (so they work inside and outside weft_run, and a fiber may
 * drive one).
 */
typedef struct weft_gen weft_gen;

enum weft_gen_state {
	WEFT_GEN_CREATED,	/* not started yet                          */
	WEFT_GEN_RUNNING,	/* executing right now                      */
	WEFT_GEN_SUSPENDED,	/* waiting in weft_gen_yield()              */
	WEFT_GEN_CLOSED,	/* returned, or closed                      */
};

/*
 * Rules for generators.
 *  - A generator runs on the thread of the context that resumes it
 *    (weft_gen_send, weft_gen_close, weft_gen_free), until it yields or
 *    returns. Its errno and thread-local data are that thread's.
 *  - Its body must not suspend the fiber driving it: inside a generator,
 *    weft's suspending calls (weft_yield, joins, sleeps, I/O, channels,
 *    locks, weft_scope_run and weft_scope_spawn) return -EPERM, or do
 *    nothing if they return void. Calls that never suspend (weft_spawn,
 *    the try variants, other generators) work; those documented as
 *    "fiber or generator body" act on the fiber driving the generator.
 *  - Drive a generator from one context at a time. Between sends it may
 *    move: a fiber may send, migrate to another worker and send again,
 *    or hand the generator to another fiber or thread (through a channel,
 *    a join, a lock). Concurrent calls on one generator are a data race;
 *    the -EBUSY of weft_gen_send is for a generator resuming itself, not
 *    for that.
 *  - A body may create and drive other generators (nesting); each
 *    generator returns to whichever context resumed it last.
 *  - Stacks come from the same pool as fibers' (a guard page, or a
 *    canary-checked gap; see "Guard pages and the map budget"), but an
 *    overflow is not named: running into the guard page is a plain
 *    SIGSEGV, and an unguarded stack's overflow stops the process with
 *    "weft: a generator overflowed its stack" when the generator next
 *    yields, returns or is freed.
 */

/**
 * weft_gen_exit_marker - what WEFT_GEN_EXIT points to
 *
 * What weft_gen_yield() returns when the generator is being closed
 * (Python's GeneratorExit) is WEFT_GEN_EXIT, the address of this object
 * inside weft, so no value a program sends can be equal to it. The body
 * must then clean up and return; its return value is discarded.
 *
 * Context: any thread (a constant; compare with WEFT_GEN_EXIT, never
 * write it).
 */
WEFT_API extern const char weft_gen_exit_marker;
#define WEFT_GEN_EXIT ((void *)(uintptr_t)&weft_gen_exit_marker)

/**
 * weft_gen_new() - create a generator
 *
 * A new generator in state CREATED that will run fn(g, arg) on a stack of
 * @stack_size bytes (0: WEFT_STACK_DEFAULT; rounded up as for fibers).
 * Nothing runs until the first weft_gen_send().
 *
 * Context: any thread, inside or outside weft_run(). Not a yield point.
 * Returns: 0, with the generator in *out.
 * Errors:
 *   -EINVAL  @out or @fn is NULL, or @stack_size is above 1 GiB (*out
 *            is set to NULL when @out is not);
 *   -ENOMEM, -EAGAIN  no memory or mappings for the generator or its
 *            stack (the errno of mmap(2)).
 */
WEFT_API int weft_gen_new(weft_gen **out, void *(*fn)(weft_gen *g, void *arg),
			  void *arg, size_t stack_size);

/**
 * weft_gen_send() - resume a generator with a value
 *
 * Resume @g with @in: the first send starts fn, later ones make the
 * pending weft_gen_yield() return @in (Python's gen.send(in); next(gen)
 * is a send of NULL). Runs @g until it yields or returns and stores what
 * it yielded, or fn's return value, in *out (@out may be NULL). On an
 * error *out is left alone.
 *
 * Context: any thread, a fiber or a generator body included. Not a
 * yield point.
 * Returns: 0 when @g yielded (@g is SUSPENDED); 1 when fn returned (@g
 * is CLOSED and its stack already freed).
 * Errors:
 *   -EINVAL  @in is not NULL on the first send (Python's TypeError
 *            "can't send non-None value to a just-started generator";
 *            @g stays CREATED), @in is WEFT_GEN_EXIT, or @g is NULL;
 *   -EBUSY   @g is RUNNING (it is sending to itself, or a generator it
 *            runs is; Python's ValueError "generator already executing");
 *   -EPIPE   @g is CLOSED (Python's StopIteration).
 */
WEFT_API int weft_gen_send(weft_gen *g, void *in, void **out);

/**
 * weft_gen_yield() - hand a value to the generator's sender and suspend
 *
 * Suspend @g, handing @value to its sender as *out, and return what the
 * next weft_gen_send() passes in, or WEFT_GEN_EXIT if @g is being closed
 * (then clean up and return from fn).
 *
 * Context: @g's own running body only. Called anywhere else (a wrong or
 * NULL generator, a generator's sender, a plain thread), it does nothing
 * and returns WEFT_GEN_EXIT. Suspends the generator, not the fiber.
 * Returns: the value sent, or WEFT_GEN_EXIT.
 * Errors: none (WEFT_GEN_EXIT instead).
 */
WEFT_API void *weft_gen_yield(weft_gen *g, void *value);

/**
 * weft_gen_yield_from() - delegate to a subgenerator
 *
 * Python's "yield from sub" inside @g's body: run @sub to its end,
 * passing each value it yields out through @g and each value sent into
 * @g on to @sub (the first resume of @sub is a send of NULL, as Python's
 * next()), and return @sub's return value. @sub is CREATED or SUSPENDED;
 * the caller keeps owning it and frees it afterwards.
 * If @g is closed meanwhile, @sub is closed first, then WEFT_GEN_EXIT is
 * returned (clean up and return from fn).
 *
 * Context: @g's own running body only (WEFT_GEN_EXIT elsewhere).
 * Suspends the generator, not the fiber.
 * Returns: @sub's return value; NULL at once for a CLOSED @sub, as
 * yield from an exhausted generator gives None; WEFT_GEN_EXIT if @g is
 * closed meanwhile.
 * Errors: none; WEFT_GEN_EXIT, without running anything, if @sub is
 * NULL, is @g or is RUNNING (an enclosing generator), or if the caller
 * is not @g's own running body.
 */
WEFT_API void *weft_gen_yield_from(weft_gen *g, weft_gen *sub);

/**
 * weft_gen_close() - close a generator (Python's gen.close())
 *
 * CREATED: becomes CLOSED without running fn. SUSPENDED: resumed so that
 * its pending weft_gen_yield() returns WEFT_GEN_EXIT; once fn returns @g
 * is CLOSED (its return value is discarded). CLOSED: nothing to do. A
 * closed generator's stack is freed at once; the handle stays valid
 * until weft_gen_free().
 *
 * Context: any thread, a fiber or a generator body included. Not a
 * yield point.
 * Returns: 0 with @g CLOSED.
 * Errors:
 *   -EINVAL  fn yielded again instead of returning (Python's
 *            RuntimeError "generator ignored GeneratorExit"): @g stays
 *            SUSPENDED at that new yield; or @g is NULL;
 *   -EBUSY   @g is RUNNING.
 */
WEFT_API int weft_gen_close(weft_gen *g);

/**
 * weft_gen_state() - a generator's state (inspect.getgeneratorstate)
 *
 * Context: any thread. Not a yield point.
 * Returns: @g's state; WEFT_GEN_CLOSED for NULL.
 * Errors: none.
 */
WEFT_API enum weft_gen_state weft_gen_state(const weft_gen *g);

/**
 * weft_gen_free() - free a generator
 *
 * A SUSPENDED generator is closed first, as Python's finaliser does, so
 * its cleanup runs; if it ignores the exit it is freed where it yielded,
 * its remaining cleanup never run. Never free a RUNNING generator (from
 * its own body, say): that does nothing. NULL is a no-op.
 *
 * Context: any thread, a fiber or a generator body included. Not a
 * yield point.
 * Returns: nothing.
 * Errors: none.
 */
WEFT_API void weft_gen_free(weft_gen *g);

/* Statistics ------------------------------------------------------------ */

struct weft_stats {
	/* In: sizeof(struct weft_stats), or 0: WEFT_STATS_SIZE_V1 (see
	 * "Structs that grow"). Out: the bytes filled in. */
	size_t size;
	unsigned workers;	  /* worker threads                          */
	uint64_t spawned;	  /* fibers spawned so far                   */
	uint64_t live;		  /* fibers spawned and not yet ended        */
	uint64_t steals;	  /* successful steals (batches)             */
	uint64_t parks;		  /* times a worker went to sleep            */
	uint64_t stacks_mapped;	  /* stack slots carved from slabs           */
	uint64_t stacks_guarded;  /* of those, slots with a guard page       */
	unsigned stack_guard;	  /* how new guards are made: WEFT_GUARD_*   */
	uint64_t records;	  /* fiber records in memory, live or free:
				   * chunks of 1024 idle for a second are
				   * given back (records are 256 bytes)    */
	unsigned backend;	  /* the I/O backend running: WEFT_BACKEND_* */
	uint64_t rescued;	  /* sleeps and wait timeouts a worker fired
				   * for another that was stalled (see
				   * Stalls at weft_run)                    */
	/* Scheduling latency, over all workers: how long a fiber waited
	 * between being made ready (woken, spawned, yielded) and running,
	 * sampled once in about 64 readies, in ns. p50 and p99 are upper
	 * bounds of a histogram bucket (at most a quarter over); max is
	 * exact. All 0 before the first sample. */
	uint64_t latency_samples;
	uint64_t latency_p50_ns;
	uint64_t latency_p99_ns;
	uint64_t latency_max_ns;
};

/* sizeof(struct weft_stats) in the first ABI (weft 0.1). */
#define WEFT_STATS_SIZE_V1 128u

/* One worker's share of weft_stats (weft_worker_stats). */
struct weft_worker_stats {
	size_t size;		  /* as weft_stats.size                      */
	uint64_t steals;	  /* successful steals (batches)             */
	uint64_t parks;		  /* times it went to sleep                  */
	uint64_t rescued;	  /* others' timers it fired                 */
	uint64_t latency_samples; /* as in weft_stats, of the fibers that
				   * ran on this worker                      */
	uint64_t latency_p50_ns;
	uint64_t latency_p99_ns;
	uint64_t latency_max_ns;
};

/* sizeof(struct weft_worker_stats) in the first ABI (weft 0.1). */
#define WEFT_WORKER_STATS_SIZE_V1 64u

/* weft_stats.stack_guard: see "Guard pages and the map budget". */
#define WEFT_GUARD_MPROTECT 1u	/* mprotect, within the map budget      */
#define WEFT_GUARD_MADVISE 2u	/* MADV_GUARD_INSTALL (Linux 6.13+)     */

/**
 * weft_stats() - a snapshot of the runtime's counters
 *
 * Fill *out, whose size member the caller sets first
 * (`struct weft_stats st = { .size = sizeof(st) };`, or 0 for the first
 * ABI's fields): weft writes only that many bytes, and sets size to the
 * bytes it filled in (see "Structs that grow"). Each field is read
 * without stopping the workers, so the fields are individually exact
 * but not a single instant.
 *
 * Context: any thread while weft_run() runs. Not a yield point.
 * Returns: 0.
 * Errors:
 *   -EINVAL  @out is NULL, or out->size is refused (*out is untouched);
 *   -EPERM   weft_run() is not running.
 */
WEFT_API int weft_stats(struct weft_stats *out);

/**
 * weft_worker_stats() - one worker's counters
 *
 * The counters of worker @worker (0 .. workers-1), read as weft_stats
 * reads them, with out->size set first as for weft_stats.
 *
 * Context: any thread while weft_run() runs. Not a yield point.
 * Returns: 0.
 * Errors:
 *   -EINVAL  @worker does not exist, @out is NULL, or out->size is
 *            refused;
 *   -EPERM   weft_run() is not running.
 */
WEFT_API int weft_worker_stats(unsigned worker, struct weft_worker_stats *out);

/* Diagnostics ------------------------------------------------------------ */

/**
 * weft_dump() - write what every live fiber is doing
 *
 * Write to @fd a heading line ("weft: N fibers alive, W workers, BACKEND
 * backend:"), then a line a fiber with its id, its name if it has one,
 * and what it does: the wait it is parked on ("waits to receive on
 * channel 0x...", "waits in weft_join for fiber 7", "sleeps, 40 ms
 * left", "waits for a read on fd 5", ...), "runs on worker N", or "is
 * ready to run". A wait that has lasted a second or more says how long
 * (", for 12.3 s"), to a tenth of a second; it may read over by the
 * monitor's 100 ms clock tick. Under each line of a fiber that is not
 * running, its backtrace ("weft:       #0 0x... object+0x1234",
 * innermost first, at most 16 frames, for the first 64 such fibers),
 * then for every fiber but main where it was spawned ("spawned at
 * 0x..."): a frame-pointer walk from the context it saved, named by
 * dladdr() where the dynamic symbol table can, else as object and offset
 * for addr2line or gdb (tools/gdb/weft.py names every frame). The lines
 * are a snapshot taken while the fibers go on running, so each can be a
 * moment old, and a fiber that resumes during the walk may show a short
 * or stale backtrace (the walk reads through the kernel, so it cannot
 * fault). Out of memory, it lists those it could and says how many it
 * left out.
 *
 * The environment variable WEFT_DUMP_SIGNAL=QUIT (or SIGQUIT, USR1, a
 * signal number) makes weft_run() write a dump to stderr each time that
 * signal arrives, as Go does on SIGQUIT, and go on running. weft blocks
 * the signal in its own threads (and in weft_run's caller while it runs)
 * and takes it on a thread of its own, so no worker or fiber sees EINTR;
 * when weft_run returns, the signal's old action and the caller's signal
 * mask are put back. KILL, STOP and the fault signals (SEGV, BUS, ILL,
 * FPE, ABRT, TRAP) cannot be used; a value that is not a usable signal
 * is named on stderr and ignored.
 *
 * Context: any thread while weft_run() runs, fiber or not; not from a
 * signal handler (it allocates). Not a yield point: it writes with plain
 * write(2), so a fiber that calls it holds its worker until the write is
 * done.
 * Returns: the number of fibers listed.
 * Errors:
 *   -EPERM  weft_run() is not running;
 *   -EBADF  @fd is negative;
 *   the errno of write(2) (-EBADF, -EPIPE, ...).
 */
WEFT_API int weft_dump(int fd);

/*
 * Tracing. With the environment variable WEFT_TRACE=path set when
 * weft_run() starts, every worker records what its scheduler does (a
 * fiber's run slice, parks with what they wait on, wake-ups, spawns,
 * steals, I/O and sleep completions) and the monitor records stalls,
 * each into a ring of its own that keeps the last WEFT_TRACE_EVENTS
 * events (default 65,536, 32 bytes each; a power of two, 16 to
 * 67,108,864). When weft_run() returns, the rings are written to path
 * as Chrome trace-event JSON, which Perfetto (ui.perfetto.dev) and
 * chrome://tracing open: a track per worker and one for the monitor,
 * run slices named "fiber ID NAME". A file that cannot be written is
 * named on stderr; weft_run()'s result does not change. Recording takes
 * no lock; with WEFT_TRACE unset it is off, and each event point is a
 * branch.
 */

#ifdef __cplusplus
}
#endif

#endif /* WEFT_H */
