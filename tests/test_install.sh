#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# What a packager does with the tree, checked end to end:
#  1. configure it with -Dtests=false -Dbench=false -Dexamples=false
#     where cmocka cannot be found (pkg-config sees every .pc file of
#     this machine but cmocka.pc), build it and install it into a fresh
#     prefix;
#  2. build the README's example (examples/hello.c) outside the tree
#     against the installed library with nothing but `pkg-config
#     --cflags --libs weft`, run it, and check what it prints;
#  3. check the installed tree: the header, the soname link and the
#     man page are where the prefix says.
# Prints each step; exits 0 if all held, 1 with the failing step.
#
# Usage: test_install.sh SOURCE_DIR
set -u
if [ $# -ne 1 ] || [ ! -f "$1/meson.build" ]; then
	echo "usage: $0 SOURCE_DIR" >&2
	exit 2
fi
src=$(cd "$1" && pwd)
tmp=$(mktemp -d /tmp/weft-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "test_install: FAILED: $*" >&2
	exit 1
}

# pkg-config's search path without cmocka.pc.
pcdir="$tmp/pc"
mkdir -p "$pcdir"
for d in $(pkg-config --variable pc_path pkg-config | tr : ' '); do
	[ -d "$d" ] || continue
	for f in "$d"/*.pc; do
		[ -e "$f" ] || continue
		case $(basename "$f") in
		cmocka.pc) ;;
		*) [ -e "$pcdir/$(basename "$f")" ] || ln -s "$f" "$pcdir/" ;;
		esac
	done
done
PKG_CONFIG_LIBDIR=$pcdir pkg-config --exists cmocka &&
	fail "cmocka.pc is still visible"
echo "1. configure and build without cmocka (-Dtests=false)"
PKG_CONFIG_LIBDIR=$pcdir meson setup "$tmp/build" "$src" \
	--prefix="$tmp/prefix" --buildtype=release -Dtests=false \
	-Dbench=false -Dexamples=false >"$tmp/setup.log" 2>&1 ||
	{ tail -20 "$tmp/setup.log" >&2; fail "meson setup"; }
ninja -C "$tmp/build" >"$tmp/build.log" 2>&1 ||
	{ tail -20 "$tmp/build.log" >&2; fail "ninja"; }
meson install -C "$tmp/build" >"$tmp/install.log" 2>&1 ||
	{ tail -20 "$tmp/install.log" >&2; fail "meson install"; }

echo "2. a program built with pkg-config --cflags --libs weft"
pc=$(find "$tmp/prefix" -name weft.pc | head -1)
[ -n "$pc" ] || fail "no weft.pc under the prefix"
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
flags=$(pkg-config --cflags --libs weft) || fail "pkg-config weft"
libdir=$(pkg-config --variable libdir weft)
# The README's example, as another project would build it.
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror -o "$tmp/hello" "$src/examples/hello.c" \
	$flags -Wl,-rpath,"$libdir" ||
	fail "building examples/hello.c against the installed weft"
out=$("$tmp/hello" 2>&1) || fail "the program exited non-zero: $out"
echo "$out" | sed 's/^/   /'
echo "$out" | grep -q "sum of squares: 285" ||
	fail "examples/hello.c did not print its sum of squares, 285"
ldd "$tmp/hello" | grep -q "$libdir/libweft.so" ||
	fail "the program does not load the installed libweft.so"

echo "3. the installed files"
inc=$(pkg-config --variable includedir weft)
[ -f "$inc/weft.h" ] || fail "no weft.h in $inc"
[ -L "$libdir/libweft.so" ] || fail "no libweft.so link in $libdir"
find "$tmp/prefix" -path '*man3/weft.3' | grep -q . ||
	echo "   (no weft.3: python3 was not found at configure time)"
echo "test_install: ok"
