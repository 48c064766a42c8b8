/* SPDX-License-Identifier: MIT */
/*
 * What the library promises a program built against another weft.h: its
 * version (weft_version) and the copying of sized structs (abi.h). The
 * sizes of the first ABI are pinned here, so a change to one of those
 * structs that would move a field fails to compile. No state; any
 * thread, also outside weft_run().
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "abi.h"
#include "internal.h"

/* The layouts of the first ABI (WEFT_*_SIZE_V1); new fields go at the
 * end, and these stay true of the V1 part. */
_Static_assert(sizeof(struct weft_config) == WEFT_CONFIG_SIZE_V1,
	       "struct weft_config's first ABI is 48 bytes");
_Static_assert(sizeof(struct weft_spawn_opts) == WEFT_SPAWN_OPTS_SIZE_V1,
	       "struct weft_spawn_opts's first ABI is 24 bytes");
_Static_assert(sizeof(struct weft_stats) == WEFT_STATS_SIZE_V1,
	       "struct weft_stats's first ABI is 128 bytes");
_Static_assert(sizeof(struct weft_worker_stats) ==
		       WEFT_WORKER_STATS_SIZE_V1,
	       "struct weft_worker_stats's first ABI is 64 bytes");
_Static_assert(offsetof(struct weft_config, size) == 0 &&
		       offsetof(struct weft_spawn_opts, size) == 0 &&
		       offsetof(struct weft_stats, size) == 0 &&
		       offsetof(struct weft_worker_stats, size) == 0,
	       "the size member comes first");

int weft_version(void)
{
	return WEFT_VERSION_NUMBER;
}

static int usize_check(size_t *usize, size_t v1size)
{
	if (*usize == 0)
		*usize = v1size;
	if (*usize < sizeof(size_t) || *usize > ABI_SIZE_MAX)
		return -EINVAL;
	return 0;
}

static bool all_zero(const unsigned char *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

int weft__abi_copy_in(void *dst, size_t ksize, const void *src, size_t usize,
		      size_t v1size)
{
	int err = usize_check(&usize, v1size);

	if (err)
		return err;
	if (usize > ksize &&
	    !all_zero((const unsigned char *)src + ksize, usize - ksize))
		return -EINVAL;
	if (usize >= ksize) {
		memcpy(dst, src, ksize);
	} else {
		memcpy(dst, src, usize);
		memset((unsigned char *)dst + usize, 0, ksize - usize);
	}
	return 0;
}

int weft__abi_copy_out(void *dst, size_t usize, const void *src, size_t ksize,
		       size_t v1size)
{
	int err = usize_check(&usize, v1size);
	size_t filled;

	if (err)
		return err;
	/* Nothing past what this library knows is written: a size that
	 * was never set (garbage up to ABI_SIZE_MAX) must not make it
	 * write beyond the caller's struct. The size member says how much
	 * was filled in. */
	filled = usize < ksize ? usize : ksize;
	memcpy(dst, src, filled);
	memcpy(dst, &filled, sizeof(filled));
	return 0;
}
