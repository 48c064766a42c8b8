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
 * serves again once descriptors are free; clients that
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

#include "echo_proc.h"

#define MS EP_MS

/* Tests ----------------------------------------------------------------- */

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
	/* As in test_exhaust: valgrind's own descriptors sit below the
	 * limit, and its serialised threads change the CPU time measured. */
	if (under_valgrind()) {
		printf("not under valgrind: its own descriptors and serialised "
		       "threads change what this case measures\n");
		return;
	}
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
			echo_teardown),
		cmocka_unit_test_teardown(
			test_echo_emfile_backs_off_and_recovers, echo_teardown),
		cmocka_unit_test_teardown(
			test_echo_bad_peers_hold_up_only_themselves,
			echo_teardown),
	};

	if (argc != 3) {
		fprintf(stderr, "usage: %s WEFT-ECHO WEFT-LOAD\n", argv[0]);
		return 1;
	}
	echo_path = argv[1];
	load_path = argv[2];
	skip_without_backend();
	return cmocka_run_group_tests_name("echo", tests, NULL, NULL);
}
