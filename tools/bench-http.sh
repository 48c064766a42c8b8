#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The HTTP server comparison: weft-http (tools/http, one fiber per
# connection) on io_uring and on epoll, against nginx and Go's net/http
# (bench/peers/go: go-peer http-server, one goroutine per connection),
# each driven by the same load generator, wrk, at each connection count,
# for two URLs, all in this one run: "/", a fixed "Hello, world!\n"
# (text/plain, 14 bytes; nginx answers it with `return 200`, Go with a
# handler writing the same bytes), and /file-4k.txt, one 4,096-byte text
# file in a temporary root, the same file for every server (weft-http
# reads it with pread per request, nginx with its defaults: no sendfile,
# no open_file_cache; Go through http.FileServer). Every server keeps
# connections alive with no limit on requests per connection, and sends
# its own response head (nginx's and Go's file answers carry Last-Modified
# and more; the bytes per response are in the notes). Prints plain-text
# tables, one per URL: lines starting with '#' are comments and headers,
# every other line is a row of figures, or a server that could not be run
# ("not installed" and why).
#
# Servers: weft is weft-http --backend io_uring, weft.epoll is weft-http
# --backend epoll, both with --workers W; nginx is one master process and
# W worker processes (worker_processes W; with 2 CPUs W = 1), a temporary
# nginx.conf written here with access_log off, keepalive_requests 1000000
# (nginx would otherwise close a keep-alive connection every 1,000
# requests), worker_connections and worker_rlimit_nofile for the largest
# connection count, a listen backlog of 4096 as weft-http's and a port
# picked free; go is go-peer http-server with GOMAXPROCS W. W is the
# number of server CPUs (below; --workers overrides it).
#
# Pinning: wrk runs with taskset on the last CPU this script may use, the
# servers on all the others (with 2 CPUs: the server on CPU 0, wrk on CPU
# 1); with one CPU both share it. Each (URL, server, conns) row gets a
# fresh server process with --port 0 and the file root; its port comes
# from its first line, "listening on 127.0.0.1:PORT" (weft-http adds its
# backend in parentheses); nginx's is the one written into its config.
# Before the runs one GET of the URL (HTTP/1.1, Connection: close) checks
# that the server answers 200 with exactly the expected body; a server
# that does not gets a failed row. Then `wrk --latency -t1 -cCONNS -dT`
# runs N times (wrk's default 2 s timeout). Around each run the server's
# CPU time (user + system, all threads; for nginx the master and its
# workers) is read from /proc/PID/stat, so a row reports, over its runs:
# the median requests per second (wrk's Requests/sec) with min and max,
# the median of wrk's 50% latency, the median of its 99% latency with min
# and max, the median server CPU microseconds per request (the window is
# the whole wrk process, connecting and closing included; on loopback the
# sender's CPU also carries the receiver's softirq work) and the median
# CPU wrk spent, in percent of one core (bash's time around it; near 100:
# the client, not the server, limits the row). A run whose wrk exits
# non-zero, prints no Requests/sec, or reports socket errors (connect,
# read, write, timeout) or non-2xx/3xx responses counts as failed: it
# leaves the medians, shows in the ok column and a note, and the script
# goes on; a row with no good run prints "failed" in its figures. Between
# runs it waits (up to 10 s) for the server to close the last run's
# connections. After each table, comment lines give the ratios of the
# medians of this run (weft and weft.epoll over nginx and go, weft over
# weft.epoll) and the goals, each "met" or "NOT met" (or "not measured"):
# weft requests per second at least nginx's and at least twice Go's, and
# weft's server CPU per request on io_uring below its CPU per request on
# epoll. The open-file limit is raised (as root, the hard limit too) to
# twice the largest connection count and some, so that each connection
# fits on each side with a file open for it on the server's.
#
# Usage: tools/bench-http.sh --build DIR [--quick] [--runs N] [--seconds T]
#                            [--conns "100 1000 10000"] [--servers "..."]
#                            [--workers N] [--go-peer PATH]
#   --build    build directory holding tools/weft-http
#   --quick    conns 1000 only, 1 s per run, "/" only (~30 s)
#   --runs     runs per row (default 5, at least 5)
#   --seconds  seconds per run (default 3)
#   --conns    connection counts (default "100 1000 10000")
#   --servers  servers, in order (default "weft weft.epoll nginx go")
#   --workers  weft-http --workers, nginx worker_processes and Go's
#              GOMAXPROCS (default: the number of server CPUs, the CPUs
#              this script may use less the one wrk takes, at least 1)
#   --go-peer  the go-peer program (bench/peers/go/build.sh builds it);
#              without it the go rows say "not installed"
set -u
. "$(dirname "$0")/bench-json.sh"
bench_json_prog=bench-http.sh
# Each weft row names its backend with --backend; the environment's
# WEFT_BACKEND would override that and mislabel the row.
unset WEFT_BACKEND

me=tools/bench-http.sh
build=""
runs=5
seconds=3
conns="100 1000 10000"
servers="weft weft.epoll nginx go"
workers=0
go_peer=""
quick=0
seconds_set=0
conns_set=0
paths="/ /file-4k.txt"
while [ $# -gt 0 ]; do
	case "$1" in
	--build|--runs|--seconds|--conns|--servers|--workers|--go-peer)
		if [ $# -lt 2 ]; then
			echo "$me: $1 needs a value" >&2
			exit 2
		fi ;;
	esac
	case "$1" in
	--build) build=$2; shift ;;
	--quick) quick=1 ;;
	--runs) runs=$2; shift ;;
	--seconds) seconds=$2; seconds_set=1; shift ;;
	--conns) conns=$2; conns_set=1; shift ;;
	--servers) servers=$2; shift ;;
	--workers) workers=$2; shift ;;
	--go-peer) go_peer=$2; shift ;;
	-h|--help) sed -n '3,/^set -u/p' "$0" | sed '$d'; exit 0 ;;
	*) echo "$me: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
if [ -z "$build" ]; then
	echo "$me: --build DIR is required" >&2
	exit 2
fi
if [ "$quick" = 1 ]; then
	[ "$seconds_set" = 1 ] || seconds=1
	[ "$conns_set" = 1 ] || conns="1000"
	paths="/"
fi
if ! [ "$runs" -ge 5 ] 2>/dev/null; then
	echo "$me: --runs must be a number, at least 5" >&2
	exit 2
fi
if ! [ "$seconds" -ge 1 ] 2>/dev/null; then
	echo "$me: --seconds must be a whole number, at least 1" >&2
	exit 2
fi
if ! [ "$workers" -ge 0 ] 2>/dev/null; then
	echo "$me: --workers must be a number" >&2
	exit 2
fi
for c in $conns; do
	# wrk needs at least as many connections as threads (-t1).
	if ! [ "$c" -ge 1 ] 2>/dev/null; then
		echo "$me: --conns: '$c' is not a number, at least 1" >&2
		exit 2
	fi
done
for name in $servers; do
	case "$name" in
	weft|weft.epoll|nginx|go) ;;
	*) echo "$me: no server named $name (there are weft weft.epoll nginx go)" >&2
	   exit 2 ;;
	esac
done
http="$build/tools/weft-http"
if [ ! -x "$http" ]; then
	echo "$me: $http is missing; build $build first (it needs libhttp-parser-dev)" >&2
	exit 2
fi
wrk=$(command -v wrk)
if [ -z "$wrk" ]; then
	echo "$me: no wrk command (package wrk)" >&2
	exit 2
fi
nginx=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; })

# The CPUs: wrk on the last this script may use, the servers on the rest.
expand_cpus() {
	local part lo hi i out="" parts
	IFS=, read -r -a parts <<<"$1"
	for part in "${parts[@]}"; do
		lo=${part%-*}
		hi=${part#*-}
		for ((i = lo; i <= hi; i++)); do
			out+="$i "
		done
	done
	echo "$out"
}
cpus=$(taskset -pc $$ 2>/dev/null | sed 's/.*: *//')
[ -n "$cpus" ] || cpus="0-$(($(nproc) - 1))"
read -r -a cpu_list <<<"$(expand_cpus "$cpus")"
ncpu=${#cpu_list[@]}
cli_cpu=${cpu_list[ncpu - 1]}
if [ "$ncpu" -ge 2 ]; then
	srv_cpus=$(IFS=,; echo "${cpu_list[*]:0:ncpu-1}")
	nsrv=$((ncpu - 1))
else
	srv_cpus=$cli_cpu
	nsrv=1
fi
[ "$workers" -gt 0 ] || workers=$nsrv

# wrk holds one descriptor per connection; a server one per connection
# and, while a request for the file is answered, the file's. On weft's
# epoll backend openat runs in the blocking pool, whose threads open the
# files faster than the one worker answers them: the opened ones wait
# for their fibers' turn, so at 10,000 connections nearly every
# connection holds a file too. Two per connection, plus a few.
max_conns=0
for c in $conns; do
	[ "$c" -gt "$max_conns" ] && max_conns=$c
done
need_fds=$((2 * max_conns + 1024))
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

# The file root: one 4,096-byte text file, readable by nginx's workers
# (which run as nobody when the master is root).
root="$tmp/root"
mkdir -p "$root"
awk 'BEGIN {
	for (i = 0; i < 64; i++)
		printf "%04d abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123\n", i
}' >"$root/file-4k.txt"
chmod 755 "$tmp" "$root"
chmod 644 "$root/file-4k.txt"
if [ "$(stat -c %s "$root/file-4k.txt")" != 4096 ]; then
	echo "$me: the test file is not 4096 bytes" >&2
	exit 1
fi

declare -A exe=(
	[weft]="$http"
	[weft.epoll]="$http"
	[nginx]="$nginx"
	[go]="$go_peer"
)
# Arguments after the program; weft and go also get --port 0.
declare -A srv_args=(
	[weft]="--workers $workers --backend io_uring --root $root"
	[weft.epoll]="--workers $workers --backend epoll --root $root"
	[nginx]="-p $tmp/nginx/ -c $tmp/nginx/nginx.conf -e $tmp/nginx/error.log"
	[go]="http-server --workers $workers --root $root"
)
# Why a server cannot be run ("" if it can).
declare -A missing=()
if [ -z "$nginx" ]; then
	missing[nginx]="no nginx command (package nginx)"
fi
if [ -z "$go_peer" ]; then
	missing[go]="no go-peer given (--go-peer; bench/peers/go/build.sh builds it)"
elif [ ! -x "$go_peer" ]; then
	missing[go]="$go_peer is missing (bench/peers/go/build.sh builds it)"
fi

# nginx's connections (each client connection is one) and descriptors
# (a connection and a file each), the latter within the hard limit,
# which an unprivileged nginx cannot raise.
nginx_wc=$((max_conns + 1024))
nginx_rl=$((2 * nginx_wc))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$nginx_rl" ]; then
	nginx_rl=$(ulimit -Hn)
fi

# The nginx configuration for port $1.
nginx_conf() {
	mkdir -p "$tmp/nginx"
	cat >"$tmp/nginx/nginx.conf" <<-EOF
	worker_processes $workers;
	daemon off;
	master_process on;
	pid $tmp/nginx/nginx.pid;
	error_log $tmp/nginx/error.log warn;
	worker_rlimit_nofile $nginx_rl;
	events {
	    worker_connections $nginx_wc;
	}
	http {
	    access_log off;
	    keepalive_requests 1000000;
	    client_body_temp_path $tmp/nginx/client_body;
	    proxy_temp_path $tmp/nginx/proxy;
	    fastcgi_temp_path $tmp/nginx/fastcgi;
	    uwsgi_temp_path $tmp/nginx/uwsgi;
	    scgi_temp_path $tmp/nginx/scgi;
	    types {
	        text/plain txt;
	    }
	    default_type application/octet-stream;
	    server {
	        listen 127.0.0.1:$1 backlog=4096;
	        root $root;
	        location = / {
	            default_type text/plain;
	            return 200 "Hello, world!\n";
	        }
	    }
	}
	EOF
}

# Is anything listening on 127.0.0.1:$1?
port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# CPU ticks (user + system, all threads, live and exited) of process $1
# and its children (nginx's workers); -1 if $1 is gone.
cpu_ticks() {
	local s p sum=0 kids
	for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		s=$(cat "/proc/$p/stat" 2>/dev/null) || {
			[ "$p" = "$1" ] && { echo -1; return; }
			continue
		}
		# Fields after the command name, which may hold spaces: state
		# is field 3 of stat(5), so utime (14) and stime (15) are 12
		# and 13 here.
		s=${s##*) }
		kids=$(awk '{ print $12 + $13 }' <<<"$s")
		sum=$((sum + kids))
	done
	echo "$sum"
}

# Open descriptors of process $1 and its children.
nr_fds() {
	local p n=0 fds
	for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		fds=(/proc/"$p"/fd/*)
		n=$((n + ${#fds[@]}))
	done
	echo "$n"
}

# Start server $1 (a name); sets srv_pid and srv_port. Returns non-zero
# (with a note) if it dies or is not serving within 5 s.
start_server() {
	local name=$1 line="" i try
	# Empty both files first: the new process opens them only after
	# the fork, and the last server's line must not be read as its own.
	: >"$tmp/srv.out"
	: >"$tmp/srv.err"
	if [ "$name" = nginx ]; then
		for ((try = 0; try < 5; try++)); do
			# Below the ephemeral range, where wrk's own ports are.
			srv_port=$((20000 + RANDOM % 12000))
			port_open "$srv_port" && continue
			nginx_conf "$srv_port"
			: >"$tmp/nginx/error.log"
			# shellcheck disable=SC2086
			taskset -c "$srv_cpus" "$nginx" ${srv_args[nginx]} \
				>>"$tmp/srv.out" 2>>"$tmp/srv.err" &
			srv_pid=$!
			for ((i = 0; i < 100; i++)); do
				kill -0 "$srv_pid" 2>/dev/null || break
				if [ -n "$(cat /proc/"$srv_pid"/task/*/children 2>/dev/null)" ] &&
					port_open "$srv_port"; then
					return 0
				fi
				sleep 0.05
			done
			if kill -0 "$srv_pid" 2>/dev/null; then
				break
			fi
			wait "$srv_pid" 2>/dev/null
			srv_pid=""
			grep -q 'Address already in use' "$tmp/nginx/error.log" \
				"$tmp/srv.err" 2>/dev/null || break
		done
		notes+=("$name ${path} conns=$c: nginx did not start: $(cat "$tmp/srv.err" "$tmp/nginx/error.log" 2>/dev/null | tail -1)")
		stop_server
		return 1
	fi
	local args=(${srv_args[$name]} --port 0)
	taskset -c "$srv_cpus" "${exe[$name]}" "${args[@]}" \
		>>"$tmp/srv.out" 2>>"$tmp/srv.err" &
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
	notes+=("$name ${path} conns=$c: printed no port (got '$line')")
	stop_server
	return 1
}

# Stop the server with SIGTERM (SIGKILL if it is still there 10 s later)
# and wait for it. What it said on stderr (nginx: in its error log)
# becomes a note, and so does weft-http's summary if it cut connections.
stop_server() {
	local l i
	[ -n "$srv_pid" ] || return 0
	kill -TERM "$srv_pid" 2>/dev/null
	for ((i = 0; i < 200; i++)); do
		kill -0 "$srv_pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$srv_pid" 2>/dev/null; then
		notes+=("$name $path conns=$c: server ignored SIGTERM; killed")
		kill -KILL "$srv_pid" 2>/dev/null
	fi
	wait "$srv_pid" 2>/dev/null
	srv_pid=""
	while IFS= read -r l; do
		[ -n "$l" ] && notes+=("$name $path conns=$c: server said: $l")
	done < <(cat "$tmp/srv.err"; [ "$name" = nginx ] && cat "$tmp/nginx/error.log" 2>/dev/null)
	l=$(grep -m1 '^stopped: ' "$tmp/srv.out")
	case "$l" in
	*" 0 connections cut"*|"stopped: "*" requests") ;;
	?*) notes+=("$name $path conns=$c: server said: $l") ;;
	esac
	return 0
}

# Wait up to 10 s until the server holds no more than $1 descriptors.
settle() {
	local i
	for ((i = 0; i < 200; i++)); do
		[ "$(nr_fds "$srv_pid")" -le "$1" ] && return
		sleep 0.05
	done
}

# GET $path once (HTTP/1.1, Connection: close); 0 if the answer is 200
# with exactly the expected body, else a note and 1.
check_get() {
	local resp want got status
	resp=$(timeout 5 bash -c '
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n" "$2" "$1" >&3
		cat <&3
		echo x' _ "$srv_port" "$path" 2>/dev/null)
	resp=${resp%x}
	status=${resp%%$'\r\n'*}
	got=${resp#*$'\r\n\r\n'}
	if [ "$path" = / ]; then
		want=$'Hello, world!\n'
	else
		want=$(cat "$root${path}"; echo x)
		want=${want%x}
	fi
	case "$status" in
	"HTTP/1."[01]" 200"*) ;;
	*) notes+=("$name $path conns=$c: GET $path answered '${status:-nothing}', not 200")
	   return 1 ;;
	esac
	if [ "$got" != "$want" ]; then
		notes+=("$name $path conns=$c: GET $path answered ${#got} bytes of body, not the ${#want} expected")
		return 1
	fi
	return 0
}

# Stats of wrk's output on stdin: "rps p50_us p99_us requests bytes
# errors", errors "-" if none, else what they were.
wrk_parse() {
	awk '
	function us(v) {
		if (v ~ /us$/) return v + 0
		if (v ~ /ms$/) return v * 1000
		if (v ~ /m$/) return v * 60e6
		if (v ~ /s$/) return v * 1e6
		return v + 0
	}
	function bytes(v) {
		if (v ~ /KB$/) return v * 1024
		if (v ~ /MB$/) return v * 1048576
		if (v ~ /GB$/) return v * 1073741824
		return v + 0
	}
	$1 == "Requests/sec:" { rps = $2 }
	$1 == "50%" { p50 = us($2) }
	$1 == "99%" { p99 = us($2) }
	$2 == "requests" && $3 == "in" { n = $1; b = bytes($5) }
	/Socket errors:/ {
		sub(/^ *Socket errors: */, "")
		gsub(/,/, "")
		for (i = 1; i < NF; i += 2)
			if ($(i + 1) + 0 > 0)
				err = err (err == "" ? "" : ", ") $(i + 1) " " $i " errors"
	}
	/Non-2xx or 3xx responses:/ { err = err (err == "" ? "" : ", ") $NF " non-2xx/3xx responses" }
	END {
		if (rps == "" || p50 == "" || p99 == "" || n == "") { print "-"; exit }
		gsub(/ /, "_", err)
		printf "%s %s %s %s %.0f %s\n", rps, p50, p99, n, b, (err == "" ? "-" : err)
	}'
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

row_fmt='%-10s %-12s %6s %3s %4s %10s %10s %10s %9s %9s %9s %9s %10s %8s\n'

# The JSON rows of server $1 for $path at $c connections, $2 runs ok, $3
# the row's status (ok, failed, not installed) and $4 why: one per figure
# (rps, p50, p99, cpu, cli_cpu), named http.SERVER.KIND.CONNS.FIGURE with
# KIND hello for "/" and file for the file, each with its runs in run
# order; a row without runs has a null median.
json_rows() {
	local params kind=file
	[ "$path" = / ] && kind=hello
	params="{\"server\": $(json_s "$1"), \"path\": $(json_s "$path"), \"conns\": $c, \"ok_runs\": $2, \"runs\": $runs, \"status\": $(json_s "$3"), \"reason\": $(json_s "${4:-}")}"
	bench_json_server_rows "http.$1.$kind.$c" "$params" requests/s \
		"CPU us/request"
}

# One failed row: name $1.
failed_row() {
	printf "$row_fmt" "$1" "$path" "$c" 0 "$runs" failed failed failed \
		failed failed failed failed failed failed
	rps_l=() p50_l=() p99_l=() cpu_l=() cli_l=()
	json_rows "$1" 0 failed
}

# One wrk run at $c connections against the server; appends its figures
# to the row's lists, or a note if it failed. Returns 1 if the server is
# gone.
run_once() {
	local rc t0 t1 tm res rps p50 p99 n b err why
	t0=$(cpu_ticks "$srv_pid")
	{
		TIMEFORMAT='%R %U %S'
		time timeout $((seconds + 60)) taskset -c "$cli_cpu" "$wrk" \
			--latency -t1 -c"$c" -d"${seconds}s" \
			"http://127.0.0.1:$srv_port$path" \
			>"$tmp/wrk.out" 2>"$tmp/wrk.err"
	} 2>"$tmp/time.out"
	rc=$?
	t1=$(cpu_ticks "$srv_pid")
	tm=$(tail -1 "$tmp/time.out")
	res=$(wrk_parse <"$tmp/wrk.out")
	read -r rps p50 p99 n b err <<<"$res"
	if [ "$rc" = 0 ] && [ "$res" != - ] && [ "$err" = - ] &&
		[ "$t0" -ge 0 ] && [ "$t1" -ge "$t0" ] && [ "$n" -gt 0 ]; then
		nok=$((nok + 1))
		rps_l+=("$rps")
		p50_l+=("$p50")
		p99_l+=("$p99")
		cpu_l+=("$(awk -v d=$((t1 - t0)) -v hz="$tck" -v n="$n" \
			'BEGIN { printf "%.3f", d / hz / n * 1e6 }')")
		cli_l+=("$(awk -v t="$tm" 'BEGIN {
			split(t, a, " "); printf "%.1f", (a[1] > 0 ? (a[2] + a[3]) / a[1] * 100 : 0) }')")
		[ -n "$bytes" ] || bytes=$(awk -v b="$b" -v n="$n" 'BEGIN { printf "%.0f", b / n }')
		return 0
	fi
	why="wrk exit $rc"
	if [ "$t1" -lt 0 ]; then
		why="server died"
	elif [ "$t1" -lt "$t0" ]; then
		why+=", a server process was replaced during the run"
	fi
	if [ "$res" != - ]; then
		why+=": $n requests, $rps requests/s"
		[ "$err" != - ] && why+=", ${err//_/ }"
	else
		why+=", no result: $(tail -1 "$tmp/wrk.err" "$tmp/wrk.out" 2>/dev/null | grep -v '^$' | tail -1)"
	fi
	notes+=("$name $path conns=$c run $r failed ($why)")
	kill -0 "$srv_pid" 2>/dev/null
}

# The row for server $name at $c connections for $path: a fresh server,
# $runs runs.
measure_row() {
	local base_fds rm rmin rmax hm pm pmin pmax cm um
	rps_l=() p50_l=() p99_l=() cpu_l=() cli_l=()
	nok=0
	bytes=""
	if [ -n "${missing[$name]:-}" ]; then
		printf '%-10s %-12s %6s not installed (%s)\n' "$name" "$path" "$c" "${missing[$name]}"
		json_rows "$name" 0 "not installed" "${missing[$name]}"
		return
	fi
	if ! start_server "$name"; then
		notes+=("$name $path conns=$c: server did not start")
		failed_row "$name"
		return
	fi
	if ! check_get; then
		stop_server
		failed_row "$name"
		return
	fi
	base_fds=$(nr_fds "$srv_pid")
	for ((r = 1; r <= runs; r++)); do
		run_once || break
		[ "$r" -lt "$runs" ] && settle "$base_fds"
	done
	if kill -0 "$srv_pid" 2>/dev/null; then
		stop_server
	else
		wait "$srv_pid" 2>/dev/null
		notes+=("$name $path conns=$c: server exited with status $? during the runs")
		srv_pid=""
	fi
	if [ "$nok" = 0 ]; then
		failed_row "$name"
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
	resp_bytes[$name,$c]=$bytes
	printf '%-10s %-12s %6s %3s %4s %10.0f %10.0f %10.0f %9.0f %9.0f %9.0f %9.0f %10.2f %8.0f\n' \
		"$name" "$path" "$c" "$nok" "$runs" "$rm" "$rmin" "$rmax" "$hm" \
		"$pm" "$pmin" "$pmax" "$cm" "$um"
	json_rows "$name" "$nok" ok
}

# $1 / $2 (six digits), or "-" if either is missing.
ratio() {
	awk -v u="${1:-}" -v v="${2:-}" 'BEGIN {
		print (u != "" && v != "" && v > 0) ? sprintf("%.6g", u / v) : "-"
	}'
}

# A ratio as the tables show it: two decimals.
r2() {
	[ "$1" = - ] && { echo -; return; }
	awk -v v="$1" 'BEGIN { printf "%.2f", v }'
}

# A goal: label $1, measured ratio $2, goal $3, "least" (ratio >= goal)
# or "below" (ratio < goal).
goal() {
	local st
	if [ "$2" = - ]; then
		st="not measured"
	else
		st=$(awk -v v="$2" -v g="$3" -v c="$4" 'BEGIN {
			ok = (c == "below") ? (v < g) : (v >= g)
			print ok ? "met" : "NOT met"
		}')
	fi
	bench_note "$(printf '%-44s %6s %8s %8s  %s' "$1" "$c" "$(r2 "$2")" \
		"$([ "$4" = below ] && echo "< $3" || echo ">= $3")" "$st")"
}

bench_note "http: wrk --latency -t1 -c<conns> -d${seconds}s (pinned to CPU $cli_cpu)" \
	"against each server (pinned to CPU $srv_cpus), a fresh server per row"
srv_desc=$(for name in $servers; do
	if [ -n "${missing[$name]:-}" ]; then
		printf '%s=not installed; ' "$name"
		continue
	fi
	case "$name" in
	nginx) printf 'nginx=%s; ' "nginx -c nginx.conf (a master and $workers worker process(es))" ;;
	*) printf '%s=%s; ' "$name" "${exe[$name]##*/}${srv_args[$name]:+ ${srv_args[$name]//$root/ROOT}}" ;;
	esac
done)
bench_note "servers: ${srv_desc%; }"
if [[ " $servers " == *" nginx "* ]]; then
	bench_note "nginx.conf: worker_processes $workers; worker_connections $nginx_wc;" \
		"worker_rlimit_nofile $nginx_rl; access_log off;" \
		"keepalive_requests 1000000; listen 127.0.0.1:PORT backlog=4096;" \
		"location = / { default_type text/plain; return 200 \"Hello, world!\\n\"; }" \
		"root ROOT; nginx's defaults otherwise (sendfile off, no open_file_cache)"
fi
bench_note "urls: / (\"Hello, world!\\n\", 14 bytes, text/plain)$(
	[ "$paths" != / ] && echo ", /file-4k.txt (a 4,096-byte text file under ROOT, a temporary directory)")"
bench_note "ok of runs: wrk runs without errors; rps: wrk's Requests/sec," \
	"median of the ok runs (min, max)"
bench_note "p50_us: median of wrk's 50% latency; p99_us: median of its 99%" \
	"latency (p99_min, p99_max over the runs)"
bench_note "cpu_us/req: server CPU microseconds (user+sys, all threads and" \
	"processes) per request, median"
bench_note "cli_cpu%: wrk's CPU, percent of one core, median (near 100: the" \
	"client limits the row)"
bench_note "before the run: load average $(cut -d' ' -f1-3 /proc/loadavg)," \
	"$(awk '$1 == "procs_running" { print $2 - 1 }' /proc/stat) other tasks" \
	"runnable (other work on the machine skews every figure);" \
	"open files: $(ulimit -Sn)"

notes=()
if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$need_fds" ]; then
	notes+=("open files limited to $(ulimit -Sn), fewer than the $need_fds that $max_conns connections need")
fi
[ "$ncpu" -lt 2 ] && notes+=("one CPU: wrk and the server share CPU $cli_cpu")
for path in $paths; do
	declare -A med_rps=() med_cpu=() med_p99=() resp_bytes=()
	bench_note
	bench_note "GET $path"
	bench_note "$(printf "%-8s${row_fmt#%-10s}" server path conns ok runs rps rps_min \
		rps_max p50_us p99_us p99_min p99_max 'cpu_us/req' 'cli_cpu%')"
	for name in $servers; do
		for c in $conns; do
			measure_row
		done
	done
	sizes=$(for name in $servers; do
		for c in $conns; do
			[ -n "${resp_bytes[$name,$c]:-}" ] && { printf '%s=%s ' "$name" "${resp_bytes[$name,$c]}"; break; }
		done
	done)
	bench_note "bytes per response, head and body (wrk's bytes read / requests," \
		"first ok run): ${sizes% }"
	bench_note "ratios of medians of this run, GET $path: rps (>1: the first" \
		"faster), p99 and cpu_us/req (<1: the first lower)"
	bench_note "$(printf '%-16s %6s %8s %8s %8s' ratio conns rps p99 cpu)"
	for pair in weft/nginx weft/go weft.epoll/nginx weft.epoll/go weft/weft.epoll; do
		a=${pair%/*} b=${pair#*/}
		[[ " $servers " == *" $a "* ]] && [[ " $servers " == *" $b "* ]] || continue
		for c in $conns; do
			bench_note "$(printf '%-16s %6s %8s %8s %8s' "$pair" "$c" \
				"$(r2 "$(ratio "${med_rps[$a,$c]:-}" "${med_rps[$b,$c]:-}")")" \
				"$(r2 "$(ratio "${med_p99[$a,$c]:-}" "${med_p99[$b,$c]:-}")")" \
				"$(r2 "$(ratio "${med_cpu[$a,$c]:-}" "${med_cpu[$b,$c]:-}")")")"
		done
	done
	bench_note "goals, GET $path (ratio of medians of this run):"
	bench_note "$(printf '%-44s %6s %8s %8s  %s' goal conns measured goal status)"
	for c in $conns; do
		goal "weft rps / nginx rps" "$(ratio "${med_rps[weft,$c]:-}" "${med_rps[nginx,$c]:-}")" 1 least
		goal "weft rps / go rps" "$(ratio "${med_rps[weft,$c]:-}" "${med_rps[go,$c]:-}")" 2 least
		goal "weft cpu_us/req / weft.epoll cpu_us/req" "$(ratio "${med_cpu[weft,$c]:-}" "${med_cpu[weft.epoll,$c]:-}")" 1 below
	done
done
for n in "${notes[@]}"; do
	bench_note "note: $n"
done
exit 0
