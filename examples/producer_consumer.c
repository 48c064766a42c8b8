/* SPDX-License-Identifier: MIT */
/*
 * Producers and consumers over a bounded queue, as in Python:
 *
 *	async def producer(q, p):
 *	    for i in range(1000):
 *	        await q.put(p * 1000 + i + 1)   # waits while the queue is full
 *
 *	async def consumer(q):
 *	    while (item := await q.get()) is not None:
 *	        count += 1; total += item
 *
 *	q = asyncio.Queue(maxsize=10)
 *
 * Here the queue is a weft channel with room for 10 items (Go's
 * make(chan int, 10)): a send waits while it is full, a receive while it
 * is empty. Three producer fibers send 1,000 items each; two consumer
 * fibers receive until the channel is closed and empty. A wait group
 * counts the producers still running; once it reaches zero the main
 * fiber closes the channel, which is how the consumers learn that
 * nothing more will come (Python would send them one None each).
 *
 * Fibers run on every core at once, so which consumer gets which item
 * changes from run to run; the program prints only what does not: what
 * each producer sent and what the consumers got in total. It checks that
 * every item arrived exactly once, and that each producer's items came
 * out in the order they went in (a channel is FIFO), and exits 1 if not.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <weft.h>

#define PRODUCERS	3
#define CONSUMERS	2
#define ITEMS		1000		/* per producer */
#define CAPACITY	10
#define TOTAL		(PRODUCERS * ITEMS)

struct shop {
	weft_chan *queue;		/* ints, capacity CAPACITY       */
	weft_wg producing;		/* producers not yet done        */
};

struct producer {
	struct shop *shop;
	int id;
	long sent;			/* items sent                    */
};

struct consumer {
	struct shop *shop;
	long count;			/* items received                */
	long sum;			/* their sum                     */
	bool seen[TOTAL + 1];		/* which items it received       */
	bool out_of_order;		/* a producer's items overtook   */
};

static void *produce(void *arg)
{
	struct producer *p = arg;

	for (int i = 0; i < ITEMS; i++) {
		int item = p->id * ITEMS + i + 1;

		/* Waits (parks this fiber) while the channel is full. */
		if (weft_chan_send(p->shop->queue, &item) != 0)
			break;
		p->sent++;
	}
	weft_wg_done(&p->shop->producing);
	return NULL;
}

static void *consume(void *arg)
{
	struct consumer *c = arg;
	int last[PRODUCERS] = { 0 };
	int item;

	/* -EPIPE: closed, and everything sent before the close received. */
	while (weft_chan_recv(c->shop->queue, &item) == 0) {
		int from = (item - 1) / ITEMS;

		if (item <= last[from])
			c->out_of_order = true;
		last[from] = item;
		c->seen[item] = true;
		c->count++;
		c->sum += item;
	}
	return NULL;
}

static void main_fiber(void *arg)
{
	static struct producer producers[PRODUCERS];
	static struct consumer consumers[CONSUMERS];
	weft_fiber *pf[PRODUCERS], *cf[CONSUMERS];
	struct shop shop = { .producing = WEFT_WG_INIT };
	long count = 0, sum = 0, missing = 0, twice = 0;
	bool *ok = arg, out_of_order = false;

	if (weft_chan_new(&shop.queue, sizeof(int), CAPACITY) != 0)
		return;
	weft_wg_add(&shop.producing, PRODUCERS);
	for (int i = 0; i < PRODUCERS; i++) {
		producers[i] = (struct producer){ .shop = &shop, .id = i };
		weft_spawn(&pf[i], produce, &producers[i], NULL);
	}
	for (int i = 0; i < CONSUMERS; i++) {
		consumers[i].shop = &shop;
		weft_spawn(&cf[i], consume, &consumers[i], NULL);
	}

	/* Go's wg.Wait(); close(ch): no sender is left once it returns. */
	weft_wg_wait(&shop.producing);
	weft_chan_close(shop.queue);
	weft_join_all(pf, PRODUCERS, NULL);
	weft_join_all(cf, CONSUMERS, NULL);
	weft_chan_free(shop.queue);

	for (int i = 0; i < PRODUCERS; i++)
		printf("producer %d: sent %ld items\n", i, producers[i].sent);
	for (int i = 0; i < CONSUMERS; i++) {
		count += consumers[i].count;
		sum += consumers[i].sum;
		out_of_order |= consumers[i].out_of_order;
	}
	for (int item = 1; item <= TOTAL; item++) {
		int times = 0;

		for (int i = 0; i < CONSUMERS; i++)
			times += consumers[i].seen[item];
		missing += times == 0;
		twice += times > 1;
	}
	printf("consumers (%d): received %ld items, sum %ld\n", CONSUMERS,
	       count, sum);
	printf("expected: %d items, sum %ld\n", TOTAL,
	       (long)TOTAL * (TOTAL + 1) / 2);
	*ok = count == TOTAL && sum == (long)TOTAL * (TOTAL + 1) / 2 &&
	      !missing && !twice && !out_of_order;
	printf("%s: %ld missing, %ld received twice, %s\n",
	       *ok ? "ok" : "MISMATCH", missing, twice,
	       out_of_order ? "some out of order" : "each producer's in order");
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
