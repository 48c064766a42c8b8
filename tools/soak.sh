#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The long versions of the hostile-client, foreign-wake-up and
# exhaustion tests, outside the CI budget:
#   echo     weft-echo against weft-load with 2,000 connections for 120 s:
#            0 errors, 0 mismatches, 0 failed connects; the server's VmRSS
#            flat after a 20 s warm-up (every sample within 10% + 4 MiB of
#            the first) and its descriptors steady; back to the baseline
#            within 5 s of the clients going; then SIGTERM under a second
#            load of 2,000 connections: exit 0 within 2 s
#   hostile  tests/test_hostile with its counts and durations x10
#            (WEFT_HOSTILE_SCALE): 40 s of 1,000 slowloris connections, a
#            burst of as many connections as RLIMIT_NOFILE allows (40,000
#            at most), 64 never-reading clients, 50,000 mid-stream resets,
#            6,000 half-closes, EMFILE, signals
#   parked   tests/stress_parked with 5,000,000 fibers parked in channels,
#            semaphores and wait groups, woken by a plain thread and a
#            fiber, joined, and the memory given back (about 12 GB at the
#            peak)
#   foreign  tests/test_foreign at 100,000 rounds per primitive and worker
#            count, then its I/O-cancel case (a cancel from a plain thread
#            of a fiber in weft_read, weft_poll or weft_accept; it used to
#            be lost) for 4,000,000 rounds per worker count, which also
#            reports any round ended by the last round's cancel (a known
#            defect, tests/meson.build: foreign_cancel_stale)
#   exhaust  tests/test_exhaust (RLIMIT_AS, EMFILE) ten times
# Each phase prints what it measured and PASS or FAIL; the script ends with
# "soak: N passed, N failed" and exits 1 if anything failed.
#
# Usage: tools/soak.sh [--quick] [--only PHASE,...] [BUILD_DIR]
#   BUILD_DIR  a release build with the tests (default: build-soak, set up
#              and built here if it does not exist)
#   --quick    every phase shortened to a few seconds (echo: 200
#              connections for 5 s, no warm-up; hostile left out, the unit
#              suite runs it; parked: 100,000; foreign: 300 rounds and no
#              I/O-cancel case; exhaust once): about 20 s, a check that
#              the script itself works (the stress suite runs it as
#              soak_quick in release builds)
#   --only     run only the phases named, e.g. --only echo,parked
set -u
cd "$(dirname "$0")/.."
top=$(pwd)

quick=0
only=""
build=""
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=1 ;;
	--only) shift; only=${1:-} ;;
	--only=*) only=${1#--only=} ;;
	-h|--help) sed -n '3,/^set -u/p' "$0" | sed 's/^# \{0,1\}//; /^set -u/d'; exit 0 ;;
	-*) echo "soak.sh: unknown option $1" >&2; exit 2 ;;
	*) build=$1 ;;
	esac
	shift
done
[ -n "$build" ] || build="$top/build-soak"
if [ ! -d "$build" ]; then
	echo "== setting up $build (release)"
	meson setup "$build" --buildtype=release -Dtests=true >/dev/null &&
		ninja -C "$build" >/dev/null || { echo "soak: build failed"; exit 1; }
fi
build=$(cd "$build" && pwd)
echo_exe="$build/tools/weft-echo"
load_exe="$build/tools/weft-load"
for f in "$echo_exe" "$load_exe" "$build/tests/test_hostile" \
	 "$build/tests/stress_parked" "$build/tests/test_foreign" \
	 "$build/tests/test_exhaust"; do
	[ -x "$f" ] || { echo "soak: $f is missing (build with -Dtests=true)"; exit 1; }
done

passed=0
failed=0
tmp=$(mktemp -d)
server=""
load=""
cleanup() {
	[ -n "$load" ] && kill -9 "$load" 2>/dev/null
	[ -n "$server" ] && kill -9 "$server" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

want() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }
pass() { echo "$1: PASS"; passed=$((passed + 1)); }
fail() { echo "$1: FAIL: $2"; failed=$((failed + 1)); }

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
nfds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
# The number after KEY= in a weft-load summary line.
field() { sed -n "s/.*\\b$2=\\([0-9.]*\\).*/\\1/p" <<<"$1"; }

# Start weft-echo; sets $server and $port.
start_server() {
	"$echo_exe" --port 0 >"$tmp/echo.out" 2>"$tmp/echo.err" &
	server=$!
	for _ in $(seq 100); do
		port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*$/\1/p' "$tmp/echo.out")
		if [ -n "$port" ]; then
			# WEFT_BACKEND, when set, is the backend it runs on.
			case "${WEFT_BACKEND:-auto}" in
			auto) return 0 ;;
			*) grep -q "($WEFT_BACKEND)\$" "$tmp/echo.out" && return 0
			   echo "soak: weft-echo is not on WEFT_BACKEND=$WEFT_BACKEND: $(cat "$tmp/echo.out")" >&2
			   return 1 ;;
			esac
		fi
		sleep 0.1
	done
	return 1
}

# SIGTERM the server; sets $stop_status and $stop_ms.
stop_server() {
	local t0
	t0=$(date +%s%N)
	kill -TERM "$server"
	wait "$server"
	stop_status=$?
	stop_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	server=""
}

phase_echo() {
	local conns=2000 secs=120 warm=20 every=5
	[ $quick = 1 ] && { conns=200; secs=5; warm=1; every=1; }
	echo "== echo: $conns connections for $secs s against weft-echo"
	start_server || { fail echo "weft-echo did not start"; return; }
	local base_fds base_rss
	base_fds=$(nfds "$server")
	base_rss=$(rss_kib "$server")
	"$load_exe" --port "$port" --conns "$conns" --size 64 \
		--seconds "$secs" >"$tmp/load.out" 2>"$tmp/load.err" &
	load=$!
	local first=0 max=0 min=0 maxfds=0 minfds=0 t=0 samples="" r n
	while kill -0 "$load" 2>/dev/null; do
		sleep "$every"
		t=$((t + every))
		r=$(rss_kib "$server")
		n=$(nfds "$server")
		# Only samples taken inside weft-load's window count.
		kill -0 "$load" 2>/dev/null || break
		[ "$t" -le "$warm" ] && continue
		[ "$t" -ge "$secs" ] && continue
		samples+=" $((r / 1024))"
		if [ "$first" = 0 ]; then
			first=$r; max=$r; min=$r; maxfds=$n; minfds=$n
		fi
		[ "$r" -gt "$max" ] && max=$r
		[ "$r" -lt "$min" ] && min=$r
		[ "$n" -gt "$maxfds" ] && maxfds=$n
		[ "$n" -lt "$minfds" ] && minfds=$n
	done
	wait "$load"
	local lst=$?
	load=""
	local line
	line=$(cat "$tmp/load.out")
	echo "weft-load: $line"
	echo "server: baseline $base_fds fds, $((base_rss / 1024)) MiB; after warm-up VmRSS MiB:$samples"
	echo "server: VmRSS first $((first / 1024)) MiB, min $((min / 1024)), max $((max / 1024)); fds $minfds..$maxfds"
	local ok=1 why=""
	[ "$lst" = 0 ] || { ok=0; why+="weft-load exit $lst; "; }
	[ "$(field "$line" errors)" = 0 ] || { ok=0; why+="errors; "; }
	[ "$(field "$line" mismatches)" = 0 ] || { ok=0; why+="mismatches; "; }
	[ "$(field "$line" connect_failures)" = 0 ] || { ok=0; why+="failed connects; "; }
	[ "${line:+x}" ] && [ "$(field "$line" round_trips)" != 0 ] || { ok=0; why+="no round trips; "; }
	if [ "$first" != 0 ]; then
		[ "$max" -le $((first + first / 10 + 4096)) ] || { ok=0; why+="VmRSS grew ($((first / 1024)) -> $((max / 1024)) MiB); "; }
		[ "$minfds" -ge $((base_fds + conns)) ] || { ok=0; why+="connections missing ($minfds fds); "; }
		[ "$maxfds" -le $((base_fds + conns + 16)) ] || { ok=0; why+="descriptors grew ($maxfds); "; }
	fi
	# The clients are gone: descriptors back to the baseline in 5 s.
	local back=0
	for _ in $(seq 50); do
		[ "$(nfds "$server")" -le "$base_fds" ] && { back=1; break; }
		sleep 0.1
	done
	echo "server: $(nfds "$server") fds, $(( $(rss_kib "$server") / 1024 )) MiB after the clients left"
	[ $back = 1 ] || { ok=0; why+="descriptors not back to $base_fds; "; }

	# SIGTERM under load.
	"$load_exe" --port "$port" --conns "$conns" --size 64 --seconds 30 \
		>/dev/null 2>&1 &
	load=$!
	for _ in $(seq 100); do
		[ "$(nfds "$server")" -ge $((base_fds + conns)) ] && break
		sleep 0.1
	done
	sleep 1
	local busy
	busy=$(nfds "$server")
	stop_server
	kill -9 "$load" 2>/dev/null
	wait "$load" 2>/dev/null
	load=""
	echo "SIGTERM with $busy descriptors open: exit $stop_status after $stop_ms ms"
	[ "$busy" -ge $((base_fds + conns)) ] || { ok=0; why+="the second load never connected; "; }
	[ "$stop_status" = 0 ] || { ok=0; why+="exit status $stop_status after SIGTERM; "; }
	[ "$stop_ms" -le 2000 ] || { ok=0; why+="SIGTERM took $stop_ms ms; "; }
	[ $ok = 1 ] && pass echo || fail echo "$why"
}

# run_bin NAME CMD...: run a test binary (through env, for its settings);
# its output is shown, its exit status is the verdict.
run_bin() {
	local name=$1 st t0
	shift
	echo "== $name: $*"
	t0=$(date +%s)
	"$@" >"$tmp/$name.out" 2>&1
	st=$?
	grep -v '^weft-load: connection' "$tmp/$name.out" | tail -40
	echo "$name: $(( $(date +%s) - t0 )) s"
	if [ "$st" = 0 ]; then
		pass "$name"
	else
		fail "$name" "exit status $st"
	fi
}

phase_hostile() {
	[ $quick = 1 ] && return
	run_bin hostile env WEFT_HOSTILE_SCALE=10 \
		"$build/tests/test_hostile" "$echo_exe" "$load_exe"
}

phase_parked() {
	local n=5000000
	[ $quick = 1 ] && n=100000
	run_bin parked env WEFT_STRESS_ITERS=$n "$build/tests/stress_parked"
}

phase_foreign() {
	local n=100000
	[ $quick = 1 ] && n=300
	run_bin foreign env WEFT_STRESS_ITERS=$n "$build/tests/test_foreign"
	[ $quick = 1 ] && return
	# About a minute per worker count at ~15 us a round.
	run_bin foreign_cancel_io env WEFT_STRESS_ITERS=4000000 \
		"$build/tests/test_foreign" cancel-io
}

phase_exhaust() {
	local n=10 i ok=1
	[ $quick = 1 ] && n=1
	echo "== exhaust: tests/test_exhaust x$n"
	for i in $(seq "$n"); do
		"$build/tests/test_exhaust" >"$tmp/exhaust.out" 2>&1 || { ok=0; cat "$tmp/exhaust.out"; }
	done
	grep -E 'spawned|CPU over' "$tmp/exhaust.out"
	[ $ok = 1 ] && pass exhaust || fail exhaust "a run failed"
}

start=$(date +%s)
echo "soak: $build$([ $quick = 1 ] && echo ' (quick)'); $(nproc) CPUs, RLIMIT_NOFILE $(ulimit -n)"
want echo && phase_echo
want hostile && phase_hostile
want parked && phase_parked
want foreign && phase_foreign
want exhaust && phase_exhaust
echo "soak: $passed passed, $failed failed in $(( $(date +%s) - start )) s"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
