#!/usr/bin/env bash
# The WAL's unit tests and its recovery and fault tests (torn tails, damage, I/O errors,
# full disks) once more with `wal.io_backend = "uring"` (RUSTMQ_WAL__IO_BACKEND, which test configurations and
# broker processes both take), where this
# kernel and file system allow io_uring with O_DIRECT; otherwise says clearly that they were
# skipped and why. Run by `make test` after the workspace tests built the broker.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="$(mktemp -d -p target)"
trap 'rm -rf "$dir"' EXIT
if ! why="$(target/debug/rustmq-broker --check-wal-uring "$dir" 2>&1)"; then
  echo "SKIPPED: the WAL tests on the io_uring backend: $why"
  exit 0
fi
echo "$why; running the WAL tests on it"
export RUSTMQ_WAL__IO_BACKEND=uring
# `--workspace`, not `-p rustmq-broker`: the same package selection as `make test`'s build,
# so cargo reuses its test binaries instead of re-resolving features and rebuilding ~70
# crates (about 2 minutes on 2 cores). Only the broker has tests under `wal::` and these
# test targets.
cargo test --workspace --lib wal::
cargo test --workspace --test wal_recovery --test pipelining --test full_disk
