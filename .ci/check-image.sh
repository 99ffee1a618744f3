#!/usr/bin/env bash
# Runs the Dockerfile's steps outside Docker, since no Docker engine runs here: its build
# command (as written in the Dockerfile, in the profile given: `release` as the image does,
# `dev` in CI to reuse the test build), then, for the runtime image, each binary as user 65532
# from a directory holding only what the image's COPY puts there, checks that it needs no
# shared library beyond glibc and libgcc (all distroless/cc has), and starts the broker's
# entry point as that user until its /health answers.
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE="${1:-release}"

binaries=$(sed -n 's/^ARG BINARIES="\(.*\)"$/\1/p' Dockerfile)
[[ -n "$binaries" ]] || { echo "Dockerfile: no ARG BINARIES line" >&2; exit 1; }
build=$(grep -o 'cargo build [^\\&]*' Dockerfile | head -1 | sed 's/ *$//')
[[ "$build" == *"--locked"* ]] || { echo "Dockerfile: the build is not --locked" >&2; exit 1; }
if [[ "$PROFILE" != release ]]; then
  build="${build/--release/--profile $PROFILE}"
fi
echo "== the Dockerfile's build step: $build"
$build
dir=$([[ "$PROFILE" == dev ]] && echo debug || echo "$PROFILE")

root=$(mktemp -d)
# The broker must be gone before its directory is: stop it and wait for it.
trap 'if [[ -n "${broker:-}" ]]; then kill "$broker" 2>/dev/null || true; wait "$broker" 2>/dev/null || true; fi; rm -rf "$root"' EXIT
chmod 755 "$root"
mkdir -p "$root/usr/local/bin" "$root/var/lib/rustmq"
# Copied without debug sections: the release build the image holds has none, and a dev
# build's would need a gigabyte of scratch space.
for b in $binaries; do
  objcopy --strip-debug "target/$dir/$b" "$root/usr/local/bin/$b"
done
chown -R 65532:65532 "$root/var/lib/rustmq"
as_nonroot() { setpriv --reuid 65532 --regid 65532 --clear-groups "$@"; }

echo "== the runtime image: $binaries as user 65532"
for b in $binaries; do
  exe="$root/usr/local/bin/$b"
  # Only glibc's and libgcc's libraries: distroless/cc has nothing else.
  extra=$(ldd "$exe" | awk '{print $1}' \
    | grep -Ev '^(linux-vdso\.so|/lib64/ld-linux|/lib/ld-linux|libc\.so|libm\.so|libgcc_s\.so|libpthread\.so|libdl\.so|librt\.so)' || true)
  if [[ -n "$extra" ]]; then
    echo "$b links libraries the runtime image lacks: $extra" >&2
    exit 1
  fi
  as_nonroot "$exe" --version
done

echo "== the entry point (rustmq-broker) as user 65532"
port=$((20000 + RANDOM % 20000))
# `exec` all the way down (the subshell into setpriv, setpriv into the broker), so `$!` is
# the broker itself and the trap stops it rather than an empty subshell.
(cd "$root/var/lib/rustmq" && RUSTMQ_ADMIN__HTTP_LISTEN="127.0.0.1:$port" \
  RUSTMQ_NETWORK__QUIC_LISTEN="127.0.0.1:$((port + 1))" \
  RUSTMQ_NETWORK__RPC_LISTEN="127.0.0.1:$((port + 2))" \
  exec setpriv --reuid 65532 --regid 65532 --clear-groups \
  "$root/usr/local/bin/rustmq-broker" --dev --data-dir "$root/var/lib/rustmq/data" \
  > "$root/broker.log" 2>&1) &
broker=$!
for _ in $(seq 1 120); do
  if ! kill -0 "$broker" 2>/dev/null; then
    break
  fi
  if curl -fsS "http://127.0.0.1:$port/health" > /dev/null 2>&1; then
    echo "the broker serves /health as a non-root user"
    exit 0
  fi
  sleep 0.5
done
echo "the broker did not come up as user 65532:" >&2
cat "$root/broker.log" >&2
exit 1
