#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Turns the raw tables of one tools/bench.sh run into its report: reads
# DIR/meta.txt (the machine and the options), DIR/steps.tsv (each step's
# command, status and time) and DIR/raw/*.txt (each program's output, in
# the row format of bench/bench_common.h, tools/bench-echo.sh's or
# tools/bench-http.sh's), and
# writes DIR/REPORT.md, the chart data under DIR/data/ and the charts
# DIR/*.png (gnuplot, tools/plot/*.gp), then prints the summary table.
# Every figure it shows is read from the raw tables or computed from
# them (ratios of two medians of the same run); only the goals of the
# targets, from issues 5 and 11 and the HTTP server's, are written here. bench.sh runs it; run
# it by hand to redraw a report from the raw tables of an earlier run.
#
# Cells that hold no figure say why: "not installed" (a peer, Go,
# Boost.Fiber or nginx, that could not be installed or built), "not run" (a step
# that was left out or failed; the section "Not measured" gives the
# reason), "-" (no such figure for that column).
#
# Usage: tools/bench-report.sh DIR
set -u
cd "$(dirname "$0")/.." || exit 2
if [ $# -ne 1 ] || [ ! -f "$1/meta.txt" ] || [ ! -f "$1/steps.tsv" ]; then
	echo "usage: tools/bench-report.sh DIR (a tools/bench.sh --out DIR)" >&2
	exit 2
fi
out=$(cd "$1" && pwd)
data="$out/data"
mkdir -p "$data"

# meta.txt: key=value lines; note= may repeat.
declare -A META
meta_notes=()
while IFS= read -r line; do
	k=${line%%=*}
	v=${line#*=}
	if [ "$k" = note ]; then
		meta_notes+=("$v")
	else
		META[$k]=$v
	fi
done <"$out/meta.txt"
m() { echo "${META[$1]:-}"; }
quick=$(m quick)
workers=$(m workers)
F=30
[ -n "$quick" ] && F=25
# The size of bench_fine's skynet, spawn loop and alive rows.
C=1m
[ -n "$quick" ] && C=10k

# The steps.
declare -a S_GROUP S_KIND S_TAG S_STATUS S_SECS S_FILE S_CMD S_REASON
ns=0
while IFS=$'\037' read -r n group kind tag status _ secs file cmd reason; do
	[ "$n" = n ] && continue
	S_GROUP[ns]=$group S_KIND[ns]=$kind S_TAG[ns]=$tag
	S_STATUS[ns]=$status S_SECS[ns]=$secs S_FILE[ns]=$file
	S_CMD[ns]=$cmd S_REASON[ns]=$reason
	ns=$((ns + 1))
done < <(tr '\t' '\037' <"$out/steps.tsv")

# Rows: data/rows.tsv holds step, name, iters, median, min, max, ratio
# for every row of every program but the echo and http scripts, whose
# rows go to data/echo.tsv (server, conns, ok, runs, rps, min, max, p50,
# p99, min, max, cpu, client cpu) and data/http.tsv (server, path, then
# the same; a server the script could not run has "not installed" in
# every figure). A row is a line that is not a comment and has six fields
# (13 for echo, 14 for http).
: >"$data/rows.tsv"
: >"$data/echo.tsv"
: >"$data/http.tsv"
for ((i = 0; i < ns; i++)); do
	f="$out/${S_FILE[i]}"
	[ "${S_FILE[i]}" != - ] && [ -f "$f" ] || continue
	if [ "${S_GROUP[i]}" = echo ]; then
		awk '!/^#/ && NF == 13 { $1 = $1; gsub(/ /, "\t"); print }' "$f" \
			>>"$data/echo.tsv"
	elif [ "${S_GROUP[i]}" = hostile ] || [ "${S_GROUP[i]}" = fuzz ]; then
		# Shown as printed; their "# goal:" lines become targets.
		continue
	elif [ "${S_GROUP[i]}" = http ]; then
		awk '!/^#/ && NF == 14 { $1 = $1; gsub(/ /, "\t"); print }
		!/^#/ && $4 == "not" && $5 == "installed" {
			printf "%s\t%s\t%s", $1, $2, $3
			for (k = 0; k < 11; k++)
				printf "\tnot installed"
			printf "\n"
		}' "$f" >>"$data/http.tsv"
	else
		awk -v s=$i -v tag="${S_TAG[i]}" '!/^#/ && NF == 6 {
			name = $1 (tag != "" ? "." tag : "")
			printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s, name, $2, $3, $4, $5, $6
		}' "$f" >>"$data/rows.tsv"
	fi
done

declare -A MED MIN MAX ITERS RATIO
declare -a ROWS_OF
while IFS=$'\t' read -r s name it med mn mx ratio; do
	MED[$name]=$med MIN[$name]=$mn MAX[$name]=$mx ITERS[$name]=$it
	RATIO[$name]=$ratio
	ROWS_OF[s]+="$name "
done <"$data/rows.tsv"
echo_servers=""
echo_conns=""
declare -A ECHO_ROW
while IFS=$'\t' read -r srv c ok runs rps rmin rmax p50 p99 pmin pmax cpu cli; do
	ECHO_ROW[$srv,$c]="$ok $runs $rps $rmin $rmax $p50 $p99 $pmin $pmax $cpu $cli"
	case " $echo_servers " in *" $srv "*) ;; *) echo_servers+="$srv " ;; esac
	case " $echo_conns " in *" $c "*) ;; *) echo_conns+="$c " ;; esac
	if [ "$rps" != failed ]; then
		MED[echo.$srv.$c.rps]=$rps MIN[echo.$srv.$c.rps]=$rmin MAX[echo.$srv.$c.rps]=$rmax
		MED[echo.$srv.$c.p99]=$p99 MIN[echo.$srv.$c.p99]=$pmin MAX[echo.$srv.$c.p99]=$pmax
		MED[echo.$srv.$c.cpu]=$cpu
	fi
done <"$data/echo.tsv"
# http rows: MED[http.SERVER.KIND.CONNS.rps|p99|cpu], KIND hello for "/"
# and file for the file.
http_servers=""
http_conns=""
http_paths=""
declare -A HTTP_ROW
http_kind() {
	if [ "$1" = / ]; then echo hello; else echo file; fi
}
while IFS=$'\t' read -r srv path c ok runs rps rmin rmax p50 p99 pmin pmax cpu cli; do
	HTTP_ROW[$srv,$path,$c]="$ok"$'\t'"$runs"$'\t'"$rps"$'\t'"$rmin"$'\t'"$rmax"$'\t'"$p50"$'\t'"$p99"$'\t'"$pmin"$'\t'"$pmax"$'\t'"$cpu"$'\t'"$cli"
	case " $http_servers " in *" $srv "*) ;; *) http_servers+="$srv " ;; esac
	case " $http_conns " in *" $c "*) ;; *) http_conns+="$c " ;; esac
	case " $http_paths " in *" $path "*) ;; *) http_paths+="$path " ;; esac
	k=$(http_kind "$path")
	if [[ $rps =~ ^[0-9.]+$ ]]; then
		MED[http.$srv.$k.$c.rps]=$rps MIN[http.$srv.$k.$c.rps]=$rmin MAX[http.$srv.$k.$c.rps]=$rmax
		MED[http.$srv.$k.$c.p99]=$p99 MIN[http.$srv.$k.$c.p99]=$pmin MAX[http.$srv.$k.$c.p99]=$pmax
		MED[http.$srv.$k.$c.cpu]=$cpu
	fi
done <"$data/http.tsv"

is_num() {
	[[ $1 =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]]
}
# A figure as the report prints it: about three significant digits (two
# below 0.01).
fmt() {
	awk -v v="$1" 'BEGIN {
		a = v < 0 ? -v : v
		if (a >= 100) printf "%.0f", v
		else if (a >= 10) printf "%.1f", v
		else if (a > 0 && a < 0.01) printf "%.2g", v
		else printf "%.2f", v
	}'
}
# $1 / $2, or nothing if either is missing or $2 is 0.
div() {
	is_num "${1:-}" && is_num "${2:-}" || return 0
	awk -v a="$1" -v b="$2" 'BEGIN { if (b != 0) printf "%.6g", a / b }'
}
# Which kind (weft, go, boost) of program prints row $1.
kind_of() {
	case "$1" in
	go.*|echo.go.*|http.go.*) echo go ;;
	boost.*) echo boost ;;
	http.nginx.*) echo nginx ;;
	*) echo weft ;;
	esac
}
# Why there is no figure for row $1: "not installed" for a peer that is
# missing, "not run" otherwise.
why_not() {
	local k
	k=$(kind_of "$1")
	case "$k" in
	go) [[ $(m go_status) == "not installed"* ]] && { echo "not installed"; return; } ;;
	boost) [[ $(m boost_status) == "not installed"* ]] && { echo "not installed"; return; } ;;
	nginx) [[ $(m nginx_status) == "not installed"* ]] && { echo "not installed"; return; } ;;
	esac
	echo "not run"
}
# The median of row $1 scaled by 1/$2 (default 1) and formatted, or why not.
cell() {
	local v=${MED[$1]:-}
	if is_num "$v"; then
		fmt "$(div "$v" "${2:-1}")"
	else
		why_not "$1"
	fi
}
# The multi-worker row of a family: the name $1<N>$2 with the largest N.
multi() {
	local name best="" bn=1 k
	for name in "${!MED[@]}"; do
		[[ $name == "$1"*"$2" ]] || continue
		k=${name#"$1"}
		k=${k%"$2"}
		[[ $k =~ ^[0-9]+$ ]] && [ "$k" -gt "$bn" ] && { bn=$k; best=$name; }
	done
	echo "${best:-$1$workers$2}"
}
# A human count: 10000 -> 10,000.
commas() {
	echo "$1" | sed ':a; s/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/; ta'
}

# Figures the summary, the targets and the charts share. The multi-worker
# rows are found by name, whatever --workers said.
# The cutoff rows (steal, go-peer fib, boost-peer fib): a task per call
# above n = 12, sequential leaves at n <= 12.
cut=cutoff12
fib_1="steal.fib$F.$cut.1worker"
fib_w=$(multi "steal.fib$F.$cut." workers)
W=${fib_w#steal.fib$F.$cut.}
W=${W%workers}
go_fib_1="go.fib$F.$cut.1workers"
go_fib_w=$(multi "go.fib$F.$cut." workers)
boost_fib_1="boost.fib$F.$cut.1threads"
boost_fib_w=$(multi "boost.fib$F.$cut." threads)
uts_w=$(multi steal.uts. workers)
# The fine-grained rows (bench_fine, go-peer fine, boost-peer fine): no
# cutoff, a task per call or node.
nc_ser="fine.fib$F.serial"
nc_1="fine.fib$F.nocutoff.1worker"
nc_w=$(multi "fine.fib$F.nocutoff." workers)
go_nc_1="go.fine.fib$F.nocutoff.1worker"
go_nc_w=$(multi "go.fine.fib$F.nocutoff." workers)
boost_nc_1="boost.fine.fib$F.nocutoff.1threads"
boost_nc_w=$(multi "boost.fine.fib$F.nocutoff." threads)
sky_1="fine.skynet$C.1worker"
sky_w=$(multi "fine.skynet$C." workers)
go_sky_1="go.fine.skynet$C.1worker"
go_sky_w=$(multi "go.fine.skynet$C." workers)
boost_sky_1="boost.fine.skynet$C.1threads"
boost_sky_w=$(multi "boost.fine.skynet$C." threads)
loop_w=$(multi "fine.spawnloop$C." workers)
go_loop_w=$(multi "go.fine.spawnloop$C." workers)
alive_s=$(multi "fine.alive$C.small." workers)
alive_d=$(multi "fine.alive$C.default." workers)
go_alive=$(multi "go.fine.alive$C." workers)
# Each fine row's W, from its name: --workers may differ from the fib rows'.
FW=${nc_w#fine.fib$F.nocutoff.}
FW=${FW%workers}
case $C in 1m) Cw=1,000,000 ;; 10k) Cw=10,000 ;; *) Cw=$C ;; esac
speedup() {
	local s
	s=$(div "${MED[$1]:-}" "${MED[$2]:-}")
	[ -n "$s" ] && echo "$s"
}
sp_weft=$(speedup "$fib_1" "$fib_w")
sp_uts=$(speedup steal.uts.1worker "$uts_w")
sp_go=$(speedup "$go_fib_1" "$go_fib_w")
sp_boost=$(speedup "$boost_fib_1" "$boost_fib_w")
sp_nc=$(speedup "$nc_1" "$nc_w")
sp_go_nc=$(speedup "$go_nc_1" "$go_nc_w")
sp_boost_nc=$(speedup "$boost_nc_1" "$boost_nc_w")
sp_sky=$(speedup "$sky_1" "$sky_w")
sp_go_sky=$(speedup "$go_sky_1" "$go_sky_w")
sp_boost_sky=$(speedup "$boost_sky_1" "$boost_sky_w")
# Memory: the largest count at which both weft and Go parked their tasks
# (1m in a full run), else weft's largest.
mem_c=""
for c in 1m 100k 10k; do
	if [ -n "${MED[memory.fiber.$c]:-}" ] && [ -n "${MED[go.memory.parked.$c]:-}" ]; then
		mem_c=$c
		break
	fi
done
if [ -z "$mem_c" ]; then
	for c in 1m 100k 10k; do
		[ -n "${MED[memory.fiber.$c]:-}" ] && { mem_c=$c; break; }
	done
fi
[ -n "$mem_c" ] || mem_c=1m
mem_words() {
	case "$1" in
	1m) echo "1,000,000" ;;
	100k) echo "100,000" ;;
	10k) echo "10,000" ;;
	*) echo "$1" ;;
	esac
}
echo_c=1000
million=$(commas "${ITERS[spawn.million.1worker]:-1000000}")
case $million in 1,000,000) mshort=1M ;; 100,000) mshort=100k ;; *) mshort=$million ;; esac

# The summary: one line per figure. Fields: label | unit | scale | weft
# row | plain C row | Go row | Boost row | cost or rate. For a cost the
# edge is other / weft, for a rate weft / other: above 1 favours weft.
summary_spec=(
	"switch: yield ping-pong vs futex, same core|ns per switch|1|switch.yield|switch.futex.same|go.gosched|boost.fiber.yield|cost"
	"switch: yield vs futex, threads on two cores|ns per switch|1|switch.yield|switch.futex.cross|-|-|cost"
	"switch: raw context switch|ns per switch|1|switch.raw|-|-|boost.context.switch|cost"
	"channel ping-pong (C: condvar handoff)|ns per handoff|1|chan.pingpong|chan.pingpong.condvar|go.chan.pingpong|boost.chan.pingpong|cost"
	"buffered channel, 1 pair (C: mutex+condvar queue)|ns per item|1|chan.buffered.1pair|chan.buffered.pthread.1pair|-|-|cost"
	"contended mutex|ns per lock|1|mutex.contended|mutex.contended.pthread|-|-|cost"
	"spawn + join, weft on 1 worker (C: pthread_create + join)|ns per task|1|spawn.join.1worker|spawn.pthread|go.spawn.join|boost.fiber.spawn.join|cost"
	"spawn + join, weft on all workers|ns per task|1|spawn.join.allworkers|spawn.pthread|go.spawn.join|-|cost"
	"$million spawned into an array, all alive until joined, weft on 1 worker (Go's spawn loop, a different shape, is the next line)|ns per task|1|spawn.million.1worker|-|-|-|cost"
	"spawn loop: $Cw detached tasks, each Done on one wait group (Go's go func(){ wg.Done() }()), $FW workers|ns per task|1|$loop_w|-|$go_loop_w|-|cost"
	"$Cw tasks alive at once (all blocked on one channel, then released), 2 KiB small fiber stacks, $FW workers|ns per task|1|$alive_s|-|$go_alive|-|cost"
	"$Cw tasks alive at once (all blocked on one channel, then released), default fiber stacks, $FW workers|ns per task|1|$alive_d|-|$go_alive|-|cost"
	"memory per parked task at $(mem_words $mem_c) (C: 10,000 pthreads)|bytes per task|1|memory.fiber.$mem_c|memory.pthread.10k|go.memory.parked.$mem_c|-|cost"
	"memory per parked task at $(mem_words $mem_c), 2 KiB small fiber stacks (C: 64 KiB thread stacks)|bytes per task|1|memory.fiber.small.$mem_c|memory.pthread.64k.10k|go.memory.parked.$mem_c|-|cost"
	"fib($F), a task per call, no cutoff, 1 worker (C: plain recursion)|ms per run|1e6|$nc_1|$nc_ser|$go_nc_1|$boost_nc_1|cost"
	"fib($F), a task per call, no cutoff, $FW workers|ms per run|1e6|$nc_w|-|$go_nc_w|$boost_nc_w|cost"
	"fib($F) with sequential leaves at n <= 12 (a task per call above), $W workers|ms per run|1e6|$fib_w|-|$go_fib_w|$boost_fib_w|cost"
	"fib($F) with sequential leaves at n <= 12 (a task per call above), 1 worker|ms per run|1e6|$fib_1|-|$go_fib_1|$boost_fib_1|cost"
	"skynet, $Cw leaves, a task per node, 1 worker|ms per run|1e6|$sky_1|-|$go_sky_1|$boost_sky_1|cost"
	"skynet, $Cw leaves, a task per node, $FW workers|ms per run|1e6|$sky_w|-|$go_sky_w|$boost_sky_w|cost"
	"echo round trips at $(commas $echo_c) connections (C: threads)|round trips per s|1|echo.weft.$echo_c.rps|echo.threads.$echo_c.rps|echo.go.$echo_c.rps|-|rate"
	"echo round trips at $(commas $echo_c) connections (C: epoll)|round trips per s|1|echo.weft.$echo_c.rps|echo.epoll.$echo_c.rps|echo.go.$echo_c.rps|-|rate"
	"echo p99 latency at $(commas $echo_c) connections (C: threads)|us|1|echo.weft.$echo_c.p99|echo.threads.$echo_c.p99|echo.go.$echo_c.p99|-|cost"
	"echo round trips at $(commas $echo_c) connections, weft on its epoll backend (C: epoll)|round trips per s|1|echo.weft.epoll.$echo_c.rps|echo.epoll.$echo_c.rps|echo.go.$echo_c.rps|-|rate"
	"echo server CPU per million round trips at $(commas $echo_c) connections, weft on io_uring (C: epoll)|CPU s per M round trips|1|echo.weft.$echo_c.cpu|echo.epoll.$echo_c.cpu|echo.go.$echo_c.cpu|-|cost"
	"echo server CPU per million round trips at $(commas $echo_c) connections, weft on epoll (C: epoll)|CPU s per M round trips|1|echo.weft.epoll.$echo_c.cpu|echo.epoll.$echo_c.cpu|echo.go.$echo_c.cpu|-|cost"
)
# The HTTP lines (weft-http on io_uring; C: nginx), for each URL the http
# step measured at 1,000 connections. A run without the http step, or
# whose step could not run, has none ("Not measured" says why).
http_c=1000
for path in $http_paths; do
	[ -n "${HTTP_ROW[weft,$path,$http_c]:-}" ] || continue
	k=$(http_kind "$path")
	if [ "$k" = hello ]; then what="GET / (the fixed \"Hello, world!\")"; else what="GET of a 4 KiB file"; fi
	summary_spec+=(
		"HTTP $what at $(commas $http_c) connections, weft-http on io_uring (C: nginx)|requests per s|1|http.weft.$k.$http_c.rps|http.nginx.$k.$http_c.rps|http.go.$k.$http_c.rps|-|rate"
		"HTTP $what p99 latency at $(commas $http_c) connections (C: nginx)|us|1|http.weft.$k.$http_c.p99|http.nginx.$k.$http_c.p99|http.go.$k.$http_c.p99|-|cost"
		"HTTP $what server CPU per request at $(commas $http_c) connections (C: nginx)|CPU us per request|1|http.weft.$k.$http_c.cpu|http.nginx.$k.$http_c.cpu|http.go.$k.$http_c.cpu|-|cost"
	)
done
# Cells of one summary line, tab-separated: label, unit, weft, C, Go,
# Boost, and weft's edge over each.
summary_cells() {
	local label unit scale wr cr gr br dir c edge
	IFS='|' read -r label unit scale wr cr gr br dir <<<"$1"
	printf '%s\t%s\t%s' "$label" "$unit" "$(cell "$wr" "$scale")"
	for c in "$cr" "$gr" "$br"; do
		if [ "$c" = - ]; then printf '\t-'; else printf '\t%s' "$(cell "$c" "$scale")"; fi
	done
	for c in "$cr" "$gr" "$br"; do
		if [ "$c" = - ]; then
			printf '\t-'
			continue
		fi
		if [ "$dir" = cost ]; then
			edge=$(div "${MED[$c]:-}" "${MED[$wr]:-}")
		else
			edge=$(div "${MED[$wr]:-}" "${MED[$c]:-}")
		fi
		if [ -n "$edge" ]; then
			printf '\t%s' "$(fmt "$edge")"
		elif [ -z "${MED[$wr]:-}" ]; then
			printf '\t%s' "$(why_not "$wr")"
		else
			printf '\t%s' "$(why_not "$c")"
		fi
	done
	printf '\n'
}
# A speed-up line: label, then weft, Go and Boost as speed-up:row
# (the row whose absence says why there is no figure); no edge.
speedup_line() {
	local label=$1 v c
	shift
	printf '%s\t%s' "$label" "x"
	for v in "$1" "-:-" "$2" "$3"; do
		c=${v#*:}
		v=${v%%:*}
		if [ "$c" = - ]; then printf '\t-'
		elif [ -n "$v" ]; then printf '\t%s' "$(fmt "$v")"
		else printf '\t%s' "$(why_not "$c")"
		fi
	done
	printf '\t-\t-\t-\n'
}
speedup_cells() {
	speedup_line "fib($F) no cutoff speed-up, 1 to $FW workers" "$sp_nc:$nc_1" "$sp_go_nc:$go_nc_1" "$sp_boost_nc:$boost_nc_1"
	speedup_line "fib($F) with sequential leaves at n <= 12, speed-up, 1 to $W workers" "$sp_weft:$fib_1" "$sp_go:$go_fib_1" "$sp_boost:$boost_fib_1"
	speedup_line "skynet speed-up, 1 to $FW workers" "$sp_sky:$sky_1" "$sp_go_sky:$go_sky_1" "$sp_boost_sky:$boost_sky_1"
	printf '%s\t%s\t%s\t-\t-\t-\t-\t-\t-\n' "uts (unbalanced tree) speed-up, 1 to $W workers" x \
		"$([ -n "$sp_uts" ] && fmt "$sp_uts" || why_not steal.uts.1worker)"
}
{
	for s in "${summary_spec[@]}"; do
		summary_cells "$s"
	done
	speedup_cells
} >"$data/summary.tsv"

# Targets of issues 5 and 11 and the HTTP server's. Fields: id | text |
# measured | goal | at most, at least or below (strictly less).
# measured and goal are figures or a row name whose absence says why.
target() {
	local id=$1 text=$2 v=$3 goal=$4 cmp=$5 miss=$6 st how
	how="at $cmp"
	[ "$cmp" = below ] && how=below
	if is_num "$v" && is_num "$goal"; then
		st=$(awk -v v="$v" -v g="$goal" -v c="$cmp" 'BEGIN {
			ok = (c == "most") ? (v <= g) : (c == "below") ? (v < g) : (v >= g)
			print ok ? "met" : "NOT met"
		}')
		printf '%s. %s, %s\t%s\t%s\t%s\n' "$id" "$text" "$how" "$(fmt "$goal")" "$(fmt "$v")" "$st"
	else
		is_num "$goal" && goal=$(fmt "$goal") || goal=$(why_not "$miss")
		printf '%s. %s, %s\t%s\t%s\t%s\n' "$id" "$text" "$how" "$goal" "$(why_not "$miss")" "not measured"
	fi
}
# The row name of the first of $@ that has no figure (for why_not).
first_missing() {
	local r
	for r in "$@"; do
		[ -n "${MED[$r]:-}" ] || { echo "$r"; return; }
	done
	echo "$1"
}
fibtxt="fib($F)"
{
	target 1a "fiber switch (weft_yield ping-pong), ns" "${MED[switch.yield]:-}" 10 most switch.yield
	target 1b "same-core futex ping-pong / fiber switch" "$(div "${MED[switch.futex.same]:-}" "${MED[switch.yield]:-}")" 100 least "$(first_missing switch.yield switch.futex.same)"
	target 1c "Boost.Fiber yield / fiber switch (several times: 3)" "$(div "${MED[boost.fiber.yield]:-}" "${MED[switch.yield]:-}")" 3 least "$(first_missing switch.yield boost.fiber.yield)"
	target 1d "Go Gosched / fiber switch (several times: 3)" "$(div "${MED[go.gosched]:-}" "${MED[switch.yield]:-}")" 3 least "$(first_missing switch.yield go.gosched)"
	target 2a "fiber spawn + join (1 worker), ns" "${MED[spawn.join.1worker]:-}" 50 most spawn.join.1worker
	target 2b "Go go + WaitGroup / fiber spawn + join" "$(div "${MED[go.spawn.join]:-}" "${MED[spawn.join.1worker]:-}")" 10 least "$(first_missing spawn.join.1worker go.spawn.join)"
	target 2c "Boost.Fiber spawn + join / fiber spawn + join" "$(div "${MED[boost.fiber.spawn.join]:-}" "${MED[spawn.join.1worker]:-}")" 10 least "$(first_missing spawn.join.1worker boost.fiber.spawn.join)"
	target 2d "pthread_create + join / fiber spawn + join" "$(div "${MED[spawn.pthread]:-}" "${MED[spawn.join.1worker]:-}")" 500 least "$(first_missing spawn.join.1worker spawn.pthread)"
	target 3a "bytes per parked fiber at $(mem_words $mem_c), 2 KiB small stacks (goal: Go's bytes per parked goroutine, measured)" \
		"${MED[memory.fiber.small.$mem_c]:-}" "${MED[go.memory.parked.$mem_c]:-}" most "$(first_missing memory.fiber.small.$mem_c go.memory.parked.$mem_c)"
	target 3b "bytes per parked fiber at $(mem_words $mem_c), default stack (goal: Go's, measured)" \
		"${MED[memory.fiber.$mem_c]:-}" "${MED[go.memory.parked.$mem_c]:-}" most "$(first_missing memory.fiber.$mem_c go.memory.parked.$mem_c)"
	target 4a "Go $fibtxt / weft $fibtxt, sequential leaves at n <= 12, both on $W workers" "$(div "${MED[$go_fib_w]:-}" "${MED[$fib_w]:-}")" 2 least "$(first_missing "$fib_w" "$go_fib_w")"
	target 4b "weft $fibtxt speed-up from 1 to $W workers, sequential leaves at n <= 12 (goal: 0.9 x $W)" "$sp_weft" "$(awk -v w="$W" 'BEGIN { print 0.9 * w }')" least "$(first_missing "$fib_1" "$fib_w")"
	target 5 "Go channel ping-pong / weft channel ping-pong" "$(div "${MED[go.chan.pingpong]:-}" "${MED[chan.pingpong]:-}")" 5 least "$(first_missing chan.pingpong go.chan.pingpong)"
	target 6a "echo round trips per s at 1,000 connections, weft / Go net" "$(div "${MED[echo.weft.1000.rps]:-}" "${MED[echo.go.1000.rps]:-}")" 1 least "$(first_missing echo.weft.1000.rps echo.go.1000.rps)"
	target 6b "echo round trips per s at 1,000 connections, weft / epoll" "$(div "${MED[echo.weft.1000.rps]:-}" "${MED[echo.epoll.1000.rps]:-}")" 1 least "$(first_missing echo.weft.1000.rps echo.epoll.1000.rps)"
	target 6c "echo round trips per s at 1,000 connections, weft / threads" "$(div "${MED[echo.weft.1000.rps]:-}" "${MED[echo.threads.1000.rps]:-}")" 1.5 least "$(first_missing echo.weft.1000.rps echo.threads.1000.rps)"
	target 12a "echo round trips per s at 1,000 connections, weft on epoll / the epoll server" "$(div "${MED[echo.weft.epoll.1000.rps]:-}" "${MED[echo.epoll.1000.rps]:-}")" 1 least "$(first_missing echo.weft.epoll.1000.rps echo.epoll.1000.rps)"
	target 12b "echo server CPU per round trip at 1,000 connections, weft on io_uring / weft on epoll" "$(div "${MED[echo.weft.1000.cpu]:-}" "${MED[echo.weft.epoll.1000.cpu]:-}")" 1 most "$(first_missing echo.weft.1000.cpu echo.weft.epoll.1000.cpu)"
	target 12c "echo server CPU per round trip at 1,000 connections, weft on io_uring / the epoll server" "$(div "${MED[echo.weft.1000.cpu]:-}" "${MED[echo.epoll.1000.cpu]:-}")" 1 most "$(first_missing echo.weft.1000.cpu echo.epoll.1000.cpu)"
	target h1 "HTTP GET / requests per s at 1,000 connections, weft-http (io_uring) / nginx" "$(div "${MED[http.weft.hello.1000.rps]:-}" "${MED[http.nginx.hello.1000.rps]:-}")" 1 least "$(first_missing http.weft.hello.1000.rps http.nginx.hello.1000.rps)"
	target h2 "HTTP GET / requests per s at 1,000 connections, weft-http (io_uring) / Go net/http" "$(div "${MED[http.weft.hello.1000.rps]:-}" "${MED[http.go.hello.1000.rps]:-}")" 2 least "$(first_missing http.weft.hello.1000.rps http.go.hello.1000.rps)"
	target h3 "HTTP GET / server CPU per request at 1,000 connections, weft-http on io_uring / on epoll" "$(div "${MED[http.weft.hello.1000.cpu]:-}" "${MED[http.weft.epoll.hello.1000.cpu]:-}")" 1 below "$(first_missing http.weft.hello.1000.cpu http.weft.epoll.hello.1000.cpu)"
	target 11a "Go $fibtxt / weft $fibtxt, a task per call, no cutoff, both on $FW workers" "$(div "${MED[$go_nc_w]:-}" "${MED[$nc_w]:-}")" 2 least "$(first_missing "$nc_w" "$go_nc_w")"
	target 11b "weft $fibtxt no cutoff, speed-up from 1 to $FW workers (goal: 0.9 x $FW, 1.8 on 2)" "$sp_nc" "$(awk -v w="$FW" 'BEGIN { print 0.9 * w }')" least "$(first_missing "$nc_1" "$nc_w")"
	target 11c "weft $fibtxt no cutoff on 1 worker / plain recursive $fibtxt (the moonshot)" "$(div "${MED[$nc_1]:-}" "${MED[$nc_ser]:-}")" 10 most "$(first_missing "$nc_1" "$nc_ser")"
	target 11d "Go skynet / weft skynet ($Cw leaves), 1 worker" "$(div "${MED[$go_sky_1]:-}" "${MED[$sky_1]:-}")" 2 least "$(first_missing "$sky_1" "$go_sky_1")"
	target 11e "Go skynet / weft skynet ($Cw leaves), both on $FW workers" "$(div "${MED[$go_sky_w]:-}" "${MED[$sky_w]:-}")" 2 least "$(first_missing "$sky_w" "$go_sky_w")"
	target 11f "Go spawn loop / weft spawn loop ($Cw detached tasks, one wait group), $FW workers" "$(div "${MED[$go_loop_w]:-}" "${MED[$loop_w]:-}")" 2 least "$(first_missing "$loop_w" "$go_loop_w")"
	target 11g "Go / weft, $Cw tasks alive at once, weft on 2 KiB small stacks, $FW workers" "$(div "${MED[$go_alive]:-}" "${MED[$alive_s]:-}")" 2 least "$(first_missing "$alive_s" "$go_alive")"
	target 11h "Go / weft, $Cw tasks alive at once, weft on default stacks, $FW workers" "$(div "${MED[$go_alive]:-}" "${MED[$alive_d]:-}")" 1 least "$(first_missing "$alive_d" "$go_alive")"
} >"$data/targets.tsv"
# The hostile-client and fuzz steps judge their own goals: each prints
# "# goal: TEXT: met (FIGURE)", "NOT met (FIGURE)" or "not measured".
# They go to data/step_goals.tsv (goal, figure, status), in the order
# printed; a step that did not run gives one "not measured" line saying
# why.
: >"$data/step_goals.tsv"
for ((i = 0; i < ns; i++)); do
	case "${S_GROUP[i]}" in hostile|fuzz) ;; *) continue ;; esac
	f="$out/${S_FILE[i]}"
	if [ "${S_FILE[i]}" = - ] || ! grep -q '^# goal: ' "$f" 2>/dev/null; then
		printf '%s (%s)\t%s\tnot measured\n' "${S_GROUP[i]}" \
			"${S_CMD[i]%% *}" "${S_STATUS[i]}: ${S_REASON[i]:-no goal line printed}" \
			>>"$data/step_goals.tsv"
		continue
	fi
	while IFS= read -r l; do
		l=${l#"# goal: "}
		case "$l" in
		*": met ("*")") st=met text=${l%: met (*} v=${l##*: met (} ;;
		*": NOT met ("*")") st="NOT met" text=${l%: NOT met (*} v=${l##*: NOT met (} ;;
		*": not measured") st="not measured" text=${l%: not measured} v="-)" ;;
		*) st="not measured" text=$l v="unreadable goal line)" ;;
		esac
		printf '%s\t%s\t%s\n' "$text" "${v%)}" "$st" >>"$data/step_goals.tsv"
	done < <(grep '^# goal: ' "$f")
done

# Chart data ------------------------------------------------------------

# Bars: label, median, min, max, class (0 weft, 1 Go or Boost, 2 OS
# threads). A missing figure is NaN and its label says why.
bar() {
	local label=$1 row=$2 class=$3
	if is_num "${MED[$row]:-}"; then
		printf '%s\t%s\t%s\t%s\t%s\n' "$label" "${MED[$row]}" "${MIN[$row]}" "${MAX[$row]}" "$class"
	else
		printf '%s\\n(%s)\tNaN\tNaN\tNaN\t%s\n' "$label" "$(why_not "$row")" "$class"
	fi
}
{
	bar "weft raw switch" switch.raw 0
	bar "weft yield" switch.yield 0
	bar "Boost context switch" boost.context.switch 1
	bar "Boost.Fiber yield" boost.fiber.yield 1
	bar "Go Gosched" go.gosched 1
	bar "futex, same core" switch.futex.same 2
	bar "futex, two cores" switch.futex.cross 2
	bar "mutex + condvar" switch.condvar 2
	bar "pipe" switch.pipe 2
} >"$data/switch.dat"
{
	bar "weft spawn+join\\n1 worker" spawn.join.1worker 0
	bar "weft spawn+join\\nall workers" spawn.join.allworkers 0
	bar "weft $mshort alive\\nthen joined" spawn.million.1worker 0
	bar "weft spawn\\nloop $C" "$loop_w" 0
	bar "weft $C alive\\nsmall stacks" "$alive_s" 0
	bar "weft $C alive\\ndefault stacks" "$alive_d" 0
	bar "Boost.Fiber\\nspawn+join" boost.fiber.spawn.join 1
	bar "Go go+WaitGroup" go.spawn.join 1
	bar "Go spawn\\nloop $C" "$go_loop_w" 1
	bar "Go $C alive" "$go_alive" 1
	bar "pthread_create\\n+join" spawn.pthread 2
} >"$data/spawn.dat"
# Series: count, median, min, max; one file each.
series() {
	local file=$1 prefix=$2 c n
	: >"$data/$file"
	for c in 10k 100k 1m; do
		case $c in 10k) n=10000 ;; 100k) n=100000 ;; 1m) n=1000000 ;; esac
		is_num "${MED[$prefix$c]:-}" &&
			printf '%s\t%s\t%s\t%s\n' "$n" "${MED[$prefix$c]}" "${MIN[$prefix$c]}" "${MAX[$prefix$c]}" >>"$data/$file"
	done
}
series memory-weft.dat memory.fiber.
series memory-small.dat memory.fiber.small.
series memory-go.dat go.memory.parked.
series memory-pthread.dat memory.pthread.
series memory-pthread64k.dat memory.pthread.64k.
# Speed-up against workers: workers, speed-up (1 worker is 1 by definition).
sp_series() {
	local file=$1 one=$2 multi=$3 n
	: >"$data/$file"
	[ -n "$(speedup "$one" "$multi")" ] || return 0
	n=${multi##*.}
	n=${n%workers}
	n=${n%threads}
	printf '1\t1\n%s\t%s\n' "$n" "$(speedup "$one" "$multi")" >"$data/$file"
}
sp_series speedup-weft-fib.dat "$fib_1" "$fib_w"
sp_series speedup-weft-uts.dat steal.uts.1worker "$uts_w"
sp_series speedup-go-fib.dat "$go_fib_1" "$go_fib_w"
sp_series speedup-boost-fib.dat "$boost_fib_1" "$boost_fib_w"
# Echo per server: conns, rps, min, max, p99, min, max.
for srv in weft weft.epoll weft.w1 epoll threads go; do
	: >"$data/echo-$srv.dat"
	for c in $echo_conns; do
		[ -n "${MED[echo.$srv.$c.rps]:-}" ] || continue
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$c" \
			"${MED[echo.$srv.$c.rps]}" "${MIN[echo.$srv.$c.rps]}" "${MAX[echo.$srv.$c.rps]}" \
			"${MED[echo.$srv.$c.p99]}" "${MIN[echo.$srv.$c.p99]}" "${MAX[echo.$srv.$c.p99]}" \
			>>"$data/echo-$srv.dat"
	done
done

# Charts ------------------------------------------------------------------

# A series' legend title: its name, or why it has no points.
title_of() {
	local file=$1 name=$2 row=$3
	if [ -s "$data/$file" ]; then echo "$name"; else echo "$name ($(why_not "$row"))"; fi
}
charts=(switch spawn memory speedup echo trace)
# The trace picture's data: 10 us of bench_fine --trace's WEFT_TRACE file.
rm -f "$data/trace.dat"
if [ -s "$out/raw/trace-fib.json" ] && command -v python3 >/dev/null; then
	python3 tools/plot/trace.py "$out/raw/trace-fib.json" >"$data/trace.dat" 2>/dev/null ||
		rm -f "$data/trace.dat"
fi
declare -A CHART_TITLE=(
	[switch]="Switch cost per mechanism"
	[spawn]="Spawn + join cost"
	[memory]="Memory per parked task"
	[speedup]="Speed-up against workers"
	[echo]="Echo servers: round trips and p99 latency"
	[trace]="A trace (WEFT_TRACE): 10 us of fib(20) without a cutoff, a box per fiber run, colour by fiber id"
)
has_data() {
	local f
	for f in "$@"; do
		[ -s "$data/$f" ] && awk -F'\t' '$2 != "NaN" { found = 1 } END { exit !found }' "$data/$f" && return 0
	done
	return 1
}
chart_notes=()
term=""
if command -v gnuplot >/dev/null; then
	if gnuplot -e 'set terminal pngcairo' 2>/dev/null; then
		term=pngcairo
	elif gnuplot -e 'set terminal png' 2>/dev/null; then
		term=png
	else
		chart_notes+=("gnuplot has neither the pngcairo nor the png terminal: no charts")
	fi
else
	chart_notes+=("gnuplot is not installed (package gnuplot-nox): no charts")
fi
gp_str() {
	printf '%s' "$1" | sed "s/'/''/g"
}
for ch in "${charts[@]}"; do
	rm -f "$out/$ch.png"
	[ -n "$term" ] || continue
	case $ch in
	switch) has_data switch.dat && nd=0 || nd=1 ;;
	spawn) has_data spawn.dat && nd=0 || nd=1 ;;
	memory) has_data memory-weft.dat memory-small.dat memory-go.dat memory-pthread.dat memory-pthread64k.dat && nd=0 || nd=1 ;;
	speedup) has_data speedup-weft-fib.dat speedup-weft-uts.dat speedup-go-fib.dat speedup-boost-fib.dat && nd=0 || nd=1 ;;
	echo) has_data echo-weft.dat echo-weft.epoll.dat echo-weft.w1.dat echo-epoll.dat echo-threads.dat echo-go.dat && nd=0 || nd=1 ;;
	trace) [ -s "$data/trace.dat" ] && nd=0 || nd=1 ;;
	esac
	vars="plotdir='tools/plot'; term='$term'; out='$(gp_str "$out/$ch.png")'; data='$(gp_str "$data")'; nodata=$nd"
	vars+="; chart_title='$(gp_str "${CHART_TITLE[$ch]}")'"
	case $ch in
	memory)
		vars+="; t_weft='$(gp_str "$(title_of memory-weft.dat "weft fibers, default stack" memory.fiber.10k)")'"
		vars+="; t_small='$(gp_str "$(title_of memory-small.dat "weft fibers, 2 KiB small stacks" memory.fiber.small.10k)")'"
		vars+="; t_go='$(gp_str "$(title_of memory-go.dat "Go goroutines" go.memory.parked.10k)")'"
		vars+="; t_pth='$(gp_str "$(title_of memory-pthread.dat "pthreads, default stack" memory.pthread.10k)")'"
		vars+="; t_pth64='$(gp_str "$(title_of memory-pthread64k.dat "pthreads, 64 KiB stacks" memory.pthread.64k.10k)")'"
		;;
	speedup)
		# The legend carries each speed-up, as labels by the points overlap.
		sx() { [ -n "$1" ] && echo ": $(fmt "$1")x on $W"; }
		vars+="; t_wfib='$(gp_str "$(title_of speedup-weft-fib.dat "weft fib($F), cutoff 12$(sx "$sp_weft")" "$fib_1")")'"
		vars+="; t_wuts='$(gp_str "$(title_of speedup-weft-uts.dat "weft uts$(sx "$sp_uts")" steal.uts.1worker)")'"
		vars+="; t_go='$(gp_str "$(title_of speedup-go-fib.dat "Go fib($F), cutoff 12$(sx "$sp_go")" "$go_fib_1")")'"
		vars+="; t_boost='$(gp_str "$(title_of speedup-boost-fib.dat "Boost.Fiber fib($F), cutoff 12$(sx "$sp_boost")" "$boost_fib_1")")'"
		vars+="; maxw=$W"
		;;
	echo)
		vars+="; t_go='$(gp_str "$(title_of echo-go.dat "go (net, goroutines)" echo.go.1000.rps)")'"
		w1="weft, 1 worker"
		if [ ! -s "$data/echo-weft.w1.dat" ]; then
			[ -n "$quick" ] && w1+=" (full run only)" || w1+=" (not run)"
		fi
		vars+="; t_w1='$(gp_str "$w1")'"
		;;
	esac
	if ! gnuplot -e "$vars" tools/plot/"$ch".gp >"$data/$ch.gnuplot.log" 2>&1; then
		chart_notes+=("gnuplot failed on $ch.png: $(grep -m1 -i 'error\|line' "$data/$ch.gnuplot.log")")
	fi
	[ -s "$data/$ch.gnuplot.log" ] || rm -f "$data/$ch.gnuplot.log"
done

# REPORT.md -------------------------------------------------------------

# A tab-separated table on stdin as markdown; $1 is the header line.
md_table() {
	local h=$1
	printf '| %s |\n' "${h//$'\t'/ | }"
	printf '%s' "$h" | awk -F'\t' '{ for (i = 1; i <= NF; i++) printf "|---"; print "|" }'
	awk -F'\t' '{ s = "|"; for (i = 1; i <= NF; i++) s = s " " $i " |"; print s }'
}
# The same as aligned plain text for the terminal.
text_table() {
	{ printf '%s\n' "$1"; cat; } | awk -F'\t' '
		{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n[NR] = NF }
		END {
			for (r = 1; r <= NR; r++) {
				s = ""
				for (i = 1; i <= n[r]; i++)
					s = s sprintf(i == 1 ? "%-" w[i] "s" : "  %" w[i] "s", c[r, i])
				print s
			}
		}'
}
unit_of() {
	case "$1" in
	memory.*|go.memory.*) echo "bytes per task" ;;
	fine.perf.*) echo "${1##*.} per fiber" ;;
	fine.spawnloop*|fine.alive*|go.fine.spawnloop*|go.fine.alive*) echo "ns per task" ;;
	steal.*|go.fib[0-9]*|boost.fib[0-9]*|fine.*|go.fine.*|boost.fine.*) echo "ns per run" ;;
	chan.buffered*) echo "ns per item" ;;
	mutex.*) echo "ns per lock" ;;
	chan.*|go.chan.*|boost.chan.*) echo "ns per handoff" ;;
	switch.*|go.gosched|boost.context.*|boost.fiber.yield) echo "ns per switch" ;;
	spawn.*|go.spawn.*|boost.fiber.spawn*) echo "ns per task" ;;
	*) echo "ns per op" ;;
	esac
}
# Rows a step prints, for the cells of a step that printed none.
expected_rows() {
	local g=$1 k=$2 t=$3
	case "$g/$k" in
	switch/weft) echo switch.raw switch.yield switch.futex.same switch.futex.cross switch.condvar switch.pipe ;;
	switch/go) echo go.gosched go.chan.pingpong ;;
	switch/boost) echo boost.context.switch boost.fiber.yield ;;
	spawn/weft) echo spawn.join.1worker spawn.join.allworkers spawn.pthread spawn.million.1worker ;;
	spawn/go) echo go.spawn.join go.spawn.million ;;
	spawn/boost) echo boost.fiber.spawn.join ;;
	memory/weft) echo memory.fiber.10k memory.fiber.100k memory.fiber.small.10k memory.fiber.small.100k memory.pthread.10k memory.pthread.64k.10k ;;
	memory/go) echo "go.memory.parked.$t" ;;
	steal/weft) echo "$fib_1 steal.fib$F.$cut.${workers}workers steal.uts.1worker steal.uts.${workers}workers" ;;
	steal/go) echo "$go_fib_1 go.fib$F.$cut.${workers}workers" ;;
	steal/boost) echo "$boost_fib_1 boost.fib$F.$cut.${workers}threads" ;;
	fine/weft)
		if [[ $4 == *bench_perf.sh* ]]; then
			for c in serial nocutoff.1worker "nocutoff.${workers}workers"; do
				for e in cycles instructions cache-misses; do
					echo "fine.perf.fib$F.$c.$e"
				done
			done
		else
			echo "$nc_ser $nc_1 fine.fib$F.nocutoff.${workers}workers $sky_1 fine.skynet$C.${workers}workers" \
				"fine.spawnloop$C.${workers}workers fine.alive$C.small.${workers}workers fine.alive$C.default.${workers}workers"
		fi ;;
	fine/go) echo "$go_nc_1 go.fine.fib$F.nocutoff.${workers}workers $go_sky_1 go.fine.skynet$C.${workers}workers" \
		"go.fine.spawnloop$C.${workers}workers go.fine.alive$C.${workers}workers" ;;
	fine/boost) echo "$boost_nc_1 boost.fine.fib$F.nocutoff.${workers}threads $boost_sky_1 boost.fine.skynet$C.${workers}threads" ;;
	chan/weft) echo chan.pingpong chan.pingpong.condvar chan.buffered.1pair chan.buffered.4pairs chan.buffered.16pairs \
		chan.buffered.pthread.1pair chan.buffered.pthread.4pairs chan.buffered.pthread.16pairs \
		mutex.contended mutex.contended.pthread ;;
	chan/boost) echo boost.chan.pingpong ;;
	esac
}
prog_name() {
	case "$1/$2" in
	echo/*) echo "tools/bench-echo.sh" ;;
	http/*) echo "tools/bench-http.sh" ;;
	hostile/*) echo "tools/bench-http-hostile.sh" ;;
	fuzz/*) echo "tests/fuzz_http.sh" ;;
	*/weft) echo "bench_$1" ;;
	*/go) echo "go-peer" ;;
	*/boost) echo "boost-peer" ;;
	esac
}
kind_title() {
	case "$1" in
	weft) echo "weft" ;;
	go) echo "Go" ;;
	boost) echo "Boost.Fiber" ;;
	nginx) echo "nginx" ;;
	esac
}
not_measured=()
for ((i = 0; i < ns; i++)); do
	[ "${S_STATUS[i]}" = ok ] && continue
	not_measured+=("$(kind_title "${S_KIND[i]}"), ${S_GROUP[i]} ($(prog_name "${S_GROUP[i]}" "${S_KIND[i]}")${S_TAG[i]:+ ${S_TAG[i]}}): ${S_STATUS[i]}: ${S_REASON[i]:-no reason given}")
done
left_out=""
for g in switch spawn memory steal fine chan echo http hostile fuzz; do
	case ",$(m only)," in *",$g,"*) ;; *) left_out+="${left_out:+, }$g" ;; esac
done
[ -n "$left_out" ] && not_measured+=("left out with --only: $left_out (their cells say \"not run\")")
[ "$(m peers)" = 0 ] && not_measured+=("Go and Boost.Fiber: left out with --no-peers (their cells say \"not run\")")
case ",$(m only)," in
*,http,*)
	# The http step runs nginx and go-peer itself: no step of theirs
	# says why they are missing.
	[ -n "$(m nginx_status)" ] && [ "$(m nginx_status)" != ok ] &&
		not_measured+=("nginx, http (tools/bench-http.sh): $(m nginx_status)")
	[ "$(m peers)" = 1 ] && [ -n "$(m go_status)" ] && [ "$(m go_status)" != ok ] &&
		not_measured+=("Go, http (go-peer http-server): $(m go_status)")
	;;
esac
case ",$(m only)," in
*,fine,*)
	[ -n "$(m perf_status)" ] && [ "$(m perf_status)" != ok ] &&
		not_measured+=("weft, fine (perf counters per fiber): $(m perf_status)")
	[ -n "$quick" ] && [ "$(m peers)" = 1 ] &&
		not_measured+=("Boost.Fiber, fine (boost-peer fine): fib($F) without a cutoff is skipped in --quick: each run takes seconds")
	[ "$(m peers)" = 1 ] &&
		not_measured+=("Boost.Fiber, fine: no spawn loop and no alive rows: both are Go's shape around a wait group, which Boost.Fiber does not have (their cells say \"-\")")
	;;
esac
# A step's table: its rows, and for a step that printed none (or failed
# halfway) the rows it should have printed, saying why they are missing.
step_table() {
	local i=$1 name have=" " miss
	miss="not run"
	[ "${S_STATUS[i]}" = "not installed" ] && miss="not installed"
	{
		for name in ${ROWS_OF[i]:-}; do
			have+="$name "
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "${ITERS[$name]}" \
				"${MED[$name]}" "${MIN[$name]}" "${MAX[$name]}" "${RATIO[$name]}" "$(unit_of "$name")"
		done
		if [ "${S_STATUS[i]}" != ok ]; then
			for name in $(expected_rows "${S_GROUP[i]}" "${S_KIND[i]}" "${S_TAG[i]}" "${S_CMD[i]}"); do
				[[ $have == *" $name "* ]] && continue
				printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$miss" "$miss" "$miss" "$miss" "$miss" "$(unit_of "$name")"
			done
		fi
	} | md_table $'name\titers\tmedian\tmin\tmax\tratio\tunit'
}
echo_tables() {
	local srv c r
	{
		for srv in $echo_servers; do
			for c in $echo_conns; do
				r=${ECHO_ROW[$srv,$c]:-}
				[ -n "$r" ] || continue
				printf '%s\t%s\t%s\n' "$srv" "$c" "${r// /$'\t'}"
			done
		done
		if [[ " $echo_servers " != *" go "* ]] && [ -n "$echo_servers" ] && [ "$(m peers)" = 1 ]; then
			r=$(why_not echo.go.1000.rps)
			for c in $echo_conns; do
				printf 'go\t%s' "$c"
				printf "\t$r%.0s" 1 2 3 4 5 6 7 8 9 10 11
				printf '\n'
			done
		fi
	} | md_table $'server\tconns\tok runs\truns\trps\trps min\trps max\tp50 us\tp99 us\tp99 min\tp99 max\tcpu s per M round trips\tclient cpu %'
	echo
	echo "The client (weft-load, one worker) gets one of the machine's cores; its CPU in the window is the last column. Near 100%, the client is what limits a row's rate, and the server's CPU per round trip is the fairer comparison."
	echo
	echo "Ratios of medians of this run: round trips per second (above 1: weft faster), p99 latency and server CPU per round trip (below 1: weft lower)."
	echo
	{
		for w in weft weft.w1; do
			[[ " $echo_servers " == *" $w "* ]] || continue
			for srv in epoll threads go; do
				[ "$srv" = go ] && [ "$(m peers)" != 1 ] && continue
				for c in $echo_conns; do
					printf '%s/%s\t%s' "$w" "$srv" "$c"
					for k in rps p99 cpu; do
						r=$(div "${MED[echo.$w.$c.$k]:-}" "${MED[echo.$srv.$c.$k]:-}")
						if [ -n "$r" ]; then
							printf '\t%s' "$(fmt "$r")"
						elif [ -z "${MED[echo.$w.$c.$k]:-}" ]; then
							printf '\t%s' "$(why_not "echo.$w.$c.$k")"
						else
							printf '\t%s' "$(why_not "echo.$srv.$c.$k")"
						fi
					done
					printf '\n'
				done
			done
		done
	} | md_table $'ratio\tconns\trps\tp99\tcpu'
}

# The http step's tables: for each URL its rows, the ratios of its
# medians and its goals (weft-http on io_uring: at least nginx's requests
# per second, at least twice Go's, less server CPU per request than on
# epoll, than nginx and than half of Go's), at every connection count.
http_tables() {
	local path srv c r k pair a b x
	if [ -z "$http_servers" ]; then
		echo "No rows: the step printed none (see Not measured)."
		return 0
	fi
	for path in $http_paths; do
		k=$(http_kind "$path")
		if [ "$k" = hello ]; then
			echo "GET \`$path\`, the fixed \"Hello, world!\\n\" (14 bytes, text/plain):"
		else
			echo "GET \`$path\`, a 4,096-byte text file, the same for every server:"
		fi
		echo
		for srv in $http_servers; do
			for c in $http_conns; do
				r=${HTTP_ROW[$srv,$path,$c]:-}
				[ -n "$r" ] && printf '%s\t%s\t%s\n' "$srv" "$c" "$r"
			done
		done | md_table $'server\tconns\tok runs\truns\trps\trps min\trps max\tp50 us\tp99 us\tp99 min\tp99 max\tserver cpu us per request\tclient cpu %'
		echo
		echo "Ratios of medians of this run, GET \`$path\`: requests per second (above 1: the first faster), p99 latency and server CPU per request (below 1: the first lower)."
		echo
		for pair in weft/nginx weft/go weft.epoll/nginx weft.epoll/go weft/weft.epoll; do
			a=${pair%/*} b=${pair#*/}
			[[ " $http_servers " == *" $a "* ]] && [[ " $http_servers " == *" $b "* ]] || continue
			for c in $http_conns; do
				[ -n "${HTTP_ROW[$a,$path,$c]:-}" ] || continue
				printf '%s\t%s' "$pair" "$c"
				for x in rps p99 cpu; do
					r=$(div "${MED[http.$a.$k.$c.$x]:-}" "${MED[http.$b.$k.$c.$x]:-}")
					if [ -n "$r" ]; then
						printf '\t%s' "$(fmt "$r")"
					elif [ -z "${MED[http.$a.$k.$c.$x]:-}" ]; then
						printf '\t%s' "$(why_not "http.$a.$k.$c.$x")"
					else
						printf '\t%s' "$(why_not "http.$b.$k.$c.$x")"
					fi
				done
				printf '\n'
			done
		done | md_table $'ratio\tconns\trps\tp99\tcpu'
		echo
		echo "Goals, GET \`$path\` (ratios of medians of this run):"
		echo
		for c in $http_conns; do
			[ -n "${HTTP_ROW[weft,$path,$c]:-}" ] || continue
			http_goal "weft-http rps / nginx rps, at least" "http.weft.$k.$c.rps" "http.nginx.$k.$c.rps" 1 least
			http_goal "weft-http rps / Go net/http rps, at least" "http.weft.$k.$c.rps" "http.go.$k.$c.rps" 2 least
			http_goal "weft-http cpu per request, io_uring / epoll, below" "http.weft.$k.$c.cpu" "http.weft.epoll.$k.$c.cpu" 1 below
			# Where wrk's one core limits the rate, the servers' rates
			# say little; their CPU per request is the rate each would
			# reach on equal server CPU.
			http_goal "weft-http cpu per request / nginx's, at most" "http.weft.$k.$c.cpu" "http.nginx.$k.$c.cpu" 1 most
			http_goal "weft-http cpu per request / Go net/http's, at most" "http.weft.$k.$c.cpu" "http.go.$k.$c.cpu" 0.5 most
		done | md_table $'goal\tconns\tgoal\tmeasured\tstatus'
		echo
	done
	echo "wrk (one thread) runs on the last CPU, the servers on the others; its CPU is the last column. Near 100%, the client is what limits a row's rate, and the server's CPU per request is the fairer comparison."
}
# One goal line of http_tables: label $1, rows $2 / $3 at connections $c,
# goal $4, "least", "most" or "below".
http_goal() {
	local v st
	v=$(div "${MED[$2]:-}" "${MED[$3]:-}")
	if [ -n "$v" ]; then
		st=$(awk -v v="$v" -v g="$4" -v w="$5" 'BEGIN {
			ok = (w == "below") ? (v < g) : (w == "most") ? (v <= g) : (v >= g)
			print ok ? "met" : "NOT met" }')
		printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$c" "$4" "$(fmt "$v")" "$st"
	else
		[ -n "${MED[$2]:-}" ] && v=$(why_not "$3") || v=$(why_not "$2")
		printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$c" "$4" "$v" "not measured"
	fi
}

# Issue 11's workloads: how each is measured, the ratio of fib to the
# plain recursion on each runtime, and the perf counters (or why there
# are none).
perf_rows() {
	local c e v line
	for c in serial nocutoff.1worker "nocutoff.${FW}workers"; do
		case $c in
		serial) line="plain recursion, per call with n >= 2" ;;
		nocutoff.1worker) line="a fiber per call, 1 worker" ;;
		*) line="a fiber per call, $FW workers" ;;
		esac
		for e in cycles instructions cache-misses; do
			v=${MED[fine.perf.fib$F.$c.$e]:-}
			is_num "$v" || return 1
			line+=$'\t'$(fmt "$v")
		done
		v=$(div "${MED[fine.perf.fib$F.$c.instructions]}" "${MED[fine.perf.fib$F.$c.cycles]}")
		line+=$'\t'$([ -n "$v" ] && fmt "$v" || echo -)
		printf '%s\n' "$line"
	done
}
# weft_stats' scheduling latency (ready to running) of each weft fine row,
# from the "# latency" lines of bench_fine's raw output.
latency_table() {
	local f
	f=$(ls "$out"/raw/*-fine-weft.txt "$out"/raw/*-echo-weft.txt 2>/dev/null)
	[ -n "$f" ] && grep -q '^# latency ' $f || return 0
	echo "### Scheduling latency, ready to running (weft_stats): fine and echo rows"
	echo
	echo "How long a fiber waited between being made ready (spawned, woken,"
	echo "yielded) and running, one ready in 64 sampled: for the fine rows over"
	echo "the last run of each (its warm-up included), for the echo rows over the"
	echo "server's life (all the row's runs); p50 and p99 are histogram bucket"
	echo "bounds, at most a quarter over; max is exact."
	echo
	sed -n 's/^# latency \([^:]*\): \([0-9]*\) samples, p50 \([0-9]*\) ns, p99 \([0-9]*\) ns, max \([0-9]*\) ns$/\1\t\2\t\3\t\4\t\5/p' $f |
		md_table $'row\tsamples\tp50 (ns)\tp99 (ns)\tmax (ns)'
	echo
}

fine_section() {
	local r v
	case ",$(m only)," in *,fine,*) ;; *) return 0 ;; esac
	echo "## Fine-grained tasks (issue 11)"
	echo
	echo "No cutoffs: every task is a fiber, goroutine or Boost fiber of its own, in"
	echo "the same shape on each runtime (bench/bench_fine.c, bench/peers/go/fine.go,"
	echo "\`boost-peer fine\` in bench/peers/boost/boost_peer.cpp):"
	echo
	echo "- **fib($F), no cutoff**: every call with n >= 2 spawns a task for fib(n-1),"
	echo "  computes fib(n-2) itself and joins the task: weft_spawn + weft_join; Go a"
	echo "  goroutine sending on a channel of capacity 1 made per call; Boost.Fiber a"
	echo "  fibers::fiber and join(). The plain recursion is the same fib($F) without"
	echo "  tasks, measured in this run; fib($F) with sequential leaves at n <= 12 is"
	echo "  the steal benchmark's (a task per call above n = 12 only)."
	echo "- **skynet** ($Cw leaves): a node spawns 10 tasks, each over a tenth of its"
	echo "  leaves, waits for all ten and returns the sum of their results; a leaf"
	echo "  returns its index; the sum is checked. weft: weft_join_all of the ten; Go:"
	echo "  one sync.WaitGroup per node and a result slot per child; Boost.Fiber:"
	echo "  join() of each in order."
	echo "- **spawn loop** ($Cw tasks): Go's \`wg.Add(1); go func(){ wg.Done() }()\`,"
	echo "  then \`wg.Wait()\`; weft: weft_wg_add + weft_go (a detached fiber, default"
	echo "  stack) doing weft_wg_done, then weft_wg_wait. Tasks end while the rest are"
	echo "  started, unlike spawn.million's, which all stay until their join."
	echo "- **alive at once** ($Cw tasks): each task is done on a first wait group"
	echo "  and blocks receiving from one unbuffered channel; once all are done there,"
	echo "  the channel is closed, each task sees it closed, is done on a second wait"
	echo "  group and ends; the spawner waits on that. weft with 2 KiB small stacks"
	echo "  (WEFT_STACK_SMALL) and with the default stack; Go's goroutines have one"
	echo "  kind. Each run in a fresh process on both, so that no run reuses the"
	echo "  memory of another."
	echo
	echo "Boost.Fiber runs fib and skynet only: the spawn loop and the alive rows are"
	echo "Go's shape around a wait group, which Boost.Fiber does not have."
	echo
	{
		printf 'fib(%s) no cutoff, 1 worker / plain recursive fib(%s)' "$F" "$F"
		for r in "$nc_1" "$go_nc_1" "$boost_nc_1"; do
			v=$(div "${MED[$r]:-}" "${MED[$nc_ser]:-}")
			if [ -n "$v" ]; then printf '\t%s' "$(fmt "$v")"; else printf '\t%s' "$(why_not "$r")"; fi
		done
		printf '\n'
	} | md_table $'figure\tweft\tGo\tBoost.Fiber'
	echo
	latency_table
	echo "### Hardware counters per fiber: fib($F), no cutoff"
	echo
	if [ "$(m perf_status)" != ok ]; then
		echo "Not measured: $(m perf_status)."
	elif ! perf_rows >/dev/null; then
		echo "Not measured: the perf step printed no counts (see Not measured and its raw table)."
	else
		echo "\`bench/bench_perf.sh\` runs \`perf stat -x, -e cycles,instructions,cache-misses\`"
		echo "around \`bench_fine --perf\`: the counts of a process doing two fib($F) passes"
		echo "less those of one doing only the warm-up, over the fibers of the two passes;"
		echo "user and kernel, every thread; medians of $(m slow_runs) runs."
		echo
		perf_rows | md_table $'fib('"$F"$')\tcycles per fiber\tinstructions per fiber\tcache misses per fiber\tinstructions per cycle'
	fi
	echo
}

summary_header=$'figure\tunit\tweft\tplain C\tGo\tBoost.Fiber\tedge over C\tedge over Go\tedge over Boost'
target_header=$'target\tgoal\tmeasured\tstatus'
nmet=$(awk -F'\t' '$4 == "met"' "$data/targets.tsv" | wc -l)
nnot=$(awk -F'\t' '$4 == "NOT met"' "$data/targets.tsv" | wc -l)
nnm=$(awk -F'\t' '$4 == "not measured"' "$data/targets.tsv" | wc -l)
ntg=$(wc -l <"$data/targets.tsv")

{
	echo "# weft benchmark report"
	echo
	echo "$(m date): \`$(m command)\` on this machine. Cooperative switching between"
	echo "fibers against preemptive switching between OS threads, and weft against Go's"
	echo "goroutines and Boost.Fiber, measured side by side in this one run."
	if [ "$(m slow_runs)" = "$(m runs)" ] || [ -z "$(m slow_runs)" ]; then
		echo "Every figure is the median of $(m runs) runs (min and max in the tables"
	else
		echo "Every figure is the median of $(m runs) runs ($(m slow_runs) for the memory,"
		echo "fine-grained, echo and HTTP benchmarks, whose runs are long; min and max in the tables"
	fi
	echo "below); every ratio divides two medians of this run. Nothing here is typed in"
	echo "but the goals of the targets."
	if [ -n "$quick" ]; then
		echo
		echo "**Quick mode** (\`--quick\`): few iterations, fib($F) instead of fib(30), no"
		echo "1,000,000-task rows (the memory comparison is at $(mem_words $mem_c) tasks, skynet,"
		echo "the spawn loop and the alive rows at $Cw), echo at 1,000 connections only,"
		echo "1 s per echo run, HTTP GET / only at 1,000 connections, 1 s per wrk run."
		echo "The figures are rough; run"
		echo "\`tools/bench.sh\` for the real report."
	fi
	echo
	echo "## Machine"
	echo
	echo "- CPU: $(m cpu), $(m online_cpus) online CPUs ($(m cores) cores, $(m threads_per_core) thread(s) per core), $(m memory) memory"
	echo "- Kernel: $(m kernel); vm.max_map_count $(m max_map_count)"
	echo "- Compiler: $(m compiler)${META[cxx]:+; C++: $(m cxx)}"
	echo "- Go: $(if [ "$(m go_status)" = ok ]; then m go; else echo "$(m go_status) $(m go)"; fi)"
	echo "- Boost: $(if [ "$(m boost_status)" = ok ]; then echo "$(m boost) (Boost.Fiber, Boost.Context)"; else echo "$(m boost_status)${META[boost]:+ (headers $(m boost))}"; fi)"
	case ",$(m only)," in
	*,http,*) echo "- HTTP: nginx $(if [ "$(m nginx_status)" = ok ]; then m nginx; else m nginx_status; fi); wrk $(if [ "$(m wrk_status)" = ok ]; then m wrk; else m wrk_status; fi)" ;;
	esac
	echo "- gnuplot: $(m gnuplot)"
	echo "- Build: \`$(m build)\`, buildtype $(m buildtype), sanitizer $(m sanitize)"
	echo "- Workers for the multi-worker rows: $workers; runs per figure: $(m runs)"
	echo "- Load average before the run: $(m load_before) (other work on the machine skews every figure; compare ratios within one run)"
	echo "- Time: $(awk -F'\t' 'NR > 1 { s += $7 } END { printf "%.0f", s }' "$out/steps.tsv") s measuring, $(m total_seconds) s in all (with apt-get, the build and the Go peer's build)"
	echo
	echo "## Summary"
	echo
	echo "The edge columns say how many times better weft's figure is than the other's:"
	echo "the other's cost over weft's, or weft's round trips over the other's. Above 1"
	echo "favours weft. \"plain C\" is the same work without a runtime: OS threads and"
	echo "the kernel's futex, condvar, pipe and pthread_create, or the epoll and"
	echo "thread-per-connection echo servers; for HTTP it is nginx."
	echo
	md_table "$summary_header" <"$data/summary.tsv"
	echo
	echo "## Targets (issues 5 and 11, the HTTP server)"
	echo
	echo "$nmet of $ntg targets met, $nnot NOT met, $nnm not measured. The measured"
	echo "column is this run's figure; a goal that names a peer is that peer's figure"
	echo "in this run. Targets 1 to 6 are issue 5's, 11a to 11h issue 11's; issue 11"
	echo "also asks for a yield of at most 10 ns (1a), a spawn + join of at most 50 ns"
	echo "(2a), a channel ping-pong at least 5 times Go's (5) and, with small stacks, no"
	echo "more bytes per parked fiber than Go's per goroutine (3a). h1 to h3 are the"
	echo "HTTP server's: weft-http on io_uring at least as many requests per second as"
	echo "nginx and twice Go's net/http, and less server CPU per request than on epoll"
	echo "(the HTTP tables give them at every connection count and for the file too)."
	echo
	md_table "$target_header" <"$data/targets.tsv"
	echo
	if [ -s "$data/step_goals.tsv" ]; then
		echo "### weft-http under hostile clients and the fuzzer"
		echo
		echo "$(grep -c $'\tmet$' "$data/step_goals.tsv") of $(wc -l <"$data/step_goals.tsv") goals met. Judged by the step that measured them"
		echo "(tools/bench-http-hostile.sh, tests/fuzz_http.sh); the figure is that step's."
		echo
		md_table $'goal\tfigure\tstatus' <"$data/step_goals.tsv"
		echo
	fi
	fine_section
	echo "## Charts"
	echo
	for ch in "${charts[@]}"; do
		if [ -f "$out/$ch.png" ]; then
			echo "![${CHART_TITLE[$ch]}]($ch.png)"
		else
			echo "${CHART_TITLE[$ch]}: not drawn (see Not measured)."
		fi
		echo
	done
	echo "## Tables"
	echo
	echo "One section per benchmark, one table per program, in the order they ran."
	echo "Each program's own notes (what is pinned, how figures are counted, its"
	echo "checks) follow its table."
	for g in switch spawn memory steal fine chan echo http hostile fuzz; do
		first=1
		for ((i = 0; i < ns; i++)); do
			[ "${S_GROUP[i]}" = "$g" ] || continue
			if [ "$first" = 1 ]; then
				echo
				echo "### $g"
				first=0
			fi
			echo
			echo "**$(kind_title "${S_KIND[i]}")**: \`${S_CMD[i]}\` (${S_STATUS[i]}, ${S_SECS[i]} s)"
			echo
			if [ "$g" = echo ]; then
				echo_tables
			elif [ "$g" = http ]; then
				http_tables
			elif [ "$g" = hostile ] || [ "$g" = fuzz ]; then
				# Its tables are its own, printed whole below.
				:
			else
				step_table "$i"
			fi
			if [ "${S_FILE[i]}" != - ] && { [ "$g" = hostile ] || [ "$g" = fuzz ]; }; then
				echo '```'
				cat "$out/${S_FILE[i]}"
				echo '```'
			elif [ "${S_FILE[i]}" != - ] && grep -q '^#' "$out/${S_FILE[i]}"; then
				echo
				echo '```'
				grep '^#' "$out/${S_FILE[i]}"
				echo '```'
			fi
		done
	done
	echo
	echo "## Not measured"
	echo
	if [ ${#not_measured[@]} -eq 0 ] && [ ${#chart_notes[@]} -eq 0 ]; then
		echo "Everything ran."
	fi
	for l in "${not_measured[@]}" "${chart_notes[@]}"; do
		echo "- $l"
	done
	if [ ${#meta_notes[@]} -gt 0 ]; then
		echo
		echo "## Notes"
		echo
		for l in "${meta_notes[@]}"; do
			echo "- $l"
		done
	fi
	echo
	echo "## Steps"
	echo
	echo "Raw outputs are in \`raw/\`, chart data in \`data/\`."
	echo
	awk -F'\t' -v OFS='\t' 'NR > 1 { print $1, $2, $9, $5, $7 }' "$out/steps.tsv" |
		md_table $'step\tbenchmark\tcommand\tstatus\tseconds'
} >"$out/REPORT.md"

# The terminal: the summary and the targets.
echo
echo "== summary ($(m runs) runs per figure; edge: how many times better weft is, above 1 favours weft)"
text_table "$summary_header" <"$data/summary.tsv"
echo
echo "== targets: $nmet of $ntg met, $nnot NOT met, $nnm not measured"
text_table "$target_header" <"$data/targets.tsv"
if [ -s "$data/step_goals.tsv" ]; then
	echo
	echo "== weft-http under hostile clients and the fuzzer: $(grep -c $'\tmet$' "$data/step_goals.tsv") of $(wc -l <"$data/step_goals.tsv") goals met"
	text_table $'goal\tfigure\tstatus' <"$data/step_goals.tsv"
fi
for l in "${not_measured[@]}" "${chart_notes[@]}"; do
	echo "== not measured: $l"
done
exit 0
