#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The echo-server comparison (bench/echo): weft-echo, one fiber per
# connection, against bench/echo_epoll (one thread, epoll),
# bench/echo_threads (one OS thread per connection) and, when it is
# given, Go's net server (bench/peers/go: go-peer echo-server, one
# goroutine per connection), each driven by the same load generator,
# weft-load, at each connection count with 64-byte messages, all in this
# one run. Prints plain-text tables: lines starting with '#' are comments
# and headers, every other line is a row of figures.
#
# Servers: weft is weft-echo with --workers N (default: one per online
# CPU) on the io_uring backend; weft.epoll is the same on weft's epoll
# backend; weft.w1 is weft-echo --workers 1 (io_uring), the same single
# core the epoll server uses; epoll and threads are the two servers in
# bench/; go is go-peer echo-server with GOMAXPROCS N. The full run
# measures weft, weft.epoll, weft.w1, epoll, threads and go; --quick
# skips weft.w1 and measures at 1,000 connections only.
#
# Each (server, conns) pair gets a fresh server process, started unpinned
# with --port 0; its port comes from its first line, "listening on
# 127.0.0.1:PORT" (weft-echo adds its backend in parentheses). Then weft-load runs N times in a separate process with
# --workers 1, so the client keeps to one of the machine's cores and the
# server has the other. Around each run the server's CPU time (user +
# system, all its threads, from /proc/PID/stat) is read, so a row
# reports, over its runs: the median round trips per second with min and
# max, the median p50 latency, the median p99 latency with min and max,
# the median server CPU seconds per million round trips (the fair
# efficiency figure when the client takes a core; the window is the whole
# weft-load process, connecting and closing included; on loopback the
# sender's CPU also carries the receiver's softirq work), and the median
# CPU the client spent in its window, in percent of one core (near 100:
# the client, not the server, is what limits the row). A run whose
# weft-load exits non-zero or prints no result line counts as failed: it
# leaves the medians, shows in the ok column and a note, and the script
# goes on; a row with no good run prints "failed" in its figures. Between
# runs it waits (up to 10 s) for the server to close the last run's
# connections. Comment lines after the table give each weft row's ratios
# to the other servers, all medians of this run. The open-file limit is
# raised (as root, the hard limit too) so that 10,000 connections fit on
# each side.
#
# Usage: tools/bench-echo.sh --build DIR [--quick] [--runs N] [--seconds T]
#                            [--conns "100 1000 10000"] [--servers "..."]
#                            [--workers N] [--go-peer PATH]
#   --build    build directory holding bench/echo_* and tools/weft-*
#   --quick    conns 1000 only, 1 s per run, no weft.w1 (~25 s)
#   --runs     runs per row (default 5, at least 5)
#   --seconds  seconds per run (default 3)
#   --conns    connection counts (default "100 1000 10000")
#   --servers  servers, in order (default "weft weft.epoll weft.w1 epoll
#              threads", and go when --go-peer is given)
#   --workers  weft-echo --workers and Go's GOMAXPROCS for the weft and go
#              rows (default 0: one per online CPU)
#   --go-peer  the go-peer program (bench/peers/go/build.sh builds it)
set -u
. "$(dirname "$0")/bench-json.sh"
bench_json_prog=bench-echo.sh
# Each weft row names its backend with --backend; the environment's
# WEFT_BACKEND would override that and mislabel the row.
unset WEFT_BACKEND

build=""
runs=5
seconds=3
conns="100 1000 10000"
servers="weft weft.epoll weft.w1 epoll threads"
workers=0
go_peer=""
quick=0
seconds_set=0
conns_set=0
servers_set=0
size=64
while [ $# -gt 0 ]; do
	case "$1" in
	--build) build=$2; shift ;;
	--quick) quick=1 ;;
	--runs) runs=$2; shift ;;
	--seconds) seconds=$2; seconds_set=1; shift ;;
	--conns) conns=$2; conns_set=1; shift ;;
	--servers) servers=$2; servers_set=1; shift ;;
	--workers|--weft-workers) workers=$2; shift ;;
	--go-peer) go_peer=$2; shift ;;
	-h|--help) sed -n '3,56p' "$0"; exit 0 ;;
	*) echo "tools/bench-echo.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
if [ -z "$build" ]; then
	echo "tools/bench-echo.sh: --build DIR is required" >&2
	exit 2
fi
if [ "$quick" = 1 ]; then
	[ "$seconds_set" = 1 ] || seconds=1
	[ "$conns_set" = 1 ] || conns="1000"
	[ "$servers_set" = 1 ] || servers="weft weft.epoll epoll threads"
fi
[ -n "$go_peer" ] && [ "$servers_set" = 0 ] && servers+=" go"
if ! [ "$runs" -ge 5 ] 2>/dev/null; then
	echo "tools/bench-echo.sh: --runs must be a number, at least 5" >&2
	exit 2
fi
if ! [ "$workers" -ge 0 ] 2>/dev/null; then
	echo "tools/bench-echo.sh: --workers must be a number" >&2
	exit 2
fi
go_workers=$workers
[ "$go_workers" -gt 0 ] || go_workers=$(nproc)

load="$build/tools/weft-load"
declare -A exe=(
	[weft]="$build/tools/weft-echo"
	[weft.epoll]="$build/tools/weft-echo"
	[weft.w1]="$build/tools/weft-echo"
	[epoll]="$build/bench/echo_epoll"
	[threads]="$build/bench/echo_threads"
	[go]="$go_peer"
)
# Arguments after the program; every server also gets --port 0.
declare -A srv_args=(
	[weft]="--workers $workers --backend io_uring"
	[weft.epoll]="--workers $workers --backend epoll"
	[weft.w1]="--workers 1 --backend io_uring"
	[epoll]=""
	[threads]=""
	[go]="echo-server --workers $go_workers"
)
if [ ! -x "$load" ]; then
	echo "tools/bench-echo.sh: $load is missing; build $build first" >&2
	exit 2
fi
for name in $servers; do
	if [ "$name" = go ] && [ -z "$go_peer" ]; then
		echo "tools/bench-echo.sh: server go needs --go-peer PATH" >&2
		exit 2
	fi
	if [ -z "${exe[$name]:-}" ]; then
		echo "tools/bench-echo.sh: no server named $name" >&2
		exit 2
	fi
	if [ ! -x "${exe[$name]}" ]; then
		echo "tools/bench-echo.sh: ${exe[$name]} is missing; build $build first" >&2
		exit 2
	fi
done

# Each side of a row holds one descriptor per connection, plus a few.
max_conns=0
for c in $conns; do
	[ "$c" -gt "$max_conns" ] && max_conns=$c
done
need_fds=$((max_conns + 1024))
if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$need_fds" ]; then
	hard=$(ulimit -Hn)
	if [ "$hard" != unlimited ] && [ "$hard" -lt "$need_fds" ]; then
		ulimit -Hn "$need_fds" 2>/dev/null
	fi
	ulimit -Sn "$need_fds" 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"
fi

tck=$(getconf CLK_TCK)
tmp=$(mktemp -d)
srv_pid=""
cleanup() {
	if [ -n "$srv_pid" ]; then
		kill -TERM "$srv_pid" 2>/dev/null
		wait "$srv_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# CPU ticks (user + system, all threads, live and exited) of process $1.
cpu_ticks() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo -1; return; }
	# Fields after the command name, which may hold spaces: state is
	# field 3 of stat(5), so utime (14) and stime (15) are 12 and 13 here.
	s=${s##*) }
	awk '{ print $12 + $13 }' <<<"$s"
}

# Open descriptors of process $1.
nr_fds() {
	local fds=(/proc/"$1"/fd/*)
	echo "${#fds[@]}"
}

# Start server $1 (a name) with its arguments; sets srv_pid and srv_port.
# Returns non-zero if it dies or prints no port within 5 s.
start_server() {
	local name=$1 line="" i
	local args=(${srv_args[$name]} --port 0)
	# Empty both files first: the new process opens them only after
	# the fork, and the last server's line must not be read as its own.
	: >"$tmp/srv.out"
	: >"$tmp/srv.err"
	"${exe[$name]}" "${args[@]}" >>"$tmp/srv.out" 2>>"$tmp/srv.err" &
	srv_pid=$!
	for ((i = 0; i < 100; i++)); do
		read -r line <"$tmp/srv.out" 2>/dev/null
		[ -n "$line" ] && break
		kill -0 "$srv_pid" 2>/dev/null || break
		sleep 0.05
	done
	srv_port=${line#listening on 127.0.0.1:}
	srv_port=${srv_port%% *}
	case "$line" in
	"listening on 127.0.0.1:"[0-9]*) return 0 ;;
	esac
	echo "tools/bench-echo.sh: $name printed no port (got '$line')" >&2
	stop_server
	return 1
}

# Stop the server with SIGTERM (SIGKILL if it is still there 10 s later)
# and wait for it. What it said on stderr becomes a note unless it is our
# servers' summary of a clean run.
stop_server() {
	local l i
	[ -n "$srv_pid" ] || return 0
	kill -TERM "$srv_pid" 2>/dev/null
	for ((i = 0; i < 200; i++)); do
		kill -0 "$srv_pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$srv_pid" 2>/dev/null; then
		notes+=("$name conns=$c: server ignored SIGTERM; killed")
		kill -KILL "$srv_pid" 2>/dev/null
	fi
	wait "$srv_pid" 2>/dev/null
	srv_pid=""
	while IFS= read -r l; do
		case "$l" in
		echo_*": accepted="*accept_backoffs=0*)
			case "$l" in *refused_no_thread=[1-9]*) ;; *) continue ;; esac ;;
		esac
		notes+=("$name conns=$c: server said: $l")
	done <"$tmp/srv.err"
}

# Wait up to 10 s until the server holds no more than $1 descriptors.
settle() {
	local i
	for ((i = 0; i < 200; i++)); do
		[ "$(nr_fds "$srv_pid")" -le "$1" ] && return
		sleep 0.05
	done
}

# Value of key $1 in the result line $2.
field() {
	local kv
	for kv in $2; do
		[ "${kv%%=*}" = "$1" ] && { echo "${kv#*=}"; return; }
	done
	echo ""
}

# Median, min and max of the numbers on stdin, one per line: "med min max".
stats() {
	sort -g | awk '{ v[NR] = $1 }
		END {
			if (NR == 0) { print "- - -"; exit }
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.10g %.10g %.10g\n", m, v[1], v[NR]
		}'
}

row_fmt='%-10s %6s %3s %4s %10s %10s %10s %9s %9s %9s %9s %10s %8s\n'

# The JSON rows of server $1 at $2 connections, $3 runs ok: one per
# figure (rps, p50, p99, cpu, cli_cpu), each with its runs in run order;
# a row that failed ($3 = 0) has no runs and a null median.
json_rows() {
	local params
	params="{\"server\": $(json_s "$1"), \"conns\": $2, \"ok_runs\": $3, \"runs\": $runs}"
	bench_json_server_rows "echo.$1.$2" "$params" "round trips/s" \
		"CPU s/M round trips"
}

# One failed row: name $1, conns $2.
failed_row() {
	printf "$row_fmt" "$1" "$2" 0 "$runs" failed failed failed failed failed failed failed failed failed
	rps_l=() p50_l=() p99_l=() cpu_l=() cli_l=()
	json_rows "$1" "$2" 0
}

# One run of weft-load at $c connections against the server; appends its
# figures to the row's lists, or a note if it failed. Returns 1 if the
# server is gone.
run_once() {
	local rc line t0 t1 rt why
	t0=$(cpu_ticks "$srv_pid")
	timeout $((seconds + 120)) "$load" --port "$srv_port" --conns "$c" \
		--size "$size" --seconds "$seconds" --workers 1 \
		>"$tmp/load.out" 2>"$tmp/load.err"
	rc=$?
	line=$(grep -m1 '^conns=' "$tmp/load.out")
	t1=$(cpu_ticks "$srv_pid")
	if [ "$rc" = 0 ] && [ -n "$line" ] && [ "$t1" -ge 0 ]; then
		rt=$(field round_trips "$line")
		nok=$((nok + 1))
		rps_l+=("$(field rps "$line")")
		p50_l+=("$(field p50_us "$line")")
		p99_l+=("$(field p99_us "$line")")
		cpu_l+=("$(awk -v d=$((t1 - t0)) -v hz="$tck" -v n="$rt" \
			'BEGIN { printf "%.3f", (n > 0 ? d / hz / n * 1e6 : 0) }')")
		cli_l+=("$(field cpu_pct "$line")")
		return 0
	fi
	why="exit $rc"
	[ "$t1" -lt 0 ] && why="server died"
	if [ -n "$line" ]; then
		why+=": $(field round_trips "$line") round trips"
		why+=", $(field late "$line") late"
		why+=", $(field errors "$line") errors"
		why+=", $(field mismatches "$line") mismatches"
		why+=", $(field connect_failures "$line") connect failures"
	else
		why+=", no result line: $(tail -1 "$tmp/load.err")"
	fi
	notes+=("$name conns=$c run $r failed ($why)")
	kill -0 "$srv_pid" 2>/dev/null
}

# The row for server $name at $c connections: a fresh server, $runs runs.
measure_row() {
	local base_fds rm rmin rmax hm pm pmin pmax cm um
	rps_l=() p50_l=() p99_l=() cpu_l=() cli_l=()
	nok=0
	if ! start_server "$name"; then
		notes+=("$name conns=$c: server did not start")
		failed_row "$name" "$c"
		return
	fi
	base_fds=$(nr_fds "$srv_pid")
	for ((r = 1; r <= runs; r++)); do
		run_once || break
		settle "$base_fds"
	done
	if kill -0 "$srv_pid" 2>/dev/null; then
		stop_server
		# weft-echo's last line: weft_stats' scheduling latency.
		lat[$name,$c]=$(grep -m1 '^latency ' "$tmp/srv.out")
	else
		wait "$srv_pid" 2>/dev/null
		notes+=("$name conns=$c: server exited with status $? during the runs")
		srv_pid=""
	fi
	if [ "$nok" = 0 ]; then
		failed_row "$name" "$c"
		return
	fi
	read -r rm rmin rmax < <(printf '%s\n' "${rps_l[@]}" | stats)
	read -r hm _ _ < <(printf '%s\n' "${p50_l[@]}" | stats)
	read -r pm pmin pmax < <(printf '%s\n' "${p99_l[@]}" | stats)
	read -r cm _ _ < <(printf '%s\n' "${cpu_l[@]}" | stats)
	read -r um _ _ < <(printf '%s\n' "${cli_l[@]}" | stats)
	med_rps[$name,$c]=$rm
	med_cpu[$name,$c]=$cm
	med_p99[$name,$c]=$pm
	printf '%-10s %6s %3s %4s %10.0f %10.0f %10.0f %9.0f %9.0f %9.0f %9.0f %10.2f %8.0f\n' \
		"$name" "$c" "$nok" "$runs" "$rm" "$rmin" "$rmax" "$hm" \
		"$pm" "$pmin" "$pmax" "$cm" "$um"
	json_rows "$name" "$c" "$nok"
}

bench_note "echo: weft-load --size $size --seconds $seconds --workers 1" \
	"against each server, a fresh server per row"
bench_note "servers: $(for name in $servers; do
	printf '%s=%s ' "$name" "${exe[$name]##*/}${srv_args[$name]:+ ${srv_args[$name]}}"
done)"
bench_note "ok of runs: weft-load runs that succeeded; rps: round trips per" \
	"second, median of the ok runs (min, max)"
bench_note "p50_us: median p50 latency; p99_us: median p99 latency" \
	"(p99_min, p99_max over the runs)"
bench_note "cpu_s/Mrt: server CPU seconds (user+sys, all threads)" \
	"per million round trips, median"
bench_note "cli_cpu%: the client's CPU in its window, percent of one core," \
	"median (near 100: the client limits the row)"
bench_note "before the run: load average $(cut -d' ' -f1-3 /proc/loadavg)," \
	"$(awk '$1 == "procs_running" { print $2 - 1 }' /proc/stat) other tasks" \
	"runnable (other work on the machine skews every figure);" \
	"open files: $(ulimit -Sn)"
bench_note "$(printf "%-8s${row_fmt#%-10s}" server conns ok runs rps rps_min \
	rps_max p50_us p99_us p99_min p99_max 'cpu_s/Mrt' 'cli_cpu%')"

declare -A med_rps med_cpu med_p99 lat
notes=()
if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$need_fds" ]; then
	notes+=("open files limited to $(ulimit -Sn), fewer than the $need_fds that $max_conns connections need")
fi
for name in $servers; do
	for c in $conns; do
		measure_row
	done
done

# weft-echo's scheduling latency (weft_stats: ready to running, one
# ready in 64 sampled) over each row's server, all its runs.
for name in $servers; do
	for c in $conns; do
		l=${lat[$name,$c]:-}
		[ -n "$l" ] || continue
		bench_note "latency echo.$name.$c: $(field samples "$l") samples," \
			"p50 $(field p50_ns "$l") ns, p99 $(field p99_ns "$l") ns," \
			"max $(field max_ns "$l") ns"
		bench_json_latency "echo.$name.$c" "$(field samples "$l")" \
			"$(field p50_ns "$l")" "$(field p99_ns "$l")" \
			"$(field max_ns "$l")"
	done
done

# Each weft row's ratios to each other server, and weft (io_uring) to
# weft.epoll, as comments: rps (higher is better for weft), p99 latency
# and CPU per round trip (lower is better for weft).
wefts=() others=()
for name in $servers; do
	case "$name" in
	weft*) wefts+=("$name") ;;
	*) others+=("$name") ;;
	esac
done
if [ ${#wefts[@]} -gt 0 ] && [ ${#others[@]} -gt 0 ]; then
	bench_note
	bench_note "weft over each other server, medians of this run: rps ratio" \
		"(>1: weft faster), p99 and cpu_s/Mrt ratios (<1: weft lower)"
	bench_note "$(printf '%-16s %6s %8s %8s %8s' ratio conns rps p99 cpu)"
	for w in "${wefts[@]}"; do
		vs=("${others[@]}")
		# The two backends, same workers, side by side.
		[ "$w" = weft ] && [[ " $servers " == *" weft.epoll "* ]] &&
			vs+=(weft.epoll)
		for other in "${vs[@]}"; do
			for c in $conns; do
				bench_note "$(awk -v n="$w/$other" -v c="$c" \
					-v a="${med_rps[$w,$c]:-}" -v b="${med_rps[$other,$c]:-}" \
					-v p="${med_p99[$w,$c]:-}" -v q="${med_p99[$other,$c]:-}" \
					-v x="${med_cpu[$w,$c]:-}" -v y="${med_cpu[$other,$c]:-}" '
				function ratio(u, v) {
					return (u != "" && v != "" && v > 0) ? sprintf("%.2f", u / v) : "-"
				}
				BEGIN {
					printf "%-16s %6s %8s %8s %8s\n", n, c,
						ratio(a, b), ratio(p, q), ratio(x, y)
				}')"
			done
		done
	done
fi
for n in "${notes[@]}"; do
	bench_note "note: $n"
done
exit 0
