/* SPDX-License-Identifier: MIT */
/*
 * The flight recorder (WEFT_TRACE=path): per-worker rings of scheduler
 * events, written out as a Chrome trace-event JSON file (which Perfetto
 * and chrome://tracing open) when weft_run() ends. See trace.c.
 */
#ifndef WEFT_TRACE_H
#define WEFT_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "internal.h"

struct worker;

enum trace_ev {
	TR_RUN,		/* fiber starts a run slice on this worker          */
	TR_IDLE,	/* the worker's sched ctx: no fiber runs            */
	TR_PARK,	/* fiber parks; arg: its wait_kind | wait_arg << 32
			 * (for I/O, the fd: the submission)               */
	TR_WAKE,	/* this worker made fiber ready (a waker won)       */
	TR_SPAWN,	/* this worker's fiber spawned fiber                */
	TR_NAME,	/* fiber's name, 8 bytes in arg; index in the top byte
			 * of the type word                                */
	TR_STEAL,	/* took fiber from worker arg                       */
	TR_IO_DONE,	/* the fiber's I/O or sleep ended; arg: the result  */
	TR_STALL,	/* (monitor) fiber ran arg ms without a yield point  */
};

/* One event: 32 bytes. */
struct trace_rec {
	uint64_t ts;		/* weft__trace_clock() ticks                */
	uint64_t arg;
	uint32_t type;		/* enum trace_ev, | index << 24 for TR_NAME */
	uint32_t worker;	/* TR_STALL: the stalled worker              */
	uint64_t fiber;		/* fiber id                                  */
};

/* A worker's ring (or the monitor's): owner-written, read at the end. */
struct trace_ring {
	struct trace_rec *v;
	uint64_t mask;		/* slots - 1, a power of two                */
	uint64_t n;		/* events written so far                    */
};

/* Non-zero while a trace is being recorded; set before the workers
 * start, cleared after they stop. */
extern unsigned weft__trace_on;

/* Start recording if WEFT_TRACE names a file: rings for @nr_workers
 * workers and the monitor. 0, or -errno (then nothing is recorded).
 * weft_run's thread, before any worker starts. */
int weft__trace_start(unsigned nr_workers);

/* Write the trace file and free the rings. After the workers stopped. */
void weft__trace_stop(void);

void weft__trace_put(struct trace_ring *r, uint32_t type, uint64_t fiber,
		     uint64_t arg, uint32_t worker);

/* The ring of @w, and the monitor's (one writer each). */
struct trace_ring *weft__trace_ring(unsigned worker);
extern struct trace_ring *weft__trace_monitor;

/* Record an event on @w's ring if tracing; a load and a branch if not. */
#define weft__trace(w, type, fiber, arg)                                   \
	do {                                                               \
		if (unlikely(weft__trace_on))                              \
			weft__trace_put(weft__trace_ring((w)->id), (type), \
					(fiber), (uint64_t)(arg), 0);      \
	} while (0)

#endif /* WEFT_TRACE_H */
