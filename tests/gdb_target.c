/* SPDX-License-Identifier: MIT */
/*
 * The program test_gdb.sh points gdb at: fibers parked in known waits on
 * every worker, and one running. Once all are in place it prints one
 * line per fiber ("fiber ID NAME WORKER") and "ready", then sleeps until
 * it is killed. The fiber functions are out of line so that each shows
 * in a backtrace by its name, in a release build too.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <weft.h>

#define SLEEPERS 6
#define HOUR_NS (3600ull * 1000000000ull)

static weft_chan *chan;
static weft_mutex mutex = WEFT_MUTEX_INIT;
static int pipefd[2];
static atomic_uint in_place;
static atomic_int spin = 1;

struct placed {
	const char *name;
	uint64_t id;
	unsigned worker;
};

static struct placed placed[SLEEPERS + 5];
static atomic_uint nr_placed;

/* Say where the caller is about to park. */
static void place(const char *name)
{
	unsigned i = atomic_fetch_add(&nr_placed, 1);

	placed[i].name = name;
	placed[i].id = weft_fiber_id();
	placed[i].worker = weft_worker_id();
	atomic_fetch_add(&in_place, 1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static __attribute__((noinline)) void *gdb_sleeper(void *arg)
{
	uint64_t t0 = now_ns();

	/* 5 ms without a yield point: the other worker takes the next
	 * sleepers meanwhile, so they park on both. */
	while (now_ns() - t0 < 5000000)
		;
	place(arg);
	weft_sleep_ns(HOUR_NS);
	return NULL;
}

static __attribute__((noinline)) void *gdb_receiver(void *arg)
{
	int v;

	place(arg);
	weft_chan_recv(chan, &v);
	return NULL;
}

static __attribute__((noinline)) void *gdb_locker(void *arg)
{
	place(arg);
	weft_mutex_lock(&mutex);
	weft_mutex_unlock(&mutex);
	return NULL;
}

static __attribute__((noinline)) void *gdb_reader(void *arg)
{
	char c;

	place(arg);
	(void)weft_read(pipefd[0], &c, 1);
	return NULL;
}

static __attribute__((noinline)) void *gdb_joiner(void *arg)
{
	place("joiner");
	weft_join(arg, NULL);
	return NULL;
}

static __attribute__((noinline)) void *gdb_spinner(void *arg)
{
	place(arg);
	while (atomic_load_explicit(&spin, memory_order_relaxed))
		;
	return NULL;
}

static void spawn(void *(*fn)(void *), void *arg, const char *name,
		  weft_fiber **out)
{
	struct weft_spawn_opts o = { .name = name };

	if (weft_spawn(out, fn, arg, &o) != 0) {
		fprintf(stderr, "gdb_target: spawn %s failed\n", name);
		exit(1);
	}
}

static void main_fiber(void *arg)
{
	static char names[SLEEPERS][16];
	weft_fiber *f[SLEEPERS + 5];
	unsigned n = 0, want;

	(void)arg;
	if (weft_chan_new(&chan, sizeof(int), 0) || pipe(pipefd) ||
	    weft_mutex_lock(&mutex)) {
		fprintf(stderr, "gdb_target: setup failed\n");
		exit(1);
	}
	/* Joinable children, which the other worker may steal. */
	for (unsigned i = 0; i < SLEEPERS; i++) {
		snprintf(names[i], sizeof(names[i]), "sleeper-%u", i);
		spawn(gdb_sleeper, names[i], names[i], &f[n++]);
	}
	spawn(gdb_receiver, "receiver", "receiver", &f[n++]);
	spawn(gdb_locker, "locker", "locker", &f[n++]);
	spawn(gdb_reader, "reader", "reader", &f[n++]);
	spawn(gdb_joiner, f[0], "joiner", &f[n++]);
	while (atomic_load(&in_place) < n)
		weft_sleep_ns(1000000);
	/* Last, once the others are parked: it holds a worker for good. */
	spawn(gdb_spinner, "spinner", "spinner", &f[n++]);
	want = n;
	while (atomic_load(&in_place) < want)
		weft_sleep_ns(1000000);
	/* Past place(): into their waits. */
	weft_sleep_ns(50000000);
	for (unsigned i = 0; i < want; i++)
		printf("fiber %llu %s %u\n", (unsigned long long)placed[i].id,
		       placed[i].name, placed[i].worker);
	printf("main %llu\nready\n", (unsigned long long)weft_fiber_id());
	fflush(stdout);
	weft_sleep_ns(HOUR_NS);
}

int main(void)
{
	struct weft_config cfg = { .workers = 2 };

	return weft_run(&cfg, main_fiber, NULL) == 0 ? 0 : 1;
}
