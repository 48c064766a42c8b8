/* SPDX-License-Identifier: MIT */
/*
 * I/O suspension points against real file descriptors (pipes,
 * socketpairs, loopback TCP, temporary files), sleeps, deadlines and the
 * cancellation of blocked calls. Results are recorded in fibers and
 * asserted after weft_run() returns.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <liburing.h>

#include "helpers.h"

static struct weft_config two = { .workers = 2 };

#define MS 1000000ll

/* Pipes and files -------------------------------------------------------- */

struct pipe_res {
	ssize_t wrote, got, eof;
	char buf[64];
	int bad_read, bad_write, close_rc;
};

static void pipe_main(void *arg)
{
	struct pipe_res *r = arg;
	int p[2];

	if (pipe(p))
		return;
	r->wrote = weft_write(p[1], "hello fibers", 12);
	r->got = weft_read(p[0], r->buf, sizeof(r->buf));
	weft_close(p[1]);
	r->eof = weft_read(p[0], r->buf + 32, 8);
	r->close_rc = weft_close(p[0]);
	r->bad_read = (int)weft_read(p[0], r->buf, 1);
	r->bad_write = (int)weft_write(-1, "x", 1);
}

static void test_pipe_round_trip_eof_and_ebadf(void **state)
{
	struct pipe_res r = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, pipe_main, &r), 0);
	assert_int_equal(r.wrote, 12);
	assert_int_equal(r.got, 12);
	assert_memory_equal(r.buf, "hello fibers", 12);
	assert_int_equal(r.eof, 0);
	assert_int_equal(r.close_rc, 0);
	assert_int_equal(r.bad_read, -EBADF);
	assert_int_equal(r.bad_write, -EBADF);
	watchdog_disarm();
}

/* Descriptors that are always ready, or never nonblocking -------------- */

#define BUSY_BYTES 4096

struct busy_res {
	int fd;
	volatile int sibling_ran;	/* set by the sibling fiber          */
	int reads_before;		/* reads the busy fiber did before it */
	int reads;
};

static void *busy_sibling(void *arg)
{
	struct busy_res *r = arg;

	r->sibling_ran = 1;
	return NULL;
}

/* One worker: a fiber reads a full socket a byte at a time. Its sibling,
 * queued behind it, must run long before the data runs out. */
static void busy_main(void *arg)
{
	struct busy_res *r = arg;
	static char fill[BUSY_BYTES];
	weft_fiber *f;
	int sv[2];
	char c;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return;
	if (write(sv[1], fill, sizeof(fill)) != (ssize_t)sizeof(fill))
		return;
	r->reads_before = -1;
	if (weft_spawn(&f, busy_sibling, r, NULL))
		return;
	while (weft_read(sv[0], &c, 1) == 1) {
		r->reads++;
		if (r->sibling_ran && r->reads_before < 0)
			r->reads_before = r->reads;
		if (r->reads == BUSY_BYTES)
			break;
	}
	weft_join(f, NULL);
	close(sv[0]);
	close(sv[1]);
}

static void test_always_ready_descriptor_does_not_starve_siblings(void **state)
{
	struct weft_config one = { .workers = 1 };
	struct busy_res r = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&one, busy_main, &r), 0);
	assert_int_equal(r.reads, BUSY_BYTES);
	assert_true(r.sibling_ran);
	/* epoll yields every 64th ready call (IO_NOWAIT_MAX); io_uring parks
	 * on every one. */
	assert_true(r.reads_before > 0 && r.reads_before <= 128);
	watchdog_disarm();
}

struct evfd_res {
	int efd;
	ssize_t got;
	uint64_t value;
	int waited;
};

static void *evfd_reader(void *arg)
{
	struct evfd_res *r = arg;

	r->got = weft_read(r->efd, &r->value, sizeof(r->value));
	return NULL;
}

/* An eventfd takes no RWF_NOWAIT: the read must still wait in its fiber
 * (not block the worker) and wake when another fiber writes. */
static void evfd_main(void *arg)
{
	struct evfd_res *r = arg;
	uint64_t one = 5;
	weft_fiber *f;

	r->efd = eventfd(0, EFD_CLOEXEC);
	if (r->efd < 0)
		return;
	if (weft_spawn(&f, evfd_reader, r, NULL))
		return;
	weft_sleep_ns(5 * MS);
	r->waited = r->got == 0;
	weft_write(r->efd, &one, sizeof(one));
	weft_join(f, NULL);
	close(r->efd);
}

static void test_eventfd_read_waits_in_its_fiber(void **state)
{
	struct weft_config one = { .workers = 1 };
	struct evfd_res r = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&one, evfd_main, &r), 0);
	assert_true(r.waited);
	assert_int_equal(r.got, 8);
	assert_int_equal(r.value, 5);
	watchdog_disarm();
}

/* Two fibers on one socket, one reading and one writing, both blocked at
 * once: each must be woken by its own readiness. */
struct duplex_res {
	int sv[2];
	ssize_t got, sent;
	char buf[8];
};

static void *duplex_reader(void *arg)
{
	struct duplex_res *r = arg;

	r->got = weft_recv(r->sv[0], r->buf, sizeof(r->buf), 0);
	return NULL;
}

static void *duplex_writer(void *arg)
{
	struct duplex_res *r = arg;
	static char big[1 << 20];
	ssize_t n, total = 0;

	/* Fill the socket until the send blocks, then some more. */
	while (total < (ssize_t)sizeof(big)) {
		n = weft_send(r->sv[0], big, sizeof(big) - (size_t)total, 0);
		if (n <= 0)
			break;
		total += n;
	}
	r->sent = total;
	return NULL;
}

static void duplex_main(void *arg)
{
	struct duplex_res *r = arg;
	static char sink[1 << 16];
	weft_fiber *rd, *wr;
	ssize_t drained = 0, n;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, r->sv))
		return;
	if (weft_spawn(&rd, duplex_reader, r, NULL) ||
	    weft_spawn(&wr, duplex_writer, r, NULL))
		return;
	weft_sleep_ns(10 * MS);
	/* Both wait on sv[0]: the reader for data, the writer for room. */
	weft_write(r->sv[1], "ping", 4);
	weft_join(rd, NULL);
	while (drained < (ssize_t)sizeof(sink) * 16) {
		n = weft_read(r->sv[1], sink, sizeof(sink));
		if (n <= 0)
			break;
		drained += n;
		if (drained >= (1 << 20))
			break;
	}
	weft_join(wr, NULL);
	close(r->sv[0]);
	close(r->sv[1]);
}

static void test_reader_and_writer_on_one_socket(void **state)
{
	struct duplex_res r = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, duplex_main, &r), 0);
	assert_int_equal(r.got, 4);
	assert_memory_equal(r.buf, "ping", 4);
	assert_int_equal(r.sent, 1 << 20);
	watchdog_disarm();
}

/* weft_poll waits for every poll(2) event it is given, not only POLLIN
 * and POLLOUT: here POLLRDNORM, which becomes true only later. */
struct rdnorm_res {
	int p[2];
	int rc;
};

static void *rdnorm_poller(void *arg)
{
	struct rdnorm_res *r = arg;

	r->rc = weft_poll(r->p[0], POLLRDNORM, 5000 * MS);
	return NULL;
}

static void rdnorm_main(void *arg)
{
	struct rdnorm_res *r = arg;
	weft_fiber *f;

	if (pipe(r->p))
		return;
	if (weft_spawn(&f, rdnorm_poller, r, NULL))
		return;
	weft_sleep_ns(5 * MS);
	weft_write(r->p[1], "x", 1);
	weft_join(f, NULL);
	close(r->p[0]);
	close(r->p[1]);
}

static void test_poll_waits_for_any_poll_event(void **state)
{
	struct rdnorm_res r = { .rc = -1 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, rdnorm_main, &r), 0);
	assert_true(r.rc > 0 && (r.rc & POLLRDNORM));
	watchdog_disarm();
}

struct file_res {
	int fd, fsync_rc, open_missing;
	ssize_t wrote, got, vgot;
	char buf[16], a[4], b[8];
};

static void file_main(void *arg)
{
	struct file_res *r = arg;
	char path[] = "/tmp/weft-test-XXXXXX";
	struct iovec iov[2];
	int tmp = mkstemp(path);

	close(tmp);
	r->fd = weft_openat(AT_FDCWD, path, O_RDWR | O_TRUNC, 0600);
	unlink(path);
	if (r->fd < 0)
		return;
	r->wrote = weft_pwrite(r->fd, "0123456789ab", 12, 0);
	r->fsync_rc = weft_fsync(r->fd);
	r->got = weft_pread(r->fd, r->buf, 5, 3);
	iov[0] = (struct iovec){ r->a, sizeof(r->a) };
	iov[1] = (struct iovec){ r->b, sizeof(r->b) };
	r->vgot = weft_readv(r->fd, iov, 2, 0);
	weft_close(r->fd);
	r->open_missing = weft_openat(AT_FDCWD, "/nonexistent/weft", O_RDONLY, 0);
}

static void test_file_open_pwrite_pread_readv_fsync(void **state)
{
	struct file_res r = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, file_main, &r), 0);
	assert_true(r.fd >= 0);
	assert_int_equal(r.wrote, 12);
	assert_int_equal(r.fsync_rc, 0);
	assert_int_equal(r.got, 5);
	assert_memory_equal(r.buf, "34567", 5);
	assert_int_equal(r.vgot, 12);
	assert_memory_equal(r.a, "0123", 4);
	assert_memory_equal(r.b, "456789ab", 8);
	assert_int_equal(r.open_missing, -ENOENT);
	watchdog_disarm();
}

/*
 * Reads at an offset from a file in the page cache, and opens of a path
 * in the lookup cache, are done in place (io.c): they must still give the
 * right bytes, still yield now and then (a sibling on the only worker
 * runs within 128 of them), still honour a cancellation already asked
 * for, and opens the lookup cache cannot do in place (O_CREAT, a path
 * that is not there) still answer as before.
 */
#define CACHED_READS 1000

struct cached_res {
	int sibling_ran, reads_before, bad_bytes;
	int opened, reopened, created, dir, missing;
	ssize_t cancelled, after_cancel, vread;
	char a[8], b[8];
};

static void *cached_sibling(void *arg)
{
	((struct cached_res *)arg)->sibling_ran = 1;
	return NULL;
}

static void cached_main(void *arg)
{
	struct cached_res *r = arg;
	char path[] = "/tmp/weft-test-XXXXXX", made[64];
	char page[4096], got[16];
	struct iovec iov[2];
	weft_fiber *f;
	int tmp = mkstemp(path), fd, i;

	for (i = 0; i < (int)sizeof(page); i++)
		page[i] = (char)('a' + i % 26);
	if (tmp < 0 || write(tmp, page, sizeof(page)) != (ssize_t)sizeof(page))
		return;
	close(tmp);
	r->opened = fd = weft_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return;
	r->reopened = weft_openat(AT_FDCWD, path, O_RDONLY, 0);
	if (r->reopened >= 0)
		weft_close(r->reopened);
	r->reads_before = -1;
	if (weft_spawn(&f, cached_sibling, r, NULL))
		return;
	for (i = 0; i < CACHED_READS; i++) {
		int64_t off = (i * 37) % 4000;

		if (weft_pread(fd, got, 16, off) != 16 ||
		    memcmp(got, page + off, 16) != 0)
			r->bad_bytes++;
		if (r->sibling_ran && r->reads_before < 0)
			r->reads_before = i + 1;
	}
	weft_join(f, NULL);
	iov[0] = (struct iovec){ r->a, sizeof(r->a) };
	iov[1] = (struct iovec){ r->b, sizeof(r->b) };
	r->vread = weft_readv(fd, iov, 2, 26);
	weft_cancel(weft_self());
	r->cancelled = weft_pread(fd, got, 16, 0);
	r->after_cancel = weft_pread(fd, got, 16, 0);
	weft_close(fd);
	snprintf(made, sizeof(made), "%s.made", path);
	r->created = weft_openat(AT_FDCWD, made, O_RDWR | O_CREAT | O_EXCL,
				 0600);
	if (r->created >= 0) {
		weft_close(r->created);
		unlink(made);
	}
	r->dir = weft_openat(AT_FDCWD, "/tmp", O_RDONLY | O_DIRECTORY, 0);
	if (r->dir >= 0)
		weft_close(r->dir);
	r->missing = weft_openat(AT_FDCWD, "/tmp/weft-no-such-file/x",
				 O_RDONLY, 0);
	unlink(path);
}

static void test_cached_file_calls_in_place_yield_and_honour_cancel(void **state)
{
	struct weft_config one = { .workers = 1 };
	struct cached_res r = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&one, cached_main, &r), 0);
	assert_true(r.opened >= 0);
	assert_true(r.reopened >= 0);
	assert_int_equal(r.bad_bytes, 0);
	assert_true(r.sibling_ran);
	assert_true(r.reads_before > 0 && r.reads_before <= 128);
	assert_int_equal(r.vread, 16);
	assert_memory_equal(r.a, "abcdefgh", 8);
	assert_memory_equal(r.b, "ijklmnop", 8);
	assert_int_equal(r.cancelled, -ECANCELED);
	assert_int_equal(r.after_cancel, 16);
	assert_true(r.created >= 0);
	assert_true(r.dir >= 0);
	assert_int_equal(r.missing, -ENOENT);
	watchdog_disarm();
}

/* weft_sendfile ------------------------------------------------------------ */

/* A file bigger than one call sends (a pipe's 64 KiB on io_uring) and
 * than a socketpair's buffer, so calls are short and the socket fills. */
#define SF_SIZE (1024 * 1024 + 123)

static char sf_byte(size_t i)
{
	return (char)(i * 13 + i / 4096);
}

struct sf_res {
	int fd;			/* the file */
	int sv[2];		/* sv[0] is sent on, sv[1] read */
	ssize_t calls, eof, neg_off, bad_fd, pipe_err, recv_after;
	off_t pos_after;
	int64_t sent;		/* bytes reported sent, from the sender */
	bool cancelled;		/* a call returned -ECANCELED */
	ssize_t received;
	int mismatches;
	char late[8];
};

/* Send the whole file from offset 0, resuming after a cancellation. */
static void *sf_sender(void *arg)
{
	struct sf_res *r = arg;
	int64_t off = 0;

	while (off < SF_SIZE) {
		ssize_t n = weft_sendfile(r->sv[0], r->fd, off,
					  (size_t)(SF_SIZE - off));

		r->calls++;
		if (n == -ECANCELED) {
			r->cancelled = true;
			continue;
		}
		if (n <= 0)
			break;
		off += n;
	}
	r->sent = off;
	r->eof = weft_sendfile(r->sv[0], r->fd, SF_SIZE, 10);
	shutdown(r->sv[0], SHUT_WR);
	return NULL;
}

static void *sf_late_writer(void *arg)
{
	struct sf_res *r = arg;

	weft_sleep_ns(20 * MS);
	weft_write(r->sv[1], "late", 4);
	return NULL;
}

static void sendfile_main(void *arg)
{
	struct sf_res *r = arg;
	char tmpl[] = "/tmp/weft-sendfile-XXXXXX";
	char *buf = malloc(SF_SIZE), *got = malloc(SF_SIZE + 1);
	weft_fiber *f;
	size_t i;

	r->fd = mkstemp(tmpl);
	unlink(tmpl);
	for (i = 0; i < SF_SIZE; i++)
		buf[i] = sf_byte(i);
	weft_pwrite(r->fd, buf, SF_SIZE, 0);
	socketpair(AF_UNIX, SOCK_STREAM, 0, r->sv);

	/* Nobody reads at first: the sender fills the socket and blocks;
	 * cancel it there, then read everything. What arrives must be the
	 * file, byte for byte: no bytes a cancelled call had pulled into
	 * its pipe may leak into a later call's stream. */
	weft_spawn(&f, sf_sender, r, NULL);
	weft_sleep_ns(50 * MS);
	weft_cancel(f);
	weft_sleep_ns(20 * MS);
	r->received = weft_read_full(r->sv[1], got, SF_SIZE + 1);
	weft_join(f, NULL);
	for (i = 0; i < (size_t)(r->received > 0 ? r->received : 0); i++)
		r->mismatches += got[i] != sf_byte(i);
	r->pos_after = lseek(r->fd, 0, SEEK_CUR);

	r->neg_off = weft_sendfile(r->sv[0], r->fd, -1, 10);
	r->bad_fd = weft_sendfile(r->sv[0], -1, 0, 10);
	/* The socket is non-blocking now; weft's calls still wait. */
	close(r->sv[1]);
	socketpair(AF_UNIX, SOCK_STREAM, 0, r->sv);
	weft_sendfile(r->sv[0], r->fd, 0, 10);
	weft_read_full(r->sv[1], got, 10);
	weft_spawn(&f, sf_late_writer, r, NULL);
	r->recv_after = weft_recv(r->sv[0], r->late, sizeof(r->late), 0);
	weft_join(f, NULL);
	close(r->sv[1]);
	r->pipe_err = weft_sendfile(r->sv[0], r->fd, 0, 4096);
	close(r->sv[0]);
	close(r->fd);
	free(buf);
	free(got);
}

static void test_sendfile_sends_file_bytes_survives_cancel(void **state)
{
	struct sf_res r = { 0 };
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, sendfile_main, &r), 0);
	signal(SIGPIPE, old);
	assert_true(r.cancelled);
	assert_int_equal(r.sent, SF_SIZE);
	assert_int_equal(r.received, SF_SIZE);
	assert_int_equal(r.mismatches, 0);
	/* Short calls: more than one was needed. */
	assert_true(r.calls > 2);
	assert_int_equal(r.eof, 0);
	assert_int_equal(r.pos_after, 0);
	assert_int_equal(r.neg_off, -EINVAL);
	assert_int_equal(r.bad_fd, -EBADF);
	assert_int_equal(r.recv_after, 4);
	assert_memory_equal(r.late, "late", 4);
	assert_int_equal(r.pipe_err, -EPIPE);
	watchdog_disarm();
}

/* Sockets ------------------------------------------------------------------- */

/* Big enough to need several short transfers through a socketpair. */
#define BIG (4 * 1024 * 1024)

struct sock_res {
	ssize_t sent, received;
	int mismatches;
};

static void *send_big(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *buf = malloc(BIG);
	ssize_t n;

	for (size_t i = 0; i < BIG; i++)
		buf[i] = (char)(i * 7);
	n = weft_write_all(fd, buf, BIG);
	free(buf);
	weft_shutdown(fd, SHUT_WR);
	return (void *)n;
}

static void socketpair_main(void *arg)
{
	struct sock_res *r = arg;
	char *buf = malloc(BIG + 1);
	weft_fiber *f;
	void *sent;
	int sv[2];

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	weft_spawn(&f, send_big, (void *)(intptr_t)sv[0], NULL);
	r->received = weft_read_full(sv[1], buf, BIG + 1);
	weft_join(f, &sent);
	r->sent = (ssize_t)sent;
	for (size_t i = 0; i < (size_t)(r->received > 0 ? r->received : 0); i++)
		r->mismatches += buf[i] != (char)(i * 7);
	free(buf);
	close(sv[0]);
	close(sv[1]);
}

static void test_write_all_and_read_full_over_short_transfers(void **state)
{
	struct sock_res r = { 0 };

	(void)state;
	watchdog_arm(__func__, 60);
	assert_int_equal(weft_run(&two, socketpair_main, &r), 0);
	assert_int_equal(r.sent, BIG);
	/* Asked for one more than was sent: stops at end of file. */
	assert_int_equal(r.received, BIG);
	assert_int_equal(r.mismatches, 0);
	watchdog_disarm();
}

/*
 * A NULL buffer is the kernel's to refuse (-EFAULT); the loops must not
 * do arithmetic on it meanwhile, which UBSan once caught as "applying
 * zero offset to null pointer".
 */
struct null_buf_res {
	ssize_t wrote, got;
};

static void null_buf_main(void *arg)
{
	struct null_buf_res *r = arg;
	int p[2];

	if (pipe(p))
		return;
	r->wrote = weft_write_all(p[1], NULL, 4);
	/* Something to read, so that the read fails instead of waiting. */
	check_eq(weft_write(p[1], "abcd", 4), 4);
	r->got = weft_read_full(p[0], NULL, 4);
	close(p[0]);
	close(p[1]);
}

static void test_write_all_and_read_full_null_buffer_is_efault(void **state)
{
	struct null_buf_res r = { 0 };

	(void)state;
	/* Memcheck reports the NULL buffer this case passes on purpose
	 * (where a backend makes the system call itself, as epoll's does)
	 * and fails the run for it. */
	if (under_valgrind()) {
		printf("not under valgrind: memcheck reports the NULL buffer "
		       "this case passes on purpose\n");
		return;
	}
	watchdog_arm(__func__, 30);
	run_checked(&two, null_buf_main, &r);
	assert_int_equal(r.wrote, -EFAULT);
	assert_int_equal(r.got, -EFAULT);
	watchdog_disarm();
}

struct tcp_res {
	int accept_fd, connect_rc, refused, reset_rc;
	ssize_t echoed;
	char buf[32];
};

static int listen_loopback(struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)addr, sizeof(*addr)) ||
	    listen(fd, 16) || getsockname(fd, (struct sockaddr *)addr, &len))
		return -1;
	return fd;
}

static void *echo_once(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	char buf[32];
	int fd = weft_accept(lfd, NULL, NULL, SOCK_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return (void *)(intptr_t)fd;
	n = weft_recv(fd, buf, sizeof(buf), 0);
	if (n > 0)
		weft_send(fd, buf, (size_t)n, 0);
	weft_close(fd);
	return (void *)(intptr_t)fd;
}

static void tcp_main(void *arg)
{
	struct tcp_res *r = arg;
	struct sockaddr_in addr, dead;
	weft_fiber *srv;
	void *afd;
	int lfd, c, d, sv[2];

	lfd = listen_loopback(&addr);
	weft_spawn(&srv, echo_once, (void *)(intptr_t)lfd, NULL);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	r->connect_rc = weft_connect(c, (struct sockaddr *)&addr, sizeof(addr));
	weft_send(c, "ping", 4, 0);
	r->echoed = weft_recv(c, r->buf, sizeof(r->buf), 0);
	weft_join(srv, &afd);
	r->accept_fd = (int)(intptr_t)afd;
	weft_close(c);

	/* A port nobody listens on: bind one, close it, connect. */
	d = listen_loopback(&dead);
	close(d);
	d = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	r->refused = weft_connect(d, (struct sockaddr *)&dead, sizeof(dead));
	close(d);

	/* A peer that has gone: sending gets -EPIPE, and no SIGPIPE. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	close(sv[0]);
	r->reset_rc = (int)weft_send(sv[1], "x", 1, MSG_NOSIGNAL);
	close(sv[1]);
	close(lfd);
}

static void test_tcp_accept_connect_echo_refused_reset(void **state)
{
	struct tcp_res r = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, tcp_main, &r), 0);
	assert_int_equal(r.connect_rc, 0);
	assert_true(r.accept_fd >= 0);
	assert_int_equal(r.echoed, 4);
	assert_memory_equal(r.buf, "ping", 4);
	assert_int_equal(r.refused, -ECONNREFUSED);
	assert_int_equal(r.reset_rc, -EPIPE);
	watchdog_disarm();
}

/* Sleep and deadlines --------------------------------------------------------- */

#define SLEEPERS 2000

static int64_t woke_at[SLEEPERS], due_at[SLEEPERS];
static int sleep_errs;

static void *sleeper(void *arg)
{
	intptr_t i = (intptr_t)arg;
	/* Pseudo-random, repeatable durations of 0 to 50 ms. */
	int64_t ns = (int64_t)((i * 7919) % 50) * MS;

	due_at[i] = weft_now_ns() + ns;
	if (weft_sleep_ns(ns))
		__atomic_add_fetch(&sleep_errs, 1, __ATOMIC_RELAXED);
	woke_at[i] = weft_now_ns();
	return NULL;
}

static void sleep_main(void *arg)
{
	weft_fiber *f[SLEEPERS];
	intptr_t i;

	(void)arg;
	for (i = 0; i < SLEEPERS; i++)
		weft_spawn(&f[i], sleeper, (void *)i, NULL);
	for (i = 0; i < SLEEPERS; i++)
		weft_join(f[i], NULL);
}

static void test_sleepers_never_wake_early(void **state)
{
	int64_t worst = 0;
	int i, late = 0;

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, sleep_main, NULL), 0);
	assert_int_equal(sleep_errs, 0);
	for (i = 0; i < SLEEPERS; i++) {
		assert_true(woke_at[i] >= due_at[i]);
		late += woke_at[i] - due_at[i] > 1000 * MS;
		if (woke_at[i] - due_at[i] > worst)
			worst = woke_at[i] - due_at[i];
	}
	/* Early wake-ups are the bug. Lateness is only checked for timers
	 * forgotten until something else happens: a loaded machine (ASan
	 * with a load average of 300 made a fifth of them 100-210 ms late)
	 * must not fail it, so the bound is a second. */
	if (late >= SLEEPERS / 10)
		fail_msg("%d of %d sleepers woke over 1 s late, the latest "
			 "by %.1f ms", late, SLEEPERS, (double)worst / MS);
	watchdog_disarm();
}

struct deadline_res {
	ssize_t read_rc, sleep_rc, poll_rc, poll_ready, after_rc;
	int64_t waited_ns;
	int64_t old_deadline;
};

static void deadline_main(void *arg)
{
	struct deadline_res *r = arg;
	int64_t t0;
	char c;
	int p[2];

	if (pipe(p))
		return;
	t0 = weft_now_ns();
	r->old_deadline = weft_set_deadline(t0 + 50 * MS);
	/* Nobody writes: the deadline ends the read. */
	r->read_rc = weft_read(p[0], &c, 1);
	r->waited_ns = weft_now_ns() - t0;
	/* Past the deadline already: fails at once. */
	r->sleep_rc = weft_sleep_ns(1000 * MS);
	weft_set_deadline(WEFT_FOREVER);
	r->poll_rc = weft_poll(p[0], POLLIN, 20 * MS);
	weft_write(p[1], "x", 1);
	r->poll_ready = weft_poll(p[0], POLLIN, WEFT_FOREVER);
	r->after_rc = weft_read(p[0], &c, 1);
	close(p[0]);
	close(p[1]);
}

static void test_deadline_stops_a_blocked_read_with_etimedout(void **state)
{
	struct deadline_res r = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, deadline_main, &r), 0);
	assert_int_equal(r.old_deadline, WEFT_FOREVER);
	assert_int_equal(r.read_rc, -ETIMEDOUT);
	assert_true(r.waited_ns >= 50 * MS);
	assert_int_equal(r.sleep_rc, -ETIMEDOUT);
	assert_int_equal(r.poll_rc, -ETIMEDOUT);
	assert_true(r.poll_ready & POLLIN);
	assert_int_equal(r.after_rc, 1);
	watchdog_disarm();
}

/*
 * The edges of "a negative time means no limit" (weft.h, Time and
 * deadlines). A wait without limit is checked only in the direction a
 * slow machine cannot fail: still waiting after 20 ms, then ended by a
 * cancel, a write or the fiber's deadline.
 */
struct edge_wait {
	int64_t arg;		/* the deadline or timeout passed   */
	int64_t fiber_deadline;	/* set first; WEFT_FOREVER: none    */
	int fd;			/* weft_poll()'s                    */
	int rc;
	unsigned stage;		/* atomic: 1 waiting, 2 returned    */
	int64_t returned_at;
};

static void *sleep_until_edge(void *arg)
{
	struct edge_wait *e = arg;

	weft_set_deadline(e->fiber_deadline);
	__atomic_store_n(&e->stage, 1, __ATOMIC_RELEASE);
	e->rc = weft_sleep_until(e->arg);
	e->returned_at = weft_now_ns();
	__atomic_store_n(&e->stage, 2, __ATOMIC_RELEASE);
	return NULL;
}

static void *poll_edge(void *arg)
{
	struct edge_wait *e = arg;

	weft_set_deadline(e->fiber_deadline);
	__atomic_store_n(&e->stage, 1, __ATOMIC_RELEASE);
	e->rc = weft_poll(e->fd, POLLIN, e->arg);
	e->returned_at = weft_now_ns();
	__atomic_store_n(&e->stage, 2, __ATOMIC_RELEASE);
	return NULL;
}

static unsigned edge_stage(struct edge_wait *e)
{
	return __atomic_load_n(&e->stage, __ATOMIC_ACQUIRE);
}

/* Spawn @fn(@e), and give it 20 ms in its wait once it has begun. */
static weft_fiber *edge_spawn_and_wait(void *(*fn)(void *),
				       struct edge_wait *e)
{
	weft_fiber *f = check_spawn(fn, e);

	while (edge_stage(e) == 0)
		weft_yield();
	weft_sleep_ns(20 * MS);
	return f;
}

static const int64_t no_limit[] = { WEFT_FOREVER, -2, INT64_MIN };
#define NO_LIMITS (sizeof(no_limit) / sizeof(no_limit[0]))

static void sleep_until_edges_main(void *arg)
{
	static const int64_t passed[] = { 0, 1 };
	struct edge_wait e[NO_LIMITS], d;
	weft_fiber *f[NO_LIMITS];

	(void)arg;
	/* No deadline: asleep until cancelled (it once returned 0 at once). */
	for (unsigned i = 0; i < NO_LIMITS; i++) {
		e[i] = (struct edge_wait){ .arg = no_limit[i],
					   .fiber_deadline = WEFT_FOREVER };
		f[i] = edge_spawn_and_wait(sleep_until_edge, &e[i]);
	}
	for (unsigned i = 0; i < NO_LIMITS; i++) {
		check_eq(edge_stage(&e[i]), 1);
		check_eq(weft_cancel(f[i]), 0);
		check_join(f[i]);
		check_eq(e[i].rc, -ECANCELED);
	}

	/* Or until the fiber's deadline. */
	d = (struct edge_wait){ .arg = -2, .fiber_deadline =
				weft_now_ns() + 20 * MS };
	check_join(check_spawn(sleep_until_edge, &d));
	check_eq(d.rc, -ETIMEDOUT);
	check(d.returned_at >= d.fiber_deadline);

	/* 0 and a time long past have passed: 0, not the fiber's deadline
	 * 10 s off, which a sleep without limit would have waited for. */
	for (unsigned i = 0; i < 2; i++) {
		d = (struct edge_wait){ .arg = passed[i], .fiber_deadline =
					weft_now_ns() + 10000 * MS };
		check_join(check_spawn(sleep_until_edge, &d));
		check_eq(d.rc, 0);
	}
}

static void test_sleep_until_negative_is_no_deadline(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&two, sleep_until_edges_main, NULL);
	watchdog_disarm();
}

static void set_deadline_edges_main(void *arg)
{
	char c = 0;
	int p[2];

	(void)arg;
	if (pipe(p))
		return;
	/* Any negative deadline is none, and reads back as WEFT_FOREVER. */
	check_eq(weft_set_deadline(-2), WEFT_FOREVER);
	check_eq(weft_sleep_ns(MS), 0);
	check_eq(weft_set_deadline(INT64_MIN), WEFT_FOREVER);
	check_eq(weft_sleep_ns(MS), 0);
	check_eq(weft_set_deadline(WEFT_FOREVER), WEFT_FOREVER);

	/* 0 has passed: a read fails at once, having taken nothing. */
	check_eq(weft_write(p[1], "x", 1), 1);
	check_eq(weft_set_deadline(0), WEFT_FOREVER);
	check_eq(weft_read(p[0], &c, 1), -ETIMEDOUT);
	check_eq(weft_sleep_ns(0), -ETIMEDOUT);
	check_eq(weft_set_deadline(-2), 0);
	check_eq(weft_read(p[0], &c, 1), 1);
	check_eq(c, 'x');
	close(p[0]);
	close(p[1]);
}

static void test_set_deadline_negative_is_none_zero_has_passed(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&two, set_deadline_edges_main, NULL);
	watchdog_disarm();
}

static void poll_edges_main(void *arg)
{
	struct edge_wait e[NO_LIMITS + 1], d;
	weft_fiber *f[NO_LIMITS + 1];
	int p[NO_LIMITS + 1][2], q[2];

	(void)arg;
	if (pipe(q))
		return;
	/* A negative timeout, or one too large to add to the clock, waits
	 * without limit; under set_deadline(-2), which is none either. */
	for (unsigned i = 0; i <= NO_LIMITS; i++) {
		if (pipe(p[i]))
			return;
		e[i] = (struct edge_wait){
			.arg = i < NO_LIMITS ? no_limit[i] : INT64_MAX,
			.fiber_deadline = -2, .fd = p[i][0] };
		f[i] = edge_spawn_and_wait(poll_edge, &e[i]);
	}
	for (unsigned i = 0; i <= NO_LIMITS; i++) {
		check_eq(edge_stage(&e[i]), 1);
		check_eq(weft_write(p[i][1], "x", 1), 1);
		check_join(f[i]);
		check(e[i].rc > 0 && (e[i].rc & POLLIN));
	}

	/* 0 checks once: ready, or -ETIMEDOUT at once. */
	check_eq(weft_poll(p[0][0], POLLIN, 0), POLLIN);
	check_eq(weft_poll(q[0], POLLIN, 0), -ETIMEDOUT);

	/* The fiber's deadline ends a poll without limit. */
	d = (struct edge_wait){ .arg = -2, .fd = q[0], .fiber_deadline =
				weft_now_ns() + 20 * MS };
	check_join(check_spawn(poll_edge, &d));
	check_eq(d.rc, -ETIMEDOUT);
	check(d.returned_at >= d.fiber_deadline);
	for (unsigned i = 0; i <= NO_LIMITS; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
	close(q[0]);
	close(q[1]);
}

static void test_poll_negative_timeout_waits_zero_checks_once(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_checked(&two, poll_edges_main, NULL);
	watchdog_disarm();
}

/* Cancellation ------------------------------------------------------------------- */

struct cancel_res {
	ssize_t read_rc, sleep_rc, again_rc;
	int cancel_rc;
};

static void *read_forever(void *arg)
{
	struct cancel_res *r = arg;
	int p[2];
	char c;

	if (pipe(p))
		return NULL;
	r->read_rc = weft_read(p[0], &c, 1);
	/* The request was consumed: the next call blocks normally. */
	weft_write(p[1], "y", 1);
	r->again_rc = weft_read(p[0], &c, 1);
	close(p[0]);
	close(p[1]);
	return NULL;
}

static void *sleep_forever(void *arg)
{
	struct cancel_res *r = arg;

	r->sleep_rc = weft_sleep_ns(INT64_MAX);
	return NULL;
}

static void *cancel_from_thread(void *arg)
{
	weft_fiber *f = arg;

	usleep(20000);
	return (void *)(intptr_t)weft_cancel(f);
}

static void cancel_main(void *arg)
{
	struct cancel_res *r = arg;
	weft_fiber *reader, *sleeper_f;
	pthread_t t;
	void *rc;

	weft_spawn(&reader, read_forever, r, NULL);
	weft_spawn(&sleeper_f, sleep_forever, r, NULL);
	weft_sleep_ns(10 * MS);
	r->cancel_rc = weft_cancel(reader);
	/* A sleep cancelled from a thread outside the runtime. */
	pthread_create(&t, NULL, cancel_from_thread, sleeper_f);
	weft_join(reader, NULL);
	weft_join(sleeper_f, NULL);
	pthread_join(t, &rc);
}

static void test_cancel_ends_blocked_read_and_sleep(void **state)
{
	struct cancel_res r = { 0 };

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, cancel_main, &r), 0);
	assert_int_equal(r.cancel_rc, 0);
	assert_int_equal(r.read_rc, -ECANCELED);
	assert_int_equal(r.again_rc, 1);
	assert_int_equal(r.sleep_rc, -ECANCELED);
	watchdog_disarm();
}

/*
 * A cancel that races the operation's own completion: data arrives and
 * weft_cancel() follows at once. Either the read is withdrawn (-ECANCELED,
 * the bytes still in the pipe) or it wins (its 4 bytes, and the request
 * kept: weft_cancelled() says so and the next suspension is cancelled).
 * Neither the bytes nor the request may be lost. io_uring can take either
 * way, so many rounds, with the read submitted (a sleep) or still queued
 * (a yield) when the data comes.
 */
#define RACE_ROUNDS 300

struct race_fiber {
	int fd;
	ssize_t read_rc;
	bool pending;		/* weft_cancelled() after the read */
	int next_rc;		/* the next suspension's result */
};

struct race_res {
	unsigned withdrawn, won, wrong;
	char what[200];		/* the first wrong round */
};

static void *race_reader(void *arg)
{
	struct race_fiber *rf = arg;
	char buf[4];

	rf->read_rc = weft_read(rf->fd, buf, sizeof(buf));
	rf->pending = weft_cancelled();
	rf->next_rc = weft_sleep_ns(MS);
	return NULL;
}

static void race_main(void *arg)
{
	struct race_res *r = arg;

	for (unsigned i = 0; i < RACE_ROUNDS; i++) {
		struct race_fiber rf = { 0 };
		weft_fiber *f;
		int p[2];
		char left[8];
		ssize_t in_pipe;
		bool ok;

		check_eq(pipe2(p, O_CLOEXEC), 0);
		rf.fd = p[0];
		check_eq(weft_spawn(&f, race_reader, &rf, NULL), 0);
		if (i % 2)
			weft_sleep_ns(MS / 10);
		else
			weft_yield();
		check_eq(write(p[1], "abcd", 4), 4);
		check_eq(weft_cancel(f), 0);
		check_eq(weft_join(f, NULL), 0);
		check_eq(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
		in_pipe = read(p[0], left, sizeof(left));
		if (rf.read_rc == -ECANCELED) {
			ok = in_pipe == 4 && !rf.pending && rf.next_rc == 0;
			r->withdrawn += ok;
		} else {
			ok = rf.read_rc == 4 && in_pipe < 0 && rf.pending &&
			     rf.next_rc == -ECANCELED;
			r->won += ok;
		}
		if (!ok && r->wrong++ == 0)
			snprintf(r->what, sizeof(r->what),
				 "round %u: read %zd, %zd left in the pipe, "
				 "cancelled() %d, next suspension %d",
				 i, rf.read_rc, in_pipe, rf.pending, rf.next_rc);
		close(p[0]);
		close(p[1]);
	}
}

static void test_cancel_racing_completion_loses_neither(void **state)
{
	struct weft_config one = { .workers = 1 };
	struct race_res r = { 0 };

	(void)state;
	watchdog_arm(__func__, 60);
	assert_int_equal(weft_run(&one, race_main, &r), 0);
	print_message("withdrawn %u, completed first %u, wrong %u\n",
		      r.withdrawn, r.won, r.wrong);
	if (r.wrong)
		fail_msg("%u of %u rounds lost something; first: %s", r.wrong,
			 RACE_ROUNDS, r.what);
	assert_int_equal(nr_failed, 0);
	watchdog_disarm();
}

/*
 * A cancel request and the read's deadline ending the same wait (the
 * worker finds both in one pass: it was busy until both were due). The
 * read ends -ECANCELED (the request consumed) or -ETIMEDOUT (the request
 * kept for the next suspension); the request is never lost.
 */
#define DL_RACE_ROUNDS 20

static void *dl_race_reader(void *arg)
{
	struct race_fiber *rf = arg;
	char buf[4];

	weft_set_deadline((int64_t)weft_now_ns() + 2 * MS);
	rf->read_rc = weft_read(rf->fd, buf, sizeof(buf));
	rf->pending = weft_cancelled();
	weft_set_deadline(WEFT_FOREVER);
	rf->next_rc = weft_sleep_ns(MS);
	return NULL;
}

static void dl_race_main(void *arg)
{
	struct race_res *r = arg;

	for (unsigned i = 0; i < DL_RACE_ROUNDS; i++) {
		struct race_fiber rf = { 0 };
		weft_fiber *f;
		int64_t until;
		int p[2];
		bool ok;

		check_eq(pipe2(p, O_CLOEXEC), 0);
		rf.fd = p[0];
		check_eq(weft_spawn(&f, dl_race_reader, &rf, NULL), 0);
		/* Let it park in the read, then keep the worker busy past
		 * the read's deadline before cancelling. */
		weft_sleep_ns(MS / 10);
		until = weft_now_ns() + 3 * MS;
		while (weft_now_ns() < until)
			;
		check_eq(weft_cancel(f), 0);
		check_eq(weft_join(f, NULL), 0);
		if (rf.read_rc == -ECANCELED) {
			ok = !rf.pending && rf.next_rc == 0;
			r->withdrawn += ok;
		} else {
			ok = rf.read_rc == -ETIMEDOUT && rf.pending &&
			     rf.next_rc == -ECANCELED;
			r->won += ok;
		}
		if (!ok && r->wrong++ == 0)
			snprintf(r->what, sizeof(r->what),
				 "round %u: read %zd, cancelled() %d, next "
				 "suspension %d", i, rf.read_rc, rf.pending,
				 rf.next_rc);
		close(p[0]);
		close(p[1]);
	}
}

static void test_cancel_and_deadline_together_keep_the_request(void **state)
{
	struct weft_config one = { .workers = 1 };
	struct race_res r = { 0 };

	(void)state;
	watchdog_arm(__func__, 60);
	assert_int_equal(weft_run(&one, dl_race_main, &r), 0);
	print_message("cancelled %u, timed out %u, wrong %u\n", r.withdrawn,
		      r.won, r.wrong);
	if (r.wrong)
		fail_msg("%u of %u rounds lost something; first: %s", r.wrong,
			 DL_RACE_ROUNDS, r.what);
	assert_int_equal(nr_failed, 0);
	watchdog_disarm();
}

/* Shutdown ends fibers blocked in I/O and sleeps. */
static int stuck_rc[4];

static void *stuck_in_read(void *arg)
{
	int *rc = arg;
	int p[2];
	char c;

	if (pipe(p))
		return NULL;
	*rc = (int)weft_read(p[0], &c, 1);
	close(p[0]);
	close(p[1]);
	return NULL;
}

static void *stuck_in_sleep(void *arg)
{
	*(int *)arg = weft_sleep_ns(INT64_MAX);
	return NULL;
}

static void shutdown_main(void *arg)
{
	(void)arg;
	weft_go(stuck_in_read, &stuck_rc[0]);
	weft_go(stuck_in_read, &stuck_rc[1]);
	weft_go(stuck_in_sleep, &stuck_rc[2]);
	weft_go(stuck_in_sleep, &stuck_rc[3]);
	weft_sleep_ns(10 * MS);
}

static void test_shutdown_cancels_io_and_sleeps(void **state)
{
	int i;

	(void)state;
	watchdog_arm(__func__, 30);
	assert_int_equal(weft_run(&two, shutdown_main, NULL), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(stuck_rc[i], -ECANCELED);
	watchdog_disarm();
}

/*
 * Ring pressure: 2,000 reads in flight on an 8-entry submission queue,
 * then all completing at once into a 32-entry completion queue. A full SQ
 * must be flushed, and the kernel's CQ overflow (IORING_FEAT_NODROP)
 * drained: every read returns its own byte.
 */
#define PRESSURE 2000

static int pressure_pipes[PRESSURE][2];
static int pressure_bad;

static void *read_own_pipe(void *arg)
{
	intptr_t i = (intptr_t)arg;
	char c = 0;

	if (weft_read(pressure_pipes[i][0], &c, 1) != 1 || c != (char)i)
		__atomic_add_fetch(&pressure_bad, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void pressure_main(void *arg)
{
	weft_fiber **f = calloc(PRESSURE, sizeof(*f));
	intptr_t i;

	(void)arg;
	for (i = 0; i < PRESSURE; i++)
		weft_spawn(&f[i], read_own_pipe, (void *)i, NULL);
	/* Let every reader submit and park. */
	weft_sleep_ns(20 * MS);
	for (i = 0; i < PRESSURE; i++) {
		char c = (char)i;

		if (write(pressure_pipes[i][1], &c, 1) != 1)
			pressure_bad++;
	}
	for (i = 0; i < PRESSURE; i++)
		weft_join(f[i], NULL);
	free(f);
}

static void test_tiny_ring_loses_no_completion(void **state)
{
	struct weft_config tiny = { .workers = 1, .ring_entries = 8 };
	int i;

	(void)state;
	for (i = 0; i < PRESSURE; i++)
		assert_int_equal(pipe(pressure_pipes[i]), 0);
	watchdog_arm(__func__, 60);
	assert_int_equal(weft_run(&tiny, pressure_main, NULL), 0);
	watchdog_disarm();
	assert_int_equal(pressure_bad, 0);
	for (i = 0; i < PRESSURE; i++) {
		close(pressure_pipes[i][0]);
		close(pressure_pipes[i][1]);
	}
}

/*
 * Every ring size weft.h accepts works with deadlines: each read of the
 * pressure test runs under one, and a quarter of the pipes are never
 * written, so their deadlines fire (a cancel each, from the heap). Once
 * ring_entries = 1 aborted at the first call with a deadline, and 16,385
 * to 32,768 asked for a CQ past the kernel's limit (-EINVAL).
 */
static int pressure_timed_out;

static void *read_own_pipe_by_deadline(void *arg)
{
	intptr_t i = (intptr_t)arg;
	bool silent = i % 4 == 3;
	char c = 0;
	ssize_t r;

	weft_set_deadline(weft_now_ns() + (silent ? 20 : 30000) * MS);
	r = weft_read(pressure_pipes[i][0], &c, 1);
	if (silent && r == -ETIMEDOUT)
		__atomic_add_fetch(&pressure_timed_out, 1, __ATOMIC_RELAXED);
	else if (silent || r != 1 || c != (char)i)
		__atomic_add_fetch(&pressure_bad, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void pressure_deadline_main(void *arg)
{
	weft_fiber **f = calloc(PRESSURE, sizeof(*f));
	intptr_t i;

	(void)arg;
	for (i = 0; i < PRESSURE; i++)
		check_eq(weft_spawn(&f[i], read_own_pipe_by_deadline, (void *)i,
				    NULL), 0);
	weft_sleep_ns(5 * MS);
	for (i = 0; i < PRESSURE; i++) {
		char c = (char)i;

		if (i % 4 != 3 && write(pressure_pipes[i][1], &c, 1) != 1)
			pressure_bad++;
	}
	for (i = 0; i < PRESSURE; i++)
		check_join(f[i]);
	free(f);
}

static void test_every_ring_size_works_with_deadlines(void **state)
{
	static const unsigned sizes[] = { 1, 2, 3, 5, 16385, 32768 };

	(void)state;
	for (int i = 0; i < PRESSURE; i++)
		assert_int_equal(pipe(pressure_pipes[i]), 0);
	watchdog_arm(__func__, 120);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		for (unsigned workers = 1; workers <= 2; workers++) {
			struct weft_config cfg = { .workers = workers,
						   .ring_entries = sizes[k] };

			pressure_bad = 0;
			pressure_timed_out = 0;
			run_checked(&cfg, pressure_deadline_main, NULL);
			assert_int_equal(pressure_bad, 0);
			assert_int_equal(pressure_timed_out, PRESSURE / 4);
		}
	}
	watchdog_disarm();
	for (int i = 0; i < PRESSURE; i++) {
		close(pressure_pipes[i][0]);
		close(pressure_pipes[i][1]);
	}
}

/*
 * The kernel refusing a submission (-EBUSY: its completions are backed up)
 * is rare on new kernels, so it is injected: every second entry of a
 * ring fails before the kernel sees it. The 2,000 reads above must still
 * each get their own byte, on one worker and across two (where wake-ups
 * between workers go through the rings too), and the injection must
 * really have hit.
 */
static void run_pressure_with_ebusy(const struct weft_config *cfg)
{
	int i;

	for (i = 0; i < PRESSURE; i++)
		assert_int_equal(pipe(pressure_pipes[i]), 0);
	pressure_bad = 0;
	weft__fault_submit_hits = 0;
	weft__fault_submit_period = 2;
	weft__fault_submit_err = EBUSY;
	assert_int_equal(weft_run(cfg, pressure_main, NULL), 0);
	weft__fault_submit_err = 0;
	assert_int_equal(pressure_bad, 0);
	assert_true(weft__fault_submit_hits > 0);
	for (i = 0; i < PRESSURE; i++) {
		close(pressure_pipes[i][0]);
		close(pressure_pipes[i][1]);
	}
}

static void test_refused_submissions_lose_no_completion(void **state)
{
	struct weft_config tiny = { .workers = 1, .ring_entries = 8 };
	struct weft_config tiny2 = { .workers = 2, .ring_entries = 8 };

	(void)state;
	watchdog_arm(__func__, 60);
	run_pressure_with_ebusy(&tiny);
	run_pressure_with_ebusy(&tiny2);
	watchdog_disarm();
}

/* Sleeps, so that the worker enters its ring to wait, again and again. */
static void sleep_a_little_main(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 10; i++)
		weft_sleep_ns(MS);
}

/*
 * A dropped completion (-EBADR) would leave some fiber waiting forever:
 * the process must stop at once with a line that says why, not hang. In a
 * child process, with the failure injected.
 */
static void drop_a_completion(void *arg)
{
	struct weft_config one = { .workers = 1 };

	(void)arg;
	weft__fault_submit_period = 2;
	weft__fault_submit_err = EBADR;
	weft_run(&one, sleep_a_little_main, NULL);
}

static void test_dropped_completion_aborts_with_a_clear_line(void **state)
{
	char out[1024];
	int status;

	(void)state;
	watchdog_arm(__func__, 30);
	status = run_in_child(drop_a_completion, NULL, out, sizeof(out));
	watchdog_disarm();
	assert_true(status != -1 && WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_non_null(strstr(out, "weft: the kernel dropped an io_uring "
				    "completion"));
}

/*
 * Run as io_ring_coop, io_ring_coop_plain and io_ring_plain, this whole
 * suite runs on the rings older kernels give (WEFT_TEST_RING_SKIP in
 * helpers.h). Here: the rings really are set up so.
 */
static unsigned ring_flags_seen;

static void read_ring_flags(void *arg)
{
	(void)arg;
	ring_flags_seen = weft__uring_setup_flags(weft__worker_self());
}

static void test_rings_use_the_flags_asked_for(void **state)
{
	unsigned skip = weft__fault_ring_setup_skip;

	(void)state;
	assert_int_equal(weft_run(&two, read_ring_flags, NULL), 0);
	if (skip >= 1)
		assert_false(ring_flags_seen & IORING_SETUP_DEFER_TASKRUN);
	if (skip == 1)
		assert_true(ring_flags_seen & IORING_SETUP_COOP_TASKRUN);
	if (skip >= 2)
		assert_false(ring_flags_seen & IORING_SETUP_SINGLE_ISSUER);
	if (skip == 2)
		assert_true(ring_flags_seen & IORING_SETUP_COOP_TASKRUN);
	if (skip >= 3)
		assert_false(ring_flags_seen & IORING_SETUP_COOP_TASKRUN);
}

static void test_io_outside_a_fiber_is_eperm(void **state)
{
	char c;

	(void)state;
	assert_int_equal(weft_read(0, &c, 1), -EPERM);
	assert_int_equal(weft_write(1, "x", 1), -EPERM);
	assert_int_equal(weft_sleep_ns(1), -EPERM);
	assert_int_equal(weft_poll(0, POLLIN, 0), -EPERM);
	assert_int_equal(weft_set_deadline(5), WEFT_FOREVER);
}

/*
 * With no argument, the tests every backend must pass; with "ring", those
 * of io_uring's own machinery (ring sizes, refused submissions, setup
 * flags), which tests/meson.build runs with WEFT_BACKEND=io_uring.
 */
int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipe_round_trip_eof_and_ebadf),
		cmocka_unit_test(test_file_open_pwrite_pread_readv_fsync),
		cmocka_unit_test(test_cached_file_calls_in_place_yield_and_honour_cancel),
		cmocka_unit_test(test_sendfile_sends_file_bytes_survives_cancel),
		cmocka_unit_test(test_write_all_and_read_full_over_short_transfers),
		cmocka_unit_test(test_write_all_and_read_full_null_buffer_is_efault),
		cmocka_unit_test(test_tcp_accept_connect_echo_refused_reset),
		cmocka_unit_test(test_sleepers_never_wake_early),
		cmocka_unit_test(test_deadline_stops_a_blocked_read_with_etimedout),
		cmocka_unit_test(test_sleep_until_negative_is_no_deadline),
		cmocka_unit_test(test_set_deadline_negative_is_none_zero_has_passed),
		cmocka_unit_test(test_poll_negative_timeout_waits_zero_checks_once),
		cmocka_unit_test(test_cancel_ends_blocked_read_and_sleep),
		cmocka_unit_test(test_cancel_racing_completion_loses_neither),
		cmocka_unit_test(test_cancel_and_deadline_together_keep_the_request),
		cmocka_unit_test(test_shutdown_cancels_io_and_sleeps),
		cmocka_unit_test(test_io_outside_a_fiber_is_eperm),
		cmocka_unit_test(test_always_ready_descriptor_does_not_starve_siblings),
		cmocka_unit_test(test_eventfd_read_waits_in_its_fiber),
		cmocka_unit_test(test_reader_and_writer_on_one_socket),
		cmocka_unit_test(test_poll_waits_for_any_poll_event),
	};
	const struct CMUnitTest ring_tests[] = {
		cmocka_unit_test(test_tiny_ring_loses_no_completion),
		cmocka_unit_test(test_every_ring_size_works_with_deadlines),
		cmocka_unit_test(test_refused_submissions_lose_no_completion),
		cmocka_unit_test(test_dropped_completion_aborts_with_a_clear_line),
		cmocka_unit_test(test_rings_use_the_flags_asked_for),
	};

	if (argc > 2 || (argc == 2 && strcmp(argv[1], "ring") != 0)) {
		fprintf(stderr, "usage: test_io [ring]\n");
		return 2;
	}
	skip_without_backend();
	if (argc == 2)
		return cmocka_run_group_tests_name("io_uring", ring_tests,
						   NULL, NULL);
	return cmocka_run_group_tests_name("io", tests, NULL, NULL);
}
