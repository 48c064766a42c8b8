// SPDX-License-Identifier: MIT

// Command go-peer is Go's side of weft's benchmark report: the same
// measurements as bench/bench_switch.c, bench/bench_spawn.c and
// bench/bench_fine.c (and the fib and memory figures of the report),
// written the way a Go programmer writes them, with the standard library
// only.
//
//	go-peer switch      [--quick] [--runs N] [--workers W]
//	go-peer spawn       [--quick] [--runs N] [--workers W]
//	go-peer memory [N]  [--quick] [--runs N] [--workers W]
//	go-peer fib         [--quick] [--runs N] [--workers W]
//	go-peer fine        [--quick] [--runs N] [--workers W]
//	go-peer echo-server [--port P] [--workers N]
//	go-peer http-server [--port P] [--workers N] [--root DIR]
//
// The subcommand may also come after some of the flags (see splitCommand).
// The output follows bench/bench_common.h, as text for people and, in
// the file WEFT_BENCH_JSON names, as the same JSON lines (json.go), which
// the report reads: lines starting with '#' are comments, every other
// line is a row
//
//	name  iterations  median  min  max  ratio
//
// where the figures are per operation over the runs (ns, unless a
// comment says otherwise) and ratio is median / median of the
// subcommand's reference row. As in the C programs, each run measures
// every row once, so that a noisy moment spreads over all the rows, and
// every row checks its own work; a wrong result exits 1.
//
// GOMAXPROCS is set per row (runtime.GOMAXPROCS), so the environment
// variable does not matter. Go offers no way to pin a goroutine to a CPU,
// so unlike the C rows nothing here is pinned.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	runsMin     = 5 // fewest runs a figure may be the median of
	runsDefault = 7
	runsQuick   = runsMin
	runsMax     = 1000
)

// opts holds the command line shared by the measuring subcommands.
type opts struct {
	runs    int  // measured runs per row
	quick   bool // far fewer iterations, for CI
	workers int  // --workers, or 0 if not given
	args    []string
}

// row is one result row: the per-operation figure of each run.
type row struct {
	name  string
	iters uint64
	vals  []float64 // sorted by stats
	order []float64 // the same in run order
}

func newRow(name string, iters uint64) *row {
	return &row{name: name, iters: iters}
}

// addElapsed records one run that did r.iters operations in d.
func (r *row) addElapsed(d time.Duration) {
	r.addValue(float64(d.Nanoseconds()) / float64(r.iters))
}

// addValue records a figure that is already per operation.
func (r *row) addValue(v float64) {
	r.vals = append(r.vals, v)
	r.order = append(r.order, v)
}

// stats sorts the runs and returns their median, min and max.
func (r *row) stats() (med, min, max float64) {
	sort.Float64s(r.vals)
	n := len(r.vals)
	if n == 0 {
		return 0, 0, 0
	}
	med = r.vals[n/2]
	if n%2 == 0 {
		med = (r.vals[n/2-1] + r.vals[n/2]) / 2
	}
	return med, r.vals[0], r.vals[n-1]
}

func (r *row) median() float64 {
	med, _, _ := r.stats()
	return med
}

// print writes the row; ref <= 0 prints "-" as the ratio.
func (r *row) print(ref float64) {
	med, min, max := r.stats()
	jsonRow(r, med, min, max, ref)
	fmt.Printf("  %-22s %10d %10.1f %10.1f %10.1f ", r.name, r.iters,
		med, min, max)
	if ref > 0 {
		fmt.Printf("%8.2f\n", med/ref)
	} else {
		fmt.Printf("%8s\n", "-")
	}
}

// printHeader writes the two comment lines above the rows; unit says
// what the figures are ("ns per op" in the C programs).
func printHeader(o *opts, unit, ratioOf string) {
	jsonOut.unit, jsonOut.o = unit, o
	quick := ""
	if o.quick {
		quick = " quick"
	}
	note("runs=%d%s; figures are %s over the runs; "+
		"ratio = median / median(%s)\n", o.runs, quick, unit, ratioOf)
	note("%-22s %10s %10s %10s %10s %8s\n",
		"name", "iters", "median", "min", "max", "ratio")
}

// printMachine writes the first line: CPU model, CPUs, kernel, Go.
func printMachine(prog string) {
	model := "unknown"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.HasPrefix(k, "model name") {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	var u syscall.Utsname
	kernel := ""
	if syscall.Uname(&u) == nil {
		kernel = fmt.Sprintf("%s %s %s", utsString(u.Sysname[:]),
			utsString(u.Release[:]), utsString(u.Machine[:]))
	}
	jsonOut.prog = prog
	note("%s: cpu=\"%s\" online_cpus=%d kernel=\"%s\" go=%s\n",
		prog, model, onlineCPUs(), kernel, runtime.Version())
}

func utsString(b []int8) string {
	var sb strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		sb.WriteByte(byte(c))
	}
	return sb.String()
}

// onlineCPUs counts the CPUs in /sys/devices/system/cpu/online ("0-1,3"),
// which is what sysconf(_SC_NPROCESSORS_ONLN) reports to the C programs.
func onlineCPUs() int {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return runtime.NumCPU()
	}
	n := 0
	for _, part := range strings.Split(strings.TrimSpace(string(b)), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		z := a
		var err2 error
		if isRange {
			z, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil {
			return runtime.NumCPU()
		}
		n += z - a + 1
	}
	return n
}

// fail reports a benchmark that found its own work wrong and exits 1.
func fail(format string, a ...any) {
	os.Stdout.Sync()
	fmt.Fprintf(os.Stderr, "go-peer: FAILED: "+format+"\n", a...)
	os.Exit(1)
}

func usage() {
	fmt.Fprintf(os.Stderr, `usage: go-peer switch|spawn|fib|fine [--quick] [--runs N] [--workers W]
       go-peer memory [N] [--quick] [--runs N] [--workers W]
       go-peer echo-server [--port P] [--workers N]
       go-peer http-server [--port P] [--workers N] [--root DIR]
  N >= %d runs; default %d, or %d with --quick
`, runsMin, runsDefault, runsQuick)
	os.Exit(2)
}

// parseOpts reads the flags of a measuring subcommand; positional
// arguments (memory's N) may come before or after them.
func parseOpts(name string, args []string) *opts {
	o := &opts{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.Usage = usage
	fs.IntVar(&o.runs, "runs", 0, "measured runs per row")
	fs.BoolVar(&o.quick, "quick", false, "far fewer iterations")
	fs.IntVar(&o.workers, "workers", 0, "GOMAXPROCS where it applies")
	for {
		if err := fs.Parse(args); err != nil {
			usage()
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		o.args = append(o.args, args[0])
		args = args[1:]
	}
	if o.runs == 0 {
		o.runs = runsDefault
		if o.quick {
			o.runs = runsQuick
		}
	}
	if o.runs < runsMin || o.runs > runsMax || o.workers < 0 {
		usage()
	}
	return o
}

// The subcommands, for splitCommand.
var commands = []string{"switch", "spawn", "memory", memoryChildCmd, "fib",
	"fine", fineChildCmd, "echo-server", "http-server"}

// splitCommand returns the subcommand and the other arguments. The
// subcommand is the first argument, or failing that the first argument
// that names one, so that tools/bench-echo.sh, which puts "--port 0"
// first, can run "go-peer --port 0 echo-server --workers N".
func splitCommand(args []string) (string, []string) {
	for i, a := range args {
		for _, c := range commands {
			if a == c {
				rest := append([]string{}, args[:i]...)
				return c, append(rest, args[i+1:]...)
			}
		}
	}
	return args[0], args[1:]
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := splitCommand(os.Args[1:])
	switch cmd {
	case "switch":
		benchSwitch(parseOpts(cmd, args))
	case "spawn":
		benchSpawn(parseOpts(cmd, args))
	case "memory":
		benchMemory(parseOpts(cmd, args))
	case memoryChildCmd:
		memoryChild(args)
	case "fib":
		benchFib(parseOpts(cmd, args))
	case "fine":
		benchFine(parseOpts(cmd, args))
	case fineChildCmd:
		fineChild(args)
	case "echo-server":
		echoServer(args)
	case "http-server":
		httpServer(args)
	case "-h", "--help", "help":
		usage()
	default:
		usage()
	}
}
