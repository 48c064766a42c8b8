#!/bin/sh
# SPDX-License-Identifier: MIT
# Run a program and check that its output contains the expected text;
# used by meson to test the examples. Exits 77 (skip) where io_uring is
# unavailable, as the cmocka tests do.
# Usage: expect-output.sh PROGRAM EXPECTED [ARGS...]
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
