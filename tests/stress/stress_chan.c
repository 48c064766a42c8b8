/* SPDX-License-Identifier: MIT */
/*
 * Channel and select stress on every worker:
 *  - many producers and consumers move 10,000,000 items (1,000,000 under
 *    sanitizers; WEFT_STRESS_ITERS overrides) through a buffered and an
 *    unbuffered channel. Each item carries its producer and a sequence
 *    number: a seen-bitmap catches duplicates and losses, each consumer
 *    checks that every producer's items reach it in order, and the sum
 *    and xor of all items must match;
 *  - Go's TestSelectStress: 4 channels (two unbuffered, two buffered),
 *    a sender and a receiver per channel and one fiber each that sends
 *    to or receives from all four in a single select, so that sends,
 *    receives and selects interact chaotically; no deadlock, and every
 *    channel's receives add up to its sends;
 *  - close while many senders, receivers and selects are blocked,
 *    repeated: exactly the successful sends are received, once each.
 * Checks inside fibers are recorded and asserted after weft_run().
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../helpers.h"

static struct weft_config two = { .workers = 2 };

/* Many producers, many consumers ------------------------------------------- */

/*
 * Eight producer and eight consumer fibers, plus one plain pthread of
 * each kind using the try variants, so that another thread certainly
 * works the channel at the same time as the workers: a channel handoff
 * pulls the partner onto the waker's worker (by design), so how many
 * items cross between the two workers varies from run to run; it is
 * printed, not asserted. Producers yield now and then so that the other
 * worker can steal some of them.
 */
#define FIBER_PRODUCERS 8
#define PRODUCERS (FIBER_PRODUCERS + 1)	/* the last one is the thread */
#define CONSUMERS 8
#define YIELD_EVERY 64

/* Bit 39 says on which worker (of two) the item was sent. */
#define SEQ_MASK ((1ull << 39) - 1)
#define WORKER_BIT (1ull << 39)

struct flow {
	weft_chan *c;
	uint64_t per_producer;
	uint64_t *seen;		/* bitmap; atomic */
	uint64_t received;	/* atomic */
	uint64_t dups;		/* atomic */
	uint64_t order_errs;	/* atomic */
	uint64_t sum, xor;	/* atomic */
	uint64_t crossed;	/* atomic: sent and received on other workers */
	uint64_t by_thread;	/* atomic: received by the plain thread */
	unsigned thread_done;	/* atomic: the producer thread finished */
};

struct producer {
	struct flow *fl;
	uint64_t id;
	uint64_t count;		/* items it sends */
};

/* The thread sends a smaller share: its try_send on an unbuffered
 * channel succeeds only when a receiver happens to be parked. */
#define THREAD_SHARE 32

static uint64_t item(uint64_t producer, uint64_t seq)
{
	return producer << 40 | seq;
}

static void *produce(void *arg)
{
	struct producer *p = arg;

	for (uint64_t s = 0; s < p->count; s++) {
		uint64_t v = item(p->id, s);

		if (s % YIELD_EVERY == 0)
			weft_yield();
		if (weft_worker_id() == 1)
			v |= WORKER_BIT;
		check_eq(weft_chan_send(p->fl->c, &v), 0);
	}
	return NULL;
}

static void *produce_thread(void *arg)
{
	struct producer *p = arg;

	for (uint64_t s = 0; s < p->count; s++) {
		uint64_t v = item(p->id, s);
		int rc;

		while ((rc = weft_chan_try_send(p->fl->c, &v)) == -EAGAIN)
			sched_yield();
		check_eq(rc, 0);
	}
	__atomic_store_n(&p->fl->thread_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Account one received item; @worker is the receiver's, or -1. */
struct tally {
	uint64_t next[PRODUCERS];
	uint64_t n, sum, x, order_errs, crossed;
};

static void tally_item(struct flow *fl, struct tally *t, uint64_t v, int worker)
{
	uint64_t p = v >> 40, s = v & SEQ_MASK, bit, old;

	/* Sent on one worker and received on the other. */
	if (worker >= 0 && p < FIBER_PRODUCERS &&
	    !(v & WORKER_BIT) != !worker)
		t->crossed++;
	v &= ~WORKER_BIT;
	if (p >= PRODUCERS || s >= fl->per_producer) {
		check(p < PRODUCERS && s < fl->per_producer);
		return;
	}
	/* A producer's items reach any one consumer in order. */
	if (s < t->next[p])
		t->order_errs++;
	t->next[p] = s + 1;
	bit = p * fl->per_producer + s;
	old = __atomic_fetch_or(&fl->seen[bit / 64], 1ull << (bit % 64),
				__ATOMIC_RELAXED);
	if (old & 1ull << (bit % 64))
		__atomic_add_fetch(&fl->dups, 1, __ATOMIC_RELAXED);
	t->n++;
	t->sum += v;
	t->x ^= v;
	if (t->n % 65536 == 0)
		watchdog_progress_add(65536);
}

static void tally_publish(struct flow *fl, struct tally *t)
{
	__atomic_add_fetch(&fl->received, t->n, __ATOMIC_RELAXED);
	__atomic_add_fetch(&fl->sum, t->sum, __ATOMIC_RELAXED);
	__atomic_xor_fetch(&fl->xor, t->x, __ATOMIC_RELAXED);
	__atomic_add_fetch(&fl->order_errs, t->order_errs, __ATOMIC_RELAXED);
	__atomic_add_fetch(&fl->crossed, t->crossed, __ATOMIC_RELAXED);
}

static void *consume(void *arg)
{
	struct flow *fl = arg;
	struct tally t = { 0 };
	uint64_t v;

	while (weft_chan_recv(fl->c, &v) == 0)
		tally_item(fl, &t, v, (int)weft_worker_id());
	tally_publish(fl, &t);
	return NULL;
}

static void *consume_thread(void *arg)
{
	struct flow *fl = arg;
	struct tally t = { 0 };
	uint64_t v;
	int rc;

	while ((rc = weft_chan_try_recv(fl->c, &v)) != -EPIPE) {
		if (rc == -EAGAIN) {
			sched_yield();
			continue;
		}
		check_eq(rc, 0);
		tally_item(fl, &t, v, -1);
	}
	__atomic_add_fetch(&fl->by_thread, t.n, __ATOMIC_RELAXED);
	tally_publish(fl, &t);
	return NULL;
}

static void flow_main(void *arg)
{
	struct flow *fl = arg;
	struct producer prod[PRODUCERS];
	weft_fiber *pf[FIBER_PRODUCERS], *cf[CONSUMERS];
	pthread_t pt, ct;

	for (int i = 0; i < CONSUMERS; i++)
		cf[i] = check_spawn(consume, fl);
	check_eq(pthread_create(&ct, NULL, consume_thread, fl), 0);
	for (int i = 0; i < PRODUCERS; i++)
		prod[i] = (struct producer){ fl, (uint64_t)i,
					     fl->per_producer };
	prod[FIBER_PRODUCERS].count /= THREAD_SHARE;
	for (int i = 0; i < FIBER_PRODUCERS; i++)
		pf[i] = check_spawn(produce, &prod[i]);
	check_eq(pthread_create(&pt, NULL, produce_thread,
				&prod[FIBER_PRODUCERS]), 0);
	for (int i = 0; i < FIBER_PRODUCERS; i++)
		check_join(pf[i]);
	while (!__atomic_load_n(&fl->thread_done, __ATOMIC_ACQUIRE))
		weft_sleep_ns(1000000);
	pthread_join(pt, NULL);
	check_eq(weft_chan_close(fl->c), 0);
	for (int i = 0; i < CONSUMERS; i++)
		check_join(cf[i]);
	pthread_join(ct, NULL);
}

static void flow_through(size_t cap, uint64_t total)
{
	uint64_t per = total / (FIBER_PRODUCERS + 1.0 / THREAD_SHARE);
	uint64_t words, sum = 0, x = 0, missing = 0, want = 0;
	uint64_t t0 = now_ns();
	struct flow fl = { 0 };

	words = (PRODUCERS * per + 63) / 64;
	fl.per_producer = per;
	fl.seen = calloc(words, sizeof(uint64_t));
	assert_non_null(fl.seen);
	assert_int_equal(weft_chan_new(&fl.c, sizeof(uint64_t), cap), 0);
	run_checked(&two, flow_main, &fl);
	for (uint64_t p = 0; p < PRODUCERS; p++)
		for (uint64_t s = 0; s < (p < FIBER_PRODUCERS ? per :
					  per / THREAD_SHARE); s++) {
			uint64_t bit = p * per + s;

			sum += item(p, s);
			x ^= item(p, s);
			want++;
			if (!(fl.seen[bit / 64] & 1ull << (bit % 64)))
				missing++;
		}
	print_message("cap %zu: %" PRIu64 " items in %.2f s (%" PRIu64
		      " between workers, %" PRIu64 " to the thread), %" PRIu64
		      " missing, %" PRIu64 " duplicated\n", cap, fl.received,
		      (now_ns() - t0) / 1e9, fl.crossed, fl.by_thread, missing,
		      fl.dups);
	assert_int_equal(missing, 0);
	assert_int_equal(fl.dups, 0);
	assert_int_equal(fl.order_errs, 0);
	assert_int_equal(fl.received, want);
	assert_true(fl.sum == sum);
	assert_true(fl.xor == x);
	/* The thread really took part. */
	assert_true(fl.by_thread > 0);
	weft_chan_free(fl.c);
	free(fl.seen);
}

static uint64_t flow_total(void)
{
	return stress_iters(sanitizer_scale() > 1 ? 1000000 : 10000000);
}

static void test_chan_stress_buffered_moves_every_item_once(void **state)
{
	(void)state;
	watchdog_arm(__func__, 120);
	flow_through(128, flow_total());
	watchdog_disarm();
}

static void test_chan_stress_unbuffered_moves_every_item_once(void **state)
{
	(void)state;
	watchdog_arm(__func__, 120);
	flow_through(0, flow_total());
	watchdog_disarm();
}

/* Go's TestSelectStress ---------------------------------------------------- */

struct sel_stress {
	weft_chan *c[4];
	unsigned n;
	uint64_t sent[4], recvd[4];	/* sums of values; atomic */
};

struct sel_side {
	struct sel_stress *ss;
	int k;
};

static void *plain_sender(void *arg)
{
	struct sel_side *sd = arg;
	uint64_t sum = 0;

	for (unsigned i = 0; i < sd->ss->n; i++) {
		uint64_t v = i + 1;

		check_eq(weft_chan_send(sd->ss->c[sd->k], &v), 0);
		sum += v;
	}
	__atomic_add_fetch(&sd->ss->sent[sd->k], sum, __ATOMIC_RELAXED);
	return NULL;
}

static void *plain_receiver(void *arg)
{
	struct sel_side *sd = arg;
	uint64_t sum = 0, v;

	for (unsigned i = 0; i < sd->ss->n; i++) {
		check_eq(weft_chan_recv(sd->ss->c[sd->k], &v), 0);
		sum += v;
	}
	__atomic_add_fetch(&sd->ss->recvd[sd->k], sum, __ATOMIC_RELAXED);
	return NULL;
}

/* Sends n values to each channel in one select; a channel that got its
 * n is replaced by NULL. */
static void *select_sender(void *arg)
{
	struct sel_stress *ss = arg;
	struct weft_select_case sc[4];
	uint64_t vals[4], sums[4] = { 0 };
	unsigned cnt[4] = { 0 };

	for (int k = 0; k < 4; k++) {
		vals[k] = 1000000;
		sc[k] = (struct weft_select_case){ ss->c[k], WEFT_SELECT_SEND,
						   &vals[k], 0 };
	}
	for (unsigned i = 0; i < 4 * ss->n; i++) {
		int k = weft_select(sc, 4, WEFT_FOREVER);

		if (k < 0 || k > 3) {
			check(k >= 0 && k <= 3);
			break;
		}
		check_eq(sc[k].res, 0);
		sums[k] += vals[k];
		vals[k]++;
		if (++cnt[k] == ss->n)
			sc[k].chan = NULL;
		if (i % 4096 == 0)
			watchdog_progress_add(4096);
	}
	for (int k = 0; k < 4; k++) {
		check_eq(cnt[k], ss->n);
		__atomic_add_fetch(&ss->sent[k], sums[k], __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *select_receiver(void *arg)
{
	struct sel_stress *ss = arg;
	struct weft_select_case sc[4];
	uint64_t vals[4], sums[4] = { 0 };
	unsigned cnt[4] = { 0 };

	for (int k = 0; k < 4; k++)
		sc[k] = (struct weft_select_case){ ss->c[k], WEFT_SELECT_RECV,
						   &vals[k], 0 };
	for (unsigned i = 0; i < 4 * ss->n; i++) {
		int k = weft_select(sc, 4, WEFT_FOREVER);

		if (k < 0 || k > 3) {
			check(k >= 0 && k <= 3);
			break;
		}
		check_eq(sc[k].res, 0);
		sums[k] += vals[k];
		if (++cnt[k] == ss->n)
			sc[k].chan = NULL;
	}
	for (int k = 0; k < 4; k++) {
		check_eq(cnt[k], ss->n);
		__atomic_add_fetch(&ss->recvd[k], sums[k], __ATOMIC_RELAXED);
	}
	return NULL;
}

static void select_stress_main(void *arg)
{
	struct sel_stress *ss = arg;
	struct sel_side sd[4];
	weft_fiber *f[10];

	for (int k = 0; k < 4; k++) {
		sd[k] = (struct sel_side){ ss, k };
		f[2 * k] = check_spawn(plain_sender, &sd[k]);
		f[2 * k + 1] = check_spawn(plain_receiver, &sd[k]);
	}
	f[8] = check_spawn(select_sender, ss);
	f[9] = check_spawn(select_receiver, ss);
	for (int i = 0; i < 10; i++)
		check_join(f[i]);
}

static void test_select_stress(void **state)
{
	size_t caps[4] = { 0, 0, 2, 3 };
	struct sel_stress ss = { 0 };
	uint64_t t0 = now_ns();

	(void)state;
	ss.n = (unsigned)stress_iters(100000 / sanitizer_scale());
	for (int k = 0; k < 4; k++)
		assert_int_equal(weft_chan_new(&ss.c[k], sizeof(uint64_t),
					       caps[k]), 0);
	watchdog_arm(__func__, 60);
	run_checked(&two, select_stress_main, &ss);
	watchdog_disarm();
	print_message("%u per fiber per channel in %.2f s\n", ss.n,
		      (now_ns() - t0) / 1e9);
	for (int k = 0; k < 4; k++) {
		assert_true(ss.sent[k] == ss.recvd[k]);
		assert_int_equal(weft_chan_len(ss.c[k]), 0);
		weft_chan_free(ss.c[k]);
	}
}

/* Close while many are blocked, repeated ----------------------------------- */

#define CL_SENDERS 8
#define CL_RECEIVERS 4
#define CL_PER_SENDER 32
#define CL_VALUES (CL_SENDERS * CL_PER_SENDER)

struct close_round {
	weft_chan *c;
	weft_chan *never;	/* never ready: the other case of selects */
	unsigned seed;
	unsigned char sent[CL_VALUES];	/* written by each value's sender */
	unsigned seen[CL_VALUES];	/* atomic */
	unsigned epipe_senders;		/* atomic */
	unsigned epipe_receivers;	/* atomic */
};

struct close_side {
	struct close_round *cr;
	unsigned id;
};

static void *cl_sender(void *arg)
{
	struct close_side *sd = arg;
	struct close_round *cr = sd->cr;
	unsigned seed = cr->seed ^ (sd->id * 0x9e3779b9u) ^ 1;

	for (unsigned j = 0; j < CL_PER_SENDER; j++) {
		int v = (int)(sd->id * CL_PER_SENDER + j), rc;

		switch (xorshift32(&seed) % 3) {
		case 0:
			rc = weft_chan_send(cr->c, &v);
			break;
		case 1: {
			struct weft_select_case sc[2] = {
				{ cr->never, WEFT_SELECT_RECV, NULL, 0 },
				{ cr->c, WEFT_SELECT_SEND, &v, 0 },
			};

			rc = weft_select(sc, 2, WEFT_FOREVER);
			check_eq(rc, 1);
			rc = sc[1].res;
			break;
		}
		default:
			while ((rc = weft_chan_try_send(cr->c, &v)) == -EAGAIN)
				weft_yield();
		}
		if (rc == -EPIPE) {
			__atomic_add_fetch(&cr->epipe_senders, 1,
					   __ATOMIC_RELAXED);
			return NULL;
		}
		check_eq(rc, 0);
		cr->sent[v] = 1;
	}
	return NULL;
}

static void *cl_receiver(void *arg)
{
	struct close_side *sd = arg;
	struct close_round *cr = sd->cr;
	unsigned seed = cr->seed ^ (sd->id * 0x85ebca6bu) ^ 2;

	for (;;) {
		int v = -1, rc;

		if (xorshift32(&seed) % 2) {
			rc = weft_chan_recv(cr->c, &v);
		} else {
			struct weft_select_case sc[2] = {
				{ cr->c, WEFT_SELECT_RECV, &v, 0 },
				{ cr->never, WEFT_SELECT_RECV, NULL, 0 },
			};

			rc = weft_select(sc, 2, WEFT_FOREVER);
			check_eq(rc, 0);
			rc = sc[0].res;
		}
		if (rc == -EPIPE)
			break;
		check_eq(rc, 0);
		if (v < 0 || v >= CL_VALUES) {
			check(v >= 0 && v < CL_VALUES);
			continue;
		}
		__atomic_add_fetch(&cr->seen[v], 1, __ATOMIC_RELAXED);
		/* Slow receivers, so that senders pile up too. */
		if (xorshift32(&seed) % 4 == 0)
			weft_yield();
	}
	__atomic_add_fetch(&cr->epipe_receivers, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void close_rounds_main(void *arg)
{
	unsigned rounds = *(unsigned *)arg, seed = 0x12345678u;
	struct close_side ss[CL_SENDERS], rs[CL_RECEIVERS];
	weft_fiber *sf[CL_SENDERS], *rf[CL_RECEIVERS];
	struct close_round *cr;

	cr = calloc(1, sizeof(*cr));
	for (unsigned r = 0; r < rounds; r++) {
		unsigned wait;

		memset(cr, 0, sizeof(*cr));
		cr->seed = xorshift32(&seed);
		check_eq(weft_chan_new(&cr->c, sizeof(int), r % 5), 0);
		check_eq(weft_chan_new(&cr->never, 0, 0), 0);
		for (unsigned i = 0; i < CL_RECEIVERS; i++) {
			rs[i] = (struct close_side){ cr, i };
			rf[i] = check_spawn(cl_receiver, &rs[i]);
		}
		for (unsigned i = 0; i < CL_SENDERS; i++) {
			ss[i] = (struct close_side){ cr, i };
			sf[i] = check_spawn(cl_sender, &ss[i]);
		}
		/* Close at a random point: while senders are blocked, or
		 * after they all finished and receivers wait. */
		wait = xorshift32(&seed) % 200;
		for (unsigned i = 0; i < wait; i++)
			weft_yield();
		if (xorshift32(&seed) % 8 == 0)
			weft_sleep_ns(100000);
		check_eq(weft_chan_close(cr->c), 0);
		for (unsigned i = 0; i < CL_SENDERS; i++)
			check_join(sf[i]);
		for (unsigned i = 0; i < CL_RECEIVERS; i++)
			check_join(rf[i]);
		/* Exactly the successful sends were received, once each. */
		for (unsigned v = 0; v < CL_VALUES; v++)
			check_eq(cr->seen[v], cr->sent[v]);
		check_eq(cr->epipe_receivers, CL_RECEIVERS);
		check_eq(weft_chan_len(cr->c), 0);
		weft_chan_free(cr->c);
		weft_chan_free(cr->never);
		watchdog_progress_add(1);
	}
	free(cr);
}

static void test_chan_stress_close_while_blocked(void **state)
{
	unsigned rounds = (unsigned)stress_iters(4000 / sanitizer_scale());
	uint64_t t0 = now_ns();

	(void)state;
	watchdog_arm(__func__, 120);
	run_checked(&two, close_rounds_main, &rounds);
	watchdog_disarm();
	print_message("%u rounds in %.2f s\n", rounds, (now_ns() - t0) / 1e9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chan_stress_buffered_moves_every_item_once),
		cmocka_unit_test(test_chan_stress_unbuffered_moves_every_item_once),
		cmocka_unit_test(test_select_stress),
		cmocka_unit_test(test_chan_stress_close_while_blocked),
	};

	skip_without_backend();
	return cmocka_run_group_tests_name("stress_chan", tests, NULL, NULL);
}
