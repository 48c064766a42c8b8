#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Lint for the runtime's atomics (src/), and for the ck 0.7.1 structures
# it must not use.
#
# 1. Every ck_pr fence, CAS, swap and read-modify-write (ck_pr_fence_*,
#    cas, fas, faa, inc, dec, add, sub, and, or, xor, bts, btr, btc, neg,
#    not) says what it pairs with, in a comment on its own line or
#    within the 8 lines above it (one comment may cover several atomics
#    that close together). The comment must contain either
#
#      pairs with ... NAME()
#
#    where NAME is a function that appears in src/ and holds the other
#    side: for a release (a store fence, a CAS or swap that publishes),
#    the function whose acquire reads what it published; for an acquire,
#    the function whose release it reads from; for a full barrier
#    (StoreLoad, a CAS two sides race on), the function that runs the
#    other half. "pairs with" and NAME() must be in the same sentence
#    (no '.' or ';' between them), and the case of "Pairs" does not
#    matter. Or:
#
#      no pairing: REASON
#
#    for an atomic that orders nothing against another thread's
#    accesses, only needs to be indivisible (a statistics counter, an id
#    allocator, a flag whose readers recheck under a lock); REASON is
#    at least one word.
#
#    The line breaks and the '*' that start comment lines are ignored,
#    so the phrase may wrap.
#
# 2. Debian's ck 0.7.1 structures known to be broken are not used:
#    ck_fifo_mpmc (spuriously empty), ck_hp_fifo, ck_stack_batch_pop_mpmc.
#
# Prints each offence as file:line and exits 1 if there is any. Runs as
# the check_fences test (tests/meson.build, suite lint) and in
# tools/test.sh.
set -u
cd "$(dirname "$0")/.."

bad=0
if grep -nE 'ck_fifo_mpmc[a-z_]*[ \t]*\(|ck_hp_fifo[a-z_]*[ \t]*\(|ck_stack_batch_pop_mpmc[ \t]*\(|#include[ \t]*<ck_(fifo|hp_fifo)\.h>' \
	$(find src -name '*.[chS]' | sort) 2>/dev/null; then
	echo "check-fences: banned ck 0.7.1 structure used (ck_fifo_mpmc, ck_hp_fifo, ck_stack_batch_pop_mpmc)"
	bad=1
fi

files=$(find src -name '*.[ch]' | sort)
# Every name that src/'s code (comments left out) calls or defines.
names=$(mktemp)
trap 'rm -f "$names"' EXIT
awk 'FNR == 1 { incomment = 0 }
{
	line = $0
	out = ""
	while (line != "") {
		if (incomment) {
			if (!match(line, /\*\//)) { line = ""; break }
			line = substr(line, RSTART + 2)
			incomment = 0
		} else if (match(line, /\/\*/)) {
			out = out " " substr(line, 1, RSTART - 1)
			line = substr(line, RSTART + 2)
			incomment = 1
		} else {
			out = out " " line
			line = ""
		}
	}
	sub(/\/\/.*/, "", out)
	while (match(out, /[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/)) {
		name = substr(out, RSTART, RLENGTH - 1)
		sub(/[ \t]+$/, "", name)
		print name
		out = substr(out, RSTART + RLENGTH)
	}
}' $files | sort -u >"$names"

awk -v names="$names" '
BEGIN {
	while ((getline n < names) > 0)
		known[n] = 1
	W = 8
}
FNR == 1 { for (i = 0; i <= W; i++) prev[i] = "" }
/ck_pr_(fence_[a-z_]+|(cas|fas|faa|inc|dec|add|sub|and|or|xor|bts|btr|btc|neg|not)_[a-z0-9_]+)[ \t]*\(/ {
	text = ""
	for (i = W; i >= 1; i--)
		if (FNR - i >= 1)
			text = text " " prev[(FNR - i) % (W + 1)]
	text = text " " $0
	gsub(/\n/, " ", text)
	gsub(/[ \t]+\*[ \t]/, " ", text)
	gsub(/[ \t]+/, " ", text)
	why = verdict(text)
	if (why != "") {
		printf "%s:%d: %s: %s\n", FILENAME, FNR, why, $0
		bad = 1
	}
}
{ prev[FNR % (W + 1)] = $0 }
# "" if @t names a partner that exists or gives a reason for none.
function verdict(t,    rest, sent, m, name) {
	if (t ~ /[Nn]o pairing: *[A-Za-z]/)
		return ""
	rest = t
	while (match(rest, /[Pp]airs with /)) {
		rest = substr(rest, RSTART + RLENGTH)
		sent = rest
		if (match(sent, /[.;]( |$)/))
			sent = substr(sent, 1, RSTART - 1)
		while (match(sent, /[A-Za-z_][A-Za-z0-9_]*\(\)/)) {
			name = substr(sent, RSTART, RLENGTH - 2)
			if (name in known)
				return ""
			m = m " " name "()"
			sent = substr(sent, RSTART + RLENGTH)
		}
	}
	if (m != "")
		return "pairs with a function not in src/:" m
	return "atomic without \"pairs with NAME()\" or \"no pairing: why\""
}
END { exit bad }' $files || bad=1
exit $bad
