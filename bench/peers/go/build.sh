#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Build go-peer, Go's side of weft's benchmark report, into OUTDIR.
#
# Usage: bench/peers/go/build.sh OUTDIR
#
# Standard library only, so it needs no network. The build cache and
# GOPATH live under OUTDIR/go-cache, so it works as any user on a fresh
# machine whatever HOME holds. Prints nothing and exits 0 on success;
# exits 3 with the one line "go: not installed" if there is no go; any
# other failure exits 1 with go's own messages.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
if ! command -v go >/dev/null 2>&1; then
	echo "go: not installed"
	exit 3
fi
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
cache=$out/go-cache

cd "$src"
GOCACHE=$cache/build GOPATH=$cache/path GOFLAGS= GO111MODULE=on \
	GOTOOLCHAIN=local GOPROXY=off GOWORK=off CGO_ENABLED=0 \
	go build -trimpath -o "$out/go-peer" . || exit 1
