/* SPDX-License-Identifier: MIT */
/*
 * Scheduling latency: how long a fiber waits between being made ready
 * (woken, spawned, yielded) and starting to run, sampled about once in
 * 64 readies, into a histogram per worker. See latency.c.
 */
#ifndef WEFT_LATENCY_H
#define WEFT_LATENCY_H

#include <stdint.h>
#include <time.h>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include <ck_pr.h>

#include "internal.h"

/* A cheap, monotonic tick count: the TSC on x86-64, else ns. */
static inline uint64_t weft__ticks(void)
{
#if defined(__x86_64__)
	return __rdtsc();
#else
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

/* Log-linear buckets: four a power of two, so a bucket spans at most a
 * quarter of its lower bound. Tick counts up to 2^63. */
#define LAT_BUCKETS 256

struct latency_hist {
	uint64_t count[LAT_BUCKETS];	/* owner-written, read racily */
	uint64_t max;			/* ticks; owner-written        */
	uint64_t samples;		/* owner-written               */
};

/* Take one ready in 64: stamp the fiber's ready time, else 0. */
#define LAT_SAMPLE_MASK 63u

static inline unsigned lat_bucket(uint64_t t)
{
	unsigned msb;

	if (t < 4)
		return (unsigned)t;
	msb = 63u - (unsigned)__builtin_clzll(t);
	return ((msb << 2) | ((unsigned)(t >> (msb - 2)) & 3u)) - 4u;
}

/* The lowest tick count of bucket @b. */
static inline uint64_t lat_bucket_lo(unsigned b)
{
	unsigned msb;

	if (b < 4)
		return b;
	b += 4;
	msb = b >> 2;
	return (uint64_t)(4u | (b & 3u)) << (msb - 2);
}

/* Add one sample of @t ticks. Owner only. */
static inline void lat_note(struct latency_hist *h, uint64_t t)
{
	unsigned b = lat_bucket(t);

	/* Owner-written counters, read racily by weft_stats(). */
	ck_pr_store_64(&h->count[b], h->count[b] + 1);
	ck_pr_store_64(&h->samples, h->samples + 1);
	if (t > h->max)
		ck_pr_store_64(&h->max, t);
}

/* Latency figures, in ns, over the histograms of @n workers. */
struct latency_figures {
	uint64_t samples, p50_ns, p99_ns, max_ns;
};

/* Start the tick clock's calibration (weft_run, before any worker). */
void weft__latency_start(void);

/* Sum @n histograms and read off p50, p99 (upper bounds of their
 * buckets) and the max, converted to ns. Any thread. */
void weft__latency_figures(struct latency_hist *const *h, unsigned n,
			   struct latency_figures *out);

#endif /* WEFT_LATENCY_H */
