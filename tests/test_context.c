/* SPDX-License-Identifier: MIT */
/*
 * Tests of the machine context switch in src/base/ctx.h and src/base/arch/: entry
 * of a new context, register and floating-point state across switches,
 * stack alignment, and unwinding. Nothing else of weft is used; stacks are
 * mmap'd here. Everything runs on the main thread.
 *
 * cmocka's assertions longjmp on failure, which must not happen on a
 * context's own stack, so code running in a context only records what it
 * saw; the test function checks the record once it is back on the main
 * stack.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <execinfo.h>
#include <fenv.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "ctx.h"
#include "internal.h"

#ifdef WEFT_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if WEFT_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#endif

/* Usable bytes of a test stack; sanitizer frames are large. */
#define TSTACK_SIZE (256u * 1024u)

/* Round trips in the register test: enough that a register clobbered
 * only now and then is caught. */
#define REGS_ROUND_TRIPS 1000000ul
/* Round trips in the floating-point control test. */
#define FP_ROUND_TRIPS 100000ul

/* An mmap'd stack with a PROT_NONE guard page below it. */
struct tstack {
	void *map;		/* the whole mapping, guard page first */
	size_t map_size;	/* bytes mapped */
	void *lo;		/* lowest usable byte */
	void *end;		/* one past the highest usable byte */
	unsigned vg_id;		/* Valgrind stack id */
};

/*
 * One context as the tests see it: its saved stack pointer while it is
 * suspended, and what the sanitizers need to follow a switch into it.
 */
struct tctx {
	void *sp;		/* saved sp; valid while suspended */
	const void *lo;		/* lowest byte of its stack (ASan) */
	size_t size;		/* bytes from lo to its stack top (ASan) */
	void *fake_stack;	/* ASan fake stack while suspended */
	void *tsan_fiber;	/* TSan fiber of this context */
};

static int tstack_alloc(struct tstack *s)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	s->map_size = page + TSTACK_SIZE;
	s->map = mmap(NULL, s->map_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (s->map == MAP_FAILED)
		return -errno;
	if (mprotect(s->map, page, PROT_NONE) != 0) {
		int err = -errno;

		munmap(s->map, s->map_size);
		return err;
	}
	s->lo = (char *)s->map + page;
	s->end = (char *)s->map + s->map_size;
#if WEFT_HAVE_VALGRIND
	/* Else Valgrind takes a switch for a huge stack frame. */
	s->vg_id = VALGRIND_STACK_REGISTER(s->lo, (char *)s->end - 1);
#endif
	return 0;
}

static void tstack_free(struct tstack *s)
{
#ifdef WEFT_ASAN
	/* Frames of a context that never returned leave poison behind. */
	ASAN_UNPOISON_MEMORY_REGION(s->lo, TSTACK_SIZE);
#endif
#if WEFT_HAVE_VALGRIND
	VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
	munmap(s->map, s->map_size);
}

/* Describe the calling (main) context; it is saved on its first switch. */
static void main_ctx_init(struct tctx *m)
{
#ifdef WEFT_ASAN
	pthread_attr_t attr;
	void *lo;
	size_t size;
#endif

	memset(m, 0, sizeof(*m));
#ifdef WEFT_ASAN
	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		pthread_attr_getstack(&attr, &lo, &size);
		pthread_attr_destroy(&attr);
		m->lo = lo;
		m->size = size;
	}
#endif
#ifdef WEFT_TSAN
	m->tsan_fiber = __tsan_get_current_fiber();
#endif
}

/* Make @c a new context on @s whose stack top is @top. */
static void fiber_ctx_init(struct tctx *c, const struct tstack *s, void *top,
			   void (*entry)(void *), void *arg)
{
	memset(c, 0, sizeof(*c));
	c->sp = weft__ctx_make(top, entry, arg);
	c->lo = s->lo;
	c->size = (size_t)((char *)top - (char *)s->lo);
#ifdef WEFT_TSAN
	c->tsan_fiber = __tsan_create_fiber(0);
#endif
}

/* Forget a fiber context; it must not be running. */
static void fiber_ctx_fini(struct tctx *c)
{
#ifdef WEFT_TSAN
	__tsan_destroy_fiber(c->tsan_fiber);
#endif
	(void)c;
}

/* First call in every context entry: finish the sanitizers' switch. */
static inline __attribute__((always_inline)) void fiber_begin(void)
{
#ifdef WEFT_ASAN
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
}

/*
 * Switch from @from (the running context) to @to. The sanitizer hooks sit
 * in the caller's frame, right around the switch, so that the
 * sanitizer's idea of the current stack changes when the stack does.
 */
static inline __attribute__((always_inline)) void tswitch(struct tctx *from,
							   struct tctx *to)
{
#ifdef WEFT_ASAN
	__sanitizer_start_switch_fiber(&from->fake_stack, to->lo, to->size);
#endif
#ifdef WEFT_TSAN
	__tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
	weft__ctx_switch(&from->sp, to->sp);
#ifdef WEFT_ASAN
	__sanitizer_finish_switch_fiber(from->fake_stack, NULL, NULL);
#endif
}

/* True if a suspended context's saved sp is aligned and inside [lo, top). */
static bool saved_sp_ok(const struct tctx *c)
{
	uintptr_t sp = (uintptr_t)c->sp;
	uintptr_t lo = (uintptr_t)c->lo;

	return (sp & 15) == 0 && sp >= lo && sp < lo + c->size;
}

/* First entry and ping-pong ------------------------------------------ */

struct pingpong {
	struct tctx main;	/* the test function's context */
	struct tctx fiber;	/* the context under test */
	void *arg_seen;		/* the argument entry was called with */
	unsigned entries;	/* calls of the entry function */
	unsigned long turns;	/* odd: the fiber's turn; even: main's */
	unsigned long out_of_turn; /* fiber resumes on main's turn */
};

static void pingpong_entry(void *arg)
{
	struct pingpong *p = arg;

	fiber_begin();
	p->arg_seen = arg;
	p->entries++;
	for (;;) {
		if (p->turns % 2 == 0)
			p->out_of_turn++;
		p->turns++;
		tswitch(&p->fiber, &p->main);
	}
}

static void test_ctx_first_switch_calls_entry_with_arg(void **state)
{
	struct pingpong p = { 0 };
	struct tstack s;

	(void)state;
	assert_int_equal(tstack_alloc(&s), 0);
	main_ctx_init(&p.main);
	fiber_ctx_init(&p.fiber, &s, s.end, pingpong_entry, &p);
	assert_int_equal(p.entries, 0);

	p.turns = 1;
	tswitch(&p.main, &p.fiber);
	assert_int_equal(p.entries, 1);
	assert_ptr_equal(p.arg_seen, &p);
	assert_int_equal(p.turns, 2);
	assert_true(saved_sp_ok(&p.fiber));

	fiber_ctx_fini(&p.fiber);
	tstack_free(&s);
}

static void test_ctx_ping_pong_resumes_each_side_in_turn(void **state)
{
	struct pingpong p = { 0 };
	struct tstack s;
	unsigned long i;
	unsigned long bad_sp = 0;

	(void)state;
	assert_int_equal(tstack_alloc(&s), 0);
	main_ctx_init(&p.main);
	fiber_ctx_init(&p.fiber, &s, s.end, pingpong_entry, &p);

	for (i = 0; i < 10000; i++) {
		p.turns++;
		tswitch(&p.main, &p.fiber);
		if (!saved_sp_ok(&p.fiber))
			bad_sp++;
	}
	assert_int_equal(p.turns, 2 * i);
	assert_int_equal(p.entries, 1);
	assert_int_equal(p.out_of_turn, 0);
	assert_int_equal(bad_sp, 0);

	fiber_ctx_fini(&p.fiber);
	tstack_free(&s);
}

/* Callee-saved registers ----------------------------------------------- */

/*
 * unsigned regs_switch(void **save_sp, void *new_sp, uint64_t seed)
 *
 * Loads every callee-saved register with its own value derived from
 * @seed, calls weft__ctx_switch(save_sp, new_sp), and once that returns
 * compares each register with the value it loaded. Returns a mask with a
 * bit set for each register that changed, the stack pointer included. The
 * caller's own values of those registers are kept on the stack meanwhile.
 * The context on the other side runs the same code with another seed, so
 * every register holds something else while this side is suspended.
 */
unsigned regs_switch(void **save_sp, void *new_sp, uint64_t seed);

#if defined(__x86_64__)
/*
 * Bits 0-5: rbx, rbp, r12-r15; bit 6: rsp. regs_t_all lists each
 * register once with its key and bit, for regs_t_load and regs_t_check.
 */
__asm__(
	".pushsection .text\n"
	".macro regs_t_all op\n"
	"	\\op %rbx, 0x0123456789abcdef, 0\n"
	"	\\op %rbp, 0x7e57ab1e5eed0bad, 1\n"
	"	\\op %r12, 0x1212121212121212, 2\n"
	"	\\op %r13, 0xd00dfeedcafef00d, 3\n"
	"	\\op %r14, 0x8000000000000001, 4\n"
	"	\\op %r15, 0x5a5aa5a55a5aa5a5, 5\n"
	".endm\n"
	".macro regs_t_load reg, k, bit\n"
	"	movabsq	$\\k, \\reg\n"
	"	xorq	%rdx, \\reg\n"
	".endm\n"
	".macro regs_t_check reg, k, bit\n"
	"	movabsq	$\\k, %rcx\n"
	"	xorq	%rdx, %rcx\n"
	"	cmpq	%rcx, \\reg\n"
	"	setne	%cl\n"
	"	movzbl	%cl, %ecx\n"
	"	shll	$\\bit, %ecx\n"
	"	orl	%ecx, %eax\n"
	".endm\n"
	"	.globl	regs_switch\n"
	"	.hidden	regs_switch\n"
	"	.type	regs_switch, @function\n"
	"	.p2align 4\n"
	"regs_switch:\n"
	"	pushq	%rbp\n"
	"	pushq	%rbx\n"
	"	pushq	%r12\n"
	"	pushq	%r13\n"
	"	pushq	%r14\n"
	"	pushq	%r15\n"
	/* 0(%rsp): rsp itself; 8(%rsp): seed; 16(%rsp): padding. */
	"	subq	$24, %rsp\n"
	"	movq	%rsp, 0(%rsp)\n"
	"	movq	%rdx, 8(%rsp)\n"
	"	regs_t_all regs_t_load\n"
	"	call	weft__ctx_switch\n"
	"	movq	8(%rsp), %rdx\n"
	"	xorl	%eax, %eax\n"
	"	regs_t_all regs_t_check\n"
	"	cmpq	%rsp, 0(%rsp)\n"
	"	setne	%cl\n"
	"	movzbl	%cl, %ecx\n"
	"	shll	$6, %ecx\n"
	"	orl	%ecx, %eax\n"
	"	addq	$24, %rsp\n"
	"	popq	%r15\n"
	"	popq	%r14\n"
	"	popq	%r13\n"
	"	popq	%r12\n"
	"	popq	%rbx\n"
	"	popq	%rbp\n"
	"	ret\n"
	"	.size	regs_switch, .-regs_switch\n"
	".popsection\n");
#elif defined(__aarch64__)
/*
 * Bits 0-9: x19-x28; bit 10: x29; bits 11-18: d8-d15; bit 19: sp. The
 * keys are logical immediates, so that eor can take them directly.
 * regs_t_all lists each register once with its key and bit.
 */
__asm__(
	".pushsection .text\n"
	".macro regs_t_all op, opd\n"
	"	\\op x19, 0x1111111111111111, 0\n"
	"	\\op x20, 0x2222222222222222, 1\n"
	"	\\op x21, 0x3333333333333333, 2\n"
	"	\\op x22, 0x4444444444444444, 3\n"
	"	\\op x23, 0x5555555555555555, 4\n"
	"	\\op x24, 0x6666666666666666, 5\n"
	"	\\op x25, 0x7777777777777777, 6\n"
	"	\\op x26, 0x8888888888888888, 7\n"
	"	\\op x27, 0x9999999999999999, 8\n"
	"	\\op x28, 0xaaaaaaaaaaaaaaaa, 9\n"
	"	\\op x29, 0xcccccccccccccccc, 10\n"
	"	\\opd d8, 0xeeeeeeeeeeeeeeee, 11\n"
	"	\\opd d9, 0x0101010101010101, 12\n"
	"	\\opd d10, 0x0303030303030303, 13\n"
	"	\\opd d11, 0x0707070707070707, 14\n"
	"	\\opd d12, 0x0f0f0f0f0f0f0f0f, 15\n"
	"	\\opd d13, 0x1f1f1f1f1f1f1f1f, 16\n"
	"	\\opd d14, 0x3f3f3f3f3f3f3f3f, 17\n"
	"	\\opd d15, 0x7f7f7f7f7f7f7f7f, 18\n"
	".endm\n"
	".macro regs_t_load reg, k, bit\n"
	"	eor	\\reg, x2, #\\k\n"
	".endm\n"
	".macro regs_t_loadd reg, k, bit\n"
	"	eor	x9, x2, #\\k\n"
	"	fmov	\\reg, x9\n"
	".endm\n"
	".macro regs_t_check reg, k, bit\n"
	"	eor	x9, x2, #\\k\n"
	"	cmp	x9, \\reg\n"
	"	cset	w10, ne\n"
	"	orr	w0, w0, w10, lsl #\\bit\n"
	".endm\n"
	".macro regs_t_checkd reg, k, bit\n"
	"	fmov	x11, \\reg\n"
	"	regs_t_check x11, \\k, \\bit\n"
	".endm\n"
	"	.globl	regs_switch\n"
	"	.hidden	regs_switch\n"
	"	.type	regs_switch, %function\n"
	"	.p2align 4\n"
	"regs_switch:\n"
	"	stp	x29, x30, [sp, #-176]!\n"
	"	stp	x19, x20, [sp, #16]\n"
	"	stp	x21, x22, [sp, #32]\n"
	"	stp	x23, x24, [sp, #48]\n"
	"	stp	x25, x26, [sp, #64]\n"
	"	stp	x27, x28, [sp, #80]\n"
	"	stp	d8, d9, [sp, #96]\n"
	"	stp	d10, d11, [sp, #112]\n"
	"	stp	d12, d13, [sp, #128]\n"
	"	stp	d14, d15, [sp, #144]\n"
	"	mov	x9, sp\n"
	"	stp	x2, x9, [sp, #160]\n"
	"	regs_t_all regs_t_load, regs_t_loadd\n"
	"	bl	weft__ctx_switch\n"
	"	ldr	x2, [sp, #160]\n"
	"	mov	w0, #0\n"
	"	regs_t_all regs_t_check, regs_t_checkd\n"
	"	ldr	x9, [sp, #168]\n"
	"	mov	x11, sp\n"
	"	cmp	x9, x11\n"
	"	cset	w10, ne\n"
	"	orr	w0, w0, w10, lsl #19\n"
	"	ldp	x19, x20, [sp, #16]\n"
	"	ldp	x21, x22, [sp, #32]\n"
	"	ldp	x23, x24, [sp, #48]\n"
	"	ldp	x25, x26, [sp, #64]\n"
	"	ldp	x27, x28, [sp, #80]\n"
	"	ldp	d8, d9, [sp, #96]\n"
	"	ldp	d10, d11, [sp, #112]\n"
	"	ldp	d12, d13, [sp, #128]\n"
	"	ldp	d14, d15, [sp, #144]\n"
	"	ldp	x29, x30, [sp], #176\n"
	"	ret\n"
	"	.size	regs_switch, .-regs_switch\n"
	".popsection\n");
#else
#error "no regs_switch for this architecture"
#endif

/* tswitch() through regs_switch(); returns its mask. */
static inline __attribute__((always_inline)) unsigned
tswitch_regs(struct tctx *from, struct tctx *to, uint64_t seed)
{
	unsigned mask;

#ifdef WEFT_ASAN
	__sanitizer_start_switch_fiber(&from->fake_stack, to->lo, to->size);
#endif
#ifdef WEFT_TSAN
	__tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
	mask = regs_switch(&from->sp, to->sp, seed);
#ifdef WEFT_ASAN
	__sanitizer_finish_switch_fiber(from->fake_stack, NULL, NULL);
#endif
	return mask;
}

struct regs_test {
	struct tctx main;	/* the test function's context */
	struct tctx fiber;	/* the clobbering context */
	unsigned long checks;	/* round trips the fiber checked */
	unsigned long bad;	/* of those, with a changed register */
	unsigned mask;		/* OR of the fiber's masks */
};

static uint64_t regs_seed(unsigned long i)
{
	return (i + 1) * 0x9e3779b97f4a7c15ull;
}

static void regs_entry(void *arg)
{
	struct regs_test *t = arg;
	unsigned long i;
	unsigned mask;

	fiber_begin();
	for (i = 0;; i++) {
		/* Every bit differs from the seed main used this round. */
		mask = tswitch_regs(&t->fiber, &t->main, ~regs_seed(i));
		t->checks++;
		if (mask != 0) {
			t->bad++;
			t->mask |= mask;
		}
	}
}

static void test_ctx_callee_saved_registers_survive(void **state)
{
	struct regs_test t = { 0 };
	struct tstack s;
	unsigned long i;
	unsigned long bad = 0;
	unsigned mask = 0;
	unsigned m;

	(void)state;
	assert_int_equal(tstack_alloc(&s), 0);
	main_ctx_init(&t.main);
	fiber_ctx_init(&t.fiber, &s, s.end, regs_entry, &t);

	for (i = 0; i < REGS_ROUND_TRIPS; i++) {
		m = tswitch_regs(&t.main, &t.fiber, regs_seed(i));
		if (m != 0) {
			bad++;
			mask |= m;
		}
	}
	assert_int_equal(mask, 0);
	assert_int_equal(bad, 0);
	assert_int_equal(t.mask, 0);
	assert_int_equal(t.bad, 0);
	/* The fiber's first switch came from its entry, not regs_switch. */
	assert_int_equal(t.checks, REGS_ROUND_TRIPS - 1);

	fiber_ctx_fini(&t.fiber);
	tstack_free(&s);
}

/* Floating-point environment ------------------------------------------- */

/*
 * The four rounding modes, with what each makes of lrint(1.5) and
 * lrint(-1.5): the pair tells them all apart. Conversions, unlike
 * arithmetic, honour the rounding mode under Valgrind too.
 */
static const struct {
	int mode;	/* FE_* */
	long pos;	/* lrint(1.5) */
	long neg;	/* lrint(-1.5) */
} fp_modes[4] = {
	{ FE_TOWARDZERO, 1, -1 },
	{ FE_DOWNWARD, 1, -2 },
	{ FE_UPWARD, 2, -1 },
	{ FE_TONEAREST, 2, -2 },
};

/* Indices into fp_modes[]. */
#define FP_DOWNWARD 1
#define FP_UPWARD 2
#define FP_TONEAREST 3

/*
 * True if the rounding mode in effect is fp_modes[@i], as fegetround()
 * reports it and as conversions obey it in double (SSE, so MXCSR, on
 * x86-64; FPCR on AArch64) and in long double (x87, so the x87 control
 * word, on x86-64; software that reads FPCR on AArch64).
 */
static bool fp_env_is(int i)
{
	/* volatile: converted now, in the current mode, never folded. */
	volatile double d = 1.5;
	volatile long double ld = 1.5L;

	return fegetround() == fp_modes[i].mode &&
	       lrint(d) == fp_modes[i].pos && lrint(-d) == fp_modes[i].neg &&
	       lrintl(ld) == fp_modes[i].pos && lrintl(-ld) == fp_modes[i].neg;
}

struct fp_test {
	struct tctx main;	/* the test function's context */
	struct tctx fiber;	/* context B */
	unsigned long rounds;	/* resumes of B */
	unsigned long bad;	/* resumes where B saw another mode */
};

/*
 * B expects on each resume the mode it set itself before it last
 * switched away (FE_TONEAREST, inherited, the first time), then sets
 * another one. Main sets fp_modes[k % 4] in round k; B sets
 * fp_modes[(k + 2) % 4], so the two always differ at a switch.
 */
static void fp_entry(void *arg)
{
	struct fp_test *t = arg;
	int expect = FP_TONEAREST;

	fiber_begin();
	for (;;) {
		if (!fp_env_is(expect))
			t->bad++;
		expect = (int)((t->rounds + 2) % 4);
		if (fesetround(fp_modes[expect].mode) != 0)
			t->bad++;
		t->rounds++;
		tswitch(&t->fiber, &t->main);
	}
}

static void test_ctx_fp_control_words_are_per_context(void **state)
{
	struct fp_test t = { 0 };
	struct tstack s;
	unsigned long k;
	unsigned long bad = 0;

	(void)state;
	assert_int_equal(fesetround(FE_TONEAREST), 0);
	assert_int_equal(tstack_alloc(&s), 0);
	main_ctx_init(&t.main);
	fiber_ctx_init(&t.fiber, &s, s.end, fp_entry, &t);

	for (k = 0; k < FP_ROUND_TRIPS; k++) {
		int mode = (int)(k % 4);

		if (fesetround(fp_modes[mode].mode) != 0)
			bad++;
		tswitch(&t.main, &t.fiber);
		if (!fp_env_is(mode))
			bad++;
	}
	fesetround(FE_TONEAREST);
	assert_int_equal(bad, 0);
	assert_int_equal(t.bad, 0);
	assert_int_equal(t.rounds, FP_ROUND_TRIPS);

	fiber_ctx_fini(&t.fiber);
	tstack_free(&s);
}

struct fp_inherit {
	struct tctx main;	/* the test function's context */
	struct tctx fiber[2];	/* made under FE_DOWNWARD, FE_UPWARD */
	bool ok[2];		/* fiber i found its maker's mode */
};

static void fp_inherit_entry0(void *arg)
{
	struct fp_inherit *t = arg;

	fiber_begin();
	t->ok[0] = fp_env_is(FP_DOWNWARD);
	for (;;)
		tswitch(&t->fiber[0], &t->main);
}

static void fp_inherit_entry1(void *arg)
{
	struct fp_inherit *t = arg;

	fiber_begin();
	t->ok[1] = fp_env_is(FP_UPWARD);
	for (;;)
		tswitch(&t->fiber[1], &t->main);
}

static void test_ctx_new_context_inherits_fp_env(void **state)
{
	struct fp_inherit t = { 0 };
	struct tstack s[2];
	bool main_ok;

	(void)state;
	assert_int_equal(fesetround(FE_TONEAREST), 0);
	assert_int_equal(tstack_alloc(&s[0]), 0);
	assert_int_equal(tstack_alloc(&s[1]), 0);
	main_ctx_init(&t.main);

	/* Captured when the context is made, not when it first runs. */
	assert_int_equal(fesetround(FE_DOWNWARD), 0);
	fiber_ctx_init(&t.fiber[0], &s[0], s[0].end, fp_inherit_entry0, &t);
	assert_int_equal(fesetround(FE_UPWARD), 0);
	fiber_ctx_init(&t.fiber[1], &s[1], s[1].end, fp_inherit_entry1, &t);
	assert_int_equal(fesetround(FE_TONEAREST), 0);

	tswitch(&t.main, &t.fiber[0]);
	tswitch(&t.main, &t.fiber[1]);
	main_ok = fp_env_is(FP_TONEAREST);
	fesetround(FE_TONEAREST);
	assert_true(t.ok[0]);
	assert_true(t.ok[1]);
	assert_true(main_ok);

	fiber_ctx_fini(&t.fiber[0]);
	fiber_ctx_fini(&t.fiber[1]);
	tstack_free(&s[0]);
	tstack_free(&s[1]);
}

/* Stack alignment -------------------------------------------------------- */

struct align_test {
	struct tctx main;	/* the test function's context */
	struct tctx fiber;	/* the context under test */
	unsigned long resumes;	/* resumes of the fiber */
	unsigned long bad;	/* misaligned frames or wrong output seen */
};

/*
 * A callee that needs the ABI's alignment: a 32-byte aligned local, and
 * printf's floating-point path, which uses aligned SSE stores on x86-64.
 * Returns the number of problems seen.
 */
static __attribute__((noinline)) unsigned align_callee(double x)
{
	_Alignas(32) volatile double v[4];
	char buf[32];
	unsigned bad = 0;

	if (((uintptr_t)__builtin_frame_address(0) & 15) != 0)
		bad++;
	if (((uintptr_t)v & 31) != 0)
		bad++;
	v[0] = x;
	v[3] = v[0] * 2.0;
	snprintf(buf, sizeof(buf), "%f", v[3]);
	if (strcmp(buf, "2.500000") != 0)
		bad++;
	return bad;
}

static void align_entry(void *arg)
{
	struct align_test *t = arg;

	fiber_begin();
	/* Only an entry with (sp + 8) % 16 == 0 gives an aligned frame. */
	if (((uintptr_t)__builtin_frame_address(0) & 15) != 0)
		t->bad++;
	for (;;) {
		t->bad += align_callee(1.25);
		t->resumes++;
		tswitch(&t->fiber, &t->main);
	}
}

static void test_ctx_entry_frame_is_aligned(void **state)
{
	/*
	 * Bytes below the page-aligned end of the stack: tops that are
	 * 4096-, 16-, 32-, 16-, 64-, 128- and 64-byte aligned, and no more.
	 */
	static const size_t below_end[] = { 0, 16, 32, 48, 64, 128, 4032 };
	size_t n;

	(void)state;
	for (n = 0; n < sizeof(below_end) / sizeof(below_end[0]); n++) {
		struct align_test t = { 0 };
		struct tstack s;
		unsigned long i;

		assert_int_equal(tstack_alloc(&s), 0);
		main_ctx_init(&t.main);
		fiber_ctx_init(&t.fiber, &s, (char *)s.end - below_end[n],
			       align_entry, &t);
		for (i = 0; i < 1000; i++)
			tswitch(&t.main, &t.fiber);
		assert_int_equal(t.resumes, 1000);
		assert_int_equal(t.bad, 0);
		fiber_ctx_fini(&t.fiber);
		tstack_free(&s);
	}
}

/* The initial frame ---------------------------------------------------- */

static void never_run_entry(void *arg)
{
	(void)arg;
	for (;;)
		pause();
}

static void test_ctx_make_writes_only_an_aligned_frame_below_top(
	void **state)
{
	struct tstack s;
	unsigned char *top;
	unsigned char *sp;
	size_t i;
	size_t changed = 0;

	(void)state;
	assert_int_equal(tstack_alloc(&s), 0);
	top = (unsigned char *)s.end - 256;
	memset(top - 1024, 0xa5, 1024 + 256);

	sp = weft__ctx_make(top, never_run_entry, NULL);
	assert_int_equal((uintptr_t)sp & 15, 0);
	assert_true(sp < top);
	assert_true(sp >= top - 256);
	for (i = 0; i < 256; i++)
		if (top[i] != 0xa5)
			changed++;
	assert_int_equal(changed, 0);
	/* Nothing below the frame it returned was touched either. */
	for (i = 1; i <= 1024 - (size_t)(top - sp); i++)
		if (sp[-(ptrdiff_t)i] != 0xa5)
			changed++;
	assert_int_equal(changed, 0);

	tstack_free(&s);
}

/* Unwinding -------------------------------------------------------------- */

#define BT_MAX 16

struct bt_test {
	struct tctx main;	/* the test function's context */
	struct tctx fiber;	/* the context that takes backtraces */
	void *first[BT_MAX];	/* return addresses seen on first entry */
	void *resumed[BT_MAX];	/* and after a resume */
	int nr_first;		/* entries in first[] */
	int nr_resumed;		/* entries in resumed[] */
};

/* Readable, but no code: a return address no unwinder can follow. */
static const char bt_bogus_ra[16];

static __attribute__((noinline)) int bt_take(void **frames)
{
	return backtrace(frames, BT_MAX);
}

static void bt_entry(void *arg)
{
	struct bt_test *t = arg;

	fiber_begin();
	t->nr_first = bt_take(t->first);
	tswitch(&t->fiber, &t->main);
	t->nr_resumed = bt_take(t->resumed);
	for (;;)
		tswitch(&t->fiber, &t->main);
}

static int bt_count_bogus(void *const *frames, int n)
{
	int bogus = 0;
	int i;

	for (i = 0; i < n; i++)
		if (frames[i] == (void *)bt_bogus_ra)
			bogus++;
	return bogus;
}

/*
 * The trampoline marks the end of the call chain, so an unwinder walking
 * a fiber's stack stops after bt_take, bt_entry and the trampoline. The
 * words above the stack top hold a plausible return address; an unwinder
 * that read them would report it as one more frame.
 */
static void test_ctx_unwinder_stops_at_fiber_entry(void **state)
{
	struct bt_test t = { 0 };
	struct tstack s;
	void **top;
	void **p;

	(void)state;
	assert_int_equal(tstack_alloc(&s), 0);
	top = (void **)((char *)s.end - 64);
	for (p = top; p < (void **)s.end; p++)
		*p = (void *)bt_bogus_ra;
	main_ctx_init(&t.main);
	fiber_ctx_init(&t.fiber, &s, top, bt_entry, &t);
	tswitch(&t.main, &t.fiber);
	tswitch(&t.main, &t.fiber);
	assert_int_equal(bt_count_bogus(t.first, t.nr_first), 0);
	assert_int_equal(bt_count_bogus(t.resumed, t.nr_resumed), 0);
	assert_in_range(t.nr_first, 2, 5);
	assert_int_equal(t.nr_resumed, t.nr_first);

	fiber_ctx_fini(&t.fiber);
	tstack_free(&s);
}

/* A ring of contexts ----------------------------------------------------- */

#define RING_SIZE 8
#define RING_LAPS 10000ul

struct ring_test {
	struct tctx main;		/* the test function's context */
	struct tctx ctx[RING_SIZE];	/* the ring */
	unsigned token;			/* index of the context due next */
	unsigned long visits[RING_SIZE];/* resumes per context */
	unsigned long bad;		/* wrong turns or clobbered locals */
};

struct ring_arg {
	struct ring_test *t;	/* the shared record */
	unsigned idx;		/* this context's place in the ring */
};

/*
 * Each context passes the token on to the next one, never through main,
 * and keeps a value of its own in a stack local, which no other context
 * may disturb. After RING_LAPS laps the last one returns to main.
 */
static void ring_entry(void *arg)
{
	const struct ring_arg *a = arg;
	struct ring_test *t = a->t;
	unsigned idx = a->idx;
	unsigned next = (idx + 1) % RING_SIZE;
	volatile uint64_t mine = 0x1000u + idx;

	fiber_begin();
	for (;;) {
		if (t->token != idx || mine != 0x1000u + idx)
			t->bad++;
		t->visits[idx]++;
		t->token = next;
		if (next == 0 && t->visits[idx] == RING_LAPS)
			tswitch(&t->ctx[idx], &t->main);
		else
			tswitch(&t->ctx[idx], &t->ctx[next]);
	}
}

static void test_ctx_ring_of_contexts_passes_control_in_order(void **state)
{
	struct ring_test t = { 0 };
	struct ring_arg args[RING_SIZE];
	struct tstack s[RING_SIZE];
	unsigned i;

	(void)state;
	main_ctx_init(&t.main);
	for (i = 0; i < RING_SIZE; i++) {
		assert_int_equal(tstack_alloc(&s[i]), 0);
		args[i].t = &t;
		args[i].idx = i;
		fiber_ctx_init(&t.ctx[i], &s[i], s[i].end, ring_entry,
			       &args[i]);
	}
	t.token = 0;
	tswitch(&t.main, &t.ctx[0]);

	assert_int_equal(t.bad, 0);
	assert_int_equal(t.token, 0);
	for (i = 0; i < RING_SIZE; i++)
		assert_int_equal(t.visits[i], RING_LAPS);
	for (i = 0; i < RING_SIZE; i++) {
		fiber_ctx_fini(&t.ctx[i]);
		tstack_free(&s[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ctx_first_switch_calls_entry_with_arg),
		cmocka_unit_test(test_ctx_ping_pong_resumes_each_side_in_turn),
		cmocka_unit_test(test_ctx_callee_saved_registers_survive),
		cmocka_unit_test(test_ctx_fp_control_words_are_per_context),
		cmocka_unit_test(test_ctx_new_context_inherits_fp_env),
		cmocka_unit_test(test_ctx_entry_frame_is_aligned),
		cmocka_unit_test(
			test_ctx_make_writes_only_an_aligned_frame_below_top),
		cmocka_unit_test(test_ctx_unwinder_stops_at_fiber_entry),
		cmocka_unit_test(
			test_ctx_ring_of_contexts_passes_control_in_order),
	};

	return cmocka_run_group_tests_name("context", tests, NULL, NULL);
}
