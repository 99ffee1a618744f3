#!/usr/bin/env bash
# Builds helm (v4, from the Go module proxy) once into ~/.cache/rustmq-helm/<version>/bin and
# prints that directory. The chart tests run `helm lint` and `helm template` with it. Nothing
# built here goes into the repository.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v4.3.2}"
BIN="${RUSTMQ_HELM_CACHE:-$HOME/.cache/rustmq-helm}/helm-${HELM_VERSION}/bin"

if [[ -x "$BIN/helm" ]]; then
  echo "$BIN"
  exit 0
fi
command -v go >/dev/null 2>&1 || { echo "go is required to build helm" >&2; exit 1; }
echo "building helm ${HELM_VERSION} into $BIN (once; a few minutes on 2 cores)" >&2
started=$SECONDS
mkdir -p "$BIN"
CGO_ENABLED=0 GOBIN="$BIN" go install -trimpath "helm.sh/helm/v4/cmd/helm@${HELM_VERSION}" >&2
echo "built helm in $((SECONDS - started)) s" >&2
echo "$BIN"
