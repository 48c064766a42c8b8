#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Where an echo server's CPU goes: the kernel's TCP work, which every
# server pays the same, against everything else (system-call entry, the
# readiness mechanism, the runtime, the program). Shares of one process's
# samples are steady where round trips per second are not: on a shared
# machine the rates of two runs minutes apart differ by 10-20%.
#
# For each server it starts a fresh server, drives it with weft-load (one
# worker, 64-byte messages) and samples the server with perf record -g
# for the middle of the run. Then it prints, per server, the share of the
# server's samples under tcp_sendmsg (sending, with the loopback delivery
# into the peer's socket that runs inside it), under tcp_recvmsg, and the
# rest. A server with no overhead at all would spend only the TCP share,
# so 1 / (TCP share) of another server is the most any server could gain
# on it in CPU per round trip: "ceiling".
#
# Usage: tools/profile-echo.sh --build DIR [--conns N] [--seconds T]
#                              [--servers "weft.w1 epoll"] [--keep DIR]
#   --keep   leave each server's perf data in DIR/SERVER.data
#   servers: weft (weft-echo, one worker per CPU), weft.w1 (one worker),
#            epoll, threads (bench/echo_*)
# Needs perf (Debian: linux-perf) and root or perf_event_paranoid <= 1.
set -u

build=""
conns=1000
seconds=6
servers="weft.w1 epoll"
keep=""
while [ $# -gt 0 ]; do
	case "$1" in
	--build) build=$2; shift ;;
	--conns) conns=$2; shift ;;
	--seconds) seconds=$2; shift ;;
	--servers) servers=$2; shift ;;
	--keep) keep=$2; shift ;;
	-h|--help) sed -n '3,24p' "$0"; exit 0 ;;
	*) echo "tools/profile-echo.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
if [ -z "$build" ] || [ ! -x "$build/tools/weft-load" ]; then
	echo "tools/profile-echo.sh: --build DIR (a built tree) is required" >&2
	exit 2
fi
if ! [ "$seconds" -ge 3 ] 2>/dev/null; then
	echo "tools/profile-echo.sh: --seconds must be a number, at least 3" >&2
	exit 2
fi
if ! command -v perf >/dev/null; then
	echo "tools/profile-echo.sh: perf is missing (apt-get install linux-perf)" >&2
	exit 2
fi
declare -A cmd=(
	[weft]="$build/tools/weft-echo"
	[weft.w1]="$build/tools/weft-echo --workers 1"
	[epoll]="$build/bench/echo_epoll"
	[threads]="$build/bench/echo_threads"
)
for s in $servers; do
	if [ -z "${cmd[$s]:-}" ]; then
		echo "tools/profile-echo.sh: no server named $s" >&2
		exit 2
	fi
done
[ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt $((conns + 1024)) ] &&
	ulimit -Sn $((conns + 1024)) 2>/dev/null

tmp=$(mktemp -d)
srv=""
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$tmp"' EXIT

# The children share of symbol $2 in perf data $1, in percent.
share() {
	perf report -i "$1" --children --sort sym -g none 2>/dev/null |
		awk -v s="$2" '$NF == s { sub(/%/, "", $1); print $1; exit }'
}

printf '# %-8s %7s %7s %8s %8s %8s %8s %8s\n' server rps cli_cpu \
	samples tcp_send tcp_recv other ceiling
for s in $servers; do
	: >"$tmp/srv.out"
	${cmd[$s]} --port 0 >"$tmp/srv.out" 2>/dev/null &
	srv=$!
	line=""
	for ((i = 0; i < 100; i++)); do
		read -r line <"$tmp/srv.out" && [ -n "$line" ] && break
		sleep 0.05
	done
	# "listening on 127.0.0.1:PORT", and weft-echo adds " (BACKEND)".
	port=${line##*:}
	port=${port%% *}
	"$build/tools/weft-load" --port "$port" --conns "$conns" --size 64 \
		--seconds "$seconds" --workers 1 >"$tmp/load.out" 2>&1 &
	load=$!
	# Sample the middle of the window: connecting takes up to a second.
	sleep 1.5
	perf record -q -g -p "$srv" -o "$tmp/$s.data" -- \
		sleep $((seconds - 2)) >/dev/null 2>&1
	wait "$load"
	kill "$srv" 2>/dev/null
	wait "$srv" 2>/dev/null
	srv=""
	res=$(grep -m1 '^conns=' "$tmp/load.out")
	rps=$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$res")
	cli=$(sed -n 's/.* cpu_pct=\([0-9]*\).*/\1/p' <<<"$res")
	samples=$(perf report -i "$tmp/$s.data" --stdio 2>/dev/null |
		sed -n 's/^# Samples: \([0-9.]*[KM]*\).*/\1/p' | head -1)
	send=$(share "$tmp/$s.data" tcp_sendmsg)
	recv=$(share "$tmp/$s.data" tcp_recvmsg)
	[ -n "$keep" ] && mkdir -p "$keep" && cp "$tmp/$s.data" "$keep/$s.data"
	awk -v n="$s" -v r="${rps:-0}" -v c="${cli:--}" -v k="${samples:-0}" \
		-v a="${send:-0}" -v b="${recv:-0}" 'BEGIN {
		o = 100 - a - b
		printf "  %-8s %7.0f %7s %8s %7.1f%% %7.1f%% %7.1f%% %8.2f\n",
			n, r, c, k, a, b, o, (a + b > 0 ? 100 / (a + b) : 0)
	}'
done
echo "# ceiling: 1 / (TCP share): the most a server with no overhead could"
echo "# gain on this one in CPU per round trip (loopback; on the same kernel)"
