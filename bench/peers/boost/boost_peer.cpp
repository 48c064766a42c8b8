// SPDX-License-Identifier: MIT
//
// boost-peer: Boost.Context's and Boost.Fiber's side of weft's benchmark
// report, the same measurements as bench/bench_switch.c and
// bench/bench_spawn.c (and the report's fib, fine-grained and channel
// figures), written the way the Boost documentation writes them.
//
//	boost-peer switch|spawn|fib|fine|chan [--quick] [--runs N] [--workers W]
//
// --workers matters to fib and fine only; the other rows are
// single-threaded.
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
//   fib     boost.fib30.cutoff12.<W>threads  fib(30) with a fiber per
//	                              call above the cutoff (n > 12; serial
//	                              at n <= 12, as weft's
//	                              steal.fib30.cutoff12 rows), for W = 1
//	                              and 2 (--workers W replaces the 2); ns
//	                              per fib(30) run
//	     boost.fib30.cutoff12.<W>threads.notrim  the same without
//	                              glibc's heap trimming (see below)
//   fine    boost.fine.fib30.nocutoff.<W>threads  fib(30) with a fiber
//	                              per call all the way down (every call
//	                              with n >= 2 starts one for fib(n - 1)
//	                              and joins it), for W = 1 and --workers
//	                              (default: every CPU), bench_fine's
//	                              counterpart; not in --quick (each run
//	                              takes seconds)
//	     boost.fine.skynet1m.<W>threads  skynet: a node starts 10 child
//	                              fibers, each over a tenth of its
//	                              leaves, joins them in order and returns
//	                              the sum of their results; a leaf
//	                              returns its index; 1,000,000 leaves
//	                              (10,000 under --quick: skynet10k), the
//	                              sum checked; ns per whole skynet
//	     fine's fibers start with launch::dispatch (the child runs at
//	     once, its parent waits in the ready queue), as Boost's own
//	     skynet benchmark does: so they run depth first, as weft's and
//	     Go's do (a fresh fiber or goroutine runs next there). With the
//	     default launch::post, round_robin's FIFO queue runs skynet
//	     breadth first: a million fibers alive, 38 s and 10 GB on one
//	     thread in a trial here.
//
// fib's figures are ns per whole fib(30) run, not per call; --quick
// computes fib(25) and names the rows fib25.
//
// Rows of switch, spawn and chan run pinned to the highest-numbered
// allowed CPU, as the C rows do; fib and fine are not pinned. Every fiber
// gets Boost's default stack, fixedsize_stack: 128 KiB from malloc() per
// fiber. One fiber at a time reuses the same block, but when fib keeps
// hundreds alive glibc grows and trims its heap around them (brk,
// mprotect), and that is part of what fib measures, since it is what a
// Boost.Fiber program gets by default; fib's .notrim rows measure the
// same with glibc told (mallopt) to keep that memory, to show how much of
// the figure is the allocator's (fine has no such rows: it measures the
// default). Except in fib and fine, the scheduler is the default
// round_robin.
//
// fib and fine follow the documented work_stealing pattern: W threads
// (the main one and W - 1 more) each call
// use_scheduling_algorithm<work_stealing>(W), and the extra threads park
// their main fiber on a fiber condition variable until the work is done,
// so that they only steal and run fibers. work_stealing keeps its
// schedulers in static members that are set up once per process for one
// W, so each run of each (W, .notrim or not) is measured in a forked
// child that reports through a pipe. With W = 1 the thread keeps the
// default round_robin: work_stealing(1) looks for a victim other than
// itself forever once its own queue is empty.
//
// As in the C programs, each run measures every row once, so that a noisy
// moment spreads over all the rows; measurements are preceded by a warm-up
// pass of a tenth of their size (one unmeasured fib run for the cutoff
// rows; for fine, fib(n - 5) and skynet over a hundredth of the leaves,
// in the same child); every row checks its own work, and a wrong result
// exits 1.
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/context/fiber.hpp>
#include <boost/fiber/all.hpp>
#include <boost/version.hpp>

#include <cinttypes>
#include <functional>
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
	peer::note("pinned: both rows on cpu %d\n", solo);
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
	peer::note("pinned: on cpu %d\n", solo);
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
	peer::note("pinned: on cpu %d\n", solo);
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

// M_MMAP_THRESHOLD above a fiber stack, so that none is mmap()ed, and
// trimming only past a pad far larger than fib's stacks ever take.
constexpr int notrim_mmap_threshold = 1 << 20;
constexpr int notrim_trim_threshold = 1 << 30;
constexpr int notrim_top_pad = 64 << 20;

// In a fresh process (so that work_stealing's statics are fresh), set up
// @threads threads, run @body on the main one and write what it returns
// to @fd. With @notrim, glibc is first told not to trim the heap.
void child_body(int threads, bool notrim, const std::string &name,
		const std::function<std::string()> &body, int fd)
{
	fibers::mutex mtx;
	fibers::condition_variable_any cnd;
	bool done = false;
	std::vector<std::thread> helpers;

	if (notrim &&
	    (!mallopt(M_MMAP_THRESHOLD, notrim_mmap_threshold) ||
	     !mallopt(M_TRIM_THRESHOLD, notrim_trim_threshold) ||
	     !mallopt(M_TOP_PAD, notrim_top_pad)))
		fail(name + ": mallopt failed");
	for (int i = 1; i < threads; i++)
		helpers.emplace_back([&] {
			fibers::use_scheduling_algorithm<
				fibers::algo::work_stealing>(threads);
			std::unique_lock<fibers::mutex> lk{mtx};
			cnd.wait(lk, [&done] { return done; });
		});
	if (threads > 1)
		fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(
			threads);

	std::string out = body();

	{
		std::unique_lock<fibers::mutex> lk{mtx};
		done = true;
	}
	cnd.notify_all();
	for (auto &t : helpers)
		t.join();
	if (write(fd, out.data(), out.size()) !=
	    static_cast<ssize_t>(out.size()))
		fail(name + " child: write: " +
		     std::string(std::strerror(errno)));
}

// Fork a child that runs child_body(); returns what it wrote.
std::string fork_child(int threads, bool notrim, const std::string &name,
		       const std::function<std::string()> &body)
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
		child_body(threads, notrim, name, body, fds[1]);
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
	return got;
}

// What one forked child measures: a cutoff row on @threads threads.
struct fib_job {
	int threads;
	int n, want;
	bool notrim;		// keep glibc from trimming the heap
	peer::row *cut;		// measured with the cutoff
};

void fib_fork(const fib_job &job)
{
	std::string got = fork_child(job.threads, job.notrim, job.cut->name(),
				     [&job] {
		return std::to_string(fib_measure(
			job.cut->name(), job.n, job.want, fib_cutoff,
			static_cast<int>(job.cut->iters()), true));
	});
	std::uint64_t cut = 0;

	if (std::sscanf(got.c_str(), "%" SCNu64, &cut) != 1)
		fail("fib child said '" + got + "'");
	job.cut->add_elapsed(cut);
}

int bench_fib(const peer::options &o)
{
	int n = o.quick ? fib_n_quick : fib_n;
	int want = o.quick ? fib_want_quick : fib_want;
	std::uint64_t reps = o.quick ? fib_reps_quick : fib_reps;
	int wide = o.workers > 0 ? o.workers : 2;
	std::string fibn = "boost.fib" + std::to_string(n) + ".cutoff" +
			   std::to_string(fib_cutoff) + ".";
	std::vector<int> widths{1};
	std::vector<std::unique_ptr<peer::row>> rows;
	std::vector<fib_job> jobs;

	if (wide != 1)
		widths.push_back(wide);
	for (bool notrim : {false, true})
		for (int w : widths) {
			std::string t = std::to_string(w) + "threads";

			rows.push_back(std::make_unique<peer::row>(
				fibn + t + (notrim ? ".notrim" : ""), reps));
			jobs.push_back({w, n, want, notrim,
					rows.back().get()});
		}

	peer::print_machine("boost-peer fib", boost_version().c_str());
	for (int r = 0; r < o.runs; r++)
		for (const auto &j : jobs)
			fib_fork(j);
	peer::note("fib rows: ns per whole fib(%d) run (not per call); "
		    "cutoff: serial at n <= %d; 1 thread: round_robin, "
		    "more: work_stealing; not pinned\n", n, fib_cutoff);
	peer::note(".notrim rows: the same after mallopt() stops glibc "
		    "from mmap()ing and trimming around the 128 KiB fiber "
		    "stacks\n");
	peer::note("fib without a cutoff: boost-peer fine\n");
	peer::print_header(o, "ns per fib(" + std::to_string(n) + ")",
			   rows[0]->name());
	double ref = rows[0]->median();
	for (auto &r : rows)
		r->print(ref);
	return 0;
}

// fine: fib without a cutoff, skynet ------------------------------------

constexpr int sky_levels = 6, sky_levels_quick = 4;
constexpr int fine_fib_warm = 5;	// the warm-up computes fib(n - 5)

// fib(n) with a fiber for fib(n - 1) in every call with n >= 2, started
// with launch::dispatch (see bench_fine).
int fib_dispatch(int n)
{
	if (n < 2)
		return n;
	int a = 0;
	fibers::fiber f{fibers::launch::dispatch,
			[&a, n] { a = fib_dispatch(n - 1); }};
	int b = fib_dispatch(n - 2);
	f.join();
	return a + b;
}

// The sum of the leaf indexes num .. num + size - 1 below a node of
// @size leaves: ten child fibers, each over a tenth, joined in order.
std::uint64_t skynet(std::uint64_t num, std::uint64_t size)
{
	if (size == 1)
		return num;
	std::uint64_t res[10], s = size / 10, sum = 0;
	fibers::fiber f[10];

	for (int i = 0; i < 10; i++)
		f[i] = fibers::fiber{fibers::launch::dispatch,
				     [&res, i, num, s] {
			res[i] = skynet(num + static_cast<std::uint64_t>(i) * s,
					s);
		}};
	for (int i = 0; i < 10; i++) {
		f[i].join();
		sum += res[i];
	}
	return sum;
}

// One child of fine: a warm-up and a measured run of fib (no cutoff;
// unless @n is 0) and of skynet on @threads threads; returns "fib_ns
// skynet_ns".
std::string fine_child(int threads, int n, std::uint64_t leaves)
{
	std::string name = "boost.fine." + std::to_string(threads) +
			   "threads";
	std::uint64_t lw = leaves / 100, fib_ns = 0;

	if (n) {
		if (fib_dispatch(n - fine_fib_warm) !=
		    fib_serial(n - fine_fib_warm))
			fail(name + ": warm-up fib is wrong");
		int want = fib_serial(n);
		auto t0 = peer::clock::now();
		int v = fib_dispatch(n);
		fib_ns = elapsed_ns(t0, peer::clock::now());
		if (v != want)
			fail(name + ": fib(" + std::to_string(n) + ") = " +
			     std::to_string(v) + ", want " +
			     std::to_string(want));
	}
	if (skynet(0, lw) != lw * (lw - 1) / 2)
		fail(name + ": warm-up skynet is wrong");
	auto t2 = peer::clock::now();
	std::uint64_t sum = skynet(0, leaves);
	auto t3 = peer::clock::now();
	if (sum != leaves * (leaves - 1) / 2)
		fail(name + ": skynet sum " + std::to_string(sum) + ", want " +
		     std::to_string(leaves * (leaves - 1) / 2));
	return std::to_string(fib_ns) + " " +
	       std::to_string(elapsed_ns(t2, t3));
}

int bench_fine(const peer::options &o)
{
	int n = o.quick ? fib_n_quick : fib_n;
	int lvl = o.quick ? sky_levels_quick : sky_levels;
	std::uint64_t leaves = 1;
	int wide = o.workers > 0 ? o.workers :
		   static_cast<int>(std::thread::hardware_concurrency());
	std::string tname = o.quick ? "10k" : "1m";
	std::vector<int> widths{1};
	std::vector<std::unique_ptr<peer::row>> fib, sky;

	for (int i = 0; i < lvl; i++)
		leaves *= 10;
	if (wide > 1)
		widths.push_back(wide);
	for (int w : widths) {
		std::string t = std::to_string(w) + "threads";

		fib.push_back(std::make_unique<peer::row>(
			"boost.fine.fib" + std::to_string(n) + ".nocutoff." + t,
			1));
		sky.push_back(std::make_unique<peer::row>(
			"boost.fine.skynet" + tname + "." + t, 1));
	}

	peer::print_machine("boost-peer fine", boost_version().c_str());
	for (int r = 0; r < o.runs; r++)
		for (std::size_t i = 0; i < widths.size(); i++) {
			int w = widths[i], fn = o.quick ? 0 : n;
			std::string got = fork_child(w, false, sky[i]->name(),
						     [w, fn, leaves] {
				return fine_child(w, fn, leaves);
			});
			std::uint64_t fns = 0, sns = 0;

			if (std::sscanf(got.c_str(), "%" SCNu64 " %" SCNu64,
					&fns, &sns) != 2)
				fail("fine child said '" + got + "'");
			if (!o.quick)
				fib[i]->add_elapsed(fns);
			sky[i]->add_elapsed(sns);
		}
	peer::note("fine rows: ns per whole fib(%d) or skynet (%" PRIu64
		    " leaves, sum checked); fib: a fiber for fib(n - 1) in "
		    "every call with n >= 2, joined; skynet: ten child fibers "
		    "per node, joined in order; launch::dispatch; default stacks "
		    "(fixedsize_stack, 128 KiB from malloc); 1 thread: "
		    "round_robin, more: work_stealing; not pinned; each run "
		    "in a fresh process, after a warm-up run of fib(%d) and "
		    "of skynet over %" PRIu64 " leaves\n", n, leaves,
		    n - fine_fib_warm, leaves / 100);
	if (o.quick)
		peer::note("boost.fine.fib%d.nocutoff rows skipped in "
			    "--quick: each run takes seconds\n", n);
	peer::print_header(o, "ns per run", "the 1-thread row of the same "
			   "workload");
	for (std::size_t i = 0; i < widths.size() && !o.quick; i++)
		fib[i]->print(fib[0]->median());
	for (std::size_t i = 0; i < widths.size(); i++)
		sky[i]->print(sky[0]->median());
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
	if (cmd == "fine")
		return bench_fine(o);
	peer::usage();
}
