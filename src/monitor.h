/* SPDX-License-Identifier: MIT */
/* The monitor thread (monitor.c): reports what the workers cannot. */
#ifndef WEFT_MONITOR_H
#define WEFT_MONITOR_H

/* How long shutdown waits before naming the fibers that keep it. */
extern unsigned weft__shutdown_grace_ms;

/* Start the monitor (weft_run, before any fiber runs). 0 or -errno. */
int weft__monitor_start(void);

/* Shutdown has begun; called once, from any thread. */
void weft__monitor_shutdown_begun(void);

/* Stop and join the monitor (weft_run, after the workers stopped). */
void weft__monitor_stop(void);

#endif /* WEFT_MONITOR_H */
