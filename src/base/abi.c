/* SPDX-License-Identifier: MIT */
/*
 * What the library promises a program built against another weft.h: its
 * version (weft_version). No state; any thread, also outside weft_run().
 */
#include "internal.h"

int weft_version(void)
{
	return WEFT_VERSION_NUMBER;
}
