#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The reference (see "How each call is documented" in weft.h):
#   - every symbol libweft.so exports (nm -D --defined-only) has a doc
#     comment in weft.h with its Context, Returns and Errors parts
#     (tools/weft-man.py --check);
#   - the man page generated from those comments, weft(3), renders with
#     groff -man -ww (every warning) and with man -l, without a warning.
#
# Usage: test_man.sh PYTHON3 WEFT_MAN_PY WEFT_H LIBWEFT_SO WEFT_3
set -u
if [ $# -ne 5 ]; then
	echo "usage: $0 PYTHON3 WEFT_MAN_PY WEFT_H LIBWEFT_SO WEFT_3" >&2
	exit 2
fi
py=$1
gen=$2
header=$3
lib=$4
page=$5
fail=0

bad() {
	echo "FAIL: $*"
	fail=1
}

# Doc comments ------------------------------------------------------------
"$py" "$gen" --check --lib "$lib" "$header" || bad "weft.h's doc comments"

# The page ------------------------------------------------------------------
[ -s "$page" ] || bad "$page is missing or empty"
# The page in the build is generated from this header; so is this one.
fresh=$(mktemp)
trap 'rm -f "$fresh" "$fresh.err"' EXIT
"$py" "$gen" -o "$fresh" "$header" || bad "weft-man.py could not write a page"
for sec in NAME SYNOPSIS DESCRIPTION RUNTIME FIBERS; do
	grep -q "^\.SH $sec\$" "$fresh" || bad "no $sec section in the page"
done
# Every exported function has its entry in the page.
for f in $(nm -D --defined-only "$lib" | awk '$2 == "T" { print $3 }' |
	   sed 's/@.*//' | sort -u); do
	grep -q "^\.SS $f()\$" "$fresh" || bad "no entry for $f in the page"
done

rendered=0
if command -v groff >/dev/null; then
	rendered=1
	groff -man -Tutf8 -ww -z "$page" 2>"$fresh.err"
	if [ -s "$fresh.err" ]; then
		bad "groff -man -ww warns about $page:"
		cat "$fresh.err"
	else
		echo "ok: groff -man -Tutf8 -ww renders $page without a warning"
	fi
fi
if command -v man >/dev/null; then
	rendered=1
	MANPAGER=cat MANWIDTH=80 man --warnings -l "$page" >/dev/null \
		2>"$fresh.err"
	if [ -s "$fresh.err" ]; then
		bad "man -l warns about $page:"
		cat "$fresh.err"
	else
		echo "ok: man --warnings -l renders $page without a warning"
	fi
fi
if [ "$rendered" = 0 ] && [ "$fail" = 0 ]; then
	echo "neither groff nor man is installed (groff-base, man-db): the page was not rendered"
	exit 77
fi
exit $fail
