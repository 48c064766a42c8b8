#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Hardware counters per fiber for fib without a cutoff (bench_fine's
# fine.fib<F>.nocutoff rows), on 1 worker and on W, beside the plain
# recursion: perf stat -x, -e cycles,instructions,cache-misses around
# bench_fine --perf, in the row format of bench/bench_common.h:
#
#   fine.perf.fib<F>.serial.<event>              per call with n >= 2 of
#                                                 the plain recursion
#   fine.perf.fib<F>.nocutoff.1worker.<event>    per fiber, workers = 1
#   fine.perf.fib<F>.nocutoff.<W>workers.<event> per fiber, W workers
#
# Each run starts, for each of the three, one process doing a warm-up
# and PASSES fib(F) (2) and one doing the warm-up only, both under perf
# stat, and takes the difference over the fibers of the PASSES (fib(F + 1)
# - 1 a pass, 1,346,268 for fib(30)): what start-up, the warm-up and the
# shutdown cost cancels out. Counts are of the whole process, user and
# kernel, every thread. Rows are the median, min and max over the runs;
# iters is fibers per pass; ratio "-". --quick computes fib(25).
#
# Usage: bench/bench_perf.sh BENCH_FINE [--runs N] [--quick] [--workers W]
#   BENCH_FINE is the built bench_fine; N >= 5 (default 7, 5 with
#   --quick); W defaults to nproc. The events are BENCH_PERF_EVENTS if
#   set (to try this script where the hardware counters are missing:
#   BENCH_PERF_EVENTS=task-clock,page-faults).
# Exits 0, 1 if perf or bench_fine fails or a counter is not counted, 2 on
# bad arguments.
set -u
. "$(dirname "$0")/../tools/bench-json.sh"
bench_json_prog=bench_perf.sh
# The rows' JSON objects are this script's: bench_fine under perf writes
# none.
json_file=${WEFT_BENCH_JSON:-}
unset WEFT_BENCH_JSON
usage() {
	echo "usage: $0 BENCH_FINE [--runs N] [--quick] [--workers W]" >&2
	exit 2
}
[ $# -ge 1 ] || usage
exe=$1
shift
runs="" quick="" workers=$(nproc)
while [ $# -gt 0 ]; do
	case "$1" in
	--runs) [ $# -ge 2 ] || usage; runs=$2; shift ;;
	--workers) [ $# -ge 2 ] || usage; workers=$2; shift ;;
	--quick) quick=--quick ;;
	-h|--help) usage ;;
	*) usage ;;
	esac
	shift
done
[ -n "$runs" ] || { [ -n "$quick" ] && runs=5 || runs=7; }
[ "$runs" -ge 5 ] 2>/dev/null || usage
[ "$workers" -ge 1 ] 2>/dev/null || usage
[ -x "$exe" ] || { echo "$0: $exe is not an executable" >&2; exit 2; }
events=${BENCH_PERF_EVENTS:-cycles,instructions,cache-misses}
passes=2
F=30
[ -n "$quick" ] && F=25
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cfgs=("serial 1" "fib 1")
names=("fine.perf.fib$F.serial" "fine.perf.fib$F.nocutoff.1worker")
if [ "$workers" -gt 1 ]; then
	cfgs+=("fib $workers")
	names+=("fine.perf.fib$F.nocutoff.${workers}workers")
fi

# Counts of one process under perf stat, as "event value" lines, and the
# calls it reports in $tmp/calls.
count() {
	local kind=$1 w=$2 p=$3
	if ! perf stat -x, -e "$events" -o "$tmp/perf.csv" -- \
		"$exe" --perf "$kind" "$w" "$p" $quick >"$tmp/out" 2>"$tmp/err"; then
		echo "$0: perf stat ... $(basename "$exe") --perf $kind $w $p failed:" >&2
		cat "$tmp/err" "$tmp/perf.csv" >&2
		exit 1
	fi
	sed -n 's/^calls=//p' "$tmp/out" >"$tmp/calls"
	awk -F, '!/^#/ && NF >= 3 {
		if ($1 !~ /^[0-9.]+$/) {
			printf "%s: %s\n", $3, $1 > "/dev/stderr"
			bad = 1
		}
		print $3, $1
	} END { exit bad }' "$tmp/perf.csv" || {
		echo "$0: perf could not count $events" >&2
		exit 1
	}
}

: >"$tmp/samples"
for ((r = 0; r < runs; r++)); do
	for i in "${!cfgs[@]}"; do
		read -r kind w <<<"${cfgs[i]}"
		count "$kind" "$w" "$passes" >"$tmp/with"
		calls=$(cat "$tmp/calls")
		count "$kind" "$w" 0 >"$tmp/base"
		# name.event per-call value
		awk -v n="${names[i]}" -v calls="$calls" '
			NR == FNR { base[$1] = $2; next }
			{ printf "%s.%s %.9g\n", n, $1, ($2 - base[$1]) / calls }
		' "$tmp/base" "$tmp/with" >>"$tmp/samples"
	done
done

fibers=$(awk -v f="$F" 'BEGIN { a = 0; b = 1; for (i = 0; i < f + 1; i++) { t = a + b; a = b; b = t } print a - 1 }')
export WEFT_BENCH_JSON=$json_file
bench_note "bench_perf: $(perf --version 2>/dev/null); events $events; $runs runs; bench_fine --perf, $passes passes of fib($F) less the warm-up alone"
bench_note "per fiber: the counts of the whole process (user and kernel, every thread) over the $fibers fibers of a fib($F) pass; serial: per call with n >= 2 of the plain recursion"
bench_note "runs=$runs${quick:+ quick}; figures are counts per fiber over the runs; ratio: -"
bench_note "$(printf '%-22s %10s %10s %10s %10s %8s' name iters median min max ratio)"
# Rows in the order the samples came in: configuration, then event; each
# also as a JSON row object (bench-json.sh's shape) if WEFT_BENCH_JSON is
# set, its runs in run order.
awk -v it="$fibers" -v json="$json_file" -v prog="$bench_json_prog" \
	-v jruns="$runs" -v jquick="${quick:+true}" '
	!($1 in k) { order[++nk] = $1 }
	{ v[$1, ++k[$1]] = $2 }
	END {
		for (o = 1; o <= nk; o++) {
			key = order[o]
			n = k[key]
			for (i = 1; i <= n; i++)
				s[i] = v[key, i]
			for (i = 1; i <= n; i++)
				for (j = i + 1; j <= n; j++)
					if (s[j] < s[i]) { t = s[i]; s[i] = s[j]; s[j] = t }
			med = n % 2 ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2
			printf "  %-22s %10d %10.6g %10.6g %10.6g %8s\n", key, it, med, s[1], s[n], "-"
			if (json == "")
				continue
			ev = key
			sub(/.*\./, "", ev)
			runs_s = ""
			for (i = 1; i <= n; i++)
				runs_s = runs_s (i > 1 ? ", " : "") sprintf("%.9g", v[key, i])
			printf "{\"kind\": \"row\", \"prog\": \"%s\", \"name\": \"%s\", \"params\": {\"runs\": %d, \"quick\": %s}, \"unit\": \"%s/fiber\", \"iters\": %d, \"samples\": [%s], \"median\": %.9g, \"min\": %.9g, \"max\": %.9g, \"ratio\": null}\n", prog, key, jruns, (jquick == "" ? "false" : "true"), ev, it, runs_s, med, s[1], s[n] >> json
		}
	}' "$tmp/samples"
exit 0
