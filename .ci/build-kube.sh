#!/usr/bin/env bash
# Builds the Kubernetes control plane the operator's end-to-end tests run against
# (kube-apiserver, kube-controller-manager, etcd) from the Go module proxy, once, into
# ~/.cache/rustmq-kube/<versions>/bin. Nothing built here goes into the repository.
#
# k8s.io/kubernetes replaces its staging modules (k8s.io/api, k8s.io/client-go, ...) with
# directories of its own tree; outside that tree the same modules come from the proxy at
# v0.MINOR.PATCH, so the scratch module below replaces each of them with that version.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
CACHE="${RUSTMQ_KUBE_CACHE:-$HOME/.cache/rustmq-kube}/kube-${KUBE_VERSION}-etcd-${ETCD_VERSION}"
BIN="$CACHE/bin"

if [[ -x "$BIN/kube-apiserver" && -x "$BIN/kube-controller-manager" && -x "$BIN/etcd" ]]; then
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null 2>&1 || { echo "go is required to build the test control plane" >&2; exit 1; }
echo "building kube-apiserver, kube-controller-manager ${KUBE_VERSION} and etcd ${ETCD_VERSION} into $BIN (once; about 11 minutes on 2 cores)" >&2
started=$SECONDS
staging_version="v0.${KUBE_VERSION#v1.}"
mkdir -p "$CACHE/kube" "$CACHE/etcd" "$BIN"
export GOFLAGS=-mod=mod
export CGO_ENABLED=0

cd "$CACHE/kube"
cat > go.mod <<MOD
module rustmq.invalid/kube-control-plane

go 1.24.0

require k8s.io/kubernetes ${KUBE_VERSION}
MOD
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
GO
go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" > /dev/null
kube_mod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/${KUBE_VERSION}.mod"
# Every `k8s.io/x => ./staging/src/k8s.io/x` of kubernetes' own go.mod becomes `=> k8s.io/x v0.Y.Z`.
grep -E '^\s+k8s\.io/[a-z0-9-]+ => \./staging/' "$kube_mod" | awk '{print $1}' | while read -r m; do
  go mod edit -replace "${m}=${m}@${staging_version}"
done
go mod tidy -e > /dev/null 2>&1 || true
go build -trimpath -o "$BIN/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager

cd "$CACHE/etcd"
cat > go.mod <<MOD
module rustmq.invalid/etcd

go 1.24.0

require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}
MOD
go mod download -json "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" > /dev/null
go build -trimpath -o "$BIN/etcd" go.etcd.io/etcd/server/v3 2>/dev/null \
  || { go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" && go build -trimpath -o "$BIN/etcd" go.etcd.io/etcd/server/v3; }

echo "built the control plane in $((SECONDS - started)) s" >&2
echo "$BIN"
