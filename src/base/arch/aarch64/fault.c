/* SPDX-License-Identifier: MIT */
/*
 * The stack pointer at a fault, from the signal's ucontext (AArch64). Used
 * by the overflow handler (overflow.c) to tell a stack overflow from any
 * other fault.
 */
#include <signal.h>
#include <ucontext.h>

#include "arch.h"

void *weft__fault_sp(const void *uctx)
{
	const ucontext_t *uc = uctx;

	return (void *)uc->uc_mcontext.sp;
}
