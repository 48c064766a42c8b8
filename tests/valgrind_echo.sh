#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# weft-echo and weft-load, each on one worker, both under Valgrind's
# memcheck with Tokio's stress-test flags: every byte echoed must match,
# and neither process may show a memory error or a definite leak. Valgrind
# cannot see the kernel write into a buffer through io_uring, so this also
# proves that weft marks what a read brought in as defined (weft-load
# compares every byte it reads into a buffer it never wrote). The server
# has two workers: valgrind 3.19 holds its big lock across io_uring_enter,
# so weft sleeps in poll(2) under valgrind (poller_uring.c), and wake-ups
# between workers must get through.
#
# Usage: tests/valgrind_echo.sh WEFT_ECHO WEFT_LOAD
# Exits 0 on success, 77 (skip) without valgrind, 1 on failure.
set -u
echo_exe=$1
load_exe=$2

if ! command -v valgrind >/dev/null; then
	echo "valgrind is not installed (apt-get install valgrind)"
	exit 77
fi
vg=(valgrind -q --error-exitcode=99 --leak-check=full
    --show-leak-kinds=definite --errors-for-leak-kinds=definite
    --fair-sched=yes)
tmp=$(mktemp -d)
srv=""
trap '[ -n "$srv" ] && kill -KILL "$srv" 2>/dev/null; rm -rf "$tmp"' EXIT

fail() {
	echo "valgrind_echo: $*"
	for f in "$tmp"/*.err; do
		[ -s "$f" ] && { echo "--- ${f##*/}"; tail -40 "$f"; }
	done
	exit 1
}

: >"$tmp/srv.out"
"${vg[@]}" "$echo_exe" --workers 2 --port 0 >>"$tmp/srv.out" 2>"$tmp/srv.err" &
srv=$!
line=""
for ((i = 0; i < 600; i++)); do
	read -r line <"$tmp/srv.out" && [ -n "$line" ] && break
	kill -0 "$srv" 2>/dev/null || break
	sleep 0.05
done
case "$line" in
"listening on 127.0.0.1:"[0-9]*) ;;
*) fail "weft-echo printed no port under valgrind (got '$line')" ;;
esac
port=${line#listening on 127.0.0.1:}
port=${port%% *}
case "${WEFT_BACKEND:-auto}" in
auto) ;;
*) [[ "$line" == *"($WEFT_BACKEND)" ]] ||
	fail "weft-echo is not on WEFT_BACKEND=$WEFT_BACKEND (got '$line')" ;;
esac

"${vg[@]}" "$load_exe" --port "$port" --conns 50 --size 64 --seconds 2 \
	--workers 1 >"$tmp/load.out" 2>"$tmp/load.err"
rc=$?
cat "$tmp/load.out"
[ "$rc" = 0 ] || fail "weft-load exited $rc (99: valgrind found errors)"
grep -q ' round_trips=[1-9]' "$tmp/load.out" ||
	fail "weft-load did no round trip"

kill -TERM "$srv"
wait "$srv"
rc=$?
srv=""
[ "$rc" = 0 ] || fail "weft-echo exited $rc (99: valgrind found errors)"
echo "valgrind_echo: no memory errors and no definite leaks in either process"
