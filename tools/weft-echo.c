/* SPDX-License-Identifier: MIT */
/*
 * weft-echo: a TCP echo server on weft, one fiber per connection.
 *
 *	weft-echo [--port P] [--workers N] [--backend auto|io_uring|epoll]
 *
 * It listens on 127.0.0.1:P (P = 0 or no --port: a port the kernel picks),
 * prints one line "listening on 127.0.0.1:PORT (BACKEND)" on stdout, and
 * then echoes every byte each client sends back to it until that client
 * shuts down or fails. N worker threads run the fibers (0, the default:
 * one per online CPU), on the I/O backend asked for (weft.h). SIGTERM or SIGINT ends it cleanly: the main fiber returns,
 * weft cancels every fiber, and the process exits 0. Bad arguments print
 * the usage on stderr and exit 2.
 *
 * Robustness. A client that resets, stops halfway through a message, or
 * never reads what it is sent holds up only its own fiber. When accept
 * fails for want of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM), the
 * acceptor sleeps, 1 ms at first and twice as long after each further
 * failure up to 100 ms, and tries again; the first success resets the
 * delay. Pending connections wait in the listen backlog meanwhile, and the
 * server neither exits nor spins. Errors that belong to one pending
 * connection (ECONNABORTED and the network errors accept(2) passes on)
 * only skip that connection. SIGPIPE is ignored, and sends carry
 * MSG_NOSIGNAL as well, so a write to a reset peer is an error, not death.
 *
 * Threads: main() runs on the thread that becomes worker 0; every other
 * function here runs in a fiber, on whichever worker runs it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <weft.h>

#include "tool_util.h"

/* Bytes one recv may take; only the pages a message touches cost memory. */
#define ECHO_BUF_SIZE 8192
/* The kernel caps the backlog at net.core.somaxconn. */
#define ECHO_BACKLOG 4096

/* Set by main() before weft_run(), read-only afterwards. */
struct echo_opts {
	unsigned port;		/* 0: an ephemeral port                   */
	unsigned workers;	/* 0: one per online CPU                  */
	unsigned backend;	/* WEFT_BACKEND_*; 0: auto                */
	int sigfd;		/* signalfd for SIGTERM and SIGINT        */
	int status;		/* exit status the main fiber leaves      */
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: weft-echo [--port P] [--workers N] [--backend B]\n"
		"  --port P     listen on 127.0.0.1:P (default 0: any port)\n"
		"  --workers N  worker threads (default 0: one per CPU; "
		"at most %u)\n"
		"  --backend B  auto (default), io_uring or epoll; the "
		"environment's WEFT_BACKEND overrides it\n"
		"Prints \"listening on 127.0.0.1:PORT (BACKEND)\" once it "
		"accepts.\n",
		WEFT_WORKERS_MAX);
}

/* weft_stats' scheduling latency over the server's life, on stdout as
 * its last line (tools/bench-echo.sh puts it in the report). */
static void print_latency(void)
{
	struct weft_stats st = { .size = sizeof(st) };

	if (weft_stats(&st) != 0)
		return;
	printf("latency samples=%llu p50_ns=%llu p99_ns=%llu max_ns=%llu\n",
	       (unsigned long long)st.latency_samples,
	       (unsigned long long)st.latency_p50_ns,
	       (unsigned long long)st.latency_p99_ns,
	       (unsigned long long)st.latency_max_ns);
	fflush(stdout);
}

/*
 * One connection: echo until end of file or the first error, then close.
 * @arg is the socket. Whatever goes wrong here ends this fiber only.
 */
static void *conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[ECHO_BUF_SIZE];

	for (;;) {
		ssize_t n = weft_recv(fd, buf, sizeof(buf), 0);

		if (n <= 0 || send_all(fd, buf, (size_t)n) < 0)
			break;
	}
	/* At shutdown this may report -ECANCELED; the process is exiting. */
	weft_close(fd);
	return NULL;
}

/*
 * Accept connections on the listening socket @arg forever, one detached
 * fiber each. Resource shortages (EMFILE and friends, or a fiber that
 * cannot be spawned) back off as the file comment says; so do EAGAIN,
 * which a listening socket should not report here, and any error not
 * expected from accept at all, after one line on stderr: not even a bug
 * can make the server spin. Ends when it is cancelled.
 */
static void *accept_main(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	int64_t backoff_ns = BACKOFF_MIN_NS;
	bool reported = false;

	for (;;) {
		int one = 1;
		int fd = weft_accept(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd >= 0) {
			int err;

			/* Replies go out at once, not after the peer's ACK. */
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				   sizeof(one));
			err = weft_go(conn_main, (void *)(intptr_t)fd);
			if (err == 0) {
				backoff_ns = BACKOFF_MIN_NS;
				continue;
			}
			close(fd);
			if (err == -ECANCELED)
				break;
			/* No memory for a stack or record: a shortage. */
		} else if (fd == -ECANCELED) {
			break;
		} else if (accept_err_is_per_conn(fd)) {
			continue;
		} else if (fd != -EMFILE && fd != -ENFILE && fd != -ENOBUFS &&
			   fd != -ENOMEM && fd != -EAGAIN && !reported) {
			fprintf(stderr, "weft-echo: accept: %s; retrying\n",
				strerror(-fd));
			reported = true;
		}
		if (weft_sleep_ns(backoff_ns) == -ECANCELED)
			break;
		backoff_ns *= 2;
		if (backoff_ns > BACKOFF_MAX_NS)
			backoff_ns = BACKOFF_MAX_NS;
	}
	return NULL;
}

/*
 * The main fiber: listen, announce the port, start the acceptor, and wait
 * for SIGTERM or SIGINT. Returning cancels every other fiber.
 */
static void echo_main(void *arg)
{
	struct echo_opts *o = arg;
	struct signalfd_siginfo si;
	weft_fiber *acceptor;
	unsigned port = 0;
	ssize_t n;
	int lfd, err;

	lfd = listen_on((struct in_addr){ htonl(INADDR_LOOPBACK) }, o->port,
			ECHO_BACKLOG, &port);
	if (lfd < 0) {
		fprintf(stderr, "weft-echo: listen on 127.0.0.1:%u: %s\n",
			o->port, strerror(-lfd));
		o->status = 1;
		return;
	}
	err = weft_spawn(&acceptor, accept_main, (void *)(intptr_t)lfd,
			 &(struct weft_spawn_opts){ .name = "acceptor" });
	if (err) {
		fprintf(stderr, "weft-echo: spawn: %s\n", strerror(-err));
		close(lfd);
		o->status = 1;
		return;
	}
	printf("listening on 127.0.0.1:%u (%s)\n", port, backend_name());
	fflush(stdout);

	do
		n = weft_read(o->sigfd, &si, sizeof(si));
	while (n == -EINTR);
	if (n != (ssize_t)sizeof(si))
		fprintf(stderr, "weft-echo: signalfd: %s\n",
			n < 0 ? strerror((int)-n) : "short read");
	print_latency();
	weft_cancel(acceptor);
	weft_join(acceptor, NULL);
	close(lfd);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "workers", required_argument, NULL, 'w' },
		{ "backend", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct echo_opts o = { 0 };
	struct weft_config cfg = { 0 };
	int c, err;

	while ((c = getopt_long(argc, argv, "p:w:b:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!parse_uint(optarg, 65535, &o.port))
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
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad_usage;
		}
	}
	if (optind != argc)
		goto bad_usage;

	o.sigfd = stop_signals_fd();
	if (o.sigfd < 0) {
		perror("weft-echo: signalfd");
		return 1;
	}

	cfg.workers = o.workers;
	cfg.backend = o.backend;
	err = weft_run(&cfg, echo_main, &o);
	if (err) {
		fprintf(stderr, "weft-echo: weft_run: %s\n", strerror(-err));
		return 1;
	}
	return o.status;

bad_usage:
	usage(stderr);
	return 2;
}
