#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Lint for the concurrency rules of STYLE.md section 5 and RELIABILITY C1:
#  - every ck_pr fence, CAS, swap or atomic read-modify-write in src/ has a
#    comment on the same line or within the 4 lines above it, naming what
#    it orders against;
#  - Debian's ck 0.7.1 structures known to be broken are not used:
#    ck_fifo_mpmc (spuriously empty), ck_hp_fifo, ck_stack_batch_pop_mpmc.
# Prints each offence as file:line and exits 1 if there is any.
set -u
cd "$(dirname "$0")/.."

bad=0
if grep -nE 'ck_fifo_mpmc[a-z_]*[ \t]*\(|ck_hp_fifo[a-z_]*[ \t]*\(|ck_stack_batch_pop_mpmc[ \t]*\(|#include[ \t]*<ck_(fifo|hp_fifo)\.h>' \
	$(find src -name '*.[chS]' | sort) 2>/dev/null; then
	echo "check-fences: banned ck 0.7.1 structure used (see RELIABILITY C1)"
	bad=1
fi

for f in $(find src -name '*.[ch]' | sort); do
	awk -v file="$f" '
	/ck_pr_(fence_[a-z_]+|cas_[a-z0-9_]+|fas_[a-z0-9_]+|faa_[a-z0-9_]+|inc_[a-z0-9_]+|dec_[a-z0-9_]+)[ \t]*\(/ {
		ok = ($0 ~ /\/\*|\*\//)
		for (i = 1; i <= 4 && !ok; i++)
			if (prev[(NR - i) % 5] ~ /\/\*|\*\/|^[ \t]*\*/)
				ok = 1
		if (!ok) {
			printf "%s:%d: atomic without a comment: %s\n", file, NR, $0
			bad = 1
		}
	}
	{ prev[NR % 5] = $0 }
	END { exit bad }' "$f" || bad=1
done
exit $bad
