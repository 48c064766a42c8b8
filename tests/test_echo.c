/* SPDX-License-Identifier: MIT */
/*
 * weft-echo and weft-load as processes, the way people use them: the test
 * starts the server, reads its port from its first line, drives it with
 * the load generator or with plain sockets of its own, and stops it with
 * SIGTERM, which must end it with status 0. The two programs' paths come
 * as the first two arguments (meson passes the built executables).
 *
 * Cases: 1,000 connections round-trip for 2 s with every byte checked;
 * a server out of file descriptors backs off instead of spinning and
 * serves again once descriptors are free (RELIABILITY G1); clients that
 * reset halfway through a message or never read hold up only their own
 * connections.
 *
 * Only the main thread runs here (plus the watchdog's). Children get
 * PR_SET_PDEATHSIG, so a test killed by its watchdog leaves none behind.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"

#define MS 1000000ull

/* argv[1] and argv[2]. */
static const char *echo_path;
static const char *load_path;

/* A running weft-echo. */
struct server {
	pid_t pid;
	int out;		/* read end of its stdout                  */
	unsigned port;
};

/* Seconds a step may take before it counts as hung; more under sanitizers. */
static unsigned slack_secs(unsigned secs)
{
	return (under_tsan() || under_asan()) ? 4 * secs : secs;
}

/*
 * Fork and exec @argv with stdout into a new pipe, whose read end goes to
 * *out. A nonzero @nofile lowers the child's RLIMIT_NOFILE first.
 * Returns the child's pid.
 */
static pid_t spawn(char *const argv[], int *out, rlim_t nofile)
{
	sigset_t none;
	int p[2];
	pid_t pid;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { nofile, nofile };

		/* Die with the test, even if its watchdog ends it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* The watchdog blocks SIGALRM; exec would keep that. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (nofile && setrlimit(RLIMIT_NOFILE, &rl))
			_exit(126);
		if (dup2(p[1], STDOUT_FILENO) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	*out = p[0];
	return pid;
}

/*
 * Read from @fd into @buf (NUL-terminated) until end of file, a newline
 * if @one_line, or @secs seconds. Returns the length read.
 */
static size_t read_output(int fd, char *buf, size_t size, bool one_line,
			  unsigned secs)
{
	uint64_t end = now_ns() + secs * 1000 * MS;
	size_t len = 0;

	while (len + 1 < size) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = now_ns();
		ssize_t n;

		if (now >= end)
			break;
		if (poll(&pfd, 1, (int)((end - now) / MS) + 1) <= 0)
			continue;
		n = read(fd, buf + len, size - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (one_line && memchr(buf, '\n', len))
			break;
	}
	buf[len] = '\0';
	return len;
}

/*
 * Wait up to @secs for @pid to exit, polling with a short pause.
 * Returns its wait status, or -1 if it is still running.
 */
static int wait_exit(pid_t pid, unsigned secs)
{
	uint64_t end = now_ns() + secs * 1000 * MS;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (r < 0 || now_ns() >= end)
			return -1;
		nanosleep(&(struct timespec){ .tv_nsec = 10 * MS }, NULL);
	}
}

/* The server of the running test, for teardown() to kill; 0 if none. */
static pid_t server_pid;

/*
 * Start weft-echo with @workers worker threads ("0": one per CPU) and, if
 * @nofile is not 0, RLIMIT_NOFILE lowered to @nofile; read its port.
 */
static void server_start(struct server *s, const char *workers,
			 rlim_t nofile)
{
	char *argv[] = { (char *)echo_path, "--port", "0", "--workers",
			 (char *)workers, NULL };
	char line[128];

	s->pid = spawn(argv, &s->out, nofile);
	server_pid = s->pid;
	read_output(s->out, line, sizeof(line), true, slack_secs(10));
	if (sscanf(line, "listening on 127.0.0.1:%u", &s->port) != 1 ||
	    s->port == 0 || s->port > 65535)
		fail_msg("weft-echo printed \"%s\", not its port", line);
}

/* Whether the server is still running. */
static bool server_alive(struct server *s)
{
	int status;

	return waitpid(s->pid, &status, WNOHANG) == 0;
}

/* SIGTERM the server and require a clean exit (status 0). */
static void server_stop(struct server *s)
{
	int status;

	assert_int_equal(kill(s->pid, SIGTERM), 0);
	status = wait_exit(s->pid, slack_secs(15));
	if (status == -1)
		fail_msg("weft-echo did not exit within %u s of SIGTERM",
			 slack_secs(15));
	server_pid = 0;
	close(s->out);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("weft-echo ended with status 0x%x, not exit 0",
			 status);
}

/* The number after "@key=" in @line; fails the test if there is none. */
static uint64_t field(const char *line, const char *key)
{
	size_t len = strlen(key);
	const char *p = line;

	while ((p = strstr(p, key))) {
		if ((p == line || p[-1] == ' ') && p[len] == '=')
			return strtoull(p + len + 1, NULL, 10);
		p += len;
	}
	fail_msg("no %s= in \"%s\"", key, line);
	return 0;
}

/*
 * Run weft-load against @port with @conns connections for @secs seconds
 * and require success: exit 0, a well-formed summary line, round trips
 * done, and no errors, mismatches or failed connects. Returns the round
 * trips.
 */
static uint64_t load_ok(unsigned port, unsigned conns, unsigned secs)
{
	char sport[16], sconns[16], ssecs[16];
	char *argv[] = { (char *)load_path, "--port", sport, "--conns",
			 sconns, "--size", "64", "--seconds", ssecs, NULL };
	char out[512];
	int fd, status;
	uint64_t rts;
	pid_t pid;

	snprintf(sport, sizeof(sport), "%u", port);
	snprintf(sconns, sizeof(sconns), "%u", conns);
	snprintf(ssecs, sizeof(ssecs), "%u", secs);
	pid = spawn(argv, &fd, 0);
	read_output(fd, out, sizeof(out), false, slack_secs(secs + 60));
	close(fd);
	status = wait_exit(pid, slack_secs(10));
	if (status == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("weft-load did not finish; it printed \"%s\"", out);
	}
	print_message("%s", out);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("weft-load ended with status 0x%x: \"%s\"", status,
			 out);
	assert_int_equal(field(out, "conns"), conns);
	assert_int_equal(field(out, "size"), 64);
	assert_int_equal(field(out, "seconds"), secs);
	assert_int_equal(field(out, "errors"), 0);
	assert_int_equal(field(out, "mismatches"), 0);
	assert_int_equal(field(out, "connect_failures"), 0);
	rts = field(out, "round_trips");
	assert_true(rts > 0);
	/* It did work in the window, and no process has more than
	 * 100% per CPU. */
	assert_true(field(out, "cpu_pct") > 0);
	assert_true(field(out, "cpu_pct") <=
		    100 * (uint64_t)sysconf(_SC_NPROCESSORS_ONLN) + 10);
	return rts;
}

/* A blocking TCP client of 127.0.0.1:@port, or a nonblocking one. */
static int client(unsigned port, bool nonblock)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int type = SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0);
	int fd = socket(AF_INET, type, 0);

	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		assert_true(nonblock && errno == EINPROGRESS);
	return fd;
}

/* Close @fd with a reset rather than a FIN. */
static void close_with_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg,
				    sizeof(lg)), 0);
	close(fd);
}

/* The open file descriptors of @pid. */
static unsigned count_fds(pid_t pid)
{
	char path[64];
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Wait up to @secs for count_fds(@pid) to reach (@up) or drop below @n. */
static bool wait_fds(pid_t pid, unsigned n, bool up, unsigned secs)
{
	uint64_t end = now_ns() + secs * 1000 * MS;

	do {
		unsigned c = count_fds(pid);

		if (up ? c >= n : c < n)
			return true;
		nanosleep(&(struct timespec){ .tv_nsec = 10 * MS }, NULL);
	} while (now_ns() < end);
	return false;
}

/* User plus system CPU time of @pid so far, in nanoseconds. */
static uint64_t cpu_ns(pid_t pid)
{
	unsigned long utime = 0, stime = 0;
	char path[64], buf[1024];
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	/* Fields 14 and 15, counted from after the parenthesised name. */
	p = strrchr(buf, ')');
	assert_non_null(p);
	assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
				"%*u %*u %lu %lu", &utime, &stime), 2);
	return (uint64_t)(utime + stime) * 1000000000ull /
	       (uint64_t)sysconf(_SC_CLK_TCK);
}

/* Tests ----------------------------------------------------------------- */

/* Kill and reap the server a failed test left running. */
static int teardown(void **state)
{
	(void)state;
	if (server_pid > 0) {
		kill(server_pid, SIGKILL);
		waitpid(server_pid, NULL, 0);
		server_pid = 0;
	}
	return 0;
}

static void test_echo_1000_connections_every_byte_matches(void **state)
{
	unsigned conns = 1000 / sanitizer_scale();
	struct server s;

	(void)state;
	watchdog_arm(__func__, 60);
	server_start(&s, "0", 0);
	load_ok(s.port, conns, 2);
	server_stop(&s);
	watchdog_disarm();
}

/*
 * RLIMIT_NOFILE 64 and 100 clients: the server runs out of descriptors
 * with connections still pending. It must wait, not spin (under 0.2 s of
 * CPU in 2 s; 0.5 s under sanitizers), and must serve new clients once
 * the old ones are gone.
 */
static void test_echo_emfile_backs_off_and_recovers(void **state)
{
	uint64_t limit_ns = (under_tsan() || under_asan() ? 500 : 200) * MS;
	uint64_t cpu0, cpu1;
	struct server s;
	int fds[100];
	unsigned i;

	(void)state;
	watchdog_arm(__func__, 60);
	/* Two workers, so that the runtime's own descriptors fit. */
	server_start(&s, "2", 64);
	for (i = 0; i < 100; i++)
		fds[i] = client(s.port, true);
	if (!wait_fds(s.pid, 64, true, slack_secs(10)))
		fail_msg("weft-echo holds %u descriptors, never reached 64",
			 count_fds(s.pid));

	cpu0 = cpu_ns(s.pid);
	nanosleep(&(struct timespec){ .tv_sec = 2 }, NULL);
	cpu1 = cpu_ns(s.pid);
	print_message("server CPU over 2 s at EMFILE: %.3f s\n",
		      (double)(cpu1 - cpu0) / 1e9);
	assert_true(server_alive(&s));
	assert_true(cpu1 - cpu0 < limit_ns);

	for (i = 0; i < 100; i++)
		close(fds[i]);
	/* The pending ones are accepted, read to EOF and closed too. */
	if (!wait_fds(s.pid, 32, false, slack_secs(10)))
		fail_msg("weft-echo still holds %u descriptors",
			 count_fds(s.pid));
	load_ok(s.port, 10, 1);
	server_stop(&s);
	watchdog_disarm();
}

/*
 * Fill the connection @fd from the client side without ever reading, until
 * nothing more goes in for 200 ms: the server's echo of it is then stuck
 * in a full socket buffer. Returns the bytes written.
 */
static size_t fill_without_reading(int fd)
{
	static char junk[65536];
	uint64_t end = now_ns() + slack_secs(10) * 1000 * MS;
	size_t total = 0;

	memset(junk, 'x', sizeof(junk));
	while (now_ns() < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		ssize_t n = send(fd, junk, sizeof(junk), MSG_NOSIGNAL);

		if (n > 0) {
			total += (size_t)n;
			continue;
		}
		assert_true(n < 0 && errno == EAGAIN);
		if (poll(&pfd, 1, 200) == 0)
			return total;
	}
	fail_msg("the server kept reading for %u s", slack_secs(10));
	return total;
}

static void test_echo_bad_peers_hold_up_only_themselves(void **state)
{
	static char big[256 * 1024];
	struct server s;
	size_t stuck_bytes;
	int stuck, fd;
	unsigned i;

	(void)state;
	watchdog_arm(__func__, 60);
	server_start(&s, "0", 0);

	/* Half a 64-byte message, then a reset; and a big write, reset
	 * while the server is still echoing it. */
	for (i = 0; i < 20; i++) {
		fd = client(s.port, false);
		assert_int_equal(send(fd, big, 32, MSG_NOSIGNAL), 32);
		close_with_reset(fd);
		fd = client(s.port, false);
		assert_true(send(fd, big, sizeof(big), MSG_DONTWAIT |
				 MSG_NOSIGNAL) > 0);
		close_with_reset(fd);
	}

	/* A client that writes and never reads. */
	stuck = client(s.port, false);
	assert_int_equal(fcntl(stuck, F_SETFL, O_NONBLOCK), 0);
	stuck_bytes = fill_without_reading(stuck);
	print_message("never-reading client wrote %zu bytes\n", stuck_bytes);
	assert_true(stuck_bytes > 0);

	load_ok(s.port, 10, 1);
	assert_true(server_alive(&s));
	/* Shutdown must also end the fiber stuck in its send. */
	server_stop(&s);
	close(stuck);
	watchdog_disarm();
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(
			test_echo_1000_connections_every_byte_matches,
			teardown),
		cmocka_unit_test_teardown(
			test_echo_emfile_backs_off_and_recovers, teardown),
		cmocka_unit_test_teardown(
			test_echo_bad_peers_hold_up_only_themselves, teardown),
	};

	if (argc != 3) {
		fprintf(stderr, "usage: %s WEFT-ECHO WEFT-LOAD\n", argv[0]);
		return 1;
	}
	echo_path = argv[1];
	load_path = argv[2];
	skip_without_uring();
	return cmocka_run_group_tests_name("echo", tests, NULL, NULL);
}
