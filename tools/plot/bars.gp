# SPDX-License-Identifier: MIT
#
# A bar per figure on a log scale, coloured by kind, with min-to-max
# error bars and the median above each bar; loaded by switch.gp and
# spawn.gp after they set bars (the data file) and ylabel. Columns:
# label, median, min, max, class (0 weft, 1 Go or Boost, 2 OS threads);
# a figure that is missing is NaN, and its label says why.
if (nodata) {
	plot [0:1] [0:1] 2 notitle
} else {
	set logscale y
	set yrange [1:*]
	set ylabel ylabel
	set style fill solid 0.85 border -1
	set boxwidth 0.65
	set xtics nomirror rotate by -25 left
	set ytics nomirror
	set format y "%.0f"
	set grid ytics
	# The title at the top, the key under it, the bars below both.
	unset title
	set label 10 chart_title at screen 0.5, 0.975 center
	set tmargin 5.5
	set key at screen 0.5, 0.94 center top horizontal maxrows 2
	set bmargin 7
	plot bars using 0:($5 == 0 ? $2 : 1/0):xtic(1) with boxes lc rgb c_weft title "weft fibers (user-space, cooperative)", \
	     '' using 0:($5 == 1 ? $2 : 1/0) with boxes lc rgb c_peer title "Go goroutines, Boost fibers (user-space)", \
	     '' using 0:($5 == 2 ? $2 : 1/0) with boxes lc rgb c_os title "OS threads (kernel, preemptive)", \
	     '' using 0:2:3:4 with yerrorbars lc rgb "black" pt 0 title "min to max of the runs", \
	     '' using 0:4:(lbl($2)) with labels offset 0, 0.8 notitle
}
