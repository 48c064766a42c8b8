/* SPDX-License-Identifier: MIT */
/*
 * Small things every weft source file needs: export and hint macros, the
 * always-on assertion, container_of, and the sanitizer hooks that make
 * hand-offs through Concurrency Kit visible to ThreadSanitizer. Nothing
 * else belongs here.
 */
#ifndef WEFT_INTERNAL_H
#define WEFT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "weft.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define WEFT_CACHELINE 64

/*
 * Thread-local storage reached by a %fs-relative load, in libweft.so as
 * in the static archive: the default model for a shared library calls
 * __tls_get_addr on every access, which cost a fifth of a yield (14.8 ns
 * against 11.8). A few dozen bytes, so a dlopen() finds them room in
 * glibc's static TLS reserve.
 */
#define WEFT_TLS __thread __attribute__((tls_model("initial-exec")))

/*
 * A broken internal invariant is a bug, not an error: report file:line
 * and abort, in release builds too.
 */
#define weft_assert(cond)                                                  \
	do {                                                               \
		if (unlikely(!(cond)))                                     \
			weft__assert_fail(#cond, __FILE__, __LINE__);      \
	} while (0)

__attribute__((noreturn, cold)) void weft__assert_fail(const char *expr,
							const char *file,
							int line);

/* Print "weft: <message>" on stderr with write(2) only (signal safe). */
void weft__die_msg(const char *a, const char *b, const char *c);

/* @v in decimal into @buf (at least 21 bytes), NUL-terminated; returns
 * its length. Signal safe. */
int weft__fmt_u64(char *buf, uint64_t v);

/*
 * Chaos mode's seed (WEFT_CHAOS), 0 when off: set by weft_run() before
 * any worker starts, left as it was after the run so that a failure
 * found later can still name it. weft__chaos_say() prints it on stderr
 * ("weft: chaos seed N: WEFT_CHAOS=N replays this schedule") if it is
 * set; the fatal paths and a non-zero exit call it. Signal safe.
 */
extern uint64_t weft__chaos_seed;
void weft__chaos_say(void);

/* Sanitizer detection, the same for gcc and clang. */
#if defined(__SANITIZE_ADDRESS__)
#define WEFT_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define WEFT_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(WEFT_ASAN)
#define WEFT_ASAN 1
#endif
#if __has_feature(thread_sanitizer) && !defined(WEFT_TSAN)
#define WEFT_TSAN 1
#endif
#endif

/*
 * ThreadSanitizer cannot see Concurrency Kit's atomics (inline asm), so a
 * fiber record or stack handed from one worker to another through a ck
 * structure would look like a data race. Each such hand-off is annotated:
 * weft__hb_release(obj) by the publisher before it publishes, and
 * weft__hb_acquire(obj) by the consumer after it has taken obj. Outside
 * TSan builds both are nothing.
 */
#ifdef WEFT_TSAN
#include <sanitizer/tsan_interface.h>
#define weft__hb_release(p) __tsan_release((void *)(p))
#define weft__hb_acquire(p) __tsan_acquire((void *)(p))
#else
#define weft__hb_release(p) ((void)(p))
#define weft__hb_acquire(p) ((void)(p))
#endif

#endif /* WEFT_INTERNAL_H */
