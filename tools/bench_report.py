#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The report of one tools/bench.sh run: reads DIR/meta.txt (the machine
and the options), DIR/steps.tsv (each step's command, status and time)
and DIR/raw/*.jsonl (the JSON lines each step wrote: rows, notes,
latencies and goals, from bench/bench_common.h, the Go and Boost peers
and tools/bench-json.sh), and writes DIR/REPORT.md and the charts
DIR/*.png (tools/bench_charts.py, matplotlib), then prints the summary
and the targets. It never parses the programs' text output; only the
hostile and fuzz steps' text is copied into the report whole, as printed.

Every figure it shows is read from the JSON lines or computed from them
(ratios of two medians of the same run); only the goals of the targets,
of the switch, spawn, memory, fine-grained and server targets, are written here. bench.sh
runs it; run it by hand to redraw a report from an earlier run.

Cells that hold no figure say why: "not installed" (a peer, Go,
Boost.Fiber or nginx, that could not be installed or built), "not run" (a
step that was left out or failed; the section "Not measured" gives the
reason), "-" (no such figure for that column).

Adding a benchmark: write bench/bench_NAME.c with bench/bench_common.h's
rows, then add one entry to BENCHMARKS below. tools/bench.sh runs every
entry (bench.sh reads --list-benchmarks), and the report gives
its step a table; "rows" are the rows the program prints (shown as "not
run" if it fails before printing them) and "units" the unit of each row,
by name prefix. Its figures reach the summary and the targets only
through summary_lines() and targets() further down, which name rows.

Usage: tools/bench_report.py DIR
       tools/bench_report.py --list-benchmarks
"""

import json
import os
import re
import sys

# The weft benchmark programs, in the order tools/bench.sh runs them and
# the report shows them. name: bench/bench_NAME.c and the --only name;
# slow: its runs are long, so it takes bench.sh's fewest runs (5) unless
# --runs says otherwise; workers: it takes --workers for its multi-worker
# rows (bench.sh passes it only if the program's --help mentions it);
# rows: what the
# weft program prints ({F}: the fib size, {C}: the fine size, {W}: the
# workers), by kind (weft, go, boost); units: (row name prefix, unit) for
# the tables, the first prefix that matches wins.
BENCHMARKS = [
    {"name": "switch", "slow": False, "workers": False,
     "rows": {"weft": ["switch.raw", "switch.yield", "switch.futex.same",
                       "switch.futex.cross", "switch.condvar",
                       "switch.pipe"],
              "go": ["go.gosched", "go.chan.pingpong"],
              "boost": ["boost.context.switch", "boost.fiber.yield"]},
     "units": [("switch.", "ns per switch"), ("go.gosched", "ns per switch"),
               ("go.chan.", "ns per handoff"),
               ("boost.context.", "ns per switch"),
               ("boost.fiber.yield", "ns per switch")]},
    {"name": "spawn", "slow": False, "workers": True,
     "rows": {"weft": ["spawn.join.1worker", "spawn.join.yield.1worker",
                       "spawn.join.allworkers",
                       "spawn.pthread", "spawn.million.1worker"],
              "go": ["go.spawn.join", "go.spawn.million"],
              "boost": ["boost.fiber.spawn.join"]},
     "units": [("spawn.", "ns per task"), ("go.spawn.", "ns per task"),
               ("boost.fiber.spawn", "ns per task")]},
    {"name": "memory", "slow": True, "workers": False,
     "rows": {"weft": ["memory.fiber.10k", "memory.fiber.100k",
                       "memory.fiber.small.10k", "memory.fiber.small.100k",
                       "memory.pthread.10k", "memory.pthread.64k.10k"],
              "go": ["go.memory.parked.{tag}"]},
     "units": [("memory.", "bytes per task"),
               ("go.memory.", "bytes per task")]},
    {"name": "steal", "slow": False, "workers": True,
     "rows": {"weft": ["steal.fib{F}.cutoff12.1worker",
                       "steal.fib{F}.cutoff12.{W}workers",
                       "steal.uts.1worker", "steal.uts.{W}workers"],
              "go": ["go.fib{F}.cutoff12.1workers",
                     "go.fib{F}.cutoff12.{W}workers"],
              "boost": ["boost.fib{F}.cutoff12.1threads",
                        "boost.fib{F}.cutoff12.{W}threads"]},
     "units": [("steal.", "ns per run"), ("go.fib", "ns per run"),
               ("boost.fib", "ns per run")]},
    {"name": "fine", "slow": True, "workers": True,
     "rows": {"weft": ["fine.fib{F}.serial", "fine.fib{F}.nocutoff.1worker",
                       "fine.fib{F}.nocutoff.{W}workers",
                       "fine.skynet{C}.1worker", "fine.skynet{C}.{W}workers",
                       "fine.spawnloop{C}.{W}workers",
                       "fine.alive{C}.small.{W}workers",
                       "fine.alive{C}.default.{W}workers"],
              "perf": ["fine.perf.fib{F}.%s.%s" % (c, e)
                       for c in ("serial", "nocutoff.1worker",
                                 "nocutoff.{W}workers")
                       for e in ("cycles", "instructions", "cache-misses")],
              "go": ["go.fine.fib{F}.nocutoff.1worker",
                     "go.fine.fib{F}.nocutoff.{W}workers",
                     "go.fine.skynet{C}.1worker",
                     "go.fine.skynet{C}.{W}workers",
                     "go.fine.spawnloop{C}.{W}workers",
                     "go.fine.alive{C}.{W}workers"],
              "boost": ["boost.fine.fib{F}.nocutoff.1threads",
                        "boost.fine.fib{F}.nocutoff.{W}threads",
                        "boost.fine.skynet{C}.1threads",
                        "boost.fine.skynet{C}.{W}threads"]},
     "units": [("fine.perf.", None), ("fine.spawnloop", "ns per task"),
               ("fine.alive", "ns per task"),
               ("go.fine.spawnloop", "ns per task"),
               ("go.fine.alive", "ns per task"), ("fine.", "ns per run"),
               ("go.fine.", "ns per run"), ("boost.fine.", "ns per run")]},
    {"name": "chan", "slow": False, "workers": True,
     "rows": {"weft": ["chan.pingpong", "chan.pingpong.condvar",
                       "chan.buffered.1pair", "chan.buffered.4pairs",
                       "chan.buffered.16pairs", "chan.buffered.pthread.1pair",
                       "chan.buffered.pthread.4pairs",
                       "chan.buffered.pthread.16pairs", "mutex.contended",
                       "mutex.contended.pthread"],
              "boost": ["boost.chan.pingpong"]},
     "units": [("chan.buffered", "ns per item"), ("mutex.", "ns per lock"),
               ("chan.", "ns per handoff"),
               ("boost.chan.", "ns per handoff")]},
]

# The steps that are scripts rather than bench_common.h programs; their
# JSON lines have their own shapes (tools/bench-json.sh).
SCRIPT_STEPS = {"echo": "tools/bench-echo.sh", "http": "tools/bench-http.sh",
                "hostile": "tools/bench-http-hostile.sh",
                "fuzz": "tests/fuzz_http.sh"}
GROUPS = [b["name"] for b in BENCHMARKS] + list(SCRIPT_STEPS)
KIND_TITLE = {"weft": "weft", "go": "Go", "boost": "Boost.Fiber"}
CHARTS = [
    ("switch", "Switch cost per mechanism"),
    ("spawn", "Spawn + join cost"),
    ("memory", "Memory per parked task"),
    ("speedup", "Speed-up against workers"),
    ("echo", "Echo servers: round trips and p99 latency"),
    ("trace", "A trace (WEFT_TRACE): 10 us of fib(20) without a cutoff, "
              "a box per fiber run, colour by fiber id"),
]
NUM_RE = re.compile(r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$")


# Reading a run ----------------------------------------------------------

def read_meta(path):
    """meta.txt: key=value lines; note= may repeat."""
    meta, notes = {}, []
    with open(path) as f:
        for line in f.read().splitlines():
            k, _, v = line.partition("=")
            if k == "note":
                notes.append(v)
            else:
                meta[k] = v
    return meta, notes


def read_steps(path):
    """steps.tsv: one dict a step, in the order they ran."""
    keys = ("n", "group", "kind", "tag", "status", "rc", "secs", "file",
            "cmd", "reason")
    steps = []
    with open(path) as f:
        for line in f.read().splitlines()[1:]:
            fields = line.split("\t")
            fields += [""] * (len(keys) - len(fields))
            steps.append(dict(zip(keys, fields)))
    return steps


def read_jsonl(path):
    """The objects of a JSON lines file; none if it is not there."""
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def step_objects(out, step):
    """The JSON objects step @step wrote (raw/NN-....jsonl)."""
    if step["file"] == "-":
        return []
    return read_jsonl(os.path.join(out, re.sub(r"\.txt$", ".jsonl",
                                               step["file"])))


class Run:
    """Everything one run measured, by row name: Run.med[name] etc."""

    def __init__(self, out):
        self.out = out
        self.meta, self.meta_notes = read_meta(os.path.join(out, "meta.txt"))
        self.steps = read_steps(os.path.join(out, "steps.tsv"))
        self.med, self.min, self.max = {}, {}, {}
        self.iters, self.ratio, self.samples = {}, {}, {}
        self.rows_of = [[] for _ in self.steps]
        self.notes_of = [[] for _ in self.steps]
        self.latency = []
        self.echo, self.http = {}, {}
        self.goals = []
        for i, step in enumerate(self.steps):
            self.read_step(i, step)

    def m(self, key):
        return self.meta.get(key, "")

    def put(self, name, obj):
        if obj.get("median") is None:
            return
        self.med[name] = obj["median"]
        self.min[name] = obj["min"]
        self.max[name] = obj["max"]
        self.samples[name] = obj.get("samples") or []

    def read_step(self, i, step):
        for obj in step_objects(self.out, step):
            kind = obj.get("kind")
            if kind == "note":
                self.notes_of[i].append(obj["text"])
            elif kind == "latency":
                if step["group"] in ("fine", "echo") and \
                        step["kind"] == "weft" and not step["tag"]:
                    self.latency.append(obj)
            elif kind == "goal":
                self.goals.append((i, obj))
            elif kind == "row" and step["group"] == "echo":
                self.read_server_row(self.echo, obj, "echo")
            elif kind == "row" and step["group"] == "http":
                self.read_server_row(self.http, obj, "http")
            elif kind == "row":
                name = obj["name"] + ("." + step["tag"] if step["tag"] else "")
                self.put(name, obj)
                self.iters[name] = obj.get("iters")
                self.ratio[name] = obj.get("ratio")
                self.rows_of[i].append(name)

    def read_server_row(self, table, obj, prefix):
        """An echo or http figure: ROW.FIGURE; table[row] = its params and
        its figures' objects (prefix.SERVER[.KIND].CONNS)."""
        row, _, fig = obj["name"].rpartition(".")
        entry = table.setdefault(row, {"params": obj["params"], "figs": {}})
        entry["figs"][fig] = obj
        self.put(obj["name"], obj)


# Figures ----------------------------------------------------------------

def fmt(v):
    """A figure as the report prints it: about three significant digits
    (two below 0.01)."""
    a = abs(v)
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    if 0 < a < 0.01:
        return "%.2g" % v
    return "%.2f" % v


def div(a, b):
    """a / b to six significant digits, or None if either is missing or b
    is 0."""
    if a is None or b is None or b == 0:
        return None
    return float("%.6g" % (a / b))


def commas(n):
    """A human count: 10000 -> 10,000."""
    return "{:,}".format(int(n))


def paired(run, a, b):
    """min, median and max of the ratios a / b of the runs of two rows of
    one program, paired run by run (each run measures every row once),
    or None where the rows are not of one program or lack runs."""
    sa, sb = run.samples.get(a, []), run.samples.get(b, [])
    if not sa or len(sa) != len(sb) or 0 in sb:
        return None
    r = sorted(x / y for x, y in zip(sa, sb))
    n = len(r)
    mid = r[n // 2] if n % 2 else (r[n // 2 - 1] + r[n // 2]) / 2
    return r[0], mid, r[-1]


class Figures:
    """The report's view of a run: why a figure is missing, the rows the
    multi-worker figures come from, the sizes of the quick mode."""

    def __init__(self, run):
        self.run = run
        self.quick = run.m("quick")
        self.workers = run.m("workers")
        self.F = "25" if self.quick else "30"
        self.C = "10k" if self.quick else "1m"
        self.Cw = {"1m": "1,000,000", "10k": "10,000"}[self.C]
        self.med = run.med
        F, C = self.F, self.C
        cut = "cutoff12"
        self.fib_1 = "steal.fib%s.%s.1worker" % (F, cut)
        self.fib_w = self.multi("steal.fib%s.%s." % (F, cut), "workers")
        self.W = self.fib_w[len("steal.fib%s.%s." % (F, cut)):-len("workers")]
        self.go_fib_1 = "go.fib%s.%s.1workers" % (F, cut)
        self.go_fib_w = self.multi("go.fib%s.%s." % (F, cut), "workers")
        self.boost_fib_1 = "boost.fib%s.%s.1threads" % (F, cut)
        self.boost_fib_w = self.multi("boost.fib%s.%s." % (F, cut), "threads")
        self.uts_w = self.multi("steal.uts.", "workers")
        self.nc_ser = "fine.fib%s.serial" % F
        self.nc_1 = "fine.fib%s.nocutoff.1worker" % F
        self.nc_w = self.multi("fine.fib%s.nocutoff." % F, "workers")
        self.go_nc_1 = "go.fine.fib%s.nocutoff.1worker" % F
        self.go_nc_w = self.multi("go.fine.fib%s.nocutoff." % F, "workers")
        self.boost_nc_1 = "boost.fine.fib%s.nocutoff.1threads" % F
        self.boost_nc_w = self.multi("boost.fine.fib%s.nocutoff." % F,
                                     "threads")
        self.sky_1 = "fine.skynet%s.1worker" % C
        self.sky_w = self.multi("fine.skynet%s." % C, "workers")
        self.go_sky_1 = "go.fine.skynet%s.1worker" % C
        self.go_sky_w = self.multi("go.fine.skynet%s." % C, "workers")
        self.boost_sky_1 = "boost.fine.skynet%s.1threads" % C
        self.boost_sky_w = self.multi("boost.fine.skynet%s." % C, "threads")
        self.loop_w = self.multi("fine.spawnloop%s." % C, "workers")
        self.go_loop_w = self.multi("go.fine.spawnloop%s." % C, "workers")
        self.alive_s = self.multi("fine.alive%s.small." % C, "workers")
        self.alive_d = self.multi("fine.alive%s.default." % C, "workers")
        self.go_alive = self.multi("go.fine.alive%s." % C, "workers")
        self.FW = self.nc_w[len("fine.fib%s.nocutoff." % F):-len("workers")]
        self.mem_c = self.memory_count()
        million = run.iters.get("spawn.million.1worker") or 1000000
        self.million = commas(million)
        self.mshort = {"1,000,000": "1M", "100,000": "100k"}.get(
            self.million, self.million)

    def multi(self, prefix, suffix):
        """The multi-worker row of a family: the name PREFIX<N>SUFFIX with
        the largest N above 1, found by name whatever --workers said."""
        best, bn = None, 1
        pat = re.compile(re.escape(prefix) + r"([0-9]+)" + re.escape(suffix)
                         + "$")
        for name in self.med:
            m = pat.match(name)
            if m and int(m.group(1)) > bn:
                best, bn = name, int(m.group(1))
        return best or prefix + self.workers + suffix

    def memory_count(self):
        """The largest count at which both weft and Go parked their tasks
        (1m in a full run), else weft's largest."""
        for c in ("1m", "100k", "10k"):
            if "memory.fiber." + c in self.med and \
                    "go.memory.parked." + c in self.med:
                return c
        for c in ("1m", "100k", "10k"):
            if "memory.fiber." + c in self.med:
                return c
        return "1m"

    def why_not(self, row):
        """Why row @row has no figure: "not installed" for a peer that is
        missing, "not run" otherwise."""
        if re.match(r"^(go\.|echo\.go\.|http\.go\.)", row):
            status = self.run.m("go_status")
        elif row.startswith("boost."):
            status = self.run.m("boost_status")
        elif row.startswith("http.nginx."):
            status = self.run.m("nginx_status")
        else:
            status = ""
        return "not installed" if status.startswith("not installed") \
            else "not run"

    def cell(self, row, scale=1):
        """The median of row @row scaled by 1/@scale and formatted, or why
        not."""
        v = self.med.get(row)
        return fmt(div(v, scale)) if v is not None else self.why_not(row)

    def ratio_cell(self, a, b):
        """med(a) / med(b) formatted, or why not (a's absence first)."""
        r = div(self.med.get(a), self.med.get(b))
        if r is not None:
            return fmt(r)
        return self.why_not(a if a not in self.med else b)

    def speedup(self, one, multi):
        return div(self.med.get(one), self.med.get(multi))

    def first_missing(self, *rows):
        """The first of @rows with no figure (for why_not), else the first."""
        for r in rows:
            if r not in self.med:
                return r
        return rows[0]


def mem_words(c):
    return {"1m": "1,000,000", "100k": "100,000", "10k": "10,000"}.get(c, c)


def wanted(run, group):
    return group in run.m("only").split(",")


# The summary ------------------------------------------------------------

def summary_lines(fg, run):
    """The summary: one line per figure, (label, unit, scale, weft row,
    plain C row, Go row, Boost row, "cost" or "rate"); "-" is no such
    figure. For a cost the edge is other / weft, for a rate weft / other:
    above 1 favours weft."""
    F, Cw, FW, W = fg.F, fg.Cw, fg.FW, fg.W
    mw = mem_words(fg.mem_c)
    mc = fg.mem_c
    e = "1000"
    ec = commas(e)
    lines = [
        ("switch: yield ping-pong vs futex, same core", "ns per switch", 1,
         "switch.yield", "switch.futex.same", "go.gosched",
         "boost.fiber.yield", "cost"),
        ("switch: yield vs futex, threads on two cores", "ns per switch", 1,
         "switch.yield", "switch.futex.cross", "-", "-", "cost"),
        ("switch: raw context switch", "ns per switch", 1, "switch.raw", "-",
         "-", "boost.context.switch", "cost"),
        ("channel ping-pong (C: condvar handoff)", "ns per handoff", 1,
         "chan.pingpong", "chan.pingpong.condvar", "go.chan.pingpong",
         "boost.chan.pingpong", "cost"),
        ("buffered channel, 1 pair (C: mutex+condvar queue)", "ns per item",
         1, "chan.buffered.1pair", "chan.buffered.pthread.1pair", "-", "-",
         "cost"),
        ("contended mutex", "ns per lock", 1, "mutex.contended",
         "mutex.contended.pthread", "-", "-", "cost"),
        ("spawn + join, weft on 1 worker (the join runs the unstarted child"
         " inline; C: pthread_create + join)",
         "ns per task", 1, "spawn.join.1worker", "spawn.pthread",
         "go.spawn.join", "boost.fiber.spawn.join", "cost"),
        ("spawn + yield + join, weft on 1 worker (the child runs on its own"
         " stack first: two switches)", "ns per task", 1,
         "spawn.join.yield.1worker", "spawn.pthread", "go.spawn.join",
         "boost.fiber.spawn.join", "cost"),
        ("spawn + join, weft on all workers", "ns per task", 1,
         "spawn.join.allworkers", "spawn.pthread", "go.spawn.join", "-",
         "cost"),
        ("%s spawned into an array, all alive until joined, weft on 1 worker"
         " (Go's spawn loop, a different shape, is the next line)"
         % fg.million, "ns per task", 1, "spawn.million.1worker", "-", "-",
         "-", "cost"),
        ("spawn loop: %s detached tasks, each Done on one wait group (Go's "
         "go func(){ wg.Done() }()), %s workers" % (Cw, FW), "ns per task",
         1, fg.loop_w, "-", fg.go_loop_w, "-", "cost"),
        ("%s tasks alive at once (all blocked on one channel, then "
         "released), 2 KiB small fiber stacks, %s workers" % (Cw, FW),
         "ns per task", 1, fg.alive_s, "-", fg.go_alive, "-", "cost"),
        ("%s tasks alive at once (all blocked on one channel, then "
         "released), default fiber stacks, %s workers" % (Cw, FW),
         "ns per task", 1, fg.alive_d, "-", fg.go_alive, "-", "cost"),
        ("memory per parked task at %s (C: 10,000 pthreads)" % mw,
         "bytes per task", 1, "memory.fiber." + mc, "memory.pthread.10k",
         "go.memory.parked." + mc, "-", "cost"),
        ("memory per parked task at %s, 2 KiB small fiber stacks (C: 64 KiB"
         " thread stacks)" % mw, "bytes per task", 1,
         "memory.fiber.small." + mc, "memory.pthread.64k.10k",
         "go.memory.parked." + mc, "-", "cost"),
        ("fib(%s), a task per call, no cutoff, 1 worker (C: plain "
         "recursion)" % F, "ms per run", 1e6, fg.nc_1, fg.nc_ser,
         fg.go_nc_1, fg.boost_nc_1, "cost"),
        ("fib(%s), a task per call, no cutoff, %s workers" % (F, FW),
         "ms per run", 1e6, fg.nc_w, "-", fg.go_nc_w, fg.boost_nc_w, "cost"),
        ("fib(%s) with sequential leaves at n <= 12 (a task per call above),"
         " %s workers" % (F, W), "ms per run", 1e6, fg.fib_w, "-",
         fg.go_fib_w, fg.boost_fib_w, "cost"),
        ("fib(%s) with sequential leaves at n <= 12 (a task per call above),"
         " 1 worker" % F, "ms per run", 1e6, fg.fib_1, "-", fg.go_fib_1,
         fg.boost_fib_1, "cost"),
        ("skynet, %s leaves, a task per node, 1 worker" % Cw, "ms per run",
         1e6, fg.sky_1, "-", fg.go_sky_1, fg.boost_sky_1, "cost"),
        ("skynet, %s leaves, a task per node, %s workers" % (Cw, FW),
         "ms per run", 1e6, fg.sky_w, "-", fg.go_sky_w, fg.boost_sky_w,
         "cost"),
        ("echo round trips at %s connections (C: threads)" % ec,
         "round trips per s", 1, "echo.weft.%s.rps" % e,
         "echo.threads.%s.rps" % e, "echo.go.%s.rps" % e, "-", "rate"),
        ("echo round trips at %s connections (C: epoll)" % ec,
         "round trips per s", 1, "echo.weft.%s.rps" % e,
         "echo.epoll.%s.rps" % e, "echo.go.%s.rps" % e, "-", "rate"),
        ("echo p99 latency at %s connections (C: threads)" % ec, "us", 1,
         "echo.weft.%s.p99" % e, "echo.threads.%s.p99" % e,
         "echo.go.%s.p99" % e, "-", "cost"),
        ("echo round trips at %s connections, weft on its epoll backend (C:"
         " epoll)" % ec, "round trips per s", 1, "echo.weft.epoll.%s.rps" % e,
         "echo.epoll.%s.rps" % e, "echo.go.%s.rps" % e, "-", "rate"),
        ("echo server CPU per million round trips at %s connections, weft on"
         " io_uring (C: epoll)" % ec, "CPU s per M round trips", 1,
         "echo.weft.%s.cpu" % e, "echo.epoll.%s.cpu" % e,
         "echo.go.%s.cpu" % e, "-", "cost"),
        ("echo server CPU per million round trips at %s connections, weft on"
         " epoll (C: epoll)" % ec, "CPU s per M round trips", 1,
         "echo.weft.epoll.%s.cpu" % e, "echo.epoll.%s.cpu" % e,
         "echo.go.%s.cpu" % e, "-", "cost"),
    ]
    # The HTTP lines (weft-http on io_uring; C: nginx), for each URL the
    # http step measured at 1,000 connections.
    for path in http_paths(run):
        if ("weft", path, e) not in http_keys(run):
            continue
        k = http_kind(path)
        what = 'GET / (the fixed "Hello, world!")' if k == "hello" \
            else "GET of a 4 KiB file"
        r = "http.%%s.%s.%s.%%s" % (k, e)
        lines += [
            ("HTTP %s at %s connections, weft-http on io_uring (C: nginx)"
             % (what, ec), "requests per s", 1, r % ("weft", "rps"),
             r % ("nginx", "rps"), r % ("go", "rps"), "-", "rate"),
            ("HTTP %s p99 latency at %s connections (C: nginx)" % (what, ec),
             "us", 1, r % ("weft", "p99"), r % ("nginx", "p99"),
             r % ("go", "p99"), "-", "cost"),
            ("HTTP %s server CPU per request at %s connections (C: nginx)"
             % (what, ec), "CPU us per request", 1, r % ("weft", "cpu"),
             r % ("nginx", "cpu"), r % ("go", "cpu"), "-", "cost"),
        ]
    return lines


def summary_cells(fg, line):
    """Cells of one summary line: label, unit, weft, C, Go, Boost, and
    weft's edge over each."""
    label, unit, scale, wr, cr, gr, br, way = line
    cells = [label, unit, fg.cell(wr, scale)]
    cells += ["-" if c == "-" else fg.cell(c, scale) for c in (cr, gr, br)]
    for c in (cr, gr, br):
        if c == "-":
            cells.append("-")
            continue
        a, b = (c, wr) if way == "cost" else (wr, c)
        edge = div(fg.med.get(a), fg.med.get(b))
        if edge is not None:
            cells.append(fmt(edge))
        else:
            cells.append(fg.why_not(wr if wr not in fg.med else c))
    return cells


def speedup_cells(fg):
    """The speed-up lines: weft, Go and Boost, no edge."""
    def line(label, pairs):
        cells = [label, "x"]
        for one, multi in pairs:
            if one == "-":
                cells.append("-")
                continue
            v = fg.speedup(one, multi)
            cells.append(fmt(v) if v is not None else fg.why_not(one))
        return cells + ["-", "-", "-"]
    F, FW, W = fg.F, fg.FW, fg.W
    return [
        line("fib(%s) no cutoff speed-up, 1 to %s workers" % (F, FW),
             [(fg.nc_1, fg.nc_w), ("-", "-"), (fg.go_nc_1, fg.go_nc_w),
              (fg.boost_nc_1, fg.boost_nc_w)]),
        line("fib(%s) with sequential leaves at n <= 12, speed-up, 1 to %s "
             "workers" % (F, W),
             [(fg.fib_1, fg.fib_w), ("-", "-"), (fg.go_fib_1, fg.go_fib_w),
              (fg.boost_fib_1, fg.boost_fib_w)]),
        line("skynet speed-up, 1 to %s workers" % FW,
             [(fg.sky_1, fg.sky_w), ("-", "-"), (fg.go_sky_1, fg.go_sky_w),
              (fg.boost_sky_1, fg.boost_sky_w)]),
        line("uts (unbalanced tree) speed-up, 1 to %s workers" % W,
             [("steal.uts.1worker", fg.uts_w), ("-", "-"), ("-", "-"),
              ("-", "-")]),
    ]


def summary_table(fg, run):
    return [summary_cells(fg, line) for line in summary_lines(fg, run)] + \
        speedup_cells(fg)


# Targets ----------------------------------------------------------------

def target(fg, tid, text, v, goal, cmp, miss, pair=None):
    """One target: [target, goal, measured, status], and the pair of rows
    whose ratio it is, if any. @cmp is "most", "least" or "below"
    (strictly less); @miss the row whose absence says why there is no
    figure."""
    how = "below" if cmp == "below" else "at " + cmp
    label = "%s. %s, %s" % (tid, text, how)
    if v is not None and goal is not None:
        ok = v <= goal if cmp == "most" else v < goal if cmp == "below" \
            else v >= goal
        return [label, fmt(goal), fmt(v), "met" if ok else "NOT met"], pair
    g = fmt(goal) if goal is not None else fg.why_not(miss)
    return [label, g, fg.why_not(miss), "not measured"], pair


def targets(fg):
    """The targets, in order: switching, spawning, memory, fork-join,
    channels and echo (1a to 6c), the backends (12a to 12c), HTTP (h1 to
    h3) and fine-grained tasks (11a to 11h)."""
    med = fg.med.get
    F, Cw, FW, W = fg.F, fg.Cw, fg.FW, fg.W
    fib = "fib(%s)" % F
    mw, mc = mem_words(fg.mem_c), fg.mem_c
    fm = fg.first_missing

    def ratio(tid, text, a, b, goal, cmp, num_first=False):
        """Target @tid: med(a) / med(b) against @goal; without a figure,
        the first missing of b and a (of a and b if @num_first) says
        why."""
        miss = fm(a, b) if num_first else fm(b, a)
        return target(fg, tid, text, div(med(a), med(b)), goal, cmp, miss,
                      (a, b))
    out = [
        target(fg, "1a", "fiber switch (weft_yield ping-pong), ns",
               med("switch.yield"), 10, "most", "switch.yield"),
        ratio("1b", "same-core futex ping-pong / fiber switch",
              "switch.futex.same", "switch.yield", 100, "least"),
        ratio("1c", "Boost.Fiber yield / fiber switch (several times: 3)",
              "boost.fiber.yield", "switch.yield", 3, "least"),
        ratio("1d", "Go Gosched / fiber switch (several times: 3)",
              "go.gosched", "switch.yield", 3, "least"),
        target(fg, "2a", "fiber spawn + join (1 worker), ns",
               med("spawn.join.1worker"), 50, "most", "spawn.join.1worker"),
        ratio("2b", "Go go + WaitGroup / fiber spawn + join",
              "go.spawn.join", "spawn.join.1worker", 10, "least"),
        ratio("2c", "Boost.Fiber spawn + join / fiber spawn + join",
              "boost.fiber.spawn.join", "spawn.join.1worker", 10, "least"),
        ratio("2d", "pthread_create + join / fiber spawn + join",
              "spawn.pthread", "spawn.join.1worker", 500, "least"),
        target(fg, "3a", "bytes per parked fiber at %s, 2 KiB small stacks "
               "(goal: Go's bytes per parked goroutine, measured)" % mw,
               med("memory.fiber.small." + mc), med("go.memory.parked." + mc),
               "most", fm("memory.fiber.small." + mc,
                          "go.memory.parked." + mc)),
        target(fg, "3b", "bytes per parked fiber at %s, default stack "
               "(goal: Go's, measured)" % mw, med("memory.fiber." + mc),
               med("go.memory.parked." + mc), "most",
               fm("memory.fiber." + mc, "go.memory.parked." + mc)),
        ratio("4a", "Go %s / weft %s, sequential leaves at n <= 12, both on "
              "%s workers" % (fib, fib, W), fg.go_fib_w, fg.fib_w, 2,
              "least"),
        target(fg, "4b", "weft %s speed-up from 1 to %s workers, sequential "
               "leaves at n <= 12 (goal: 0.9 x %s)" % (fib, W, W),
               fg.speedup(fg.fib_1, fg.fib_w), 0.9 * int(W), "least",
               fm(fg.fib_1, fg.fib_w), (fg.fib_1, fg.fib_w)),
        ratio("5", "Go channel ping-pong / weft channel ping-pong",
              "go.chan.pingpong", "chan.pingpong", 5, "least"),
    ]
    for tid, text, a, b, goal, cmp in [
            ("6a", "echo round trips per s at 1,000 connections, weft / Go "
             "net", "echo.weft.1000.rps", "echo.go.1000.rps", 1, "least"),
            ("6b", "echo round trips per s at 1,000 connections, weft / "
             "epoll", "echo.weft.1000.rps", "echo.epoll.1000.rps", 1,
             "least"),
            ("6c", "echo round trips per s at 1,000 connections, weft / "
             "threads", "echo.weft.1000.rps", "echo.threads.1000.rps", 1.5,
             "least"),
            ("12a", "echo round trips per s at 1,000 connections, weft on "
             "epoll / the epoll server", "echo.weft.epoll.1000.rps",
             "echo.epoll.1000.rps", 1, "least"),
            ("12b", "echo server CPU per round trip at 1,000 connections, "
             "weft on io_uring / weft on epoll", "echo.weft.1000.cpu",
             "echo.weft.epoll.1000.cpu", 1, "most"),
            ("12c", "echo server CPU per round trip at 1,000 connections, "
             "weft on io_uring / the epoll server", "echo.weft.1000.cpu",
             "echo.epoll.1000.cpu", 1, "most"),
            ("h1", "HTTP GET / requests per s at 1,000 connections, "
             "weft-http (io_uring) / nginx", "http.weft.hello.1000.rps",
             "http.nginx.hello.1000.rps", 1, "least"),
            ("h2", "HTTP GET / requests per s at 1,000 connections, "
             "weft-http (io_uring) / Go net/http", "http.weft.hello.1000.rps",
             "http.go.hello.1000.rps", 2, "least"),
            ("h3", "HTTP GET / server CPU per request at 1,000 connections, "
             "weft-http on io_uring / on epoll", "http.weft.hello.1000.cpu",
             "http.weft.epoll.hello.1000.cpu", 1, "below")]:
        out.append(ratio(tid, text, a, b, goal, cmp, num_first=True))
    out += [
        ratio("11a", "Go %s / weft %s, a task per call, no cutoff, both on "
              "%s workers" % (fib, fib, FW), fg.go_nc_w, fg.nc_w, 2, "least"),
        target(fg, "11b", "weft %s no cutoff, speed-up from 1 to %s workers "
               "(goal: 0.9 x %s, 1.8 on 2)" % (fib, FW, FW),
               fg.speedup(fg.nc_1, fg.nc_w), 0.9 * int(FW), "least",
               fm(fg.nc_1, fg.nc_w), (fg.nc_1, fg.nc_w)),
        ratio("11c", "weft %s no cutoff on 1 worker / plain recursive %s "
              "(the moonshot)" % (fib, fib), fg.nc_1, fg.nc_ser, 10, "most",
              num_first=True),
        ratio("11d", "Go skynet / weft skynet (%s leaves), 1 worker" % Cw,
              fg.go_sky_1, fg.sky_1, 2, "least"),
        ratio("11e", "Go skynet / weft skynet (%s leaves), both on %s "
              "workers" % (Cw, FW), fg.go_sky_w, fg.sky_w, 2, "least"),
        ratio("11f", "Go spawn loop / weft spawn loop (%s detached tasks, one"
              " wait group), %s workers" % (Cw, FW), fg.go_loop_w, fg.loop_w,
              2, "least"),
        ratio("11g", "Go / weft, %s tasks alive at once, weft on 2 KiB small"
              " stacks, %s workers" % (Cw, FW), fg.go_alive, fg.alive_s, 2,
              "least"),
        ratio("11h", "Go / weft, %s tasks alive at once, weft on default "
              "stacks, %s workers" % (Cw, FW), fg.go_alive, fg.alive_d, 1,
              "least"),
    ]
    return out


def confidence_rows(run, tgts):
    """For each ratio target whose two rows one program measured in the
    same runs: [target id, min, median, max] of the ratios of its runs,
    paired run by run."""
    rows = []
    for cells, pair in tgts:
        if pair is None or not same_program(run, *pair):
            continue
        p = paired(run, *pair)
        if p is not None:
            rows.append([cells[0].split(".")[0]] + [fmt(x) for x in p])
    return rows


def same_program(run, a, b):
    return any(a in names and b in names for names in run.rows_of)


def step_goals(run):
    """The hostile-client and fuzz steps judge their own goals: [goal,
    figure, status] in the order they wrote them; a step that wrote none
    gives one "not measured" line saying why."""
    out = []
    for i, step in enumerate(run.steps):
        if step["group"] not in ("hostile", "fuzz"):
            continue
        goals = [g for j, g in run.goals if j == i]
        if not goals:
            out.append(["%s (%s)" % (step["group"], step["cmd"].split(" ")[0]),
                        "%s: %s" % (step["status"],
                                    step["reason"] or "no goal line printed"),
                        "not measured"])
        for g in goals:
            out.append([g["text"], g["figure"] if g["figure"] is not None
                        else "-", g["status"]])
    return out


# Tables -----------------------------------------------------------------

def md_table(header, rows):
    """Rows of cells as markdown lines."""
    out = ["| %s |" % " | ".join(header), "|---" * len(header) + "|"]
    out += ["|" + "".join(" %s |" % c for c in r) for r in rows]
    return out


def text_table(header, rows):
    """The same as aligned plain text for the terminal: the first column
    left-aligned, the others right-aligned."""
    all_rows = [header] + rows
    n = max(len(r) for r in all_rows)
    w = [max(len(r[i]) for r in all_rows if i < len(r)) for i in range(n)]
    return ["".join(c.ljust(w[i]) if i == 0 else "  " + c.rjust(w[i])
                    for i, c in enumerate(r)) for r in all_rows]


def unit_of(name):
    """The unit of row @name in its step's table, from BENCHMARKS."""
    if name.startswith("fine.perf."):
        return name.rsplit(".", 1)[1] + " per fiber"
    for b in BENCHMARKS:
        for prefix, unit in b["units"]:
            if name.startswith(prefix) and unit:
                return unit
    return "ns per op"


def expected_rows(fg, step):
    """Rows a step prints, for the cells of a step that printed none."""
    bench = next((b for b in BENCHMARKS if b["name"] == step["group"]), None)
    if bench is None:
        return []
    kind = step["kind"]
    if kind == "weft" and "bench_perf.sh" in step["cmd"]:
        kind = "perf"
    return [r.format(F=fg.F, C=fg.C, W=fg.workers, tag=step["tag"])
            for r in bench["rows"].get(kind, [])]


def table_figure(v, name):
    """A row's median, min or max as its program printed it."""
    return "%.6g" % v if name.startswith("fine.perf.") else "%.1f" % v


def step_table(run, fg, i):
    """A step's table: its rows, and for a step that did not end well the
    rows it should have printed, saying why they are missing."""
    step = run.steps[i]
    miss = "not installed" if step["status"] == "not installed" \
        else "not run"
    rows = []
    for name in run.rows_of[i]:
        ratio = run.ratio.get(name)
        rows.append([name, str(run.iters[name]),
                     table_figure(run.med[name], name),
                     table_figure(run.min[name], name),
                     table_figure(run.max[name], name),
                     "%.2f" % ratio if ratio is not None else "-",
                     unit_of(name)])
    if step["status"] != "ok":
        for name in expected_rows(fg, step):
            if name not in run.rows_of[i]:
                rows.append([name] + [miss] * 5 + [unit_of(name)])
    return md_table(["name", "iters", "median", "min", "max", "ratio",
                     "unit"], rows)


def server_cells(entry):
    """ok runs, runs, rps (med, min, max), p50, p99 (med, min, max), cpu,
    client cpu of an echo or http row, as its script prints them."""
    p, figs = entry["params"], entry["figs"]

    def get(fig, key, form):
        v = figs.get(fig, {}).get(key)
        return form % v if v is not None else "failed"
    return [str(p["ok_runs"]), str(p["runs"]),
            get("rps", "median", "%.0f"), get("rps", "min", "%.0f"),
            get("rps", "max", "%.0f"), get("p50", "median", "%.0f"),
            get("p99", "median", "%.0f"), get("p99", "min", "%.0f"),
            get("p99", "max", "%.0f"), get("cpu", "median", "%.2f"),
            get("cli_cpu", "median", "%.0f")]


def echo_index(run):
    """Echo rows: servers and connection counts in the order they came,
    and (server, conns) -> entry."""
    servers, conns, rows = [], [], {}
    for entry in run.echo.values():
        s, c = entry["params"]["server"], str(entry["params"]["conns"])
        servers += [s] if s not in servers else []
        conns += [c] if c not in conns else []
        rows[s, c] = entry
    return servers, conns, rows


def echo_tables(run, fg):
    servers, conns, rows = echo_index(run)
    table = [[s, c] + server_cells(rows[s, c])
             for s in servers for c in conns if (s, c) in rows]
    if "go" not in servers and servers and run.m("peers") == "1":
        r = fg.why_not("echo.go.1000.rps")
        table += [["go", c] + [r] * 11 for c in conns]
    out = md_table(["server", "conns", "ok runs", "runs", "rps", "rps min",
                    "rps max", "p50 us", "p99 us", "p99 min", "p99 max",
                    "cpu s per M round trips", "client cpu %"], table)
    out += ["", "The client (weft-load, one worker) gets one of the machine's"
            " cores; its CPU in the window is the last column. Near 100%, the"
            " client is what limits a row's rate, and the server's CPU per "
            "round trip is the fairer comparison.", "",
            "Ratios of medians of this run: round trips per second (above 1:"
            " weft faster), p99 latency and server CPU per round trip (below"
            " 1: weft lower).", ""]
    ratios = []
    for w in ("weft", "weft.w1"):
        if w not in servers:
            continue
        for srv in ("epoll", "threads", "go"):
            if srv == "go" and run.m("peers") != "1":
                continue
            for c in conns:
                ratios.append(["%s/%s" % (w, srv), c] + [
                    fg.ratio_cell("echo.%s.%s.%s" % (w, c, k),
                                  "echo.%s.%s.%s" % (srv, c, k))
                    for k in ("rps", "p99", "cpu")])
    return out + md_table(["ratio", "conns", "rps", "p99", "cpu"], ratios)


def http_kind(path):
    return "hello" if path == "/" else "file"


def http_keys(run):
    """(server, path, conns) -> entry of the http rows, in their order."""
    return {(e["params"]["server"], e["params"]["path"],
             str(e["params"]["conns"])): e for e in run.http.values()}


def http_paths(run):
    paths = []
    for s, p, c in http_keys(run):
        paths += [p] if p not in paths else []
    return paths


def http_goal(fg, label, a, b, c, goal, way):
    """One goal line of the http tables: med(a) / med(b) at connections
    @c against @goal, "least", "most" or "below"."""
    v = div(fg.med.get(a), fg.med.get(b))
    if v is None:
        why = fg.why_not(b) if a in fg.med else fg.why_not(a)
        return [label, c, goal, why, "not measured"]
    ok = v < float(goal) if way == "below" else v <= float(goal) \
        if way == "most" else v >= float(goal)
    return [label, c, goal, fmt(v), "met" if ok else "NOT met"]


def http_cells(entry):
    """An http row's cells; a server that could not run says "not
    installed" in each."""
    if entry["params"].get("status") == "not installed":
        return ["not installed"] * 11
    return server_cells(entry)


def http_tables(run, fg):
    """The http step's tables: for each URL its rows, the ratios of its
    medians and its goals, at every connection count."""
    keys = http_keys(run)
    if not keys:
        return ["No rows: the step printed none (see Not measured)."]
    servers, conns = [], []
    for s, p, c in keys:
        servers += [s] if s not in servers else []
        conns += [c] if c not in conns else []
    out = []
    for path in http_paths(run):
        k = http_kind(path)
        if k == "hello":
            out.append('GET `%s`, the fixed "Hello, world!\\n" (14 bytes, '
                       'text/plain):' % path)
        else:
            out.append("GET `%s`, a 4,096-byte text file, the same for "
                       "every server:" % path)
        out.append("")
        rows = [[s, c] + http_cells(keys[s, path, c]) for s in servers
                for c in conns if (s, path, c) in keys]
        out += md_table(["server", "conns", "ok runs", "runs", "rps",
                         "rps min", "rps max", "p50 us", "p99 us", "p99 min",
                         "p99 max", "server cpu us per request",
                         "client cpu %"], rows)
        out += ["", "Ratios of medians of this run, GET `%s`: requests per "
                "second (above 1: the first faster), p99 latency and server "
                "CPU per request (below 1: the first lower)." % path, ""]
        ratios = []
        for pair in ("weft/nginx", "weft/go", "weft.epoll/nginx",
                     "weft.epoll/go", "weft/weft.epoll"):
            a, b = pair.split("/")
            if a not in servers or b not in servers:
                continue
            for c in conns:
                if (a, path, c) not in keys:
                    continue
                ratios.append([pair, c] + [
                    fg.ratio_cell("http.%s.%s.%s.%s" % (a, k, c, x),
                                  "http.%s.%s.%s.%s" % (b, k, c, x))
                    for x in ("rps", "p99", "cpu")])
        out += md_table(["ratio", "conns", "rps", "p99", "cpu"], ratios)
        out += ["", "Goals, GET `%s` (ratios of medians of this run):" % path,
                ""]
        goals = []
        for c in conns:
            if ("weft", path, c) not in keys:
                continue
            r = "http.%%s.%s.%s.%%s" % (k, c)
            goals += [
                http_goal(fg, "weft-http rps / nginx rps, at least",
                          r % ("weft", "rps"), r % ("nginx", "rps"), c, "1",
                          "least"),
                http_goal(fg, "weft-http rps / Go net/http rps, at least",
                          r % ("weft", "rps"), r % ("go", "rps"), c, "2",
                          "least"),
                http_goal(fg, "weft-http cpu per request, io_uring / epoll, "
                          "below", r % ("weft", "cpu"),
                          r % ("weft.epoll", "cpu"), c, "1", "below"),
                # Where wrk's one core limits the rate, the servers' rates
                # say little; their CPU per request is the rate each would
                # reach on equal server CPU.
                http_goal(fg, "weft-http cpu per request / nginx's, at most",
                          r % ("weft", "cpu"), r % ("nginx", "cpu"), c, "1",
                          "most"),
                http_goal(fg, "weft-http cpu per request / Go net/http's, at"
                          " most", r % ("weft", "cpu"), r % ("go", "cpu"), c,
                          "0.5", "most"),
            ]
        out += md_table(["goal", "conns", "goal", "measured", "status"],
                        goals)
        out.append("")
    out.append("wrk (one thread) runs on the last CPU, the servers on the "
               "others; its CPU is the last column. Near 100%, the client is "
               "what limits a row's rate, and the server's CPU per request is"
               " the fairer comparison.")
    return out


# The fine-grained tasks' section -----------------------------------------

def perf_rows(run, fg):
    """The counter table's rows, or None if a count is missing."""
    F, FW = fg.F, fg.FW
    rows = []
    for c, line in (("serial", "plain recursion, per call with n >= 2"),
                    ("nocutoff.1worker", "a fiber per call, 1 worker"),
                    ("nocutoff.%sworkers" % FW,
                     "a fiber per call, %s workers" % FW)):
        cells = [line]
        for e in ("cycles", "instructions", "cache-misses"):
            v = run.med.get("fine.perf.fib%s.%s.%s" % (F, c, e))
            if v is None:
                return None
            cells.append(fmt(v))
        ipc = div(run.med["fine.perf.fib%s.%s.instructions" % (F, c)],
                  run.med["fine.perf.fib%s.%s.cycles" % (F, c)])
        rows.append(cells + [fmt(ipc) if ipc is not None else "-"])
    return rows


def latency_table(run):
    """weft_stats' scheduling latency (ready to running) of each weft fine
    and echo row."""
    if not run.latency:
        return []
    return [
        "### Scheduling latency, ready to running (weft_stats): fine and "
        "echo rows", "",
        "How long a fiber waited between being made ready (spawned, woken,",
        "yielded) and running, one ready in 64 sampled: for the fine rows "
        "over",
        "the last run of each (its warm-up included), for the echo rows over"
        " the",
        "server's life (all the row's runs); p50 and p99 are histogram bucket",
        "bounds, at most a quarter over; max is exact.", ""] + md_table(
        ["row", "samples", "p50 (ns)", "p99 (ns)", "max (ns)"],
        [[o["name"], str(o["samples"]), str(o["p50_ns"]), str(o["p99_ns"]),
          str(o["max_ns"])] for o in run.latency]) + [""]


FINE_TEXT = """\
## Fine-grained tasks

No cutoffs: every task is a fiber, goroutine or Boost fiber of its own, in
the same shape on each runtime (bench/bench_fine.c, bench/peers/go/fine.go,
`boost-peer fine` in bench/peers/boost/boost_peer.cpp):

- **fib({F}), no cutoff**: every call with n >= 2 spawns a task for fib(n-1),
  computes fib(n-2) itself and joins the task: weft_spawn + weft_join; Go a
  goroutine sending on a channel of capacity 1 made per call; Boost.Fiber a
  fibers::fiber and join(). The plain recursion is the same fib({F}) without
  tasks, measured in this run; fib({F}) with sequential leaves at n <= 12 is
  the steal benchmark's (a task per call above n = 12 only).
- **skynet** ({Cw} leaves): a node spawns 10 tasks, each over a tenth of its
  leaves, waits for all ten and returns the sum of their results; a leaf
  returns its index; the sum is checked. weft: weft_join_all of the ten; Go:
  one sync.WaitGroup per node and a result slot per child; Boost.Fiber:
  join() of each in order.
- **spawn loop** ({Cw} tasks): Go's `wg.Add(1); go func(){{ wg.Done() }}()`,
  then `wg.Wait()`; weft: weft_wg_add + weft_go (a detached fiber, default
  stack) doing weft_wg_done, then weft_wg_wait. Tasks end while the rest are
  started, unlike spawn.million's, which all stay until their join.
- **alive at once** ({Cw} tasks): each task is done on a first wait group
  and blocks receiving from one unbuffered channel; once all are done there,
  the channel is closed, each task sees it closed, is done on a second wait
  group and ends; the spawner waits on that. weft with 2 KiB small stacks
  (WEFT_STACK_SMALL) and with the default stack; Go's goroutines have one
  kind. Each run in a fresh process on both, so that no run reuses the
  memory of another.

Every weft task in fib and skynet is spawned and joined; a weft_join (or
weft_join_all, which joins last to first) that finds its child not yet
started, at the bottom of its own worker's fork deque, runs it inline on
the joiner's stack, as Cilk does: weft's lazy children (weft_join in
weft.h). The benchmark does not choose that; a stolen child runs on a stack
of its own.

Boost.Fiber runs fib and skynet only: the spawn loop and the alive rows are
Go's shape around a wait group, which Boost.Fiber does not have.
"""


def fine_section(run, fg):
    if not wanted(run, "fine"):
        return []
    F = fg.F
    out = FINE_TEXT.format(F=F, Cw=fg.Cw).split("\n")
    cells = ["fib(%s) no cutoff, 1 worker / plain recursive fib(%s)" % (F, F)]
    for r in (fg.nc_1, fg.go_nc_1, fg.boost_nc_1):
        v = div(fg.med.get(r), fg.med.get(fg.nc_ser))
        cells.append(fmt(v) if v is not None else fg.why_not(r))
    out += md_table(["figure", "weft", "Go", "Boost.Fiber"], [cells]) + [""]
    out += latency_table(run)
    out += ["### Hardware counters per fiber: fib(%s), no cutoff" % F, ""]
    rows = perf_rows(run, fg)
    if run.m("perf_status") != "ok":
        out.append("Not measured: %s." % run.m("perf_status"))
    elif rows is None:
        out.append("Not measured: the perf step printed no counts (see Not "
                   "measured and its raw table).")
    else:
        out += ["`bench/bench_perf.sh` runs `perf stat -x, -e "
                "cycles,instructions,cache-misses`",
                "around `bench_fine --perf`: the counts of a process doing "
                "two fib(%s) passes" % F,
                "less those of one doing only the warm-up, over the fibers of "
                "the two passes;",
                "user and kernel, every thread; medians of %s runs."
                % run.m("slow_runs"), ""]
        out += md_table(["fib(%s)" % F, "cycles per fiber",
                         "instructions per fiber", "cache misses per fiber",
                         "instructions per cycle"], rows)
    return out + [""]


# The document -----------------------------------------------------------

def prog_name(group, kind):
    if group in SCRIPT_STEPS:
        return SCRIPT_STEPS[group]
    return {"weft": "bench_" + group, "go": "go-peer",
            "boost": "boost-peer"}[kind]


def not_measured(run, fg):
    """Why each thing the run left out has no figures."""
    m = run.m
    out = []
    for s in run.steps:
        if s["status"] == "ok":
            continue
        out.append("%s, %s (%s%s): %s: %s" % (
            KIND_TITLE[s["kind"]], s["group"], prog_name(s["group"], s["kind"]),
            " " + s["tag"] if s["tag"] else "", s["status"],
            s["reason"] or "no reason given"))
    left_out = [g for g in GROUPS if not wanted(run, g)]
    if left_out:
        out.append('left out with --only: %s (their cells say "not run")'
                   % ", ".join(left_out))
    if m("peers") == "0":
        out.append('Go and Boost.Fiber: left out with --no-peers (their cells'
                   ' say "not run")')
    if wanted(run, "http"):
        # The http step runs nginx and go-peer itself: no step of theirs
        # says why they are missing.
        if m("nginx_status") not in ("", "ok"):
            out.append("nginx, http (tools/bench-http.sh): %s"
                       % m("nginx_status"))
        if m("peers") == "1" and m("go_status") not in ("", "ok"):
            out.append("Go, http (go-peer http-server): %s" % m("go_status"))
    if wanted(run, "fine"):
        if m("perf_status") not in ("", "ok"):
            out.append("weft, fine (perf counters per fiber): %s"
                       % m("perf_status"))
        if fg.quick and m("peers") == "1":
            out.append("Boost.Fiber, fine (boost-peer fine): fib(%s) without"
                       " a cutoff is skipped in --quick: each run takes "
                       "seconds" % fg.F)
        if m("peers") == "1":
            out.append("Boost.Fiber, fine: no spawn loop and no alive rows: "
                       "both are Go's shape around a wait group, which "
                       'Boost.Fiber does not have (their cells say "-")')
    return out


def header_section(run, fg):
    m = run.m
    out = ["# weft benchmark report", "",
           "%s: `%s` on this machine. Cooperative switching between"
           % (m("date"), m("command")),
           "fibers against preemptive switching between OS threads, and weft"
           " against Go's",
           "goroutines and Boost.Fiber, measured side by side in this one "
           "run."]
    if m("slow_runs") in ("", m("runs")):
        out.append("Every figure is the median of %s runs (min and max in the"
                   " tables" % m("runs"))
    else:
        out += ["Every figure is the median of %s runs (%s for the memory,"
                % (m("runs"), m("slow_runs")),
                "fine-grained, echo and HTTP benchmarks, whose runs are long;"
                " min and max in the tables"]
    out += ["below); every ratio divides two medians of this run. Nothing "
            "here is typed in", "but the goals of the targets."]
    if fg.quick:
        out += ["", "**Quick mode** (`--quick`): few iterations, fib(%s) "
                "instead of fib(30), no" % fg.F,
                "1,000,000-task rows (the memory comparison is at %s tasks, "
                "skynet," % mem_words(fg.mem_c),
                "the spawn loop and the alive rows at %s), echo at 1,000 "
                "connections only," % fg.Cw,
                "1 s per echo run, HTTP GET / only at 1,000 connections, 1 s "
                "per wrk run.", "The figures are rough; run",
                "`tools/bench.sh` for the real report."]
    return out + [""]


def machine_section(run, charts_by):
    m = run.m
    go = m("go") if m("go_status") == "ok" else \
        "%s %s" % (m("go_status"), m("go"))
    if m("boost_status") == "ok":
        boost = "%s (Boost.Fiber, Boost.Context)" % m("boost")
    else:
        boost = m("boost_status") + (" (headers %s)" % m("boost")
                                     if m("boost") else "")
    secs = sum(float(s["secs"] or 0) for s in run.steps)
    out = ["## Machine", "",
           "- CPU: %s, %s online CPUs (%s cores, %s thread(s) per core), %s "
           "memory" % (m("cpu"), m("online_cpus"), m("cores"),
                       m("threads_per_core"), m("memory")),
           "- Kernel: %s; vm.max_map_count %s" % (m("kernel"),
                                                  m("max_map_count")),
           "- Compiler: %s%s" % (m("compiler"), "; C++: " + m("cxx")
                                 if m("cxx") else ""),
           "- Go: " + go, "- Boost: " + boost]
    if wanted(run, "http"):
        out.append("- HTTP: nginx %s; wrk %s" % (
            m("nginx") if m("nginx_status") == "ok" else m("nginx_status"),
            m("wrk") if m("wrk_status") == "ok" else m("wrk_status")))
    out += ["- Charts: %s" % charts_by,
            "- Build: `%s`, buildtype %s, sanitizer %s" % (
                m("build"), m("buildtype"), m("sanitize")),
            "- Workers for the multi-worker rows: %s; runs per figure: %s"
            % (m("workers"), m("runs")),
            "- Load average before the run: %s (other work on the machine "
            "skews every figure; compare ratios within one run)"
            % m("load_before"),
            "- Time: %.0f s measuring, %s s in all (with apt-get, the build "
            "and the Go peer's build)" % (secs, m("total_seconds")), ""]
    return out


SUMMARY_HEADER = ["figure", "unit", "weft", "plain C", "Go", "Boost.Fiber",
                  "edge over C", "edge over Go", "edge over Boost"]
TARGET_HEADER = ["target", "goal", "measured", "status"]
GOAL_HEADER = ["goal", "figure", "status"]


def count_status(rows, status):
    return sum(1 for r in rows if r[-1] == status)


def targets_section(run, tgts, goals):
    rows = [c for c, _ in tgts]
    out = ["## Targets", "",
           "%d of %d targets met, %d NOT met, %d not measured. The measured"
           % (count_status(rows, "met"), len(rows),
              count_status(rows, "NOT met"),
              count_status(rows, "not measured")),
           "column is this run's figure; a goal that names a peer is that "
           "peer's figure",
           "in this run. Targets 1 to 6 are the runtime's basic costs, 11a "
           "to 11h",
           "fine-grained tasks beside Go; they include a yield of at most 10"
           " ns (1a), a spawn + join of at most 50 ns",
           "(2a), a channel ping-pong at least 5 times Go's (5) and, with "
           "small stacks, no",
           "more bytes per parked fiber than Go's per goroutine (3a). h1 to "
           "h3 are the",
           "HTTP server's: weft-http on io_uring at least as many requests "
           "per second as",
           "nginx and twice Go's net/http, and less server CPU per request "
           "than on epoll",
           "(the HTTP tables give them at every connection count and for the"
           " file too).", ""]
    out += md_table(TARGET_HEADER, rows) + [""]
    conf = confidence_rows(run, tgts)
    if conf:
        out += ["Where one program measured both rows of a target's ratio in"
                " the same runs", "(each run measures every row once), the "
                "ratio of each run to its pair: min,", "median and max over "
                "the runs.", ""]
        out += md_table(["target", "min", "median", "max"], conf) + [""]
    if goals:
        out += ["### weft-http under hostile clients and the fuzzer", "",
                "%d of %d goals met. Judged by the step that measured them"
                % (count_status(goals, "met"), len(goals)),
                "(tools/bench-http-hostile.sh, tests/fuzz_http.sh); the "
                "figure is that step's.", ""]
        out += md_table(GOAL_HEADER, goals) + [""]
    return out


def raw_text(run, step):
    """A step's text output, as printed, or None."""
    path = os.path.join(run.out, step["file"])
    if step["file"] == "-" or not os.path.isfile(path):
        return None
    with open(path) as f:
        return f.read().rstrip("\n").split("\n")


def tables_section(run, fg):
    out = ["## Tables", "",
           "One section per benchmark, one table per program, in the order "
           "they ran.",
           "Each program's own notes (what is pinned, how figures are "
           "counted, its", "checks) follow its table."]
    for g in GROUPS:
        steps = [i for i, s in enumerate(run.steps) if s["group"] == g]
        if steps:
            out += ["", "### " + g]
        for i in steps:
            s = run.steps[i]
            out += ["", "**%s**: `%s` (%s, %s s)" % (
                KIND_TITLE[s["kind"]], s["cmd"], s["status"], s["secs"]), ""]
            if g == "echo":
                out += echo_tables(run, fg)
            elif g == "http":
                out += http_tables(run, fg)
            elif g not in ("hostile", "fuzz"):
                out += step_table(run, fg, i)
            if g in ("hostile", "fuzz"):
                # Their tables are their own, shown whole as printed.
                text = raw_text(run, s)
                if text is not None:
                    out += ["```"] + text + ["```"]
            elif run.notes_of[i]:
                out += ["", "```"] + ["# " + t if t else "#"
                                      for t in run.notes_of[i]] + ["```"]
    return out + [""]


def charts_section(drawn):
    out = ["## Charts", ""]
    for name, title in CHARTS:
        if name in drawn:
            out.append("![%s](%s.png)" % (title, name))
        else:
            out.append("%s: not drawn (see Not measured)." % title)
        out.append("")
    return out


def report(run, fg, drawn, chart_notes, charts_by):
    """REPORT.md's lines."""
    tgts = targets(fg)
    out = header_section(run, fg) + machine_section(run, charts_by)
    out += ["## Summary", "",
            "The edge columns say how many times better weft's figure is than"
            " the other's:",
            "the other's cost over weft's, or weft's round trips over the "
            "other's. Above 1",
            'favours weft. "plain C" is the same work without a runtime: OS '
            "threads and",
            "the kernel's futex, condvar, pipe and pthread_create, or the "
            "epoll and",
            "thread-per-connection echo servers; for HTTP it is nginx.", ""]
    out += md_table(SUMMARY_HEADER, summary_table(fg, run)) + [""]
    out += targets_section(run, tgts, step_goals(run))
    out += fine_section(run, fg)
    out += charts_section(drawn)
    out += tables_section(run, fg)
    nm = not_measured(run, fg) + chart_notes
    out += ["## Not measured", ""]
    if not nm:
        out.append("Everything ran.")
    out += ["- " + line for line in nm]
    if run.meta_notes:
        out += ["", "## Notes", ""] + ["- " + n for n in run.meta_notes]
    out += ["", "## Steps", "",
            "Raw outputs are in `raw/`: each step's text as printed "
            "(NN-....txt) and its", "JSON lines (NN-....jsonl), which this "
            "report is made from.", ""]
    out += md_table(["step", "benchmark", "command", "status", "seconds"],
                    [[s["n"], s["group"], s["cmd"], s["status"], s["secs"]]
                     for s in run.steps])
    return out


def console(run, fg, chart_notes):
    """The summary and the targets for the terminal."""
    tgts = [c for c, _ in targets(fg)]
    goals = step_goals(run)
    out = ["", "== summary (%s runs per figure; edge: how many times better "
           "weft is, above 1 favours weft)" % run.m("runs")]
    out += text_table(SUMMARY_HEADER, summary_table(fg, run))
    out += ["", "== targets: %d of %d met, %d NOT met, %d not measured" % (
        count_status(tgts, "met"), len(tgts), count_status(tgts, "NOT met"),
        count_status(tgts, "not measured"))]
    out += text_table(TARGET_HEADER, tgts)
    if goals:
        out += ["", "== weft-http under hostile clients and the fuzzer: %d of"
                " %d goals met" % (count_status(goals, "met"), len(goals))]
        out += text_table(GOAL_HEADER, goals)
    out += ["== not measured: " + line
            for line in not_measured(run, fg) + chart_notes]
    return out


def main(argv):
    if len(argv) == 2 and argv[1] == "--list-benchmarks":
        for b in BENCHMARKS:
            print(b["name"], int(b["workers"]), int(b["slow"]))
        return 0
    if len(argv) != 2 or not os.path.isfile(os.path.join(argv[1], "meta.txt")) \
            or not os.path.isfile(os.path.join(argv[1], "steps.tsv")):
        print("usage: tools/bench_report.py DIR (a tools/bench.sh --out DIR)",
              file=sys.stderr)
        return 2
    out = os.path.abspath(argv[1])
    run = Run(out)
    fg = Figures(run)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench_charts
    drawn, chart_notes, charts_by = bench_charts.draw_all(run, fg)
    with open(os.path.join(out, "REPORT.md"), "w") as f:
        f.write("\n".join(report(run, fg, drawn, chart_notes, charts_by))
                + "\n")
    print("\n".join(console(run, fg, chart_notes)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
