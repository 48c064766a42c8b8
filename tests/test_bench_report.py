#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tools/bench_report.py on a run that never happened: tests/report/run is
a small tools/bench.sh --out DIR (meta.txt, steps.tsv, raw/*.jsonl) with
a target met (1a: an 8 ns yield), one NOT met (1b: a futex 50 times a
yield, not 100), a peer that is missing (Boost.Fiber: "not installed") and
a weft step that failed (bench_spawn: its rows and targets "not run").
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
        self.assertIn("2 of 30 targets met, 1 NOT met, 27 not measured. The "
                      "measured", self.md)
        self.assertIn("== targets: 2 of 30 met, 1 NOT met, 27 not measured",
                      self.out)

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
        self.assertIn("- left out with --only: memory, steal, fine, chan, "
                      "echo, http, hostile, fuzz (their cells say \"not "
                      "run\")", section(self.md, "## Not measured"))


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
