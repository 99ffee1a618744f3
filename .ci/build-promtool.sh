#!/usr/bin/env bash
# Builds promtool (Prometheus, from the Go module proxy) once into
# ~/.cache/rustmq-promtool/<version>/bin and prints that directory. The monitoring tests run
# `promtool check rules` and `promtool test rules` on the chart's alerts with it. Nothing
# built here goes into the repository.
set -euo pipefail

PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v0.316.0}"
BIN="${RUSTMQ_PROMTOOL_CACHE:-$HOME/.cache/rustmq-promtool}/promtool-${PROMETHEUS_VERSION}/bin"

if [[ -x "$BIN/promtool" ]]; then
  echo "$BIN"
  exit 0
fi
command -v go >/dev/null 2>&1 || { echo "go is required to build promtool" >&2; exit 1; }
echo "building promtool ${PROMETHEUS_VERSION} into $BIN (once; a few minutes on 2 cores)" >&2
started=$SECONDS
mkdir -p "$BIN"
CGO_ENABLED=0 GOBIN="$BIN" go install -trimpath \
  "github.com/prometheus/prometheus/cmd/promtool@${PROMETHEUS_VERSION}" >&2
echo "built promtool in $((SECONDS - started)) s" >&2
echo "$BIN"
