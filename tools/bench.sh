#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The benchmark report: cooperative switching between fibers against
# preemptive switching between OS threads, spawn cost, and weft-echo
# against an epoll and a thread-per-connection echo server
# (tools/bench-echo.sh), measured side by side in one run on this
# machine. Installs what it needs with apt-get, builds a release build,
# runs each benchmark (every figure a median of several runs, with min
# and max), prints the tables and writes bench/results/<date>/REPORT.md.
#
# Usage: tools/bench.sh [--quick] [--out DIR] [--runs N] [--only NAME[,NAME]]
#   --quick   few iterations; the whole run takes under a minute
#   --out     where REPORT.md goes (default bench/results/<date>)
#   --runs    runs per figure (default 7, at least 5; echo with --quick: 5)
#   --only    benchmarks to run: switch, spawn, echo (default: all)
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)

quick=""
runs=7
runs_set=""
out=""
only="switch,spawn,echo"
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick="--quick" ;;
	--out) out=$2; shift ;;
	--runs) runs=$2; runs_set=1; shift ;;
	--only) only=$2; shift ;;
	-h|--help) sed -n '3,16p' "$0"; exit 0 ;;
	*) echo "tools/bench.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
if [ "$runs" -lt 5 ]; then
	echo "tools/bench.sh: --runs must be at least 5" >&2
	exit 2
fi

need_pkgs=(meson ninja-build pkg-config gcc liburing-dev libck-dev)
missing=()
for p in "${need_pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "== installing: ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

dir="$top/build-bench"
echo "== building (release)"
if [ -d "$dir" ]; then
	meson setup --reconfigure "$dir" >/dev/null
else
	meson setup "$dir" --buildtype=release -Dtests=false >/dev/null
fi
ninja -C "$dir" >/dev/null

date=$(date -u +%Y-%m-%d)
[ -n "$out" ] || out="$top/bench/results/$date"
mkdir -p "$out"
report="$out/REPORT.md"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
{
	echo "# weft benchmark report, $date"
	echo
	echo "Machine: ${cpu:-unknown CPU}, $(nproc) online CPUs, kernel $(uname -r), $(gcc --version | head -1)."
	echo "Every figure is the median of $runs runs (min and max beside it), all measured in this one run."
	[ -n "$quick" ] && echo "Quick mode: few iterations; figures are rough."
	echo
} >"$report"

IFS=, read -r -a names <<<"$only"
for name in "${names[@]}"; do
	if [ "$name" = echo ]; then
		# Servers and load generator run as separate processes. Each
		# echo run takes a second even in quick mode, so quick mode
		# keeps to the fewest runs unless --runs says otherwise.
		echo_runs=$runs
		[ -n "$quick" ] && [ -z "$runs_set" ] && echo_runs=5
		cmd="tools/bench-echo.sh --build build-bench --runs $echo_runs $quick"
		echo "== $name: $cmd"
		table=$(tools/bench-echo.sh --build "$dir" --runs "$echo_runs" $quick)
	else
		exe="$dir/bench/bench_$name"
		if [ ! -x "$exe" ]; then
			echo "tools/bench.sh: no benchmark named $name" >&2
			exit 2
		fi
		cmd="build-bench/bench/bench_$name --runs $runs $quick"
		echo "== $name: $cmd"
		table=$("$exe" --runs "$runs" $quick)
	fi
	echo "$table"
	{
		echo "## $name"
		echo
		echo "Command: \`$cmd\`"
		echo
		echo '```'
		echo "$table"
		echo '```'
		echo
	} >>"$report"
done
echo "== report: $report"
