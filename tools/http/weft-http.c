/* SPDX-License-Identifier: MIT */
/*
 * weft-http: an HTTP/1.1 server on weft, one fiber per connection.
 *
 *	weft-http [--port P] [--addr A] [--workers N] [--backend B]
 *		  [--root DIR] [--max-conns N] [--header-timeout MS]
 *		  [--keepalive-timeout MS] [--send-timeout MS]
 *		  [--shutdown-timeout MS] [--max-header-bytes N]
 *		  [--max-body-bytes N]
 *
 * What it serves (GET and HEAD; any other method is answered 405):
 *   /           a fixed "Hello, world!\n" (the benchmark's fixed response)
 *   /_status    a small JSON page: weft_stats and the server's counters
 *   /PATH       the regular file PATH under --root (404 without --root,
 *               for a missing file, a directory or anything not regular;
 *               symbolic links are followed, as nginx does by default)
 * Keep-alive and pipelining as HTTP/1.1 says (HTTP/1.0 only with
 * "Connection: keep-alive"); responses to pipelined requests go out in
 * order, several in one send. Ranges, conditional requests and
 * compression are not implemented: a Range header is ignored and the
 * whole file sent (RFC 9110 allows that).
 *
 * Bad input gets an answer and a close: a malformed request (or a 1.1
 * request without Host) 400, a target over 2 KiB 414, request line and
 * headers over --max-header-bytes (or more than 100 header lines) 431, a
 * body over --max-body-bytes 413. After such an answer the server stops
 * writing, reads and drops what the client still sends for up to a
 * second (a lingering close, so the client sees the answer rather than a
 * reset), then closes.
 *
 * Timeouts. A request (line, headers and body) must arrive within
 * --header-timeout of its first byte, or of the accept for a
 * connection's first request: a slowloris client is cut there (408 if it
 * had sent part of a request). A keep-alive connection idle for
 * --keepalive-timeout is closed. A send that makes no progress within
 * --send-timeout closes the connection: a client that never reads its
 * responses is not read from meanwhile (the fiber is blocked in send), so
 * it holds one input and one output buffer, never more.
 *
 * Limits. At most --max-conns connections are open at once; further ones
 * wait in the listen backlog. The soft RLIMIT_NOFILE is raised to the
 * hard limit at start. When accept fails for want of descriptors or
 * memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) the acceptor backs off, 1 ms
 * doubling to 100 ms, and keeps trying, while open connections are
 * served; a file that cannot be opened for that reason is answered 503.
 *
 * Idle connections. A keep-alive connection idle for a second gives up
 * its fiber: it waits, as a small record registered one-shot in an epoll
 * set that one fiber polls (park_main()), and gets a new fiber when its
 * next bytes arrive. 10,000 idle connections then cost the records, not
 * 10,000 stacks and buffers.
 *
 * SIGTERM or SIGINT: stop accepting, close idle keep-alive connections,
 * let requests in flight finish (their responses say Connection: close),
 * and exit 0 once all connections are closed or --shutdown-timeout has
 * passed, whichever is first; connections still open then are cut.
 *
 * Files: one that fits in the connection's 16 KiB output buffer beside
 * its head is read into it (weft_pread) and sent with the head; a bigger
 * one goes out with weft_sendfile (io_uring: splice through a pipe;
 * epoll: sendfile(2)), never copied through user memory.
 *
 * Threads: main() runs on the thread that becomes worker 0; every other
 * function here runs in a fiber, on whichever worker runs it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <weft.h>

#include "../tool_util.h"
#include "http_req.h"

/* Bytes one recv may take; pipelined requests beyond it wait their turn. */
#define IN_BUF_SIZE 4096
/* Responses gathered before a send; a file streams through it too. */
#define OUT_BUF_SIZE 16384
/* Room a response head (or a small page) needs in the output buffer. */
#define OUT_RESERVE 2048
#define BACKLOG 4096
#define MAX_HEADERS 100
#define MS 1000000ll
#define LINGER_NS (1000 * MS)
#define LINGER_BYTES (64 * 1024)
/* A connection idle this long gives up its fiber (see park_main()). */
#define IDLE_GRACE_NS (1000 * MS)

static const char hello_body[] = "Hello, world!\n";

/* Set by main() before weft_run(), read-only afterwards. */
struct http_opts {
	unsigned port;
	struct in_addr addr;
	unsigned workers;
	unsigned backend;
	const char *root;
	unsigned max_conns;
	int64_t header_timeout_ns;
	int64_t keepalive_timeout_ns;
	int64_t send_timeout_ns;
	int64_t shutdown_timeout_ns;
	struct http_limits limits;
	int sigfd;
	int status;
};

/* A connection's state, for the shutdown (see conn_go_idle()). */
enum {
	CONN_IDLE,	/* no request bytes pending: may be closed at once */
	CONN_BUSY,	/* a request is being read or answered              */
	CONN_CLOSING,	/* shutdown cancelled it while idle                 */
};

/*
 * A connection. While a fiber serves it, it is on server.active; once it
 * has been idle for IDLE_GRACE_NS its fiber ends and it waits on
 * server.parked, in the parking epoll set, with no fiber and no buffer:
 * this record is all it costs (see park_main()).
 */
struct conn {
	struct conn *prev, *next;	/* on one list, under server.lock */
	weft_fiber *fiber;		/* while on server.active          */
	int fd;
	bool in_epoll;			/* registered in server.epfd       */
	bool registered;		/* on a list                       */
	int64_t idle_since;		/* when its last request ended     */
	/* CONN_*: the connection's fiber moves IDLE <-> BUSY, the shutdown
	 * IDLE -> CLOSING; both by compare-and-swap, seq_cst, so that with
	 * server.draining they form the pair conn_go_idle() describes. */
	_Atomic int state;
};

/* Counters, one slot a worker: only that worker's thread writes it
 * (relaxed load and store, no read-modify-write), /_status sums them. */
struct counters {
	_Atomic uint64_t accepted;
	_Atomic uint64_t requests;
	_Atomic uint64_t errors;	/* 4xx and 5xx answers */
	_Atomic uint64_t timeouts;	/* connections cut by a timeout */
} __attribute__((aligned(64)));

static struct server {
	const struct http_opts *o;
	int rootfd;		/* -1: no --root */
	weft_sem slots;		/* free connection slots (--max-conns) */
	weft_wg open;		/* connections open */
	weft_mutex lock;	/* guards active, parked, and conn lists */
	struct conn active;	/* connections a fiber serves */
	struct conn parked;	/* idle ones, oldest first */
	int epfd;		/* the parking epoll set */
	/* Set once by the shutdown, seq_cst (see conn_go_idle()). */
	atomic_bool draining;
	/* Connections open now: the acceptor adds, each connection takes
	 * itself off; relaxed, a figure for /_status only. */
	_Atomic int64_t nopen;
	struct counters count[WEFT_WORKERS_MAX];
} server;

/* weft_now_ns() as the signed nanoseconds deadlines are. */
static int64_t now_ns(void)
{
	return weft_now_ns();
}

static void count_add(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

static struct counters *my_counters(void)
{
	return &server.count[weft_worker_id() % WEFT_WORKERS_MAX];
}

static uint64_t count_sum(size_t offset)
{
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < WEFT_WORKERS_MAX; i++)
		sum += atomic_load_explicit(
			(_Atomic uint64_t *)((char *)&server.count[i] + offset),
			memory_order_relaxed);
	return sum;
}

/* The Date header of this second, formatted once a second a thread. */
static const char *date_now(void)
{
	static __thread time_t last;
	static __thread char buf[30];
	time_t now = time(NULL);

	if (now != last) {
		http_date(now, buf);
		last = now;
	}
	return buf;
}

struct out {
	size_t len;
	char buf[OUT_BUF_SIZE];
};

/* Send what @out holds, within --send-timeout. 0 or a negative errno. */
static int flush(int fd, struct out *out)
{
	int64_t old;
	int err;

	if (out->len == 0)
		return 0;
	old = weft_set_deadline(now_ns() + server.o->send_timeout_ns);
	err = send_all(fd, out->buf, out->len);
	weft_set_deadline(old);
	out->len = 0;
	if (err == -ETIMEDOUT)
		count_add(&my_counters()->timeouts);
	return err;
}

/* Append a whole small response: head and @body (NULL: none). */
static void respond(struct out *out, int status, const char *type,
		    const char *body, size_t body_len, bool keep_alive,
		    bool head_only, const char *extra)
{
	size_t n = http_head(out->buf + out->len, sizeof(out->buf) - out->len,
			     status, type, body_len, keep_alive, extra,
			     date_now());

	out->len += n;
	if (status >= 400)
		count_add(&my_counters()->errors);
	if (!head_only && body && n && body_len <= sizeof(out->buf) - out->len) {
		memcpy(out->buf + out->len, body, body_len);
		out->len += body_len;
	}
}

/* An error page: "404 Not Found\n". */
static void respond_error(struct out *out, int status, bool keep_alive,
			  bool head_only, const char *extra)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", status,
			 http_reason(status));

	respond(out, status, "text/plain", body, (size_t)n, keep_alive,
		head_only, extra);
}

static void respond_status(struct out *out, bool keep_alive, bool head_only)
{
	struct weft_stats st = { 0 };
	char body[1024];
	int n;

	weft_stats(&st);
	n = snprintf(body, sizeof(body),
		"{\"backend\":\"%s\",\"workers\":%u,"
		"\"fibers_live\":%llu,\"fibers_spawned\":%llu,"
		"\"steals\":%llu,\"parks\":%llu,\"rescued\":%llu,"
		"\"latency_p50_ns\":%llu,\"latency_p99_ns\":%llu,"
		"\"latency_max_ns\":%llu,"
		"\"connections_open\":%lld,\"connections_accepted\":%llu,"
		"\"requests\":%llu,\"errors\":%llu,\"timeouts\":%llu}\n",
		st.backend == WEFT_BACKEND_EPOLL ? "epoll" : "io_uring",
		st.workers, (unsigned long long)st.live,
		(unsigned long long)st.spawned, (unsigned long long)st.steals,
		(unsigned long long)st.parks, (unsigned long long)st.rescued,
		(unsigned long long)st.latency_p50_ns,
		(unsigned long long)st.latency_p99_ns,
		(unsigned long long)st.latency_max_ns,
		(long long)atomic_load_explicit(&server.nopen,
						memory_order_relaxed),
		(unsigned long long)count_sum(offsetof(struct counters, accepted)),
		(unsigned long long)count_sum(offsetof(struct counters, requests)),
		(unsigned long long)count_sum(offsetof(struct counters, errors)),
		(unsigned long long)count_sum(offsetof(struct counters, timeouts)));
	respond(out, 200, "application/json", body, (size_t)n, keep_alive,
		head_only, NULL);
}

/*
 * Answer a GET or HEAD for the file @path under the root. The head goes
 * into @out; a body that fits there too is read in behind it (one send
 * for both, and pipelined answers keep going out together), a bigger one
 * goes out with weft_sendfile() once @out is flushed, without passing
 * through user memory. Returns whether the connection may go on (false
 * after a failed send, or a file that shrank under us).
 */
static bool respond_file(int fd, struct out *out, const char *path,
			 bool keep_alive, bool head_only)
{
	struct stat stbuf;
	int64_t off = 0, size;
	size_t n;
	int ffd;

	ffd = weft_openat(server.rootfd, path, O_RDONLY | O_CLOEXEC, 0);
	if (ffd < 0) {
		int status = ffd == -EACCES || ffd == -EPERM ? 403 :
			     ffd == -EMFILE || ffd == -ENFILE ||
			     ffd == -ENOMEM ? 503 :
			     ffd == -ENOENT || ffd == -ENOTDIR ||
			     ffd == -ELOOP || ffd == -ENAMETOOLONG ? 404 : 500;

		respond_error(out, status, keep_alive, head_only, NULL);
		return keep_alive;
	}
	if (fstat(ffd, &stbuf) != 0 || !S_ISREG(stbuf.st_mode)) {
		close(ffd);
		respond_error(out, 404, keep_alive, head_only, NULL);
		return keep_alive;
	}
	size = stbuf.st_size;
	n = http_head(out->buf + out->len, sizeof(out->buf) - out->len, 200,
		      http_mime_type(path), (uint64_t)size, keep_alive, NULL,
		      date_now());
	out->len += n;
	if (!head_only && size <= (int64_t)(sizeof(out->buf) - out->len)) {
		while (off < size) {
			ssize_t got = weft_pread(ffd, out->buf + out->len,
						 (size_t)(size - off), off);

			if (got <= 0)
				break;
			out->len += (size_t)got;
			off += got;
		}
	} else if (!head_only && flush(fd, out) == 0) {
		int64_t old = weft_set_deadline(now_ns() +
						server.o->send_timeout_ns);

		while (off < size) {
			ssize_t sent = weft_sendfile(fd, ffd, off,
						     (size_t)(size - off));

			if (sent <= 0) {
				if (sent == -ETIMEDOUT)
					count_add(&my_counters()->timeouts);
				break;
			}
			off += sent;
			/* The send timeout is for a stall, not the file. */
			weft_set_deadline(now_ns() + server.o->send_timeout_ns);
		}
		weft_set_deadline(old);
	}
	close(ffd);
	/* A short body breaks the framing: only a close ends it cleanly. */
	return keep_alive && (head_only || off == size);
}

/*
 * Answer the request @r has completed; the response goes into @out.
 * Returns whether the connection may carry another request.
 */
static bool handle(int fd, struct http_req *r, struct out *out)
{
	unsigned method = http_req_method(r);
	bool head_only = method == HTTP_HEAD;
	bool keep_alive = http_req_keep_alive(r) &&
		!atomic_load(&server.draining);
	char path[HTTP_TARGET_MAX + 1];

	count_add(&my_counters()->requests);
	if (sizeof(out->buf) - out->len < OUT_RESERVE && flush(fd, out) < 0)
		return false;
	if (method != HTTP_GET && method != HTTP_HEAD) {
		respond_error(out, 405, keep_alive, false,
			      "Allow: GET, HEAD\r\n");
		return keep_alive;
	}
	if (http_req_path(r, path, sizeof(path)) < 0) {
		respond_error(out, 400, false, head_only, NULL);
		return false;
	}
	if (path[0] == '\0') {
		respond(out, 200, "text/plain", hello_body,
			sizeof(hello_body) - 1, keep_alive, head_only, NULL);
		return keep_alive;
	}
	if (strcmp(path, "_status") == 0) {
		respond_status(out, keep_alive, head_only);
		return keep_alive;
	}
	if (server.rootfd < 0) {
		respond_error(out, 404, keep_alive, head_only, NULL);
		return keep_alive;
	}
	return respond_file(fd, out, path, keep_alive, head_only);
}

/*
 * After an error answer: stop writing, read and drop what the client
 * still sends (up to LINGER_BYTES, for up to LINGER_NS) so that closing
 * with unread input does not reset the connection before the client has
 * read the answer.
 */
static void linger(int fd)
{
	int64_t old = weft_set_deadline(now_ns() + LINGER_NS);
	char sink[1024];
	size_t total = 0;
	ssize_t n;

	shutdown(fd, SHUT_WR);
	while (total < LINGER_BYTES &&
	       (n = weft_recv(fd, sink, sizeof(sink), 0)) > 0)
		total += (size_t)n;
	weft_set_deadline(old);
}

/*
 * Mark @c idle between requests. Returns false if the server is draining,
 * and the connection must close. The pair with the shutdown: it sets
 * server.draining, then tries IDLE -> CLOSING on each connection (and
 * cancels those it moves); a connection stores IDLE, then reads
 * draining. Both seq_cst: either the shutdown sees IDLE and cancels the
 * fiber (its recv returns -ECANCELED), or the connection sees draining.
 */
static bool conn_go_idle(struct conn *c)
{
	atomic_store(&c->state, CONN_IDLE);
	return !atomic_load(&server.draining);
}

/* The first bytes of a request arrived: false if the shutdown closed
 * the connection meanwhile. */
static bool conn_go_busy(struct conn *c)
{
	int idle = CONN_IDLE;

	return atomic_compare_exchange_strong(&c->state, &idle, CONN_BUSY);
}

/* Lists of connections; the caller holds server.lock. */
static void list_add_tail(struct conn *head, struct conn *c)
{
	c->prev = head->prev;
	c->next = head;
	head->prev->next = c;
	head->prev = c;
}

static void list_del(struct conn *c)
{
	c->prev->next = c->next;
	c->next->prev = c->prev;
}

/* Close @c for good and give its slot back; it is on no list. */
static void conn_free(struct conn *c)
{
	close(c->fd);
	atomic_fetch_sub_explicit(&server.nopen, 1, memory_order_relaxed);
	free(c);
	weft_sem_release(&server.slots);
	weft_wg_done(&server.open);
}

/*
 * Park @c: its fiber is about to end, and the parking set waits for its
 * next bytes. False if the server is draining (checked under the lock,
 * which close_idle() takes after setting draining): close it instead.
 */
static bool conn_park(struct conn *c)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT,
		.data.ptr = c,
	};
	bool ok = false;

	weft_mutex_lock(&server.lock);
	if (!atomic_load(&server.draining) &&
	    epoll_ctl(server.epfd, c->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
		      c->fd, &ev) == 0) {
		c->in_epoll = true;
		c->fiber = NULL;
		list_del(c);
		list_add_tail(&server.parked, c);
		ok = true;
	}
	weft_mutex_unlock(&server.lock);
	return ok;
}

/*
 * One connection: read, parse, answer, until the client closes, an error
 * or a timeout, or the shutdown. @arg is its struct conn, which this
 * fiber frees. Whatever goes wrong here ends this connection only.
 */
static void *conn_main(void *arg)
{
	const struct http_opts *o = server.o;
	struct conn *c = arg;
	struct http_req req;
	struct out out;
	char in[IN_BUF_SIZE];
	/* The first request's time runs from the accept; a parked
	 * connection's keep-alive time from its last request. */
	int64_t deadline = c->registered ?
		c->idle_since + o->keepalive_timeout_ns :
		now_ns() + o->header_timeout_ns;
	/* When an idle fiber gives up and parks: not before a request has
	 * ended on this fiber (a woken connection has bytes to read). */
	int64_t park_at = INT64_MAX;
	bool idle = true;

	c->fiber = weft_self();
	if (!c->registered) {
		weft_mutex_lock(&server.lock);
		list_add_tail(&server.active, c);
		c->registered = true;
		weft_mutex_unlock(&server.lock);
	}
	http_req_init(&req, &o->limits);
	out.len = 0;
	if (!conn_go_idle(c))
		goto done;
	for (;;) {
		int64_t old, wait = deadline;
		ssize_t n;
		size_t at = 0;

		/* Idle: past the grace, give the fiber up (park). */
		if (idle && park_at < wait)
			wait = park_at;
		old = weft_set_deadline(wait);
		n = weft_recv(c->fd, in, sizeof(in), 0);
		weft_set_deadline(old);
		if (n == -ETIMEDOUT && wait < deadline) {
			if (conn_park(c))
				return NULL;
			break;
		}
		if (n <= 0) {
			if (n == -ETIMEDOUT) {
				count_add(&my_counters()->timeouts);
				if (req.started) {
					respond_error(&out, 408, false, false,
						      NULL);
					flush(c->fd, &out);
				}
			}
			break;
		}
		if (idle) {
			if (!conn_go_busy(c))
				break;
			idle = false;
			/* A later request's time runs from its first byte
			 * (the first one's runs from the accept). */
			if (c->idle_since)
				deadline = now_ns() + o->header_timeout_ns;
		}
		/* Every request complete in these bytes, in order. */
		while (at < (size_t)n) {
			at += http_req_parse(&req, in + at, (size_t)n - at);
			if (req.error) {
				respond_error(&out, req.error, false, false,
					      NULL);
				if (flush(c->fd, &out) == 0)
					linger(c->fd);
				goto done;
			}
			if (!req.complete)
				break;	/* all consumed: read more */
			if (!handle(c->fd, &req, &out)) {
				/* Our close, after an answer: linger, so
				 * unread input cannot reset the answer. */
				if (flush(c->fd, &out) == 0)
					linger(c->fd);
				goto done;
			}
			/* The next request's time starts now. */
			http_req_parse(&req, NULL, 0);
			deadline = now_ns() + o->header_timeout_ns;
		}
		/* Answers to everything complete go out before we wait. */
		if (flush(c->fd, &out) < 0)
			break;
		if (req.started)
			continue;	/* mid-request: read the rest */
		idle = true;
		if (!conn_go_idle(c))
			break;
		c->idle_since = now_ns();
		deadline = c->idle_since + o->keepalive_timeout_ns;
		park_at = c->idle_since + IDLE_GRACE_NS;
	}
done:
	weft_mutex_lock(&server.lock);
	list_del(c);
	weft_mutex_unlock(&server.lock);
	conn_free(c);
	return NULL;
}

/*
 * The parking set: connections idle past IDLE_GRACE_NS wait here with
 * no fiber, registered one-shot in server.epfd, which this fiber polls
 * (an epoll set is itself pollable, through either backend). When bytes
 * (or a hang-up) arrive, the connection goes back on server.active with
 * a new fiber; when its keep-alive time runs out, it is closed here.
 * Parked connections are in the order they went idle, and all share
 * one timeout, so the oldest is the next to expire. Ends when cancelled.
 */
static void *park_main(void *arg)
{
	const struct http_opts *o = server.o;
	struct epoll_event evs[64];
	struct conn *wake[64], *expired[64];

	(void)arg;
	for (;;) {
		int64_t now = now_ns(), timeout = o->keepalive_timeout_ns / 4;
		int n, i, nwake = 0, nexp = 0, r;

		if (timeout > 1000 * MS)
			timeout = 1000 * MS;
		weft_mutex_lock(&server.lock);
		if (server.parked.next != &server.parked) {
			int64_t left = server.parked.next->idle_since +
				       o->keepalive_timeout_ns - now;

			if (left < timeout)
				timeout = left > 0 ? left : 0;
		}
		weft_mutex_unlock(&server.lock);
		r = weft_poll(server.epfd, POLLIN, timeout);
		if (r == -ECANCELED)
			break;
		n = epoll_wait(server.epfd, evs, 64, 0);
		now = now_ns();
		weft_mutex_lock(&server.lock);
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			list_del(c);
			list_add_tail(&server.active, c);
			atomic_store(&c->state, CONN_BUSY);
			wake[nwake++] = c;
		}
		while (nexp < 64 && server.parked.next != &server.parked &&
		       server.parked.next->idle_since +
		       o->keepalive_timeout_ns <= now) {
			struct conn *c = server.parked.next;

			list_del(c);
			expired[nexp++] = c;
		}
		weft_mutex_unlock(&server.lock);
		for (i = 0; i < nwake; i++)
			if (weft_go(conn_main, wake[i]) != 0) {
				weft_mutex_lock(&server.lock);
				list_del(wake[i]);
				weft_mutex_unlock(&server.lock);
				conn_free(wake[i]);
			}
		for (i = 0; i < nexp; i++) {
			count_add(&my_counters()->timeouts);
			conn_free(expired[i]);
		}
	}
	return NULL;
}

/*
 * Accept connections on the listening socket @arg until cancelled, one
 * detached fiber each, within the connection limit; resource shortages
 * back off as the file comment says.
 */
static void *accept_main(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	int64_t backoff_ns = BACKOFF_MIN_NS;
	bool reported = false;

	while (weft_sem_acquire(&server.slots) == 0) {
		int one = 1;
		int fd = weft_accept(lfd, NULL, NULL, SOCK_CLOEXEC);
		struct conn *c;

		if (fd >= 0) {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				   sizeof(one));
			c = calloc(1, sizeof(*c));
			if (c) {
				c->fd = fd;
				atomic_init(&c->state, CONN_BUSY);
				weft_wg_add(&server.open, 1);
				atomic_fetch_add_explicit(&server.nopen, 1,
							  memory_order_relaxed);
				if (weft_go(conn_main, c) == 0) {
					count_add(&my_counters()->accepted);
					backoff_ns = BACKOFF_MIN_NS;
					continue;
				}
				atomic_fetch_sub_explicit(&server.nopen, 1,
							  memory_order_relaxed);
				weft_wg_done(&server.open);
				free(c);
			}
			close(fd);
			/* No memory for a record or a fiber: a shortage. */
		} else if (fd == -ECANCELED) {
			break;
		} else if (accept_err_is_per_conn(fd)) {
			weft_sem_release(&server.slots);
			continue;
		} else if (fd != -EMFILE && fd != -ENFILE && fd != -ENOBUFS &&
			   fd != -ENOMEM && fd != -EAGAIN && !reported) {
			fprintf(stderr, "weft-http: accept: %s; retrying\n",
				strerror(-fd));
			reported = true;
		}
		weft_sem_release(&server.slots);
		if (weft_sleep_ns(backoff_ns) == -ECANCELED)
			break;
		backoff_ns *= 2;
		if (backoff_ns > BACKOFF_MAX_NS)
			backoff_ns = BACKOFF_MAX_NS;
	}
	return NULL;
}

/*
 * The shutdown's half of conn_go_idle() and conn_park(): close every
 * idle connection, parked or not. The parking fiber has ended, so no
 * one else takes connections off server.parked.
 */
static void close_idle(void)
{
	struct conn *c;

	atomic_store(&server.draining, true);
	weft_mutex_lock(&server.lock);
	for (c = server.active.next; c != &server.active; c = c->next) {
		int idle = CONN_IDLE;

		if (atomic_compare_exchange_strong(&c->state, &idle,
						   CONN_CLOSING))
			weft_cancel(c->fiber);
	}
	while (server.parked.next != &server.parked) {
		c = server.parked.next;
		list_del(c);
		conn_free(c);
	}
	weft_mutex_unlock(&server.lock);
}

/*
 * The main fiber: listen, announce the port, start the acceptor, wait for
 * SIGTERM or SIGINT, then shut down as the file comment says. Returning
 * cancels every fiber still running.
 */
static void http_main(void *arg)
{
	struct http_opts *o = arg;
	struct signalfd_siginfo si;
	weft_fiber *acceptor, *parker;
	unsigned port = 0;
	int64_t old;
	ssize_t n;
	int lfd, err;

	lfd = listen_on(o->addr, o->port, BACKLOG, &port);
	if (lfd < 0) {
		fprintf(stderr, "weft-http: listen on %s:%u: %s\n",
			inet_ntoa(o->addr), o->port, strerror(-lfd));
		o->status = 1;
		return;
	}
	err = weft_spawn(&parker, park_main, NULL,
			 &(struct weft_spawn_opts){ .name = "parking" });
	if (err == 0) {
		err = weft_spawn(&acceptor, accept_main, (void *)(intptr_t)lfd,
				 &(struct weft_spawn_opts){ .name = "acceptor" });
		if (err) {
			weft_cancel(parker);
			weft_join(parker, NULL);
		}
	}
	if (err) {
		fprintf(stderr, "weft-http: spawn: %s\n", strerror(-err));
		close(lfd);
		o->status = 1;
		return;
	}
	printf("listening on %s:%u (%s)\n", inet_ntoa(o->addr), port,
	       backend_name());
	fflush(stdout);

	do
		n = weft_read(o->sigfd, &si, sizeof(si));
	while (n == -EINTR);
	if (n != (ssize_t)sizeof(si))
		fprintf(stderr, "weft-http: signalfd: %s\n",
			n < 0 ? strerror((int)-n) : "short read");
	weft_cancel(acceptor);
	weft_join(acceptor, NULL);
	close(lfd);
	weft_cancel(parker);
	weft_join(parker, NULL);
	close_idle();
	old = weft_set_deadline(now_ns() + o->shutdown_timeout_ns);
	err = weft_wg_wait(&server.open);
	weft_set_deadline(old);
	printf("stopped: %llu requests, %lld connections cut at the deadline\n",
	       (unsigned long long)count_sum(offsetof(struct counters, requests)),
	       err ? (long long)atomic_load_explicit(&server.nopen,
						     memory_order_relaxed) : 0ll);
	fflush(stdout);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: weft-http [options]\n"
		"  --port P               listen on port P (default 8080; 0: any)\n"
		"  --addr A               IPv4 address to listen on (default 127.0.0.1)\n"
		"  --workers N            worker threads (default 0: one per CPU; at most %u)\n"
		"  --backend B            auto (default), io_uring or epoll; WEFT_BACKEND overrides\n"
		"  --root DIR             serve the files under DIR (default: none, 404)\n"
		"  --max-conns N          connections open at once (default 65536)\n"
		"  --header-timeout MS    a request must arrive within MS (default 60000)\n"
		"  --keepalive-timeout MS close a connection idle for MS (default 75000)\n"
		"  --send-timeout MS      close a connection whose send stalls MS (default 60000)\n"
		"  --shutdown-timeout MS  on SIGTERM/SIGINT, wait at most MS (default 5000)\n"
		"  --max-header-bytes N   request line + headers, else 431 (default 16384)\n"
		"  --max-body-bytes N     request body, else 413 (default 1048576)\n"
		"Serves / (hello), /_status (JSON) and files under --root, GET and HEAD.\n"
		"Prints \"listening on ADDR:PORT (BACKEND)\" once it accepts.\n",
		WEFT_WORKERS_MAX);
}

/* Raise the soft descriptor limit to the hard one, as Go does. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static bool parse_ms(const char *s, int64_t *out)
{
	unsigned v;

	if (!parse_uint(s, 24u * 3600 * 1000, &v) || v == 0)
		return false;
	*out = (int64_t)v * MS;
	return true;
}

int main(int argc, char **argv)
{
	enum {
		OPT_ROOT = 256, OPT_MAX_CONNS, OPT_HEADER_TO, OPT_KEEPALIVE_TO,
		OPT_SEND_TO, OPT_SHUTDOWN_TO, OPT_MAX_HEADER, OPT_MAX_BODY,
		OPT_ADDR,
	};
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "addr", required_argument, NULL, OPT_ADDR },
		{ "workers", required_argument, NULL, 'w' },
		{ "backend", required_argument, NULL, 'b' },
		{ "root", required_argument, NULL, OPT_ROOT },
		{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
		{ "header-timeout", required_argument, NULL, OPT_HEADER_TO },
		{ "keepalive-timeout", required_argument, NULL, OPT_KEEPALIVE_TO },
		{ "send-timeout", required_argument, NULL, OPT_SEND_TO },
		{ "shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN_TO },
		{ "max-header-bytes", required_argument, NULL, OPT_MAX_HEADER },
		{ "max-body-bytes", required_argument, NULL, OPT_MAX_BODY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct http_opts o = {
		.port = 8080,
		.addr.s_addr = htonl(INADDR_LOOPBACK),
		.max_conns = 65536,
		.header_timeout_ns = 60000 * MS,
		.keepalive_timeout_ns = 75000 * MS,
		.send_timeout_ns = 60000 * MS,
		.shutdown_timeout_ns = 5000 * MS,
		.limits = {
			.max_header_bytes = 16384,
			.max_headers = MAX_HEADERS,
			.max_body_bytes = 1048576,
		},
		.sigfd = -1,
	};
	struct weft_config cfg = { 0 };
	unsigned v;
	int c, err;

	while ((c = getopt_long(argc, argv, "p:w:b:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!parse_uint(optarg, 65535, &o.port))
				goto bad_usage;
			break;
		case OPT_ADDR:
			if (inet_pton(AF_INET, optarg, &o.addr) != 1)
				goto bad_usage;
			break;
		case 'w':
			if (!parse_uint(optarg, WEFT_WORKERS_MAX, &o.workers))
				goto bad_usage;
			break;
		case 'b':
			if (!parse_backend(optarg, &o.backend))
				goto bad_usage;
			break;
		case OPT_ROOT:
			o.root = optarg;
			break;
		case OPT_MAX_CONNS:
			if (!parse_uint(optarg, 1u << 24, &o.max_conns) ||
			    o.max_conns == 0)
				goto bad_usage;
			break;
		case OPT_HEADER_TO:
			if (!parse_ms(optarg, &o.header_timeout_ns))
				goto bad_usage;
			break;
		case OPT_KEEPALIVE_TO:
			if (!parse_ms(optarg, &o.keepalive_timeout_ns))
				goto bad_usage;
			break;
		case OPT_SEND_TO:
			if (!parse_ms(optarg, &o.send_timeout_ns))
				goto bad_usage;
			break;
		case OPT_SHUTDOWN_TO:
			if (!parse_ms(optarg, &o.shutdown_timeout_ns))
				goto bad_usage;
			break;
		case OPT_MAX_HEADER:
			if (!parse_uint(optarg, 1u << 20, &v) || v < 256)
				goto bad_usage;
			o.limits.max_header_bytes = v;
			break;
		case OPT_MAX_BODY:
			if (!parse_uint(optarg, 1u << 30, &v))
				goto bad_usage;
			o.limits.max_body_bytes = v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad_usage;
		}
	}
	if (optind != argc)
		goto bad_usage;

	server.o = &o;
	server.rootfd = -1;
	if (o.root) {
		server.rootfd = open(o.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (server.rootfd < 0) {
			fprintf(stderr, "weft-http: --root %s: %s\n", o.root,
				strerror(errno));
			return 2;
		}
	}
	weft_sem_init(&server.slots, o.max_conns);
	weft_wg_init(&server.open);
	weft_mutex_init(&server.lock);
	server.active.next = server.active.prev = &server.active;
	server.parked.next = server.parked.prev = &server.parked;
	server.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (server.epfd < 0) {
		perror("weft-http: epoll_create1");
		return 1;
	}
	raise_nofile();

	o.sigfd = stop_signals_fd();
	if (o.sigfd < 0) {
		perror("weft-http: signalfd");
		return 1;
	}

	cfg.workers = o.workers;
	cfg.backend = o.backend;
	err = weft_run(&cfg, http_main, &o);
	if (err) {
		fprintf(stderr, "weft-http: weft_run: %s\n", strerror(-err));
		return 1;
	}
	return o.status;

bad_usage:
	usage(stderr);
	return 2;
}
