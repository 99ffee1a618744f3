#!/usr/bin/env bash
# go install PACKAGE@VERSION (from the Go module proxy) once into CACHE_ROOT/NAME-VERSION/bin
# and print that directory; later calls only print it. What .ci/build-helm.sh,
# build-promtool.sh and build-staticcheck.sh share. Nothing built here goes into the
# repository.
#
#   .ci/go-install-cached.sh NAME VERSION PACKAGE CACHE_ROOT
set -euo pipefail
name="$1" version="$2" package="$3" root="$4"
BIN="$root/$name-$version/bin"

if [[ -x "$BIN/$name" ]]; then
  echo "$BIN"
  exit 0
fi
command -v go >/dev/null 2>&1 || { echo "go is required to build $name" >&2; exit 1; }
echo "building $name $version into $BIN (once; up to a few minutes on 2 cores)" >&2
started=$SECONDS
mkdir -p "$BIN"
CGO_ENABLED=0 GOBIN="$BIN" go install -trimpath "$package@$version" >&2
echo "built $name in $((SECONDS - started)) s" >&2
echo "$BIN"
