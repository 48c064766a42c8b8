# SPDX-License-Identifier: MIT
#
# Resident memory per parked task against the number of tasks, log-log:
# weft with its default and with 2 KiB small stacks, Go goroutines, pthreads
# with the default and with 64 KiB stacks. Data: memory-*.dat (count,
# median, min, max) from tools/bench-report.sh; t_* are the legend
# titles, which say why a series has no points.
load plotdir . "/common.gp"
if (nodata) {
	plot [0:1] [0:1] 2 notitle
} else {
	set logscale xy
	set xrange [5000:2000000]
	set xtics ("10,000" 10000, "100,000" 100000, "1,000,000" 1000000)
	set xlabel "tasks parked at once (log scale)"
	set ylabel "resident bytes per task (log scale)"
	set grid xtics ytics
	set key top right
	plot data . "/memory-weft.dat" using 1:2:3:4 with yerrorlines lc rgb c_weft lw 2 pt 7 title t_weft, \
	     data . "/memory-small.dat" using 1:2:3:4 with yerrorlines lc rgb "#17becf" lw 2 dt 2 pt 5 title t_small, \
	     data . "/memory-go.dat" using 1:2:3:4 with yerrorlines lc rgb c_peer lw 2 pt 9 title t_go, \
	     data . "/memory-pthread.dat" using 1:2:3:4 with yerrorlines lc rgb c_os lw 2 pt 11 title t_pth, \
	     data . "/memory-pthread64k.dat" using 1:2:3:4 with yerrorlines lc rgb "#ff7f0e" lw 2 dt 2 pt 13 title t_pth64, \
	     data . "/memory-weft.dat" using 1:2:(lbl($2)) with labels offset 0, -1 tc rgb c_weft notitle, \
	     data . "/memory-go.dat" using 1:2:(lbl($2)) with labels offset 0, -1 tc rgb c_peer notitle, \
	     data . "/memory-pthread.dat" using 1:2:(lbl($2)) with labels offset 0, 1 tc rgb c_os notitle
}
