// SPDX-License-Identifier: MIT
// go-peer fine: fine-grained tasks, the Go side of bench/bench_fine.c, in
// the same shapes. No cutoffs: every task is a goroutine.
//
//	go.fine.fib<F>.nocutoff.1worker  fib(F) with a goroutine per call:
//	                           every call with n >= 2 makes a channel of
//	                           capacity 1, starts a goroutine that sends
//	                           fib(n-1) on it, computes fib(n-2) itself,
//	                           then receives and adds (the channel is the
//	                           join: weft_join's counterpart, one per
//	                           call); GOMAXPROCS=1; ns per fib(F)
//	go.fine.fib<F>.nocutoff.<N>workers  the same on GOMAXPROCS=N
//	go.fine.skynet<L>.1worker  skynet: a node starts 10 goroutines, each
//	                           over a tenth of its leaves, with one
//	                           sync.WaitGroup for the ten; each stores its
//	                           result in its slot of the node's [10]int
//	                           and calls Done; the node Waits and returns
//	                           the sum (weft_join_all's counterpart: wait
//	                           for all ten, results in order); a leaf
//	                           returns its index. The classic skynet
//	                           sends on one channel per node instead,
//	                           which a trial here found no faster.
//	                           GOMAXPROCS=1; ns per whole skynet
//	go.fine.skynet<L>.<N>workers  the same on GOMAXPROCS=N
//	go.fine.spawnloop<L>.<N>workers  L times wg.Add(1) and
//	                           go func() { wg.Done() }(), then wg.Wait();
//	                           ns per task
//	go.fine.alive<L>.<N>workers  L goroutines alive at once: each calls
//	                           ready.Done() and blocks receiving from one
//	                           unbuffered channel; once ready.Wait()
//	                           returns the spawner closes the channel,
//	                           each goroutine sees it closed, calls
//	                           done.Done() and ends; the spawner
//	                           done.Wait()s. From the first go statement
//	                           to the end of the wait; ns per task. Each
//	                           run in a fresh process, as weft's alive
//	                           rows: a second pass in the same process
//	                           would reuse the first one's goroutines and
//	                           stacks
//
// <F> is 30 (25 under --quick) and <L> 1m (10k under --quick, when skynet
// has 4 levels), as bench_fine names them. N is --workers, by default
// every CPU. Each measurement is preceded by an unmeasured pass:
// fib(F-5), skynet over L/100 leaves, or L/100 tasks. Every result is
// checked (fib's value, skynet's sum, every goroutine seeing the channel
// closed); a wrong one exits 1. The ratio column is relative to the
// 1worker row of the same workload (for spawnloop and alive: "-").
package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	fineFibN       = 30
	fineFibNQuick  = 25
	fineFibWarm    = 5 // the warm-up computes fib(n - fineFibWarm)
	skyLevels      = 6
	skyLevelsQuick = 4
	fineTasks      = 1000000
	fineTasksQuick = 10000
	// The hidden subcommand an alive row's child process runs.
	fineChildCmd = "fine-child"
)

// fibChan is fib(n) with a goroutine for fib(n-1) in every call with
// n >= 2, joined through a channel of capacity 1.
func fibChan(n int) int {
	if n < 2 {
		return n
	}
	ch := make(chan int, 1)
	go func() { ch <- fibChan(n - 1) }()
	b := fibChan(n - 2)
	return <-ch + b
}

// fibValue is fib(n) by iteration, to check the others against.
func fibValue(n int) int {
	a, b := 0, 1
	for ; n > 0; n-- {
		a, b = b, a+b
	}
	return a
}

// skynet returns the sum of the leaf indexes num .. num+size-1 below a
// node of size leaves.
func skynet(num, size int) int {
	if size == 1 {
		return num
	}
	var wg sync.WaitGroup
	var res [10]int
	s := size / 10
	wg.Add(10)
	for i := 0; i < 10; i++ {
		go func(i int) {
			res[i] = skynet(num+i*s, s)
			wg.Done()
		}(i)
	}
	wg.Wait()
	sum := 0
	for _, v := range res {
		sum += v
	}
	return sum
}

func pow10(k int) int {
	n := 1
	for ; k > 0; k-- {
		n *= 10
	}
	return n
}

// spawnLoop is Go's spawn loop of n tasks.
func spawnLoop(n int) time.Duration {
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { wg.Done() }()
	}
	wg.Wait()
	return time.Since(t0)
}

// alivePass has n goroutines alive at once, then releases them.
func alivePass(n int) time.Duration {
	var ready, done sync.WaitGroup
	var bad atomic.Int64
	gate := make(chan struct{})
	t0 := time.Now()
	ready.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			ready.Done()
			if _, ok := <-gate; ok {
				bad.Add(1)
			}
			done.Done()
		}()
	}
	ready.Wait()
	close(gate)
	done.Wait()
	d := time.Since(t0)
	if b := bad.Load(); b != 0 {
		fail("go.fine.alive: %d goroutines received a value", b)
	}
	return d
}

// fineChild runs one alive measurement: "fine-child TASKS WORKERS".
func fineChild(args []string) {
	if len(args) != 2 {
		usage()
	}
	n, err1 := strconv.Atoi(args[0])
	w, err2 := strconv.Atoi(args[1])
	if err1 != nil || err2 != nil || n <= 0 || w <= 0 {
		usage()
	}
	runtime.GOMAXPROCS(w)
	alivePass(n / 100)
	fmt.Println(alivePass(n).Nanoseconds())
}

// aliveRun runs one alive measurement in a fresh process.
func aliveRun(self, name string, n, w int) time.Duration {
	cmd := exec.Command(self, fineChildCmd, strconv.Itoa(n), strconv.Itoa(w))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		fail("%s: child: %v", name, err)
	}
	var ns int64
	if _, err := fmt.Sscan(string(out), &ns); err != nil || ns <= 0 {
		fail("%s: child said %q", name, out)
	}
	return time.Duration(ns)
}

// withProcs runs f on GOMAXPROCS=w.
func withProcs(w int, f func() time.Duration) time.Duration {
	prev := runtime.GOMAXPROCS(w)
	defer runtime.GOMAXPROCS(prev)
	return f()
}

func benchFine(o *opts) {
	fibN, lvl, tasks, tname := fineFibN, skyLevels, fineTasks, "1m"
	if o.quick {
		fibN, lvl, tasks, tname = fineFibNQuick, skyLevelsQuick,
			fineTasksQuick, "10k"
	}
	wide := o.workers
	if wide == 0 {
		wide = runtime.NumCPU()
	}
	self, err := os.Executable()
	if err != nil {
		fail("go.fine: %v", err)
	}
	fibWant := fibValue(fibN)
	leaves := pow10(lvl)
	skyWant := leaves * (leaves - 1) / 2

	fib := func(name string) func() time.Duration {
		return func() time.Duration {
			if v := fibChan(fibN - fineFibWarm); v != fibValue(fibN-fineFibWarm) {
				fail("%s: warm-up fib is %d", name, v)
			}
			t0 := time.Now()
			v := fibChan(fibN)
			d := time.Since(t0)
			if v != fibWant {
				fail("%s: fib(%d) = %d, want %d", name, fibN, v, fibWant)
			}
			return d
		}
	}
	sky := func(name string) func() time.Duration {
		return func() time.Duration {
			if v, w := skynet(0, leaves/100), leaves/100*(leaves/100-1)/2; v != w {
				fail("%s: warm-up sum %d, want %d", name, v, w)
			}
			t0 := time.Now()
			v := skynet(0, leaves)
			d := time.Since(t0)
			if v != skyWant {
				fail("%s: sum %d, want %d", name, v, skyWant)
			}
			return d
		}
	}
	loop := func() time.Duration {
		spawnLoop(tasks / 100)
		return spawnLoop(tasks)
	}
	type fineRow struct {
		*row
		workers int
		f       func() time.Duration
	}
	var rows []fineRow
	add := func(name string, iters, w int, f func(string) func() time.Duration) {
		rows = append(rows, fineRow{newRow(name, uint64(iters)), w, f(name)})
	}
	wname := fmt.Sprintf("%dworkers", wide)
	add(fmt.Sprintf("go.fine.fib%d.nocutoff.1worker", fibN), 1, 1, fib)
	if wide > 1 {
		add(fmt.Sprintf("go.fine.fib%d.nocutoff.%s", fibN, wname), 1, wide, fib)
	}
	add(fmt.Sprintf("go.fine.skynet%s.1worker", tname), 1, 1, sky)
	if wide > 1 {
		add(fmt.Sprintf("go.fine.skynet%s.%s", tname, wname), 1, wide, sky)
	}
	add(fmt.Sprintf("go.fine.spawnloop%s.%s", tname, wname), tasks, wide,
		func(string) func() time.Duration { return loop })
	aliveName := fmt.Sprintf("go.fine.alive%s.%s", tname, wname)
	add(aliveName, tasks, wide, func(string) func() time.Duration {
		return func() time.Duration { return aliveRun(self, aliveName, tasks, wide) }
	})

	printMachine("go-peer fine")
	for r := 0; r < o.runs; r++ {
		for _, fr := range rows {
			fr.addElapsed(withProcs(fr.workers, fr.f))
			// Start each row with the garbage of the last collected.
			runtime.GC()
		}
	}
	note("nothing pinned; the %s rows on GOMAXPROCS=%d; fib and "+
		"skynet rows: ns per whole fib(%d) or skynet (iters = passes "+
		"per run); spawnloop and alive rows: ns per task (iters = "+
		"tasks)\n", wname, wide, fibN)
	note("fib: joined through a channel of capacity 1 per call; "+
		"skynet (%d leaves, sum %d checked): one WaitGroup per node "+
		"and a result slot per child; alive: each run in a fresh "+
		"process\n", leaves, skyWant)
	printHeader(o, "ns per op", "the 1worker row of the same workload")
	for i, fr := range rows {
		ref := -1.0
		if i > 0 && fr.workers > 1 && rows[i-1].workers == 1 {
			ref = rows[i-1].median()
		} else if fr.workers == 1 && fr.iters == 1 {
			ref = fr.median()
		}
		fr.print(ref)
	}
	if wide > 1 {
		note("speed-up fib: %.2f, skynet: %.2f (1 -> %d)\n",
			rows[0].median()/rows[1].median(),
			rows[2].median()/rows[3].median(), wide)
	}
}
