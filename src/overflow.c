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
#include <unistd.h>

#include "fiber.h"
#include "scheduler.h"

/* Big enough for our report and for a sanitizer's handler after us. */
#define ALTSTACK_SIZE (256u * 1024u)

static struct sigaction old_segv;	/* Written by install only. */

static char *fmt_u64(char *end, uint64_t v, unsigned base)
{
	*--end = '\0';
	do {
		*--end = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	return end;
}

static void report(struct fiber *f, const char *how, const void *addr)
{
	char id[24], size[24], where[24];

	weft__die_msg("fiber ", fmt_u64(id + sizeof(id), f->id, 10), "");
	if (f->name[0])
		weft__die_msg(" \"", f->name, "\"");
	(void)!write(2, " overflowed its ", 16);
	weft__die_msg("", fmt_u64(size + sizeof(size), f->stack->size, 10),
		      "-byte stack (");
	(void)!write(2, how, strlen(how));
	(void)!write(2, " 0x", 3);
	weft__die_msg("", fmt_u64(where + sizeof(where),
				  (uint64_t)(uintptr_t)addr, 16), ")\n");
}

static void on_segv(int sig, siginfo_t *si, void *uctx)
{
	struct worker *w = weft__worker_self();
	struct fiber *f = w ? w->cur : NULL;

	(void)uctx;
	if (f && f->stack && weft__stack_fault_is_overflow(f->stack,
							   si->si_addr)) {
		report(f, "fault in the guard page at", si->si_addr);
		abort();
	}
	/* An unguarded stack overflowed far enough to run through its
	 * canary gap and fault somewhere below. */
	if (f && f->stack && (char *)si->si_addr < (char *)f->stack->lo &&
	    !weft__stack_canary_ok(f->stack)) {
		report(f, "no guard page; canary clobbered, fault at",
		       si->si_addr);
		abort();
	}
	/* Not a fiber's overflow: put the previous disposition back and
	 * return; the faulting instruction runs again and faults under it. */
	sigaction(sig, &old_segv, NULL);
}

void weft__overflow_canary(struct fiber *f)
{
	report(f, "no guard page; canary clobbered below",
	       f->stack->lo);
	abort();
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
