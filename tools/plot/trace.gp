# SPDX-License-Identifier: MIT
#
# A picture of a trace (WEFT_TRACE): 10 us of fib without a cutoff, a row
# per worker, a box per fiber run slice, coloured by fiber id modulo 8
# (neighbouring fibers differ). Data: trace.dat from tools/plot/trace.py:
# worker, start (us), end (us), colour as 0xRRGGBB.
load plotdir . "/common.gp"
if (!nodata) {
	set xlabel "time in the window (us)"
	set ylabel "worker"
	set ytics 1
	set yrange [-0.6:*]
	set format y "%.0f"
	set offsets 0, 0, 0.6, 0
	set xrange [0:10]
	set grid xtics
	unset key
	set style fill solid 0.9 noborder
	plot data . "/trace.dat" using (($2 + $3) / 2):1:(($3 - $2) / 2):(0.38):4 \
	     with boxxyerror lc rgb variable
} else {
	plot [0:1] [0:1] 2 notitle
}
