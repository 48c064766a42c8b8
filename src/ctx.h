/* SPDX-License-Identifier: MIT */
/*
 * The machine context switch: one prototype, one assembly file per
 * architecture under src/arch/. A suspended context is nothing but its
 * saved stack pointer; the callee-saved registers (and the FP control
 * words the ABI makes callee-saved) sit on its stack.
 */
#ifndef WEFT_CTX_H
#define WEFT_CTX_H

/*
 * Save the caller's callee-saved state on its stack, store the stack
 * pointer in *save_sp, load new_sp and resume the context saved there.
 * Returns when some context switches back to *save_sp. Ends with pop+jmp
 * rather than ret, so the return-stack predictor is not trained on a
 * return that lands on another stack.
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

#endif /* WEFT_CTX_H */
