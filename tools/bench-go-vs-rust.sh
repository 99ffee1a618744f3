#!/usr/bin/env bash
# `make bench-go`: the Go SDK's and the Rust client's load generators against one release dev
# node in one run (1 KiB messages, 8 partitions, 2 producers, 1 consumer, acks=leader), Rust
# then Go, each on its own topic: once as fast as acknowledgements allow (throughput), once at
# BENCH_RATE messages per second (default 20000; latency without queueing). Prints the
# reports. BENCH_DURATION (default 20s) sets the measured time of each; BENCH_IDEMPOTENT=1
# makes both producers idempotent (which is what lets each keep up to five batches of a
# partition in flight).
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${BENCH_DURATION:-20s}"
rate="${BENCH_RATE:-20000}"
rust_idem=(); go_idem=()
if [[ "${BENCH_IDEMPOTENT:-0}" == 1 ]]; then rust_idem=(--idempotent); go_idem=(-idempotent); fi
cargo build --release -p rustmq-broker -p rustmq-tools
(cd sdk/go && go build -o ../../target/release/rustmq-go-bench ./cmd/rustmq-go-bench)
dir="$(mktemp -d)"
trap 'kill "$broker" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
RUSTMQ_NETWORK__QUIC_LISTEN=127.0.0.1:0 RUSTMQ_ADMIN__HTTP_LISTEN=127.0.0.1:0 RUSTMQ_LOG=warn \
  RUSTMQ_ADMIN_RATE_LIMITING_ENABLED=false \
  target/release/rustmq-broker --dev --data-dir "$dir/data" > "$dir/broker.out" 2>&1 &
broker=$!
for _ in $(seq 1 300); do
  grep -q "admin REST API" "$dir/broker.out" && break
  sleep 0.1
done
quic="$(sed -n 's/.*QUIC (clients) : //p' "$dir/broker.out" | tr -d ' ')"
admin="$(sed -n 's/.*admin REST API : //p' "$dir/broker.out" | tr -d ' ')"
ca="$dir/data/tls/ca.pem"
for topic in bench-rust bench-go bench-rust-rate bench-go-rate; do
  curl -sf -X POST "$admin/api/v1/topics" -H 'content-type: application/json' \
    -d "{\"name\": \"$topic\", \"partitions\": 8}" > /dev/null
done
for r in 0 "$rate"; do
  suffix=""; [[ "$r" != 0 ]] && suffix="-rate"
  echo "== Rust client (rustmq-bench), $duration, rate $r (0: as fast as possible)"
  target/release/rustmq-bench --brokers "$quic" --ca-cert "$ca" --api-url "$admin" \
    --topic "bench-rust$suffix" --partitions 8 --producers 2 --consumers 1 --message-size 1024 \
    --rate "$r" --duration "$duration" "${rust_idem[@]}"
  echo "== Go SDK (rustmq-go-bench), $duration, rate $r"
  target/release/rustmq-go-bench -brokers "$quic" -ca "$ca" -topic "bench-go$suffix" \
    -producers 2 -consumers 1 -message-size 1024 -rate "$r" -duration "$duration" "${go_idem[@]}"
done
