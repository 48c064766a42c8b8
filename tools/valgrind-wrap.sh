#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The exe_wrapper of `meson test --setup valgrind`: runs a test program
# under memcheck with the flags it is given, and a test script as it is.
# A script under the wrapper would be its shell under memcheck, whose own
# leaks fail the run; the programs a script starts are not traced into
# either way, and the valgrind_* tests run memcheck on those themselves.
#
# Usage: valgrind-wrap.sh VALGRIND [VALGRIND_FLAGS...] -- PROGRAM [ARGS...]
set -u
vg=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	vg+=("$1")
	shift
done
if [ $# -lt 2 ] || [ ${#vg[@]} -eq 0 ]; then
	echo "usage: $0 VALGRIND [FLAGS...] -- PROGRAM [ARGS...]" >&2
	exit 2
fi
shift
if [ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; then
	exec "${vg[@]}" "$@"
fi
exec "$@"
