/* SPDX-License-Identifier: MIT */
/*
 * The sized structs of weft.h (see "Structs that grow" there): how the
 * library takes one in from a program built against any weft.h, older or
 * newer, and how it hands one out. Used by the calls that take them
 * (weft_run, weft_spawn) or fill them (weft_stats, weft_worker_stats);
 * no state, any thread.
 */
#ifndef WEFT_ABI_H
#define WEFT_ABI_H

#include <stddef.h>

/* The largest size member weft accepts, as openat2(2) caps its struct. */
#define ABI_SIZE_MAX 4096u

/*
 * Copy the caller's struct at @src into the library's @dst of @ksize
 * bytes (sizeof its own type). @usize is the caller's size member, 0
 * meaning @v1size (the first ABI's layout). The first min(@usize,
 * @ksize) bytes are copied and the rest of @dst zeroed, so fields the
 * caller's header did not have take their defaults; bytes the caller has
 * beyond @ksize must be zero (fields of a newer header this library
 * cannot honour). Nothing past @usize bytes of @src is read.
 * Returns 0, or -EINVAL: @usize is below sizeof(size_t) (cannot hold the
 * size member itself) or above ABI_SIZE_MAX, or a byte beyond @ksize is
 * not zero.
 */
int weft__abi_copy_in(void *dst, size_t ksize, const void *src, size_t usize,
		      size_t v1size);

/*
 * Hand the library's struct at @src, of @ksize bytes, out to the
 * caller's @dst, whose size member is @usize (0: @v1size). The first
 * min(@usize, @ksize) bytes are written, and the size member (the
 * first) becomes that number. Nothing past them is written, not even
 * zeroes: a size the caller never set does the least harm. Returns 0, or -EINVAL for a @usize weft__abi_copy_in()
 * refuses (then @dst is untouched).
 */
int weft__abi_copy_out(void *dst, size_t usize, const void *src, size_t ksize,
		       size_t v1size);

#endif /* WEFT_ABI_H */
