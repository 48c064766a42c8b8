/* SPDX-License-Identifier: MIT */
/*
 * coffee_bagel.c's breakfast with a scope (structured concurrency), as
 * Python's asyncio.TaskGroup and Trio's nursery write it:
 *
 *	async with asyncio.TaskGroup() as tg:	# trio.open_nursery() as n
 *	    coffee = tg.create_task(brew_coffee())	# n.start_soon(...)
 *	    bagel = tg.create_task(toast_bagel())
 *	# here both tasks have ended, whatever happened
 *
 * weft_scope_run() is the "async with": it runs the body (which spawns
 * the two tasks with weft_scope_spawn, tg.create_task) and returns only
 * once every task of the scope has ended. Three breakfasts:
 *
 *  1. Both tasks succeed: the scope takes as long as the slower one (3 s)
 *     and returns the body's result, 0.
 *  2. The toaster catches fire: toast_bagel() fails (returns -EIO, where
 *     Python raises). The first failure cancels the rest, as TaskGroup
 *     does: the coffee's sleep returns -ECANCELED (CancelledError), it
 *     says so and gives up, and the scope returns -EIO once it has.
 *  3. A deadline (asyncio.timeout(2.5), trio.fail_after(2.5)): the scope
 *     must be over 2.5 s after it began. The bagel makes it; the coffee
 *     does not, and the scope returns -ETIMEDOUT (TimeoutError).
 *
 * As in coffee_bagel.c, fibers run on every core at once, so each task
 * notes what it does, and when, in a log, printed in time order once the
 * breakfast is over. Ties are broken by what kind of event it is (a task
 * starting, then one finishing or failing, then one giving up because it
 * was cancelled, which can only follow a cause) and then by task, coffee
 * first. Times are whole story seconds rounded down; a sleep ends on
 * time or late, never early, so a late wake-up on a busy machine does not
 * change the output.
 *
 * --scale F makes one second of the story F real seconds (default 1; the
 * test runs --scale 0.4: the three breakfasts take 6.5 story seconds,
 * 2.6 s).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

enum { COFFEE, BAGEL, TASKS };

/* What a log line records, in the order ties are printed. */
enum step { STARTS, ENDS, GIVES_UP };

/* One line of the log: @task did @what @at_s story seconds in. */
struct event {
	long at_s;
	enum step step;
	int task;
	int seq;		/* order of noting, for ties within one task */
	const char *what;
};

/* One breakfast; the tasks, on any worker, write its log and results. */
struct breakfast {
	double scale;		/* real seconds per story second             */
	uint64_t t0_ns;		/* when the breakfast started                */
	double fire_at_s;	/* when the toaster catches fire; 0: never   */
	int64_t deadline_ns;	/* the scope's deadline, or WEFT_FOREVER     */
	const char *result[TASKS];	/* what each task made; NULL: nothing */
	weft_mutex lock;	/* guards n and ev                           */
	int n;
	struct event ev[8];
};

/* Whole story seconds since the start (0.1 covers float rounding). */
static long story_seconds(const struct breakfast *b)
{
	double s = (double)(weft_now_ns() - b->t0_ns) / 1e9 / b->scale;

	return (long)(s + 0.1);
}

static void note(struct breakfast *b, int task, enum step step,
		 const char *what)
{
	weft_mutex_lock(&b->lock);
	b->ev[b->n] = (struct event){ story_seconds(b), step, task, b->n,
				      what };
	b->n++;
	weft_mutex_unlock(&b->lock);
}

/* await asyncio.sleep(seconds): 0, or -ECANCELED or -ETIMEDOUT. */
static int story_sleep(const struct breakfast *b, double seconds)
{
	return weft_sleep_ns((uint64_t)(seconds * b->scale * 1e9));
}

/*
 * The two tasks, as a scope's children are: int (*)(void *), a negative
 * errno for a failure. A task that was cancelled returns the error its
 * wait gave it; the scope ignores results that come after it was
 * cancelled, as TaskGroup does a child's CancelledError.
 *
 * At the deadline the coffee's sleep ends either at its own deadline
 * (each child starts with the scope's as its weft_set_deadline, so
 * -ETIMEDOUT) or because the scope, past its deadline, cancelled it
 * (-ECANCELED), whichever timer fires first. Either way the deadline
 * cut it short, so the note says that, not which error came.
 */
static int brew_coffee(void *arg)
{
	struct breakfast *b = arg;
	int err;

	note(b, COFFEE, STARTS, "Brewing coffee...");
	err = story_sleep(b, 3);
	if (err < 0) {
		note(b, COFFEE, GIVES_UP,
		     b->deadline_ns < 0 ? "Coffee cancelled"
					: "Coffee cancelled: out of time");
		return err;
	}
	note(b, COFFEE, ENDS, "Coffee ready");
	b->result[COFFEE] = "coffee";
	return 0;
}

static int toast_bagel(void *arg)
{
	struct breakfast *b = arg;
	int err;

	note(b, BAGEL, STARTS, "Toasting bagel...");
	if (b->fire_at_s > 0) {
		err = story_sleep(b, b->fire_at_s);
		if (err < 0)
			return err;
		note(b, BAGEL, ENDS, "The toaster catches fire!");
		return -EIO;
	}
	err = story_sleep(b, 2);
	if (err < 0) {
		note(b, BAGEL, GIVES_UP, "Bagel cancelled");
		return err;
	}
	note(b, BAGEL, ENDS, "Bagel ready");
	b->result[BAGEL] = "bagel";
	return 0;
}

/* The body of "async with TaskGroup() as tg": create both tasks. */
static int make_breakfast(weft_scope *tg, void *arg)
{
	int err;

	err = weft_scope_spawn(tg, brew_coffee, arg, NULL);
	if (err < 0)
		return err;
	return weft_scope_spawn(tg, toast_bagel, arg, NULL);
}

static int by_time(const void *x, const void *y)
{
	const struct event *a = x, *b = y;

	if (a->at_s != b->at_s)
		return a->at_s < b->at_s ? -1 : 1;
	if (a->step != b->step)
		return (int)a->step - (int)b->step;
	if (a->task != b->task)
		return a->task - b->task;
	return a->seq - b->seq;
}

static const char *errname(int err)
{
	switch (err) {
	case 0:
		return "0";
	case -EIO:
		return "-EIO";
	case -ETIMEDOUT:
		return "-ETIMEDOUT";
	case -ECANCELED:
		return "-ECANCELED";
	default:
		return "another error";
	}
}

/*
 * One breakfast: a scope around the two tasks, with the toaster catching
 * fire at @fire_at_s (0: never) and the scope ending at most
 * @deadline_s after the start (0: no deadline).
 */
static void breakfast(double scale, const char *title, double fire_at_s,
		      double deadline_s)
{
	struct breakfast b = { .scale = scale, .fire_at_s = fire_at_s,
			       .lock = WEFT_MUTEX_INIT };
	long took;
	int res;

	printf("== %s\n", title);
	b.t0_ns = weft_now_ns();
	b.deadline_ns = deadline_s > 0 ?
		(int64_t)b.t0_ns + (int64_t)(deadline_s * scale * 1e9) :
		WEFT_FOREVER;
	res = weft_scope_run(make_breakfast, &b, b.deadline_ns);
	took = story_seconds(&b);

	/* Every task has ended: the log and results are ours alone. */
	qsort(b.ev, (size_t)b.n, sizeof(b.ev[0]), by_time);
	for (int i = 0; i < b.n; i++)
		printf("  %ld s  %s\n", b.ev[i].at_s, b.ev[i].what);
	if (res < 0)
		printf("scope: %s (%s) after %ld s\n", errname(res),
		       strerror(-res), took);
	else
		printf("scope: %s after %ld s\n", errname(res), took);
	printf("results: %s, %s\n",
	       b.result[COFFEE] ? b.result[COFFEE] : "none",
	       b.result[BAGEL] ? b.result[BAGEL] : "none");
}

static void breakfasts(void *arg)
{
	double scale = *(double *)arg;

	breakfast(scale, "taskgroup: both tasks in one scope", 0, 0);
	breakfast(scale, "a failing task: the toaster catches fire at 1 s",
		  1, 0);
	breakfast(scale, "a deadline: the scope must end by 2.5 s", 0, 2.5);
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
