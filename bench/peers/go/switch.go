// SPDX-License-Identifier: MIT

// go-peer switch: what one switch between goroutines costs, the Go side
// of bench/bench_switch.c.
//
//	go.gosched        two goroutines on GOMAXPROCS=1, each calling
//	                  runtime.Gosched() in a loop; ns per switch, each
//	                  Gosched counted as one switch, as switch.yield
//	                  counts each weft_yield()
//	go.chan.pingpong  two goroutines passing a value back and forth
//	                  through two unbuffered channels, GOMAXPROCS =
//	                  --workers (default 1); ns per handoff, one send
//	                  plus its receive being one handoff, as the
//	                  switch.futex rows count one handoff per wake
//
// Each measurement is preceded by a warm-up pass of a tenth of its size.
// go.gosched checks that Gosched calls really let the other goroutine
// run, as switch.yield does, but Go's scheduler lets a few percent of
// them pick the caller again, so it asks for 90% and prints the share;
// the
// ping-pong checks every value it gets back. The ratio column is
// relative to go.gosched.
package main

import (
	"runtime"
	"time"
)

// Operations per run (full, quick): the same as bench_switch.c's yield
// and of the order of its handoff rows, scaled to take ~0.5 s per run.
const (
	goschedSwitches      = 4000000
	goschedSwitchesQuick = 200000
	chanHandoffs         = 2000000
	chanHandoffsQuick    = 100000
)

// Fewest Gosched calls, as a fraction, that must have switched.
const goschedMinSwitched = 0.9

// The fraction of Gosched calls that switched in the last measured run.
var goschedSwitched float64

// goschedPP is the shared state of one Gosched ping-pong. It needs no
// atomics: with GOMAXPROCS=1 one goroutine runs at a time, and each
// switch between them goes through the scheduler's lock (Gosched puts the
// caller on the global run queue under sched.lock), which orders the
// plain accesses on either side of it.
type goschedPP struct {
	rounds   int       // Gosched calls per goroutine
	count    [2]int    // Gosched calls made by goroutine 0 and 1
	switched [2]int    // calls after which the other one had run
	ready    int       // goroutines that have started
	done     int       // goroutines that have finished their loop
	t0, t1   time.Time // both started; both finished
}

func (s *goschedPP) loop(me int, finished chan<- struct{}) {
	s.ready++
	for s.ready < 2 {
		runtime.Gosched()
	}
	if s.t0.IsZero() {
		s.t0 = time.Now()
	}
	other := 1 - me
	for i := 0; i < s.rounds; i++ {
		s.count[me]++
		seen := s.count[other]
		runtime.Gosched()
		if s.count[other] != seen {
			s.switched[me]++
		}
	}
	s.done++
	if s.done == 2 {
		s.t1 = time.Now()
	}
	finished <- struct{}{}
}

// goschedRun returns the time 2 * rounds Gosched calls took.
func goschedRun(rounds int) time.Duration {
	s := &goschedPP{rounds: rounds}
	finished := make(chan struct{}, 2)

	go s.loop(0, finished)
	go s.loop(1, finished)
	<-finished
	<-finished
	if s.count[0] != rounds || s.count[1] != rounds {
		fail("go.gosched: counts %d and %d, want %d",
			s.count[0], s.count[1], rounds)
	}
	// Unlike weft_yield, Gosched does not always hand over: the caller
	// goes to the global run queue, and every 61st scheduling round takes
	// from that queue first, where the caller may be the one in front.
	// That happens to a few percent of calls; more would mean the
	// goroutines were not ping-ponging and the figure a lie.
	sw := s.switched[0] + s.switched[1]
	if float64(sw) < goschedMinSwitched*float64(2*rounds) {
		fail("go.gosched: only %d of %d Gosched calls switched",
			sw, 2*rounds)
	}
	goschedSwitched = float64(sw) / float64(2*rounds)
	return s.t1.Sub(s.t0)
}

func measureGosched(switches int) time.Duration {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	goschedRun(switches / 20)
	return goschedRun(switches / 2)
}

// chanRun makes warm + rounds round trips between the calling goroutine
// and a partner through two unbuffered channels, and returns the time
// the last 2 * rounds handoffs took.
func chanRun(warm, rounds int) time.Duration {
	ping := make(chan int)
	pong := make(chan int)
	var t0 time.Time

	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()
	for i := 0; i < warm+rounds; i++ {
		if i == warm {
			t0 = time.Now()
		}
		ping <- 2 * i
		if v := <-pong; v != 2*i+1 {
			fail("go.chan.pingpong: sent %d, got back %d", 2*i, v)
		}
	}
	d := time.Since(t0)
	close(ping)
	if _, ok := <-pong; ok {
		fail("go.chan.pingpong: partner sent an extra value")
	}
	return d
}

func measureChan(handoffs, workers int) time.Duration {
	prev := runtime.GOMAXPROCS(workers)
	defer runtime.GOMAXPROCS(prev)
	return chanRun(handoffs/20, handoffs/2)
}

func benchSwitch(o *opts) {
	switches, handoffs := goschedSwitches, chanHandoffs
	if o.quick {
		switches, handoffs = goschedSwitchesQuick, chanHandoffsQuick
	}
	workers := o.workers
	if workers == 0 {
		workers = 1
	}
	gosched := newRow("go.gosched", uint64(switches))
	pingpong := newRow("go.chan.pingpong", uint64(handoffs))

	printMachine("go-peer switch")
	for r := 0; r < o.runs; r++ {
		gosched.addElapsed(measureGosched(switches))
		pingpong.addElapsed(measureChan(handoffs, workers))
	}
	note("GOMAXPROCS: go.gosched 1, go.chan.pingpong %d; "+
		"nothing pinned\n", workers)
	note("go.gosched: %.1f%% of Gosched calls switched "+
		"goroutines in the last run; each counts as a switch\n",
		100*goschedSwitched)
	printHeader(o, "ns per op", gosched.name)
	ref := gosched.median()
	gosched.print(ref)
	pingpong.print(ref)
}
