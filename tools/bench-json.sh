# SPDX-License-Identifier: MIT
#
# JSON lines for the shell benchmarks (tools/bench-echo.sh,
# tools/bench-http.sh, tools/bench-http-hostile.sh, tests/fuzz_http.sh,
# bench/bench_perf.sh), in the shape bench/bench_common.h gives the C
# programs' objects; tools/bench_report.py reads them, never the text.
# Sourced, not run. Each function appends one object, with one printf, to
# the file named by WEFT_BENCH_JSON (with >>, so O_APPEND: several
# programs may share it), or does nothing if that is unset. The caller
# sets bench_json_prog to its own name first.
#
#	{"kind": "row", "prog": P, "name": N, "params": {...}, "unit": U,
#	 "iters": I or null, "samples": [per run, in run order],
#	 "median": M, "min": m, "max": x, "ratio": null}
#	{"kind": "note", "prog": P, "text": T}
#	{"kind": "latency", "prog": P, "name": N, "samples": S,
#	 "p50_ns": .., "p99_ns": .., "max_ns": ..}
#	{"kind": "goal", "prog": P, "text": T, "status": "met", "NOT met" or
#	 "not measured", "figure": F or null}
bench_json_prog=${bench_json_prog:-sh}

# $1 as a JSON string, quotes included.
json_s() {
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\t'/\\t}
	s=${s//$'\r'/}
	s=${s//$'\n'/\\n}
	printf '"%s"' "$s"
}

# $1 as a JSON number, or null if it is not one ("-", "failed", "").
json_n() {
	if [[ ${1:-} =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]]; then
		printf '%s' "$1"
	else
		printf 'null'
	fi
}

# Append the object whose members after "kind" and "prog" are $2 (each
# with its leading ", "), of kind $1.
bench_json() {
	[ -n "${WEFT_BENCH_JSON:-}" ] || return 0
	printf '{"kind": %s, "prog": %s%s}\n' "$(json_s "$1")" \
		"$(json_s "$bench_json_prog")" "$2" >>"$WEFT_BENCH_JSON"
}

# A comment: "# " and the words on stdout, and a note object.
bench_note() {
	if [ -n "$*" ]; then echo "# $*"; else echo "#"; fi
	bench_json note ", \"text\": $(json_s "$*")"
}

# A row: name $1, unit $2, iterations $3 ("-": none), params $4 (a JSON
# object), median $5, min $6, max $7, then the runs' figures in run order.
bench_json_row() {
	local name=$1 unit=$2 iters=$3 params=$4 med=$5 min=$6 max=$7 s="" v
	shift 7
	for v in "$@"; do
		s+="${s:+, }$(json_n "$v")"
	done
	bench_json row ", \"name\": $(json_s "$name"), \"params\": $params, \"unit\": $(json_s "$unit"), \"iters\": $(json_n "$iters"), \"samples\": [$s], \"median\": $(json_n "$med"), \"min\": $(json_n "$min"), \"max\": $(json_n "$max"), \"ratio\": null"
}

# weft_stats' scheduling latency of row $1: samples $2, p50 $3, p99 $4
# and max $5 in ns.
bench_json_latency() {
	bench_json latency ", \"name\": $(json_s "$1"), \"samples\": $(json_n "$2"), \"p50_ns\": $(json_n "$3"), \"p99_ns\": $(json_n "$4"), \"max_ns\": $(json_n "$5")"
}

# A goal the step judged itself: text $1, status $2 (met, NOT met, not
# measured), figure $3 ("" if none).
bench_json_goal() {
	local fig=null
	[ -n "${3:-}" ] && fig=$(json_s "$3")
	bench_json goal ", \"text\": $(json_s "$1"), \"status\": $(json_s "$2"), \"figure\": $fig"
}

# The five rows of one server's figures, named $1.FIGURE for FIGURE rps,
# p50, p99, cpu and cli_cpu, with params $2, the throughput in unit $3
# and the server's CPU in unit $4: read from the caller's arrays rps_l,
# p50_l, p99_l, cpu_l and cli_l (a run an entry, in run order) through
# the caller's stats function (median, min and max of its stdin).
bench_json_server_rows() {
	local k unit l med mn mx
	for k in rps p50 p99 cpu cli_cpu; do
		case $k in
		rps) unit=$3; l=("${rps_l[@]}") ;;
		p50) unit=us; l=("${p50_l[@]}") ;;
		p99) unit=us; l=("${p99_l[@]}") ;;
		cpu) unit=$4; l=("${cpu_l[@]}") ;;
		cli_cpu) unit="% of one core"; l=("${cli_l[@]}") ;;
		esac
		read -r med mn mx < <(printf '%s\n' "${l[@]}" | grep . | stats)
		bench_json_row "$1.$k" "$unit" - "$2" "$med" "$mn" "$mx" "${l[@]}"
	done
}
