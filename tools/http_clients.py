#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Hostile and long-lived HTTP clients for tools/bench-http-hostile.sh.

Python 3 standard library only: non-blocking sockets and selectors (epoll),
one process, one thread. Every figure goes to stdout as one line of
key=value pairs, so the script reads them with a field lookup; progress
and errors go to stderr.

  http_clients.py idle --port P --conns N [--connect-timeout S]
      Opens N connections to 127.0.0.1:P, at most --inflight connecting at
      once. Each sends one "GET / HTTP/1.1" and reads its whole response
      (status line, headers, Content-Length bytes of body; a 200 with the
      body "Hello, world!\\n" counts as ok). Then prints
          ready conns=N ok=K failed=F connect_s=T
      and keeps the connections open, sending nothing, until SIGUSR1 (or
      SIGTERM). Meanwhile a connection that becomes readable was closed
      by the server (or sent something unasked): it is counted in
      closed_idle and dropped. On SIGUSR1 every connection still open
      sends one more GET / and reads the response, within
      --check-timeout; then it prints
          final conns=N ok=K failed=F closed_idle=C first_failed=F0
                check_s=T
      where ok counts the connections whose second request was answered
      (200, the right body), failed = conns - ok (a connection that never
      got its first answer, was closed while idle, or failed the second
      request), and exits 0.

  http_clients.py slowloris --port P --conns N --seconds D
                  [--pressure S] [--interval I] [--lo A] [--hi B]
                  [--times FILE]
      Opens N connections; each sends the first byte of a request header
      ("GET / HTTP/1.1\\r\\nHost: ...\\r\\nX-Slowloris: aaaa..." that never
      ends) at once and one more byte every I seconds (default 1), never
      finishing it. Prints "ready conns=N connected=K connect_s=T" once all
      N have connected (or failed), then runs D seconds more. A connection
      the server closes (EOF or reset, on read or on send) has its close
      time, from its connect, recorded; for the first S seconds after
      ready (default 0) it is replaced by a new slow connection, so that N
      stay open under the load. Close times run from the connect() call
      (so they include the handshake and any wait for the server's
      accept). At the end it prints
          result wave=N connected=K closed=C in_window=W early=E late=L
                 open=O min_s= med_s= max_s= got_408=G
                 repl=R repl_closed=RC repl_in_window=RW repl_early=RE
                 repl_late=RL repl_young=RY cpu_s=U
      for the first wave (the N opened first): closed by the server,
      closed with close time in [A, B] seconds, before A, after B, still
      open at the end (a failure when its age passed B), the close times
      (min, median, max), how many got an answer (any bytes, weft sends
      408) before the close; then the same for the replacements
      (repl_young: still open and younger than B at the end: not judged),
      and the process's CPU seconds. --times FILE gets the first wave's
      close times, one a line, in seconds.
"""
import argparse
import collections
import errno
import os
import resource
import selectors
import signal
import socket
import sys
import time

HELLO = b"Hello, world!\n"


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and soft < need:
        return soft
    return None


def new_socket(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    err = s.connect_ex(("127.0.0.1", port))
    if err not in (0, errno.EINPROGRESS):
        s.close()
        raise OSError(err, os.strerror(err))
    return s


class Resp:
    """An HTTP/1.1 response read incrementally; complete when done."""

    def __init__(self):
        self.buf = b""
        self.done = False
        self.ok = False

    def feed(self, data):
        self.buf += data
        head_end = self.buf.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = self.buf[:head_end].decode("latin-1")
        lines = head.split("\r\n")
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                try:
                    length = int(value.strip())
                except ValueError:
                    length = None
        if length is None:
            self.done = True    # no length: not what "/" answers
            return
        body = self.buf[head_end + 4:]
        if len(body) >= length:
            self.done = True
            parts = lines[0].split(" ")
            self.ok = (len(parts) >= 2 and parts[0].startswith("HTTP/1.")
                       and parts[1] == "200" and body[:length] == HELLO
                       and len(body) == length)


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# Idle ---------------------------------------------------------------------

def idle(args):
    short = raise_nofile(args.conns + 64)
    if short is not None:
        out("ready conns=%d ok=0 failed=%d connect_s=0 error=nofile_%d"
            % (args.conns, args.conns, short))
        return 1
    request = ("GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
               % args.port).encode()
    sel = selectors.DefaultSelector()
    # state of each socket: "connecting", "reading" (a Resp), "idle"
    state = {}
    resp = {}
    ok_first = []
    failed = 0
    todo = args.conns
    t0 = time.monotonic()
    deadline = t0 + args.connect_timeout

    def drop(s):
        nonlocal failed
        failed += 1
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        state.pop(s, None)
        resp.pop(s, None)
        s.close()

    while todo > 0 or state:
        while todo > 0 and len(state) < args.inflight:
            todo -= 1
            try:
                s = new_socket(args.port)
            except OSError:
                failed += 1
                continue
            state[s] = "connecting"
            sel.register(s, selectors.EVENT_WRITE)
        now = time.monotonic()
        if now > deadline:
            for s in list(state):
                drop(s)
            failed += todo
            todo = 0
            break
        for key, _ in sel.select(timeout=min(1.0, deadline - now)):
            s = key.fileobj
            if state[s] == "connecting":
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    drop(s)
                    continue
                try:
                    s.send(request)
                except OSError:
                    drop(s)
                    continue
                state[s] = "reading"
                resp[s] = Resp()
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                data = s.recv(4096)
            except OSError:
                drop(s)
                continue
            if not data:
                drop(s)
                continue
            r = resp[s]
            r.feed(data)
            if r.done:
                sel.unregister(s)
                del state[s]
                del resp[s]
                if r.ok:
                    ok_first.append(s)
                else:
                    failed += 1
                    s.close()
    connect_s = time.monotonic() - t0
    first_failed = args.conns - len(ok_first)

    # Idle until SIGUSR1: a readable connection was closed (or spoke).
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno())
    got = {"usr1": False, "term": False}
    signal.signal(signal.SIGUSR1, lambda *a: got.__setitem__("usr1", True))
    signal.signal(signal.SIGTERM, lambda *a: got.__setitem__("term", True))
    sel.register(wake_r, selectors.EVENT_READ)
    open_ = set(ok_first)
    for s in ok_first:
        sel.register(s, selectors.EVENT_READ)
    out("ready conns=%d ok=%d failed=%d connect_s=%.3f"
        % (args.conns, len(ok_first), first_failed, connect_s))
    closed_idle = 0
    while not got["usr1"] and not got["term"]:
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            if s is wake_r:
                try:
                    wake_r.recv(64)
                except OSError:
                    pass
                continue
            closed_idle += 1
            open_.discard(s)
            sel.unregister(s)
            s.close()
    if got["term"]:
        return 1

    # The check: one more request on every connection still open.
    t1 = time.monotonic()
    deadline = t1 + args.check_timeout
    pending = {}
    ok = 0
    for s in list(open_):
        try:
            s.send(request)
        except OSError:
            sel.unregister(s)
            s.close()
            continue
        pending[s] = Resp()
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=max(0.0, min(1.0, deadline - time.monotonic()))):
            s = key.fileobj
            if s is wake_r:
                try:
                    wake_r.recv(64)
                except OSError:
                    pass
                continue
            r = pending.get(s)
            if r is None:
                continue
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if data:
                r.feed(data)
            if not data or r.done:
                if data and r.ok:
                    ok += 1
                del pending[s]
                sel.unregister(s)
    check_s = time.monotonic() - t1
    out("final conns=%d ok=%d failed=%d closed_idle=%d first_failed=%d "
        "check_s=%.3f" % (args.conns, ok, args.conns - ok, closed_idle,
                          first_failed, check_s))
    for s in open_:
        s.close()
    return 0


# Slowloris ----------------------------------------------------------------

class Slow:
    __slots__ = ("sock", "started_at", "connected_at", "sent", "closed_at",
                 "answered", "first_wave", "next_send", "alive")

    def __init__(self, sock, first_wave, started_at):
        self.sock = sock
        self.started_at = started_at
        self.connected_at = None
        self.sent = 0
        self.closed_at = None
        self.answered = False
        self.first_wave = first_wave
        self.next_send = 0.0
        self.alive = True


def median(v):
    v = sorted(v)
    n = len(v)
    if n == 0:
        return None
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def slowloris(args):
    short = raise_nofile(args.conns + 64)
    if short is not None:
        out("ready conns=%d connected=0 connect_s=0 error=nofile_%d"
            % (args.conns, short))
        return 1
    header = ("GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Slowloris: "
              % args.port).encode()
    sel = selectors.DefaultSelector()
    conns = []            # every Slow, in the order opened
    due = collections.deque()   # (time, Slow): sends in time order
    connecting = 0
    connect_failed = 0

    def byte_of(c):
        return header[c.sent:c.sent + 1] if c.sent < len(header) else b"a"

    def open_one(first_wave):
        nonlocal connecting, connect_failed
        started_at = time.monotonic()
        try:
            s = new_socket(args.port)
        except OSError:
            connect_failed += 1
            return
        c = Slow(s, first_wave, started_at)
        conns.append(c)
        connecting += 1
        sel.register(s, selectors.EVENT_WRITE, c)

    def close_one(c, now):
        if not c.alive:
            return
        c.alive = False
        if c.connected_at is not None:
            c.closed_at = now
        sel.unregister(c.sock)
        c.sock.close()

    def send_byte(c, now):
        try:
            c.sock.send(byte_of(c))
            c.sent += 1
        except BlockingIOError:
            pass
        except OSError:
            close_one(c, now)
            return False
        c.next_send = now + args.interval
        due.append((c.next_send, c))
        return True

    t0 = time.monotonic()
    todo = args.conns
    ready_at = None
    end_at = None
    replace_until = None
    replaced = 0
    while True:
        now = time.monotonic()
        while todo > 0 and connecting < args.inflight:
            todo -= 1
            open_one(True)
        if ready_at is None and todo == 0 and connecting == 0:
            ready_at = now
            end_at = now + args.seconds
            replace_until = now + args.pressure
            out("ready conns=%d connected=%d connect_s=%.3f"
                % (args.conns, args.conns - connect_failed,
                   now - t0))
        if end_at is not None and now >= end_at:
            break
        if ready_at is None and now - t0 > args.connect_timeout:
            out("ready conns=%d connected=%d connect_s=%.3f error=timeout"
                % (args.conns, sum(1 for c in conns if c.connected_at),
                   now - t0))
            return 1
        while due and due[0][0] <= now:
            _, c = due.popleft()
            if c.alive:
                send_byte(c, now)
        wait = 0.2
        if due:
            wait = min(wait, max(0.0, due[0][0] - now))
        if end_at is not None:
            wait = min(wait, max(0.0, end_at - now))
        for key, ev in sel.select(timeout=wait):
            c = key.data
            now = time.monotonic()
            if not c.alive:
                continue
            if c.connected_at is None:
                connecting -= 1
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    c.alive = False
                    connect_failed += 1
                    sel.unregister(c.sock)
                    c.sock.close()
                    continue
                c.connected_at = now
                sel.modify(c.sock, selectors.EVENT_READ, c)
                send_byte(c, now)
                continue
            try:
                data = c.sock.recv(4096)
            except OSError:
                data = b""
            if data:
                c.answered = True
                continue
            close_one(c, now)
            if replace_until is not None and now < replace_until:
                replaced += 1
                open_one(False)

    end = time.monotonic()
    lo, hi = args.lo, args.hi

    def judge(group):
        f = {"closed": 0, "in_window": 0, "early": 0, "late": 0, "open": 0,
             "young": 0, "answered": 0, "times": []}
        for c in group:
            if c.connected_at is None:
                continue
            if c.closed_at is not None:
                t = c.closed_at - c.started_at
                f["closed"] += 1
                f["times"].append(t)
                if t < lo:
                    f["early"] += 1
                elif t > hi:
                    f["late"] += 1
                else:
                    f["in_window"] += 1
                if c.answered:
                    f["answered"] += 1
            else:
                f["open"] += 1
                if end - c.started_at > hi:
                    f["late"] += 1
                else:
                    f["young"] += 1
        return f

    first = judge([c for c in conns if c.first_wave])
    repl = judge([c for c in conns if not c.first_wave])
    ts = first["times"]
    if args.times:
        with open(args.times, "w") as f:
            for t in ts:
                f.write("%.6f\n" % t)

    def num(v):
        return "-" if v is None else "%.3f" % v

    ru = resource.getrusage(resource.RUSAGE_SELF)
    out("result wave=%d connected=%d closed=%d in_window=%d early=%d "
        "late=%d open=%d min_s=%s med_s=%s max_s=%s got_408=%d repl=%d "
        "repl_closed=%d repl_in_window=%d repl_early=%d repl_late=%d "
        "repl_young=%d cpu_s=%.2f"
        % (args.conns,
           sum(1 for c in conns if c.first_wave and c.connected_at is not None),
           first["closed"], first["in_window"], first["early"],
           first["late"], first["open"], num(min(ts) if ts else None),
           num(median(ts)), num(max(ts) if ts else None),
           first["answered"], replaced, repl["closed"], repl["in_window"],
           repl["early"], repl["late"], repl["young"],
           ru.ru_utime + ru.ru_stime))
    for c in conns:
        if c.alive:
            c.sock.close()
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)
    a = sub.add_parser("idle")
    a.add_argument("--port", type=int, required=True)
    a.add_argument("--conns", type=int, required=True)
    a.add_argument("--inflight", type=int, default=256)
    a.add_argument("--connect-timeout", type=float, default=120.0)
    a.add_argument("--check-timeout", type=float, default=60.0)
    b = sub.add_parser("slowloris")
    b.add_argument("--port", type=int, required=True)
    b.add_argument("--conns", type=int, required=True)
    b.add_argument("--seconds", type=float, required=True)
    b.add_argument("--pressure", type=float, default=0.0)
    b.add_argument("--interval", type=float, default=1.0)
    b.add_argument("--lo", type=float, default=0.0)
    b.add_argument("--hi", type=float, default=1e9)
    b.add_argument("--inflight", type=int, default=256)
    b.add_argument("--connect-timeout", type=float, default=60.0)
    b.add_argument("--times", default="")
    args = p.parse_args()
    return idle(args) if args.mode == "idle" else slowloris(args)


if __name__ == "__main__":
    sys.exit(main())
