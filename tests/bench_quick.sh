#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The benchmark report cannot rot: runs tools/bench.sh --quick --prebuilt
# on this build into a temporary directory and checks what it wrote. It
# reuses the build as meson test left it: nothing is installed or rebuilt,
# and the Go peer takes part only if BUILD_DIR/bench/peers/go-peer was
# built beforehand (tools/test.sh runs bench/peers/go/build.sh for it).
#   - bench.sh exits 0 (every weft benchmark ran);
#   - REPORT.md is there, with the summary, the targets, a table for
#     every step that ran and a raw table with rows behind each, and the
#     JSON lines the report is made from (a row or goal object or more);
#   - every chart (switch, spawn, memory, speedup, echo) is a non-empty
#     PNG (its magic bytes) and REPORT.md links to it;
#   - every figure is a number: in every table of REPORT.md each cell but
#     the first column's and the text columns' (unit, status, command,
#     benchmark) is a number or "-" (no such figure). "not installed" and
#     "not run" are allowed only in a peer's row or column (Go, Boost,
#     nginx), and only if the section "Not measured" gives the reason; a
#     weft cell may say "not run" only when the benchmark program it
#     comes from is not in the source tree yet (the report says which),
#     or a package its step needs could not be installed (the http
#     step's wrk or libhttp-parser-dev).
# A missing peer (Go, Boost or nginx not installed) does not fail the test.
# Prints what it checked; exits 0 if all is well, 1 otherwise.
#
# Usage: tests/bench_quick.sh SOURCE_DIR BUILD_DIR
#   BUILD_DIR is a configured release build with -Dbench=true; meson runs
#   this test in such builds only (tests/meson.build).
set -u
if [ $# -ne 2 ]; then
	echo "usage: $0 SOURCE_DIR BUILD_DIR" >&2
	exit 2
fi
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out="$tmp/report"
report="$out/REPORT.md"
# meson test sets it; it would fill every allocation and skew the run.
unset MALLOC_PERTURB_

nfail=0
fail() {
	echo "FAIL: $*"
	nfail=$((nfail + 1))
}

t0=$(date +%s)
"$src/tools/bench.sh" --quick --prebuilt --build "$build" --out "$out" \
	>"$tmp/log" 2>&1
rc=$?
echo "tools/bench.sh --quick --prebuilt: exit $rc after $(($(date +%s) - t0)) s"
if [ "$rc" != 0 ]; then
	tail -40 "$tmp/log"
	fail "tools/bench.sh --quick --prebuilt exited $rc"
fi
if [ ! -s "$report" ]; then
	fail "no $report"
	echo "$nfail failed"
	exit 1
fi

# The charts.
for ch in switch spawn memory speedup echo; do
	png="$out/$ch.png"
	if [ ! -s "$png" ]; then
		fail "chart $ch.png is missing or empty"
	elif [ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" != 89504e470d0a1a0a ]; then
		fail "chart $ch.png is not a PNG"
	elif ! grep -q "($ch.png)" "$report"; then
		fail "REPORT.md does not link $ch.png"
	else
		echo "ok: $ch.png ($(stat -c %s "$png") bytes)"
	fi
done

# The sections and the raw table of each step that ran.
pkg_missing=0
for s in "## Machine" "## Summary" "## Targets" "## Charts" "## Tables" "## Not measured"; do
	grep -q "^$s" "$report" || fail "REPORT.md has no section '$s'"
done
while IFS=$'\037' read -r n group kind tag status _ _ file cmd reason; do
	[ "$n" = n ] && continue
	grep -q "^### $group\$" "$report" || fail "REPORT.md has no table section for $group"
	if [ "$status" = ok ] && [ "$tag" = trace ]; then
		# The trace step's product is the trace and its picture.
		[ -s "$out/raw/trace-fib.json" ] || fail "step $n ($cmd): no trace"
		grep -Eq '^(!\[A trace|A trace .*: not drawn)' "$report" ||
			fail "REPORT.md does not show the trace"
	elif [ "$status" = ok ]; then
		if [ ! -s "$out/$file" ]; then
			fail "step $n ($cmd): no raw table $file"
		elif ! grep -qv '^#' "$out/$file"; then
			fail "step $n ($cmd): $file has no rows"
		elif ! grep -Eq '"kind": ?"(row|goal)"' "$out/${file%.txt}.jsonl" 2>/dev/null; then
			fail "step $n ($cmd): ${file%.txt}.jsonl, which the report reads, has no row or goal object"
		fi
	elif [ "$kind" = weft ]; then
		case "$reason" in
		*"not in this tree yet"*) echo "note: step $n ($cmd): $status: $reason" ;;
		*"could not be installed"*)
			echo "note: step $n ($cmd): $status: $reason"
			pkg_missing=1 ;;
		*) fail "step $n ($cmd): $status: $reason" ;;
		esac
	else
		echo "note: peer step $n ($cmd): $status: $reason"
	fi
done < <(tr '\t' '\037' <"$out/steps.tsv")

# Weft programs the report says are not written yet must really be absent.
# A weft step left out for want of a package leaves "not run" cells too.
weft_missing=$pkg_missing
for f in $(sed -n 's/.*\(bench\/bench_[a-z_]*\.c\) is not in this tree yet.*/\1/p' "$report" | sort -u); do
	if [ -e "$src/$f" ]; then
		fail "the report says $f is not in the tree, but it is"
	else
		weft_missing=1
	fi
done

# Every table: every figure a number. Code blocks (the programs' own
# notes) are not tables.
awk -v weft_missing="$weft_missing" '
	function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
	function peer(s) { return tolower(s) ~ /(^|[^a-z])(go|boost|nginx)([^a-z]|$)/ || s ~ /^(go|boost|nginx)\./ }
	function text_col(h) { return h == "unit" || h == "status" || h == "command" || h == "benchmark" || h == "figure" }
	/^```/ { fence = !fence; next }
	fence { next }
	/^\|/ {
		nf = split($0, c, "|")
		if (!intable) {
			intable = 1
			ntables++
			nh = 0
			for (i = 2; i < nf; i++)
				hdr[++nh] = trim(c[i])
			state = "sep"
			next
		}
		if (state == "sep") { state = "rows"; next }
		rows++
		label = trim(c[2])
		for (i = 3; i < nf; i++) {
			v = trim(c[i])
			h = hdr[i - 1]
			if (text_col(h)) {
				if (h == "status" && v !~ /^(met|NOT met|not measured|ok|failed|not run|not installed)$/) {
					printf "FAIL: row \"%s\": status \"%s\"\n", label, v
					bad++
				}
				continue
			}
			if (v ~ /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/) {
				nums++
				continue
			}
			if (v == "-")
				continue
			if (v == "not installed" || v == "not run") {
				if (peer(label) || peer(h)) {
					peers_missing[v]++
					continue
				}
				if (v == "not run" && weft_missing) {
					weft_not_run++
					continue
				}
			}
			printf "FAIL: table %d (%s ...), row \"%s\", column \"%s\": \"%s\" is not a number\n", ntables, hdr[1], label, h, v
			bad++
		}
		next
	}
	{ intable = 0 }
	END {
		printf "tables: %d, rows: %d, figures: %d, weft cells not run (program not written yet): %d\n", ntables, rows, nums, weft_not_run
		for (v in peers_missing)
			printf "peer cells \"%s\": %d\n", v, peers_missing[v]
		if (ntables < 10 || nums < 100) {
			printf "FAIL: only %d tables and %d figures\n", ntables, nums
			bad++
		}
		exit (bad > 0)
	}' "$report" || nfail=$((nfail + 1))

# Each step that did not run is explained under "Not measured".
nm=$(sed -n '/^## Not measured/,/^## [A-Z]/p' "$report" | sed 1d)
while IFS=$'\037' read -r n group kind _ status _ _ file cmd reason; do
	[ "$n" = n ] || [ "$status" = ok ] && continue
	case $kind in weft) who=weft ;; go) who=Go ;; boost) who=Boost.Fiber ;; esac
	if grep -qF -- "- $who, $group (" <<<"$nm"; then
		echo "ok: $who $group $status, and the report says why"
	else
		fail "$who $group is $status but \"Not measured\" does not say why"
	fi
done < <(tr '\t' '\037' <"$out/steps.tsv")

# Every target has a verdict.
ntargets=$(sed -n '/^## Targets/,/^## /p' "$report" | grep -cE '\| (met|NOT met|not measured) \|$')
[ "$ntargets" -ge 10 ] || fail "only $ntargets targets with a verdict"

if [ "$nfail" -gt 0 ]; then
	echo "$nfail checks failed; the report was:"
	sed -n '1,/^## Charts/p' "$report"
	exit 1
fi
echo "all checks passed"
exit 0
