// SPDX-License-Identifier: MIT
//
// The command line, the clock, the result rows and CPU pinning of
// boost-peer, in C++ but to the letter of bench/bench_common.h, so that
// one parser reads the C programs and this one: lines starting with '#'
// are comments, every other line is a row
//
//	name  iterations  median  min  max  ratio
//
// where the figures are per operation over the runs (ns unless a comment
// says otherwise) and ratio is median / median of the program's reference
// row, or "-". If the environment names a file in WEFT_BENCH_JSON, every
// row and every comment also goes there as one JSON object per line,
// appended with one write(2) on an O_APPEND descriptor, in the shape
// bench_common.h gives them (tools/bench_report.py reads those, never the
// text). Main thread only, except fail(), which any thread may call.
#ifndef WEFT_PEER_BOOST_REPORT_HPP
#define WEFT_PEER_BOOST_REPORT_HPP

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace peer {

constexpr int runs_min = 5;		// fewest runs a figure may be the median of
constexpr int runs_default = 7;
constexpr int runs_quick = runs_min;
constexpr int runs_max = 1000;

using clock = std::chrono::steady_clock;

inline std::uint64_t elapsed_ns(clock::time_point t0, clock::time_point t1)
{
	return static_cast<std::uint64_t>(
		std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0)
			.count());
}

// A benchmark found its own work wrong: say what and exit 1.
[[noreturn]] inline void fail(const std::string &what)
{
	std::cout.flush();
	std::cerr << "boost-peer: FAILED: " << what << std::endl;
	std::exit(1);
}

[[noreturn]] inline void usage()
{
	std::cerr << "usage: boost-peer switch|spawn|fib|fine|chan [--quick] "
		     "[--runs N] [--workers W]\n"
		  << "  N >= " << runs_min << "; default " << runs_default
		  << ", or " << runs_quick << " with --quick\n";
	std::exit(2);
}

struct options {
	int runs = 0;		// measured runs per row
	bool quick = false;	// far fewer iterations, for CI
	int workers = 0;	// --workers, or 0 if not given
};

// Parse argv[first..]: --quick, --runs N, --workers W.
inline options parse(int argc, char **argv, int first)
{
	options o;

	for (int i = first; i < argc; i++) {
		std::string a = argv[i];
		char *end = nullptr;

		if (a == "--quick") {
			o.quick = true;
		} else if ((a == "--runs" || a == "--workers") &&
			   i + 1 < argc) {
			long v = std::strtol(argv[++i], &end, 10);

			if (*end || v < 0 || v > runs_max)
				usage();
			(a == "--runs" ? o.runs : o.workers) =
				static_cast<int>(v);
		} else {
			usage();
		}
	}
	if (o.runs == 0)
		o.runs = o.quick ? runs_quick : runs_default;
	if (o.runs < runs_min)
		usage();
	return o;
}

// What every JSON object carries: the program (print_machine), its
// options and the unit of its rows (print_header).
struct json_state {
	std::string prog = "boost-peer";
	std::string unit = "ns per op";
	options opts;
	int fd = -2;		// WEFT_BENCH_JSON, -1 if none, -2 unopened
};

inline json_state &json_out()
{
	static json_state s;
	return s;
}

// @s as a JSON string, quotes included.
inline std::string json_str(const std::string &s)
{
	std::string q = "\"";

	for (unsigned char c : s) {
		if (c == '"' || c == '\\') {
			q += '\\';
			q += static_cast<char>(c);
		} else if (c < 0x20) {
			char esc[8];

			std::snprintf(esc, sizeof(esc), "\\u%04x", c);
			q += esc;
		} else {
			q += static_cast<char>(c);
		}
	}
	return q + "\"";
}

// Append {"kind": @kind, "prog": .., @rest} to WEFT_BENCH_JSON, if set;
// @rest is the other members, each with its leading ", ".
inline void json_write(const std::string &kind, const std::string &rest)
{
	json_state &j = json_out();

	if (j.fd == -2) {
		const char *path = std::getenv("WEFT_BENCH_JSON");

		j.fd = -1;
		if (path && *path) {
			j.fd = open(path, O_WRONLY | O_APPEND | O_CREAT |
				    O_CLOEXEC, 0644);
			if (j.fd < 0)
				fail(std::string("WEFT_BENCH_JSON=") + path +
				     ": " + std::strerror(errno));
		}
	}
	if (j.fd < 0)
		return;
	std::string line = "{\"kind\": " + json_str(kind) + ", \"prog\": " +
			   json_str(j.prog) + rest + "}\n";
	if (write(j.fd, line.data(), line.size()) !=
	    static_cast<ssize_t>(line.size()))
		fail(std::string("WEFT_BENCH_JSON: write: ") +
		     std::strerror(errno));
}

inline std::string json_num(double v)
{
	char b[32];

	std::snprintf(b, sizeof(b), "%.10g", v);
	return b;
}

// A comment: "# " and the text (which ends with a newline) on stdout, and
// a note object per line.
__attribute__((format(printf, 1, 2)))
inline void note(const char *fmt, ...)
{
	char text[4096];
	va_list ap;

	va_start(ap, fmt);
	int k = std::vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (k < 0 || static_cast<std::size_t>(k) >= sizeof(text))
		fail("a comment longer than " + std::to_string(sizeof(text)) +
		     " bytes");
	std::printf("# %s", text);
	std::istringstream lines(text);
	for (std::string line; std::getline(lines, line);)
		json_write("note", ", \"text\": " + json_str(line));
}

// Per-operation figures of one row, one entry per run.
class row {
public:
	row(std::string name, std::uint64_t iters)
		: name_(std::move(name)), iters_(iters)
	{
	}

	const std::string &name() const { return name_; }
	std::uint64_t iters() const { return iters_; }
	bool empty() const { return vals_.empty(); }

	// One run that did iters() operations in @ns.
	void add_elapsed(std::uint64_t ns)
	{
		double v = static_cast<double>(ns) /
			   static_cast<double>(iters_);

		vals_.push_back(v);
		order_.push_back(v);
	}

	double median()
	{
		std::size_t n = vals_.size();

		std::sort(vals_.begin(), vals_.end());
		if (n % 2)
			return vals_[n / 2];
		return (vals_[n / 2 - 1] + vals_[n / 2]) / 2;
	}

	// Print the row; @ref <= 0 prints "-" as the ratio.
	void print(double ref)
	{
		double med = median();

		write_json(med, ref);
		std::printf("  %-22s %10llu %10.1f %10.1f %10.1f ",
			    name_.c_str(),
			    static_cast<unsigned long long>(iters_), med,
			    vals_.front(), vals_.back());
		if (ref > 0)
			std::printf("%8.2f\n", med / ref);
		else
			std::printf("%8s\n", "-");
	}

private:
	// The row object: runs in run order, median, min, max, ratio.
	void write_json(double med, double ref) const
	{
		const json_state &j = json_out();
		std::string samples, sep;

		for (double v : order_) {
			samples += sep + json_num(v);
			sep = ", ";
		}
		json_write("row", ", \"name\": " + json_str(name_) +
			   ", \"params\": {\"runs\": " +
			   std::to_string(j.opts.runs) + ", \"quick\": " +
			   (j.opts.quick ? "true" : "false") +
			   ", \"workers\": " + std::to_string(j.opts.workers) +
			   "}, \"unit\": " + json_str(j.unit) +
			   ", \"iters\": " + std::to_string(iters_) +
			   ", \"samples\": [" + samples + "], \"median\": " +
			   json_num(med) + ", \"min\": " +
			   json_num(vals_.front()) + ", \"max\": " +
			   json_num(vals_.back()) + ", \"ratio\": " +
			   (ref > 0 ? json_num(med / ref) : "null"));
	}

	std::string name_;
	std::uint64_t iters_;
	std::vector<double> vals_;	// sorted by median()
	std::vector<double> order_;	// the same in run order
};

inline void print_header(const options &o, const std::string &unit,
			 const std::string &ratio_of)
{
	json_out().unit = unit;
	json_out().opts = o;
	note("runs=%d%s; figures are %s over the runs; "
	     "ratio = median / median(%s)\n",
	     o.runs, o.quick ? " quick" : "", unit.c_str(), ratio_of.c_str());
	note("%-22s %10s %10s %10s %10s %8s\n", "name", "iters", "median",
	     "min", "max", "ratio");
}

// The first line: CPU model, online CPUs, kernel, Boost.
inline void print_machine(const char *prog, const char *boost_version)
{
	std::ifstream cpuinfo("/proc/cpuinfo");
	std::string line, model = "unknown";
	struct utsname u;

	while (std::getline(cpuinfo, line)) {
		std::size_t colon = line.find(':');

		if (line.compare(0, 10, "model name") != 0 ||
		    colon == std::string::npos)
			continue;
		std::size_t start = line.find_first_not_of(" \t", colon + 1);

		if (start != std::string::npos)
			model = line.substr(start);
		break;
	}
	if (uname(&u) != 0)
		std::memset(&u, 0, sizeof(u));
	json_out().prog = prog;
	note("%s: cpu=\"%s\" online_cpus=%ld kernel=\"%s %s %s\" boost=%s\n",
	     prog, model.c_str(), sysconf(_SC_NPROCESSORS_ONLN), u.sysname,
	     u.release, u.machine, boost_version);
	std::fflush(stdout);
}

// CPU pinning, as bench_common.h does it for the single-thread C rows.
class cpus {
public:
	cpus()
	{
		if (sched_getaffinity(0, sizeof(set_), &set_) != 0)
			fail("sched_getaffinity: " +
			     std::string(std::strerror(errno)));
	}

	int count() const { return CPU_COUNT(&set_); }

	// The highest-numbered allowed CPU (bench_cpu_pick(-1)).
	int last() const
	{
		for (int cpu = CPU_SETSIZE - 1; cpu >= 0; cpu--)
			if (CPU_ISSET(cpu, &set_))
				return cpu;
		fail("no allowed CPU");
	}

	// Run the calling thread on @cpu only.
	static void pin(int cpu)
	{
		cpu_set_t one;

		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		set_thread(one);
	}

	// Let the calling thread run on every CPU allowed at start-up.
	void unpin() const { set_thread(set_); }

private:
	static void set_thread(const cpu_set_t &s)
	{
		int err = pthread_setaffinity_np(pthread_self(), sizeof(s), &s);

		if (err)
			fail("pthread_setaffinity_np: " +
			     std::string(std::strerror(err)));
	}

	cpu_set_t set_;
};

// Pins the calling thread for the lifetime of the object.
class pinned {
public:
	pinned(const cpus &c, int cpu) : cpus_(c) { cpus::pin(cpu); }
	~pinned() { cpus_.unpin(); }
	pinned(const pinned &) = delete;
	pinned &operator=(const pinned &) = delete;

private:
	const cpus &cpus_;
};

} // namespace peer

#endif // WEFT_PEER_BOOST_REPORT_HPP
