/* SPDX-License-Identifier: MIT */
/*
 * Backtraces of fibers that are not running, for the reports (dump.c):
 * a frame-pointer walk from the context a fiber saved when it switched
 * out (ctx.h says where its frame pointer and return address sit), and
 * a name for each address.
 *
 * The walk reads another fiber's stack while that fiber may resume and
 * scribble over it, or end and give the stack back, so every word is
 * read through the kernel (a write into a pipe from the address, which
 * fails with EFAULT instead of faulting), never by a plain load, and
 * every frame pointer must lie inside the fiber's stack, above the last
 * one. A racy walk can thus stop short or show a frame that is already
 * gone; it cannot crash the process. weft is built with frame pointers;
 * code built without them ends the walk early (the caller's frames are
 * then missing, not wrong: a frame pointer outside the stack stops it).
 *
 * Names come from dladdr(), which knows the dynamic symbol table only:
 * a function it cannot name is shown as object+offset, which
 * `addr2line -f -e OBJECT OFFSET` (or gdb, with tools/gdb/weft.py)
 * turns into a name and a line.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ck_pr.h>

#include "backtrace.h"
#include "ctx.h"
#include "fiber.h"
#include "stack.h"

int weft__probe_open(struct weft__probe *p)
{
	if (pipe2(p->fd, O_CLOEXEC | O_NONBLOCK) != 0) {
		p->fd[0] = p->fd[1] = -1;
		return -errno;
	}
	return 0;
}

void weft__probe_close(struct weft__probe *p)
{
	if (p->fd[0] >= 0) {
		close(p->fd[0]);
		close(p->fd[1]);
	}
	p->fd[0] = p->fd[1] = -1;
}

/* Copy the word at @addr into *@out without touching it ourselves. */
static bool probe_word(struct weft__probe *p, uintptr_t addr, uintptr_t *out)
{
	if (write(p->fd[1], (const void *)addr, sizeof(*out)) !=
	    (ssize_t)sizeof(*out))
		return false;
	return read(p->fd[0], out, sizeof(*out)) == (ssize_t)sizeof(*out);
}

int weft__fiber_backtrace(struct weft__probe *p, const struct fiber *f,
			  void **pcs, int max)
{
#ifdef WEFT_CTX_FP
	/* sp first: a fiber with a saved context has its stack for good
	 * (a child run inline gave its own back, unused, and took its
	 * host's before it could park; see "Lazy children" in fiber.c).
	 * The load fence pairs with the store fence in run_inline(). */
	uintptr_t sp = (uintptr_t)ck_pr_load_ptr(&f->ctx.sp);
	const struct stack *st;
	uintptr_t lo, hi, fp, pc, next;
	int n = 0;

	ck_pr_fence_load();
	st = ck_pr_load_ptr(&f->stack);
	if (p->fd[0] < 0 || !st || !sp || max <= 0)
		return 0;
	/* The stack record is the fiber's for as long as it lives. */
	if (!probe_word(p, (uintptr_t)&st->lo, &lo) ||
	    !probe_word(p, (uintptr_t)&st->size, &hi))
		return 0;
	hi += lo;
	if (sp < lo || sp >= hi ||
	    !probe_word(p, sp + WEFT_CTX_PC, &pc) ||
	    !probe_word(p, sp + WEFT_CTX_FP, &fp))
		return 0;
	while (pc && n < max) {
		pcs[n++] = (void *)pc;
		/* A frame record inside the stack, above the last. */
		if (fp < sp || fp + 16 > hi || (fp & 7) ||
		    !probe_word(p, fp, &next) || !probe_word(p, fp + 8, &pc))
			break;
		sp = fp + 16;
		fp = next;
	}
	return n;
#else
	(void)p;
	(void)f;
	(void)pcs;
	(void)max;
	return 0;
#endif
}

void weft__describe_pc(char *buf, size_t cap, const void *pc)
{
	Dl_info info;
	const char *obj;

	if (!dladdr(pc, &info) || !info.dli_fname) {
		snprintf(buf, cap, "%p", pc);
		return;
	}
	obj = strrchr(info.dli_fname, '/');
	obj = obj ? obj + 1 : info.dli_fname;
	if (info.dli_sname && info.dli_saddr)
		snprintf(buf, cap, "%p %s+0x%" PRIxPTR " (%s)", pc,
			 info.dli_sname,
			 (uintptr_t)pc - (uintptr_t)info.dli_saddr, obj);
	else
		snprintf(buf, cap, "%p %s+0x%" PRIxPTR, pc, obj,
			 (uintptr_t)pc - (uintptr_t)info.dli_fbase);
}
