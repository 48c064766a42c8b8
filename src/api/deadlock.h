/* SPDX-License-Identifier: MIT */
/* The deadlock check (deadlock.c), run by the monitor thread only. */
#ifndef WEFT_DEADLOCK_H
#define WEFT_DEADLOCK_H

#include <stdbool.h>

/* How long two looks must see nothing move before a deadlock is named. */
#define WEFT_DEADLOCK_CONFIRM_MS 50u

/*
 * First look: true if every fiber seems asleep for good right now (a
 * racy snapshot, kept for weft__deadlock_confirm()).
 */
bool weft__deadlock_look(void);

/*
 * Second look, WEFT_DEADLOCK_CONFIRM_MS after a first that said true:
 * if nothing moved and no thread outside weft exists, report the
 * deadlock on stderr, end every wait (weft__fiber_break_deadlock) and
 * return true.
 */
bool weft__deadlock_confirm(void);

#endif /* WEFT_DEADLOCK_H */
