/* SPDX-License-Identifier: MIT */
/*
 * echo_threads: the thread-per-connection echo server that weft-echo is
 * measured against in tools/bench-echo.sh. It is the model weft offers
 * to keep (straight-line blocking code per connection) at the price the
 * kernel charges for it: one OS thread per connection, each switch
 * between connections a kernel context switch.
 *
 * Usage: echo_threads [--port P] [--workers N]
 *
 * It binds 127.0.0.1:P (P = 0, the default, picks a free port), prints
 * exactly one line "listening on 127.0.0.1:PORT" on stdout and serves
 * until SIGTERM or SIGINT, then prints a one-line summary on stderr and
 * exits 0. --workers is accepted for the same command line as weft-echo
 * and ignored: the kernel schedules the threads.
 *
 * The main thread accepts until EAGAIN and starts one detached thread per
 * connection with a THREAD_STACK_SIZE stack, so that 10,000 connections
 * cost 10,000 small stacks, not 10,000 default 8 MiB reservations. Each
 * thread reads into its own heap buffer of READ_BUF_SIZE (untouched
 * pages cost nothing) and writes every byte back before reading again.
 * If pthread_create fails (out of threads or memory), the connection is
 * closed and counted, and the server keeps serving. EMFILE and the like
 * on accept make the main thread sleep ACCEPT_BACKOFF_MS, not spin.
 *
 * Threads: the main thread (accept, signals) and one per connection.
 * SIGTERM and SIGINT are blocked in all of them and read from a
 * signalfd by the main thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* Bytes one read() may take. */
#define READ_BUF_SIZE (64 * 1024)
/* Stack of each connection thread. */
#define THREAD_STACK_SIZE (64 * 1024)
/* How long accept rests after EMFILE and the like. */
#define ACCEPT_BACKOFF_MS 100

/* Counters; connection threads update them with atomic builtins. */
static uint64_t nr_accepted;	/* main thread only                  */
static uint64_t nr_refused;	/* main thread only: no thread       */
static uint64_t nr_backoffs;	/* main thread only                  */
static uint64_t nr_open;	/* atomic: connection threads alive  */

static void die(const char *what, int err)
{
	fprintf(stderr, "echo_threads: %s: %s\n", what, strerror(err));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr, "usage: echo_threads [--port P] [--workers N]\n");
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
		die("socket", errno);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		die("SO_REUSEADDR", errno);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("bind", errno);
	/* The kernel caps the backlog at net.core.somaxconn. */
	if (listen(fd, 65535) < 0)
		die("listen", errno);
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		die("getsockname", errno);
	printf("listening on 127.0.0.1:%d\n", ntohs(sa.sin_port));
	fflush(stdout);
	return fd;
}

/* Write all @len bytes at @p. Returns 0, or -1 when the peer is gone. */
static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One connection, from its first read to its close. */
static void *conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *buf = malloc(READ_BUF_SIZE);

	while (buf) {
		ssize_t n = read(fd, buf, READ_BUF_SIZE);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || write_all(fd, buf, (size_t)n) < 0)
			break;
	}
	free(buf);
	close(fd);
	/* Stats only: relaxed is enough. */
	__atomic_fetch_sub(&nr_open, 1, __ATOMIC_RELAXED);
	return NULL;
}

/*
 * Accept one connection from the nonblocking @lfd and give it a thread.
 * Returns 1 if there may be more to accept, 0 if not. The accepted
 * socket is blocking: Linux does not pass O_NONBLOCK on from @lfd.
 */
static int accept_one(int lfd, pthread_attr_t *attr)
{
	pthread_t t;
	int one = 1;
	int fd;
	int err;

	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		switch (errno) {
		case EAGAIN:
			return 0;
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
			return 1;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			nr_backoffs++;
			poll(NULL, 0, ACCEPT_BACKOFF_MS);
			return 0;
		default:
			die("accept4", errno);
		}
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	nr_accepted++;
	/* Stats only: relaxed is enough. */
	__atomic_fetch_add(&nr_open, 1, __ATOMIC_RELAXED);
	err = pthread_create(&t, attr, conn_main, (void *)(intptr_t)fd);
	if (err) {
		nr_refused++;
		__atomic_fetch_sub(&nr_open, 1, __ATOMIC_RELAXED);
		close(fd);
	}
	return 1;
}

int main(int argc, char **argv)
{
	struct pollfd pfd[2];
	pthread_attr_t attr;
	sigset_t mask;
	int port = 0;
	int err;

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

	/* A peer that resets must not kill the server with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	/* Blocked here, so blocked in every thread created below. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	err = pthread_sigmask(SIG_BLOCK, &mask, NULL);
	if (err)
		die("pthread_sigmask", err);
	pfd[0].fd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (pfd[0].fd < 0)
		die("signalfd", errno);
	pfd[0].events = POLLIN;
	pfd[1].fd = listen_on(port);
	pfd[1].events = POLLIN;

	err = pthread_attr_init(&attr);
	if (!err)
		err = pthread_attr_setdetachstate(&attr,
						  PTHREAD_CREATE_DETACHED);
	if (!err)
		err = pthread_attr_setstacksize(&attr, THREAD_STACK_SIZE);
	if (err)
		die("pthread_attr", err);

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll", errno);
		}
		if (pfd[0].revents)
			break;
		if (pfd[1].revents)
			while (accept_one(pfd[1].fd, &attr))
				;
	}
	fprintf(stderr, "echo_threads: accepted=%llu open=%llu "
		"refused_no_thread=%llu accept_backoffs=%llu\n",
		(unsigned long long)nr_accepted,
		(unsigned long long)__atomic_load_n(&nr_open, __ATOMIC_RELAXED),
		(unsigned long long)nr_refused,
		(unsigned long long)nr_backoffs);
	return 0;
}
