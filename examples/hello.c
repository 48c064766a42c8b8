/* SPDX-License-Identifier: MIT */
/*
 * The README's first program: ten fibers square their numbers, the main
 * fiber joins them and sums the results. Prints "sum of squares: 285".
 */
#include <stdio.h>
#include <weft.h>

static void *square(void *arg)
{
	long n = (long)arg;

	weft_yield();			/* let the others run */
	return (void *)(n * n);
}

static void main_fiber(void *arg)
{
	weft_fiber *f[10];
	long sum = 0;

	(void)arg;
	for (long i = 0; i < 10; i++)
		weft_spawn(&f[i], square, (void *)i, NULL);
	for (int i = 0; i < 10; i++) {
		void *r;

		weft_join(f[i], &r);	/* parks this fiber, not the thread */
		sum += (long)r;
	}
	printf("sum of squares: %ld\n", sum);
}

int main(void)
{
	/* A zeroed config: one worker per CPU, 64 KiB stacks. */
	return weft_run(&(struct weft_config){ 0 }, main_fiber, NULL) ? 1 : 0;
}
