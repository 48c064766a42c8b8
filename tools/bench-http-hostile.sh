#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# weft-http (tools/http) under hostile and long-lived clients, on both
# weft backends and against nginx, all in this one run: idle keep-alive
# connections, slowloris connections, and (with --soak) a long run at
# 2,000 connections. Prints plain-text tables, one per measurement: lines
# starting with '#' are comments and headers, every other line is a row
# of figures, or a row that could not be measured ("failed" and why).
# After each table, "# goal:" lines say "met" or "NOT met" with the
# figure (or "not measured").
#
# Servers: weft is weft-http --backend io_uring, weft.epoll is weft-http
# --backend epoll, both with --workers W (W: the server CPUs, below;
# --workers overrides it); nginx is nginx with one master and one worker
# process (worker_processes 1, whatever W is), from a temporary
# nginx.conf written here: daemon off, access_log off, keepalive_requests
# 1000000000, worker_connections and worker_rlimit_nofile 20000 (more if
# --idle-conns needs it), a listen backlog of 4096 as weft-http's,
# keepalive_timeout and client_header_timeout set to the values weft-http
# gets in the same measurement, and `location = / { return 200 "Hello,
# world!\n"; }` (text/plain). Every server process is fresh: a new one
# for each measurement below, started with a free port. Before a server
# is measured, one GET / (Connection: close) must answer 200 with the
# body "Hello, world!\n", else its row fails.
#
# Pinning: the clients (wrk and tools/http_clients.py, a Python client
# on non-blocking sockets and epoll, one process) run with taskset on the
# last CPU this script may use, the servers on all the others (with 2
# CPUs: the server on CPU 0, the clients on CPU 1). Every wrk run is
# `wrk -t1 -cC -dTs http://127.0.0.1:PORT/` (GET /, keep-alive, wrk's 2 s
# timeout); a run counts when wrk exits 0, prints Requests/sec and reports
# no socket errors (connect, read, write, timeout) and no non-2xx/3xx
# responses; a run that does not is a note, and leaves the medians.
# Memory is VmRSS from /proc/PID/status, summed over the server's
# processes (nginx: master and worker), in kB.
#
# 1. Idle (every server). A server with --keepalive-timeout 3600000
#    (nginx keepalive_timeout 3600000ms; both far beyond the idle period)
#    and its default --header-timeout 60000 (client_header_timeout
#    60000ms). rss0 is read after the check GET; then the Python client
#    opens --idle-conns connections (default 10,000; at most 256
#    connecting at once), each sends one GET / and reads its whole
#    response; rss1 is read once all have their answer (all fibers weft
#    started for them may still be there); then all stay open and silent
#    for --idle-seconds (default 60). Near the end of the idle period wrk
#    runs --runs times for --wrk-seconds on 100 other connections (the
#    "busy client"); rss2 is read just before the first of those runs (the
#    idle steady state), rss3 at the end of the idle period (after the
#    wrk runs). Then every idle connection sends a second GET / and must
#    get a whole 200 answer within 60 s; fail2 counts the connections
#    that did not (including any closed by the server while idle, counted
#    in closed_idle, and any whose first request failed). B/conn is
#    (rss3 - rss0) * 1024 / idle-conns, the brief's figure; B/conn_nowrk
#    is (rss2 - rss0) * 1024 / idle-conns, the same without what the busy
#    client's runs left behind. rps_alone is the median Requests/sec of
#    the same wrk runs against another fresh server with no idle
#    connections, measured just before; ratio is rps_beside / rps_alone.
#    nginx allocates its connection table for worker_connections when its
#    worker starts, so that part of nginx's memory per connection is in
#    its rss0.
# 2. Slowloris (every server). A server with --header-timeout H (default
#    5000; nginx client_header_timeout Hms) and the default keep-alive
#    timeout (75000; nginx keepalive_timeout 75000ms). --runs times, on
#    the same server: a clean wrk run of --wrk-seconds on 100
#    connections; then the Python client opens --slow-conns connections
#    (default 1,000), each sending the first byte of a request header at
#    once and one more byte every second, never ending it; once all have
#    connected the same wrk run goes beside them; a slow connection the
#    server closes meanwhile is replaced by a new one until wrk is done,
#    so that the count stays up; the client goes on until H + 3 s after
#    the last first-wave connect, so that every first-wave connection has
#    its window. rps_clean and rps_slow are the medians of the two kinds
#    of runs, ratio their quotient (goal: >= 0.90). For the first-wave
#    connections of all runs (wave = slow-conns x runs): closed is how
#    many the server closed (EOF or reset, seen by the client),
#    in_window how many of those closed between H and H + 2 s after their
#    connect() call (the close times include the handshake and any wait
#    for the server's accept), early and late the others (late also
#    counts one still open at the end), min_s/med_s/max_s the close
#    times, answered how many
#    got bytes before the close (weft-http sends 408), srv_timeouts
#    weft-http's /_status timeouts counter at the end (nginx: -). Goal:
#    every first-wave connection in its window.
# 3. Soak (weft rows only, with --soak; it reads weft-http's /_status).
#    A fresh server with the default timeouts, then one wrk run of
#    --soak-seconds (default 600) at 2,000 connections. requests, rps and
#    errors are wrk's (errors: socket errors of every kind plus
#    non-2xx/3xx responses; goal: 0); the server's RSS is sampled every
#    second: rss0 before wrk, rss30 the first sample 30 s into the run
#    (half the run if it is shorter than 60 s), rss_mid the sample at half
#    the run, rss_end the last sample while wrk ran; goal: rss_end <= 1.2
#    x rss30. Open descriptors (ls /proc/PID/fd): fd0 before wrk, fd_max
#    the largest sample, fd_end after wrk has exited, once back to within
#    fd0 + 5 or after 10 s (goal: fd_end <= fd0 + 5); open_after is
#    /_status connections_open then, less the one connection asking.
#
# --quick: idle 2,000 connections for 5 s, slowloris 200 connections with
# --header-timeout 2000, one run of 2 s per kind, no soak unless --soak
# is given (about a minute in all): a check that the script works, not
# figures to report (5 s is too short for weft-http's idle memory to
# settle: on this machine its RSS came down to the parked connections'
# cost about 3 s after they went idle). The open-file limit is raised to the
# hard limit (as root, the hard limit first to 1048576 where the kernel
# lets us), since the idle client and the server each hold a descriptor
# per connection. Exit status: 0 if every weft row was measured (goals met
# or not), 1 if one failed, 2 for bad usage.
#
# Usage: tools/bench-http-hostile.sh --build DIR [--quick] [--soak]
#            [--soak-seconds N] [--backends "io_uring epoll"] [--workers N]
#            [--no-nginx] [--runs N] [--wrk-seconds T] [--idle-conns N]
#            [--idle-seconds T] [--slow-conns N] [--header-timeout MS]
#   --build           build directory holding tools/weft-http
#   --quick           the short version above
#   --soak            also the soak (default: not)
#   --soak-seconds    soak length (default 600)
#   --backends        weft backends, in order (default "io_uring epoll")
#   --workers         weft-http --workers (default: the number of server
#                     CPUs, the CPUs this script may use less the one the
#                     clients take, at least 1)
#   --no-nginx        leave nginx out
#   --runs            wrk runs of each kind (default 3; --quick 1)
#   --wrk-seconds     seconds per wrk run in idle and slowloris (default 5;
#                     --quick 2)
#   --idle-conns      idle connections (default 10000; --quick 2000)
#   --idle-seconds    idle period (default 60; --quick 5)
#   --slow-conns      slowloris connections (default 1000; --quick 200)
#   --header-timeout  weft-http --header-timeout in the slowloris
#                     measurement, ms, a multiple of 1000 (default 5000;
#                     --quick 2000)
set -u
. "$(dirname "$0")/bench-json.sh"
bench_json_prog=bench-http-hostile.sh
# Each weft row names its backend with --backend; the environment's
# WEFT_BACKEND would override that and mislabel the row.
unset WEFT_BACKEND

me=tools/bench-http-hostile.sh
t_start=$EPOCHREALTIME
build=""
quick=0
soak=0
soak_seconds=600
backends="io_uring epoll"
workers=0
with_nginx=1
runs="" wrk_seconds="" idle_conns="" idle_seconds="" slow_conns="" hdr_ms=""
while [ $# -gt 0 ]; do
	case "$1" in
	--build|--soak-seconds|--backends|--workers|--runs|--wrk-seconds|\
	--idle-conns|--idle-seconds|--slow-conns|--header-timeout)
		if [ $# -lt 2 ]; then
			echo "$me: $1 needs a value" >&2
			exit 2
		fi ;;
	esac
	case "$1" in
	--build) build=$2; shift ;;
	--quick) quick=1 ;;
	--soak) soak=1 ;;
	--soak-seconds) soak_seconds=$2; shift ;;
	--backends) backends=$2; shift ;;
	--workers) workers=$2; shift ;;
	--no-nginx) with_nginx=0 ;;
	--runs) runs=$2; shift ;;
	--wrk-seconds) wrk_seconds=$2; shift ;;
	--idle-conns) idle_conns=$2; shift ;;
	--idle-seconds) idle_seconds=$2; shift ;;
	--slow-conns) slow_conns=$2; shift ;;
	--header-timeout) hdr_ms=$2; shift ;;
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
	: "${runs:=1}" "${wrk_seconds:=2}" "${idle_conns:=2000}" \
	  "${idle_seconds:=5}" "${slow_conns:=200}" "${hdr_ms:=2000}"
else
	: "${runs:=3}" "${wrk_seconds:=5}" "${idle_conns:=10000}" \
	  "${idle_seconds:=60}" "${slow_conns:=1000}" "${hdr_ms:=5000}"
fi
for v in runs wrk_seconds idle_conns idle_seconds slow_conns soak_seconds; do
	if ! [ "${!v}" -ge 1 ] 2>/dev/null; then
		echo "$me: --${v//_/-} must be a whole number, at least 1" >&2
		exit 2
	fi
done
if ! [ "$hdr_ms" -ge 1000 ] 2>/dev/null || [ $((hdr_ms % 1000)) != 0 ]; then
	echo "$me: --header-timeout must be a multiple of 1000 (ms)" >&2
	exit 2
fi
if ! [ "$workers" -ge 0 ] 2>/dev/null; then
	echo "$me: --workers must be a number" >&2
	exit 2
fi
servers=""
for b in $backends; do
	case "$b" in
	io_uring) servers+="weft " ;;
	epoll) servers+="weft.epoll " ;;
	*) echo "$me: no backend named $b (there are io_uring epoll)" >&2
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
python=$(command -v python3)
if [ -z "$python" ]; then
	echo "$me: no python3 command" >&2
	exit 2
fi
clients="$(cd "$(dirname "$0")" && pwd)/http_clients.py"
if [ ! -r "$clients" ]; then
	echo "$me: $clients is missing" >&2
	exit 2
fi
nginx=""
nginx_missing=""
if [ "$with_nginx" = 1 ]; then
	nginx=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; })
	[ -n "$nginx" ] || nginx_missing="no nginx command (package nginx)"
	servers+="nginx"
fi

# The CPUs: the clients on the last this script may use, the servers on
# the rest.
expand_cpus() {
	local part lo hi out="" i
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

# The idle client and the server each hold a descriptor per connection.
need_fds=$((idle_conns + 1024))
[ "$need_fds" -ge $((slow_conns + 1024)) ] || need_fds=$((slow_conns + 1024))
[ "$soak" = 0 ] || [ "$need_fds" -ge 3024 ] || need_fds=3024
if [ "$(id -u)" = 0 ] && [ "$(ulimit -Hn)" != unlimited ] &&
	[ "$(ulimit -Hn)" -lt 1048576 ]; then
	ulimit -Hn 1048576 2>/dev/null
fi
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null
nginx_nofile=20000
[ "$nginx_nofile" -ge "$need_fds" ] || nginx_nofile=$need_fds

tmp=$(mktemp -d)
chmod 755 "$tmp"
srv_pid=""
cli_pid=""
wrk_pid=""
cleanup() {
	[ -n "$wrk_pid" ] && kill -TERM "$wrk_pid" 2>/dev/null
	[ -n "$cli_pid" ] && kill -TERM "$cli_pid" 2>/dev/null
	if [ -n "$srv_pid" ]; then
		kill -TERM "$srv_pid" 2>/dev/null
		wait "$srv_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Seconds since the epoch, microseconds; and $2 - $1 of two of them.
now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="${2:-$EPOCHREALTIME}" 'BEGIN { printf "%.3f", b - a }'; }
# Sleep until time $1 (as now() gives it), if it is still ahead.
sleep_until() {
	local d
	d=$(awk -v t="$1" -v n="$EPOCHREALTIME" 'BEGIN { d = t - n; printf "%.3f", (d > 0 ? d : 0) }')
	[ "$d" = 0.000 ] || sleep "$d"
}

# The nginx configuration for port $1, client_header_timeout $2 ms and
# keepalive_timeout $3 ms.
nginx_conf() {
	mkdir -p "$tmp/nginx"
	cat >"$tmp/nginx/nginx.conf" <<-EOF
	worker_processes 1;
	daemon off;
	master_process on;
	pid $tmp/nginx/nginx.pid;
	error_log $tmp/nginx/error.log warn;
	worker_rlimit_nofile $nginx_nofile;
	events {
	    worker_connections $nginx_nofile;
	}
	http {
	    access_log off;
	    keepalive_requests 1000000000;
	    keepalive_timeout ${3}ms;
	    client_header_timeout ${2}ms;
	    client_body_temp_path $tmp/nginx/client_body;
	    proxy_temp_path $tmp/nginx/proxy;
	    fastcgi_temp_path $tmp/nginx/fastcgi;
	    uwsgi_temp_path $tmp/nginx/uwsgi;
	    scgi_temp_path $tmp/nginx/scgi;
	    default_type application/octet-stream;
	    server {
	        listen 127.0.0.1:$1 backlog=4096;
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

# Process $1 and its children (nginx's worker).
procs() {
	echo "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null)
}

# VmRSS of process $1 and its children, kB; "" if $1 is gone.
rss_kb() {
	local p sum=0 v
	[ -r "/proc/$1/status" ] || { echo ""; return; }
	for p in $(procs "$1"); do
		v=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$p/status" 2>/dev/null)
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

# Open descriptors of process $1 and its children.
nr_fds() {
	local p n=0 fds
	for p in $(procs "$1"); do
		fds=(/proc/"$p"/fd/*)
		[ -e "${fds[0]}" ] && n=$((n + ${#fds[@]}))
	done
	echo "$n"
}

# Start server $1 (a name) with header timeout $2 ms and keep-alive
# timeout $3 ms; sets srv_pid and srv_port. Returns non-zero, with the
# reason in $why, if it dies or is not serving within 5 s.
start_server() {
	local name=$1 line="" i try
	: >"$tmp/srv.out"
	: >"$tmp/srv.err"
	why=""
	if [ "$name" = nginx ]; then
		for ((try = 0; try < 5; try++)); do
			# Below the ephemeral range, where the clients' ports are.
			srv_port=$((20000 + RANDOM % 12000))
			port_open "$srv_port" && continue
			nginx_conf "$srv_port" "$2" "$3"
			: >"$tmp/nginx/error.log"
			taskset -c "$srv_cpus" "$nginx" -p "$tmp/nginx/" \
				-c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" \
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
			kill -0 "$srv_pid" 2>/dev/null && break
			wait "$srv_pid" 2>/dev/null
			srv_pid=""
			grep -q 'Address already in use' "$tmp/nginx/error.log" \
				"$tmp/srv.err" 2>/dev/null || break
		done
		why="nginx did not start: $(cat "$tmp/srv.err" "$tmp/nginx/error.log" 2>/dev/null | tail -1)"
		stop_server
		return 1
	fi
	local backend=io_uring
	[ "$name" = weft.epoll ] && backend=epoll
	taskset -c "$srv_cpus" "$http" --port 0 --workers "$workers" \
		--backend "$backend" --header-timeout "$2" \
		--keepalive-timeout "$3" >>"$tmp/srv.out" 2>>"$tmp/srv.err" &
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
	"listening on 127.0.0.1:"[0-9]*" ($backend)") return 0 ;;
	esac
	why="weft-http printed no port on $backend (got '$line'; $(tail -1 "$tmp/srv.err"))"
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
		notes+=("$name $what: server ignored SIGTERM; killed")
		kill -KILL "$srv_pid" 2>/dev/null
	fi
	wait "$srv_pid" 2>/dev/null
	srv_pid=""
	while IFS= read -r l; do
		[ -n "$l" ] && notes+=("$name $what: server said: $l")
	done < <(cat "$tmp/srv.err"; [ "$name" = nginx ] && cat "$tmp/nginx/error.log" 2>/dev/null)
	l=$(grep -m1 '^stopped: ' "$tmp/srv.out")
	case "$l" in
	*" 0 connections cut"*|"") ;;
	*) notes+=("$name $what: server said: $l") ;;
	esac
	return 0
}

# Wait up to 10 s until the server holds no more than $1 descriptors.
settle() {
	local i
	for ((i = 0; i < 200; i++)); do
		[ "$(nr_fds "$srv_pid")" -le "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# GET $1 once (HTTP/1.1, Connection: close); the whole answer on stdout.
http_get() {
	timeout 5 bash -c '
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n" "$2" "$1" >&3
		cat <&3' _ "$srv_port" "$1" 2>/dev/null
}

# GET / once; 0 if the answer is 200 with exactly "Hello, world!\n", else
# the reason in $why and 1.
check_get() {
	local resp status got
	resp=$(http_get /; echo x)
	resp=${resp%x}
	status=${resp%%$'\r\n'*}
	got=${resp#*$'\r\n\r\n'}
	case "$status" in
	"HTTP/1."[01]" 200"*) ;;
	*) why="GET / answered '${status:-nothing}', not 200"; return 1 ;;
	esac
	if [ "$got" != $'Hello, world!\n' ]; then
		why="GET / answered ${#got} bytes of body, not \"Hello, world!\\n\""
		return 1
	fi
	return 0
}

# Number $1 of weft-http's /_status ("" if it did not answer).
status_field() {
	http_get /_status | tr ',{}' '\n\n\n' |
		awk -F: -v k="\"$1\"" '$1 == k { print $2 + 0; exit }'
}

# Value of key $1 in the key=value line $2.
field() {
	local kv
	for kv in $2; do
		[ "${kv%%=*}" = "$1" ] && { echo "${kv#*=}"; return; }
	done
	echo ""
}

# Figures of wrk's output on stdin: "rps requests errors detail", errors
# the sum of socket errors and non-2xx/3xx responses, detail what they
# were ("-" if none); "-" alone if wrk printed no result.
wrk_parse() {
	awk '
	$1 == "Requests/sec:" { rps = $2 }
	$2 == "requests" && $3 == "in" { n = $1 }
	/Socket errors:/ {
		sub(/^ *Socket errors: */, "")
		gsub(/,/, "")
		for (i = 1; i < NF; i += 2)
			if ($(i + 1) + 0 > 0) {
				e += $(i + 1)
				d = d (d == "" ? "" : ", ") $(i + 1) " " $i " errors"
			}
	}
	/Non-2xx or 3xx responses:/ {
		e += $NF
		d = d (d == "" ? "" : ", ") $NF " non-2xx/3xx responses"
	}
	END {
		if (rps == "" || n == "") { print "-"; exit }
		gsub(/ /, "_", d)
		printf "%s %s %d %s\n", rps, n, e, (d == "" ? "-" : d)
	}'
}

# One wrk run, pinned to the client CPU: $1 connections, $2 seconds, GET
# /. Sets w_rps, w_n, w_err, w_detail; 0 if the run counts, else the
# reason in $why and 1.
wrk_once() {
	local rc res
	timeout $(($2 + 60)) taskset -c "$cli_cpu" "$wrk" -t1 -c"$1" -d"$2s" \
		"http://127.0.0.1:$srv_port/" >"$tmp/wrk.out" 2>"$tmp/wrk.err"
	rc=$?
	res=$(wrk_parse <"$tmp/wrk.out")
	w_rps="" w_n="" w_err="" w_detail=""
	[ "$res" = - ] || read -r w_rps w_n w_err w_detail <<<"$res"
	if [ "$rc" = 0 ] && [ "$res" != - ] && [ "$w_err" = 0 ]; then
		return 0
	fi
	why="wrk exit $rc"
	if [ "$res" != - ]; then
		why+=": $w_n requests, $w_rps requests/s"
		[ "$w_detail" != - ] && why+=", ${w_detail//_/ }"
	else
		why+=", no result: $(cat "$tmp/wrk.err" "$tmp/wrk.out" 2>/dev/null | grep -v '^$' | tail -1)"
	fi
	kill -0 "$srv_pid" 2>/dev/null || why+="; the server died"
	return 1
}

# Median of the numbers on stdin, one per line; "-" if none.
median() {
	sort -g | awk '{ v[NR] = $1 }
		END {
			if (NR == 0) { print "-"; exit }
			print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		}'
}

# $1 / $2 with $3 decimals (default 2), or "-" if either is missing.
ratio() {
	awk -v u="${1:-}" -v v="${2:-}" -v d="${3:-2}" 'BEGIN {
		if (u != "" && u != "-" && v != "" && v != "-" && v + 0 > 0)
			printf "%." d "f\n", u / v
		else
			print "-"
	}'
}

# Number $1 rounded to a whole number, or "-".
rnd() {
	[[ "${1:-}" =~ ^[0-9.]+$ ]] && { printf '%.0f' "$1"; return; }
	echo -
}

# A goal line: text $1, met if the awk condition $2 holds ("-": not
# measured), the figure $3.
goal() {
	local st
	if [ "$2" = - ]; then
		st="not measured"
		bench_json_goal "$1" "$st"
	elif awk "BEGIN { exit !($2) }"; then
		st="met ($3)"
		bench_json_goal "$1" met "$3"
	else
		st="NOT met ($3)"
		bench_json_goal "$1" "NOT met" "$3"
	fi
	bench_note "goal: $1: $st"
}

# The awk condition "$1 $2 $3" if $1 and $3 are numbers, else "-".
cond() {
	[[ "$1" =~ ^[0-9.]+$ ]] && [[ "$3" =~ ^[0-9.]+$ ]] && { echo "$1 $2 $3"; return; }
	echo -
}

# Wait up to $2 s for a line starting with $3 in file $1 while process
# $4 lives; the line on stdout.
wait_line() {
	local i line
	for ((i = 0; i < $2 * 20; i++)); do
		line=$(grep -m1 "^$3 " "$1" 2>/dev/null)
		[ -n "$line" ] && { echo "$line"; return 0; }
		kill -0 "$4" 2>/dev/null || break
		sleep 0.05
	done
	line=$(grep -m1 "^$3 " "$1" 2>/dev/null)
	[ -n "$line" ] && { echo "$line"; return 0; }
	return 1
}

# Stop client $cli_pid (if still there) and reap it.
end_client() {
	[ -n "$cli_pid" ] || return 0
	kill -TERM "$cli_pid" 2>/dev/null
	wait "$cli_pid" 2>/dev/null
	cli_pid=""
}

bench_note "http-hostile: $(echo $servers | sed "s/ /, /g") under idle, slowloris$([ "$soak" = 1 ] && echo " and soak") clients;" \
	"servers pinned to CPU $srv_cpus, clients (wrk -t1, tools/http_clients.py) to CPU $cli_cpu"
bench_note "servers: $(for name in $servers; do
	case "$name" in
	weft) printf 'weft=weft-http --backend io_uring --workers %s; ' "$workers" ;;
	weft.epoll) printf 'weft.epoll=weft-http --backend epoll --workers %s; ' "$workers" ;;
	nginx) if [ -n "$nginx" ]; then
			printf 'nginx=%s (worker_processes 1)' "$("$nginx" -v 2>&1 | sed 's/.*version: //')"
		else
			printf 'nginx=not installed'
		fi ;;
	esac
done)"
bench_note "before the run: load average $(cut -d' ' -f1-3 /proc/loadavg)," \
	"$(awk '$1 == "procs_running" { print $2 - 1 }' /proc/stat) other tasks" \
	"runnable (other work on the machine skews every figure);" \
	"open files: $(ulimit -Sn)"

notes=()
weft_failed=0
if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$need_fds" ]; then
	notes+=("open files limited to $(ulimit -Sn), fewer than the $need_fds this run needs")
fi
[ "$ncpu" -lt 2 ] && notes+=("one CPU: the clients and the server share CPU $cli_cpu")
[ "$with_nginx" = 1 ] && [ "$workers" != 1 ] &&
	notes+=("weft-http has $workers workers, nginx one worker process")

# A failed row: server $1, count $2, reason $3; a weft row fails the run.
failed_row() {
	printf '%-10s %6s failed (%s)\n' "$1" "$2" "$3"
	case "$1" in weft*) weft_failed=1 ;; esac
}

# 1. Idle -------------------------------------------------------------------

# The idle row of server $name.
idle_row() {
	local r l base base_l=() beside_l=() rps_alone rps_beside line final t_ready
	local rss0 rss1 rss2 rss3 nruns t_end t_wrk idle_s fail2 closed open_srv fds
	what="idle"
	if [ "$name" = nginx ] && [ -n "$nginx_missing" ]; then
		printf '%-10s %6s not installed (%s)\n' "$name" "$idle_conns" "$nginx_missing"
		return
	fi
	# The busy client alone: a fresh server, no idle connections.
	if ! start_server "$name" 60000 3600000; then
		failed_row "$name" "$idle_conns" "$why"
		return
	fi
	if ! check_get; then
		stop_server
		failed_row "$name" "$idle_conns" "$why"
		return
	fi
	base=$(nr_fds "$srv_pid")
	for ((r = 1; r <= runs; r++)); do
		if wrk_once 100 "$wrk_seconds"; then
			base_l+=("$w_rps")
		else
			notes+=("$name idle: wrk run $r alone failed ($why)")
		fi
		settle "$base"
	done
	stop_server
	rps_alone=$(printf '%s\n' "${base_l[@]}" | grep . | median)

	# The idle connections, and the busy client beside them.
	if ! start_server "$name" 60000 3600000; then
		failed_row "$name" "$idle_conns" "$why"
		return
	fi
	if ! check_get; then
		stop_server
		failed_row "$name" "$idle_conns" "$why"
		return
	fi
	sleep 0.2
	rss0=$(rss_kb "$srv_pid")
	: >"$tmp/idle.out"
	taskset -c "$cli_cpu" "$python" "$clients" idle --port "$srv_port" \
		--conns "$idle_conns" >"$tmp/idle.out" 2>"$tmp/idle.err" &
	cli_pid=$!
	if ! line=$(wait_line "$tmp/idle.out" $((idle_conns / 50 + 120)) ready "$cli_pid"); then
		end_client
		stop_server
		failed_row "$name" "$idle_conns" "the idle client did not get ready: $(tail -1 "$tmp/idle.err")"
		return
	fi
	t_ready=$(now)
	rss1=$(rss_kb "$srv_pid")
	if [ -n "$(field error "$line")" ]; then
		end_client
		stop_server
		failed_row "$name" "$idle_conns" "the idle client: $(field error "$line")"
		return
	fi
	[ "$(field failed "$line")" = 0 ] ||
		notes+=("$name idle: $(field failed "$line") of $idle_conns connections got no first answer")
	# The busy client's runs end the idle period, starting 2 s into it
	# at the earliest (weft parks a connection idle for 1 s).
	nruns=$runs
	t_end=$(awk -v t="$t_ready" -v s="$idle_seconds" 'BEGIN { printf "%.6f", t + s }')
	t_wrk=$(awk -v e="$t_end" -v t="$t_ready" -v n="$nruns" -v s="$wrk_seconds" \
		'BEGIN { w = e - n * (s + 0.5) - 0.5; printf "%.6f", (w < t + 2) ? t + 2 : w }')
	sleep_until "$t_wrk"
	rss2=$(rss_kb "$srv_pid")
	fds=$(nr_fds "$srv_pid")
	for ((r = 1; r <= nruns; r++)); do
		if wrk_once 100 "$wrk_seconds"; then
			beside_l+=("$w_rps")
		else
			notes+=("$name idle: wrk run $r beside the idle connections failed ($why)")
		fi
		settle "$fds"
	done
	sleep_until "$t_end"
	rss3=$(rss_kb "$srv_pid")
	idle_s=$(since "$t_ready")
	open_srv=-
	if [ "$name" != nginx ]; then
		open_srv=$(status_field connections_open)
		[ -n "$open_srv" ] && open_srv=$((open_srv - 1)) || open_srv=-
	fi
	kill -USR1 "$cli_pid" 2>/dev/null
	if ! final=$(wait_line "$tmp/idle.out" 90 final "$cli_pid"); then
		end_client
		stop_server
		failed_row "$name" "$idle_conns" "the idle client gave no final result: $(tail -1 "$tmp/idle.err")"
		return
	fi
	wait "$cli_pid" 2>/dev/null
	cli_pid=""
	stop_server
	rps_beside=$(printf '%s\n' "${beside_l[@]}" | grep . | median)
	fail2=$(field failed "$final")
	closed=$(field closed_idle "$final")
	if [ -z "$rss0" ] || [ -z "$rss3" ]; then
		failed_row "$name" "$idle_conns" "no RSS: the server is gone"
		return
	fi
	idle_fail[$name]=$fail2
	idle_ratio[$name]=$(ratio "$rps_beside" "$rps_alone")
	idle_bpc[$name]=$(awk -v a="$rss0" -v b="$rss3" -v n="$idle_conns" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')
	printf '%-10s %6s %6s %6.1f %8s %8s %8s %8s %7s %7s %6s %6s %6s %9s %9s %6s\n' \
		"$name" "$idle_conns" "$(field ok "$line")" "$idle_s" "$rss0" "$rss1" \
		"$rss2" "$rss3" "${idle_bpc[$name]}" \
		"$(awk -v a="$rss0" -v b="$rss2" -v n="$idle_conns" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')" \
		"$open_srv" "$closed" "$fail2" "$(rnd "$rps_alone")" "$(rnd "$rps_beside")" "${idle_ratio[$name]}"
	[ "$rps_alone" = - ] || [ "$rps_beside" = - ] &&
		notes+=("$name idle: no good wrk run of one kind: the ratio is not measured")
	notes+=("$name idle: wrk Requests/sec of each run: alone ${base_l[*]:-none}; beside ${beside_l[*]:-none}")
}

declare -A idle_fail=() idle_ratio=() idle_bpc=()
bench_note
bench_note "1. idle: $idle_conns keep-alive connections, one GET / each, then idle" \
	"${idle_seconds}s; the busy client: $runs x wrk -t1 -c100 -d${wrk_seconds}s at the" \
	"end of the idle period, against the same wrk runs on a fresh server alone"
bench_note "ok1: connections with their first answer; idle_s: the idle period;" \
	"rss0..rss3 (kB): before, after the requests, before the busy client, at the end"
bench_note "B/conn: (rss3 - rss0) * 1024 / conns; B/c_nowrk: (rss2 - rss0) * 1024 / conns;" \
	"open: /_status connections_open at the end, less the asker (weft only)"
bench_note "closed: connections the server closed while idle; fail2: connections" \
	"whose second GET / (after the idle period) got no full 200 answer"
bench_note "rps_alone/rps_beside: median wrk Requests/sec alone and beside the idle" \
	"connections; ratio: rps_beside / rps_alone"
bench_note "$(printf '%-8s %6s %6s %6s %8s %8s %8s %8s %7s %7s %6s %6s %6s %9s %9s %6s' \
	server conns ok1 idle_s rss0 rss1 rss2 rss3 B/conn B/c_nowrk open closed \
	fail2 rps_alone rps_beside ratio)"
for name in $servers; do
	idle_row
done
[ "$with_nginx" = 1 ] && echo "# nginx allocates its connection table for" \
	"worker_connections ($nginx_nofile) when its worker starts: that part is in its rss0"
for name in $servers; do
	case "$name" in weft*) ;; *) continue ;; esac
	v=${idle_fail[$name]:--}
	goal "$name idle: every one of $idle_conns connections answered after ${idle_seconds}s idle" \
		"$(cond "$v" == 0)" "$v failed"
	v=${idle_ratio[$name]:--}
	goal "$name idle: busy client's throughput beside idle connections, goal: unchanged (ratio >= 0.90)" \
		"$(cond "$v" '>=' 0.9)" "$v"
done
if [ -n "${idle_bpc[nginx]:-}" ]; then
	for name in $servers; do
		[ "$name" = nginx ] && continue
		[ -n "${idle_bpc[$name]:-}" ] || continue
		bench_note "$name B/conn / nginx B/conn: $(ratio "${idle_bpc[$name]}" "${idle_bpc[nginx]}")"
	done
fi

# 2. Slowloris --------------------------------------------------------------

hdr_s=$((hdr_ms / 1000))
slow_row() {
	local r line res base clean_l=() slow_l=() rc_med rs_med t_srv d tmin tmed tmax
	local wave=0 closed=0 inw=0 early=0 late=0 answered=0 cpu=0
	local repl=0 repl_closed=0 repl_inw=0 repl_bad=0 repl_young=0
	what="slowloris"
	if [ "$name" = nginx ] && [ -n "$nginx_missing" ]; then
		printf '%-10s %6s not installed (%s)\n' "$name" "$slow_conns" "$nginx_missing"
		return
	fi
	if ! start_server "$name" "$hdr_ms" 75000; then
		failed_row "$name" "$slow_conns" "$why"
		return
	fi
	if ! check_get; then
		stop_server
		failed_row "$name" "$slow_conns" "$why"
		return
	fi
	base=$(nr_fds "$srv_pid")
	: >"$tmp/times"
	# The client's time after ready: the wrk run, and every first-wave
	# connection's window (H + 2 s) with a second to spare.
	d=$((wrk_seconds + 1))
	[ "$d" -ge $((hdr_s + 3)) ] || d=$((hdr_s + 3))
	for ((r = 1; r <= runs; r++)); do
		if wrk_once 100 "$wrk_seconds"; then
			clean_l+=("$w_rps")
		else
			notes+=("$name slowloris: clean wrk run $r failed ($why)")
		fi
		settle "$base"
		: >"$tmp/slow.out"
		taskset -c "$cli_cpu" "$python" "$clients" slowloris \
			--port "$srv_port" --conns "$slow_conns" --seconds "$d" \
			--pressure "$wrk_seconds.5" --interval 1 --lo "$hdr_s" \
			--hi $((hdr_s + 2)) --times "$tmp/times.$r" \
			>"$tmp/slow.out" 2>"$tmp/slow.err" &
		cli_pid=$!
		if ! line=$(wait_line "$tmp/slow.out" 60 ready "$cli_pid") ||
			[ -n "$(field error "$line")" ]; then
			end_client
			notes+=("$name slowloris: run $r: the slow client did not get ready (${line:-$(tail -1 "$tmp/slow.err")})")
			continue
		fi
		if wrk_once 100 "$wrk_seconds"; then
			slow_l+=("$w_rps")
		else
			notes+=("$name slowloris: wrk run $r beside the slow connections failed ($why)")
		fi
		if ! res=$(wait_line "$tmp/slow.out" $((d + 30)) result "$cli_pid"); then
			end_client
			notes+=("$name slowloris: run $r: the slow client gave no result ($(tail -1 "$tmp/slow.err"))")
			continue
		fi
		wait "$cli_pid" 2>/dev/null
		cli_pid=""
		cat "$tmp/times.$r" >>"$tmp/times"
		wave=$((wave + $(field wave "$res")))
		closed=$((closed + $(field closed "$res")))
		inw=$((inw + $(field in_window "$res")))
		early=$((early + $(field early "$res")))
		late=$((late + $(field late "$res")))
		answered=$((answered + $(field got_408 "$res")))
		repl=$((repl + $(field repl "$res")))
		repl_closed=$((repl_closed + $(field repl_closed "$res")))
		repl_inw=$((repl_inw + $(field repl_in_window "$res")))
		repl_bad=$((repl_bad + $(field repl_early "$res") + $(field repl_late "$res")))
		repl_young=$((repl_young + $(field repl_young "$res")))
		cpu=$(awk -v a="$cpu" -v b="$(field cpu_s "$res")" 'BEGIN { print a + b }')
		[ "$(field connected "$res")" = "$(field wave "$res")" ] ||
			notes+=("$name slowloris: run $r: only $(field connected "$res") of $(field wave "$res") slow connections connected")
		settle "$base"
	done
	t_srv=-
	[ "$name" = nginx ] || t_srv=$(status_field timeouts)
	kill -0 "$srv_pid" 2>/dev/null || notes+=("$name slowloris: the server died")
	stop_server
	rc_med=$(printf '%s\n' "${clean_l[@]}" | grep . | median)
	rs_med=$(printf '%s\n' "${slow_l[@]}" | grep . | median)
	if [ "$wave" = 0 ]; then
		failed_row "$name" "$slow_conns" "no slowloris run completed"
		return
	fi
	slow_ratio[$name]=$(ratio "$rs_med" "$rc_med")
	slow_inw[$name]="$inw/$wave"
	read -r tmin tmed tmax < <(sort -g "$tmp/times" | awk '{ v[NR] = $1 }
		END {
			if (NR == 0) { print "- - -"; exit }
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.3f %.3f %.3f\n", v[1], m, v[NR]
		}')
	slow_times[$name]="$tmin/$tmed/$tmax"
	printf '%-10s %6s %4s %9s %9s %6s %6s %6s %6s %6s %6s %7s %7s %7s %8s %7s\n' \
		"$name" "$slow_conns" "$runs" "$(rnd "$rc_med")" "$(rnd "$rs_med")" "${slow_ratio[$name]}" \
		"$wave" "$closed" "$inw" "$early" "$late" "$tmin" "$tmed" "$tmax" \
		"$answered" "${t_srv:--}"
	notes+=("$name slowloris: wrk Requests/sec of each run: clean ${clean_l[*]:-none}; beside the slow connections ${slow_l[*]:-none}")
	notes+=("$name slowloris: replacements: $repl opened while wrk ran, $repl_closed closed by the server, $repl_inw in their window, $repl_bad outside it, $repl_young too young to judge at the end; the slow client used ${cpu} s of CPU")
}

declare -A slow_ratio=() slow_inw=() slow_times=()
bench_note
bench_note "2. slowloris: $slow_conns connections sending a request header one byte a" \
	"second, never ending it; weft-http --header-timeout $hdr_ms, nginx" \
	"client_header_timeout ${hdr_ms}ms; $runs x (wrk -t1 -c100 -d${wrk_seconds}s" \
	"clean, then the same beside the slow connections), one server"
bench_note "rps_clean/rps_slow: median wrk Requests/sec; ratio: rps_slow / rps_clean;" \
	"wave: first-wave slow connections of all runs"
bench_note "closed: of them closed by the server; in_win: closed ${hdr_s}..$((hdr_s + 2)) s" \
	"after their connect() call; early/late: before/after (late: also still open);" \
	"min/med/max_s: close times"
bench_note "answered: got bytes (weft: 408) before the close; srv_to: weft-http's" \
	"/_status timeouts at the end (clean runs and check GET included)"
bench_note "$(printf '%-8s %6s %4s %9s %9s %6s %6s %6s %6s %6s %6s %7s %7s %7s %8s %7s' \
	server conns runs rps_clean rps_slow ratio wave closed in_win early late \
	min_s med_s max_s answered srv_to)"
for name in $servers; do
	slow_row
done
for name in $servers; do
	case "$name" in weft*) ;; *) continue ;; esac
	v=${slow_ratio[$name]:--}
	goal "$name slowloris: wrk throughput beside $slow_conns slow connections (ratio >= 0.90)" \
		"$(cond "$v" '>=' 0.9)" "$v"
	v=${slow_inw[$name]:--/-}
	goal "$name slowloris: every slow connection closed ${hdr_s}..$((hdr_s + 2)) s after its connect" \
		"$(cond "${v%/*}" == "${v#*/}")" "$v in window, min/med/max ${slow_times[$name]:--} s"
done

# 3. Soak -------------------------------------------------------------------

soak_row() {
	local res rps n err detail rss0 fd0 t0 rc i t30 tmid fd_end open_after
	local rss30 rssmid rssend fdmax st_req
	what="soak"
	if ! start_server "$name" 60000 75000; then
		failed_row "$name" 2000 "$why"
		return
	fi
	if ! check_get; then
		stop_server
		failed_row "$name" 2000 "$why"
		return
	fi
	sleep 0.2
	fd0=$(nr_fds "$srv_pid")
	rss0=$(rss_kb "$srv_pid")
	: >"$tmp/soak.samples"
	t0=$(now)
	timeout $((soak_seconds + 120)) taskset -c "$cli_cpu" "$wrk" -t1 -c2000 \
		-d"${soak_seconds}s" "http://127.0.0.1:$srv_port/" \
		>"$tmp/wrk.out" 2>"$tmp/wrk.err" &
	wrk_pid=$!
	for ((i = 1; ; i++)); do
		sleep_until "$(awk -v t="$t0" -v i="$i" 'BEGIN { printf "%.6f", t + i }')"
		kill -0 "$wrk_pid" 2>/dev/null || break
		echo "$(since "$t0") $(rss_kb "$srv_pid") $(nr_fds "$srv_pid")" >>"$tmp/soak.samples"
	done
	wait "$wrk_pid"
	rc=$?
	wrk_pid=""
	res=$(wrk_parse <"$tmp/wrk.out")
	if ! kill -0 "$srv_pid" 2>/dev/null; then
		stop_server
		failed_row "$name" 2000 "the server died during the soak (wrk exit $rc)"
		return
	fi
	settle $((fd0 + 5))
	fd_end=$(nr_fds "$srv_pid")
	open_after=$(status_field connections_open)
	[ -n "$open_after" ] && open_after=$((open_after - 1)) || open_after=-
	st_req=$(status_field requests)
	stop_server
	if [ "$res" = - ]; then
		failed_row "$name" 2000 "wrk exit $rc, no result: $(cat "$tmp/wrk.err" | tail -1)"
		return
	fi
	read -r rps n err detail <<<"$res"
	[ "$rc" = 0 ] || notes+=("$name soak: wrk exit $rc")
	[ "$detail" = - ] || notes+=("$name soak: wrk: ${detail//_/ }")
	# The samples at 30 s (or half a run shorter than 60 s), at half
	# the run, and the last one.
	t30=30
	[ "$soak_seconds" -ge 60 ] || t30=$((soak_seconds / 2))
	tmid=$((soak_seconds / 2))
	rss30=$(awk -v t="$t30" '$1 >= t && $2 != "" { print $2; exit }' "$tmp/soak.samples")
	rssmid=$(awk -v t="$tmid" '$1 >= t && $2 != "" { print $2; exit }' "$tmp/soak.samples")
	rssend=$(awk '$2 != "" { v = $2 } END { print v }' "$tmp/soak.samples")
	fdmax=$(awk 'BEGIN { m = 0 } $3 > m { m = $3 } END { print m }' "$tmp/soak.samples")
	soak_err[$name]=$err
	soak_flat[$name]=$(ratio "$rssend" "$rss30")
	soak_fd[$name]="$fd0 $fd_end"
	printf '%-10s %6s %5s %10s %8.0f %6s %8s %8s %8s %8s %6s %5s %6s %6s %6s\n' \
		"$name" 2000 "$soak_seconds" "$n" "$rps" "$err" "$rss0" "${rss30:--}" \
		"${rssmid:--}" "${rssend:--}" "${soak_flat[$name]}" "$fd0" "$fdmax" \
		"$fd_end" "$open_after"
	[ -n "$st_req" ] && notes+=("$name soak: weft-http counted $st_req requests (/_status, the check GET and the asker included), wrk $n completed")
}

if [ "$soak" = 1 ]; then
	declare -A soak_err=() soak_flat=() soak_fd=()
	bench_note
	bench_note "3. soak: wrk -t1 -c2000 -d${soak_seconds}s on GET /, a fresh server each" \
		"(weft rows only: the row reads weft-http's /_status)"
	bench_note "requests/rps/errors: wrk's (errors: socket errors and non-2xx/3xx);" \
		"rss (kB): before wrk, 30 s in (half the run if under 60 s), at half the run, last sample"
	bench_note "end/30: rss_end / rss30; fd0: descriptors before wrk, fd_max: most" \
		"while it ran, fd_end: after it left (within 10 s); open_after: /_status connections_open then"
	bench_note "$(printf '%-8s %6s %5s %10s %8s %6s %8s %8s %8s %8s %6s %5s %6s %6s %6s' \
		server conns secs requests rps errors rss0 rss30 rss_mid rss_end \
		end/30 fd0 fd_max fd_end open_after)"
	for name in $servers; do
		[ "$name" = nginx ] && continue
		soak_row
	done
	for name in $servers; do
		[ "$name" = nginx ] && continue
		v=${soak_err[$name]:--}
		goal "$name soak: no wrk errors in ${soak_seconds}s at 2000 connections" \
			"$(cond "$v" == 0)" "$v errors"
		v=${soak_flat[$name]:--}
		goal "$name soak: RSS flat, rss_end <= 1.2 x rss30" \
			"$(cond "$v" '<=' 1.2)" "$v"
		read -r a b <<<"${soak_fd[$name]:-- -}"
		goal "$name soak: descriptors back to the start after the clients left (fd_end <= fd0 + 5)" \
			"$(cond "$b" '<=' "$((${a/-/-1000000} + 5))")" "$b, fd0 $a"
	done
fi

for n in "${notes[@]}"; do
	bench_note "note: $n"
done
bench_note "after the run: load average $(cut -d' ' -f1-3 /proc/loadavg); wall time: $(since "$t_start") s"
exit "$weft_failed"
