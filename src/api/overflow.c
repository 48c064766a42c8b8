/* SPDX-License-Identifier: MIT */
/*
 * Stack-overflow reporting. While weft_run() runs, a SIGSEGV handler on a
 * per-worker alternate signal stack checks whether a fault hit the page
 * below the running fiber's stack (its guard page). If so it names the
 * fiber on stderr and aborts; any other fault is handed back to the
 * disposition that was there before (the default, or a sanitizer's). An
 * unguarded stack's canary, checked at every switch-out in sched.c, is
 * reported the same way. Everything on the report path is signal safe.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "fiber.h"
#include "scheduler.h"

/* Big enough for our report and for a sanitizer's handler after us. */
#define ALTSTACK_SIZE (256u * 1024u)

static struct sigaction old_segv;	/* Written by install only. */

/* Append to a fixed buffer without libc formatting (signal safe). */
struct line {
	char buf[256];
	size_t len;
};

static void put(struct line *l, const char *str)
{
	while (*str && l->len < sizeof(l->buf) - 1)
		l->buf[l->len++] = *str++;
}

static void put_u64(struct line *l, uint64_t v, unsigned base)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n > 0 && l->len < sizeof(l->buf) - 1)
		l->buf[l->len++] = tmp[--n];
}

/* 'fiber 12 "name"' */
static void put_fiber(struct line *l, const struct fiber *f)
{
	put(l, "fiber ");
	put_u64(l, f->id, 10);
	if (f->name[0]) {
		put(l, " \"");
		put(l, f->name);
		put(l, "\"");
	}
}

/*
 * "weft: fiber 12 "name" overflowed its 65536-byte stack (how 0x...)";
 * a child running inline (fiber.c) adds whose stack it is on:
 * "weft: fiber 12 "name" (inline in fiber 3 "parent") overflowed ...".
 */
static void report(struct fiber *f, const char *how, const void *addr)
{
	struct line l = { .len = 0 };
	const struct fiber *host = f->host;

	put(&l, "weft: ");
	put_fiber(&l, f);
	if (host) {
		put(&l, " (inline in ");
		put_fiber(&l, host);
		put(&l, ")");
	}
	put(&l, " overflowed its ");
	put_u64(&l, f->stack->size, 10);
	put(&l, "-byte stack (");
	put(&l, how);
	put(&l, " 0x");
	put_u64(&l, (uint64_t)(uintptr_t)addr, 16);
	put(&l, ")\n");
	(void)!write(2, l.buf, l.len);
}

/* A fiber running on any worker whose unguarded stack's canary is gone. */
static struct fiber *running_overflow(void)
{
	struct worker **workers = weft__sched.workers;
	unsigned i;

	if (!workers)
		return NULL;
	for (i = 0; i < weft__sched.nr_workers; i++) {
		/* Racy by design: a crash report reads what it can. */
		struct fiber *f = __atomic_load_n(&workers[i]->cur,
						  __ATOMIC_RELAXED);

		if (f && f->stack && !weft__stack_canary_ok(f->stack))
			return f;
	}
	return NULL;
}

/* Set by the one thread that reports; the others wait for its abort. */
static int reporting;

static __attribute__((noreturn)) void report_and_abort(struct fiber *f,
							const char *how,
							const void *addr)
{
	if (__atomic_exchange_n(&reporting, 1, __ATOMIC_ACQ_REL))
		for (;;)
			pause();
	report(f, how, addr);
	weft__chaos_say();
	abort();
}

/* Is a fiber on another worker running on an unguarded stack? */
static bool others_unguarded(struct worker *self)
{
	struct worker **workers = weft__sched.workers;
	unsigned i;

	for (i = 0; workers && i < weft__sched.nr_workers; i++) {
		struct fiber *f = __atomic_load_n(&workers[i]->cur,
						  __ATOMIC_RELAXED);

		if (workers[i] != self && f && f->stack && !f->stack->guarded)
			return true;
	}
	return false;
}

static void on_segv(int sig, siginfo_t *si, void *uctx)
{
	struct worker *w = weft__worker_self();
	struct fiber *f = w ? w->cur : NULL;
	struct timespec grace = { 0, 50 * 1000 * 1000 };

	/* Inside a generator the fiber runs on the generator's stack
	 * (gen.c), which these checks know nothing about. */
	if (f && f->stack && !f->gen_depth) {
		if (weft__stack_fault_is_overflow(f->stack, si->si_addr))
			report_and_abort(f, "fault in the guard page at",
					 si->si_addr);
		/* Without a guard page the overflow runs on into the memory
		 * below; the stack pointer gives it away wherever it faults. */
		if ((char *)weft__fault_sp(uctx) < (char *)f->stack->lo)
			report_and_abort(f, "no guard page; stack pointer "
					 "below the stack at fault", si->si_addr);
	}
	/* A fault in a fiber whose stack an overflow trampled: blame a
	 * running fiber with a broken canary. */
	f = running_overflow();
	if (f)
		report_and_abort(f, "no guard page; canary clobbered, fault at",
				 si->si_addr);
	/* An unguarded fiber on another worker may be overflowing into us;
	 * give it a moment to fault and report first. */
	if (others_unguarded(w))
		nanosleep(&grace, NULL);
	if (__atomic_load_n(&reporting, __ATOMIC_ACQUIRE))
		for (;;)
			pause();
	/* Not a fiber's overflow: put the previous disposition back and
	 * return; the faulting instruction runs again and faults under it. */
	sigaction(sig, &old_segv, NULL);
}

void weft__overflow_unguarded(struct fiber *f, const char *how)
{
	report_and_abort(f, how, f->stack->lo);
}

int weft__overflow_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &old_segv) < 0)
		return -errno;
	return 0;
}

void weft__overflow_uninstall(void)
{
	struct sigaction cur;

	/* Leave a handler someone else installed meanwhile alone. */
	if (sigaction(SIGSEGV, NULL, &cur) == 0 &&
	    (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_segv)
		sigaction(SIGSEGV, &old_segv, NULL);
}

int weft__overflow_thread_init(struct worker *w)
{
	stack_t ss;

	w->altstack = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->altstack == MAP_FAILED) {
		w->altstack = NULL;
		return -ENOMEM;
	}
	w->altstack_size = ALTSTACK_SIZE;
	ss.ss_sp = w->altstack;
	ss.ss_size = ALTSTACK_SIZE;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, &w->old_altstack) < 0) {
		munmap(w->altstack, ALTSTACK_SIZE);
		w->altstack = NULL;
		return -errno;
	}
	return 0;
}

void weft__overflow_thread_fini(struct worker *w)
{
	if (!w->altstack)
		return;
	sigaltstack(&w->old_altstack, NULL);
	munmap(w->altstack, w->altstack_size);
	w->altstack = NULL;
}
