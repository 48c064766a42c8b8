#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""weft-http as a process, on one I/O backend: GET and HEAD of /, keep-alive
and pipelining (100 requests in one send), HTTP/1.0 and Connection: close,
every error answer (400, 405, 408, 413, 414, 431, 503) and the lingering
close after it, path normalisation and what it refuses, static files (types,
lengths, a 1 MiB and a 3 MiB file by SHA-256, HEAD, pipelined), /_status,
the header, keep-alive and send timeouts (slowloris, a client that never
reads), the connection limit, resets and half-closes, EMFILE and the
recovery from it, the graceful shutdown on SIGTERM and SIGINT and its
deadline, and the command line. Each server is a fresh process on port 0
that must exit 0 on SIGTERM with nothing on stderr (sanitizer reports).
One line a case, "ok - NAME" or "FAIL - NAME: WHY"; the exit status is
non-zero if any failed. Python's standard library only.

Usage: test_http.py WEFT_HTTP --backend io_uring|epoll"""

import hashlib
import json
import os
import re
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from email.utils import parsedate_to_datetime

if len(sys.argv) != 4 or sys.argv[2] != "--backend" or \
        sys.argv[3] not in ("io_uring", "epoll"):
    sys.exit(__doc__)
EXE = sys.argv[1]
BACKEND = sys.argv[3]


def _sanitized():
    if os.environ.get("WEFT_SANITIZE", "none") not in ("", "none"):
        return True
    with open(EXE, "rb") as f:
        blob = f.read()
    return b"__asan_init" in blob or b"__tsan_init" in blob


# Under ASan or TSan the server is 5-20x slower: waits for something that
# must happen get longer (never the bounds a case asserts).
SLOW = _sanitized()
WAIT = 30.0 if SLOW else 10.0

ENV = dict(os.environ)
ENV.pop("WEFT_BACKEND", None)   # it would override --backend
ENV.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
ENV.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
ENV.setdefault("TSAN_OPTIONS", "halt_on_error=1")

HELLO = b"Hello, world!\n"
MIB = 1 << 20
FILES = {
    "hello.txt": b"hello from a file\n",
    "file.txt": b"the file at the top of the root\n",
    "page.html": b"<!doctype html><title>weft</title><p>a page</p>\n",
    "noext": b"a file without an extension\n",
    "empty.txt": b"",
    "big.bin": os.urandom(MIB),
    "big2.bin": os.urandom(3 * MIB + 12345),
    "sub/inner.txt": b"inside sub\n",
}
REASON = {200: "OK", 400: "Bad Request", 404: "Not Found",
          405: "Method Not Allowed", 408: "Request Timeout",
          413: "Content Too Large", 414: "URI Too Long",
          431: "Request Header Fields Too Large",
          503: "Service Unavailable"}
DATE_RE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d "
                     r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                     r"\d{4} \d\d:\d\d:\d\d GMT")
SANITIZER_WORDS = ("Sanitizer", "runtime error", "LeakSanitizer")

failed = []
t_start = time.monotonic()


class Fail(Exception):
    pass


def check(ok, why):
    if not ok:
        raise Fail(why)


def eq(got, want, what):
    if got != want:
        raise Fail("%s: got %r, want %r" % (what, short(got), short(want)))


def short(v):
    if isinstance(v, bytes) and len(v) > 120:
        return v[:100] + b"... (%d bytes)" % len(v)
    if isinstance(v, str) and len(v) > 120:
        return v[:100] + "... (%d chars)" % len(v)
    return v


def run_case(name, fn, *args):
    t0 = time.monotonic()
    try:
        fn(*args)
        print("ok - %s (%.2f s)" % (name, time.monotonic() - t0))
    except Fail as e:
        print("FAIL - %s: %s" % (name, e))
        failed.append(name)
    except Exception as e:      # a socket error, a timeout...: a failure
        print("FAIL - %s: %s: %s" % (name, type(e).__name__, e))
        failed.append(name)
    sys.stdout.flush()


def req(path="/", method="GET", version="1.1", host=True, headers=(),
        body=b""):
    lines = ["%s %s HTTP/%s" % (method, path, version)]
    if host:
        lines.append("Host: test")
    lines += list(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# --- the server process ----------------------------------------------------

def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def fd_list(pid):
    out = []
    for fd in sorted(os.listdir("/proc/%d/fd" % pid), key=int):
        try:
            out.append("%s:%s" % (fd, os.readlink("/proc/%d/fd/%s" %
                                                  (pid, fd))))
        except OSError:
            pass
    return out


def held_fds(pid):
    """(descriptors not pipes, pipes): the I/O backend keeps a few pipes
    a worker for weft_sendfile's splices, made when first needed."""
    fds = fd_list(pid)
    pipes = [f for f in fds if ":pipe:" in f]
    return len(fds) - len(pipes), len(pipes)


def wait_fds(srv, most, what):
    """Wait until the server holds at most @most descriptors besides the
    pipes weft_sendfile keeps (at most 8 a worker), and no more pipes."""
    try:
        wait_until(lambda: held_fds(srv.pid)[0] <= most, WAIT, what)
        pipes = held_fds(srv.pid)[1]
        check(pipes <= 2 * 8 * 2, "%d pipe descriptors" % pipes)
    except Fail as e:
        raise Fail("%s; it holds %s" % (e, " ".join(fd_list(srv.pid))))


def proc_status_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise Fail("no %s in /proc/%d/status" % (field, pid))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15; fields[0] is field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """weft-http --port 0 --workers 2 --backend BACKEND OPTS..."""

    def __init__(self, *opts, nofile=None):
        self.args = [EXE, "--port", "0", "--workers", "2",
                     "--backend", BACKEND] + list(opts)
        self.errf = tempfile.TemporaryFile()
        self.out = b""

        def pre():
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=self.errf, env=ENV,
                                     preexec_fn=pre)
        self.pid = self.proc.pid
        try:
            line = self.line(WAIT)
            m = re.fullmatch(rb"listening on 127\.0\.0\.1:(\d+) \(([a-z_]+)\)",
                             line)
            check(m, "first stdout line %r" % line)
            eq(m.group(2).decode(), BACKEND, "the backend it runs")
            self.port = int(m.group(1))
            self.fds0 = held_fds(self.pid)[0]
            self.rss0 = proc_status_kib(self.pid, "VmRSS")
        except BaseException:
            self.kill()
            raise

    def line(self, timeout):
        """The next line on the server's stdout, without its newline."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.out:
            left = deadline - time.monotonic()
            r = select.select([fd], [], [], max(left, 0))[0]
            if not r:
                raise Fail("no line on stdout within %.1f s" % timeout)
            d = os.read(fd, 4096)
            if not d:
                self.proc.wait(WAIT)
                raise Fail("stdout closed, exit status %s, stderr %r" %
                           (self.proc.returncode, self.stderr()))
            self.out += d
        line, self.out = self.out.split(b"\n", 1)
        return line

    def stderr(self):
        self.errf.seek(0)
        return self.errf.read().decode(errors="replace")

    def alive(self):
        return self.proc.poll() is None

    def check_clean_exit(self, timeout):
        """Wait for the exit: status 0, a "stopped:" line, empty stderr.
        Returns the stopped line and the seconds it took."""
        t0 = time.monotonic()
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Fail("still running %.1f s after the signal" % timeout)
        took = time.monotonic() - t0
        err = self.stderr()
        check(err == "", "stderr: %s" % err[-3000:])
        eq(rc, 0, "exit status")
        line = self.line(1.0).decode()
        check(re.fullmatch(r"stopped: \d+ requests, \d+ connections cut at "
                           r"the deadline", line),
              "last stdout line %r" % line)
        rest = self.proc.stdout.read()
        eq(rest, b"", "stdout after the stopped line")
        return line, took

    def stop(self):
        """SIGTERM, and the clean exit it must give."""
        if not self.alive():
            raise Fail("the server died before the end: status %s, stdout "
                       "%r, stderr %r" % (self.proc.returncode,
                                          self.out + self.proc.stdout.read(),
                                          self.stderr()[-3000:]))
        self.proc.send_signal(signal.SIGTERM)
        return self.check_clean_exit(WAIT)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.errf.close()


def raiser(e):
    def f(*args):
        raise e
    return f


def with_server(title, opts, cases, **kw):
    """Run @cases, (name, fn(server)), on one fresh server; then stop it."""
    try:
        srv = Server(*opts, **kw)
    except Exception as e:
        run_case(title + ": start", raiser(e))
        for name, _ in cases:
            run_case(name, raiser(Fail("the server did not start")))
        return
    try:
        for name, fn in cases:
            run_case(name, fn, srv)
        run_case(title + ": SIGTERM exits 0, stderr empty", srv.stop)
    finally:
        srv.kill()


# --- the client side --------------------------------------------------------

class Resp:
    def __init__(self, status, reason, headers, body, head):
        self.status, self.reason, self.h = status, reason, headers
        self.body, self.head = body, head

    def __repr__(self):
        return "<%d %s>" % (self.status, self.reason)


def parse_head(head):
    """(status, reason, {lowercase name: value}) of a response head."""
    lines = head.decode("latin-1").split("\r\n")
    m = re.fullmatch(r"HTTP/1\.1 (\d{3}) (.+)", lines[0])
    check(m, "status line %r" % lines[0])
    h = {}
    for line in lines[1:]:
        m2 = re.fullmatch(r"([A-Za-z-]+): (.*)", line)
        check(m2, "header line %r" % line)
        name = m2.group(1).lower()
        check(name not in h, "header %s twice" % name)
        h[name] = m2.group(2)
    return int(m.group(1)), m.group(2), h


def check_common(r):
    """What every response carries."""
    eq(r.h.get("server"), "weft-http", "Server header")
    date = r.h.get("date", "")
    check(DATE_RE.fullmatch(date), "Date header %r" % date)
    skew = abs(parsedate_to_datetime(date).timestamp() - time.time())
    check(skew < 120, "Date %r is %d s off" % (date, skew))
    check(re.fullmatch(r"\d+", r.h.get("content-length", "")),
          "Content-Length %r" % r.h.get("content-length"))
    if r.status in REASON:
        eq(r.reason, REASON[r.status], "reason phrase")


class Conn:
    def __init__(self, port, rcvbuf=None, sndbuf=None):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if sndbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        self.s.settimeout(WAIT)
        self.s.connect(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.t_connect = time.monotonic()
        self.buf = b""

    @classmethod
    def wrap(cls, sock):
        c = cls.__new__(cls)
        c.s, c.buf, c.t_connect = sock, b"", time.monotonic()
        return c

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def close(self):
        self.s.close()

    def rst(self):
        """Close with a reset (SO_LINGER 0)."""
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))
        self.s.close()

    def send(self, data):
        self.s.sendall(data)

    def _more(self, deadline, what):
        left = deadline - time.monotonic()
        if left <= 0:
            raise Fail("timed out waiting for %s (have %r)" %
                       (what, short(self.buf)))
        self.s.settimeout(left)
        try:
            d = self.s.recv(1 << 20)
        except socket.timeout:
            raise Fail("timed out waiting for %s (have %r)" %
                       (what, short(self.buf)))
        except ConnectionResetError:
            raise Fail("connection reset waiting for %s (have %r)" %
                       (what, short(self.buf)))
        if not d:
            raise Fail("EOF waiting for %s (have %r)" %
                       (what, short(self.buf)))
        self.buf += d

    def response(self, head_only=False, timeout=None):
        """The next response; its body by Content-Length (none if
        @head_only, the answer to a HEAD)."""
        deadline = time.monotonic() + (timeout or WAIT)
        while b"\r\n\r\n" not in self.buf:
            self._more(deadline, "a response head")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status, reason, h = parse_head(head)
        n = 0 if head_only else int(h.get("content-length", "0"))
        while len(self.buf) < n:
            self._more(deadline, "a %d-byte body" % n)
        body, self.buf = self.buf[:n], self.buf[n:]
        r = Resp(status, reason, h, body, head)
        check_common(r)
        return r

    def get(self, path="/", **kw):
        self.send(req(path, **kw))
        return self.response(head_only=kw.get("method") == "HEAD")

    def expect_eof(self, timeout=None):
        """The server closes cleanly with nothing more sent: returns the
        seconds since the call."""
        t0 = time.monotonic()
        deadline = t0 + (timeout or WAIT)
        while True:
            left = deadline - time.monotonic()
            check(left > 0, "no EOF within %.1f s" % (timeout or WAIT))
            self.s.settimeout(left)
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                raise Fail("no EOF within %.1f s" % (timeout or WAIT))
            except ConnectionResetError:
                raise Fail("connection reset instead of a clean close")
            if not d:
                eq(self.buf, b"", "bytes before the EOF")
                return time.monotonic() - t0
            self.buf += d

    def read_to_end(self, timeout=None):
        """Everything until EOF or a reset: (bytes, "eof" or "reset")."""
        deadline = time.monotonic() + (timeout or WAIT)
        how = None
        while how is None:
            left = deadline - time.monotonic()
            check(left > 0, "neither EOF nor reset within %.1f s" %
                  (timeout or WAIT))
            self.s.settimeout(left)
            try:
                d = self.s.recv(1 << 20)
                if d:
                    self.buf += d
                else:
                    how = "eof"
            except socket.timeout:
                continue
            except ConnectionResetError:
                how = "reset"
        data, self.buf = self.buf, b""
        return data, how

    def quiet_for(self, secs, what):
        """Nothing arrives, nor an EOF, for @secs."""
        r = select.select([self.s], [], [], secs)[0]
        if r:
            try:
                d = self.s.recv(65536, socket.MSG_PEEK)
            except ConnectionResetError:
                d = b"(reset)"
            raise Fail("%s: got %r" % (what, short(d) or "EOF"))


def connect_refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=WAIT).close()
    except ConnectionRefusedError:
        return True
    return False


def status_json(port):
    with Conn(port) as c:
        r = c.get("/_status", headers=["Connection: close"])
        eq(r.status, 200, "/_status")
        return json.loads(r.body)


def wait_until(pred, timeout, what, pause=0.02):
    """Poll @pred (a state no read can wait for: a counter, /proc)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        check(time.monotonic() < deadline, "%s: not within %.1f s" %
              (what, timeout))
        time.sleep(pause)


def expect_error(port, data, status, extra=b""):
    """@data (then @extra) on a fresh connection: the error page of
    @status with Connection: close, complete, then a clean close."""
    with Conn(port) as c:
        c.send(data + extra)
        r = c.response()
        eq(r.status, status, "status of %r" % short(data))
        eq(r.body, ("%d %s\n" % (status, REASON[status])).encode(), "body")
        eq(r.h.get("content-type"), "text/plain", "Content-Type")
        eq(r.h.get("connection"), "close", "Connection header")
        c.expect_eof()
        return r


# --- / and HEAD, keep-alive, pipelining, versions ---------------------------

def t_get_root(srv):
    with Conn(srv.port) as c:
        r = c.get("/")
        eq(r.status, 200, "status")
        eq(r.body, HELLO, "body")
        eq(r.h["content-length"], "14", "Content-Length")
        eq(r.h.get("content-type"), "text/plain", "Content-Type")
        check("connection" not in r.h, "a keep-alive answer says %r" %
              r.h.get("connection"))


def t_head_root(srv):
    with Conn(srv.port) as c:
        g = c.get("/")
        h = c.get("/", method="HEAD")
        eq(h.status, 200, "HEAD status")
        eq(h.body, b"", "HEAD body")
        g.h.pop("date")
        h.h.pop("date")
        eq(h.h, g.h, "HEAD headers against GET's")
        # A body after the HEAD's head would be read as the next status line.
        r = c.get("/")
        eq(r.body, HELLO, "GET after HEAD")
        eq(c.buf, b"", "stray bytes")


def t_keepalive_three(srv):
    with Conn(srv.port) as c:
        for path in ("/", "/_status", "/"):
            r = c.get(path)
            eq(r.status, 200, "GET %s" % path)
            check("connection" not in r.h, "Connection: %s" %
                  r.h.get("connection"))
        eq(r.body, HELLO, "third body")


def t_pipeline_100(srv):
    kinds = [
        ("GET", "/", 200, HELLO),
        ("GET", "/hello.txt", 200, FILES["hello.txt"]),
        ("HEAD", "/hello.txt", 200, FILES["hello.txt"]),
        ("GET", "/missing.txt", 404, b"404 Not Found\n"),
        ("GET", "/page.html?q=%d", 200, FILES["page.html"]),
        ("HEAD", "/", 200, HELLO),
        ("GET", "/sub/inner.txt", 200, FILES["sub/inner.txt"]),
        ("GET", "/sub", 404, b"404 Not Found\n"),
        ("GET", "/empty.txt", 200, b""),
    ]
    plan, blob = [], b""
    for i in range(100):
        if i == 50:
            k = ("GET", "/big.bin", 200, FILES["big.bin"])
        else:
            k = kinds[i % len(kinds)]
        path = k[1] % i if "%d" in k[1] else k[1]
        # Lengths vary, so requests straddle the server's 4 KiB reads.
        blob += req(path, k[0], headers=["X-Pad-%d: %s" % (i, "p" * (i * 7))])
        plan.append(k)
    check(len(blob) > 8 * 4096, "the batch is only %d bytes" % len(blob))
    with Conn(srv.port) as c:
        c.send(blob)
        for i, (method, path, status, body) in enumerate(plan):
            r = c.response(head_only=method == "HEAD")
            what = "response %d (%s %s)" % (i, method, path)
            eq(r.status, status, what)
            eq(int(r.h["content-length"]), len(body), what + " length")
            if method == "GET":
                eq(r.body, body, what + " body")
        eq(c.buf, b"", "bytes after the 100th response")
        eq(c.get("/").body, HELLO, "a request after the batch")


def t_http10_close(srv):
    with Conn(srv.port) as c:
        c.send(b"GET / HTTP/1.0\r\n\r\n")
        r = c.response()
        eq((r.status, r.body), (200, HELLO), "answer")
        eq(r.h.get("connection"), "close", "Connection header")
        c.expect_eof()


def t_http10_keepalive(srv):
    with Conn(srv.port) as c:
        for i in range(2):
            c.send(b"GET /hello.txt HTTP/1.0\r\n"
                   b"Connection: keep-alive\r\n\r\n")
            r = c.response()
            eq((r.status, r.body), (200, FILES["hello.txt"]), "answer %d" % i)
            check("connection" not in r.h, "answer %d says Connection: %s" %
                  (i, r.h.get("connection")))


def t_http11_close(srv):
    with Conn(srv.port) as c:
        r = c.get("/", headers=["Connection: close"])
        eq((r.status, r.body), (200, HELLO), "answer")
        eq(r.h.get("connection"), "close", "Connection header")
        c.expect_eof()


# --- errors ------------------------------------------------------------------

def t_bad_request_line(srv):
    expect_error(srv.port, b"THIS IS NOT HTTP\r\n\r\n", 400)
    expect_error(srv.port, b"GET / HTTP/1.1 x\r\nHost: test\r\n\r\n", 400)


def t_no_host(srv):
    expect_error(srv.port, req("/", host=False), 400)
    with Conn(srv.port) as c:      # HTTP/1.0 needs none
        c.send(b"GET / HTTP/1.0\r\n\r\n")
        eq(c.response().status, 200, "HTTP/1.0 without Host")


def t_target_414(srv):
    expect_error(srv.port, req("/" + "a" * 3000), 414)
    expect_error(srv.port, req("/" + "a" * 2048), 414)   # 2049 bytes
    with Conn(srv.port) as c:      # 2048 is allowed: no such file
        r = c.get("/" + "a" * 2047)
        eq(r.status, 404, "a 2048-byte target")
        check("connection" not in r.h, "the 404 closes")


def t_headers_431(srv):
    hdrs = ["X-H-%d: v" % i for i in range(99)]     # with Host: 100 lines
    with Conn(srv.port) as c:
        eq(c.get("/", headers=hdrs).status, 200, "100 header lines")
    expect_error(srv.port, req("/", headers=hdrs + ["X-One-More: v"]), 431)


def t_body_413(srv):
    # Refused on the declaration, before the body is sent.
    expect_error(srv.port, req("/", "POST", headers=[
        "Content-Length: %d" % (MIB + 1)]), 413)


def t_smuggling_400(srv):
    expect_error(srv.port, req("/", "POST", headers=[
        "Content-Length: 5", "Transfer-Encoding: chunked"],
        body=b"0\r\n\r\n"), 400)
    expect_error(srv.port, req("/", "POST", headers=[
        "Content-Length: 5", "Content-Length: 6"], body=b"hello!"), 400)


def t_linger_after_400(srv):
    # 32 KiB more after the bad request: the server must read it away
    # rather than reset the connection over the answer.
    expect_error(srv.port, b"THIS IS NOT HTTP\r\n\r\n", 400,
                 extra=req("/") * 1000)
    expect_error(srv.port, req("/", host=False), 400, extra=b"x" * 32768)


def t_linger_after_path_400(srv):
    # A refused path is bad input answered 400 too: the same lingering
    # close, so pipelined requests behind it must not turn into a reset.
    expect_error(srv.port, req("/../x"), 400, extra=req("/") * 1000)


def t_post_405(srv):
    with Conn(srv.port) as c:
        r = c.get("/", method="POST", headers=["Content-Length: 5"],
                  body=b"hello")
        eq(r.status, 405, "POST status")
        eq(r.h.get("allow"), "GET, HEAD", "Allow header")
        eq(r.body, b"405 Method Not Allowed\n", "body")
        check("connection" not in r.h, "the 405 closes")
        eq(c.get("/").body, HELLO, "GET after the POST")
        r = c.get("/hello.txt", method="POST", headers=[
            "Transfer-Encoding: chunked"], body=b"3\r\nabc\r\n0\r\n\r\n")
        eq(r.status, 405, "chunked POST")
        r = c.get("/hello.txt", method="DELETE")
        eq(r.status, 405, "DELETE")
        eq(c.get("/hello.txt").body, FILES["hello.txt"], "GET after them")


# --- paths -------------------------------------------------------------------

def t_paths_400(srv):
    for p in ("/../x", "/a/../../x", "/%2e%2e/x", "/%2E%2e/hello.txt",
              "/%2F", "/sub%2finner.txt", "/%00", "/hello.txt%00.html",
              "/%zz", "/%2", "*"):
        try:
            expect_error(srv.port, req(p), 400)
        except Fail as e:
            raise Fail("%s: %s" % (p, e))


def t_paths_ok(srv):
    with Conn(srv.port) as c:
        for p, want in (("/./sub/../file.txt", "file.txt"),
                        ("/file.txt?x=1", "file.txt"),
                        ("/file.txt?../../etc/passwd", "file.txt"),
                        ("//sub///inner.txt", "sub/inner.txt"),
                        ("/sub/./inner.txt", "sub/inner.txt"),
                        ("/%73ub/inner%2Etxt", "sub/inner.txt"),
                        ("/sub/../sub/inner.txt", "sub/inner.txt")):
            r = c.get(p)
            eq((r.status, r.body), (200, FILES[want]), p)


def t_absolute_form(srv):
    # RFC 9112 3.2.2: a server must accept the absolute form.
    with Conn(srv.port) as c:
        for p, want in (("http://example.com/file.txt", FILES["file.txt"]),
                        ("HTTPS://example.com/sub/inner.txt",
                         FILES["sub/inner.txt"]),
                        ("http://example.com", HELLO),
                        ("http://example.com?q=1", HELLO)):
            r = c.get(p)
            eq((r.status, r.body), (200, want), p)
    expect_error(srv.port, req("http://example.com/../x"), 400)


def t_paths_404(srv):
    with Conn(srv.port) as c:
        for p in ("/sub", "/sub/", "/missing.txt", "/sub/missing",
                  "/missing/x.txt", "/hello.txt/x"):
            r = c.get(p)
            eq(r.status, 404, p)
            eq(r.body, b"404 Not Found\n", p + " body")
            check("connection" not in r.h, "%s: the 404 closes" % p)
        r = c.get("/missing.txt", method="HEAD")
        eq((r.status, r.body), (404, b""), "HEAD of a missing file")
        eq(c.get("/").body, HELLO, "after the 404s")


def t_no_root_404(srv):
    with Conn(srv.port) as c:
        for p in ("/hello.txt", "/sub/inner.txt", "/big.bin", "/x"):
            eq(c.get(p).status, 404, p)
        eq(c.get("/").body, HELLO, "/ without --root")
        eq(c.get("/_status").status, 200, "/_status without --root")


# --- files -------------------------------------------------------------------

def t_files_small(srv):
    with Conn(srv.port) as c:
        for name, ctype in (("hello.txt", "text/plain"),
                            ("page.html", "text/html"),
                            ("noext", "application/octet-stream"),
                            ("empty.txt", "text/plain")):
            r = c.get("/" + name)
            eq(r.status, 200, name)
            eq(r.body, FILES[name], name + " body")
            eq(r.h["content-length"], str(len(FILES[name])), name + " length")
            eq(r.h.get("content-type"), ctype, name + " Content-Type")


def t_file_big(srv):
    with Conn(srv.port) as c:
        r = c.get("/big.bin")
        eq(r.status, 200, "status")
        eq(r.h["content-length"], str(MIB), "Content-Length")
        eq(r.h.get("content-type"), "application/octet-stream", "type")
        eq(hashlib.sha256(r.body).hexdigest(),
           hashlib.sha256(FILES["big.bin"]).hexdigest(), "SHA-256")
        # No ranges: a Range header is ignored, the whole file sent.
        r = c.get("/big.bin", headers=["Range: bytes=0-9"])
        eq((r.status, len(r.body)), (200, MIB), "with a Range header")
        eq(r.body == FILES["big.bin"], True, "body with a Range header")


def t_file_head(srv):
    with Conn(srv.port) as c:
        r = c.get("/big.bin", method="HEAD")
        eq(r.status, 200, "status")
        eq(r.h["content-length"], str(MIB), "Content-Length")
        eq(r.body, b"", "body")
        eq(c.get("/").body, HELLO, "GET after the HEAD")


def t_files_pipelined(srv):
    with Conn(srv.port) as c:
        c.send(req("/big.bin") + req("/big2.bin") + req("/hello.txt") +
               req("/big.bin", "HEAD") + req("/"))
        for name in ("big.bin", "big2.bin", "hello.txt"):
            r = c.response()
            eq(r.status, 200, name)
            eq(int(r.h["content-length"]), len(FILES[name]), name + " length")
            eq(hashlib.sha256(r.body).hexdigest(),
               hashlib.sha256(FILES[name]).hexdigest(), name + " SHA-256")
        r = c.response(head_only=True)
        eq(r.h["content-length"], str(MIB), "HEAD length")
        eq(c.response().body, HELLO, "the last one")


# --- /_status ----------------------------------------------------------------

def t_status(srv):
    with Conn(srv.port) as c:
        r1 = c.get("/_status")
        eq(r1.status, 200, "status")
        eq(r1.h.get("content-type"), "application/json", "Content-Type")
        s1 = json.loads(r1.body)
        eq(s1.get("backend"), BACKEND, "backend")
        eq(s1.get("workers"), 2, "workers")
        for k in ("fibers_live", "connections_open", "connections_accepted",
                  "requests", "errors", "timeouts", "latency_p99_ns"):
            check(isinstance(s1.get(k), int), "%s is %r" % (k, s1.get(k)))
        check(s1["connections_open"] >= 1, "connections_open %d" %
              s1["connections_open"])
        c.get("/")
        s2 = json.loads(c.get("/_status").body)
        check(s2["requests"] >= s1["requests"] + 2, "requests %d then %d" %
              (s1["requests"], s2["requests"]))
        h = c.get("/_status", method="HEAD")
        eq(h.body, b"", "HEAD /_status body")


# --- resets and half-closes ----------------------------------------------

def t_resets(srv):
    for i in range(20):
        c = Conn(srv.port)
        c.send(req("/big.bin" if i % 2 else "/"))
        if i % 4 == 3:
            c._more(time.monotonic() + WAIT, "the first bytes")
        c.rst()
    with Conn(srv.port) as c:
        eq(c.get("/").body, HELLO, "a connection after the resets")
    # The reset connections are all closed: none left open, no descriptor.
    wait_until(lambda: status_json(srv.port)["connections_open"] == 1,
               WAIT, "connections_open back to 1")
    wait_fds(srv, srv.fds0, "descriptors back to %d" % srv.fds0)


def t_half_close(srv):
    with Conn(srv.port) as c:
        c.send(req("/"))
        c.s.shutdown(socket.SHUT_WR)
        eq(c.response().body, HELLO, "answer after SHUT_WR")
        c.expect_eof()
    with Conn(srv.port) as c:
        c.send(req("/hello.txt") + req("/big2.bin") + req("/"))
        c.s.shutdown(socket.SHUT_WR)
        eq(c.response().body, FILES["hello.txt"], "first")
        eq(c.response().body == FILES["big2.bin"], True, "big2.bin intact")
        eq(c.response().body, HELLO, "third")
        c.expect_eof()


# --- idle connections give up their fibers ----------------------------------

def quiescent(srv):
    """Wait until no connection but a /_status one is open; its status."""
    return wait_until(lambda: (lambda st: st["connections_open"] == 1 and st)(
        status_json(srv.port)), WAIT, "connections_open back to 1")


def t_parked(srv):
    # 300 keep-alive connections, idle: after a second each gives up its
    # fiber, and is served again when it sends.
    k = 300
    f0 = quiescent(srv)["fibers_live"]
    conns = [Conn(srv.port) for _ in range(k)]
    try:
        for c in conns:
            eq(c.get("/").body, HELLO, "first request")
        t_last = time.monotonic()
        st = wait_until(lambda: (lambda st: st["fibers_live"] <= f0 + 2 and
                                 st)(status_json(srv.port)),
                        WAIT, "idle connections giving up their fibers")
        took = time.monotonic() - t_last
        check(took >= 0.9, "fibers gone %.2f s after the last request" % took)
        eq(st["connections_open"], k + 1, "connections_open while parked")
        serve, fin, rst, half = (conns[:150], conns[150:200],
                                 conns[200:250], conns[250:])
        for c in serve:
            c.send(req("/hello.txt") + req("/"))
        for c in half:
            c.send(req("/hello.txt"))
            c.s.shutdown(socket.SHUT_WR)
        for c in fin:
            c.close()
        for c in rst:
            c.rst()
        for c in serve:
            eq(c.response().body, FILES["hello.txt"], "a parked one's file")
            eq(c.response().body, HELLO, "a parked one's second request")
        for c in half:
            eq(c.response().body, FILES["hello.txt"], "a half-closed one's")
            c.expect_eof()
            c.close()
        # Hang-ups and resets of parked connections are noticed.
        wait_until(lambda: status_json(srv.port)["connections_open"] ==
                   len(serve) + 1, WAIT, "closed parked connections gone")
        for c in serve:         # parked, or about to be, again
            eq(c.get("/").body, HELLO, "a third request")
    finally:
        for c in conns:
            c.close()
    quiescent(srv)


def t_parked_expiry(srv):
    # --keepalive-timeout 2000: a parked connection is closed 2 s after
    # its last request, as an unparked one would be.
    with Conn(srv.port) as c:
        eq(c.get("/").body, HELLO, "the request")
        t0 = time.monotonic()
        before = status_json(srv.port)["timeouts"]
        c.expect_eof()
        between(time.monotonic() - t0, 1.8, 6, "parked connection closed")
    eq(status_json(srv.port)["timeouts"] - before, 1, "timeouts counted")


def t_parked_partial(srv):
    # Woken by part of a request: --header-timeout 1000 from its first
    # byte, then 408, though the keep-alive time would end sooner.
    with Conn(srv.port) as c:
        eq(c.get("/").body, HELLO, "the request")
        c.quiet_for(1.3, "idle")
        c.send(b"GET / HTTP/1.1\r\nHo")
        t0 = time.monotonic()
        r = c.response()
        eq(r.status, 408, "status")
        between(time.monotonic() - t0, 0.9, 5, "408")
        c.expect_eof()


# --- small limits --------------------------------------------------------

def t_431_bytes(srv):
    with Conn(srv.port) as c:       # well under 1024
        r = c.get("/", headers=["X-Some: " + "s" * 600])
        eq(r.status, 200, "600 bytes of headers")
    expect_error(srv.port, req("/", headers=["X-Big: " + "b" * 2000]), 431,
                 extra=req("/") * 500)
    expect_error(srv.port, req("/", headers=["X-%d: %s" % (i, "v" * 40)
                                             for i in range(30)]), 431)
    expect_error(srv.port, req("/" + "u" * 1500), 431)
    # The limit counts every byte up to the blank line, the request line
    # and the separators included: a head of exactly 1024 bytes passes,
    # 1025 does not.
    for size, status in ((1000, 200), (1030, 431)):
        base = req("/", headers=["X-Pad: "])
        pad = size - len(base)
        data = req("/", headers=["X-Pad: " + "p" * pad])
        if status == 200:
            with Conn(srv.port) as c:
                c.send(data)
                eq(c.response().status, 200, "%d-byte head" % len(data))
        else:
            expect_error(srv.port, data, 431)


def t_413_small(srv):
    with Conn(srv.port) as c:
        r = c.get("/", method="POST", headers=["Content-Length: 1000"],
                  body=b"b" * 1000)
        eq(r.status, 405, "a 1000-byte body")
        check("connection" not in r.h, "the 405 closes")
        eq(c.get("/").body, HELLO, "GET after it")
    expect_error(srv.port, req("/", "POST", headers=["Content-Length: 1001"]),
                 413)


def t_413_chunked(srv):
    chunk = b"1f4\r\n" + b"c" * 500 + b"\r\n"
    with Conn(srv.port) as c:
        r = c.get("/", method="POST", headers=["Transfer-Encoding: chunked"],
                  body=chunk + b"0\r\n\r\n")
        eq(r.status, 405, "500 bytes chunked")
        eq(c.get("/").body, HELLO, "GET after it")
    expect_error(srv.port, req("/", "POST", headers=[
        "Transfer-Encoding: chunked"], body=chunk * 3 + b"0\r\n\r\n"), 413)
    # Chunks still coming after the limit: read away, not reset.
    expect_error(srv.port, req("/", "POST", headers=[
        "Transfer-Encoding: chunked"], body=chunk * 3), 413,
        extra=chunk * 40)


# --- timeouts: --header-timeout 300 --keepalive-timeout 300 --send-timeout 500

def between(t, lo, hi, what):
    check(lo <= t <= hi, "%s after %.3f s, not in [%g, %g] s" %
          (what, t, lo, hi))


def t_silent_conn(srv):
    with Conn(srv.port) as c:
        c.expect_eof()
        between(time.monotonic() - c.t_connect, 0.25, 5, "closed")


def t_partial_408(srv):
    with Conn(srv.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHo")
        t0 = time.monotonic()
        r = c.response()
        between(time.monotonic() - t0, 0.25, 5, "408")
        eq(r.status, 408, "status")
        eq(r.h.get("connection"), "close", "Connection header")
        c.expect_eof()


def t_idle_keepalive(srv):
    with Conn(srv.port) as c:
        eq(c.get("/").body, HELLO, "the request")
        t0 = time.monotonic()
        c.expect_eof()
        between(time.monotonic() - t0, 0.25, 5, "idle connection closed")


def t_slowloris(srv):
    data = req("/hello.txt", headers=["X-Slow: " + "s" * 200])
    with Conn(srv.port) as c:
        t0 = time.monotonic()
        sent = 0
        # A byte every 100 ms, until the server answers or closes.
        while sent < len(data) and time.monotonic() - t0 < 6:
            try:
                c.s.send(data[sent:sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
            if select.select([c.s], [], [], 0.1)[0]:
                break
        took = time.monotonic() - t0
        check(sent < len(data), "the whole request went out")
        between(took, 0.25, 5, "cut")
        r = c.response()
        eq(r.status, 408, "status")
        # EOF, or a reset if a byte of ours crossed the close.
        rest, how = c.read_to_end()
        eq(rest, b"", "bytes after the 408")


def t_stuck_reader(srv):
    one = req("/big.bin")
    others = [0]        # our requests besides the stuck client's

    def status():
        others[0] += 1
        return status_json(srv.port)

    s0 = status()
    # Small buffers on our side, so that the server's send stalls soon.
    stuck = Conn(srv.port, rcvbuf=65536, sndbuf=65536)
    try:
        stuck.s.setblocking(False)
        blob = one * (5 * MIB // len(one))
        sent = 0
        t0 = time.monotonic()
        while sent < len(blob):
            try:
                sent += stuck.s.send(blob[sent:sent + 65536])
            except BlockingIOError:
                if not select.select([], [stuck.s], [], 0.3)[1]:
                    break       # the server reads no more from it
        check(sent < len(blob), "the server took all 5 MiB of requests "
              "with its answers unread")
        # Another client is answered meanwhile.
        with Conn(srv.port) as c:
            t1 = time.monotonic()
            eq(c.get("/").body, HELLO, "GET / meanwhile")
            others[0] += 1
            took = time.monotonic() - t1
            check(took < 2, "GET / took %.2f s meanwhile" % took)
        # The stalled send is cut after 500 ms without progress.
        wait_until(lambda: status()["connections_open"] == 1,
                   WAIT, "the stuck connection closed")
        took = time.monotonic() - t0
        check(took >= 0.45, "closed after only %.3f s" % took)
        s1 = status()
        # Not read from while stuck: at most one 4 KiB read of requests.
        n = s1["requests"] - s0["requests"] - (others[0] - 1)
        check(1 <= n <= 4096 // len(one) + 1,
              "%d requests handled for the stuck client" % n)
        growth = proc_status_kib(srv.pid, "VmHWM") - srv.rss0
        check(growth < 64 * 1024, "peak RSS %d KiB over the start" % growth)
        stuck.s.setblocking(True)
        data, how = stuck.read_to_end()
        # What did arrive is whole answers, then a cut one.
        off, whole = 0, 0
        expect = FILES["big.bin"]
        while off < len(data):
            end = data.find(b"\r\n\r\n", off)
            check(end > 0, "a cut head at byte %d" % off)
            st, _, h = parse_head(data[off:end])
            eq(st, 200, "status of answer %d" % whole)
            body = data[end + 4:end + 4 + MIB]
            if len(body) < MIB:
                eq(body, expect[:len(body)], "the cut answer's bytes")
                break
            eq(body == expect, True, "answer %d intact" % whole)
            whole += 1
            off = end + 4 + MIB
        check(whole <= n, "%d answers arrived for %d requests (%s)" %
              (whole, n, how))
    finally:
        stuck.close()


def t_send_timeout_counted(srv):
    # /_status "timeouts" counts "connections cut by a timeout"
    # (struct counters): the send timeout's cut as well as the others.
    s0 = status_json(srv.port)
    with Conn(srv.port, rcvbuf=65536) as stuck:
        stuck.send(req("/big2.bin") * 4)
        wait_until(lambda: status_json(srv.port)["connections_open"] == 1,
                   WAIT, "the stuck connection closed")
    s1 = status_json(srv.port)
    eq(s1["timeouts"] - s0["timeouts"], 1, "timeouts counted")


def t_first_request_deadline(srv):
    # --header-timeout 1000: the first request's time runs from the
    # accept, so a client that waits 0.8 s before its first byte is cut
    # about 0.2 s later, not 1 s later.
    with Conn(srv.port) as c:
        c.quiet_for(0.8, "before the first byte")
        c.send(b"GET / HTTP/1.1\r\n")
        r = c.response()
        took = time.monotonic() - c.t_connect
        eq(r.status, 408, "status")
        check(took < 1.6, "408 came %.2f s after the connect, %.2f s after "
              "the first byte: the deadline ran from the first byte" %
              (took, took - 0.8))


# --- the connection limit: --max-conns 2 -----------------------------------

def t_max_conns(srv):
    c1, c2 = Conn(srv.port), Conn(srv.port)
    c3 = None
    try:
        eq(c1.get("/").body, HELLO, "first")
        eq(c2.get("/").body, HELLO, "second")
        c3 = Conn(srv.port)     # in the backlog
        c3.send(req("/"))
        c3.quiet_for(0.5, "a third connection over --max-conns 2")
        c1.close()
        r = c3.response(timeout=5)
        eq(r.body, HELLO, "the third after one closed")
        eq(c2.get("/").body, HELLO, "second, again")
        c2.close()
        with Conn(srv.port) as c4:
            eq(c4.get("/").body, HELLO, "a fourth after the second closed")
    finally:
        for c in (c1, c2, c3):
            if c:
                c.close()


# --- EMFILE ------------------------------------------------------------------

def t_emfile(root):
    probe = Server("--root", root)
    try:
        base = probe.fds0
        probe.stop()
    finally:
        probe.kill()
    room = 20
    nofile = base + room
    srv = Server("--root", root, nofile=nofile)
    conns = []
    try:
        eq(srv.fds0, base, "descriptors at the start under the limit")
        for _ in range(60):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", srv.port))
            conns.append(s)
        deadline = time.monotonic() + WAIT
        for s in conns:
            left = deadline - time.monotonic()
            check(select.select([], [s], [], max(left, 0))[1],
                  "a connect did not complete")
            eq(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), 0, "connect")
            s.send(req("/"))
        # Answers come from the connections it could accept; then quiet.
        bufs = {s: b"" for s in conns}
        answered = set()
        quiet = 3.0 if SLOW else 1.0
        while True:
            waiting = [s for s in conns if s not in answered]
            r = select.select(waiting, [], [], quiet)[0]
            if not r:
                break
            for s in r:
                d = s.recv(65536)
                check(d, "a connection closed at EMFILE")
                bufs[s] += d
                if bufs[s].endswith(HELLO):
                    answered.add(s)
        n = len(answered)
        check(10 <= n <= room, "%d answered with room for %d" % (n, room))
        check(srv.alive(), "the server exited at EMFILE")
        eq(fd_count(srv.pid), nofile, "descriptors at EMFILE")
        # A second at EMFILE: little CPU, no more accepted.
        waiting = [s for s in conns if s not in answered]
        cpu0 = cpu_seconds(srv.pid)
        r = select.select(waiting, [], [], 1.0)[0]
        cpu = cpu_seconds(srv.pid) - cpu0
        check(not r, "%d more answered at EMFILE" % len(r))
        check(cpu < 0.5, "%.2f s of CPU over 1 s at EMFILE" % cpu)
        # Accepted connections are served; a file cannot be opened: 503.
        s = next(iter(answered))
        s.setblocking(True)
        c = Conn.wrap(s)
        r = c.get("/hello.txt")
        eq(r.status, 503, "a file at EMFILE")
        check("connection" not in r.h, "the 503 closes")
        eq(c.get("/").body, HELLO, "/ at EMFILE")
        for s in conns:
            s.close()
        conns = []
        # Recovery: the backlog is worked off, new connections answered.
        with Conn(srv.port) as c:
            eq(c.get("/").body, HELLO, "a new connection after EMFILE")
            wait_fds(srv, base + 1, "descriptors back to %d" % (base + 1))
            r = c.get("/hello.txt")
            eq((r.status, r.body), (200, FILES["hello.txt"]),
               "a file after EMFILE")
        srv.stop()
    finally:
        for s in conns:
            s.close()
        srv.kill()


# --- shutdown ----------------------------------------------------------------

def t_shutdown_graceful():
    srv = Server()
    try:
        polls = [0]

        def fibers():
            polls[0] += 1
            return status_json(srv.port)["fibers_live"]

        f0 = fibers()
        # P parked (idle past a second), A idle, B with a request started.
        p = Conn(srv.port)
        eq(p.get("/").body, HELLO, "P's request")
        wait_until(lambda: fibers() <= f0, WAIT, "P giving up its fiber")
        a, b = Conn(srv.port), Conn(srv.port)
        eq(a.get("/").body, HELLO, "A's request")
        # One send: a whole request and the start of the next. Once the
        # first is answered the server has the second's bytes.
        b.send(req("/") + b"GET /_status HTTP/1.1\r\nHo")
        eq(b.response().body, HELLO, "B's first request")
        srv.proc.send_signal(signal.SIGTERM)
        t = a.expect_eof()
        check(t < 3, "idle A closed only after %.2f s" % t)
        t = p.expect_eof()
        check(t < 3, "parked P closed only after %.2f s" % t)
        check(connect_refused(srv.port), "connect accepted while draining")
        check(srv.alive(), "exited with B's request in flight")
        b.send(b"st: test\r\n\r\n")
        r = b.response()
        eq(r.status, 200, "B's second request")
        eq(json.loads(r.body)["backend"], BACKEND, "B's answer")
        eq(r.h.get("connection"), "close", "Connection header while draining")
        b.expect_eof()
        b.close()       # else the server lingers on it for a second
        line, _ = srv.check_clean_exit(WAIT)
        eq(line, "stopped: %d requests, 0 connections cut at the deadline" %
           (polls[0] + 4), "stopped line")
        check(connect_refused(srv.port), "connect accepted after the exit")
        for c in (p, a, b):
            c.close()
    finally:
        srv.kill()


def t_shutdown_deadline():
    srv = Server("--shutdown-timeout", "500")
    try:
        with Conn(srv.port) as c:
            c.send(req("/") + b"GET / HTTP/1.1\r\nHo")
            eq(c.response().body, HELLO, "the first request")
            srv.proc.send_signal(signal.SIGTERM)
            t0 = time.monotonic()
            line, _ = srv.check_clean_exit(WAIT)
            took = time.monotonic() - t0
            between(took, 0.4, 5, "exit")
            eq(line, "stopped: 1 requests, 1 connections cut at the deadline",
               "stopped line")
            # Cut: an end of some kind (EOF or reset), not a hang.
            c.read_to_end()
    finally:
        srv.kill()


def t_sigint():
    srv = Server()
    try:
        with Conn(srv.port) as c:
            eq(c.get("/").body, HELLO, "a request")
            srv.proc.send_signal(signal.SIGINT)
            c.expect_eof()
        line, _ = srv.check_clean_exit(WAIT)
        eq(line, "stopped: 1 requests, 0 connections cut at the deadline",
           "stopped line")
    finally:
        srv.kill()


# --- the command line --------------------------------------------------------

def run_cli(args):
    p = subprocess.Popen([EXE] + args, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=ENV)
    try:
        out, err = p.communicate(timeout=WAIT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise Fail("%s: still running after %.0f s" % (args, WAIT))
    return p.returncode, out.decode(errors="replace"), \
        err.decode(errors="replace")


def t_cli_help():
    rc, out, err = run_cli(["--help"])
    eq(rc, 0, "exit status")
    eq(err, "", "stderr")
    check(out.startswith("usage: weft-http"), "stdout %r" % out[:60])
    for opt in ("--port", "--backend", "--root", "--max-conns",
                "--header-timeout", "--keepalive-timeout", "--send-timeout",
                "--shutdown-timeout", "--max-header-bytes",
                "--max-body-bytes"):
        check(opt in out, "no %s in the usage" % opt)


def t_cli_bad(root):
    notdir = os.path.join(root, "hello.txt")
    for args, word in ((["--max-conns", "0"], "usage"),
                       (["--port", "70000"], "usage"),
                       (["--backend", "foo"], "usage"),
                       (["--workers", "x"], "usage"),
                       (["--header-timeout", "0"], "usage"),
                       (["--send-timeout", "-5"], "usage"),
                       (["--max-header-bytes", "10"], "usage"),
                       (["--addr", "300.1.1.1"], "usage"),
                       (["--bogus"], "usage"),
                       (["extra"], "usage"),
                       (["--root", "/nonexistent"], "/nonexistent"),
                       (["--root", notdir], notdir)):
        full = args if args[0] == "--port" else ["--port", "0"] + args
        rc, out, err = run_cli(full)
        eq(rc, 2, "%s: exit status (stderr %r)" % (args, err[-300:]))
        eq(out, "", "%s: stdout" % args)
        check(word in err, "%s: stderr %r" % (args, err[-300:]))
        check(not any(w in err for w in SANITIZER_WORDS),
              "%s: stderr %r" % (args, err[-2000:]))


# --- the run ---------------------------------------------------------------

def main():
    root = tempfile.mkdtemp(prefix="weft-http-root.")
    try:
        for name, data in FILES.items():
            path = os.path.join(root, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        with_server("default server", ["--root", root], [
            ("GET /", t_get_root),
            ("HEAD /", t_head_root),
            ("three requests on one connection", t_keepalive_three),
            ("100 pipelined requests in one send", t_pipeline_100),
            ("HTTP/1.0: answer, then close", t_http10_close),
            ("HTTP/1.0 with Connection: keep-alive", t_http10_keepalive),
            ("HTTP/1.1 with Connection: close", t_http11_close),
            ("bad request line: 400", t_bad_request_line),
            ("HTTP/1.1 without Host: 400", t_no_host),
            ("target over 2 KiB: 414", t_target_414),
            ("over 100 header lines: 431", t_headers_431),
            ("Content-Length over the limit: 413", t_body_413),
            ("Content-Length with chunked, two lengths: 400",
             t_smuggling_400),
            ("lingering close after a 400", t_linger_after_400),
            ("lingering close after a refused path", t_linger_after_path_400),
            ("POST, DELETE: 405, connection stays", t_post_405),
            ("paths above the root, encoded / and NUL: 400", t_paths_400),
            ("paths normalised, query ignored", t_paths_ok),
            ("absolute-form targets", t_absolute_form),
            ("directories and missing files: 404", t_paths_404),
            ("small files: content, length, type", t_files_small),
            ("a 1 MiB file", t_file_big),
            ("HEAD of a file", t_file_head),
            ("big files pipelined", t_files_pipelined),
            ("/_status", t_status),
            ("clients that reset", t_resets),
            ("clients that half-close", t_half_close),
            ("idle connections park, and are served again", t_parked),
        ])
        with_server("small limits, no root",
                    ["--max-header-bytes", "1024", "--max-body-bytes", "1000"],
                    [
            ("no --root: files 404", t_no_root_404),
            ("headers over --max-header-bytes: 431", t_431_bytes),
            ("body over --max-body-bytes: 413", t_413_small),
            ("chunked body over --max-body-bytes: 413", t_413_chunked),
        ])
        with_server("timeouts", ["--root", root, "--header-timeout", "300",
                                 "--keepalive-timeout", "300",
                                 "--send-timeout", "500"], [
            ("a connection that sends nothing is closed", t_silent_conn),
            ("a partial request: 408", t_partial_408),
            ("an idle keep-alive connection is closed", t_idle_keepalive),
            ("slowloris: a byte every 100 ms", t_slowloris),
            ("a client that never reads", t_stuck_reader),
            ("a send timeout counts in /_status", t_send_timeout_counted),
        ])
        with_server("header 1 s, keep-alive 2 s",
                    ["--header-timeout", "1000",
                     "--keepalive-timeout", "2000"],
                    [
            ("the first request's time runs from the accept",
             t_first_request_deadline),
            ("a parked connection's keep-alive time", t_parked_expiry),
            ("a parked connection woken by a partial request",
             t_parked_partial),
        ])
        with_server("--max-conns 2", ["--max-conns", "2"], [
            ("a connection over the limit waits", t_max_conns),
        ])
        run_case("EMFILE: served, quiet, recovered", t_emfile, root)
        run_case("SIGTERM: idle closed, in-flight finished, exit 0",
                 t_shutdown_graceful)
        run_case("SIGTERM: --shutdown-timeout cuts a stuck request",
                 t_shutdown_deadline)
        run_case("SIGINT: exit 0", t_sigint)
        run_case("--help", t_cli_help)
        run_case("bad options: exit 2", t_cli_bad, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("%s: %d failed, %.1f s" % (BACKEND, len(failed),
                                     time.monotonic() - t_start))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
