/* SPDX-License-Identifier: MIT */
/*
 * The request path of weft-http: bytes in, requests and responses out,
 * with no I/O and no weft call, so the fuzz target (fuzz_http.c) drives
 * exactly the code the server runs on bytes from the network.
 *
 * The parser is Joyent's/Node's http_parser (Debian's libhttp-parser-dev
 * 2.9.4). http_req wraps it with the limits a server needs (request line
 * and headers, header count, body), stops after each complete request so
 * pipelined requests are answered one at a time and in order, turns the
 * target into a safe path under the document root, and formats response
 * heads.
 *
 * Nothing here keeps a pointer into the caller's buffer past a call: the
 * target is copied as it arrives (it may straddle two reads), header
 * values are not kept at all, and a body is counted and dropped.
 */
#ifndef WEFT_HTTP_REQ_H
#define WEFT_HTTP_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>

/* The longest request target kept; a longer one is answered 414. */
#define HTTP_TARGET_MAX 2048

struct http_limits {
	size_t max_header_bytes; /* request line + headers; 431 past it  */
	unsigned max_headers;	 /* header lines; 431 past it            */
	uint64_t max_body_bytes; /* declared or chunked body; 413 past it */
};

/* One connection's parsing state. */
struct http_req {
	http_parser parser;
	struct http_limits lim;
	/* The request being parsed, or the one just completed. */
	size_t head_bytes;	/* bytes of its head so far, exact    */
	size_t head_seen;	/* head data seen in the current call */
	bool head_done;		/* its head has been parsed           */
	unsigned headers;	/* header lines so far                */
	uint64_t body_bytes;	/* body bytes so far (dropped)        */
	bool has_host;		/* a Host header was seen             */
	bool in_field;		/* last callback was a header field   */
	char field[5];		/* first bytes of the current field   */
	size_t field_len;
	char target[HTTP_TARGET_MAX + 1];
	size_t target_len;
	/* Outcome of the last http_req_parse(). */
	bool started;		/* bytes of a request arrived          */
	bool complete;		/* a whole request was parsed          */
	int error;		/* a status to answer and close, or 0  */
};

void http_req_init(struct http_req *r, const struct http_limits *lim);

/*
 * Parse up to @len bytes at @buf. Returns how many were consumed: it
 * stops after one complete request (r->complete), at an error (r->error
 * is the status to answer: 400, 413, 414 or 431; the connection must then
 * close), or when the bytes run out (neither: read more). Call again with
 * the rest after handling a complete request; the next request starts
 * fresh.
 */
size_t http_req_parse(struct http_req *r, const char *buf, size_t len);

/* The completed request's method (HTTP_GET, HTTP_HEAD, ...). */
static inline unsigned http_req_method(const struct http_req *r)
{
	return r->parser.method;
}

/* Whether the connection may carry another request after this one. */
bool http_req_keep_alive(const struct http_req *r);

/*
 * The path of the completed request's target, percent-decoded and made
 * relative to the document root: no leading '/', no empty, "." or ".."
 * segment (".." removes the segment before it, as nginx does), no NUL.
 * "/" gives "". The absolute form ("http://host/path") gives its path,
 * the authority ignored. Returns the length written to @out (at most
 * @cap - 1, NUL-terminated), or -1 for a target that is neither form
 * ("*", say) or climbs above the root: answer 400.
 */
int http_req_path(const struct http_req *r, char *out, size_t cap);

/*
 * Write a response head into @out (@cap bytes): status line, Server,
 * Date (@date, the IMF-fixdate), Content-Type (@type; none if NULL),
 * Content-Length, Connection: close unless @keep_alive, and @extra (more
 * header lines, each ending in CRLF, or NULL). Returns the length, or 0
 * if it does not fit.
 */
size_t http_head(char *out, size_t cap, int status, const char *type,
		 uint64_t content_length, bool keep_alive, const char *extra,
		 const char *date);

/* The reason phrase of @status ("Not Found"). */
const char *http_reason(int status);

/* A Content-Type for a file name, from its extension. */
const char *http_mime_type(const char *path);

/* The IMF-fixdate of @t ("Sun, 06 Nov 1994 08:49:37 GMT") into @out,
 * which holds at least 30 bytes. */
void http_date(long long t, char out[30]);

#endif /* WEFT_HTTP_REQ_H */
