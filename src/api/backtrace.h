/* SPDX-License-Identifier: MIT */
/* Backtraces of fibers that are not running (backtrace.c). */
#ifndef WEFT_BACKTRACE_H
#define WEFT_BACKTRACE_H

#include <stdbool.h>
#include <stddef.h>

struct fiber;

/* A pipe through which memory that may vanish is read safely. */
struct weft__probe {
	int fd[2];
};

/* 0, or -errno (then the backtraces come out empty). */
int weft__probe_open(struct weft__probe *p);
void weft__probe_close(struct weft__probe *p);

/*
 * Up to @max return addresses of @f, innermost first, from the context
 * it saved when it last switched out; the number found (0 if it has
 * never run, or its context cannot be read). Racy: call only for a
 * fiber seen not running, and expect a walk that stops short.
 */
int weft__fiber_backtrace(struct weft__probe *p, const struct fiber *f,
			  void **pcs, int max);

/* "0x... name+0x1a (object)", or "0x... object+0x1234", into @buf. */
void weft__describe_pc(char *buf, size_t cap, const void *pc);

#endif /* WEFT_BACKTRACE_H */
