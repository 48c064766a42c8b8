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

void weft__assert_fail(const char *expr, const char *file, int line)
{
	char buf[16];
	int n = 0;
	unsigned v = (unsigned)line;

	do {
		buf[sizeof(buf) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n < (int)sizeof(buf) - 1);
	/* One line, one prefix: "weft: assertion failed: X at F:L". */
	weft__die_msg("assertion failed: ", expr, " at ");
	(void)!write(2, file, strlen(file));
	(void)!write(2, ":", 1);
	(void)!write(2, buf + sizeof(buf) - n, (size_t)n);
	(void)!write(2, "\n", 1);
	abort();
}

void weft__die_msg(const char *a, const char *b, const char *c)
{
	(void)!write(2, "weft: ", 6);
	(void)!write(2, a, strlen(a));
	(void)!write(2, b, strlen(b));
	(void)!write(2, c, strlen(c));
}
