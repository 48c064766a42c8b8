// SPDX-License-Identifier: MIT

// go-peer memory: what a parked goroutine costs in resident memory, the
// Go side of the report's memory figure for parked weft fibers.
//
//	go.memory.parked  N goroutines (default 1,000,000; --quick 100,000)
//	                  each blocked receiving from one shared channel,
//	                  which is closed to release them all;
//	                  bytes per goroutine, not ns: the growth of the
//	                  process's resident set (Rss of
//	                  /proc/self/smaps_rollup, as bench_memory.c reads
//	                  it) from before the goroutines were started to
//	                  when all of them are parked, each figure read
//	                  after runtime.GC()
//
// Each run is a fresh process (this binary again, with a hidden
// subcommand), one measurement each: Go never gives a dead goroutine's
// descriptor back and keeps its 2 KiB stack for the next goroutine, so a
// second set of goroutines in the same process would cost almost no new
// memory and the figure would be a lie. The child also reports how
// runtime.MemStats's StackInuse and HeapInuse grew (HeapInuse holds the
// goroutine descriptors and the channel's waiting-list entries), printed
// as a '#' line of per-goroutine medians. The child checks that every
// goroutine was still parked when measured (none can leave before the
// close) and then woke to the close; otherwise it exits 1.
package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	parkedDefault = 1000000
	parkedQuick   = 100000
	// The hidden subcommand one run's child process runs.
	memoryChildCmd = "memory-child"
)

// rssBytes returns the resident set: Rss from /proc/self/smaps_rollup,
// which walks the page tables and so is exact (bench_memory.c reads the
// same), or VmRSS from /proc/self/status, which the kernel keeps in
// per-CPU counters and may be a little off, on kernels without it.
func rssBytes() int64 {
	if v, ok := procKB("/proc/self/smaps_rollup", "Rss"); ok {
		return v
	}
	if v, ok := procKB("/proc/self/status", "VmRSS"); ok {
		return v
	}
	fail("go.memory.parked: no Rss in /proc/self/smaps_rollup or " +
		"/proc/self/status")
	return 0
}

// procKB finds the line "key: N kB" in file and returns N * 1024.
func procKB(file, key string) (int64, bool) {
	f, err := os.Open(file)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != key {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(
			strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			fail("go.memory.parked: %s in %s: %q: %v", key, file,
				v, err)
		}
		return kb * 1024, true
	}
	return 0, false
}

// memSample is the memory the process holds at one moment.
type memSample struct {
	rss, stack, heap int64
}

// sample collects garbage, then reads the resident set and MemStats.
func sample() memSample {
	var ms runtime.MemStats

	runtime.GC()
	runtime.ReadMemStats(&ms)
	return memSample{rss: rssBytes(), stack: int64(ms.StackInuse),
		heap: int64(ms.HeapInuse)}
}

// memoryChild runs one measurement of n parked goroutines and prints one
// line: "n rss_delta stack_delta heap_delta" in bytes.
func memoryChild(args []string) {
	if len(args) != 2 {
		usage()
	}
	n, err1 := strconv.Atoi(args[0])
	workers, err2 := strconv.Atoi(args[1])
	if err1 != nil || err2 != nil || n <= 0 || workers <= 0 {
		usage()
	}
	runtime.GOMAXPROCS(workers)
	release := make(chan struct{})
	woke := make([]bool, n)
	var started, exited sync.WaitGroup

	// Give back what start-up left over, so that before is a floor.
	debug.FreeOSMemory()
	before := sample()
	started.Add(n)
	exited.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			started.Done()
			_, ok := <-release
			woke[i] = !ok
			exited.Done()
		}(i)
	}
	started.Wait()
	// Every goroutine is past Done; give the last ones time to reach
	// the receive and park there.
	time.Sleep(20 * time.Millisecond)
	if p := runtime.NumGoroutine(); p < n+1 {
		fail("go.memory.parked: %d goroutines, want %d", p, n+1)
	}
	after := sample()
	close(release)
	exited.Wait()
	for i, ok := range woke {
		if !ok {
			fail("go.memory.parked: goroutine %d did not see the "+
				"channel closed", i)
		}
	}
	fmt.Printf("%d %d %d %d\n", n, after.rss-before.rss,
		after.stack-before.stack, after.heap-before.heap)
}

// memoryRun starts one child and returns its deltas per goroutine.
func memoryRun(self string, n, workers int) (rss, stack, heap float64) {
	cmd := exec.Command(self, memoryChildCmd, strconv.Itoa(n),
		strconv.Itoa(workers))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		fail("go.memory.parked: child: %v", err)
	}
	var m, dr, ds, dh int64
	if _, err := fmt.Sscan(string(out), &m, &dr, &ds, &dh); err != nil ||
		m != int64(n) {
		fail("go.memory.parked: child said %q", out)
	}
	f := float64(n)
	return float64(dr) / f, float64(ds) / f, float64(dh) / f
}

func benchMemory(o *opts) {
	n := parkedDefault
	if o.quick {
		n = parkedQuick
	}
	if len(o.args) > 1 {
		usage()
	}
	if len(o.args) == 1 {
		v, err := strconv.Atoi(o.args[0])
		if err != nil || v <= 0 {
			usage()
		}
		n = v
	}
	workers := o.workers
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	self, err := os.Executable()
	if err != nil {
		fail("go.memory.parked: %v", err)
	}
	rss := newRow("go.memory.parked", uint64(n))
	stack := newRow("stack", uint64(n))
	heap := newRow("heap", uint64(n))

	printMachine("go-peer memory")
	for r := 0; r < o.runs; r++ {
		dr, ds, dh := memoryRun(self, n, workers)
		rss.addValue(dr)
		stack.addValue(ds)
		heap.addValue(dh)
	}
	note("go.memory.parked: bytes per goroutine (not ns): Rss "+
		"growth after runtime.GC(), one fresh process per run, "+
		"GOMAXPROCS %d\n", workers)
	note("go.memory.parked: runtime.MemStats per goroutine, "+
		"median: StackInuse %.1f B, HeapInuse %.1f B\n",
		stack.median(), heap.median())
	printHeader(o, "bytes per goroutine", rss.name)
	rss.print(rss.median())
}
