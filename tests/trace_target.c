/* SPDX-License-Identifier: MIT */
/*
 * The program test_trace.py traces (WEFT_TRACE): on two workers, a
 * channel ping-pong between "pinger" and "ponger", eight "cruncher"
 * children that each spin 5 ms (so the other worker steals some), a
 * 1 ms sleep first, a read on a pipe that parks until a second fiber
 * writes, and "hog", which runs 80 ms without a yield point (with
 * WEFT_STALL_MS=20, a stall on the monitor's track).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <weft.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void spin_ms(unsigned ms)
{
	uint64_t t0 = now_ns();

	while (now_ns() - t0 < ms * 1000000ull)
		;
}

static weft_chan *ping, *pong;

static void *pinger(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100; i++) {
		int v = i;

		if (weft_chan_send(ping, &v) || weft_chan_recv(pong, &v))
			exit(1);
	}
	return NULL;
}

static void *ponger(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100; i++) {
		int v;

		if (weft_chan_recv(ping, &v) || weft_chan_send(pong, &v))
			exit(1);
	}
	return NULL;
}

static void *cruncher(void *arg)
{
	(void)arg;
	spin_ms(5);
	return NULL;
}

static void *hog(void *arg)
{
	(void)arg;
	spin_ms(80);
	return NULL;
}

static int pipefd[2];

static void *writer(void *arg)
{
	(void)arg;
	if (weft_sleep_ns(200000) || weft_write(pipefd[1], "x", 1) != 1)
		exit(1);
	return NULL;
}

static void io_round(void)
{
	weft_fiber *w;
	char c;

	if (pipe(pipefd) || weft_spawn(&w, writer, NULL, NULL) ||
	    weft_read(pipefd[0], &c, 1) != 1 || weft_join(w, NULL))
		exit(1);
	close(pipefd[0]);
	close(pipefd[1]);
}

static void spawn(weft_fiber **f, void *(*fn)(void *), const char *name)
{
	if (weft_spawn(f, fn, NULL, &(struct weft_spawn_opts){ .name = name }))
		exit(1);
}

static void main_fiber(void *arg)
{
	weft_fiber *f[12];
	unsigned n = 0;

	(void)arg;
	if (weft_chan_new(&ping, sizeof(int), 0) ||
	    weft_chan_new(&pong, sizeof(int), 0))
		exit(1);
	/* First, so that the other worker is up before the spawns. */
	if (weft_sleep_ns(1000000))
		exit(1);
	/* An I/O call that parks: a read on a pipe written a moment later
	 * by a second fiber. */
	io_round();
	spawn(&f[n++], pinger, "pinger");
	spawn(&f[n++], ponger, "ponger");
	for (int i = 0; i < 8; i++)
		spawn(&f[n++], cruncher, "cruncher");
	spawn(&f[n++], hog, "hog");
	for (unsigned i = 0; i < n; i++)
		if (weft_join(f[i], NULL))
			exit(1);
	weft_chan_free(ping);
	weft_chan_free(pong);
}

int main(void)
{
	struct weft_config cfg = { .workers = 2 };

	return weft_run(&cfg, main_fiber, NULL) == 0 ? 0 : 1;
}
