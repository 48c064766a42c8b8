#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Build weft four ways and run the unit and stress suites in each:
#   release  gcc -O2, -Werror; also runs tools/bench.sh --quick --prebuilt on
#            itself (bench_quick), with the Go peer built first
#   asan     clang, AddressSanitizer + UndefinedBehaviorSanitizer, -Werror
#   tsan     clang, ThreadSanitizer, -Werror (stress sizes scaled down)
#   random   gcc -O2 -g with -Drandomize_sched=true: victim order and LIFO-slot
#            use shuffled, so the tests see other interleavings; with
#            debug information, which the gdb test needs one build to have
# Installs what it needs with apt-get on a fresh Debian 12 machine. Ends
# with one line "N passed, N failed, N skipped" summing every build (a
# skip is a test that cannot run in that build, e.g. the overflow death
# test under TSan, or an io_uring-only test where io_uring is refused:
# the rest then run on the epoll backend); exits non-zero
# if anything failed or did not build. The sanitizer builds run their tests
# with meson test --setup asan or tsan (the sanitizers' run-time options,
# in meson.build); every build's counts come from meson's own
# meson-logs/testlog*.json (tools/meson-testlog.py).
#
# Usage: tools/test.sh [release|asan|tsan|random ...]   (default: all four)
set -u
cd "$(dirname "$0")/.."
top=$(pwd)

need_pkgs=(meson ninja-build pkg-config gcc clang libclang-rt-14-dev
	   liburing-dev libck-dev libcmocka-dev python3-matplotlib valgrind gdb
	   libhttp-parser-dev python3 groff-base man-db)
# The benchmark report's peers, exercised by the bench_quick test; a
# machine that cannot install them still tests everything else (the
# report then says "not installed").
peer_pkgs=(g++ golang-go libboost-fiber-dev libboost-context-dev)
missing=()
missing_peers=()
for p in "${need_pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
for p in "${peer_pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing_peers+=("$p")
done
sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
if [ ${#missing[@]} -gt 0 ] || [ ${#missing_peers[@]} -gt 0 ]; then
	$sudo_cmd apt-get update -qq || true
fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "== installing: ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq \
		"${missing[@]}" >/dev/null || {
		echo "tools/test.sh: could not install ${missing[*]}" >&2
		echo "0 passed, 1 failed"
		exit 1
	}
fi
if [ ${#missing_peers[@]} -gt 0 ]; then
	echo "== installing the benchmark peers: ${missing_peers[*]}"
	DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq \
		"${missing_peers[@]}" >/dev/null ||
		echo "tools/test.sh: could not install ${missing_peers[*]}; the report will say so" >&2
fi

builds=("$@")
[ ${#builds[@]} -eq 0 ] && builds=(release asan tsan random)

passed=0
failed=0
skipped=0
# "build: what failed", repeated at the very end: CI logs keep the tail.
failures=()
faillog=$(mktemp)
trap 'rm -f "$faillog"' EXIT

echo "== lint: atomics name what they pair with, no broken ck structures"
if tools/check-fences.sh; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
	failures+=("lint: tools/check-fences.sh")
fi

# setup_args NAME: the compiler and meson options of one build.
setup_args() {
	case "$1" in
	release) echo "gcc --buildtype=release" ;;
	asan) echo "clang --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false" ;;
	tsan) echo "clang --buildtype=debugoptimized -Db_sanitize=thread -Db_lundef=false" ;;
	# With debug information: the gdb test runs on a build without it
	# (release) and on this one.
	random) echo "gcc --buildtype=debugoptimized -Drandomize_sched=true" ;;
	*) return 1 ;;
	esac
}

# test_setup NAME: the meson test setup of one build (meson.build's
# add_test_setup), if it has one.
test_setup() {
	case "$1" in
	asan|tsan) echo "$1" ;;
	esac
}

for b in "${builds[@]}"; do
	args=$(setup_args "$b") || { echo "unknown build: $b" >&2; exit 2; }
	set -- $args
	cc=$1
	shift
	dir="$top/build-test-$b"
	echo "== $b: configure and build"
	if ! { { [ -d "$dir" ] && meson setup --reconfigure "$dir" >/dev/null 2>&1; } ||
		CC=$cc meson setup "$dir" -Dwerror=true \
		-Dbench=true "$@" >"$top/build-test-$b.log" 2>&1; } ||
	   ! ninja -C "$dir" >>"$top/build-test-$b.log" 2>&1; then
		tail -30 "$top/build-test-$b.log"
		echo "== $b: BUILD FAILED"
		failed=$((failed + 1))
		failures+=("$b: build failed")
		continue
	fi
	# The benchmark report's Go peer, built here so that the bench_quick
	# test runs on this build as it is (tools/bench.sh --prebuilt); if it
	# cannot be built, the report says the peer is not installed.
	if [ "$b" = release ] && [ -x bench/peers/go/build.sh ]; then
		bench/peers/go/build.sh "$dir/bench/peers" \
			>"$dir/go-peer-build.log" 2>&1 ||
			echo "== $b: no Go peer for the benchmark report (bench/peers/go/build.sh: $(tail -1 "$dir/go-peer-build.log"))"
	fi
	mult=1
	[ "$b" != release ] && mult=4
	setup=$(test_setup "$b")
	margs=(-C "$dir" ${setup:+--setup "$setup"} --suite unit --suite stress)
	# meson's record of the run: one JSON object per test.
	json="$dir/meson-logs/testlog${setup:+-$setup}.json"
	rm -f "$json"
	echo "== $b: unit and stress suites${setup:+ (meson test --setup $setup)}"
	meson test "${margs[@]}" --print-errorlogs \
		--timeout-multiplier "$mult" --num-processes 1 \
		>"$dir/test-output.txt" 2>&1
	# Did every test run? As many results as meson lists tests.
	want=$(meson test "${margs[@]}" --list 2>/dev/null | grep -c ' / ')
	ran=$(tools/meson-testlog.py ran "$json" 2>/dev/null)
	if [ -n "$ran" ]; then
		tools/meson-testlog.py list "$json"
		read -r ok bad skip < <(tools/meson-testlog.py counts "$json")
	else
		ok=0 bad=0 skip=0
	fi
	if [ -z "$ran" ] || [ "$ran" -lt "$want" ]; then
		tail -40 "$dir/test-output.txt"
		bad=$((bad + 1))
		failures+=("$b: the suite did not finish, ${ran:-0} of $want tests ran (see above)")
	fi
	if [ -n "$ran" ] && [ "$bad" -gt 0 ]; then
		# Each failed test's output, from meson's log.
		tools/meson-testlog.py logs "$json" | tail -80 | tee -a "$faillog"
		while read -r t; do
			failures+=("$b: $t")
		done < <(tools/meson-testlog.py failed "$json" | sort -u)
	fi
	passed=$((passed + ok))
	failed=$((failed + bad))
	skipped=$((skipped + skip))
done

if [ ${#failures[@]} -gt 0 ]; then
	echo "== what failed (each failure's log is printed above, after its build's list)"
	printf '  %s\n' "${failures[@]}"
	echo "== their errors (the whole logs are above)"
	grep -E 'ERROR|FAIL|error:|Assertion|Sanitizer|panic|TIMEOUT' "$faillog" |
		head -40
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
