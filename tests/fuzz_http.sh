#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Fuzz weft-http's request path (tools/http/fuzz_http.c over
# tools/http/http_req.c) with libFuzzer for a bounded time, starting from
# the seed corpus in tools/http/fuzz-corpus. Builds the target with
# clang -fsanitize=fuzzer,address,undefined into a temporary directory
# (the fuzzer needs its own instrumentation, whatever the surrounding
# build is), and fails on any crash, assertion, sanitizer report, leak or
# timeout; the failing input is kept and its path printed so that
#	<target> <input>
# replays it. New inputs found go to a temporary corpus and are dropped.
# The last line is a "# goal:" line (0 crashes: met or NOT met, with the
# inputs run), which tools/bench.sh's report takes as a target.
#
# Usage: tests/fuzz_http.sh SRCDIR SECONDS [KEEPDIR]
#   KEEPDIR: where a crashing input is copied (default: the temp dir,
#            kept on failure)
set -u
. "$(dirname "$0")/../tools/bench-json.sh"
bench_json_prog=fuzz_http.sh
[ $# -ge 2 ] || { echo "usage: $0 SRCDIR SECONDS [KEEPDIR]" >&2; exit 2; }
src=$1
secs=$2
keep=${3:-}
cc=${CLANG:-clang}
tmp=$(mktemp -d)
ok=0
trap '[ $ok = 1 ] && rm -rf "$tmp"' EXIT

"$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-Wall -Wextra -Werror -D_GNU_SOURCE -I"$src/tools/http" \
	"$src/tools/http/fuzz_http.c" "$src/tools/http/http_req.c" \
	-lhttp_parser -o "$tmp/fuzz_http" || { echo "FAIL: build"; exit 1; }
mkdir -p "$tmp/corpus"
cd "$tmp" || exit 1
# A run of -runs=0 first: every seed must pass as it is.
if ! ./fuzz_http -runs=0 "$src/tools/http/fuzz-corpus" >seeds.log 2>&1; then
	tail -30 seeds.log
	echo "FAIL: a seed input fails"
	exit 1
fi
./fuzz_http -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$tmp/" \
	corpus "$src/tools/http/fuzz-corpus" >fuzz.log 2>&1
rc=$?
grep -E '^stat::(number_of_executed_units|new_units_added)' fuzz.log
units=$(sed -n 's/^stat::number_of_executed_units: *//p' fuzz.log | tail -1)
goal="weft-http's request path under libFuzzer for $secs s, 0 crashes"
if [ $rc -ne 0 ]; then
	tail -40 fuzz.log
	for f in "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-* "$tmp"/oom-*; do
		[ -e "$f" ] || continue
		if [ -n "$keep" ]; then
			mkdir -p "$keep" && cp "$f" "$keep/" && f="$keep/$(basename "$f")"
		fi
		echo "failing input: $f (replay: $tmp/fuzz_http $f)"
	done
	echo "FAIL: libFuzzer exited $rc"
	echo "# goal: $goal: NOT met (libFuzzer exited $rc after ${units:-?} inputs)"
	bench_json_goal "$goal" "NOT met" "libFuzzer exited $rc after ${units:-?} inputs"
	exit 1
fi
ok=1
echo "ok: ${secs} s of fuzzing, no crash"
echo "# goal: $goal: met (${units:-?} inputs, 0 crashes)"
bench_json_goal "$goal" met "${units:-?} inputs, 0 crashes"
