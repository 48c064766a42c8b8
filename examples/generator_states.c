/* SPDX-License-Identifier: MIT */
/*
 * A generator's life, as Python's inspect.getgeneratorstate shows it:
 *
 *	def gen():
 *	    print('in the body:', inspect.getgeneratorstate(g))  # RUNNING
 *	    yield 1
 *	    yield 2
 *	    return 3
 *
 *	g = gen()           # GEN_CREATED
 *	next(g)             # 1, then GEN_SUSPENDED
 *	next(g)             # 2, then GEN_SUSPENDED
 *	next(g)             # StopIteration(3), then GEN_CLOSED
 *	gen().send(5)       # TypeError: can't send non-None value to a
 *	                    # just-started generator
 *
 * weft reports in return codes what Python raises. Runs without a runtime.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <weft.h>

static const char *state_name(const weft_gen *g)
{
	switch (weft_gen_state(g)) {
	case WEFT_GEN_CREATED:
		return "CREATED";
	case WEFT_GEN_RUNNING:
		return "RUNNING";
	case WEFT_GEN_SUSPENDED:
		return "SUSPENDED";
	case WEFT_GEN_CLOSED:
		return "CLOSED";
	}
	return "?";
}

static const char *err_name(int err)
{
	switch (err) {
	case -EINVAL:
		return "-EINVAL";
	case -EPIPE:
		return "-EPIPE";
	case -EBUSY:
		return "-EBUSY";
	}
	return "?";
}

static void *gen(weft_gen *g, void *arg)
{
	(void)arg;
	printf("in the body: %s\n", state_name(g));
	if (weft_gen_yield(g, (void *)1) == WEFT_GEN_EXIT)
		return NULL;
	if (weft_gen_yield(g, (void *)2) == WEFT_GEN_EXIT)
		return NULL;
	return (void *)3;
}

/* next(g), reporting what came back and the state after it. */
static void next(weft_gen *g)
{
	void *out;
	int rc = weft_gen_send(g, NULL, &out);

	if (rc == 0)
		printf("next -> yielded %ld, state: %s\n",
		       (long)(intptr_t)out, state_name(g));
	else if (rc == 1)
		printf("next -> returned %ld, state: %s\n",
		       (long)(intptr_t)out, state_name(g));
	else
		printf("next -> %s (Python: StopIteration)\n", err_name(rc));
}

int main(void)
{
	weft_gen *g;
	int rc;

	if (weft_gen_new(&g, gen, NULL, 0))
		return 1;
	printf("state: %s\n", state_name(g));
	next(g);
	next(g);
	next(g);
	next(g);		/* exhausted */
	weft_gen_free(g);

	/* A value sent before the first yield has nowhere to go. */
	if (weft_gen_new(&g, gen, NULL, 0))
		return 1;
	rc = weft_gen_send(g, (void *)5, NULL);
	printf("send 5 to a new generator -> %s (Python raises TypeError: "
	       "can't send non-None value to a just-started generator)\n",
	       err_name(rc));
	printf("state: %s\n", state_name(g));
	next(g);
	/* g.close() at a yield: the body sees WEFT_GEN_EXIT and returns. */
	rc = weft_gen_close(g);
	printf("close -> %d, state: %s\n", rc, state_name(g));
	weft_gen_free(g);
	return 0;
}
