// SPDX-License-Identifier: MIT

// go-peer http-server: the Go entrant of tools/bench-http.sh, an HTTP/1.1
// server on net/http (one goroutine per connection, the standard
// library's way), beside weft-http (one fiber per connection) and nginx.
//
//	go-peer http-server [--port P] [--workers N] [--root DIR]
//
// What it serves, as weft-http does:
//
//	/       exactly weft-http's body, "Hello, world!\n", Content-Type
//	        text/plain, with its Content-Length (GET and HEAD; other
//	        methods 405, as weft-http answers them)
//	/PATH   the file PATH under --root through http.FileServer (404
//	        without --root or for a missing file); FileServer also does
//	        what weft-http does not (ranges, conditional requests,
//	        directory listings), which the benchmark's GET of one regular
//	        file never asks for
//
// Like go-peer echo-server it listens on 127.0.0.1:P (P = 0, the default,
// picks a free port), prints exactly one line "listening on
// 127.0.0.1:PORT" on stdout and serves until SIGTERM or SIGINT. Then it
// shuts down as weft-http does: it stops accepting, closes idle
// keep-alive connections, waits up to 5 s for requests in flight
// (http.Server.Shutdown), prints "stopped: N requests" on stdout and
// exits 0. net/http's own complaints (accept errors and the like) go to
// stderr. --workers sets GOMAXPROCS (0, the default: every CPU, Go's
// default). Keep-alive is on and unlimited in requests, net/http's
// default; net/http sets TCP_NODELAY on every connection.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// weft-http's fixed response body (tools/http/weft-http.c, hello_body).
var helloBody = []byte("Hello, world!\n")

var helloLen = strconv.Itoa(len(helloBody))

// Requests answered, for the summary line.
var nrRequests atomic.Int64

func httpUsage() {
	fmt.Fprintln(os.Stderr, "usage: go-peer http-server [--port P] [--workers N] [--root DIR]")
	os.Exit(2)
}

// httpHandler answers "/" itself and hands every other path to files
// (nil: no --root, 404).
type httpHandler struct {
	files http.Handler
}

func (h *httpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	nrRequests.Add(1)
	if r.URL.Path != "/" {
		if h.files == nil {
			http.NotFound(w, r)
			return
		}
		h.files.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	hd := w.Header()
	hd["Content-Type"] = []string{"text/plain"}
	hd["Content-Length"] = []string{helloLen}
	if r.Method == http.MethodGet {
		w.Write(helloBody)
	}
}

func httpServer(args []string) {
	port, workers, root := 0, 0, ""
	for i := 0; i < len(args); i++ {
		var err error
		switch {
		case (args[i] == "--port" || args[i] == "-port") && i+1 < len(args):
			i++
			port, err = strconv.Atoi(args[i])
		case (args[i] == "--workers" || args[i] == "-workers") && i+1 < len(args):
			i++
			workers, err = strconv.Atoi(args[i])
		case (args[i] == "--root" || args[i] == "-root") && i+1 < len(args):
			i++
			root = args[i]
		default:
			httpUsage()
		}
		if err != nil {
			httpUsage()
		}
	}
	if port < 0 || port > 65535 || workers < 0 {
		httpUsage()
	}
	if workers > 0 {
		runtime.GOMAXPROCS(workers)
	}
	h := &httpHandler{}
	if root != "" {
		if st, err := os.Stat(root); err != nil || !st.IsDir() {
			fmt.Fprintf(os.Stderr, "http_go: --root %s: not a directory\n", root)
			os.Exit(2)
		}
		h.files = http.FileServer(http.Dir(root))
	}
	// Before listening, so that a SIGTERM sent as soon as the line
	// appears is caught, not fatal.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)

	ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1",
		strconv.Itoa(port)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "http_go: listen: %v\n", err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: h}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("listening on %s\n", ln.Addr())
	select {
	case <-sig:
	case err := <-served:
		fmt.Fprintf(os.Stderr, "http_go: serve: %v\n", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "http_go: shutdown: %v\n", err)
	}
	fmt.Printf("stopped: %d requests\n", nrRequests.Load())
}
