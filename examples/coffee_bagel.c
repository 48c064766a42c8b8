/* SPDX-License-Identifier: MIT */
/*
 * asyncio's classic breakfast, on fibers. In Python:
 *
 *	async def brew_coffee():
 *	    print("Brewing coffee...")
 *	    await asyncio.sleep(3)
 *	    print("Coffee ready")
 *	    return "coffee"
 *
 *	async def toast_bagel():
 *	    print("Toasting bagel...")
 *	    await asyncio.sleep(2)
 *	    print("Bagel ready")
 *	    return "bagel"
 *
 *	# sequential: 5 s
 *	await brew_coffee()
 *	await toast_bagel()
 *
 *	# gather: 3 s, the two wait at the same time
 *	results = await asyncio.gather(brew_coffee(), toast_bagel())
 *
 *	# create_task: 3 s; the coffee brews in a task while we toast
 *	task = asyncio.create_task(brew_coffee())
 *	await toast_bagel()
 *	await task
 *
 * A fiber is the task: weft_spawn() is create_task, weft_join() is
 * "await task", weft_join_all() is gather, weft_sleep_ns() is
 * asyncio.sleep(). While a fiber sleeps its worker runs other fibers, so
 * waiting for the coffee and waiting for the bagel overlap.
 *
 * Unlike asyncio, whose one thread runs one task at a time in a fixed
 * order, weft runs fibers on every core at once: which of two fibers
 * started at the same moment prints first is up to the machine. To print
 * the same thing every time, each task notes what it does, and when, in
 * a log, and each breakfast prints its log in time order (ties in task
 * order, coffee first) once it is over.
 *
 * Times are printed in whole seconds, rounded down. A sleep ends on time
 * or late, never early, so rounding down keeps a late wake-up on a busy
 * machine from changing the output (up to 0.9 story seconds late; the 0.1
 * added first covers rounding in the arithmetic).
 *
 * --scale F makes one second of the story F real seconds (default 1; the
 * test runs --scale 0.4, so a breakfast takes 2 s, not 5 s).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

enum { COFFEE, BAGEL };

/* One line of the log: task @task did @what @at_s story seconds in. */
struct event {
	long at_s;
	int task;
	int seq;		/* order of noting, for ties within one task */
	const char *what;
};

/* The log of one breakfast; fibers on any worker write to it. */
struct breakfast {
	double scale;		/* real seconds per story second             */
	uint64_t t0_ns;		/* when the breakfast started                */
	weft_mutex lock;	/* guards n and ev                           */
	int n;
	struct event ev[8];
};

/* Whole story seconds since the start. */
static long story_seconds(const struct breakfast *b)
{
	double s = (double)(weft_now_ns() - b->t0_ns) / 1e9 / b->scale;

	return (long)(s + 0.1);
}

static void note(struct breakfast *b, int task, const char *what)
{
	weft_mutex_lock(&b->lock);
	b->ev[b->n] = (struct event){ story_seconds(b), task, b->n, what };
	b->n++;
	weft_mutex_unlock(&b->lock);
}

/* await asyncio.sleep(seconds): parks this fiber, not the worker. */
static void story_sleep(const struct breakfast *b, double seconds)
{
	weft_sleep_ns((int64_t)(seconds * b->scale * 1e9));
}

/* The two tasks. Each runs as a fiber or as a plain call. */
static void *brew_coffee(void *arg)
{
	struct breakfast *b = arg;

	note(b, COFFEE, "Brewing coffee...");
	story_sleep(b, 3);
	note(b, COFFEE, "Coffee ready");
	return "coffee";
}

static void *toast_bagel(void *arg)
{
	struct breakfast *b = arg;

	note(b, BAGEL, "Toasting bagel...");
	story_sleep(b, 2);
	note(b, BAGEL, "Bagel ready");
	return "bagel";
}

static int by_time(const void *x, const void *y)
{
	const struct event *a = x, *b = y;

	if (a->at_s != b->at_s)
		return a->at_s < b->at_s ? -1 : 1;
	if (a->task != b->task)
		return a->task - b->task;
	return a->seq - b->seq;
}

static void start(struct breakfast *b, double scale, const char *title)
{
	printf("== %s\n", title);
	*b = (struct breakfast){ .scale = scale, .lock = WEFT_MUTEX_INIT };
	b->t0_ns = weft_now_ns();
}

/* Print the log and how long the breakfast took. */
static void finish(struct breakfast *b, const char *style)
{
	long took = story_seconds(b);
	int i;

	qsort(b->ev, (size_t)b->n, sizeof(b->ev[0]), by_time);
	for (i = 0; i < b->n; i++)
		printf("  %ld s  %s\n", b->ev[i].at_s, b->ev[i].what);
	printf("%s: %ld s\n", style, took);
}

static void breakfasts(void *arg)
{
	double scale = *(double *)arg;
	struct breakfast b;
	weft_fiber *f[2];
	void *res[2];

	/* One fiber does one thing after the other: 3 s + 2 s. */
	start(&b, scale, "sequential: brew, then toast, in one fiber");
	brew_coffee(&b);
	toast_bagel(&b);
	finish(&b, "sequential");

	/* gather: two fibers, both waiting at once; then join them both. */
	start(&b, scale, "gather: spawn both, weft_join_all");
	weft_spawn(&f[0], brew_coffee, &b, NULL);
	weft_spawn(&f[1], toast_bagel, &b, NULL);
	weft_join_all(f, 2, res);	/* results in spawn order, as gather */
	finish(&b, "gather");
	printf("results: %s, %s\n", (char *)res[0], (char *)res[1]);

	/* create_task: the coffee brews in its own fiber while this fiber
	 * toasts the bagel; then wait for the coffee. */
	start(&b, scale, "create_task: spawn the coffee, toast here, join");
	weft_spawn(&f[0], brew_coffee, &b, NULL);
	res[1] = toast_bagel(&b);
	weft_join(f[0], &res[0]);
	finish(&b, "create_task");
	printf("results: %s, %s\n", (char *)res[0], (char *)res[1]);
}

int main(int argc, char **argv)
{
	double scale = 1.0;
	char *end = "";
	int err;

	if (argc == 3 && strcmp(argv[1], "--scale") == 0)
		scale = strtod(argv[2], &end);
	else if (argc != 1)
		scale = 0;		/* any other argument: usage */
	if (*end || !(scale > 0 && scale <= 10)) {
		fprintf(stderr, "usage: %s [--scale F]   (0 < F <= 10: real "
			"seconds per story second)\n", argv[0]);
		return 2;
	}
	err = weft_run(&(struct weft_config){ 0 }, breakfasts, &scale);
	if (err) {
		fprintf(stderr, "weft_run: %s\n", strerror(-err));
		return 1;
	}
	return 0;
}
