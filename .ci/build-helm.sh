#!/usr/bin/env bash
# Builds helm (v4, from the Go module proxy) once into ~/.cache/rustmq-helm/helm-<version>/bin
# and prints that directory. The chart tests run `helm lint` and `helm template` with it.
set -euo pipefail
exec "$(dirname "$0")/go-install-cached.sh" helm "${HELM_VERSION:-v4.3.2}" \
  helm.sh/helm/v4/cmd/helm "${RUSTMQ_HELM_CACHE:-$HOME/.cache/rustmq-helm}"
