/* SPDX-License-Identifier: MIT */
/*
 * A TCP echo server whose connections live in a scope, and a failing
 * connection that must not take its siblings down. In Trio:
 *
 *	async def handler(stream):
 *	    try:
 *	        async with trio.open_nursery() as conn:	# one per connection
 *	            send, recv = trio.open_memory_channel(4)
 *	            conn.start_soon(reader, stream, send)	# "boom" raises
 *	            conn.start_soon(writer, stream, recv)
 *	    except ProtocolError as e:
 *	        log(e)			# only this connection failed
 *	    finally:
 *	        await stream.aclose()
 *
 *	async with trio.open_nursery() as server:	# the server's scope
 *	    # accept_loop calls server.start_soon(handler, stream)
 *	    server.start_soon(accept_loop, listener, server)
 *	    ...
 *	    server.cancel_scope.cancel()	# clean shutdown
 *
 * A scope cancels all its children at its first failure, so a handler
 * that failed inside the server's scope would stop the whole server. So
 * each handler runs the connection in an inner scope of its own (a
 * reader that splits lines, a writer that echoes them, a channel
 * between): a client that sends "boom\n" makes the reader fail with
 * -EPROTO, the inner scope cancels the writer and returns -EPROTO, and
 * the handler notes that, closes the connection and returns 0, so the
 * failure ends there. The other connections go on being echoed.
 *
 * The accept loop is a child of the server's scope, not its body:
 * weft_scope_cancel() cancels a scope's children, while the body runs
 * on until it returns, so a body parked in weft_accept() would keep the
 * server open. Cancelling the server's scope cancels the accept loop and
 * every handler; a handler parked in its inner scope cancels that scope
 * in turn, and closes its connection on the way out.
 *
 * The client is a fiber of the same program: it opens three connections
 * in turn to 127.0.0.1 on a port the kernel picks, sends three rounds of
 * lines, and in round 2 sends "boom\n" on connection 2, which the server
 * closes. Connections 1 and 3 still echo round 3. It closes connection 1
 * itself, then stops the server with weft_scope_cancel(), which closes
 * connection 3. The client does one thing at a time, waiting for each
 * echo, and waits for a handler to finish before the next step depends
 * on it, so every run prints the same summary; the port, which changes,
 * is not printed. A deadline on the client's waits turns a hang into an
 * error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <weft.h>

#define CONNS		3	/* the client's connections */
#define ROUNDS		3	/* lines each sends, "boom" included */
#define BOOM_CONN	2	/* which one sends "boom" ... */
#define BOOM_ROUND	2	/* ... and when */
#define MAX_CONNS	8	/* the server takes at most these */
#define MAX_LINE	128	/* longest line, '\n' included */
#define CLIENT_WAIT_NS	(10 * 1000000000ll)

/* A line travelling from a connection's reader to its writer. */
struct line {
	size_t len;
	char text[MAX_LINE];
};

struct server;

/* One connection, as the server sees it. */
struct conn {
	struct server *srv;
	int fd;
	int id;				/* in accept order, from 1          */
	weft_chan *lines;		/* struct line, reader to writer    */
	int echoed;			/* lines written back (the writer)  */
	int end;			/* the inner scope's result         */
};

struct server {
	int listen_fd;
	weft_scope *scope;		/* the server's scope, once open    */
	weft_sem ready;			/* released once scope is set       */
	weft_sem ended;			/* released as each handler ends    */
	int accepted;			/* the accept loop only             */
	int handlers;			/* handlers running; atomic         */
	int accept_end;			/* how the accept loop ended        */
	int end;			/* the server scope's result        */
	struct conn conns[MAX_CONNS + 1];	/* by id                    */
};

/* What the client saw on each of its connections. */
struct client {
	int echoes[CONNS + 1];		/* lines that came back intact      */
	bool eof_after_boom;		/* conn BOOM_CONN closed by "boom"  */
	bool eof_at_shutdown;		/* conn 3 closed by the shutdown    */
	bool after_boom_ok;		/* 1 and 3 echoed after the boom    */
};

static const char *errname(int err)
{
	switch (err) {
	case 0:
		return "0";
	case -EPROTO:
		return "-EPROTO";
	case -ECANCELED:
		return "-ECANCELED";
	case -EBADMSG:
		return "-EBADMSG";
	case -ETIMEDOUT:
		return "-ETIMEDOUT";
	default:
		return "another error";
	}
}

/* Send all of @buf: 0, or a negative errno. */
static int send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = weft_send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0)
			return (int)n;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Server: one connection ----------------------------------------------- */

/*
 * Receive lines and hand them to the writer. Returns 0 at the end of the
 * stream (closing the channel, so the writer ends once it has echoed
 * everything), -EPROTO for "boom", -EMSGSIZE for a line too long, or the
 * error of a wait (-ECANCELED when the scope is cancelled).
 */
static int reader(void *arg)
{
	struct conn *c = arg;
	char buf[MAX_LINE];
	size_t have = 0;

	for (;;) {
		ssize_t n = weft_recv(c->fd, buf + have, sizeof(buf) - have, 0);
		char *nl;

		if (n == 0) {
			weft_chan_close(c->lines);
			return 0;
		}
		if (n < 0)
			return (int)n;
		have += (size_t)n;
		while ((nl = memchr(buf, '\n', have)) != NULL) {
			struct line l = { .len = (size_t)(nl - buf) + 1 };
			int err;

			if (l.len == 5 && memcmp(buf, "boom\n", 5) == 0)
				return -EPROTO;
			memcpy(l.text, buf, l.len);
			err = weft_chan_send(c->lines, &l);
			if (err < 0)
				return err;
			have -= l.len;
			memmove(buf, nl + 1, have);
		}
		if (have == sizeof(buf))
			return -EMSGSIZE;
	}
}

/* Echo each line the reader hands over, until the channel is closed. */
static int writer(void *arg)
{
	struct conn *c = arg;
	struct line l;
	int err;

	for (;;) {
		err = weft_chan_recv(c->lines, &l);
		if (err == -EPIPE)
			return 0;
		if (err < 0)
			return err;
		err = send_all(c->fd, l.text, l.len);
		if (err < 0)
			return err;
		c->echoed++;
	}
}

/* The connection's own scope: its reader and its writer. */
static int serve_conn(weft_scope *conn, void *arg)
{
	int err;

	err = weft_scope_spawn(conn, reader, arg, NULL);
	if (err < 0)
		return err;
	return weft_scope_spawn(conn, writer, arg, NULL);
}

/*
 * A child of the server's scope. Whatever happens to the connection is
 * the connection's business: the handler keeps the inner scope's result
 * for the summary, closes the socket and returns 0, so the server's
 * scope never sees a failure from it.
 */
static int handler(void *arg)
{
	struct conn *c = arg;
	struct server *srv = c->srv;
	int err;

	__atomic_add_fetch(&srv->handlers, 1, __ATOMIC_RELAXED);
	err = weft_chan_new(&c->lines, sizeof(struct line), 4);
	if (err == 0)
		err = weft_scope_run(serve_conn, c, WEFT_FOREVER);
	c->end = err;
	weft_chan_free(c->lines);
	weft_close(c->fd);
	__atomic_sub_fetch(&srv->handlers, 1, __ATOMIC_RELAXED);
	weft_sem_release(&srv->ended);
	return 0;
}

/* Server: accepting ------------------------------------------------------ */

/*
 * Accept connections and start a handler for each in the server's
 * scope, until the scope is cancelled (weft_accept returns -ECANCELED;
 * the scope ignores results once it is cancelled). Any other error ends
 * the server, as an unhandled exception in Trio's accept loop would.
 */
static int accept_loop(void *arg)
{
	struct server *srv = arg;

	for (;;) {
		int fd = weft_accept(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		struct conn *c;
		int err;

		if (fd < 0) {
			srv->accept_end = fd;
			return fd;
		}
		if (srv->accepted == MAX_CONNS) {
			weft_close(fd);
			continue;
		}
		c = &srv->conns[++srv->accepted];
		*c = (struct conn){ .srv = srv, .fd = fd, .id = srv->accepted };
		err = weft_scope_spawn(srv->scope, handler, c, NULL);
		if (err < 0) {
			weft_close(fd);
			srv->accept_end = err;
			return err;
		}
	}
}

/* The server scope's body: start the accept loop and return. */
static int open_server(weft_scope *scope, void *arg)
{
	struct server *srv = arg;
	int err;

	srv->scope = scope;
	err = weft_scope_spawn(scope, accept_loop, srv, NULL);
	weft_sem_release(&srv->ready);
	return err;
}

/* Runs the server's scope; a stop that was asked for is not a failure. */
static int server(void *arg)
{
	struct server *srv = arg;

	srv->end = weft_scope_run(open_server, srv, WEFT_FOREVER);
	return srv->end == -ECANCELED ? 0 : srv->end;
}

/* Client ----------------------------------------------------------------- */

/*
 * Receive one line into @buf (one is all the server owes at a time).
 * Returns its length, 0 at the end of the stream, or a negative errno.
 */
static ssize_t read_line(int fd, char *buf, size_t cap)
{
	size_t have = 0;

	while (have == 0 || buf[have - 1] != '\n') {
		ssize_t n;

		if (have == cap)
			return -EMSGSIZE;
		n = weft_recv(fd, buf + have, cap - have, 0);
		if (n <= 0)
			return n < 0 ? n : (ssize_t)have;
		have += (size_t)n;
	}
	return (ssize_t)have;
}

static int connect_to(const struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int err;

	if (fd < 0)
		return -errno;
	err = weft_connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	if (err < 0) {
		weft_close(fd);
		return err;
	}
	return fd;
}

struct demo {
	struct server srv;
	struct client cl;
	struct sockaddr_in addr;
};

/* Send "boom" on @fd: the server must close the connection. */
static int send_boom(struct demo *d, int fd)
{
	char buf[MAX_LINE];
	ssize_t n;
	int err;

	err = send_all(fd, "boom\n", 5);
	if (err < 0)
		return err;
	n = read_line(fd, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	d->cl.eof_after_boom = n == 0;
	/* Its handler's end: connections 1 and 3 are still open. */
	return weft_sem_acquire(&d->srv.ended);
}

/* Send one line on @fd, connection @i, and check that it comes back. */
static int echo_line(struct demo *d, int fd, int i, int round)
{
	char want[MAX_LINE], got[MAX_LINE];
	int len = snprintf(want, sizeof(want), "conn %d, line %d\n", i, round);
	ssize_t n;
	int err;

	err = send_all(fd, want, (size_t)len);
	if (err < 0)
		return err;
	n = read_line(fd, got, sizeof(got));
	if (n < 0)
		return (int)n;
	if (n == len && memcmp(got, want, (size_t)len) == 0)
		d->cl.echoes[i]++;
	return 0;
}

static int client_steps(struct demo *d, int *fd)
{
	char buf[MAX_LINE];
	ssize_t n;
	int err;

	/* In turn, so the server accepts them in this order: ids 1, 2, 3. */
	for (int i = 1; i <= CONNS; i++) {
		fd[i] = connect_to(&d->addr);
		if (fd[i] < 0)
			return fd[i];
	}
	for (int round = 1; round <= ROUNDS; round++) {
		for (int i = 1; i <= CONNS; i++) {
			if (fd[i] < 0)
				continue;
			if (i == BOOM_CONN && round == BOOM_ROUND) {
				err = send_boom(d, fd[i]);
				weft_close(fd[i]);
				fd[i] = -1;
			} else {
				err = echo_line(d, fd[i], i, round);
			}
			if (err < 0)
				return err;
		}
	}
	d->cl.after_boom_ok = d->cl.echoes[1] == ROUNDS &&
			      d->cl.echoes[3] == ROUNDS;

	/* Close connection 1 ourselves and wait for its handler to end. */
	weft_close(fd[1]);
	fd[1] = -1;
	err = weft_sem_acquire(&d->srv.ended);
	if (err < 0)
		return err;

	/* Stop the server; that closes connection 3. */
	err = weft_sem_acquire(&d->srv.ready);
	if (err < 0)
		return err;
	err = weft_scope_cancel(d->srv.scope);
	if (err < 0)
		return err;
	n = read_line(fd[3], buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	d->cl.eof_at_shutdown = n == 0;
	return 0;
}

static int client(void *arg)
{
	struct demo *d = arg;
	int fd[CONNS + 1] = { -1, -1, -1, -1 };
	int err;

	weft_set_deadline((int64_t)weft_now_ns() + CLIENT_WAIT_NS);
	err = client_steps(d, fd);
	for (int i = 1; i <= CONNS; i++)
		if (fd[i] >= 0)
			weft_close(fd[i]);
	return err;
}

/* Main ------------------------------------------------------------------- */

/* The whole demo is a scope too: the server and the client. */
static int demo_body(weft_scope *scope, void *arg)
{
	struct demo *d = arg;
	int err;

	err = weft_scope_spawn(scope, server, &d->srv, NULL);
	if (err < 0)
		return err;
	return weft_scope_spawn(scope, client, d, NULL);
}

static int listen_on_loopback(struct demo *d)
{
	socklen_t len = sizeof(d->addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	d->addr = (struct sockaddr_in){ .sin_family = AF_INET,
					.sin_addr.s_addr =
						htonl(INADDR_LOOPBACK) };
	if (bind(fd, (struct sockaddr *)&d->addr, sizeof(d->addr)) < 0 ||
	    listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&d->addr, &len) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void print_summary(const struct demo *d, int res)
{
	const struct server *srv = &d->srv;
	int handlers = __atomic_load_n(&srv->handlers, __ATOMIC_RELAXED);

	for (int id = 1; id <= srv->accepted; id++) {
		const struct conn *c = &srv->conns[id];

		printf("conn %d: echoed %d line%s, ", id, c->echoed,
		       c->echoed == 1 ? "" : "s");
		if (c->end == 0)
			printf("closed by the client\n");
		else if (c->end == -ECANCELED)
			printf("cancelled at shutdown\n");
		else
			printf("failed: %s\n", strerror(-c->end));
	}
	printf("client: conns 1 and 3 echoed every line after conn 2 "
	       "failed: %s\n", d->cl.after_boom_ok ? "yes" : "NO");
	printf("client: conn 2 closed by the server after \"boom\": %s\n",
	       d->cl.eof_after_boom ? "yes" : "NO");
	printf("client: conn 3 closed by the server at shutdown: %s\n",
	       d->cl.eof_at_shutdown ? "yes" : "NO");
	printf("server: accepted %d connections, handlers left: %d\n",
	       srv->accepted, handlers);
	printf("server: its scope returned %s (%s), the accept loop %s\n",
	       errname(srv->end), strerror(-srv->end),
	       errname(srv->accept_end));
	printf("demo scope: %s\n", errname(res));
}

static void main_fiber(void *arg)
{
	static struct demo d;
	int *ok = arg;
	int res;

	d.srv = (struct server){ .ready = WEFT_SEM_INIT(0),
				 .ended = WEFT_SEM_INIT(0) };
	d.srv.listen_fd = listen_on_loopback(&d);
	if (d.srv.listen_fd < 0) {
		printf("listen: %s\n", strerror(-d.srv.listen_fd));
		return;
	}
	res = weft_scope_run(demo_body, &d, WEFT_FOREVER);
	weft_close(d.srv.listen_fd);
	print_summary(&d, res);
	*ok = res == 0 && d.srv.end == -ECANCELED && d.srv.accepted == CONNS &&
	      d.cl.after_boom_ok && d.cl.eof_after_boom &&
	      d.cl.eof_at_shutdown && d.srv.conns[1].end == 0 &&
	      d.srv.conns[2].end == -EPROTO &&
	      d.srv.conns[3].end == -ECANCELED;
}

int main(void)
{
	int ok = 0;
	int err = weft_run(&(struct weft_config){ 0 }, main_fiber, &ok);

	if (err) {
		fprintf(stderr, "weft_run: %s\n", strerror(-err));
		return 1;
	}
	return ok ? 0 : 1;
}
