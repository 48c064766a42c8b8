/* SPDX-License-Identifier: MIT */
/*
 * Resource exhaustion inside the runtime, which must fail the call that
 * needs the resource and keep serving the rest, never crash or leak;
 * each case in a child process with its own limits:
 *  - RLIMIT_AS lowered while fibers are being spawned: weft_spawn()
 *    fails with -ENOMEM (or -EAGAIN, the other documented shortage) and
 *    does not crash; the fibers already spawned still run and are joined
 *    with their results; other calls that need memory fail cleanly; once
 *    some fibers have ended, spawning works again; and, in the ASan
 *    build, LeakSanitizer finds nothing left behind;
 *  - RLIMIT_AS with the timer heap full: weft_join_all() under a
 *    deadline still joins every handle;
 *  - RLIMIT_NOFILE with the table full: weft_accept() returns -EMFILE at
 *    once with a connection pending, and also to a fiber that was parked
 *    in it when the connection came; weft_openat() gives -EMFILE; the
 *    workers do not spin meanwhile; fibers, sleeps and channels work;
 *    and once a descriptor is free the pending connection is accepted and
 *    served.
 * Checks in the child are check() records; the child's exit status says
 * whether any failed, and its stderr which and why.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "stack.h"

#if defined(WEFT_ASAN)
#include <sanitizer/lsan_interface.h>
/*
 * ASan's own allocator must report a shortage as NULL, as malloc does,
 * rather than abort: the runtime is what is under test. ASAN_OPTIONS
 * still overrides this.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}
#endif

#define MS 1000000ull

/* End the child: 0 if every check held, else 1 with the first failure. */
static void child_exit(void)
{
	if (nr_failed) {
		fprintf(stderr, "%u failed checks; first at line %d: %s (got "
			"%lld, want %lld)\n", nr_failed, failed_line,
			failed_what, failed_got, failed_want);
		_exit(1);
	}
	_exit(0);
}

/* The parent's half: run @fn in a child, print its stderr, want exit 0. */
static void expect_child_ok(void (*fn)(void *), void *arg)
{
	static char out[16384];
	int status = run_in_child(fn, arg, out, sizeof(out));

	print_message("%s", out);
	assert_true(status != -1);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the child ended with status 0x%x", status);
}

/* VmSize of this process in bytes. */
static uint64_t vm_size(void)
{
	char buf[4096];
	unsigned long long kib = 0;
	const char *p;
	ssize_t n;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strstr(buf, "VmSize:");
	if (p)
		sscanf(p + 7, "%llu", &kib);
	return kib * 1024;
}

/* RLIMIT_AS ----------------------------------------------------------- */

/* The most fibers this test spawns, whatever the limit. */
#define AS_MAX_FIBERS 200000u

struct as_run {
	weft_sem *gates;	/* fiber i waits on gates[i]               */
	weft_fiber **f;
	unsigned n;		/* spawned before the first failure        */
	int err;		/* that failure                            */
	unsigned again;		/* spawned after half had ended            */
	uint64_t headroom;	/* address space allowed above VmSize      */
	size_t stack_size;	/* of every fiber spawned                  */
};

static void *gated(void *arg)
{
	weft_sem *gate = arg;

	/* Parked until released; the result says it ran to the end. */
	check_eq(weft_sem_acquire(gate), 0);
	return (void *)(uintptr_t)0x5eed;
}

/* Spawn fiber @i of @r. */
static int spawn_gated(struct as_run *r, unsigned i)
{
	struct weft_spawn_opts o = { .stack_size = r->stack_size };

	check_eq(weft_sem_init(&r->gates[i], 0), 0);
	return weft_spawn(&r->f[i], gated, &r->gates[i], &o);
}

/* Release and join fibers [from, to) of r->f, checking each result. */
static void release_and_join(struct as_run *r, unsigned from, unsigned to)
{
	for (unsigned i = from; i < to; i++)
		check_eq(weft_sem_release(&r->gates[i]), 0);
	for (unsigned i = from; i < to; i++) {
		void *res = NULL;

		check_eq(weft_join(r->f[i], &res), 0);
		check_eq((uintptr_t)res, 0x5eed);
	}
}

static void as_main(void *arg)
{
	struct as_run *r = arg;
	struct rlimit old, low;
	struct weft_stats st = { .size = sizeof(st) };
	weft_chan *c = NULL;
	unsigned half;
	int err;

	check_eq(getrlimit(RLIMIT_AS, &old), 0);
	low = old;
	low.rlim_cur = vm_size() + r->headroom;
	check_eq(setrlimit(RLIMIT_AS, &low), 0);

	for (r->n = 0; r->n < AS_MAX_FIBERS; r->n++) {
		err = spawn_gated(r, r->n);
		if (err) {
			r->err = err;
			break;
		}
	}
	fprintf(stderr, "RLIMIT_AS at VmSize + %llu MiB, %zu KiB stacks: %u "
		"fibers spawned, then %d (%s)\n",
		(unsigned long long)(r->headroom >> 20),
		(r->stack_size ? r->stack_size : WEFT_STACK_DEFAULT) >> 10,
		r->n, r->err, strerror(-r->err));
	/* The limit bit, with some fibers spawned first. */
	check(r->n > 0);
	check(r->n < AS_MAX_FIBERS);
	check(r->err == -ENOMEM || r->err == -EAGAIN);

	/* Exhausted, the runtime still answers, with errors. */
	for (int i = 0; i < 100; i++) {
		err = spawn_gated(r, r->n);
		check(err == -ENOMEM || err == -EAGAIN);
		if (err == 0)
			r->n++;
	}
	/* A 1 GiB buffer cannot be had. Not under TSan, whose allocator
	 * aborts instead of returning NULL (helpers.h owns its options). */
	if (!under_tsan()) {
		err = weft_chan_new(&c, 65536, 1 << 14);
		check_eq(err, -ENOMEM);
		if (err == 0)
			weft_chan_free(c);
	}
	check_eq(weft_sleep_ns(MS), 0);
	weft_yield();
	check_eq(weft_stats(&st), 0);
	check_eq(st.live, r->n + 1);

	/* Half of them end: their stacks are spawnable again. */
	half = r->n / 2;
	release_and_join(r, half, r->n);
	for (r->again = 0; half + r->again < r->n; r->again++) {
		err = spawn_gated(r, half + r->again);
		if (err)
			break;
	}
	fprintf(stderr, "after %u had ended: %u spawned again\n",
		r->n - half, r->again);
	/*
	 * Their stacks are reused as they are, but those that ended on the
	 * other worker may wait in its cache (a loaded and a previous
	 * magazine, stack.h), which the spawning worker does not take: up
	 * to two magazines per worker stay out of reach. Under ASan some
	 * address space also goes to its quarantine.
	 */
	check(r->again + 2 * 2 * WEFT_STACK_MAG >= r->n - half);
	if (under_asan())
		check(r->again >= (r->n - half) * 9 / 10);
	release_and_join(r, 0, half + r->again);
	check_eq(weft_stats(&st), 0);
	check_eq(st.live, 1);

	check_eq(setrlimit(RLIMIT_AS, &old), 0);
}

static void as_child(void *arg)
{
	const struct as_run *how = arg;
	struct as_run r = { .headroom = how->headroom,
			    .stack_size = how->stack_size };
	struct weft_config cfg = { .workers = 2 };
	int err;

	r.f = calloc(AS_MAX_FIBERS, sizeof(*r.f));
	r.gates = calloc(AS_MAX_FIBERS, sizeof(*r.gates));
	if (!r.f || !r.gates)
		_exit(2);
	err = weft_run(&cfg, as_main, &r);
	check_eq(err, 0);
	free(r.f);
	free(r.gates);
#if defined(WEFT_ASAN)
	/* Everything the run allocated is freed or still reachable. */
	check_eq(__lsan_do_recoverable_leak_check(), 0);
#endif
	child_exit();
}

/*
 * A timer that cannot be armed: with every fiber spawned beforehand and
 * the address space then capped, sleepers are released one by one until
 * the worker's timer heap cannot grow (a sleep returns -ENOMEM). A join
 * bounded by the caller's deadline then cannot arm its timer either, and
 * weft_join_all must still join every handle: it cancels the rest, waits
 * for them without the deadline and returns -ENOMEM.
 */
#define TIMER_FIBERS 300000u

struct timer_run {
	weft_sem *gates;
	weft_fiber **f;
	unsigned sleeping;	/* released and asleep, or failed       */
	unsigned refused;	/* atomic: sleeps that returned -ENOMEM */
};

static void *gated_sleeper(void *arg)
{
	struct timer_run *r = arg;
	unsigned i = ck_pr_faa_uint(&r->sleeping, 1);
	int err;

	if (weft_sem_acquire(&r->gates[i]) != 0)
		return NULL;
	err = weft_sleep_ns(INT64_C(60000000000));
	if (err == -ENOMEM)
		/* Atomic RMW; read by the releasing fiber after a yield
		 * on the same worker. */
		ck_pr_inc_uint(&r->refused);
	return NULL;
}

static void timer_main(void *arg)
{
	struct timer_run *r = arg;
	struct weft_spawn_opts o = { .stack_size = WEFT_STACK_SMALL };
	struct weft_stats st = { .size = sizeof(st) };
	struct rlimit old, low;
	unsigned n, released;
	int err;

	for (n = 0; n < TIMER_FIBERS; n++) {
		check_eq(weft_sem_init(&r->gates[n], 0), 0);
		check_eq(weft_spawn(&r->f[n], gated_sleeper, r, &o), 0);
	}
	/* Every fiber takes its gate index before the cap. */
	weft_yield();
	check_eq(getrlimit(RLIMIT_AS, &old), 0);
	low = old;
	low.rlim_cur = vm_size() + (256u << 10);
	check_eq(setrlimit(RLIMIT_AS, &low), 0);
	for (released = 0; released < n && !ck_pr_load_uint(&r->refused);
	     released++) {
		check_eq(weft_sem_release(&r->gates[released]), 0);
		weft_yield();
	}
	fprintf(stderr, "timer heap full after %u sleepers\n", released);
	check(ck_pr_load_uint(&r->refused) > 0);

	weft_set_deadline(weft_now_ns() + INT64_C(60000000000));
	err = weft_join_all(r->f, n, NULL);
	weft_set_deadline(WEFT_FOREVER);
	check_eq(err, -ENOMEM);
	check_eq(setrlimit(RLIMIT_AS, &old), 0);
	/* Every handle joined: none is left alive or to be joined. */
	check_eq(weft_stats(&st), 0);
	check_eq(st.live, 1);
	check_eq(weft_join(r->f[0], NULL), -ESRCH);
}

static void timer_child(void *arg)
{
	struct timer_run r = { 0 };
	struct weft_config cfg = { .workers = 1 };

	(void)arg;
	r.f = calloc(TIMER_FIBERS, sizeof(*r.f));
	r.gates = calloc(TIMER_FIBERS, sizeof(*r.gates));
	if (!r.f || !r.gates)
		_exit(2);
	check_eq(weft_run(&cfg, timer_main, &r), 0);
	free(r.f);
	free(r.gates);
	child_exit();
}

static void test_join_all_joins_every_handle_when_no_timer_can_be_armed(
	void **state)
{
	(void)state;
	/* The cap leaves 256 KiB, so that the heap's next array cannot be
	 * had: too little for the sanitizers' own mappings (ASan's fake
	 * stacks, TSan's shadow) and for valgrind's, which fail first.
	 * Release and random builds run it. */
	if (under_tsan() || under_asan() || under_valgrind()) {
		printf("the sanitizers and valgrind cannot run with 256 KiB "
		       "of address space to spare; the other builds run this "
		       "case\n");
		return;
	}
	watchdog_arm(__func__, 120);
	expect_child_ok(timer_child, NULL);
	watchdog_disarm();
}

/*
 * Default stacks, 64 MiB above what the process maps (256 under ASan).
 * Not under TSan: it maps shadow of its own for every fiber and dies
 * when that fails ("ThreadSanitizer failed to allocate ... shadow
 * stack"), so running out of address space cannot be survived there.
 */
static void test_rlimit_as_spawn_fails_cleanly_and_recovers(void **state)
{
	struct as_run how = {
		.headroom = (under_asan() ? 256ull : 64ull) << 20,
	};

	(void)state;
	if (under_tsan()) {
		printf("TSan cannot survive address-space exhaustion itself; "
		       "the 16 MiB-stack case runs instead\n");
		return;
	}
	if (under_valgrind()) {
		printf("valgrind's address-space manager stops the process "
		       "when it runs out; the 16 MiB-stack case runs instead\n");
		return;
	}
	watchdog_arm(__func__, 60);
	expect_child_ok(as_child, &how);
	watchdog_disarm();
}

/*
 * 16 MiB stacks, 256 MiB above what the process maps: each spawn maps a
 * slab of its own, and it is weft's mapping that fails, with room left
 * for everything else, the sanitizers' own mappings included. Every
 * build.
 */
static void test_rlimit_as_big_stacks_fail_cleanly_and_recover(void **state)
{
	struct as_run how = { .headroom = 256ull << 20,
			      .stack_size = (size_t)16 << 20 };

	(void)state;
	watchdog_arm(__func__, 60);
	expect_child_ok(as_child, &how);
	watchdog_disarm();
}

/* RLIMIT_NOFILE ------------------------------------------------------- */

struct nofile_run {
	int lfd, lfd2;			/* listening sockets               */
	struct sockaddr_in addr2;	/* lfd2's address                  */
	int clients[2];			/* connected to lfd                */
	int late;			/* connects to lfd2 at EMFILE      */
	int fills[64];			/* dup()s that fill the table      */
	unsigned nr_fills;
};

static int listen_loopback(struct sockaddr_in *sa)
{
	socklen_t len = sizeof(*sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	*sa = (struct sockaddr_in){ .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	check(fd >= 0);
	check_eq(bind(fd, (struct sockaddr *)sa, sizeof(*sa)), 0);
	check_eq(listen(fd, 16), 0);
	check_eq(getsockname(fd, (struct sockaddr *)sa, &len), 0);
	return fd;
}

static void *accept_parked(void *arg)
{
	struct nofile_run *r = arg;

	return (void *)(intptr_t)weft_accept(r->lfd2, NULL, NULL, 0);
}

static uint64_t cpu_self_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) *
		       1000000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

static void *nothing(void *arg)
{
	return arg;
}

static void nofile_main(void *arg)
{
	uint64_t limit_ns = (under_asan() || under_tsan() ? 200 : 50) * MS;
	struct nofile_run *r = arg;
	struct sockaddr_in sa;
	weft_fiber *f = NULL;
	weft_chan *c = NULL;
	uint64_t cpu0, cpu1;
	void *res = NULL;
	char buf[8];
	int fd, v = 7;

	r->lfd = listen_loopback(&sa);
	for (int i = 0; i < 2; i++) {
		r->clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		check(r->clients[i] >= 0);
		/* Completed by the kernel's backlog, not by an accept. */
		check_eq(connect(r->clients[i], (struct sockaddr *)&sa,
				 sizeof(sa)), 0);
	}
	r->lfd2 = listen_loopback(&r->addr2);
	r->late = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	check(r->late >= 0);
	/* A fiber waits in weft_accept on lfd2, where nobody connects yet. */
	f = check_spawn(accept_parked, r);
	settle();

	/* Fill the table. */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	check(fd >= 0);
	r->fills[r->nr_fills++] = fd;
	while (r->nr_fills < 64 && (fd = dup(r->fills[0])) >= 0)
		r->fills[r->nr_fills++] = fd;
	check_eq(dup(r->fills[0]), -1);
	check_eq(errno, EMFILE);
	check(r->nr_fills > 0);

	/* Pending connection, no descriptor: -EMFILE, at once. */
	check_eq(weft_accept(r->lfd, NULL, NULL, 0), -EMFILE);
	check_eq(weft_openat(AT_FDCWD, "/dev/null", O_RDONLY, 0), -EMFILE);
	/* The parked accept gets its connection, and -EMFILE. */
	check_eq(connect(r->late, (struct sockaddr *)&r->addr2,
			 sizeof(r->addr2)), 0);
	check_eq(weft_join(f, &res), 0);
	check_eq((intptr_t)res, -EMFILE);

	/* Everything else works, and nothing spins. */
	cpu0 = cpu_self_ns();
	check_eq(weft_sleep_ns(500 * MS), 0);
	cpu1 = cpu_self_ns();
	fprintf(stderr, "CPU over 0.5 s with the descriptor table full: "
		"%.3f s\n", (double)(cpu1 - cpu0) / 1e9);
	check(cpu1 - cpu0 < limit_ns);
	f = check_spawn(nothing, (void *)1);
	check_eq(weft_join(f, &res), 0);
	check_eq((intptr_t)res, 1);
	check_eq(weft_chan_new(&c, sizeof(int), 1), 0);
	check_eq(weft_chan_send(c, &v), 0);
	check_eq(weft_chan_recv(c, &v), 0);
	check_eq(v, 7);
	weft_chan_free(c);

	/* One descriptor free: the pending connection is accepted. */
	close(r->fills[--r->nr_fills]);
	fd = weft_accept(r->lfd, NULL, NULL, 0);
	check(fd >= 0);
	check_eq(write(r->clients[0], "ping", 4), 4);
	check_eq(weft_read_full(fd, buf, 4), 4);
	check_eq(memcmp(buf, "ping", 4), 0);
	check_eq(weft_write_all(fd, "pong", 4), 4);
	check_eq(read(r->clients[0], buf, 4), 4);
	check_eq(memcmp(buf, "pong", 4), 0);
	check_eq(weft_close(fd), 0);
	/* And the rest, once the table has room. */
	while (r->nr_fills)
		close(r->fills[--r->nr_fills]);
	fd = weft_accept(r->lfd, NULL, NULL, 0);
	check(fd >= 0);
	check_eq(weft_close(fd), 0);
	fd = weft_accept(r->lfd2, NULL, NULL, 0);
	check(fd >= 0);
	check_eq(weft_close(fd), 0);
	close(r->clients[0]);
	close(r->clients[1]);
	close(r->late);
	close(r->lfd);
	close(r->lfd2);
}

static void nofile_child(void *arg)
{
	struct weft_config cfg = { .workers = (unsigned)(uintptr_t)arg };
	struct nofile_run r = { 0 };
	struct rlimit rl = { 64, 64 };

	/* Only what this test opens, and the runtime. */
	close_range(3, ~0u, 0);
	check_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	check_eq(weft_run(&cfg, nofile_main, &r), 0);
	child_exit();
}

static void test_emfile_accept_fails_fast_and_recovers(void **state)
{
	(void)state;
	/* Valgrind keeps descriptors of its own below the limit and
	 * serialises the threads whose CPU time this case measures. */
	if (under_valgrind()) {
		printf("not under valgrind: its own descriptors and serialised "
		       "threads change what this case measures\n");
		return;
	}
	watchdog_arm(__func__, 60);
	expect_child_ok(nofile_child, (void *)(uintptr_t)1);
	expect_child_ok(nofile_child, (void *)(uintptr_t)2);
	watchdog_disarm();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_rlimit_as_spawn_fails_cleanly_and_recovers),
		cmocka_unit_test(
			test_rlimit_as_big_stacks_fail_cleanly_and_recover),
		cmocka_unit_test(test_emfile_accept_fails_fast_and_recovers),
		cmocka_unit_test(
			test_join_all_joins_every_handle_when_no_timer_can_be_armed),
	};

	skip_without_backend();
	return cmocka_run_group_tests_name("exhaust", tests, NULL, NULL);
}
