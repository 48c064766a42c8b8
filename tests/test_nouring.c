/* SPDX-License-Identifier: MIT */
/*
 * Where io_uring is refused (a container's seccomp profile, or
 * kernel.io_uring_disabled), weft_run() runs on epoll and prints one line
 * saying why and how to choose; asked for io_uring explicitly it returns
 * -ENOSYS with a line saying what to change. A child process installs a
 * seccomp filter that fails io_uring_setup as Docker's default profile
 * does (EPERM) or as other sandboxes do, and the parent checks the
 * outcome and what the child printed.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "helpers.h"

/* Fail io_uring_setup with @err; allow everything else. */
static int refuse_io_uring(int err)
{
	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K,
			 SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog fprog = {
		.len = sizeof(prog) / sizeof(prog[0]),
		.filter = prog,
	};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog))
		return -errno;
	return 0;
}

struct refusal {
	int err;		/* what io_uring_setup fails with          */
	unsigned backend;	/* weft_config.backend                     */
	const char *env;	/* WEFT_BACKEND, or NULL to leave it unset */
};

static int main_ran;
static unsigned main_backend;
static int main_io;

/* A fiber reads what another writes through a pipe, on the backend. */
static void *pipe_reader(void *arg)
{
	int *fd = arg;
	char c = 0;

	return (void *)(intptr_t)(weft_read(*fd, &c, 1) == 1 && c == 'x');
}

static void check_io_main(void *arg)
{
	struct weft_stats st = { .size = sizeof(st) };
	weft_fiber *f;
	void *ok = NULL;
	int p[2];

	(void)arg;
	main_ran = 1;
	if (weft_stats(&st) == 0)
		main_backend = st.backend;
	if (pipe(p))
		return;
	if (weft_spawn(&f, pipe_reader, &p[0], NULL) == 0) {
		/* The reader waits first, then the write wakes it. */
		weft_sleep_ns(2000000);
		main_io = weft_write(p[1], "x", 1) == 1 &&
			  weft_join(f, &ok) == 0 && ok;
	}
	close(p[0]);
	close(p[1]);
}

static void mark_main(void *arg)
{
	(void)arg;
	main_ran = 1;
}

static int apply(const struct refusal *r)
{
	if (r->env)
		setenv("WEFT_BACKEND", r->env, 1);
	else
		unsetenv("WEFT_BACKEND");
	return refuse_io_uring(r->err);
}

/* In the child: io_uring refused; the run must still work, on epoll. */
static void run_falls_back_child(void *arg)
{
	const struct refusal *r = arg;
	struct weft_config two = { .workers = 2, .backend = r->backend };
	int rc;

	if (apply(r))
		_exit(100);
	rc = weft_run(&two, check_io_main, NULL);
	if (rc != 0 || !main_ran)
		_exit(101);
	if (main_backend != WEFT_BACKEND_EPOLL)
		_exit(102);
	_exit(main_io ? 0 : 103);
}

/* In the child: io_uring asked for and refused: -ENOSYS, twice. */
static void run_enosys_child(void *arg)
{
	const struct refusal *r = arg;
	struct weft_config two = { .workers = 2, .backend = r->backend };
	int rc;

	if (apply(r))
		_exit(100);
	rc = weft_run(&two, mark_main, NULL);
	/* -ENOSYS, main never ran, and a second try behaves the same. */
	if (rc != -ENOSYS || main_ran)
		_exit(101);
	_exit(weft_run(&two, mark_main, NULL) == -ENOSYS ? 0 : 102);
}

static void run_child(void (*child)(void *), const struct refusal *r,
		      char *out, size_t cap)
{
	int status = run_in_child(child, (void *)r, out, cap);

	assert_true(status != -1 && WIFEXITED(status));
	if (WEXITSTATUS(status) != 0)
		fail_msg("child exit %d, stderr: %s", WEXITSTATUS(status), out);
}

/* Auto: one line, which says why, what runs and how to choose. */
static void expect_fallback(int err)
{
	struct refusal r = { .err = err };
	char out[2048];

	run_child(run_falls_back_child, &r, out, sizeof(out));
	assert_non_null(strstr(out, "weft: io_uring is not available"));
	assert_non_null(strstr(out, strerror(err)));
	assert_non_null(strstr(out, "running on epoll"));
	assert_non_null(strstr(out, "WEFT_BACKEND=epoll"));
	assert_non_null(strstr(out, "seccomp"));
	assert_non_null(strstr(out, "io_uring_disabled"));
	/* One line, printed once for the whole runtime. */
	assert_non_null(strchr(out, '\n'));
	assert_string_equal(strchr(out, '\n'), "\n");
}

static void test_seccomp_eperm_falls_back_to_epoll(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	expect_fallback(EPERM);
	watchdog_disarm();
}

static void test_kernel_without_io_uring_falls_back_to_epoll(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	expect_fallback(ENOSYS);
	expect_fallback(EACCES);
	expect_fallback(ENOMEM);
	watchdog_disarm();
}

/* Chosen explicitly, epoll says nothing. */
static void test_epoll_chosen_prints_nothing(void **state)
{
	struct refusal by_config = { .err = EPERM,
				     .backend = WEFT_BACKEND_EPOLL };
	struct refusal by_env = { .err = EPERM, .env = "epoll" };
	char out[2048];

	(void)state;
	watchdog_arm(__func__, 30);
	run_child(run_falls_back_child, &by_config, out, sizeof(out));
	assert_string_equal(out, "");
	run_child(run_falls_back_child, &by_env, out, sizeof(out));
	assert_string_equal(out, "");
	watchdog_disarm();
}

/* io_uring asked for, by the config or the environment: -ENOSYS and a
 * line that says what to change. */
static void test_io_uring_required_gives_enosys(void **state)
{
	struct refusal by_config = { .err = EPERM,
				     .backend = WEFT_BACKEND_IO_URING };
	/* The environment overrides the config's auto. */
	struct refusal by_env = { .err = ENOSYS, .env = "io_uring" };
	char out[2048];

	(void)state;
	watchdog_arm(__func__, 30);
	run_child(run_enosys_child, &by_config, out, sizeof(out));
	assert_non_null(strstr(out, "weft: io_uring is not available"));
	assert_non_null(strstr(out, "seccomp"));
	assert_non_null(strstr(out, "io_uring_disabled"));
	assert_non_null(strstr(out, "WEFT_BACKEND=epoll"));
	assert_null(strstr(out, "running on epoll"));
	run_child(run_enosys_child, &by_env, out, sizeof(out));
	assert_non_null(strstr(out, "weft: io_uring is not available"));
	watchdog_disarm();
}

/* A bad WEFT_BACKEND is named and ignored: auto, so epoll here. */
static void test_bad_env_is_named_and_ignored(void **state)
{
	struct refusal r = { .err = EPERM, .env = "kqueue" };
	char out[2048];

	(void)state;
	watchdog_arm(__func__, 30);
	run_child(run_falls_back_child, &r, out, sizeof(out));
	assert_non_null(strstr(out, "WEFT_BACKEND=kqueue is not"));
	assert_non_null(strstr(out, "running on epoll"));
	watchdog_disarm();
}

/* In the child: worker 1 alone refuses io_uring (*@arg: the backend). */
static void run_late_refusal_child(void *arg)
{
	unsigned backend = *(unsigned *)arg;
	struct weft_config two = { .workers = 2, .backend = backend };
	int rc, i;

	unsetenv("WEFT_BACKEND");
	weft__fault_uring_refuse_err = EPERM;
	weft__fault_uring_refuse_worker = 1;
	/* Twice: the first run's cleanup must leave nothing behind. */
	for (i = 0; i < 2; i++) {
		main_ran = 0;
		main_backend = 0;
		main_io = 0;
		rc = weft_run(&two, check_io_main, NULL);
		if (backend == WEFT_BACKEND_IO_URING) {
			if (rc != -ENOSYS || main_ran)
				_exit(101);
			continue;
		}
		if (rc != 0 || main_backend != WEFT_BACKEND_EPOLL || !main_io)
			_exit(102);
	}
	/* exit, not _exit: LeakSanitizer runs at exit, and fails it. */
	exit(0);
}

/*
 * Worker 0 got its ring, worker 1 was refused: auto stops the started
 * workers, frees worker 0's ring and starts them all on epoll; io_uring
 * asked for gives -ENOSYS and leaks nothing (the ASan build checks).
 */
static void test_refusal_on_a_later_worker(void **state)
{
	unsigned backend = WEFT_BACKEND_AUTO;
	char out[4096];
	int status;

	(void)state;
	watchdog_arm(__func__, 30);
	status = run_in_child(run_late_refusal_child, &backend, out,
			      sizeof(out));
	assert_true(status != -1 && WIFEXITED(status));
	if (WEXITSTATUS(status) != 0)
		fail_msg("child exit %d, stderr: %s", WEXITSTATUS(status), out);
	assert_non_null(strstr(out, "running on epoll"));
	backend = WEFT_BACKEND_IO_URING;
	status = run_in_child(run_late_refusal_child, &backend, out,
			      sizeof(out));
	assert_true(status != -1 && WIFEXITED(status));
	if (WEXITSTATUS(status) != 0)
		fail_msg("child exit %d, stderr: %s", WEXITSTATUS(status), out);
	assert_non_null(strstr(out, "weft: io_uring is not available"));
	watchdog_disarm();
}

static void test_bad_backend_is_einval(void **state)
{
	struct weft_config bad = { .backend = WEFT_BACKEND_EPOLL + 1 };

	(void)state;
	assert_int_equal(weft_run(&bad, mark_main, NULL), -EINVAL);
	assert_int_equal(main_ran, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seccomp_eperm_falls_back_to_epoll),
		cmocka_unit_test(test_kernel_without_io_uring_falls_back_to_epoll),
		cmocka_unit_test(test_epoll_chosen_prints_nothing),
		cmocka_unit_test(test_io_uring_required_gives_enosys),
		cmocka_unit_test(test_bad_env_is_named_and_ignored),
		cmocka_unit_test(test_refusal_on_a_later_worker),
		cmocka_unit_test(test_bad_backend_is_einval),
	};

	/* The parent's own environment must not choose for the tests. */
	unsetenv("WEFT_BACKEND");
	return cmocka_run_group_tests_name("nouring", tests, NULL, NULL);
}
