/* SPDX-License-Identifier: MIT */
/*
 * What weft's servers (weft-echo, weft-http) share: argument parsing,
 * the backend's name, a send loop, the listening socket, and which
 * accept errors belong to one connection only. Static functions in a
 * header, since each tool is one program built from its own sources.
 */
#ifndef WEFT_TOOL_UTIL_H
#define WEFT_TOOL_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <weft.h>

/* The acceptor's back-off after a resource shortage, in ns. */
#define BACKOFF_MIN_NS (1000000ll)
#define BACKOFF_MAX_NS (100 * 1000000ll)

/* Parse a whole decimal number in [0, @max] into *out; false if it is not. */
static inline bool parse_uint(const char *s, unsigned long max, unsigned *out)
{
	unsigned long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = (unsigned)v;
	return true;
}


/* The I/O backend the runtime chose. */
static inline const char *backend_name(void)
{
	struct weft_stats st = { .size = sizeof(st) };

	if (weft_stats(&st) != 0)
		return "unknown";
	return st.backend == WEFT_BACKEND_EPOLL ? "epoll" : "io_uring";
}

/* "auto", "io_uring" or "epoll" into *out; false if it is none. */
static inline bool parse_backend(const char *s, unsigned *out)
{
	static const struct {
		const char *name;
		unsigned backend;
	} names[] = {
		{ "auto", WEFT_BACKEND_AUTO },
		{ "io_uring", WEFT_BACKEND_IO_URING },
		{ "epoll", WEFT_BACKEND_EPOLL },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].name) == 0) {
			*out = names[i].backend;
			return true;
		}
	return false;
}

/*
 * Send all @len bytes at @buf, looping over short sends.
 * Returns 0 or a negative errno. Yield point.
 */
static inline int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = weft_send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Whether an accept error belongs to one pending connection only. */
static inline bool accept_err_is_per_conn(int err)
{
	switch (err) {
	case -ECONNABORTED:
	case -ECONNRESET:
	case -EINTR:
	case -EPROTO:
	case -EPERM:
	case -ENETDOWN:
	case -ENOPROTOOPT:
	case -EHOSTDOWN:
	case -ENONET:
	case -EHOSTUNREACH:
	case -EOPNOTSUPP:
	case -ENETUNREACH:
	case -ETIMEDOUT:
		return true;
	default:
		return false;
	}
}

/* Open, bind and listen on @addr:@port with a @backlog; *bound receives
 * the port (the kernel's pick for 0). Returns the socket or -errno. */
static inline int listen_on(struct in_addr addr, unsigned port, int backlog,
		     unsigned *bound)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr = addr,
	};
	socklen_t len = sizeof(sa);
	int one = 1;
	int fd, err;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(fd, backlog) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len)) {
		err = -errno;
		close(fd);
		return err;
	}
	*bound = ntohs(sa.sin_port);
	return fd;
}

/*
 * Ignore SIGPIPE (a send to a reset peer is an error, not death) and
 * turn SIGTERM and SIGINT into reads of the returned signalfd (-1 and
 * errno on failure). Call before weft_run(): the mask is blocked in the
 * calling thread, so every worker inherits it.
 */
static inline int stop_signals_fd(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	return signalfd(-1, &set, SFD_CLOEXEC);
}

#endif /* WEFT_TOOL_UTIL_H */
