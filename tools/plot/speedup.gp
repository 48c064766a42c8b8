# SPDX-License-Identifier: MIT
#
# Speed-up against workers: the time on 1 worker over the time on maxw
# workers, for weft's fib and unbalanced tree (uts), Go's fib and
# Boost.Fiber's fib, against the ideal (speed-up = workers). Data:
# speedup-*.dat (workers, speed-up) from tools/bench-report.sh.
load plotdir . "/common.gp"
if (nodata) {
	plot [0:1] [0:1] 2 notitle
} else {
	set xrange [0.8 : maxw + 0.2]
	set yrange [0 : maxw + 0.5]
	set xtics 1
	set xlabel "workers (threads running tasks)"
	set ylabel "speed-up over 1 worker"
	set grid xtics ytics
	set key top left
	plot x with lines dt 2 lc rgb "gray" title "ideal", \
	     data . "/speedup-weft-fib.dat" using 1:2 with linespoints lc rgb c_weft lw 2 pt 7 title t_wfib, \
	     data . "/speedup-weft-uts.dat" using 1:2 with linespoints lc rgb "#17becf" lw 2 dt 2 pt 5 title t_wuts, \
	     data . "/speedup-go-fib.dat" using 1:2 with linespoints lc rgb c_peer lw 2 pt 9 title t_go, \
	     data . "/speedup-boost-fib.dat" using 1:2 with linespoints lc rgb "#ff7f0e" lw 2 pt 11 title t_boost
}
