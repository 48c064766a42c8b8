/* SPDX-License-Identifier: MIT */
/*
 * echo_epoll: the single-threaded epoll echo server that weft-echo is
 * measured against in tools/bench-echo.sh. It is what a careful C
 * programmer writes without a runtime: one thread, nonblocking sockets,
 * level-triggered epoll, one 64 KiB read buffer shared by every
 * connection, and a per-connection backlog only for the bytes a write
 * could not take.
 *
 * Usage: echo_epoll [--port P] [--workers N]
 *
 * It binds 127.0.0.1:P (P = 0, the default, picks a free port), prints
 * exactly one line "listening on 127.0.0.1:PORT" on stdout and serves
 * until SIGTERM or SIGINT, then prints a one-line summary on stderr and
 * exits 0. --workers is accepted for the same command line as weft-echo
 * and ignored: this server has one thread.
 *
 * Per readiness event it reads once (level-triggered epoll reports the
 * rest next turn, and no read is wasted on EAGAIN) and writes what it
 * read straight back. If the write takes only part, the rest is kept in
 * the connection's backlog, the connection stops waiting for input and
 * waits for EPOLLOUT instead, so a peer that never reads costs at most
 * one buffer. The listening socket is drained with accept4() until
 * EAGAIN; when the process runs out of file descriptors (EMFILE, ENFILE)
 * or memory, the listening socket leaves the interest set for
 * ACCEPT_BACKOFF_MS and the server keeps serving the connections it has.
 *
 * Threads: the main thread only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* Bytes one read() may take. */
#define READ_BUF_SIZE (64 * 1024)
/* Events one epoll_wait() may return. */
#define MAX_EVENTS 512
/* How long the listening socket rests after EMFILE and the like. */
#define ACCEPT_BACKOFF_MS 100

/* One accepted connection. */
struct conn {
	int fd;			/* the socket, nonblocking             */
	char *pending;		/* bytes read, not yet written, or NULL */
	size_t off;		/* first unsent byte in pending        */
	size_t len;		/* bytes in pending                    */
};

/* Whole-server state; the main thread owns all of it. */
struct server {
	int epfd;		/* the epoll instance                  */
	int lfd;		/* the listening socket                */
	int sigfd;		/* signalfd for SIGTERM and SIGINT     */
	bool accepting;		/* lfd is in the interest set          */
	uint64_t nr_accepted;	/* connections accepted so far         */
	uint64_t nr_open;	/* connections open now                */
	uint64_t nr_backoffs;	/* times accept ran short of resources */
	uint64_t nr_partial;	/* writes that took only part          */
	char buf[READ_BUF_SIZE]; /* the one read buffer                */
};

/* Tags for epoll_event.data.ptr that are not connections. */
static char listen_tag;
static char signal_tag;

static void die(const char *what)
{
	fprintf(stderr, "echo_epoll: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr, "usage: echo_epoll [--port P] [--workers N]\n");
	exit(2);
}

static int listen_on(int port)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(sa);
	int one = 1;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		die("SO_REUSEADDR");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("bind");
	/* The kernel caps the backlog at net.core.somaxconn. */
	if (listen(fd, 65535) < 0)
		die("listen");
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		die("getsockname");
	printf("listening on 127.0.0.1:%d\n", ntohs(sa.sin_port));
	fflush(stdout);
	return fd;
}

static void ctl(struct server *s, int op, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	if (epoll_ctl(s->epfd, op, fd, &ev) < 0)
		die("epoll_ctl");
}

static void conn_close(struct server *s, struct conn *c)
{
	/* close() removes the socket from the interest set. */
	close(c->fd);
	free(c->pending);
	free(c);
	s->nr_open--;
}

/*
 * Write what is in the backlog. Returns 1 when it is empty (the
 * connection waits for input again), 0 when the socket is still full,
 * -1 when the connection is gone.
 */
static int conn_flush(struct server *s, struct conn *c)
{
	while (c->off < c->len) {
		ssize_t n = write(c->fd, c->pending + c->off, c->len - c->off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		c->off += (size_t)n;
	}
	free(c->pending);
	c->pending = NULL;
	c->off = 0;
	c->len = 0;
	ctl(s, EPOLL_CTL_MOD, c->fd, EPOLLIN | EPOLLRDHUP, c);
	return 1;
}

/*
 * One read and its echo. Bytes the socket cannot take now go to the
 * backlog, and the connection waits for EPOLLOUT instead of input.
 */
static void conn_readable(struct server *s, struct conn *c)
{
	ssize_t n;
	ssize_t w;

	n = read(c->fd, s->buf, sizeof(s->buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(s, c);
		return;
	}
	w = write(c->fd, s->buf, (size_t)n);
	if (w < 0) {
		if (errno != EAGAIN && errno != EINTR) {
			conn_close(s, c);
			return;
		}
		w = 0;
	}
	if (w == n)
		return;
	s->nr_partial++;
	c->len = (size_t)(n - w);
	c->off = 0;
	c->pending = malloc(c->len);
	if (!c->pending) {
		conn_close(s, c);
		return;
	}
	memcpy(c->pending, s->buf + w, c->len);
	ctl(s, EPOLL_CTL_MOD, c->fd, EPOLLOUT, c);
}

/*
 * Accept until the queue is empty. Out of descriptors or memory, take the
 * listening socket out of the interest set; the main loop puts it back
 * after ACCEPT_BACKOFF_MS, so the server neither exits nor spins.
 */
static void accept_all(struct server *s)
{
	for (;;) {
		int one = 1;
		struct conn *c;
		int fd;

		fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			switch (errno) {
			case EAGAIN:
				return;
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
				continue;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				s->nr_backoffs++;
				ctl(s, EPOLL_CTL_DEL, s->lfd, 0, NULL);
				s->accepting = false;
				return;
			default:
				die("accept4");
			}
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		ctl(s, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLRDHUP, c);
		s->nr_accepted++;
		s->nr_open++;
	}
}

static void serve(struct server *s)
{
	struct epoll_event evs[MAX_EVENTS];

	for (;;) {
		int timeout_ms = s->accepting ? -1 : ACCEPT_BACKOFF_MS;
		int n = epoll_wait(s->epfd, evs, MAX_EVENTS, timeout_ms);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		if (n == 0 && !s->accepting) {
			/* The backoff is over: try accepting again. */
			s->accepting = true;
			ctl(s, EPOLL_CTL_ADD, s->lfd, EPOLLIN, &listen_tag);
			continue;
		}
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			struct conn *c = p;

			if (p == &listen_tag) {
				accept_all(s);
			} else if (p == &signal_tag) {
				return;
			} else if (c->pending) {
				/* EPOLLOUT, or HUP/ERR for the write to see. */
				if (conn_flush(s, c) < 0)
					conn_close(s, c);
			} else {
				/* Also on HUP: read sees EOF or the error. */
				conn_readable(s, c);
			}
		}
	}
}

int main(int argc, char **argv)
{
	struct server *s;
	sigset_t mask;
	int port = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--workers") && i + 1 < argc)
			i++;
		else
			usage();
	}
	if (port < 0 || port > 65535)
		usage();

	s = calloc(1, sizeof(*s));
	if (!s)
		die("calloc");
	/* A peer that resets must not kill the server with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		die("sigprocmask");
	s->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->sigfd < 0)
		die("signalfd");
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0)
		die("epoll_create1");
	s->lfd = listen_on(port);
	ctl(s, EPOLL_CTL_ADD, s->sigfd, EPOLLIN, &signal_tag);
	ctl(s, EPOLL_CTL_ADD, s->lfd, EPOLLIN, &listen_tag);
	s->accepting = true;

	serve(s);
	fprintf(stderr, "echo_epoll: accepted=%llu open=%llu "
		"accept_backoffs=%llu partial_writes=%llu\n",
		(unsigned long long)s->nr_accepted,
		(unsigned long long)s->nr_open,
		(unsigned long long)s->nr_backoffs,
		(unsigned long long)s->nr_partial);
	return 0;
}
