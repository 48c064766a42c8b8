// SPDX-License-Identifier: MIT

// go-peer echo-server: the Go entrant of tools/bench-echo.sh, a TCP echo
// server in Go's net idiom, one goroutine per connection, beside
// weft-echo (one fiber per connection), bench/echo_epoll and
// bench/echo_threads.
//
//	go-peer echo-server [--port P] [--workers N]
//
// Like them it listens on 127.0.0.1:P (P = 0, the default, picks a free
// port), prints exactly one line "listening on 127.0.0.1:PORT" on stdout,
// serves until SIGTERM or SIGINT, then prints a one-line summary on
// stderr (in the form bench-echo.sh treats as a clean run's) and exits 0.
// --workers sets GOMAXPROCS (0, the default: every CPU, Go's default).
//
// Each connection's goroutine reads into its own 8 KiB buffer (weft-echo's
// size) and writes what it read back before reading again. It is a plain
// read/write loop rather than io.Copy(c, c), because on a *net.TCPConn
// io.Copy takes the splice(2) path through a pipe, which none of the other
// servers do. Go sets TCP_NODELAY on every connection itself, as the C
// servers do by hand. When Accept fails for a reason that may pass
// (EMFILE and the like), the acceptor sleeps, 5 ms at first and twice as
// long after each further failure up to 1 s, as net/http's server does.
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

const echoBufSize = 8192

// Counters for the summary line; atomic, for any goroutine.
var (
	nrAccepted atomic.Int64
	nrOpen     atomic.Int64
	nrBackoffs atomic.Int64
)

func echoUsage() {
	fmt.Fprintln(os.Stderr, "usage: go-peer echo-server [--port P] [--workers N]")
	os.Exit(2)
}

// echoConn echoes c until the peer closes it or fails.
func echoConn(c net.Conn) {
	defer func() {
		c.Close()
		nrOpen.Add(-1)
	}()
	buf := make([]byte, echoBufSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			// Write on a net.Conn writes everything or fails.
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// acceptLoop gives every accepted connection its own goroutine.
func acceptLoop(ln net.Listener) {
	var delay time.Duration

	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			nrBackoffs.Add(1)
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay *= 2; delay > time.Second {
				delay = time.Second
			}
			time.Sleep(delay)
			continue
		}
		delay = 0
		nrAccepted.Add(1)
		nrOpen.Add(1)
		go echoConn(c)
	}
}

func echoServer(args []string) {
	port, workers := 0, 0
	for i := 0; i < len(args); i++ {
		var err error
		switch {
		case (args[i] == "--port" || args[i] == "-port") && i+1 < len(args):
			i++
			port, err = strconv.Atoi(args[i])
		case (args[i] == "--workers" || args[i] == "-workers") && i+1 < len(args):
			i++
			workers, err = strconv.Atoi(args[i])
		default:
			echoUsage()
		}
		if err != nil {
			echoUsage()
		}
	}
	if port < 0 || port > 65535 || workers < 0 {
		echoUsage()
	}
	if workers > 0 {
		runtime.GOMAXPROCS(workers)
	}
	// Before listening, so that a SIGTERM sent as soon as the line
	// appears is caught, not fatal.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)

	ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1",
		strconv.Itoa(port)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "echo_go: listen: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	go acceptLoop(ln)
	<-sig
	ln.Close()
	fmt.Fprintf(os.Stderr, "echo_go: accepted=%d open=%d "+
		"accept_backoffs=%d\n", nrAccepted.Load(), nrOpen.Load(),
		nrBackoffs.Load())
}
