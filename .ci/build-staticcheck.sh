#!/usr/bin/env bash
# Builds staticcheck (honnef.co/go/tools, from the Go module proxy) once into
# ~/.cache/rustmq-staticcheck/<version>/bin and prints that directory. `make test` runs it on
# the Go SDK. Nothing built here goes into the repository.
set -euo pipefail

STATICCHECK_VERSION="${STATICCHECK_VERSION:-v0.8.2}"
BIN="${RUSTMQ_STATICCHECK_CACHE:-$HOME/.cache/rustmq-staticcheck}/staticcheck-${STATICCHECK_VERSION}/bin"

if [[ -x "$BIN/staticcheck" ]]; then
  echo "$BIN"
  exit 0
fi
command -v go >/dev/null 2>&1 || { echo "go is required to build staticcheck" >&2; exit 1; }
echo "building staticcheck ${STATICCHECK_VERSION} into $BIN (once)" >&2
started=$SECONDS
mkdir -p "$BIN"
CGO_ENABLED=0 GOBIN="$BIN" go install -trimpath "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}" >&2
echo "built staticcheck in $((SECONDS - started)) s" >&2
echo "$BIN"
