# syntax=docker/dockerfile:1
# RustMQ's image: the broker, the controller, the operator (and the brokers' init-container
# helper), the admin CLI and the BigQuery subscriber in one small, non-root runtime image. The Kubernetes manifests
# choose the binary with `command:`; probes are Kubernetes' (no HEALTHCHECK here).
#
# No Docker engine runs on the project's own machines: .ci/check-image.sh runs this file's
# build step and the runtime's entry points outside Docker in CI, and the image itself is
# built by users' or release CI:
#   docker build -t rustmq/rustmq:0.1.0 .

ARG RUST_VERSION=1.95
# The binaries the image carries (the build step builds exactly these; check-image.sh reads
# this line).
ARG BINARIES="rustmq-broker rustmq-controller rustmq-operator rustmq-node-label rustmq-admin rustmq-bigquery-subscriber"

FROM rust:${RUST_VERSION}-bookworm AS build
ARG BINARIES
WORKDIR /src
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends build-essential pkg-config \
 && rm -rf /var/lib/apt/lists/*
COPY . .
# build: the locked dependency versions of Cargo.lock, release profile.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --locked --release --workspace --bins \
 && mkdir -p /out \
 && for b in ${BINARIES}; do cp "target/release/$b" /out/; done

# glibc and libgcc only, no shell, user 65532 ("nonroot").
FROM gcr.io/distroless/cc-debian12:nonroot
ARG BINARIES
LABEL org.opencontainers.image.title="RustMQ" \
      org.opencontainers.image.description="RustMQ broker, controller, Kubernetes operator, admin CLI and BigQuery subscriber" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://example.invalid/rustmq" \
      org.opencontainers.image.vendor="RustMQ"
COPY --from=build /out/ /usr/local/bin/
USER 65532:65532
WORKDIR /var/lib/rustmq
# Ports: client QUIC 9092/udp, broker RPC 9093/udp and admin 9742; controller Raft 9095/udp
# and admin API 9642; operator /health and /metrics 8080; BigQuery subscriber /health and
# /metrics 8090.
EXPOSE 9092/udp 9093/udp 9742 9095/udp 9642 8080 8090
ENTRYPOINT ["rustmq-broker"]
