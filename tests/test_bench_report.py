#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tools/bench_report.py on a run that never happened: tests/report/run is
a small tools/bench.sh --out DIR (meta.txt, steps.tsv, raw/*.jsonl) with
targets met (1a: an 8 ns yield; 6b: echo 1.2 times epoll), targets NOT
met (1b: a futex 50 times a yield, not 100; 12c: 1.67 times epoll's CPU),
peers that are missing (Boost.Fiber, nginx: "not installed"), a weft step
that failed (bench_spawn: its rows and targets "not run"), an echo row
that failed, goals the hostile step judged and a fuzz step that could not
run.
The report is made in a copy of it, once with the charts and once with
matplotlib hidden, and REPORT.md is checked line by line. No benchmark
runs. Usage: test_bench_report.py (or python3 -m unittest)."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(TOP, "tests", "report", "run")
REPORT_PY = os.path.join(TOP, "tools", "bench_report.py")


def make_report(tmp, env=None):
    """Copy the fixture into @tmp, run the report on it; (exit status,
    console output, REPORT.md)."""
    run = os.path.join(tmp, "run")
    shutil.copytree(FIXTURE, run)
    p = subprocess.run([sys.executable, REPORT_PY, run], env=env,
                       capture_output=True, text=True)
    path = os.path.join(run, "REPORT.md")
    md = ""
    if os.path.exists(path):
        with open(path) as f:
            md = f.read()
    return p.returncode, p.stdout + p.stderr, md


def section(md, title):
    """The lines of section @title of REPORT.md (up to the next one of the
    same or a higher level)."""
    level = title.split(" ")[0]
    lines, inside, fence = [], False, False
    for line in md.split("\n"):
        if line == title:
            inside = True
            continue
        if line.startswith("```"):
            fence = not fence
        elif inside and not fence and line.startswith("#") and \
                line.split(" ")[0] in ("#", "##", level):
            break
        if inside:
            lines.append(line)
    return lines


class Report(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.rc, cls.out, cls.md = make_report(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_exit(self):
        self.assertEqual(self.rc, 0, self.out)

    def test_target_met(self):
        self.assertIn("| 1a. fiber switch (weft_yield ping-pong), ns, at "
                      "most | 10.0 | 8.00 | met |", self.md)
        self.assertIn("| 1d. Go Gosched / fiber switch (several times: 3), "
                      "at least | 3.00 | 7.00 | met |", self.md)

    def test_target_not_met(self):
        self.assertIn("| 1b. same-core futex ping-pong / fiber switch, at "
                      "least | 100 | 50.0 | NOT met |", self.md)

    def test_missing_peer(self):
        self.assertIn("| 1c. Boost.Fiber yield / fiber switch (several "
                      "times: 3), at least | 3.00 | not installed | not "
                      "measured |", self.md)
        self.assertIn("| switch: yield ping-pong vs futex, same core | ns "
                      "per switch | 8.00 | 400 | 56.0 | not installed | 50.0 "
                      "| 7.00 | not installed |", self.md)
        self.assertIn("- Boost.Fiber, switch (boost-peer): not installed: "
                      "package libboost-fiber-dev is missing",
                      section(self.md, "## Not measured"))

    def test_failed_step(self):
        self.assertIn("| 2a. fiber spawn + join (1 worker), ns, at most | "
                      "50.0 | not run | not measured |", self.md)
        spawn = section(self.md, "### spawn")
        self.assertIn("| spawn.join.1worker | not run | not run | not run | "
                      "not run | not run | ns per task |", spawn)
        self.assertIn("- weft, spawn (bench_spawn): failed: exit 1: bench: "
                      "FAILED: spawn.join.1worker: 3 fibers live after the "
                      "waits, want 1", section(self.md, "## Not measured"))

    def test_counts(self):
        self.assertIn("4 of 30 targets met, 2 NOT met, 24 not measured. The "
                      "measured", self.md)
        self.assertIn("== targets: 4 of 30 met, 2 NOT met, 24 not measured",
                      self.out)

    def test_echo(self):
        self.assertIn("| 6b. echo round trips per s at 1,000 connections, "
                      "weft / epoll, at least | 1.00 | 1.20 | met |", self.md)
        self.assertIn("| 12c. echo server CPU per round trip at 1,000 "
                      "connections, weft on io_uring / the epoll server, at "
                      "most | 1.00 | 1.67 | NOT met |", self.md)
        echo = section(self.md, "### echo")
        self.assertIn("| weft | 1000 | 5 | 5 | 120000 | 110000 | 130000 | "
                      "7000 | 18000 | 17000 | 19000 | 5.00 | 50 |", echo)
        self.assertIn("| threads | 1000 | 0 | 5 | failed | failed | failed | "
                      "failed | failed | failed | failed | failed | failed |",
                      echo)
        self.assertIn("| weft/threads | 1000 | not run | not run | not run |",
                      echo)

    def test_http(self):
        self.assertIn("| h1. HTTP GET / requests per s at 1,000 connections, "
                      "weft-http (io_uring) / nginx, at least | 1.00 | not "
                      "installed | not measured |", self.md)
        self.assertIn("| h3. HTTP GET / server CPU per request at 1,000 "
                      "connections, weft-http on io_uring / on epoll, below | "
                      "1.00 | 0.78 | met |", self.md)
        http = section(self.md, "### http")
        self.assertIn("| nginx | 1000 |" + " not installed |" * 11, http)
        self.assertIn("| weft/weft.epoll | 1000 | 1.67 | 0.69 | 0.78 |", http)
        self.assertIn("- nginx, http (tools/bench-http.sh): not installed: no"
                      " nginx command (package nginx)",
                      section(self.md, "## Not measured"))

    def test_step_goals(self):
        goals = section(self.md, "### weft-http under hostile clients and "
                        "the fuzzer")
        self.assertIn("1 of 3 goals met. Judged by the step that measured "
                      "them", goals)
        self.assertIn("| weft slowloris: wrk throughput beside 200 slow "
                      "connections (ratio >= 0.90) | 0.38 | NOT met |", goals)
        self.assertIn("| fuzz (tests/fuzz_http.sh) | not installed: no clang "
                      "command (packages clang and libclang-rt-14-dev) | not "
                      "measured |", goals)
        # The hostile step's own tables, whole, as it printed them.
        self.assertIn("weft 2000 ...", section(self.md, "### hostile"))

    def test_step_table(self):
        switch = section(self.md, "### switch")
        self.assertIn("| switch.yield | 200000 | 8.0 | 7.0 | 10.0 | 1.00 | "
                      "ns per switch |", switch)
        # The program's notes follow its table, as it printed them.
        self.assertIn("# pinned: switch.yield on cpu 1", switch)

    def test_paired_runs(self):
        # 1b's runs: 400/8, 450/10, 380/8, 420/7, 400/8.
        self.assertIn("| 1b | 45.0 | 50.0 | 60.0 |", self.md)

    def test_left_out(self):
        self.assertIn("- left out with --only: memory, steal, fine, chan "
                      "(their cells say \"not run\")",
                      section(self.md, "## Not measured"))


class ReportWithoutMatplotlib(unittest.TestCase):
    """A report without matplotlib: REPORT.md all the same, no chart, and
    why."""

    def test_no_charts(self):
        tmp = tempfile.mkdtemp()
        try:
            hide = os.path.join(tmp, "hide")
            os.makedirs(os.path.join(hide, "matplotlib"))
            with open(os.path.join(hide, "matplotlib", "__init__.py"),
                      "w") as f:
                f.write("raise ImportError('hidden by the test')\n")
            env = dict(os.environ, PYTHONPATH=hide)
            rc, out, md = make_report(tmp, env)
            self.assertEqual(rc, 0, out)
            self.assertIn("| 1b. same-core futex ping-pong / fiber switch, "
                          "at least | 100 | 50.0 | NOT met |", md)
            self.assertIn("Switch cost per mechanism: not drawn (see Not "
                          "measured).", md)
            self.assertIn("- matplotlib is not installed (package "
                          "python3-matplotlib): no charts (hidden by the "
                          "test)", section(md, "## Not measured"))
            self.assertFalse(os.path.exists(os.path.join(tmp, "run",
                                                         "switch.png")))
        finally:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    unittest.main()
