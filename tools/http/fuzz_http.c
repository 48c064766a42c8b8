/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target over weft-http's request path (http_req.c): the
 * bytes a client sends, parsed, routed to a path and answered with a
 * response head, exactly as the server does it but without sockets.
 *
 * Beyond the sanitizers' own checks it asserts what the server relies
 * on: parsing never consumes more than it was given and stops at a
 * complete request or an error; a path is relative, under the root (no
 * "." or ".." segment, no empty one, no NUL) and NUL-terminated within
 * its buffer; a response head fits or reports 0. And it asserts that
 * how the bytes arrive does not matter: the input fed in one piece and
 * fed in pieces whose sizes come from the input itself give the same
 * requests and paths, and fail alike (a read boundary must not change a
 * parse; only which error status a bad request gets may differ).
 *
 *	clang -fsanitize=fuzzer,address,undefined ... (tests/fuzz_http.sh)
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_req.h"

/* What one feeding of the input produced, for the comparison. */
struct outcome {
	unsigned requests;
	int error;
	uint64_t digest;	/* of methods, paths and keep-alive flags */
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n--)
		h = (h ^ *b++) * 0x100000001b3ull;
	return h;
}

static void check_path(const char *path, int len, size_t cap)
{
	const char *seg = path;
	int i;

	assert(len >= 0 && (size_t)len < cap);
	assert(path[len] == '\0');
	assert(strlen(path) == (size_t)len);
	if (len == 0)
		return;
	assert(path[0] != '/' && path[len - 1] != '/');
	for (i = 0; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		/* [seg, path + i) is one segment: never empty, ".", "..". */
		assert(path + i > seg);
		assert(!(path + i - seg == 1 && seg[0] == '.'));
		assert(!(path + i - seg == 2 && seg[0] == '.' && seg[1] == '.'));
		seg = path + i + 1;
	}
}

/* Handle a complete request as weft-http's handle() would. */
static void answer(struct http_req *r, struct outcome *o)
{
	char path[HTTP_TARGET_MAX + 1], head[512];
	unsigned method = http_req_method(r);
	bool keep = http_req_keep_alive(r);
	int len = http_req_path(r, path, sizeof(path));
	size_t n;

	o->requests++;
	o->digest = mix(o->digest, &method, sizeof(method));
	o->digest = mix(o->digest, &keep, sizeof(keep));
	o->digest = mix(o->digest, &len, sizeof(len));
	if (len >= 0) {
		check_path(path, len, sizeof(path));
		o->digest = mix(o->digest, path, (size_t)len);
		n = http_head(head, sizeof(head), 200, http_mime_type(path),
			      (uint64_t)len, keep, NULL,
			      "Thu, 01 Jan 1970 00:00:00 GMT");
		assert(n > 0 && n < sizeof(head));
	}
	/* A tiny buffer must refuse, never overflow. */
	len = http_req_path(r, path, 4);
	if (len >= 0)
		check_path(path, len, 4);
	assert(http_head(head, 16, 200, NULL, 0, true, NULL, "x") == 0);
}

/* Feed @data in pieces of at most @piece bytes (0: all at once). */
static void feed(const uint8_t *data, size_t size, const uint8_t *sizes,
		 size_t nsizes, struct outcome *o)
{
	static const struct http_limits lim = {
		.max_header_bytes = 2048,
		.max_headers = 16,
		.max_body_bytes = 4096,
	};
	struct http_req *r = malloc(sizeof(*r));
	size_t off = 0, k = 0;

	memset(o, 0, sizeof(*o));
	http_req_init(r, &lim);
	while (off < size && !r->error) {
		size_t piece = size - off, at = 0;

		if (nsizes) {
			piece = 1 + sizes[k++ % nsizes] % 64;
			if (piece > size - off)
				piece = size - off;
		}
		while (at < piece) {
			size_t n = http_req_parse(r, (const char *)data + off + at,
						  piece - at);

			assert(n <= piece - at);
			at += n;
			if (r->error)
				break;
			if (!r->complete) {
				/* Stopped short: only on a complete request
				 * or an error, else it took everything. */
				assert(at == piece);
				break;
			}
			answer(r, o);
			/* After an upgrade the rest is not HTTP. */
			if (r->parser.upgrade)
				goto out;
			http_req_parse(r, NULL, 0);
		}
		off += at;
		if (r->error)
			break;
	}
out:
	o->error = r->error;
	if (r->error)
		assert(r->error == 400 || r->error == 413 || r->error == 414 ||
		       r->error == 431);
	free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome whole, pieces;

	feed(data, size, NULL, 0, &whole);
	/* The input's own bytes choose the piece sizes. */
	feed(data, size, data, size < 16 ? size : 16, &pieces);
	assert(whole.requests == pieces.requests);
	/* Which status an invalid request gets may depend on the pieces:
	 * http_parser hands over a header name at a read boundary before
	 * it has seen the bad byte after it, so a count limit (431) can
	 * come before a syntax error (400). That it fails may not. */
	assert((whole.error == 0) == (pieces.error == 0));
	assert(whole.digest == pieces.digest);
	return 0;
}
