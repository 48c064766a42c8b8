/* SPDX-License-Identifier: MIT */
/*
 * The request path of weft-http (see http_req.h): http_parser callbacks
 * that enforce the limits and copy the target, path normalisation, and
 * response heads. No I/O.
 */
#include "http_req.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static struct http_req *req_of(http_parser *p)
{
	return p->data;
}

/* Fail the request with @status: the callback's non-zero return makes
 * http_parser stop with a callback error, which parse() maps back. */
static int fail(struct http_req *r, int status)
{
	if (!r->error)
		r->error = status;
	return -1;
}

/*
 * Count @len more bytes of the head's data (target, names, values) seen
 * in this http_parser_execute() call. With the exact count of the calls
 * before (head_bytes) that is a lower bound of the head's size, so a
 * head far over the limit is refused as it arrives; http_req_parse()
 * checks the exact size when the head ends. (http_parser's own nread
 * does not count a long header value it skips through in one step.)
 */
static int check_head(struct http_req *r, size_t len)
{
	r->head_seen += len;
	if (r->head_bytes + r->head_seen > r->lim.max_header_bytes)
		return fail(r, 431);
	return 0;
}

static int on_message_begin(http_parser *p)
{
	struct http_req *r = req_of(p);

	r->headers = 0;
	r->body_bytes = 0;
	r->has_host = false;
	r->in_field = false;
	r->field_len = 0;
	r->target_len = 0;
	r->started = true;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct http_req *r = req_of(p);

	if (r->target_len + len > HTTP_TARGET_MAX)
		return fail(r, 414);
	memcpy(r->target + r->target_len, at, len);
	r->target_len += len;
	r->target[r->target_len] = '\0';
	return check_head(r, len);
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_req *r = req_of(p);
	size_t keep;

	if (!r->in_field) {
		/* A new header line. */
		r->in_field = true;
		r->field_len = 0;
		if (++r->headers > r->lim.max_headers)
			return fail(r, 431);
	}
	/* Keep enough of the name to recognise "Host". */
	keep = sizeof(r->field) - r->field_len;
	if (keep > len)
		keep = len;
	memcpy(r->field + r->field_len, at, keep);
	r->field_len += keep;
	if (len > keep)
		r->field_len = sizeof(r->field); /* longer than any we know */
	return check_head(r, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_req *r = req_of(p);

	(void)at;
	(void)len;
	if (r->in_field) {
		r->in_field = false;
		if (r->field_len == 4 && strncasecmp(r->field, "host", 4) == 0)
			r->has_host = true;
	}
	return check_head(r, len);
}

static int on_headers_complete(http_parser *p)
{
	struct http_req *r = req_of(p);

	/* RFC 9112 3.2: a 1.1 request without Host is answered 400. */
	if (p->http_major == 1 && p->http_minor >= 1 && !r->has_host)
		return fail(r, 400);
	/* A declared length is refused before any of it is read. */
	if ((p->flags & F_CONTENTLENGTH) &&
	    p->content_length > r->lim.max_body_bytes)
		return fail(r, 413);
	/* Stop here, so that http_req_parse() knows where the head ends. */
	r->head_done = true;
	http_parser_pause(p, 1);
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct http_req *r = req_of(p);

	(void)at;
	r->body_bytes += len;
	if (r->body_bytes > r->lim.max_body_bytes)
		return fail(r, 413);
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct http_req *r = req_of(p);

	r->complete = true;
	/* Stop here, so the caller answers this request before the next. */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

void http_req_init(struct http_req *r, const struct http_limits *lim)
{
	memset(r, 0, sizeof(*r));
	r->lim = *lim;
	http_parser_init(&r->parser, HTTP_REQUEST);
	r->parser.data = r;
}

size_t http_req_parse(struct http_req *r, const char *buf, size_t len)
{
	http_parser *p = &r->parser;
	enum http_errno err = HPE_OK;
	size_t done = 0;

	if (r->error)
		return 0;
	if (r->complete) {
		/* The previous request was handled: go on to the next. */
		r->complete = false;
		r->started = false;
		r->head_done = false;
		r->head_bytes = 0;
		http_parser_pause(p, 0);
	}
	while (done < len && !r->complete && !r->error) {
		/* Bytes before the head's end belong to the head (and the
		 * blank lines before a request, which it tolerates). */
		bool in_head = !r->head_done;
		size_t n;

		r->head_seen = 0;
		n = http_parser_execute(p, &settings, buf + done, len - done);
		done += n;
		err = HTTP_PARSER_ERRNO(p);
		if (in_head && !r->error) {
			r->head_bytes += n;
			if (r->head_bytes > r->lim.max_header_bytes)
				r->error = 431;
		}
		if (err == HPE_PAUSED && !r->complete)
			http_parser_pause(p, 0);	/* the head ended */
		else if (err != HPE_OK && err != HPE_PAUSED)
			break;
		/* An upgrade (Connection: Upgrade, CONNECT) ends parsing at
		 * the head; weft-http answers it as a plain request and
		 * closes, which http_req_keep_alive() says. */
		if (p->upgrade && !r->complete && !r->error && r->head_done)
			r->complete = true;
	}
	if (!r->error && err != HPE_OK && err != HPE_PAUSED)
		r->error = err == HPE_HEADER_OVERFLOW ? 431 : 400;
	return done;
}

bool http_req_keep_alive(const struct http_req *r)
{
	return !r->parser.upgrade && http_should_keep_alive(&r->parser);
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int http_req_path(const struct http_req *r, char *out, size_t cap)
{
	const char *s = r->target;
	size_t len = r->target_len, o = 0, i = 0;

	/* The absolute form ("http://host/path", RFC 9112 3.2.2, which a
	 * server must accept) is served as its path; "*" is not served. */
	if (len >= 7 && (strncasecmp(s, "http://", 7) == 0 ||
			 (len >= 8 && strncasecmp(s, "https://", 8) == 0))) {
		i = s[4] == ':' ? 7 : 8;
		while (i < len && s[i] != '/' && s[i] != '?' && s[i] != '#')
			i++;
		if (i == len || s[i] != '/') {
			/* No path: the root. */
			if (cap == 0)
				return -1;
			out[0] = '\0';
			return 0;
		}
	}
	if (cap == 0 || len == 0 || s[i] != '/')
		return -1;
	while (i < len && s[i] != '?' && s[i] != '#') {
		size_t before = o, seg, n;

		if (s[i] == '/') {
			i++;	/* empty segments are dropped */
			continue;
		}
		if (o > 0) {
			if (o + 1 >= cap)
				return -1;
			out[o++] = '/';
		}
		seg = o;
		for (; i < len && s[i] != '/' && s[i] != '?' && s[i] != '#'; i++) {
			int c = (unsigned char)s[i];

			if (c == '%') {
				int hi, lo;

				if (i + 2 >= len)
					return -1;
				hi = hex_value(s[i + 1]);
				lo = hex_value(s[i + 2]);
				if (hi < 0 || lo < 0)
					return -1;
				c = hi * 16 + lo;
				i += 2;
				/* An encoded NUL or slash would smuggle a
				 * segment past the checks below. */
				if (c == 0 || c == '/')
					return -1;
			}
			if (o + 1 >= cap)
				return -1;
			out[o++] = (char)c;
		}
		n = o - seg;
		if (n == 1 && out[seg] == '.') {
			o = before;
		} else if (n == 2 && out[seg] == '.' && out[seg + 1] == '.') {
			/* Drop the segment before; above the root is refused. */
			if (before == 0)
				return -1;
			o = before;
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		}
	}
	out[o] = '\0';
	return (int)o;
}

const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

size_t http_head(char *out, size_t cap, int status, const char *type,
		 uint64_t content_length, bool keep_alive, const char *extra,
		 const char *date)
{
	int n;

	n = snprintf(out, cap,
		     "HTTP/1.1 %d %s\r\n"
		     "Server: weft-http\r\n"
		     "Date: %s\r\n"
		     "%s%s%s"
		     "Content-Length: %llu\r\n"
		     "%s"
		     "%s"
		     "\r\n",
		     status, http_reason(status), date,
		     type ? "Content-Type: " : "", type ? type : "",
		     type ? "\r\n" : "",
		     (unsigned long long)content_length,
		     keep_alive ? "" : "Connection: close\r\n",
		     extra ? extra : "");
	if (n < 0 || (size_t)n >= cap)
		return 0;
	return (size_t)n;
}

const char *http_mime_type(const char *path)
{
	static const struct {
		const char *ext;
		const char *type;
	} types[] = {
		{ "html", "text/html" },
		{ "htm", "text/html" },
		{ "txt", "text/plain" },
		{ "css", "text/css" },
		{ "js", "application/javascript" },
		{ "json", "application/json" },
		{ "png", "image/png" },
		{ "jpg", "image/jpeg" },
		{ "jpeg", "image/jpeg" },
		{ "gif", "image/gif" },
		{ "svg", "image/svg+xml" },
		{ "ico", "image/x-icon" },
		{ "pdf", "application/pdf" },
	};
	const char *dot = strrchr(path, '.');
	size_t i;

	if (dot && !strchr(dot, '/'))
		for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcasecmp(dot + 1, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

void http_date(long long t, char out[30])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 30, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}
