/* SPDX-License-Identifier: MIT */
/*
 * Scheduling latency (latency.h). When a worker makes a fiber ready it
 * counts the readies it made; every 64th stamps the fiber with the tick
 * clock (fiber.ready_ticks), the others leave it 0. When a worker
 * switches to a stamped fiber, the wait goes into that worker's
 * histogram and the stamp is cleared. So the hot paths pay a counter and
 * a branch each; a sample costs two clock reads (rdtsc, a few ns).
 * Readies from threads outside weft are sampled by a per-thread count.
 *
 * weft_stats() sums the histograms and reads off the median and the 99th
 * percentile as the upper bound of the bucket they fall in (so they are
 * over by at most a quarter), and the exact maximum. Ticks become ns by
 * the rate between weft_run's start and the call: on x86-64 the TSC,
 * which runs at a constant rate on every core of a machine this runs on.
 */
#include "latency.h"

static uint64_t ticks0;
static int64_t ns0;

void weft__latency_start(void)
{
	ns0 = weft_now_ns();
	ticks0 = weft__ticks();
}

/* ns a tick, from weft_run's start to now (1 if too soon to tell). */
static double ns_per_tick(void)
{
	uint64_t dt = weft__ticks() - ticks0;
	int64_t dns = weft_now_ns() - ns0;

	if (dt < 1000 || dns <= 0)
		return 1.0;
	return (double)dns / (double)dt;
}

void weft__latency_figures(struct latency_hist *const *h, unsigned n,
			   struct latency_figures *out)
{
	uint64_t sum[LAT_BUCKETS] = { 0 }, total = 0, max = 0, seen = 0;
	uint64_t p50 = 0, p99 = 0;
	double k = ns_per_tick();
	bool got50 = false;

	for (unsigned i = 0; i < n; i++) {
		for (unsigned b = 0; b < LAT_BUCKETS; b++) {
			/* Racy reads of owner-written counts. */
			uint64_t c = ck_pr_load_64(&h[i]->count[b]);

			sum[b] += c;
			total += c;
		}
		if (ck_pr_load_64(&h[i]->max) > max)
			max = ck_pr_load_64(&h[i]->max);
	}
	out->samples = total;
	out->p50_ns = out->p99_ns = out->max_ns = 0;
	if (!total)
		return;
	for (unsigned b = 0; b < LAT_BUCKETS; b++) {
		seen += sum[b];
		if (!got50 && seen * 2 >= total) {
			p50 = b + 1 < LAT_BUCKETS ? lat_bucket_lo(b + 1) : max;
			got50 = true;
		}
		if (seen * 100 >= total * 99) {
			p99 = b + 1 < LAT_BUCKETS ? lat_bucket_lo(b + 1) : max;
			break;
		}
	}
	/* An upper bound, but never above what was seen. */
	if (p50 > max)
		p50 = max;
	if (p99 > max)
		p99 = max;
	out->p50_ns = (uint64_t)((double)p50 * k);
	out->p99_ns = (uint64_t)((double)p99 * k);
	out->max_ns = (uint64_t)((double)max * k);
}
