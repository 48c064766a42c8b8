/* SPDX-License-Identifier: MIT */
/*
 * The flight recorder. With WEFT_TRACE=path set when weft_run() starts,
 * every worker records what its scheduler does into a ring of its own
 * (trace.h: a fiber's run slice begins, the worker goes idle, a fiber
 * parks and on what, a waker makes one ready, a spawn, a steal, an I/O
 * or sleep completion), and the monitor records stalls into its own.
 * Each ring has one writer, so an event costs a timestamp and one
 * 32-byte record written, no lock and no atomic; a full ring overwrites its oldest
 * events, keeping the last WEFT_TRACE_EVENTS (default 65,536) a worker.
 * Off, each hook is one load and a branch not taken.
 *
 * Timestamps are the CPU's time-stamp counter where there is one (x86:
 * rdtsc, a few ns), converted to CLOCK_MONOTONIC nanoseconds at the end
 * from two readings of both taken at start and stop; CLOCK_MONOTONIC
 * elsewhere.
 *
 * When weft_run() ends (the workers have stopped, so nothing writes),
 * the rings become one Chrome trace-event JSON file: a track (tid) per
 * worker with a complete event ("ph":"X") for every run slice, named by
 * fiber id and name, and instant events ("ph":"i") for the rest; the
 * monitor's track holds the stalls. Perfetto (ui.perfetto.dev) and
 * chrome://tracing open it. A fiber's name is recorded when it is
 * spawned (TR_NAME events), so fibers that ended are named too, as long
 * as their spawn is still in a ring.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fiber.h"
#include "latency.h"
#include "poller.h"
#include "scheduler.h"
#include "trace.h"

unsigned weft__trace_on;
struct trace_ring *weft__trace_monitor;

static struct {
	char *path;
	unsigned nr_workers;
	struct trace_ring *rings;	/* nr_workers + 1: the monitor last */
	uint64_t tick0, tick1;		/* the clock at start and stop     */
	int64_t ns0, ns1;		/* CLOCK_MONOTONIC then            */
} tr;

/* The tick clock the latency histogram uses too (latency.h). */
#define trace_clock weft__ticks

struct trace_ring *weft__trace_ring(unsigned worker)
{
	return &tr.rings[worker];
}

void weft__trace_put(struct trace_ring *r, uint32_t type, uint64_t fiber,
		     uint64_t arg, uint32_t worker)
{
	struct trace_rec *e = &r->v[r->n++ & r->mask];

	e->ts = trace_clock();
	e->type = type;
	e->worker = worker;
	e->fiber = fiber;
	e->arg = arg;
}

/* WEFT_TRACE_EVENTS, rounded up to a power of two; 65,536 if unset. */
static uint64_t ring_slots(void)
{
	const char *s = getenv("WEFT_TRACE_EVENTS");
	unsigned long long v = 0;
	uint64_t slots = 1;
	char *end;

	if (s && *s) {
		errno = 0;
		v = strtoull(s, &end, 10);
		if (errno || *end || v < 16 || v > (1ull << 26)) {
			fprintf(stderr, "weft: WEFT_TRACE_EVENTS=%s is not a "
				"number of events from 16 to 67108864; "
				"ignoring it\n", s);
			v = 0;
		}
	}
	if (!v)
		v = 65536;
	while (slots < v)
		slots <<= 1;
	return slots;
}

int weft__trace_start(unsigned nr_workers)
{
	const char *path = getenv("WEFT_TRACE");
	uint64_t slots;

	if (!path || !*path)
		return 0;
	slots = ring_slots();
	tr.path = strdup(path);
	tr.nr_workers = nr_workers;
	tr.rings = calloc(nr_workers + 1, sizeof(*tr.rings));
	if (!tr.path || !tr.rings)
		goto nomem;
	for (unsigned i = 0; i <= nr_workers; i++) {
		tr.rings[i].v = calloc(slots, sizeof(struct trace_rec));
		if (!tr.rings[i].v)
			goto nomem;
		tr.rings[i].mask = slots - 1;
	}
	weft__trace_monitor = &tr.rings[nr_workers];
	tr.ns0 = weft_now_ns();
	tr.tick0 = trace_clock();
	weft__trace_on = 1;
	return 0;
nomem:
	fprintf(stderr, "weft: WEFT_TRACE=%s: out of memory for the trace "
		"rings; not tracing\n", path);
	weft__trace_on = 1;
	weft__trace_stop();
	return -ENOMEM;
}

/* ns since start for a timestamp, as microseconds for the JSON. */
static double ts_us(uint64_t tick)
{
	double span = (double)(tr.tick1 - tr.tick0);
	double ns = span > 0 ? (double)(int64_t)(tick - tr.tick0) *
				       (double)(tr.ns1 - tr.ns0) / span
			     : 0;

	return ns / 1000.0;
}

/* The name recorded for fiber @id, or "": a linear look at the rings. */
struct names {
	uint64_t *ids;
	char (*name)[33];
	size_t n, cap;
};

static void names_add(struct names *nm, uint64_t id, unsigned idx,
		      uint64_t chunk)
{
	size_t i;

	for (i = 0; i < nm->n; i++)
		if (nm->ids[i] == id)
			break;
	if (i == nm->n) {
		if (nm->n == nm->cap) {
			size_t cap = nm->cap ? 2 * nm->cap : 256;
			uint64_t *ids = realloc(nm->ids, cap * sizeof(*ids));
			char (*name)[33];

			if (!ids)
				return;
			nm->ids = ids;
			name = realloc(nm->name, cap * sizeof(*name));
			if (!name)
				return;
			nm->name = name;
			nm->cap = cap;
		}
		nm->ids[i] = id;
		memset(nm->name[i], 0, sizeof(nm->name[i]));
		nm->n++;
	}
	if (idx < 4)
		memcpy(&nm->name[i][idx * 8], &chunk, 8);
}

static const char *names_get(const struct names *nm, uint64_t id)
{
	for (size_t i = 0; i < nm->n; i++)
		if (nm->ids[i] == id)
			return nm->name[i];
	return "";
}

/* @s as a JSON string body: quotes, backslashes and controls escaped. */
static void json_str(FILE *out, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
}

static const char *wait_name(uint64_t kind)
{
	unsigned k = (unsigned)kind & 0xff;

	return k < WAIT_KIND_COUNT && weft__wait_names[k][0]
		       ? weft__wait_names[k]
		       : "a wait";
}

/* The oldest event still in @r, and one past the newest. */
static void ring_span(const struct trace_ring *r, uint64_t *from,
		      uint64_t *to)
{
	*to = r->n;
	*from = r->n > r->mask + 1 ? r->n - (r->mask + 1) : 0;
}

static void write_slice(FILE *out, bool *first, unsigned tid, uint64_t fiber,
			const struct names *nm, uint64_t t0, uint64_t t1)
{
	const char *name = names_get(nm, fiber);

	fprintf(out, "%s\n{\"ph\":\"X\",\"pid\":1,\"tid\":%u,\"ts\":%.3f,"
		     "\"dur\":%.3f,\"name\":\"fiber %" PRIu64 "%s",
		*first ? "" : ",", tid, ts_us(t0), ts_us(t1) - ts_us(t0), fiber,
		name[0] ? " " : "");
	json_str(out, name);
	fprintf(out, "\",\"args\":{\"fiber\":%" PRIu64 "}}", fiber);
	*first = false;
}

static void write_instant(FILE *out, bool *first, unsigned tid,
			  const struct trace_rec *e)
{
	char what[160];

	switch (e->type & 0xffffff) {
	case TR_PARK:
		if ((e->arg & 0xff) == WAIT_IO) {
			/* An I/O call: its operation and descriptor. */
			unsigned op = (unsigned)(e->arg >> 8) & 0xff;

			snprintf(what, sizeof(what), "park: I/O %s on fd %d",
				 op < IO_OP_COUNT ? weft__io_op_names[op] : "?",
				 (int)(e->arg >> 32));
		} else {
			snprintf(what, sizeof(what), "park: %s",
				 wait_name(e->arg));
		}
		break;
	case TR_WAKE:
		snprintf(what, sizeof(what), "wake fiber %" PRIu64, e->fiber);
		break;
	case TR_SPAWN:
		snprintf(what, sizeof(what), "spawn fiber %" PRIu64, e->fiber);
		break;
	case TR_STEAL:
		snprintf(what, sizeof(what),
			 "steal fiber %" PRIu64 " from worker %" PRIu64,
			 e->fiber, e->arg);
		break;
	case TR_IO_DONE:
		snprintf(what, sizeof(what),
			 "complete fiber %" PRIu64 " (%" PRId64 ")", e->fiber,
			 (int64_t)e->arg);
		break;
	case TR_STALL:
		snprintf(what, sizeof(what),
			 "stall: fiber %" PRIu64 " on worker %u, %" PRIu64
			 " ms", e->fiber, e->worker, e->arg);
		break;
	default:
		return;
	}
	fprintf(out, "%s\n{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":%u,"
		     "\"ts\":%.3f,\"name\":\"",
		*first ? "" : ",", tid, ts_us(e->ts));
	json_str(out, what);
	fprintf(out, "\",\"args\":{\"fiber\":%" PRIu64 "}}", e->fiber);
	*first = false;
}

static int write_file(void)
{
	struct names nm = { 0 };
	bool first = true;
	uint64_t from, to;
	FILE *out;
	int err = 0;

	out = fopen(tr.path, "w");
	if (!out)
		return -errno;
	for (unsigned i = 0; i <= tr.nr_workers; i++) {
		ring_span(&tr.rings[i], &from, &to);
		for (uint64_t k = from; k < to; k++) {
			const struct trace_rec *e =
				&tr.rings[i].v[k & tr.rings[i].mask];

			if ((e->type & 0xffffff) == TR_NAME)
				names_add(&nm, e->fiber, e->type >> 24, e->arg);
		}
	}
	fprintf(out, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[");
	for (unsigned i = 0; i <= tr.nr_workers; i++) {
		bool mon = i == tr.nr_workers;
		uint64_t open = 0, t_open = 0;

		char tname[32];

		if (mon)
			snprintf(tname, sizeof(tname), "monitor");
		else
			snprintf(tname, sizeof(tname), "worker %u", i);
		fprintf(out, "%s\n{\"ph\":\"M\",\"pid\":1,\"tid\":%u,\"name\":"
			     "\"thread_name\",\"args\":{\"name\":\"%s\"}}",
			first ? "" : ",", i, tname);
		first = false;
		ring_span(&tr.rings[i], &from, &to);
		for (uint64_t k = from; k < to; k++) {
			const struct trace_rec *e =
				&tr.rings[i].v[k & tr.rings[i].mask];
			unsigned type = e->type & 0xffffff;

			if (type == TR_RUN || type == TR_IDLE) {
				if (open)
					write_slice(out, &first, i, open, &nm,
						    t_open, e->ts);
				open = type == TR_RUN ? e->fiber : 0;
				t_open = e->ts;
			} else if (type != TR_NAME) {
				write_instant(out, &first, i, e);
			}
		}
		if (open)
			write_slice(out, &first, i, open, &nm, t_open, tr.tick1);
	}
	fprintf(out, "\n]}\n");
	if (ferror(out))
		err = -EIO;
	if (fclose(out) != 0 && !err)
		err = -errno;
	free(nm.ids);
	free(nm.name);
	return err;
}

void weft__trace_stop(void)
{
	int err;

	if (!weft__trace_on)
		return;
	weft__trace_on = 0;
	if (tr.rings && tr.rings[tr.nr_workers].v) {
		tr.tick1 = trace_clock();
		tr.ns1 = weft_now_ns();
		err = write_file();
		if (err)
			fprintf(stderr, "weft: WEFT_TRACE=%s: %s; no trace "
				"written\n", tr.path, strerror(-err));
	}
	if (tr.rings)
		for (unsigned i = 0; i <= tr.nr_workers; i++)
			free(tr.rings[i].v);
	free(tr.rings);
	free(tr.path);
	memset(&tr, 0, sizeof(tr));
	weft__trace_monitor = NULL;
}
