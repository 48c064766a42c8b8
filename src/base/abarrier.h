/* SPDX-License-Identifier: MIT */
/*
 * Asymmetric barriers: a StoreLoad pair whose one side runs millions of
 * times a second and the other rarely. The frequent side is a compiler
 * barrier only; the rare side is membarrier(2)'s private expedited
 * command, which makes every running thread of the process execute a
 * full barrier (an IPI to each CPU that runs one; a thread that is not
 * running passes through the kernel's context switch, a barrier too) and
 * then one on the caller. Dekker's argument holds as with two fences:
 *
 *	light side:  store A; weft__abarrier_light(); load B
 *	heavy side:  store B; weft__abarrier_heavy(); load A
 *
 * Either the light side's load of B comes after the barrier the heavy
 * side forced on it (and sees B), or its store of A came before (and the
 * heavy side's load sees A). liburcu and folly's asymmetricHeavyBarrier
 * rest on the same guarantee. A heavy barrier costs microseconds, so it
 * is for paths that are rare by nature (a cancel from a plain thread).
 *
 * The command needs the process registered once (Linux 4.14+); where
 * that is refused (an old kernel, a seccomp profile), the caller keeps
 * its symmetric fences.
 */
#ifndef WEFT_ABARRIER_H
#define WEFT_ABARRIER_H

#include <linux/membarrier.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ck_pr.h>

#include "internal.h"

/* Register the process for heavy barriers; false where it is refused. */
static inline bool weft__abarrier_register(void)
{
	return syscall(SYS_membarrier,
		       MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

/* The frequent side: keeps the compiler from moving accesses across. */
static inline void weft__abarrier_light(void)
{
	ck_pr_barrier();
}

/*
 * The rare side: a full barrier on every running thread of the process
 * and on the caller. Only after weft__abarrier_register() returned true:
 * its one error then (EPERM: not registered) is a bug of ours.
 */
static inline void weft__abarrier_heavy(void)
{
	/* Pairs with weft__abarrier_light() through the forced barriers;
	 * the kernel fences the caller too, but ours costs nothing here. */
	ck_pr_fence_memory();
	weft_assert(syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED,
			    0, 0) == 0);
}

#endif /* WEFT_ABARRIER_H */
