# SPDX-License-Identifier: MIT
#
# Switch cost per mechanism, ns per switch on a log scale: weft's raw
# context switch and yield, Boost's, Go's Gosched, and two OS threads
# handing a turn back and forth (futex on one core and on two, condvar,
# pipe). Data: switch.dat from tools/bench-report.sh.
load plotdir . "/common.gp"
bars = data . "/switch.dat"
ylabel = "ns per switch (log scale)"
load plotdir . "/bars.gp"
