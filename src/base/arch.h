/* SPDX-License-Identifier: MIT */
/*
 * Architecture-specific helpers written in C, one file per architecture
 * under src/base/arch/ (the context switch itself is in ctx.h).
 */
#ifndef WEFT_ARCH_H
#define WEFT_ARCH_H

/* The interrupted stack pointer in a SA_SIGINFO handler's ucontext. */
void *weft__fault_sp(const void *uctx);

#endif /* WEFT_ARCH_H */
