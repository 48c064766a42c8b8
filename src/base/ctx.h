/* SPDX-License-Identifier: MIT */
/*
 * Execution contexts and switching between them: the machine switch (one
 * prototype, one assembly file per architecture under src/base/arch/) and the
 * sanitizer-annotated switch every caller uses. A suspended context is
 * nothing but its saved stack pointer; the callee-saved registers (and
 * the FP control words the ABI makes callee-saved) sit on its stack.
 * Fibers (sched.c) and generators (gen.c) both switch through here.
 */
#ifndef WEFT_CTX_H
#define WEFT_CTX_H

#include <stdbool.h>
#include <stddef.h>

#include "internal.h"

#ifdef WEFT_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

/*
 * Save the caller's callee-saved state on its stack, store the stack
 * pointer in *save_sp, load new_sp and resume the context saved there.
 * Returns when some context switches back to *save_sp. Ends with ret,
 * which pops the return-stack entry its call pushed (pop+jmp would leave
 * it there and make every later return of the resumed context
 * mispredict: 30 against 16 ns per weft_yield).
 */
void weft__ctx_switch(void **save_sp, void *new_sp);

/*
 * Lay out a new context at the top of a stack so that the first
 * weft__ctx_switch() to the returned stack pointer calls entry(arg) on a
 * correctly aligned frame, with the FP control words of the caller of
 * weft__ctx_make. @stack_top is the highest address of the stack (one
 * past the last usable byte), 16-byte aligned. entry must never return;
 * if it does, the trampoline traps.
 */
void *weft__ctx_make(void *stack_top, void (*entry)(void *arg), void *arg);

/*
 * Where a suspended context keeps its frame pointer and its return
 * address, as offsets from its saved sp (the layout comments in the
 * arch/ switch.S files): the start of a frame-pointer walk through its
 * stack (api/backtrace.c). On both architectures a frame record is then
 * [fp] = the caller's fp, [fp + 8] = the return address.
 */
#if defined(__x86_64__)
#define WEFT_CTX_FP 48
#define WEFT_CTX_PC 56
#elif defined(__aarch64__)
#define WEFT_CTX_FP 0
#define WEFT_CTX_PC 8
#endif

/*
 * Every register a suspended context keeps, as offsets from its saved sp
 * (arch/x86_64/switch.S), and how far above it the context's own sp
 * resumes: for debuggers (api/debug.c). Only x86-64 has them yet;
 * elsewhere WEFT_CTX_FRAME is 0.
 */
#if defined(__x86_64__)
#define WEFT_CTX_R15 8
#define WEFT_CTX_R14 16
#define WEFT_CTX_R13 24
#define WEFT_CTX_R12 32
#define WEFT_CTX_RBX 40
#define WEFT_CTX_RBP 48
#define WEFT_CTX_RIP 56
#define WEFT_CTX_FRAME 64
#else
#define WEFT_CTX_FRAME 0
#endif

/*
 * An execution context: a fiber's, a generator's, or a worker's scheduler
 * context (which runs on the worker thread's own stack). Owned by whoever
 * runs it; read by the context that switches to it.
 */
struct ctx {
	void *sp;		/* saved stack pointer while suspended       */
	void *stack_lo;		/* lowest usable stack byte (for ASan)       */
	size_t stack_size;	/* usable stack bytes (for ASan)             */
	void *asan_fake;	/* ASan fake stack saved while suspended     */
	void *tsan_fiber;	/* TSan fiber handle                         */
};

#ifdef WEFT_ASAN
/*
 * Clear the ASan shadow of the frames still on the running context's
 * stack [@lo, @lo + @size), from this function's own frame (below its
 * caller's) to the top: the frames a context that exits leaves there,
 * poisoned redzones and out-of-scope variables, which would give the
 * stack's next user false reports. Deeper frames cleared their shadow
 * as they returned, or ASan did when a longjmp or throw skipped them
 * (stack.c covers the depth at which ASan gives that up). Only those few
 * pages of shadow are written: clearing the whole stack would commit an
 * eighth of its size, 128 MiB for 1 GiB. Out of line, so that its frame
 * is below its caller's; not instrumented, so that it has no redzones;
 * unused in files that include this header but never exit a context.
 */
static __attribute__((noinline, no_sanitize_address, unused)) void
weft__asan_forget_frames(void *lo, size_t size)
{
	char *here = __builtin_frame_address(0);
	char *top = (char *)lo + size;

	weft_assert(here >= (char *)lo && here < top);
	__asan_unpoison_memory_region(here, (size_t)(top - here));
}
#endif

/*
 * Jump from @from to @to; @from_exits says @from will never run again
 * (under ASan its stack's shadow is then cleared of its frames, see
 * weft__asan_forget_frames()). Always inlined, so that the sanitizer
 * annotations and the jump share one frame (TSan requires it: an
 * instrumented helper returning between them corrupts its shadow
 * stack). A context's first code on its own stack must call
 * weft__switch_landed().
 */
static inline __attribute__((always_inline)) void
weft__switch(struct ctx *from, struct ctx *to, bool from_exits)
{
#ifdef WEFT_ASAN
	if (from_exits)
		weft__asan_forget_frames(from->stack_lo, from->stack_size);
	__sanitizer_start_switch_fiber(from_exits ? NULL : &from->asan_fake,
				       to->stack_lo, to->stack_size);
#else
	(void)from_exits;
#endif
#ifdef WEFT_TSAN
	__tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
	weft__ctx_switch(&from->sp, to->sp);
#ifdef WEFT_ASAN
	__sanitizer_finish_switch_fiber(from->asan_fake, NULL, NULL);
#endif
}

/* The first statement of a new context, on its own stack. */
static inline __attribute__((always_inline)) void weft__switch_landed(void)
{
#ifdef WEFT_ASAN
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
}

#endif /* WEFT_CTX_H */
