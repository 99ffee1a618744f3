#!/usr/bin/env bash
# Builds a minimal OpenTelemetry Collector (the OTLP receiver and the file exporter, from the
# Go module proxy; the module is .ci/otelcol) once into
# ~/.cache/rustmq-otelcol/<collector version>-<module hash>/bin and prints that directory. The
# trace tests send spans to it and read the file it writes. Nothing built here goes into the
# repository.
set -euo pipefail
cd "$(dirname "$0")/otelcol"

VERSION="$(awk '$1 == "go.opentelemetry.io/collector/otelcol" { print $2 }' go.mod)"
HASH="$(cat go.mod go.sum main.go | sha256sum | cut -c1-12)"
BIN="${RUSTMQ_OTELCOL_CACHE:-$HOME/.cache/rustmq-otelcol}/${VERSION}-${HASH}/bin"

if [[ -x "$BIN/rustmq-otelcol" ]]; then
  echo "$BIN"
  exit 0
fi
command -v go >/dev/null 2>&1 || { echo "go is required to build the collector" >&2; exit 1; }
echo "building the OpenTelemetry Collector ${VERSION} into $BIN (once; a few minutes on 2 cores)" >&2
started=$SECONDS
mkdir -p "$BIN"
CGO_ENABLED=0 go build -mod=readonly -trimpath -o "$BIN/rustmq-otelcol.tmp" . >&2
mv "$BIN/rustmq-otelcol.tmp" "$BIN/rustmq-otelcol"
echo "built the collector in $((SECONDS - started)) s" >&2
echo "$BIN"
