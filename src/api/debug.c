/* SPDX-License-Identifier: MIT */
/*
 * For debuggers: where a debugger finds weft's fibers, and how they are
 * laid out, without the library's debug information. tools/gdb/weft.py
 * reads this one descriptor (the symbol weft__debug, found through the
 * ELF symbol table, which release builds keep) and from it walks the
 * fiber records, the workers and each parked fiber's saved registers,
 * in a live process or a core file alike. It holds only addresses,
 * sizes and offsets computed by the compiler, so it cannot drift from
 * the structures it describes; the script checks the magic and the
 * version, and refuses a descriptor it does not know.
 *
 * Layout (version 1): after the 8-byte magic, every field is 8 bytes,
 * in the order below; weft.py unpacks it in the same order. A change of
 * order or meaning takes a new version; new fields go at the end.
 */
#include <stddef.h>
#include <stdint.h>

#include "ctx.h"
#include "debug.h"
#include "fiber.h"
#include "poller.h"
#include "record.h"
#include "scheduler.h"
#include "stack.h"

#define U(x) ((uint64_t)(x))

struct weft__debug_info {
	char magic[8];			/* "weft-db\0"                          */
	uint64_t version;		/* 1                                     */
	/* Fiber records: table[chunk][index % chunk size]. Each of these
	 * two is the address of a pointer to the thing (record.c's own
	 * statics are not constants here). */
	const void *record_table;	/* -> struct fiber *[record_max_chunks] */
	const void *record_nr_chunks;	/* -> unsigned: chunks made so far      */
	uint64_t record_chunk_shift;
	uint64_t record_max_chunks;
	uint64_t fiber_size;
	/* struct fiber */
	uint64_t fiber_id, fiber_name, fiber_name_size, fiber_gen;
	uint64_t fiber_park_word, fiber_wait_kind, fiber_wait_arg;
	uint64_t fiber_wait_since_ds, fiber_sp, fiber_is_main, fiber_stack;
	/* struct stack */
	uint64_t stack_lo, stack_size;
	/* struct sched, struct worker */
	const void *sched;
	uint64_t sched_nr_workers, sched_workers, sched_clock_ds;
	uint64_t worker_cur, worker_thread;
	/* A suspended context at its saved sp (see switch.S): where each
	 * callee-saved register and the return address sit, and the sp
	 * the context resumes with (ctx_frame above it; 0: an architecture
	 * whose layout is not described, no backtraces). */
	uint64_t ctx_rip, ctx_rbp, ctx_rbx, ctx_r12, ctx_r13, ctx_r14;
	uint64_t ctx_r15, ctx_frame;
	/* Names: const char *[n], indexed by enum wait_kind and io_op. */
	const void *wait_names;
	uint64_t nr_wait_names;
	const void *io_op_names;
	uint64_t nr_io_ops;
};

__attribute__((used)) const struct weft__debug_info weft__debug = {
	.magic = "weft-db",
	.version = 1,
	.record_table = &weft__record_table,
	.record_nr_chunks = &weft__record_nr_chunks_p,
	.record_chunk_shift = RECORD_CHUNK_SHIFT,
	.record_max_chunks = RECORD_MAX_CHUNKS,
	.fiber_size = sizeof(struct fiber),
	.fiber_id = U(offsetof(struct fiber, id)),
	.fiber_name = U(offsetof(struct fiber, name)),
	.fiber_name_size = sizeof(((struct fiber *)0)->name),
	.fiber_gen = U(offsetof(struct fiber, gen)),
	.fiber_park_word = U(offsetof(struct fiber, park_word)),
	.fiber_wait_kind = U(offsetof(struct fiber, wait_kind)),
	.fiber_wait_arg = U(offsetof(struct fiber, wait_arg)),
	.fiber_wait_since_ds = U(offsetof(struct fiber, wait_since_ds)),
	.fiber_sp = U(offsetof(struct fiber, ctx) + offsetof(struct ctx, sp)),
	.fiber_is_main = U(offsetof(struct fiber, is_main)),
	.fiber_stack = U(offsetof(struct fiber, stack)),
	.stack_lo = U(offsetof(struct stack, lo)),
	.stack_size = U(offsetof(struct stack, size)),
	.sched = &weft__sched,
	.sched_nr_workers = U(offsetof(struct sched, nr_workers)),
	.sched_workers = U(offsetof(struct sched, workers)),
	.sched_clock_ds = U(offsetof(struct sched, clock_ds)),
	.worker_cur = U(offsetof(struct worker, cur)),
	.worker_thread = U(offsetof(struct worker, thread)),
#if WEFT_CTX_FRAME
	.ctx_rip = WEFT_CTX_RIP,
	.ctx_rbp = WEFT_CTX_RBP,
	.ctx_rbx = WEFT_CTX_RBX,
	.ctx_r12 = WEFT_CTX_R12,
	.ctx_r13 = WEFT_CTX_R13,
	.ctx_r14 = WEFT_CTX_R14,
	.ctx_r15 = WEFT_CTX_R15,
#endif
	.ctx_frame = WEFT_CTX_FRAME,
	.wait_names = weft__wait_names,
	.nr_wait_names = WAIT_KIND_COUNT,
	.io_op_names = weft__io_op_names,
	.nr_io_ops = IO_OP_COUNT,
};
