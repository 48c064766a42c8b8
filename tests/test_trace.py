#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""WEFT_TRACE: the trace of trace_target.c is Chrome trace-event JSON with
the events a known program must produce: a track per worker and the
monitor's, run slices named by fiber id and name that never overlap on a
track, parks with their reason (an I/O call with its operation and fd),
wake-ups, spawns, steals, a sleep's completion and a stall. WEFT_TRACE_EVENTS bounds each ring (the last
events are kept), and a trace that cannot be written is named on stderr
without failing the program. Usage: test_trace.py TRACE_TARGET"""

import json
import os
import subprocess
import sys
import tempfile

target = sys.argv[1]
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


def run(path, **env):
    e = dict(os.environ, WEFT_TRACE=path, WEFT_STALL_MS="20")
    e.update(env)
    p = subprocess.run([target], env=e, capture_output=True, text=True,
                       timeout=60)
    return p.returncode, p.stderr


with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "trace.json")
    rc, err = run(path)
    check(rc == 0, "the target failed: " + err)
    with open(path) as f:
        trace = json.load(f)
    ev = trace["traceEvents"]
    names = {(e["tid"], e["args"]["name"]) for e in ev if e["ph"] == "M"}
    check({(0, "worker 0"), (1, "worker 1"), (2, "monitor")} <= names,
          "track names: %s" % sorted(names))
    slices = [e for e in ev if e["ph"] == "X"]
    instants = [e["name"] for e in ev if e["ph"] == "i"]
    snames = {e["name"].split(" ", 2)[2] for e in slices
              if e["name"].count(" ") >= 2}
    for n in ("main", "pinger", "ponger", "cruncher", "hog"):
        check(n in snames, "no run slice of a fiber named %s" % n)
    check(all(e["dur"] >= 0 and e["ts"] >= 0 for e in slices),
          "negative time or duration")
    for tid in (0, 1):
        s = sorted((e["ts"], e["dur"]) for e in slices if e["tid"] == tid)
        check(all(a[0] + a[1] <= b[0] + 0.002 for a, b in zip(s, s[1:])),
              "run slices overlap on worker %d" % tid)
    hog = [e for e in slices if e["name"].endswith(" hog")]
    check(hog and max(e["dur"] for e in hog) >= 70000,
          "the hog's 80 ms slice is missing")
    # An unbuffered ping-pong parks its senders: each receiver finds
    # its sender waiting.
    check(sum(i.startswith("park: channel ") for i in instants) >= 100,
          "fewer than 100 parks on the channels")
    check(any(i.startswith("park: weft_join") for i in instants),
          "no park on a join")
    check(any(i.startswith("park: sleep") for i in instants), "no sleep")
    check(any(i.startswith("park: I/O read on fd ") for i in instants),
          "no park on a read (the I/O submission)")
    check(sum(i.startswith("wake fiber") for i in instants) >= 100,
          "fewer than 100 wake-ups for a 100-round ping-pong")
    check(sum(i.startswith("spawn fiber") for i in instants) >= 11,
          "fewer than 11 spawns")
    check(any(i.startswith("steal fiber") for i in instants), "no steal")
    check(any(i.startswith("complete fiber 1 ") for i in instants),
          "no completion of main's sleep")
    stalls = [e for e in ev if e["ph"] == "i" and e["tid"] == 2]
    check(any(e["name"].startswith("stall: fiber") for e in stalls),
          "no stall on the monitor's track")

    # A ring of 16 keeps at most 16 events a worker: slices plus
    # instants per track (a slice is two events, its end the next's
    # start, so at most 16 + 1 of them).
    rc, err = run(path, WEFT_TRACE_EVENTS="16")
    check(rc == 0, "the target failed with 16 events: " + err)
    with open(path) as f:
        small = json.load(f)["traceEvents"]
    for tid in (0, 1):
        n = sum(1 for e in small if e["tid"] == tid and e["ph"] != "M")
        check(0 < n <= 17, "worker %d kept %d events of 16" % (tid, n))
    # The last events are the ones kept: the main fiber's end is there.
    check(any(e["ph"] == "X" and e["name"] == "fiber 1 main" for e in small)
          or any(e["ph"] == "i" for e in small), "nothing recent kept")

    rc, err = run(path, WEFT_TRACE_EVENTS="lots")
    check("WEFT_TRACE_EVENTS=lots is not a number" in err,
          "a bad WEFT_TRACE_EVENTS is not named: " + err)

    rc, err = run(d)  # a directory: cannot be opened for writing
    check(rc == 0, "an unwritable trace failed the program")
    check("no trace written" in err, "an unwritable trace is not named: "
          + err)

for f in failures:
    print("test_trace: " + f, file=sys.stderr)
sys.exit(1 if failures else 0)
