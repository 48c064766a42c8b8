/* SPDX-License-Identifier: MIT */
/*
 * The AArch64 context switch (AAPCS64, ELF, Linux): the bodies of
 * weft__ctx_switch() and weft__ctx_make() declared in src/ctx.h, and the
 * trampoline that starts a new context. Any thread may run these; a
 * context saved on one thread may be resumed on another.
 *
 * What is saved. AAPCS64 makes x19-x28, the frame pointer x29, sp and the
 * low 64 bits of v8-v15 (d8-d15) callee-saved; the link register x30 holds
 * the return address. The switch stores all of them, plus FPCR (rounding
 * mode, flush-to-zero, trap enables) and FPSR (cumulative exception
 * flags), so that each context keeps its own floating-point environment,
 * as x86-64 keeps MXCSR and the x87 control word. SVE and SME state beyond
 * d8-d15 is not saved: AAPCS64 makes none of it callee-saved across an
 * ordinary call, and SME streaming mode and ZA must be off at a switch.
 *
 * A suspended context, at its saved stack pointer (16-byte aligned):
 *
 *	sp + 168	FPSR
 *	sp + 160	FPCR
 *	sp + 144	d14, d15
 *	sp + 128	d12, d13
 *	sp + 112	d10, d11
 *	sp +  96	d8,  d9
 *	sp +  80	x27, x28
 *	sp +  64	x25, x26
 *	sp +  48	x23, x24
 *	sp +  32	x21, x22
 *	sp +  16	x19, x20
 *	sp +   0	x29, x30 (a frame record: fp, return address)
 *
 * A new context from weft__ctx_make() has the same layout, ending exactly
 * at the 16-byte aligned stack top: sp = top - 176. Its x30 is
 * weft__ctx_trampoline, x19 holds entry, x20 holds arg, x29 and every
 * other slot are zero (a zero x29 ends frame-record walks), and the FPCR
 * and FPSR slots hold the values of the caller of weft__ctx_make, as a new
 * thread inherits its creator's floating-point environment. The switch
 * releases all 176 bytes, so the trampoline and entry run with sp = top,
 * a multiple of 16 as AAPCS64 requires at all times.
 *
 * Why ret and not br x30: the return-stack predictor pairs each ret with
 * the last bl. A br would leave the entry pushed by the bl that called
 * this function on the predictor's stack, so every later ret in the
 * resumed fiber would be predicted one entry off. ret keeps it balanced,
 * and since weft switches from a handful of call sites the popped entry
 * is usually right. On x86-64 the same choice measured 16 ns against
 * 30 ns per fiber switch; on AArch64 it is reasoned, not yet measured.
 *
 * No BTI or PAC markings (no .note.gnu.property): this file has no BTI
 * landing pads, so it must not be linked into a binary with guarded
 * pages. Leaving the property out keeps BTI off for any
 * binary that links this file. Return addresses signed by C code (PAC)
 * sit in C frames and are checked against the same sp, which the switch
 * restores exactly, so they need nothing here.
 */

	.text

/*
 * void weft__ctx_switch(void **save_sp, void *new_sp)
 * x0 = save_sp, x1 = new_sp.
 *
 * The CFI below describes the frame of whichever context is on the stack:
 * both sides of the switch have the same layout, so it stays true after
 * sp is replaced.
 */
	.globl	weft__ctx_switch
	.hidden	weft__ctx_switch
	.type	weft__ctx_switch, %function
	.p2align 4
weft__ctx_switch:
	.cfi_startproc
	sub	sp, sp, #176
	.cfi_def_cfa_offset 176
	stp	x29, x30, [sp, #0]
	.cfi_rel_offset x29, 0
	.cfi_rel_offset x30, 8
	stp	x19, x20, [sp, #16]
	.cfi_rel_offset x19, 16
	.cfi_rel_offset x20, 24
	stp	x21, x22, [sp, #32]
	.cfi_rel_offset x21, 32
	.cfi_rel_offset x22, 40
	stp	x23, x24, [sp, #48]
	.cfi_rel_offset x23, 48
	.cfi_rel_offset x24, 56
	stp	x25, x26, [sp, #64]
	.cfi_rel_offset x25, 64
	.cfi_rel_offset x26, 72
	stp	x27, x28, [sp, #80]
	.cfi_rel_offset x27, 80
	.cfi_rel_offset x28, 88
	stp	d8, d9, [sp, #96]
	.cfi_rel_offset d8, 96
	.cfi_rel_offset d9, 104
	stp	d10, d11, [sp, #112]
	.cfi_rel_offset d10, 112
	.cfi_rel_offset d11, 120
	stp	d12, d13, [sp, #128]
	.cfi_rel_offset d12, 128
	.cfi_rel_offset d13, 136
	stp	d14, d15, [sp, #144]
	.cfi_rel_offset d14, 144
	.cfi_rel_offset d15, 152
	mrs	x9, fpcr
	mrs	x10, fpsr
	stp	x9, x10, [sp, #160]

	/* Suspend this context and adopt the other one's stack. */
	mov	x9, sp
	str	x9, [x0]
	mov	sp, x1

	ldp	x9, x10, [sp, #160]
	msr	fpcr, x9
	msr	fpsr, x10
	ldp	d14, d15, [sp, #144]
	ldp	d12, d13, [sp, #128]
	ldp	d10, d11, [sp, #112]
	ldp	d8, d9, [sp, #96]
	ldp	x27, x28, [sp, #80]
	ldp	x25, x26, [sp, #64]
	ldp	x23, x24, [sp, #48]
	ldp	x21, x22, [sp, #32]
	ldp	x19, x20, [sp, #16]
	ldp	x29, x30, [sp, #0]
	add	sp, sp, #176
	.cfi_def_cfa_offset 0
	.cfi_restore x19
	.cfi_restore x20
	.cfi_restore x21
	.cfi_restore x22
	.cfi_restore x23
	.cfi_restore x24
	.cfi_restore x25
	.cfi_restore x26
	.cfi_restore x27
	.cfi_restore x28
	.cfi_restore d8
	.cfi_restore d9
	.cfi_restore d10
	.cfi_restore d11
	.cfi_restore d12
	.cfi_restore d13
	.cfi_restore d14
	.cfi_restore d15
	.cfi_restore x29
	.cfi_restore x30
	ret
	.cfi_endproc
	.size	weft__ctx_switch, .-weft__ctx_switch

/*
 * void *weft__ctx_make(void *stack_top, void (*entry)(void *), void *arg)
 * x0 = stack_top, x1 = entry, x2 = arg; returns the new sp in x0.
 *
 * A leaf that writes the 176-byte initial frame below the top. The top is
 * documented as 16-byte aligned; rounding it down costs one instruction
 * and keeps a careless caller from building a misaligned frame.
 */
	.globl	weft__ctx_make
	.hidden	weft__ctx_make
	.type	weft__ctx_make, %function
	.p2align 4
weft__ctx_make:
	.cfi_startproc
	and	x0, x0, #~15
	sub	x0, x0, #176
	adr	x9, weft__ctx_trampoline
	stp	xzr, x9, [x0, #0]	/* x29 = 0, x30 = trampoline */
	stp	x1, x2, [x0, #16]	/* x19 = entry, x20 = arg */
	stp	xzr, xzr, [x0, #32]
	stp	xzr, xzr, [x0, #48]
	stp	xzr, xzr, [x0, #64]
	stp	xzr, xzr, [x0, #80]
	stp	xzr, xzr, [x0, #96]
	stp	xzr, xzr, [x0, #112]
	stp	xzr, xzr, [x0, #128]
	stp	xzr, xzr, [x0, #144]
	mrs	x9, fpcr
	mrs	x10, fpsr
	stp	x9, x10, [x0, #160]
	ret
	.cfi_endproc
	.size	weft__ctx_make, .-weft__ctx_make

/*
 * The first code a new context runs, branched to by weft__ctx_switch with
 * sp = stack top, x19 = entry and x20 = arg. It calls entry(arg), which
 * must never return; if it does, brk traps at once rather than running
 * off into whatever lies above the stack.
 *
 * The return address is marked undefined, so debuggers and unwinders
 * (gdb, libgcc's _Unwind_Backtrace, backtrace(3)) stop here instead of
 * reading above the top of the stack. Local to this file: nothing else
 * refers to it, and the symbol table still names it in backtraces.
 */
	.type	weft__ctx_trampoline, %function
	.p2align 4
weft__ctx_trampoline:
	.cfi_startproc
	.cfi_undefined x30
	mov	x0, x20
	blr	x19
	brk	#0
	.cfi_endproc
	.size	weft__ctx_trampoline, .-weft__ctx_trampoline

	.section .note.GNU-stack, "", %progbits
