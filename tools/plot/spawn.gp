# SPDX-License-Identifier: MIT
#
# Spawn + join cost, ns per task on a log scale: weft (1 worker, all
# workers, a million at once), Boost.Fiber, Go, pthread_create + join.
# Data: spawn.dat from tools/bench-report.sh.
load plotdir . "/common.gp"
bars = data . "/spawn.dat"
ylabel = "ns per task (log scale)"
load plotdir . "/bars.gp"
