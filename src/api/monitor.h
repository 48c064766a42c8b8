/* SPDX-License-Identifier: MIT */
/* The monitor thread (monitor.c): reports what the workers cannot. */
#ifndef WEFT_MONITOR_H
#define WEFT_MONITOR_H

/* How long shutdown waits before naming the fibers that keep it. */
extern unsigned weft__shutdown_grace_ms;

/*
 * How often idle stacks and records are given back (weft__stack_trim,
 * weft__record_trim), read at weft_run's start; 0: never (tests).
 */
extern unsigned weft__trim_period_ms;

/*
 * Start the monitor (weft_run, before any fiber runs), with its stall
 * watch on if @stall_ms is not 0. 0 or -errno.
 */
int weft__monitor_start(unsigned stall_ms);

/* Shutdown has begun; called once, from any thread. */
void weft__monitor_shutdown_begun(void);

/*
 * A worker fell asleep last, with every other one asleep and nothing
 * owned pending: look for a deadlock soon. Called in a worker's sched
 * ctx (sched.all_asleep, set by weft_run).
 */
void weft__monitor_all_asleep(void);

/* Stop and join the monitor (weft_run, after the workers stopped). */
void weft__monitor_stop(void);

#endif /* WEFT_MONITOR_H */
