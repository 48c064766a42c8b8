// SPDX-License-Identifier: MIT

// go-peer fib: recursive Fibonacci with a goroutine per call above a
// cutoff, the Go side of bench_steal's fib rows (fork-join parallelism on
// the scheduler, with sequential leaves).
//
//	go.fib30.cutoff12.<W>workers  fib(30) on GOMAXPROCS=W, for W = 1 and
//	                             2 (--workers W replaces the 2): each call
//	                             with n > 12 computes fib(n-1) in a new
//	                             goroutine that sends it on a channel,
//	                             fib(n-2) itself, then receives; n <= 12
//	                             is computed serially, the same cutoff
//	                             weft's steal.fib30.cutoff12 rows use
//
// fib without a cutoff, a goroutine per call all the way down, is
// go-peer fine's (fine.go). Figures are ns per whole fib(30) run, not per
// call; a row does several fib(30) runs per measurement (its iterations
// column). --quick computes fib(25) instead and names the rows fib25.
// Each measurement is preceded by one unmeasured run, and every run
// checks its result (832040, or 75025 for fib(25)); a wrong one exits 1.
// The ratio column is relative to the 1-worker row.
package main

import (
	"fmt"
	"runtime"
	"time"
)

const (
	fibCutoff    = 12 // compute serially at n <= fibCutoff
	fibN         = 30
	fibNQuick    = 25
	fibReps      = 20 // fib runs per measurement of a cutoff row
	fibRepsQuick = 20
	fib30        = 832040
	fib25        = 75025
)

func fibSerial(n int) int {
	if n < 2 {
		return n
	}
	return fibSerial(n-1) + fibSerial(n-2)
}

// fibPar spawns a goroutine for fib(n-1) in every call with n > cutoff.
func fibPar(n, cutoff int) int {
	if n <= cutoff {
		return fibSerial(n)
	}
	ch := make(chan int, 1)
	go func() { ch <- fibPar(n-1, cutoff) }()
	b := fibPar(n-2, cutoff)
	return <-ch + b
}

func fibCut(n int) int { return fibPar(n, fibCutoff) }

// measureFib runs f(n) once to warm up, then reps times, on GOMAXPROCS=w.
func measureFib(name string, f func(int) int, n, want, reps, w int) time.Duration {
	prev := runtime.GOMAXPROCS(w)
	defer runtime.GOMAXPROCS(prev)
	if v := f(n); v != want {
		fail("%s: fib(%d) = %d, want %d", name, n, v, want)
	}
	t0 := time.Now()
	for i := 0; i < reps; i++ {
		if v := f(n); v != want {
			fail("%s: fib(%d) = %d, want %d", name, n, v, want)
		}
	}
	return time.Since(t0)
}

func benchFib(o *opts) {
	n, want, reps := fibN, fib30, fibReps
	if o.quick {
		n, want, reps = fibNQuick, fib25, fibRepsQuick
	}
	wide := 2
	if o.workers > 0 {
		wide = o.workers
	}
	type fibRow struct {
		*row
		f       func(int) int
		workers int
	}
	rows := []fibRow{
		{newRow(fmt.Sprintf("go.fib%d.cutoff%d.1workers", n, fibCutoff),
			uint64(reps)), fibCut, 1},
		{newRow(fmt.Sprintf("go.fib%d.cutoff%d.%dworkers", n, fibCutoff,
			wide), uint64(reps)), fibCut, wide},
	}
	if wide == 1 {
		rows = rows[:1]
	}

	printMachine("go-peer fib")
	for r := 0; r < o.runs; r++ {
		for _, fr := range rows {
			fr.addElapsed(measureFib(fr.name, fr.f, n, want,
				int(fr.iters), fr.workers))
		}
		runtime.GC()
	}
	note("fib rows: ns per whole fib(%d) run (not per call); "+
		"cutoff: serial at n <= %d; nothing pinned\n", n, fibCutoff)
	printHeader(o, fmt.Sprintf("ns per fib(%d)", n), rows[0].name)
	ref := rows[0].median()
	for _, fr := range rows {
		fr.print(ref)
	}
}
