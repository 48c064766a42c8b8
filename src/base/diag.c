/* SPDX-License-Identifier: MIT */
/*
 * Diagnostics: the one-line "weft: ..." messages the runtime prints
 * before it aborts (internal.h's weft_assert, the overflow and fatal
 * handlers, an out-of-memory a completion cannot survive). Async-signal-
 * safe: write(2) only, no stdio, no allocation. A leaf: it uses nothing
 * else in weft.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

uint64_t weft__chaos_seed;

int weft__fmt_u64(char *buf, uint64_t v)
{
	char tmp[20];
	int n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
	return n;
}

void weft__chaos_say(void)
{
	char seed[21];

	if (!weft__chaos_seed)
		return;
	weft__fmt_u64(seed, weft__chaos_seed);
	weft__die_msg("chaos seed ", seed, ": WEFT_CHAOS=");
	(void)!write(2, seed, strlen(seed));
	(void)!write(2, " replays this schedule\n", 23);
}

void weft__assert_fail(const char *expr, const char *file, int line)
{
	char buf[21];
	int n = weft__fmt_u64(buf, (uint64_t)(unsigned)line);

	/* One line, one prefix: "weft: assertion failed: X at F:L". */
	weft__die_msg("assertion failed: ", expr, " at ");
	(void)!write(2, file, strlen(file));
	(void)!write(2, ":", 1);
	(void)!write(2, buf, (size_t)n);
	(void)!write(2, "\n", 1);
	weft__chaos_say();
	abort();
}

void weft__die_msg(const char *a, const char *b, const char *c)
{
	(void)!write(2, "weft: ", 6);
	(void)!write(2, a, strlen(a));
	(void)!write(2, b, strlen(b));
	(void)!write(2, c, strlen(c));
}
