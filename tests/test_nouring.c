/* SPDX-License-Identifier: MIT */
/*
 * Where io_uring is refused (a container's seccomp profile, or
 * kernel.io_uring_disabled), weft_run() returns -ENOSYS and prints one
 * line saying why and what to change; it does not hang or crash. A child
 * process installs a seccomp filter that fails io_uring_setup with EPERM,
 * as Docker's default profile does, and the parent checks the outcome.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

static int main_ran;

static void mark_main(void *arg)
{
	(void)arg;
	main_ran = 1;
}

/* In the child: refuse io_uring with *@arg and try to run, twice. */
static void run_refused_child(void *arg)
{
	struct weft_config two = { .workers = 2 };
	int rc;

	if (refuse_io_uring(*(int *)arg))
		_exit(100);
	rc = weft_run(&two, mark_main, NULL);
	/* -ENOSYS, main never ran, and a second try behaves the same. */
	if (rc != -ENOSYS || main_ran)
		_exit(101);
	_exit(weft_run(&two, mark_main, NULL) == -ENOSYS ? 0 : 102);
}

static void run_refused(int err)
{
	char out[1024];
	int status = run_in_child(run_refused_child, &err, out, sizeof(out));

	assert_true(status != -1 && WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_non_null(strstr(out, "weft: io_uring is not available"));
	assert_non_null(strstr(out, "seccomp"));
	assert_non_null(strstr(out, "io_uring_disabled"));
}

static void test_seccomp_eperm_gives_enosys_and_a_clear_line(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_refused(EPERM);
	watchdog_disarm();
}

static void test_kernel_without_io_uring_gives_enosys(void **state)
{
	(void)state;
	watchdog_arm(__func__, 30);
	run_refused(ENOSYS);
	watchdog_disarm();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seccomp_eperm_gives_enosys_and_a_clear_line),
		cmocka_unit_test(test_kernel_without_io_uring_gives_enosys),
	};

	return cmocka_run_group_tests_name("nouring", tests, NULL, NULL);
}
