/* SPDX-License-Identifier: MIT */
/*
 * A coroutine that keeps a running sum, as in Python:
 *
 *	def running_sum():
 *	    total = 0
 *	    while True:
 *	        x = yield total
 *	        total += x
 *
 *	s = running_sum()
 *	next(s)              # prime it: run to the first yield (gives 0)
 *	print(s.send(10))    # 10
 *	print(s.send(20))    # 30
 *
 * Generators need no runtime: this runs in plain main(), no weft_run().
 * Values travel as void *, so the numbers go through intptr_t.
 */
#include <stdint.h>
#include <stdio.h>
#include <weft.h>

static void *running_sum(weft_gen *g, void *arg)
{
	intptr_t total = 0;

	(void)arg;
	for (;;) {
		/* x = yield total */
		void *x = weft_gen_yield(g, (void *)total);

		if (x == WEFT_GEN_EXIT)	/* s.close(): clean up and return */
			return NULL;
		total += (intptr_t)x;
	}
}

static void send_and_print(weft_gen *s, intptr_t x)
{
	void *out;

	weft_gen_send(s, (void *)x, &out);
	printf("send %ld -> %ld\n", (long)x, (long)(intptr_t)out);
}

int main(void)
{
	weft_gen *s;
	void *out;

	if (weft_gen_new(&s, running_sum, NULL, 0))
		return 1;
	/* next(s): the first resume must send NULL (Python: None). */
	weft_gen_send(s, NULL, &out);
	printf("next -> %ld\n", (long)(intptr_t)out);
	send_and_print(s, 10);
	send_and_print(s, 20);
	send_and_print(s, 12);
	/* s.close(): the pending yield returns WEFT_GEN_EXIT. */
	printf("close -> %d\n", weft_gen_close(s));
	weft_gen_free(s);
	return 0;
}
