/* SPDX-License-Identifier: MIT */
/* What every fiber is doing, in words (dump.c): weft_dump and reports. */
#ifndef WEFT_DUMP_H
#define WEFT_DUMP_H

#include <stdbool.h>
#include <stddef.h>

struct weft__fiber_list {
	unsigned nr;		/* fibers alive when walked              */
	unsigned listed;	/* of those, with a line in text         */
	char *text;		/* "weft:   fiber N "name" waits ...\n"... */
	size_t len, cap;	/* malloc'd; the caller frees text       */
};

/*
 * A line for every live fiber into @l (a racy snapshot, see dump.c).
 * @shutdown words a running fiber as keeping shutdown waiting. 0, or
 * -ENOMEM with @l holding the lines that fitted. Any thread, while
 * weft_run runs.
 */
int weft__fiber_list(struct weft__fiber_list *l, bool shutdown);

/*
 * WEFT_DUMP_SIGNAL: from start to stop, the signal it names writes a
 * weft_dump() to stderr. A bad value is named on stderr and ignored.
 * weft_run's thread: start before it starts any thread (they inherit
 * the signal blocked), stop after they all stopped; the signal's old
 * action and the thread's signal mask are put back.
 */
void weft__dump_signal_start(void);
void weft__dump_signal_stop(void);

/* Threads of the dump's own: 1 while WEFT_DUMP_SIGNAL is served, else 0. */
unsigned weft__dump_threads(void);

#endif /* WEFT_DUMP_H */
