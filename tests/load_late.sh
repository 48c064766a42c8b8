#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# weft-load never calls a run that served nothing a success:
#   - against a server that echoes every message only after the window
#     has closed, it counts those late answers in late=N, says on stderr
#     that no round trip ended inside the window and exits 1 (it used to
#     print round_trips=0 errors=0 and exit 0);
#   - with nothing listening, every connect fails: it says so, counts
#     them in connect_failures and exits 1;
#   - against weft-echo it still exits 0, with round trips done and the
#     late field on its line.
# The slow server is a few lines of Python, which meson needs anyway.
# About 5 s.
#
# Usage: tests/load_late.sh WEFT_ECHO WEFT_LOAD
# Exits 0 on success, 77 (skip) without io_uring or python3, 1 on failure.
set -u
if [ $# -ne 2 ]; then
	echo "usage: $0 WEFT_ECHO WEFT_LOAD" >&2
	exit 2
fi
echo_exe=$1
load_exe=$2
conns=10

if ! command -v python3 >/dev/null; then
	echo "python3 is not installed: skipping"
	exit 77
fi
tmp=$(mktemp -d)
srv=""
trap '[ -n "$srv" ] && kill -KILL "$srv" 2>/dev/null; rm -rf "$tmp"' EXIT

nfail=0
fail() {
	echo "FAIL: $*"
	nfail=$((nfail + 1))
}

# Start "$@" in the background with stdout into $tmp/srv.out and wait
# for its first line, "listening on 127.0.0.1:PORT" and perhaps more;
# sets srv (its pid) and port. Returns 1 if no port came.
start_server() {
	local line="" i
	: >"$tmp/srv.out"
	"$@" >>"$tmp/srv.out" 2>"$tmp/srv.err" &
	srv=$!
	for ((i = 0; i < 200; i++)); do
		read -r line <"$tmp/srv.out" && [ -n "$line" ] && break
		kill -0 "$srv" 2>/dev/null || break
		sleep 0.05
	done
	port=${line#listening on 127.0.0.1:}
	port=${port%% *}
	[ -n "$port" ] && [ "$port" -gt 0 ] 2>/dev/null
}

stop_server() {
	kill -TERM "$srv" 2>/dev/null
	wait "$srv" 2>/dev/null
	srv=""
}

# Run weft-load against $port for 1 s; sets rc, out (its summary line)
# and err (its stderr).
run_load() {
	"$load_exe" --port "$port" --conns "$conns" --size 64 --seconds 1 \
		--workers 1 >"$tmp/load.out" 2>"$tmp/load.err"
	rc=$?
	out=$(grep -m1 '^conns=' "$tmp/load.out")
	err=$(cat "$tmp/load.err")
	echo "$1: exit $rc"
	echo "  stdout: $out"
	[ -n "$err" ] && sed 's/^/  stderr: /' <<<"$err"
	if grep -q 'weft_run: Function not implemented' <<<"$err"; then
		echo "io_uring unavailable: skipping"
		exit 77
	fi
}

# The value of field $1 ("key=value") of $out, or "" if there is none.
field() {
	local kv
	for kv in $out; do
		[ "${kv%%=*}" = "$1" ] && { echo "${kv#*=}"; return; }
	done
	echo ""
}

# 1. The normal case: weft-echo answers at once.
if start_server "$echo_exe" --workers 1 --port 0; then
	run_load "weft-echo"
	[ "$rc" = 0 ] || fail "against weft-echo weft-load exited $rc, not 0"
	[ "$(field round_trips)" -gt 0 ] 2>/dev/null ||
		fail "against weft-echo no round trip was counted"
	[ -n "$(field late)" ] || fail "the summary line has no late= field"
	[ "$(field errors)" = 0 ] || fail "against weft-echo errors is not 0"
	stop_server
else
	fail "weft-echo printed no port: $(cat "$tmp/srv.err")"
fi

# 2. Every echo 2 s after its message: all of them after the 1 s window,
# all within weft-load's grace period.
cat >"$tmp/late.py" <<'EOF'
import socket, sys, threading, time

def serve(c):
    with c:
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    return
                time.sleep(2.0)
                c.sendall(d)
        except OSError:
            return

ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(128)
print("listening on 127.0.0.1:%d" % ls.getsockname()[1], flush=True)
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
if start_server python3 "$tmp/late.py"; then
	run_load "late server"
	[ "$rc" = 1 ] || fail "against the late server weft-load exited $rc, not 1"
	[ "$(field round_trips)" = 0 ] ||
		fail "round trips answered after the window were counted in it"
	[ "$(field late)" = "$conns" ] ||
		fail "late is '$(field late)', not $conns"
	grep -q 'no round trip' <<<"$err" ||
		fail "stderr does not say that no round trip ended in the window"
	stop_server
else
	fail "the late server printed no port: $(cat "$tmp/srv.err")"
fi

# 3. Nothing listening (the late server's port, now closed): every
# connect is refused.
if [ -n "${port:-}" ]; then
	run_load "nothing listening"
	[ "$rc" = 1 ] || fail "with nothing listening weft-load exited $rc, not 1"
	[ "$(field connect_failures)" = "$conns" ] ||
		fail "connect_failures is '$(field connect_failures)', not $conns"
	grep -q 'no connection' <<<"$err" ||
		fail "stderr does not say that no connection was made"
fi

if [ "$nfail" -gt 0 ]; then
	echo "$nfail checks failed"
	exit 1
fi
echo "all checks passed"
exit 0
