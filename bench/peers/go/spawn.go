// SPDX-License-Identifier: MIT

// go-peer spawn: what it costs to start a goroutine and wait for it, the
// Go side of bench/bench_spawn.c. Go has no join: a goroutine reports
// back through a sync.WaitGroup, which is what Go code waits with.
//
//	go.spawn.join     `go f()` of one goroutine, then wg.Wait() for its
//	                  wg.Done(), repeated; ns per spawn+wait, as
//	                  spawn.join.* count one weft_spawn + weft_join
//	go.spawn.million  a million goroutines started (wg.Add(1) and `go`
//	                  each), then one wg.Wait() for them all; ns per
//	                  goroutine. Goroutines run and exit while the rest
//	                  are being started: this is the spawn loop, not the
//	                  shape of weft's spawn.million rows, which keep every
//	                  fiber alive until its join. go-peer fine measures
//	                  both shapes beside bench_fine (spawnloop, alive).
//
// Both run with GOMAXPROCS = --workers, by default every CPU (Go's own
// default, like weft's allworkers rows). Without --workers on a machine
// with more than one CPU, the same two rows also run on GOMAXPROCS=1 as
// go.spawn.join.1worker and go.spawn.million.1worker, beside weft's
// 1worker rows. Each goroutine stores its argument plus one, and the
// spawner checks every result after the wait (the WaitGroup orders the
// store before the check); a wrong one exits 1. Warm-up passes are a
// tenth of a row's size, a hundredth for the million rows, as in
// bench_spawn.c. The ratio column is relative to go.spawn.join.
package main

import (
	"runtime"
	"sync"
	"time"
)

const (
	spawnJoins      = 1000000
	spawnJoinsQuick = 20000
	million         = 1000000
	millionQuick    = 100000
)

// joinPass spawns and waits for n goroutines one at a time.
func joinPass(name string, n int) time.Duration {
	var wg sync.WaitGroup
	var out int

	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(v int) {
			out = v + 1
			wg.Done()
		}(i)
		wg.Wait()
		if out != i+1 {
			fail("%s: goroutine %d stored %d", name, i, out)
		}
	}
	return time.Since(t0)
}

// millionPass starts len(out) goroutines, then waits for all of them.
func millionPass(name string, out []int) time.Duration {
	var wg sync.WaitGroup

	t0 := time.Now()
	for i := range out {
		wg.Add(1)
		go func(v int) {
			out[v] = v + 1
			wg.Done()
		}(i)
	}
	wg.Wait()
	d := time.Since(t0)
	for i, v := range out {
		if v != i+1 {
			fail("%s: goroutine %d stored %d", name, i, v)
		}
		out[i] = 0
	}
	return d
}

func measureJoin(name string, n, workers int) time.Duration {
	prev := runtime.GOMAXPROCS(workers)
	defer runtime.GOMAXPROCS(prev)
	joinPass(name, n/10)
	return joinPass(name, n)
}

func measureMillion(name string, out []int, workers int) time.Duration {
	prev := runtime.GOMAXPROCS(workers)
	defer runtime.GOMAXPROCS(prev)
	millionPass(name, out[:len(out)/100])
	return millionPass(name, out)
}

func benchSpawn(o *opts) {
	joins, n := spawnJoins, million
	if o.quick {
		joins, n = spawnJoinsQuick, millionQuick
	}
	workers := o.workers
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	alsoOne := o.workers == 0 && workers > 1
	out := make([]int, n)
	join := newRow("go.spawn.join", uint64(joins))
	mil := newRow("go.spawn.million", uint64(n))
	join1 := newRow("go.spawn.join.1worker", uint64(joins))
	mil1 := newRow("go.spawn.million.1worker", uint64(n))

	printMachine("go-peer spawn")
	for r := 0; r < o.runs; r++ {
		join.addElapsed(measureJoin(join.name, joins, workers))
		if alsoOne {
			join1.addElapsed(measureJoin(join1.name, joins, 1))
		}
		mil.addElapsed(measureMillion(mil.name, out, workers))
		if alsoOne {
			mil1.addElapsed(measureMillion(mil1.name, out, 1))
		}
		// Start each run with the heap of the last one collected.
		runtime.GC()
	}
	note("GOMAXPROCS: %d (the .1worker rows: 1); nothing pinned\n",
		workers)
	printHeader(o, "ns per op", join.name)
	ref := join.median()
	rows := []*row{join, join1, mil, mil1}
	for _, r := range rows {
		if len(r.vals) > 0 {
			r.print(ref)
		}
	}
	for _, r := range []*row{mil, mil1} {
		if len(r.vals) == 0 {
			continue
		}
		med, min, max := r.stats()
		s := float64(r.iters) / 1e9
		note("%s: wall %.3f s median (min %.3f, max %.3f) "+
			"for %d goroutines\n", r.name, med*s, min*s, max*s,
			r.iters)
	}
}
