# SPDX-License-Identifier: MIT
#
# Shared by every chart of tools/bench-report.sh: the PNG terminal, the
# output file, tab-separated data and the "no data" page. The caller sets
# term ('pngcairo' or 'png'), out (the PNG), data (the data directory),
# nodata (1: draw only "no data") and chart_title.
if (term eq "pngcairo") {
	set terminal pngcairo size 960,560 enhanced font "sans,10"
} else {
	set terminal png size 960,560 enhanced
}
set output out
set datafile separator "\t"
set title chart_title
# Colours: weft; other user-space runtimes (Go, Boost); OS threads.
c_weft = "#1f77b4"
c_peer = "#2ca02c"
c_os = "#d62728"
# A figure as a bar label: about three significant digits.
lbl(x) = x >= 100 ? sprintf("%.0f", x) : (x >= 10 ? sprintf("%.1f", x) : sprintf("%.2f", x))
if (nodata) {
	unset border
	unset tics
	unset key
	set label 1 "no data" at graph 0.5, 0.5 center font ",24"
	set label 2 "(see Not measured in REPORT.md)" at graph 0.5, 0.42 center
}
