#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The ABI of the built shared library (see "ABI" in README.md):
#   - its SONAME is libweft.so.MAJOR;
#   - it exports (nm -D --defined-only) nothing but weft_ names, and
#     exactly the functions and objects weft.h declares WEFT_API;
#   - every exported symbol carries a version node of src/weft.map
#     (readelf --dyn-syms shows name@@NODE), and no other node exists.
#
# Usage: test_abi.sh LIBWEFT_SO MAJOR WEFT_MAP WEFT_H
set -u
if [ $# -ne 4 ]; then
	echo "usage: $0 LIBWEFT_SO MAJOR WEFT_MAP WEFT_H" >&2
	exit 2
fi
lib=$1
major=$2
map=$3
header=$4
fail=0

bad() {
	echo "FAIL: $*"
	fail=1
}

for tool in readelf nm; do
	command -v "$tool" >/dev/null || { echo "no $tool: skipped"; exit 77; }
done

# SONAME ----------------------------------------------------------------
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" = "libweft.so.$major" ]; then
	echo "ok: SONAME $soname"
else
	bad "SONAME is '$soname', not libweft.so.$major"
fi

# The version nodes weft.map defines: lines "NAME {" outside comments.
nodes=$(sed -e 's,/\*.*\*/,,' -e '/\/\*/,/\*\//d' "$map" |
	sed -n 's/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_.]*\)[[:space:]]*{.*/\1/p')
if [ -z "$nodes" ]; then
	bad "no version node found in $map"
fi
is_node() {
	local n
	for n in $nodes; do
		[ "$n" = "$1" ] && return 0
	done
	return 1
}

# Exports ---------------------------------------------------------------
# nm -D prints "VALUE TYPE NAME" (NAME with @@NODE on newer binutils); a
# version node itself is an absolute (A) symbol of that name.
exports=$(nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' |
	sed 's/@.*//' | sort -u)
abs=$(nm -D --defined-only "$lib" | awk '$2 == "A" { print $3 }' |
	sed 's/@.*//' | sort -u)
if [ -z "$exports" ]; then
	bad "nm -D --defined-only lists nothing"
fi
for n in $abs; do
	is_node "$n" || bad "absolute symbol $n is not a node of $map"
done
others=$(printf '%s\n' $exports | grep -v '^weft_' || true)
if [ -n "$others" ]; then
	bad "exported symbols without the weft_ prefix:" $others
fi
internal=$(printf '%s\n' $exports | grep '^weft__' || true)
if [ -n "$internal" ]; then
	bad "internal (weft__) symbols exported:" $internal
fi
# What weft.h declares: the name after WEFT_API, up to "(" or ";".
declared=$(grep -h 'WEFT_API' "$header" | grep -v '#define' |
	grep -o 'weft_[a-z0-9_]*[[:space:]]*[(;]' | sed 's/[[:space:]]*[(;]$//' |
	sort -u)
missing=$(comm -23 <(printf '%s\n' $declared) <(printf '%s\n' $exports))
extra=$(comm -13 <(printf '%s\n' $declared) <(printf '%s\n' $exports))
[ -n "$missing" ] && bad "declared WEFT_API in weft.h but not exported:" $missing
[ -n "$extra" ] && bad "exported but not declared WEFT_API in weft.h:" $extra
[ $fail -eq 0 ] &&
	echo "ok: the $(printf '%s\n' $exports | wc -l) exports are weft.h's WEFT_API names"

# Versions --------------------------------------------------------------
before=$fail
fail=0
# readelf -W --dyn-syms: "Num: Value Size Type Bind Vis Ndx Name", Name
# as name@@NODE for a defined, versioned symbol.
while read -r ndx name; do
	[ "$ndx" = UND ] && continue
	sym=${name%%@*}
	node=${name#*@@}
	case $name in
	*@@*) ;;
	*)
		# The node's own absolute symbol is named after the node.
		if is_node "$sym"; then
			continue
		fi
		bad "$sym carries no version node"
		continue
		;;
	esac
	is_node "$node" || bad "$sym carries $node, not a node of $map"
done < <(readelf -W --dyn-syms "$lib" |
	awk '$1 ~ /^[0-9]+:$/ && NF >= 8 { print $7, $8 }')
[ $fail -eq 0 ] &&
	echo "ok: every export carries a node of $(basename "$map") ($(echo $nodes))"
[ $before -ne 0 ] && fail=1

exit $fail
