# SPDX-License-Identifier: MIT
#
# Echo servers against connections, two panels: round trips per second
# and p99 latency (log scale), medians with min-to-max bars, for
# weft-echo (all workers on io_uring and on epoll and, in a full run, 1
# worker), the epoll and
# thread-per-connection servers and Go's net server. Data: echo-*.dat
# (conns, rps, min, max, p99, min, max) from tools/bench-report.sh.
# Each server's points sit a few per cent left or right of their
# connection count so that their bars do not hide each other.
load plotdir . "/common.gp"
if (nodata) {
	plot [0:1] [0:1] 2 notitle
} else {
	unset title
	set multiplot layout 1, 2 title chart_title
	set logscale x
	set xrange [60:16000]
	set xtics ("100" 100, "1,000" 1000, "10,000" 10000)
	set xlabel "connections (log scale)"
	set grid xtics ytics
	set key bottom left
	set ylabel "round trips per second"
	set yrange [0:*]
	set format y "%.0f"
	plot data . "/echo-weft.dat" using ($1 * 0.94):2:3:4 with yerrorlines lc rgb c_weft lw 2 pt 7 title "weft (io_uring)", \
	     data . "/echo-weft.epoll.dat" using ($1 * 0.91):2:3:4 with yerrorlines lc rgb "#8c564b" lw 2 pt 6 title "weft (epoll backend)", \
	     data . "/echo-weft.w1.dat" using ($1 * 0.97):2:3:4 with yerrorlines lc rgb "#17becf" lw 2 dt 2 pt 5 title t_w1, \
	     data . "/echo-epoll.dat" using 1:2:3:4 with yerrorlines lc rgb "#9467bd" lw 2 pt 13 title "epoll (1 thread)", \
	     data . "/echo-threads.dat" using ($1 * 1.03):2:3:4 with yerrorlines lc rgb c_os lw 2 pt 11 title "thread per connection", \
	     data . "/echo-go.dat" using ($1 * 1.06):2:3:4 with yerrorlines lc rgb c_peer lw 2 pt 9 title t_go
	set logscale y
	set yrange [*:*]
	set ylabel "p99 latency, us (log scale)"
	set key top left
	plot data . "/echo-weft.dat" using ($1 * 0.94):5:6:7 with yerrorlines lc rgb c_weft lw 2 pt 7 notitle, \
	     data . "/echo-weft.epoll.dat" using ($1 * 0.91):5:6:7 with yerrorlines lc rgb "#8c564b" lw 2 pt 6 notitle, \
	     data . "/echo-weft.w1.dat" using ($1 * 0.97):5:6:7 with yerrorlines lc rgb "#17becf" lw 2 dt 2 pt 5 notitle, \
	     data . "/echo-epoll.dat" using 1:5:6:7 with yerrorlines lc rgb "#9467bd" lw 2 pt 13 notitle, \
	     data . "/echo-threads.dat" using ($1 * 1.03):5:6:7 with yerrorlines lc rgb c_os lw 2 pt 11 notitle, \
	     data . "/echo-go.dat" using ($1 * 1.06):5:6:7 with yerrorlines lc rgb c_peer lw 2 pt 9 notitle
	unset multiplot
}
