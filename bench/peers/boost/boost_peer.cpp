// SPDX-License-Identifier: MIT
//
// boost-peer: Boost.Context's and Boost.Fiber's side of weft's benchmark
// report, the same measurements as bench/bench_switch.c and
// bench/bench_spawn.c (and the report's fib and channel figures), written
// the way the Boost documentation writes them.
//
//	boost-peer switch|spawn|fib|chan [--quick] [--runs N] [--workers W]
//
// --workers matters to fib only; the other rows are single-threaded.
//   switch  boost.context.switch     two boost::context::fiber contexts
//	                              resuming each other, ns per one-way
//	                              switch (switch.raw's counterpart)
//	     boost.fiber.yield        two boost::fibers::fiber on one
//	                              thread, each calling
//	                              boost::this_fiber::yield() in a loop;
//	                              ns per yield (switch.yield's)
//   spawn   boost.fiber.spawn.join   construct a boost::fibers::fiber and
//	                              join() it, repeated; ns per pair
//	                              (spawn.join.1worker's)
//   chan    boost.chan.pingpong      the main fiber and one other passing
//	                              a value back and forth through two
//	                              boost::fibers::unbuffered_channel; ns
//	                              per handoff (one push and its pop)
//   fib     boost.fib30.<W>threads   fib(30) with a fiber per call above
//	                              the cutoff (n > 12; serial below, as
//	                              weft's fib), for W = 1 and 2 (--workers
//	                              W replaces the 2); ns per fib(30) run
//	     boost.fib30.<W>threads.notrim  the same without glibc's heap
//	                              trimming (see below)
//	     boost.fib30.nocutoff.<W>threads  a fiber per call all the way
//	                              down, on the larger W; not in --quick
//	                              (each run takes seconds: ~0.5 s even
//	                              for fib(25) on 2 threads)
//
// fib's figures are ns per whole fib(30) run, not per call; --quick
// computes fib(25) and names the rows fib25.
//
// Rows on one thread run pinned to the highest-numbered allowed CPU, as
// the C rows do. Every fiber gets Boost's default stack, fixedsize_stack:
// 128 KiB from malloc() per fiber. One fiber at a time reuses the same
// block, but when fib keeps hundreds alive glibc grows and trims its heap
// around them (brk, mprotect), and that is part of what fib measures,
// since it is what a Boost.Fiber program gets by default; fib's .notrim
// rows measure the same with glibc told (mallopt) to keep that memory,
// to show how much of the figure is the allocator's. Except in fib, the
// scheduler is the default round_robin.
//
// fib follows the documented work_stealing pattern: W threads (the main
// one and W - 1 more) each call use_scheduling_algorithm<work_stealing>(W),
// and the extra threads park their main fiber on a fiber condition
// variable until the work is done, so that they only steal and run
// fibers. work_stealing keeps its schedulers in static members that are
// set up once per process for one W, so each run of each (W, .notrim or
// not) is measured in a forked child that reports through a pipe. With W = 1 the thread keeps
// the default round_robin: work_stealing(1) looks for a victim other than
// itself forever once its own queue is empty.
//
// As in the C programs, each run measures every row once, so that a noisy
// moment spreads over all the rows; measurements are preceded by a warm-up
// pass of a tenth of their size (one unmeasured fib run for the cutoff
// rows; the nocutoff row follows them in the same child); every row
// checks its own work, and a wrong result exits 1.
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/context/fiber.hpp>
#include <boost/fiber/all.hpp>
#include <boost/version.hpp>

#include <cinttypes>
#include <memory>
#include <thread>

#include "report.hpp"

namespace {

namespace ctx = boost::context;
namespace fibers = boost::fibers;

using peer::elapsed_ns;
using peer::fail;

// Operations per run (full, --quick), as in bench_switch.c and
// bench_spawn.c where there is a counterpart there.
constexpr std::uint64_t context_switches = 20000000;	// RAW_SWITCHES
constexpr std::uint64_t context_switches_quick = 1000000;
constexpr std::uint64_t yield_switches = 4000000;	// YIELD_SWITCHES
constexpr std::uint64_t yield_switches_quick = 200000;
constexpr std::uint64_t spawn_joins = 1000000;		// SPAWN_JOINS
constexpr std::uint64_t spawn_joins_quick = 20000;
constexpr std::uint64_t chan_handoffs = 2000000;
constexpr std::uint64_t chan_handoffs_quick = 100000;

std::string boost_version()
{
	return std::to_string(BOOST_VERSION / 100000) + "." +
	       std::to_string(BOOST_VERSION / 100 % 1000) + "." +
	       std::to_string(BOOST_VERSION % 100);
}

// switch: boost::context::fiber ------------------------------------------

// Resume a context that resumes us straight back, @rounds times; returns
// the ns the 2 * rounds one-way switches took.
std::uint64_t context_run(std::uint64_t rounds)
{
	std::uint64_t count = 0;
	bool stop = false;
	ctx::fiber f{[&count, &stop](ctx::fiber &&back) {
		while (!stop) {
			count++;
			back = std::move(back).resume();
		}
		return std::move(back);
	}};

	auto t0 = peer::clock::now();
	for (std::uint64_t i = 0; i < rounds; i++)
		f = std::move(f).resume();
	auto t1 = peer::clock::now();
	stop = true;
	f = std::move(f).resume();
	if (f || count != rounds)
		fail("boost.context.switch: " + std::to_string(count) +
		     " resumes reached the context, want " +
		     std::to_string(rounds));
	return elapsed_ns(t0, t1);
}

std::uint64_t measure_context(std::uint64_t switches)
{
	context_run(switches / 20);
	return context_run(switches / 2);
}

// switch: this_fiber::yield ----------------------------------------------

// Two fibers on one thread, each yielding rounds times; plain fields do.
struct yield_pp {
	std::uint64_t rounds = 0;	// yields per fiber
	std::uint64_t count[2] = {};	// yields made by fiber 0 and fiber 1
	std::uint64_t switched = 0;	// yields after which the other had run
	unsigned ready = 0;		// fibers that have started
	unsigned done = 0;		// fibers that have finished their loop
	peer::clock::time_point t0;	// both fibers started
	peer::clock::time_point t1;	// both fibers finished
};

void yield_loop(yield_pp &y, unsigned me)
{
	y.ready++;
	while (y.ready < 2)
		boost::this_fiber::yield();
	if (y.ready == 2) {
		y.t0 = peer::clock::now();
		y.ready++;
	}
	for (std::uint64_t i = 0; i < y.rounds; i++) {
		y.count[me]++;
		std::uint64_t seen = y.count[!me];
		boost::this_fiber::yield();
		if (y.count[!me] != seen)
			y.switched++;
	}
	if (++y.done == 2)
		y.t1 = peer::clock::now();
}

// Returns the ns that 2 * rounds yields took.
std::uint64_t yield_run(std::uint64_t rounds)
{
	yield_pp y;

	y.rounds = rounds;
	fibers::fiber a{yield_loop, std::ref(y), 0u};
	fibers::fiber b{yield_loop, std::ref(y), 1u};
	a.join();
	b.join();
	if (y.done != 2 || y.count[0] != rounds || y.count[1] != rounds)
		fail("boost.fiber.yield: counts " + std::to_string(y.count[0]) +
		     " and " + std::to_string(y.count[1]) + ", want " +
		     std::to_string(rounds));
	// Only the last yield or two may find the other fiber gone.
	if (y.switched + 2 < 2 * rounds)
		fail("boost.fiber.yield: only " + std::to_string(y.switched) +
		     " of " + std::to_string(2 * rounds) + " yields switched");
	return elapsed_ns(y.t0, y.t1);
}

std::uint64_t measure_yield(std::uint64_t switches)
{
	yield_run(switches / 20);
	return yield_run(switches / 2);
}

int bench_switch(const peer::options &o)
{
	peer::cpus cpus;
	int solo = cpus.last();
	std::uint64_t ctx_ops = o.quick ? context_switches_quick :
					  context_switches;
	std::uint64_t yield_ops = o.quick ? yield_switches_quick :
					    yield_switches;
	peer::row context{"boost.context.switch", ctx_ops};
	peer::row yield{"boost.fiber.yield", yield_ops};

	peer::print_machine("boost-peer switch", boost_version().c_str());
	for (int r = 0; r < o.runs; r++) {
		peer::pinned p{cpus, solo};

		context.add_elapsed(measure_context(ctx_ops));
		yield.add_elapsed(measure_yield(yield_ops));
	}
	std::printf("# pinned: both rows on cpu %d\n", solo);
	peer::print_header(o, "ns per op", yield.name());
	double ref = yield.median();
	context.print(ref);
	yield.print(ref);
	return 0;
}

// spawn ------------------------------------------------------------------

// Spawn and join @n fibers one at a time; each stores its index plus one.
std::uint64_t spawn_pass(std::uint64_t n)
{
	auto t0 = peer::clock::now();
	for (std::uint64_t i = 0; i < n; i++) {
		std::uint64_t out = 0;
		fibers::fiber f{[&out, i] { out = i + 1; }};

		f.join();
		if (out != i + 1)
			fail("boost.fiber.spawn.join: fiber " +
			     std::to_string(i) + " stored " +
			     std::to_string(out));
	}
	return elapsed_ns(t0, peer::clock::now());
}

int bench_spawn(const peer::options &o)
{
	peer::cpus cpus;
	int solo = cpus.last();
	std::uint64_t n = o.quick ? spawn_joins_quick : spawn_joins;
	peer::row join{"boost.fiber.spawn.join", n};

	peer::print_machine("boost-peer spawn", boost_version().c_str());
	for (int r = 0; r < o.runs; r++) {
		peer::pinned p{cpus, solo};

		spawn_pass(n / 10);
		join.add_elapsed(spawn_pass(n));
	}
	std::printf("# pinned: on cpu %d\n", solo);
	peer::print_header(o, "ns per op", join.name());
	join.print(join.median());
	return 0;
}

// chan -------------------------------------------------------------------

// Make warm + rounds round trips with a partner fiber through two
// unbuffered channels; returns the ns the last 2 * rounds handoffs took.
std::uint64_t chan_run(std::uint64_t warm, std::uint64_t rounds)
{
	fibers::unbuffered_channel<std::uint64_t> ping, pong;
	fibers::fiber partner{[&ping, &pong] {
		for (std::uint64_t v : ping)
			if (pong.push(v + 1) != fibers::channel_op_status::success)
				fail("boost.chan.pingpong: pong closed");
		pong.close();
	}};
	peer::clock::time_point t0;
	std::uint64_t v = 0;

	for (std::uint64_t i = 0; i < warm + rounds; i++) {
		if (i == warm)
			t0 = peer::clock::now();
		if (ping.push(2 * i) != fibers::channel_op_status::success ||
		    pong.pop(v) != fibers::channel_op_status::success ||
		    v != 2 * i + 1)
			fail("boost.chan.pingpong: sent " +
			     std::to_string(2 * i) + ", got back " +
			     std::to_string(v));
	}
	auto t1 = peer::clock::now();
	ping.close();
	if (pong.pop(v) != fibers::channel_op_status::closed)
		fail("boost.chan.pingpong: partner sent an extra value");
	partner.join();
	return elapsed_ns(t0, t1);
}

int bench_chan(const peer::options &o)
{
	peer::cpus cpus;
	int solo = cpus.last();
	std::uint64_t n = o.quick ? chan_handoffs_quick : chan_handoffs;
	peer::row pingpong{"boost.chan.pingpong", n};

	peer::print_machine("boost-peer chan", boost_version().c_str());
	for (int r = 0; r < o.runs; r++) {
		peer::pinned p{cpus, solo};

		pingpong.add_elapsed(chan_run(n / 20, n / 2));
	}
	std::printf("# pinned: on cpu %d\n", solo);
	peer::print_header(o, "ns per op", pingpong.name());
	pingpong.print(pingpong.median());
	return 0;
}

// fib --------------------------------------------------------------------

constexpr int fib_cutoff = 12;		// serial at n <= fib_cutoff
constexpr int fib_n = 30, fib_n_quick = 25;
constexpr int fib_want = 832040, fib_want_quick = 75025;
constexpr int fib_reps = 20;		// fib runs per cutoff measurement
constexpr int fib_reps_quick = 5;

int fib_serial(int n)
{
	return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2);
}

// fib(n) with a fiber for fib(n - 1) in every call with n > cutoff.
int fib_par(int n, int cutoff)
{
	if (n <= cutoff)
		return fib_serial(n);
	int a = 0;
	fibers::fiber f{[&a, n, cutoff] { a = fib_par(n - 1, cutoff); }};
	int b = fib_par(n - 2, cutoff);
	f.join();
	return a + b;
}

// One warm-up run if @warm, then @reps measured runs; returns their ns.
std::uint64_t fib_measure(const std::string &name, int n, int want,
			  int cutoff, int reps, bool warm)
{
	auto check = [&](int v) {
		if (v != want)
			fail(name + ": fib(" + std::to_string(n) + ") = " +
			     std::to_string(v) + ", want " +
			     std::to_string(want));
	};

	if (warm)
		check(fib_par(n, cutoff));
	auto t0 = peer::clock::now();
	for (int i = 0; i < reps; i++)
		check(fib_par(n, cutoff));
	return elapsed_ns(t0, peer::clock::now());
}

// What one forked child measures: a cutoff row and maybe the nocutoff
// row, on @threads threads.
struct fib_job {
	int threads;
	int n, want;
	bool notrim;		// keep glibc from trimming the heap
	peer::row *cut;		// measured with the cutoff
	peer::row *nocut;	// measured without, or null
};

// M_MMAP_THRESHOLD above a fiber stack, so that none is mmap()ed, and
// trimming only past a pad far larger than fib's stacks ever take.
constexpr int notrim_mmap_threshold = 1 << 20;
constexpr int notrim_trim_threshold = 1 << 30;
constexpr int notrim_top_pad = 64 << 20;

// The child's body: set up the threads, measure, write "cut nocut" ns to
// @fd. Runs in a fresh process, so work_stealing's statics are fresh.
void fib_child(const fib_job &job, int fd)
{
	fibers::mutex mtx;
	fibers::condition_variable_any cnd;
	bool done = false;
	std::vector<std::thread> helpers;
	std::uint64_t cut, nocut = 0;

	if (job.notrim &&
	    (!mallopt(M_MMAP_THRESHOLD, notrim_mmap_threshold) ||
	     !mallopt(M_TRIM_THRESHOLD, notrim_trim_threshold) ||
	     !mallopt(M_TOP_PAD, notrim_top_pad)))
		fail(job.cut->name() + ": mallopt failed");
	for (int i = 1; i < job.threads; i++)
		helpers.emplace_back([&] {
			fibers::use_scheduling_algorithm<
				fibers::algo::work_stealing>(job.threads);
			std::unique_lock<fibers::mutex> lk{mtx};
			cnd.wait(lk, [&done] { return done; });
		});
	if (job.threads > 1)
		fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(
			job.threads);

	cut = fib_measure(job.cut->name(), job.n, job.want, fib_cutoff,
			  static_cast<int>(job.cut->iters()), true);
	// No warm-up run of its own: one takes seconds, and the cutoff
	// runs before it have warmed the scheduler and the heap.
	if (job.nocut)
		nocut = fib_measure(job.nocut->name(), job.n, job.want, 1, 1,
				    false);

	{
		std::unique_lock<fibers::mutex> lk{mtx};
		done = true;
	}
	cnd.notify_all();
	for (auto &t : helpers)
		t.join();
	std::string out = std::to_string(cut) + " " + std::to_string(nocut);
	if (write(fd, out.data(), out.size()) !=
	    static_cast<ssize_t>(out.size()))
		fail("fib child: write: " + std::string(std::strerror(errno)));
}

// Fork a child to run @job and add its figures to the job's rows.
void fib_fork(const fib_job &job)
{
	int fds[2], status = 0;
	char buf[128];
	std::string got;
	ssize_t n;

	std::fflush(stdout);
	if (pipe(fds) != 0)
		fail("pipe: " + std::string(std::strerror(errno)));
	pid_t pid = fork();
	if (pid < 0)
		fail("fork: " + std::string(std::strerror(errno)));
	if (pid == 0) {
		close(fds[0]);
		fib_child(job, fds[1]);
		// Skip the static destructors: work_stealing's outlive
		// the threads their schedulers belonged to.
		_exit(0);
	}
	close(fds[1]);
	while ((n = read(fds[0], buf, sizeof(buf))) > 0)
		got.append(buf, static_cast<std::size_t>(n));
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		std::exit(1);	// the child said why on stderr
	std::uint64_t cut = 0, nocut = 0;
	if (std::sscanf(got.c_str(), "%" SCNu64 " %" SCNu64, &cut, &nocut) != 2)
		fail("fib child said '" + got + "'");
	job.cut->add_elapsed(cut);
	if (job.nocut)
		job.nocut->add_elapsed(nocut);
}

int bench_fib(const peer::options &o)
{
	int n = o.quick ? fib_n_quick : fib_n;
	int want = o.quick ? fib_want_quick : fib_want;
	std::uint64_t reps = o.quick ? fib_reps_quick : fib_reps;
	int wide = o.workers > 0 ? o.workers : 2;
	std::string fibn = "boost.fib" + std::to_string(n) + ".";
	std::vector<int> widths{1};
	std::vector<std::unique_ptr<peer::row>> rows;
	std::vector<fib_job> jobs;

	if (wide != 1)
		widths.push_back(wide);
	auto add_row = [&rows](std::string name, std::uint64_t iters) {
		rows.push_back(std::make_unique<peer::row>(name, iters));
		return rows.back().get();
	};
	for (bool notrim : {false, true})
		for (int w : widths) {
			std::string t = std::to_string(w) + "threads";
			peer::row *cut = add_row(fibn + t +
						 (notrim ? ".notrim" : ""),
						 reps);

			jobs.push_back({w, n, want, notrim, cut, nullptr});
		}
	if (!o.quick)
		jobs[widths.size() - 1].nocut = add_row(
			fibn + "nocutoff." + std::to_string(wide) + "threads",
			1);

	peer::print_machine("boost-peer fib", boost_version().c_str());
	for (int r = 0; r < o.runs; r++)
		for (const auto &j : jobs)
			fib_fork(j);
	std::printf("# fib rows: ns per whole fib(%d) run (not per call); "
		    "cutoff: serial at n <= %d; 1 thread: round_robin, "
		    "more: work_stealing; not pinned\n", n, fib_cutoff);
	std::printf("# .notrim rows: the same after mallopt() stops glibc "
		    "from mmap()ing and trimming around the 128 KiB fiber "
		    "stacks\n");
	if (o.quick)
		std::printf("# %snocutoff.%dthreads skipped in --quick: each "
			    "run takes seconds\n", fibn.c_str(), wide);
	peer::print_header(o, "ns per fib(" + std::to_string(n) + ")",
			   rows[0]->name());
	double ref = rows[0]->median();
	for (auto &r : rows)
		r->print(ref);
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	if (argc < 2)
		peer::usage();
	std::string cmd = argv[1];
	peer::options o = peer::parse(argc, argv, 2);

	if (cmd == "switch")
		return bench_switch(o);
	if (cmd == "spawn")
		return bench_spawn(o);
	if (cmd == "chan")
		return bench_chan(o);
	if (cmd == "fib")
		return bench_fib(o);
	peer::usage();
}
