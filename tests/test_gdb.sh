#!/bin/sh
# SPDX-License-Identifier: MIT
# tools/gdb/weft.py against a live weft program and against a core file of
# it (gcore): `weft fibers` names every fiber's wait, `weft bt` shows a
# parked fiber's stack down to its function (on each worker) and a running
# one's from its worker's thread, `weft switch` lets frame and bt walk a
# parked fiber's frames. Run in every build without a sanitizer: release
# (no debug information: symbols and .eh_frame only) and debugoptimized.
# Usage: test_gdb.sh GDB_TARGET WEFT_PY
set -u
target=$1
py=$2
dir=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

fail() {
	echo "test_gdb: $*" >&2
	for f in "$dir"/*.txt; do
		[ -f "$f" ] && { echo "--- $f"; cat "$f"; } >&2
	done
	exit 1
}

command -v gdb >/dev/null || fail "gdb is not installed (tools/test.sh installs it)"
command -v gcore >/dev/null || fail "gcore is not installed (it comes with gdb)"

# gcore cannot save the memory next to MADV_GUARD_INSTALL markers (weft.h,
# "Guard pages"): the target makes its guards with mprotect.
WEFT_STACK_GUARD=mprotect "$target" >"$dir/target.txt" 2>&1 &
pid=$!
i=0
until grep -q '^ready' "$dir/target.txt"; do
	i=$((i + 1))
	[ $i -gt 200 ] && fail "the target did not get ready in 20 s"
	kill -0 "$pid" 2>/dev/null || fail "the target died"
	sleep 0.1
done

id_of() { awk -v n="$1" '$1 == "fiber" && $3 == n { print $2; exit }' "$dir/target.txt"; }
receiver=$(id_of receiver)
locker=$(id_of locker)
spinner=$(id_of spinner)
reader=$(id_of reader)
# A sleeper parked on each worker (the spinner holds one of them now).
s0=$(awk '$1 == "fiber" && $3 ~ /^sleeper/ && $4 == 0 { print $2; exit }' "$dir/target.txt")
s1=$(awk '$1 == "fiber" && $3 ~ /^sleeper/ && $4 == 1 { print $2; exit }' "$dir/target.txt")
[ -n "$s0" ] && [ -n "$s1" ] || fail "the sleepers did not park on both workers"

# gdb CMDS... : run them on what "$@" names, after loading the script.
run_gdb() {
	out=$1
	shift
	gdb -batch -nx -ex "set pagination off" -ex "source $py" \
		-ex "weft fibers" \
		-ex "weft bt $receiver" -ex "weft bt $s0" -ex "weft bt $s1" \
		-ex "weft bt $reader" -ex "weft bt $spinner" \
		-ex "weft switch $locker" -ex "bt" -ex "frame 2" \
		-ex "weft switch off" -ex "weft bt 999999" \
		"$@" >"$dir/$out" 2>&1
}

# want FILE PATTERN WHAT: FILE has a line matching the extended regex.
want() {
	grep -Eq "$2" "$dir/$1" || fail "$1: no $3 (/$2/)"
}

check() {
	f=$1
	want "$f" "^weft: [0-9]+ fibers, 2 workers" "heading"
	want "$f" "fiber $receiver \"receiver\" waits to receive on channel 0x" "receiver's wait"
	want "$f" "fiber $locker \"locker\" waits in weft_mutex_lock" "locker's wait"
	want "$f" "fiber $reader \"reader\" waits for a read on fd [0-9]+" "reader's wait"
	want "$f" "\"joiner\" waits in weft_join for fiber [0-9]+" "joiner's wait"
	want "$f" "fiber $s0 \"sleeper-[0-9]\" sleeps until" "sleeper's wait"
	want "$f" "fiber $spinner \"spinner\" runs on worker [01]" "the running fiber"
	want "$f" "\(main\) sleeps until" "main fiber"
	# Backtraces: the wait's own function and the fiber's; gcc may
	# split a function and name the part (chan_op.part.0).
	want "$f" "(weft_chan_recv|chan_op)(\\.[a-z]+(\\.[0-9]+)?)? " \
		"receiver's frame in the channel code"
	want "$f" "gdb_receiver" "receiver's own frame"
	[ "$(grep -c 'gdb_sleeper' "$dir/$f")" -ge 2 ] ||
		fail "$f: no backtrace of a sleeper on each worker"
	want "$f" "weft_sleep_(ns|until)" "sleeper's frame in weft_sleep"
	want "$f" "gdb_reader" "reader's own frame"
	want "$f" "fiber $spinner runs on worker" "running fiber's bt heading"
	want "$f" "gdb_spinner" "running fiber's frame"
	want "$f" "weft: fiber $locker's frames start at frame 1" "switch"
	want "$f" "weft_mutex_lock" "locker's frame after switch"
	want "$f" "gdb_locker" "locker's own frame after switch"
	want "$f" "^#2 " "frame 2 selected"
	want "$f" "weft: the thread's own frames again" "switch off"
	want "$f" "weft: no live fiber 999999" "an unknown id refused"
	! grep -q "Python Exception" "$dir/$f" || fail "$f: a Python exception"
}

run_gdb live.txt -p "$pid"
check live.txt
echo "live process: OK"

gcore -o "$dir/core" "$pid" >"$dir/gcore.txt" 2>&1 || fail "gcore failed"
kill -9 "$pid"
wait "$pid" 2>/dev/null
pid=
core=$(ls "$dir"/core.* 2>/dev/null | head -1)
[ -n "$core" ] || fail "gcore wrote no core file"
run_gdb core.txt "$target" "$core"
check core.txt
echo "core file: OK"
