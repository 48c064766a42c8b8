/* SPDX-License-Identifier: MIT */
/*
 * producer_consumer.c with a scope: the producer and the consumers are
 * children of one scope and share one channel, as Trio writes it with a
 * nursery and a memory channel (asyncio.TaskGroup and a Queue alike):
 *
 *	send, recv = trio.open_memory_channel(10)
 *	async with trio.open_nursery() as n:
 *	    n.start_soon(producer, send)	# closes send when done
 *	    for i in range(3):
 *	        n.start_soon(consumer, recv)	# until EndOfChannel
 *
 * weft_scope_run() returns once all four have ended, so nothing needs
 * joining, and there is no wait group: the producer is the only sender,
 * so it closes the channel when it is done (Go's rule: the sender
 * closes), and each consumer receives until the channel is closed and
 * empty (-EPIPE, Trio's EndOfChannel).
 *
 * Run 1: the producer sends 3,000 items and closes; the consumers
 * receive them all. Run 2: the producer is endless (a sensor that never
 * stops), and item 1,000 is poison: the consumer that receives it fails
 * (-EBADMSG, where Python would raise). The first failure cancels the
 * scope: the producer's send and the other consumers' receives return
 * -ECANCELED (CancelledError), so they end, and the scope returns the
 * failure once nothing of it is left running, which is the only way the
 * endless producer stops.
 *
 * Fibers run on every core at once, so which consumer gets which item,
 * and in run 2 how many items flowed before everything stopped, change
 * from run to run. The program prints only what does not: totals, and
 * how each fiber ended. It exits 1 if a check fails.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <weft.h>

#define CONSUMERS	3
#define ITEMS		3000		/* run 1's items */
#define POISON		1000		/* run 2's poison item */
#define CAPACITY	10

struct shop {
	weft_chan *queue;		/* ints, capacity CAPACITY          */
	int limit;			/* items to send; 0: no end         */
	int poison;			/* the poison item; 0: none         */
	int running;			/* children running; atomic         */
};

struct producer {
	struct shop *shop;
	long sent;			/* items sent                       */
	int end;			/* its result                       */
};

struct consumer {
	struct shop *shop;
	long count;			/* items received                   */
	long sum;			/* their sum                        */
	int last;			/* the last item received           */
	bool out_of_order;		/* an item came before an earlier one */
	bool got_poison;		/* it received the poison item      */
	int end;			/* its result                       */
	bool seen[ITEMS + 1];		/* which of run 1's items it got    */
};

/* Counts the scope's children that are running, to show none is left. */
static void enter(struct shop *s)
{
	__atomic_add_fetch(&s->running, 1, __ATOMIC_RELAXED);
}

static int leave(struct shop *s, int end)
{
	__atomic_sub_fetch(&s->running, 1, __ATOMIC_RELAXED);
	return end;
}

static int produce(void *arg)
{
	struct producer *p = arg;
	struct shop *s = p->shop;
	int err;

	enter(s);
	for (int item = 1; s->limit == 0 || item <= s->limit; item++) {
		/* Waits (parks this fiber) while the channel is full. */
		err = weft_chan_send(s->queue, &item);
		if (err < 0) {
			p->end = err;
			return leave(s, err);
		}
		p->sent++;
	}
	weft_chan_close(s->queue);
	return leave(s, 0);
}

static int consume(void *arg)
{
	struct consumer *c = arg;
	struct shop *s = c->shop;
	int item, err;

	enter(s);
	for (;;) {
		err = weft_chan_recv(s->queue, &item);
		if (err == -EPIPE) {
			/* Closed, and everything sent before the close
			 * received: the normal end, not a failure. */
			c->end = -EPIPE;
			return leave(s, 0);
		}
		if (err < 0) {
			c->end = err;
			return leave(s, err);
		}
		if (item == s->poison) {
			c->got_poison = true;
			c->end = -EBADMSG;
			return leave(s, -EBADMSG);
		}
		if (item <= c->last)
			c->out_of_order = true;
		c->last = item;
		if (item <= ITEMS)
			c->seen[item] = true;
		c->count++;
		c->sum += item;
	}
}

struct run {
	struct shop shop;
	struct producer producer;
	struct consumer consumers[CONSUMERS];
};

/* The nursery's body: start the producer and the consumers. */
static int open_shop(weft_scope *n, void *arg)
{
	struct run *r = arg;
	int err;

	/* The consumers first: were the producer first, a slow body (under
	 * TSan, say) could still be spawning consumers when the poison item
	 * has failed the scope, and those spawns would be refused. */
	err = 0;
	for (int i = 0; i < CONSUMERS && err == 0; i++)
		err = weft_scope_spawn(n, consume, &r->consumers[i], NULL);
	if (err == 0)
		err = weft_scope_spawn(n, produce, &r->producer, NULL);
	return err;
}

static const char *errname(int err)
{
	switch (err) {
	case 0:
		return "0";
	case -EPIPE:
		return "-EPIPE";
	case -EBADMSG:
		return "-EBADMSG";
	case -ECANCELED:
		return "-ECANCELED";
	default:
		return "another error";
	}
}

static void print_scope(int res, int running)
{
	if (res < 0)
		printf("scope: %s (%s)\n", errname(res), strerror(-res));
	else
		printf("scope: %s\n", errname(res));
	printf("children still running after the scope: %d\n", running);
}

/* One run of the shop: a scope around a producer and the consumers. */
static int run_shop(struct run *r, int limit, int poison)
{
	memset(r, 0, sizeof(*r));
	r->shop.limit = limit;
	r->shop.poison = poison;
	if (weft_chan_new(&r->shop.queue, sizeof(int), CAPACITY) != 0)
		return -ENOMEM;
	r->producer.shop = &r->shop;
	for (int i = 0; i < CONSUMERS; i++)
		r->consumers[i].shop = &r->shop;
	return weft_scope_run(open_shop, r, WEFT_FOREVER);
}

static bool run1(struct run *r)
{
	long count = 0, sum = 0, missing = 0, twice = 0;
	long want_sum = (long)ITEMS * (ITEMS + 1) / 2;
	int at_close = 0, running;
	bool in_order = true;
	int res;

	printf("== run 1: one producer, %d consumers, %d items\n", CONSUMERS,
	       ITEMS);
	res = run_shop(r, ITEMS, 0);
	running = __atomic_load_n(&r->shop.running, __ATOMIC_RELAXED);
	weft_chan_free(r->shop.queue);

	printf("producer: sent %ld items, then closed the channel\n",
	       r->producer.sent);
	for (int i = 0; i < CONSUMERS; i++) {
		struct consumer *c = &r->consumers[i];

		count += c->count;
		sum += c->sum;
		in_order &= !c->out_of_order;
		at_close += c->end == -EPIPE;
	}
	for (int item = 1; item <= ITEMS; item++) {
		int times = 0;

		for (int i = 0; i < CONSUMERS; i++)
			times += r->consumers[i].seen[item];
		missing += times == 0;
		twice += times > 1;
	}
	printf("consumers (%d): received %ld items, sum %ld (expected %d, "
	       "%ld)\n", CONSUMERS, count, sum, ITEMS, want_sum);
	printf("consumers: %d ended at the close (-EPIPE), %s\n", at_close,
	       in_order ? "each got its items in order"
			: "SOME OUT OF ORDER");
	printf("check: %ld missing, %ld received twice\n", missing, twice);
	print_scope(res, running);
	return res == 0 && running == 0 && r->producer.sent == ITEMS &&
	       count == ITEMS && sum == want_sum && !missing && !twice &&
	       in_order && at_close == CONSUMERS;
}

static bool run2(struct run *r)
{
	int poisoned = 0, cancelled = 0, other = 0, running;
	int res;

	printf("== run 2: an endless producer; item %d is poison\n", POISON);
	res = run_shop(r, 0, POISON);
	running = __atomic_load_n(&r->shop.running, __ATOMIC_RELAXED);
	weft_chan_free(r->shop.queue);

	printf("producer: ended with %s, having sent the poison item: %s\n",
	       errname(r->producer.end),
	       r->producer.sent >= POISON ? "yes" : "NO");
	for (int i = 0; i < CONSUMERS; i++) {
		struct consumer *c = &r->consumers[i];

		if (c->got_poison && c->end == -EBADMSG)
			poisoned++;
		else if (c->end == -ECANCELED)
			cancelled++;
		else
			other++;
	}
	printf("consumers: %d failed on the poison item (-EBADMSG), "
	       "%d cancelled (-ECANCELED), %d otherwise\n", poisoned,
	       cancelled, other);
	print_scope(res, running);
	return res == -EBADMSG && running == 0 &&
	       r->producer.end == -ECANCELED && r->producer.sent >= POISON &&
	       poisoned == 1 && cancelled == CONSUMERS - 1 && other == 0;
}

static void main_fiber(void *arg)
{
	static struct run r;
	bool *ok = arg;

	*ok = run1(&r);
	*ok &= run2(&r);
	printf("%s\n", *ok ? "ok" : "MISMATCH");
}

int main(void)
{
	bool ok = false;
	int err = weft_run(&(struct weft_config){ 0 }, main_fiber, &ok);

	if (err) {
		fprintf(stderr, "weft_run: %s\n", strerror(-err));
		return 1;
	}
	return ok ? 0 : 1;
}
