#!/usr/bin/env bash
# Builds staticcheck (honnef.co/go/tools, from the Go module proxy) once into
# ~/.cache/rustmq-staticcheck/staticcheck-<version>/bin and prints that directory. `make test`
# runs it on the Go SDK.
set -euo pipefail
exec "$(dirname "$0")/go-install-cached.sh" staticcheck "${STATICCHECK_VERSION:-v0.8.2}" \
  honnef.co/go/tools/cmd/staticcheck "${RUSTMQ_STATICCHECK_CACHE:-$HOME/.cache/rustmq-staticcheck}"
