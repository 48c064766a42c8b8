/* SPDX-License-Identifier: MIT */
/*
 * Delegating to a subgenerator, as Python's yield from:
 *
 *	def inner():
 *	    yield 1
 *	    yield 2
 *	    yield 3
 *	    return 'inner done'
 *
 *	def outer():
 *	    yield 'A'
 *	    yield 'B'
 *	    r = yield from inner()
 *	    print('yield from returned:', r)
 *
 *	for v in outer():
 *	    print(v)
 *
 * Every value travels as a void *; here they are all strings. Runs
 * without a runtime.
 */
#include <stdio.h>
#include <weft.h>

static void *inner(weft_gen *g, void *arg)
{
	static const char *const items[] = { "1", "2", "3" };

	(void)arg;
	for (int i = 0; i < 3; i++)
		if (weft_gen_yield(g, (void *)items[i]) == WEFT_GEN_EXIT)
			return NULL;
	return "inner done";
}

static void *outer(weft_gen *g, void *arg)
{
	weft_gen *sub;
	void *r;

	(void)arg;
	if (weft_gen_yield(g, "A") == WEFT_GEN_EXIT)
		return NULL;
	if (weft_gen_yield(g, "B") == WEFT_GEN_EXIT)
		return NULL;
	/* The subgenerator gets a stack of its own, 16 KiB here. */
	if (weft_gen_new(&sub, inner, NULL, 16 * 1024))
		return NULL;
	r = weft_gen_yield_from(g, sub);	/* r = yield from inner() */
	weft_gen_free(sub);
	if (r == WEFT_GEN_EXIT)			/* closed while delegating */
		return NULL;
	printf("yield from returned: %s\n", (const char *)r);
	return NULL;
}

int main(void)
{
	weft_gen *g;
	void *v;

	if (weft_gen_new(&g, outer, NULL, 0))
		return 1;
	/* for v in outer(): a send of NULL until it returns (1). */
	while (weft_gen_send(g, NULL, &v) == 0)
		printf("%s\n", (const char *)v);
	weft_gen_free(g);
	return 0;
}
