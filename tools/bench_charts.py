# SPDX-License-Identifier: MIT
"""The charts of the benchmark report, drawn with matplotlib (Debian's
python3-matplotlib) into DIR/*.png: switch and spawn costs as bars on a
log scale, memory per parked task and the speed-up against workers as
lines, the echo servers' round trips and p99 latency, and 10 us of a
WEFT_TRACE file. tools/bench_report.py calls draw_all(); every figure
comes from its Run, and a chart without data says "no data" and why.
Without matplotlib no chart is drawn and the report says why.
"""

import json
import os

# Colours: weft; other user-space runtimes (Go, Boost); OS threads.
C_WEFT, C_PEER, C_OS = "#1f77b4", "#2ca02c", "#d62728"
# A trace's boxes, by fiber id modulo 8, so that neighbouring fibers differ.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
           "#9467bd", "#8c564b", "#e377c2", "#17becf")
TRACE_WINDOW_US = 10.0
COUNTS = (("10k", 10000), ("100k", 100000), ("1m", 1000000))


def draw_all(run, fg):
    """Draw every chart of bench_report.CHARTS; returns the names drawn,
    the notes on those that could not be, and what drew them."""
    from bench_report import CHARTS, fmt
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        return set(), ["matplotlib is not installed (package "
                       "python3-matplotlib): no charts (%s)" % e], \
            "not drawn: no matplotlib"
    draw = {"switch": draw_switch, "spawn": draw_spawn,
            "memory": draw_memory, "speedup": draw_speedup,
            "echo": draw_echo, "trace": draw_trace}
    drawn, notes = set(), []
    for name, title in CHARTS:
        path = os.path.join(run.out, name + ".png")
        if os.path.exists(path):
            os.remove(path)
        fig = plt.figure(figsize=(9.6, 5.6), dpi=100)
        try:
            if not draw[name](fig, run, fg, fmt):
                no_data(fig)
            fig.suptitle(title)
            fig.savefig(path)
            drawn.add(name)
        except Exception as e:  # a chart that fails leaves the report whole
            notes.append("matplotlib failed on %s.png: %s: %s"
                         % (name, type(e).__name__, e))
        plt.close(fig)
    return drawn, notes, "matplotlib " + matplotlib.__version__


def no_data(fig):
    fig.clf()
    fig.text(0.5, 0.5, "no data", ha="center", va="center", fontsize=24)
    fig.text(0.5, 0.42, "(see Not measured in REPORT.md)", ha="center")


def bars(fig, run, fg, fmt, items, ylabel):
    """A bar per (label, row, class) on a log scale, coloured by class (0
    weft, 1 Go or Boost, 2 OS threads), min-to-max error bars and the
    median above each; a missing figure's label says why. False if no
    figure is there."""
    if not any(row in run.med for _, row, _ in items):
        return False
    ax = fig.add_subplot(111)
    colours = (C_WEFT, C_PEER, C_OS)
    labels = []
    for x, (label, row, cls) in enumerate(items):
        if row not in run.med:
            labels.append("%s\n(%s)" % (label, fg.why_not(row)))
            continue
        labels.append(label)
        med, lo, hi = run.med[row], run.min[row], run.max[row]
        ax.bar(x, med, 0.65, color=colours[cls], edgecolor="black")
        ax.errorbar(x, med, yerr=[[med - lo], [hi - med]], color="black",
                    capsize=3)
        ax.annotate(fmt(med), (x, hi), textcoords="offset points",
                    xytext=(0, 4), ha="center", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_xticks(range(len(items)))
    ax.set_xticklabels(labels, rotation=-25, ha="left", fontsize=8)
    ax.grid(axis="y", alpha=0.4)
    from matplotlib.patches import Patch
    ax.legend(handles=[
        Patch(color=C_WEFT, label="weft fibers (user-space, cooperative)"),
        Patch(color=C_PEER, label="Go goroutines, Boost fibers (user-space)"),
        Patch(color=C_OS, label="OS threads (kernel, preemptive)")],
        loc="upper center", bbox_to_anchor=(0.5, 1.12), ncol=3, fontsize=8)
    fig.subplots_adjust(bottom=0.25, top=0.82)
    return True


def draw_switch(fig, run, fg, fmt):
    return bars(fig, run, fg, fmt, [
        ("weft raw switch", "switch.raw", 0),
        ("weft yield", "switch.yield", 0),
        ("Boost context switch", "boost.context.switch", 1),
        ("Boost.Fiber yield", "boost.fiber.yield", 1),
        ("Go Gosched", "go.gosched", 1),
        ("futex, same core", "switch.futex.same", 2),
        ("futex, two cores", "switch.futex.cross", 2),
        ("mutex + condvar", "switch.condvar", 2),
        ("pipe", "switch.pipe", 2)], "ns per switch (log scale)")


def draw_spawn(fig, run, fg, fmt):
    C = fg.C
    return bars(fig, run, fg, fmt, [
        ("weft spawn+join\n1 worker", "spawn.join.1worker", 0),
        ("weft spawn+join\nall workers", "spawn.join.allworkers", 0),
        ("weft %s alive\nthen joined" % fg.mshort, "spawn.million.1worker", 0),
        ("weft spawn\nloop %s" % C, fg.loop_w, 0),
        ("weft %s alive\nsmall stacks" % C, fg.alive_s, 0),
        ("weft %s alive\ndefault stacks" % C, fg.alive_d, 0),
        ("Boost.Fiber\nspawn+join", "boost.fiber.spawn.join", 1),
        ("Go go+WaitGroup", "go.spawn.join", 1),
        ("Go spawn\nloop %s" % C, fg.go_loop_w, 1),
        ("Go %s alive" % C, fg.go_alive, 1),
        ("pthread_create\n+join", "spawn.pthread", 2)],
        "ns per task (log scale)")


def series(run, prefix):
    """(count, median, min, max) of rows PREFIX10k, PREFIX100k, PREFIX1m."""
    return [(n, run.med[prefix + c], run.min[prefix + c], run.max[prefix + c])
            for c, n in COUNTS if prefix + c in run.med]


def line(ax, pts, label, colour, style="-"):
    """Medians joined by a line, with min-to-max bars; a dashed line's
    points are larger rings, so that one on another still shows."""
    xs = [p[0] for p in pts]
    meds = [p[1] for p in pts]
    err = [[p[1] - p[2] for p in pts], [p[3] - p[1] for p in pts]]
    ring = {"markerfacecolor": "none", "markersize": 10} if style == "--" \
        else {}
    ax.errorbar(xs, meds, yerr=err, label=label, color=colour,
                linestyle=style, marker="o", capsize=3, **ring)


def titled(pts, name, fg, row):
    """A series' legend title: its name, or why it has no points."""
    return name if pts else "%s (%s)" % (name, fg.why_not(row))


def draw_memory(fig, run, fg, fmt):
    lines = [("memory.fiber.", "weft fibers, default stack", C_WEFT, "-"),
             ("memory.fiber.small.", "weft fibers, 2 KiB small stacks",
              "#17becf", "-"),
             ("go.memory.parked.", "Go goroutines", C_PEER, "-"),
             ("memory.pthread.", "pthreads, default stack", C_OS, "-"),
             ("memory.pthread.64k.", "pthreads, 64 KiB stacks", "#ff7f0e",
              "--")]
    data = [(series(run, p), p, name, c, s) for p, name, c, s in lines]
    if not any(pts for pts, *_ in data):
        return False
    ax = fig.add_subplot(111)
    for pts, prefix, name, colour, style in data:
        label = titled(pts, name, fg, prefix + "10k")
        if pts:
            line(ax, pts, label, colour, style)
        else:
            ax.plot([], [], label=label, color=colour, linestyle=style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("tasks parked at once (log scale)")
    ax.set_ylabel("bytes per task (log scale)")
    ax.grid(alpha=0.4)
    ax.legend(fontsize=8)
    return True


def draw_speedup(fig, run, fg, fmt):
    W = fg.W

    def sx(v):
        return ": %sx on %s" % (fmt(v), W) if v is not None else ""
    lines = [(fg.fib_1, fg.fib_w, "weft fib(%s), cutoff 12" % fg.F, C_WEFT),
             ("steal.uts.1worker", fg.uts_w, "weft uts", "#17becf"),
             (fg.go_fib_1, fg.go_fib_w, "Go fib(%s), cutoff 12" % fg.F,
              C_PEER),
             (fg.boost_fib_1, fg.boost_fib_w,
              "Boost.Fiber fib(%s), cutoff 12" % fg.F, "#ff7f0e")]
    sps = [(fg.speedup(one, multi), one, multi, name, c)
           for one, multi, name, c in lines]
    if all(sp is None for sp, *_ in sps):
        return False
    ax = fig.add_subplot(111)
    for sp, one, multi, name, colour in sps:
        # The legend carries each speed-up: labels by the points overlap.
        label = name + sx(sp) if sp is not None else \
            "%s (%s)" % (name, fg.why_not(one))
        n = int("".join(ch for ch in multi.rsplit(".", 1)[1] if ch.isdigit()))
        pts = [(1, 1), (n, sp)] if sp is not None else []
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o",
                label=label, color=colour)
    ax.plot([1, int(W)], [1, int(W)], color="grey", linestyle=":",
            label="linear")
    ax.set_xlabel("workers")
    ax.set_ylabel("speed-up over 1 worker")
    ax.set_xticks(range(1, int(W) + 1))
    ax.grid(alpha=0.4)
    ax.legend(fontsize=8, loc="upper left")
    return True


def draw_echo(fig, run, fg, fmt):
    """Two panels, round trips per second and p99 latency against
    connections, each server's points a few per cent apart so that their
    bars do not hide each other."""
    servers = [("weft", "weft (io_uring)", C_WEFT, 0.94),
               ("weft.epoll", "weft (epoll backend)", "#8c564b", 0.91),
               ("weft.w1", "weft, 1 worker", "#17becf", 0.97),
               ("epoll", "epoll (1 thread)", "#9467bd", 1.0),
               ("threads", "thread per connection", C_OS, 1.03),
               ("go", "go (net, goroutines)", C_PEER, 1.06)]
    conns = sorted({int(e["params"]["conns"]) for e in run.echo.values()})

    def pts(srv, fig_name):
        out = []
        for c in conns:
            row = "echo.%s.%d.%s" % (srv, c, fig_name)
            if row in run.med:
                out.append((c, run.med[row], run.min[row], run.max[row]))
        return out
    if not any(pts(s, "rps") for s, *_ in servers):
        return False
    fig.subplots_adjust(wspace=0.3)
    rps_ax = fig.add_subplot(121)
    p99_ax = fig.add_subplot(122)
    for srv, name, colour, shift in servers:
        rps = [(c * shift, m, lo, hi) for c, m, lo, hi in pts(srv, "rps")]
        p99 = [(c * shift, m, lo, hi) for c, m, lo, hi in pts(srv, "p99")]
        label = name
        if not rps and srv == "weft.w1":
            label += " (full run only)" if fg.quick else " (not run)"
        elif not rps and srv == "go":
            label += " (%s)" % fg.why_not("echo.go.1000.rps")
        if rps:
            line(rps_ax, rps, label, colour)
            line(p99_ax, p99, None, colour)
        else:
            rps_ax.plot([], [], label=label, color=colour)
    for ax in (rps_ax, p99_ax):
        ax.set_xscale("log")
        ax.set_xlim(60, 16000)
        ax.set_xticks([100, 1000, 10000])
        ax.set_xticklabels(["100", "1,000", "10,000"])
        ax.set_xlabel("connections (log scale)")
        ax.grid(alpha=0.4)
    rps_ax.set_ylim(bottom=0)
    rps_ax.set_ylabel("round trips per second")
    rps_ax.legend(fontsize=7, loc="lower left")
    p99_ax.set_yscale("log")
    p99_ax.set_ylabel("p99 latency, us (log scale)")
    return True


def trace_boxes(path):
    """A window of a WEFT_TRACE file: (worker, start_us, end_us, fiber) per
    run slice, times from the window's start. The window starts where
    every worker track has begun (the rings keep each worker's last
    events, so the tracks start at different times)."""
    with open(path) as f:
        slices = [e for e in json.load(f)["traceEvents"] if e["ph"] == "X"]
    if not slices:
        return []
    workers = {e["tid"] for e in slices}
    start = max(min(e["ts"] for e in slices if e["tid"] == w)
                for w in workers)
    end = start + TRACE_WINDOW_US
    boxes = []
    for e in slices:
        a, b = e["ts"], e["ts"] + e["dur"]
        if b < start or a > end:
            continue
        boxes.append((e["tid"], max(a, start) - start, min(b, end) - start,
                      e["args"]["fiber"]))
    return boxes


def draw_trace(fig, run, fg, fmt):
    path = os.path.join(run.out, "raw", "trace-fib.json")
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        return False
    boxes = trace_boxes(path)
    if not boxes:
        return False
    ax = fig.add_subplot(111)
    for worker, a, b, fiber in boxes:
        ax.barh(worker, b - a, 0.76, left=a, color=PALETTE[fiber % 8])
    ax.set_xlim(0, TRACE_WINDOW_US)
    ax.set_xlabel("time in the window (us)")
    ax.set_ylabel("worker")
    ax.set_yticks(sorted({w for w, *_ in boxes}))
    ax.grid(axis="x", alpha=0.4)
    return True
