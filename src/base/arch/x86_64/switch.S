/* SPDX-License-Identifier: MIT */
/*
 * The x86-64 context switch (System V AMD64 ABI, ELF, Linux): the bodies
 * of weft__ctx_switch() and weft__ctx_make() declared in src/ctx.h, and
 * the trampoline that starts a new context. Any thread may run these; a
 * context saved on one thread may be resumed on another.
 *
 * What is saved. The ABI makes rbx, rbp, r12-r15 and rsp callee-saved,
 * and also the control bits of MXCSR and the x87 control word. The switch
 * pushes the six registers, then stores MXCSR (whole, so the SSE exception
 * flags travel with their context too) and the x87 control word in one
 * 8-byte slot; the stack pointer itself goes to *save_sp. The context
 * switched to loads its own slot only where it differs from the values
 * just stored, which it almost never does. Everything else is
 * caller-saved and already dead at the call. The x87 status word and
 * tag word are not saved: no x87 value is live across a call.
 *
 * A suspended context, at its saved stack pointer (16-byte aligned):
 *
 *	sp + 56	return address into the caller of weft__ctx_switch
 *	sp + 48	rbp
 *	sp + 40	rbx
 *	sp + 32	r12
 *	sp + 24	r13
 *	sp + 16	r14
 *	sp +  8	r15
 *	sp +  4	x87 control word (2 bytes, then 2 bytes of padding)
 *	sp +  0	MXCSR (4 bytes)
 *
 * A new context from weft__ctx_make() has the same layout, ending exactly
 * at the 16-byte aligned stack top: sp = top - 64. Its return address is
 * weft__ctx_trampoline, rbx holds entry, r12 holds arg, rbp, r13-r15 are
 * zero (a zero rbp ends frame-pointer walks), and the FP slot holds the
 * MXCSR and x87 control word of the caller of weft__ctx_make, as a new
 * thread inherits its creator's floating-point environment. The switch
 * pops all 64 bytes, so the trampoline starts with rsp = top, a multiple
 * of 16; its call pushes the return address, and entry starts with
 * (rsp + 8) % 16 == 0, as the ABI requires of every function entry.
 *
 * Why ret and not pop+jmp. The return-stack predictor pairs each ret with
 * the last call. pop+jmp never pops the entry that the call to this
 * function pushed, so after every switch the predictor is one entry off
 * and every later ret in the resumed fiber is mispredicted. A ret keeps
 * it balanced: it pops the entry pushed by the call in the context that
 * switched away, and since weft switches from a handful of call sites,
 * that is usually the very address we return to. Measured (gcc -O2, AMD
 * EPYC, two fibers ping-ponging through weft_yield on one worker): 16 ns
 * per switch with ret, 30 ns with pop+jmp. A bare two-context loop with
 * different call sites on each side shows the opposite (4.7 ns pop+jmp,
 * 11.6 ns ret), which is why pop+jmp looks better in isolation. Of the
 * switch itself, about 1.7 ns is stmxcsr/ldmxcsr.
 *
 * No CET markings (no .note.gnu.property with IBT or SHSTK): switching
 * stacks without switching shadow stacks would break every later ret.
 * Leaving the marks out keeps both features off for any binary that links
 * this file.
 */

	.text

/*
 * void weft__ctx_switch(void **save_sp, void *new_sp)
 * rdi = save_sp, rsi = new_sp.
 *
 * The CFI below describes the frame of whichever context is on the stack:
 * both sides of the switch have the same layout, so it stays true after
 * rsp is replaced.
 */
	.globl	weft__ctx_switch
	.hidden	weft__ctx_switch
	.type	weft__ctx_switch, @function
	.p2align 4
weft__ctx_switch:
	.cfi_startproc
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbp, 0
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbx, 0
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r12, 0
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r13, 0
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r14, 0
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r15, 0
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	/* Each read back at its own width, so the stores forward. */
	movl	(%rsp), %eax
	movzwl	4(%rsp), %edx

	/* Suspend this context and adopt the other one's stack. */
	movq	%rsp, (%rdi)
	movq	%rsi, %rsp

	/* ldmxcsr and fldcw only if its environment differs: fldcw is
	 * microcoded, both are slow, and it almost never differs. */
	cmpl	(%rsp), %eax
	jne	2f
	cmpw	4(%rsp), %dx
	jne	2f
	.cfi_remember_state
1:	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	popq	%r15
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r15
	popq	%r14
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r14
	popq	%r13
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r13
	popq	%r12
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r12
	popq	%rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbx
	popq	%rbp
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbp
	ret
	.cfi_restore_state
2:	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	jmp	1b
	.cfi_endproc
	.size	weft__ctx_switch, .-weft__ctx_switch

/*
 * void *weft__ctx_make(void *stack_top, void (*entry)(void *), void *arg)
 * rdi = stack_top, rsi = entry, rdx = arg; returns the new sp in rax.
 *
 * A leaf that writes the 64-byte initial frame below the top. The top is
 * documented as 16-byte aligned; rounding it down costs one instruction
 * and keeps a careless caller from building a misaligned frame.
 */
	.globl	weft__ctx_make
	.hidden	weft__ctx_make
	.type	weft__ctx_make, @function
	.p2align 4
weft__ctx_make:
	.cfi_startproc
	andq	$-16, %rdi
	leaq	-64(%rdi), %rax
	movq	$0, 0(%rax)
	stmxcsr	0(%rax)
	fnstcw	4(%rax)
	movq	$0, 8(%rax)		/* r15 */
	movq	$0, 16(%rax)		/* r14 */
	movq	$0, 24(%rax)		/* r13 */
	movq	%rdx, 32(%rax)		/* r12: arg */
	movq	%rsi, 40(%rax)		/* rbx: entry */
	movq	$0, 48(%rax)		/* rbp: ends frame-pointer chains */
	leaq	weft__ctx_trampoline(%rip), %rcx
	movq	%rcx, 56(%rax)		/* "return" address */
	ret
	.cfi_endproc
	.size	weft__ctx_make, .-weft__ctx_make

/*
 * The first code a new context runs, "returned" to by weft__ctx_switch
 * with rsp = stack top, rbx = entry and r12 = arg. It calls entry(arg),
 * which must never return; if it does, ud2 traps at once rather than
 * running off into whatever lies above the stack.
 *
 * The return address is marked undefined, so debuggers and unwinders
 * (gdb, libgcc's _Unwind_Backtrace, backtrace(3)) stop here instead of
 * reading above the top of the stack. Local to this file: nothing else
 * refers to it, and the symbol table still names it in backtraces.
 */
	.type	weft__ctx_trampoline, @function
	.p2align 4
weft__ctx_trampoline:
	.cfi_startproc
	.cfi_undefined %rip
	movq	%r12, %rdi
	callq	*%rbx
	ud2
	.cfi_endproc
	.size	weft__ctx_trampoline, .-weft__ctx_trampoline

	.section .note.GNU-stack, "", @progbits
