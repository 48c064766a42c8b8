#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A window of a WEFT_TRACE file as gnuplot data for trace.gp: one line a
run slice, "worker<TAB>start_us<TAB>end_us<TAB>rgb", times from the
window's start. The window is WINDOW_US long and starts where every
worker track has begun (the rings keep each worker's last events, so the
tracks start at different times). Usage: trace.py TRACE.json"""

import json
import sys

WINDOW_US = 10.0
# Eight colours, by fiber id modulo 8, so neighbouring fibers differ.
PALETTE = (0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728,
           0x9467bd, 0x8c564b, 0xe377c2, 0x17becf)

with open(sys.argv[1]) as f:
    events = json.load(f)["traceEvents"]
slices = [e for e in events if e["ph"] == "X"]
workers = sorted({e["tid"] for e in slices})
if not slices:
    sys.exit(0)
start = max(min(e["ts"] for e in slices if e["tid"] == w) for w in workers)
end = start + WINDOW_US
for e in slices:
    a, b = e["ts"], e["ts"] + e["dur"]
    if b < start or a > end:
        continue
    a, b = max(a, start), min(b, end)
    print("%d\t%.3f\t%.3f\t%d" % (e["tid"], a - start, b - start,
                                  PALETTE[e["args"]["fiber"] % 8]))
