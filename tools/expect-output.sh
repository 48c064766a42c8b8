#!/bin/sh
# SPDX-License-Identifier: MIT
# Run a program and check what it prints (stdout and stderr together);
# used by meson to test the examples. Two modes:
#   expect-output.sh PROGRAM EXPECTED [ARGS...]
#       the output must contain the text EXPECTED;
#   expect-output.sh --file EXPECTED_FILE PROGRAM [ARGS...]
#       the output must be exactly the contents of EXPECTED_FILE, byte
#       for byte; a unified diff (expected, then actual) shows a mismatch.
# Either way the program must exit 0. Exits 77 (skip) where io_uring is
# unavailable, as the cmocka tests do.
if [ "$1" = "--file" ]; then
	if [ $# -lt 3 ]; then
		echo "usage: $0 --file EXPECTED_FILE PROGRAM [ARGS...]" >&2
		exit 2
	fi
	expected_file=$2
	shift 2
	if [ ! -r "$expected_file" ]; then
		echo "cannot read $expected_file" >&2
		exit 1
	fi
	out_file=$(mktemp) || exit 1
	trap 'rm -f "$out_file"' EXIT
	"$@" >"$out_file" 2>&1
	rc=$?
	if grep -q "io_uring is not available" "$out_file"; then
		exit 77
	fi
	if [ $rc -ne 0 ]; then
		printf 'exit %d; output:\n' "$rc"
		cat "$out_file"
		exit 1
	fi
	if cmp -s "$expected_file" "$out_file"; then
		exit 0
	fi
	echo "output differs from $expected_file:"
	diff -u "$expected_file" "$out_file"
	exit 1
fi

if [ $# -lt 2 ]; then
	echo "usage: $0 PROGRAM EXPECTED [ARGS...]" >&2
	exit 2
fi
prog=$1
expected=$2
shift 2
out=$("$prog" "$@" 2>&1)
rc=$?
case "$out" in
*"io_uring is not available"*) exit 77 ;;
esac
if [ $rc -ne 0 ]; then
	printf 'exit %d; output:\n%s\n' "$rc" "$out"
	exit 1
fi
case "$out" in
*"$expected"*) exit 0 ;;
esac
printf 'expected "%s" in:\n%s\n' "$expected" "$out"
exit 1
