/* SPDX-License-Identifier: MIT */
/*
 * Helpers for tests that run weft-echo and weft-load as processes and
 * drive them with plain sockets: start a program with its stdout in a
 * pipe (and, if asked, a lower RLIMIT_NOFILE), read the echo server's
 * port from its first line, stop it with a signal and time its exit, read
 * a process's open descriptors, resident memory and CPU time from /proc,
 * and a blocking "probe" client whose every round trip is checked byte
 * for byte. Header-only, for files that include <cmocka.h> and
 * "helpers.h" first: failures are cmocka failures, on the test's main
 * thread only.
 *
 * Children get PR_SET_PDEATHSIG, so a test killed by its watchdog leaves
 * none behind; echo_teardown() kills a server a failed test left running.
 */
#ifndef WEFT_TEST_ECHO_PROC_H
#define WEFT_TEST_ECHO_PROC_H

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define EP_MS 1000000ull

/* argv[1] and argv[2] of the test: the two programs' paths. */
static const char *echo_path;
static const char *load_path;

/* A running weft-echo. */
struct server {
	pid_t pid;
	int out;		/* read end of its stdout                  */
	unsigned port;
};

/* The server of the running test, for echo_teardown(); 0 if none. */
static pid_t server_pid;

/* Seconds a step may take before it counts as hung; more under sanitizers. */
static __attribute__((unused)) unsigned slack_secs(unsigned secs)
{
	return (under_tsan() || under_asan()) ? 4 * secs : secs;
}

static __attribute__((unused)) void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * Fork and exec @argv with stdout into a new pipe, whose read end goes to
 * *out. A nonzero @nofile lowers the child's RLIMIT_NOFILE first.
 * Returns the child's pid.
 */
static __attribute__((unused)) pid_t spawn_prog(char *const argv[], int *out,
						rlim_t nofile)
{
	sigset_t none;
	int p[2];
	pid_t pid;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fflush(NULL);
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
		/* Nothing inherited from the test runner: the descriptors
		 * the program holds are its own. */
		close_range(3, ~0u, 0);
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
static __attribute__((unused)) size_t read_output(int fd, char *buf,
						  size_t size, bool one_line,
						  unsigned secs)
{
	uint64_t end = now_ns() + secs * 1000 * EP_MS;
	size_t len = 0;

	while (len + 1 < size) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = now_ns();
		ssize_t n;

		if (now >= end)
			break;
		if (poll(&pfd, 1, (int)((end - now) / EP_MS) + 1) <= 0)
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
 * Wait up to @ms milliseconds for @pid to exit, polling every millisecond.
 * Returns its wait status, or -1 if it is still running.
 */
static __attribute__((unused)) int wait_exit_ms(pid_t pid, unsigned ms)
{
	uint64_t end = now_ns() + ms * EP_MS;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (r < 0 || now_ns() >= end)
			return -1;
		sleep_ms(1);
	}
}

/*
 * Start weft-echo with @workers worker threads ("0": one per CPU) and, if
 * @nofile is not 0, RLIMIT_NOFILE lowered to @nofile; read its port.
 */
static __attribute__((unused)) void server_start(struct server *s,
						 const char *workers,
						 rlim_t nofile)
{
	char *argv[] = { (char *)echo_path, "--port", "0", "--workers",
			 (char *)workers, NULL };
	const char *backend;
	char line[128];

	s->pid = spawn_prog(argv, &s->out, nofile);
	server_pid = s->pid;
	read_output(s->out, line, sizeof(line), true, slack_secs(10));
	if (sscanf(line, "listening on 127.0.0.1:%u", &s->port) != 1 ||
	    s->port == 0 || s->port > 65535)
		fail_msg("weft-echo printed \"%s\", not its port", line);
	/* It runs on the backend the test was asked to use. */
	backend = getenv("WEFT_BACKEND");
	if (backend && strcmp(backend, "auto") != 0) {
		char want[32];

		snprintf(want, sizeof(want), "(%s)", backend);
		if (!strstr(line, want))
			fail_msg("weft-echo printed \"%s\", not on %s", line,
				 backend);
	}
}

/* Whether the server is still running (not yet exited or reaped). */
static __attribute__((unused)) bool server_alive(struct server *s)
{
	int status;

	return waitpid(s->pid, &status, WNOHANG) == 0;
}

/*
 * Send @sig to the server and wait up to @ms for it to exit. Returns its
 * wait status and stores the time it took in *took_ns; fails the test if
 * it did not exit in time.
 */
static __attribute__((unused)) int server_signal(struct server *s, int sig,
						 unsigned ms,
						 uint64_t *took_ns)
{
	uint64_t t0 = now_ns();
	int status;

	assert_int_equal(kill(s->pid, sig), 0);
	status = wait_exit_ms(s->pid, ms);
	*took_ns = now_ns() - t0;
	if (status == -1)
		fail_msg("weft-echo did not exit within %u ms of signal %d",
			 ms, sig);
	server_pid = 0;
	close(s->out);
	return status;
}

/* SIGTERM the server and require a clean exit (status 0). */
static __attribute__((unused)) void server_stop(struct server *s)
{
	uint64_t took;
	int status = server_signal(s, SIGTERM, slack_secs(15) * 1000, &took);

	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("weft-echo ended with status 0x%x, not exit 0",
			 status);
}

/* Kill and reap the server a failed test left running. */
static __attribute__((unused)) int echo_teardown(void **state)
{
	(void)state;
	if (server_pid > 0) {
		kill(server_pid, SIGKILL);
		waitpid(server_pid, NULL, 0);
		server_pid = 0;
	}
	return 0;
}

/* The number after "@key=" in @line; fails the test if there is none. */
static __attribute__((unused)) uint64_t field(const char *line,
					      const char *key)
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
 * Start weft-load against @port with @conns connections of 64-byte
 * messages for @secs seconds; its stdout goes to *out. Returns its pid.
 */
static __attribute__((unused)) pid_t load_start(unsigned port,
						unsigned conns,
						unsigned secs, int *out)
{
	char sport[16], sconns[16], ssecs[16];
	char *argv[] = { (char *)load_path, "--port", sport, "--conns",
			 sconns, "--size", "64", "--seconds", ssecs, NULL };

	snprintf(sport, sizeof(sport), "%u", port);
	snprintf(sconns, sizeof(sconns), "%u", conns);
	snprintf(ssecs, sizeof(ssecs), "%u", secs);
	return spawn_prog(argv, out, 0);
}

/*
 * Run weft-load against @port with @conns connections for @secs seconds
 * and require success: exit 0, a well-formed summary line, round trips
 * done, and no errors, mismatches or failed connects. Returns the round trips.
 */
static __attribute__((unused)) uint64_t load_ok(unsigned port,
						unsigned conns,
						unsigned secs)
{
	char out[512];
	int fd, status;
	pid_t pid;

	pid = load_start(port, conns, secs, &fd);
	read_output(fd, out, sizeof(out), false, slack_secs(secs + 60));
	close(fd);
	status = wait_exit_ms(pid, slack_secs(10) * 1000);
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
	assert_true(field(out, "round_trips") > 0);
	/* It did work in the window, and no process has more than
	 * 100% per CPU. */
	assert_true(field(out, "cpu_pct") > 0);
	assert_true(field(out, "cpu_pct") <=
		    100 * (uint64_t)sysconf(_SC_NPROCESSORS_ONLN) + 10);
	return field(out, "round_trips");
}

/* A TCP client of 127.0.0.1:@port, blocking or not (then maybe pending). */
static __attribute__((unused)) int client(unsigned port, bool nonblock)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int type = SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0);
	int fd = socket(AF_INET, type, 0);
	int one = 1;

	if (fd < 0)
		fail_msg("socket: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) &&
	    !(nonblock && errno == EINPROGRESS))
		fail_msg("connect to port %u: %s", port, strerror(errno));
	return fd;
}

/* Wait up to @secs for the nonblocking connects of fds[0..n) to succeed. */
static __attribute__((unused)) void wait_connected(const int *fds,
						   unsigned n, unsigned secs)
{
	uint64_t end = now_ns() + secs * 1000 * EP_MS;

	for (unsigned i = 0; i < n; i++) {
		struct pollfd pfd = { .fd = fds[i], .events = POLLOUT };
		socklen_t len = sizeof(int);
		int err = 0;

		while (poll(&pfd, 1, 10) == 0)
			if (now_ns() >= end)
				fail_msg("connect %u of %u still pending after "
					 "%u s", i, n, secs);
		assert_int_equal(getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err,
					    &len), 0);
		if (err)
			fail_msg("connect %u of %u: %s", i, n, strerror(err));
	}
}

/* Close @fd with a reset rather than a FIN. */
static __attribute__((unused)) void close_with_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg,
				    sizeof(lg)), 0);
	close(fd);
}

/* The open file descriptors of @pid. */
static __attribute__((unused)) unsigned count_fds(pid_t pid)
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

/* Wait up to @secs for count_fds(@pid) to reach (@up) or fall to @n. */
static __attribute__((unused)) bool wait_fds(pid_t pid, unsigned n, bool up,
					     unsigned secs)
{
	uint64_t end = now_ns() + secs * 1000 * EP_MS;

	do {
		unsigned c = count_fds(pid);

		if (up ? c >= n : c <= n)
			return true;
		sleep_ms(10);
	} while (now_ns() < end);
	return false;
}

/* VmRSS of @pid in KiB, from /proc/PID/status; 0 if it cannot be read. */
static __attribute__((unused)) uint64_t rss_kib(pid_t pid)
{
	char path[64], buf[4096];
	unsigned long long kib = 0;
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strstr(buf, "VmRSS:");
	if (p)
		sscanf(p + 6, "%llu", &kib);
	return kib;
}

/*
 * Wait up to @secs for rss_kib(@pid) to fall to @kib; returns the last
 * figure read.
 */
static __attribute__((unused)) uint64_t wait_rss(pid_t pid, uint64_t kib,
						 unsigned secs)
{
	uint64_t end = now_ns() + secs * 1000 * EP_MS;
	uint64_t r;

	for (;;) {
		r = rss_kib(pid);
		if (r <= kib || now_ns() >= end)
			return r;
		sleep_ms(50);
	}
}

/* User plus system CPU time of @pid so far, in nanoseconds. */
static __attribute__((unused)) uint64_t cpu_ns(pid_t pid)
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

/* Raise this process's soft RLIMIT_NOFILE to its hard limit; returns it. */
static __attribute__((unused)) rlim_t nofile_raise(void)
{
	struct rlimit rl;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur;
}

/* The probe: a well-behaved client -------------------------------------- */

/*
 * One blocking connection doing checked round trips of PROBE_SIZE bytes;
 * round trip k carries bytes that depend on k, so a stale or misrouted
 * echo is a mismatch.
 */
#define PROBE_SIZE 64

struct probe {
	int fd;
	uint32_t seq;		/* round trips done                        */
	uint64_t max_ns;	/* slowest round trip                      */
};

static __attribute__((unused)) void probe_open(struct probe *p,
					       unsigned port)
{
	p->fd = client(port, false);
	p->seq = 0;
	p->max_ns = 0;
}

/*
 * Receive exactly @len bytes from @fd into @buf within @secs seconds;
 * returns what recv(2) last said if it ends early (0: end of file), or
 * @len.
 */
static __attribute__((unused)) ssize_t recv_exact(int fd, void *buf,
						  size_t len, unsigned secs)
{
	uint64_t end = now_ns() + secs * 1000 * EP_MS;
	size_t got = 0;

	while (got < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (now_ns() >= end)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, 10) <= 0)
			continue;
		n = recv(fd, (char *)buf + got, len - got, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return n < 0 ? -errno : 0;
		got += (size_t)n;
	}
	return (ssize_t)len;
}

/* One checked round trip; fails the test, naming @when, if it goes wrong. */
static __attribute__((unused)) void probe_rt(struct probe *p,
					     const char *when)
{
	unsigned char out[PROBE_SIZE], in[PROBE_SIZE];
	uint64_t t0 = now_ns(), dt;
	ssize_t n;

	for (unsigned i = 0; i < PROBE_SIZE; i++)
		out[i] = (unsigned char)(p->seq * 31u + i * 7u + 1u);
	n = send(p->fd, out, sizeof(out), MSG_NOSIGNAL);
	if (n != (ssize_t)sizeof(out))
		fail_msg("probe %s: send of round trip %u gave %zd (%s)", when,
			 p->seq, n, strerror(errno));
	n = recv_exact(p->fd, in, sizeof(in), slack_secs(5));
	if (n != (ssize_t)sizeof(in))
		fail_msg("probe %s: round trip %u got %zd (%s)", when, p->seq,
			 n, n < 0 ? strerror((int)-n) : "end of file");
	if (memcmp(in, out, sizeof(in)))
		fail_msg("probe %s: round trip %u echoed other bytes", when,
			 p->seq);
	dt = now_ns() - t0;
	if (dt > p->max_ns)
		p->max_ns = dt;
	p->seq++;
}

/* A new connection, one checked round trip, a clean close. */
static __attribute__((unused)) void probe_fresh(unsigned port,
						const char *when)
{
	struct probe p;

	probe_open(&p, port);
	probe_rt(&p, when);
	close(p.fd);
}

#endif /* WEFT_TEST_ECHO_PROC_H */
