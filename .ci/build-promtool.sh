#!/usr/bin/env bash
# Builds promtool (Prometheus, from the Go module proxy) once into
# ~/.cache/rustmq-promtool/promtool-<version>/bin and prints that directory. The monitoring
# tests run `promtool check rules` and `promtool test rules` on the chart's alerts with it.
set -euo pipefail
exec "$(dirname "$0")/go-install-cached.sh" promtool "${PROMETHEUS_VERSION:-v0.316.0}" \
  github.com/prometheus/prometheus/cmd/promtool "${RUSTMQ_PROMTOOL_CACHE:-$HOME/.cache/rustmq-promtool}"
