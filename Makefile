# Common developer commands. `make dev` and `make test` are the README's two commands.
.PHONY: dev test lint fmt bench bench-go bench-compare bench-kafka clean-dev cluster cluster-down soak crds manifests

dev:
	cargo run --release -p rustmq-broker -- --dev

# Starts real object-store servers (fake-gcs-server, moto) and a BigQuery emulator
# (bqemulator): .ci/test-deps installs them, with kubernetes-validate; the operator's tests need a Kubernetes control plane and helm, built
# once from the Go module proxy into ~/.cache by .ci/build-kube.sh and .ci/build-helm.sh; the
# trace tests an OpenTelemetry Collector, by .ci/build-otelcol.sh (its module is .ci/otelcol).
# terraform/ is checked without providers (OpenTofu's fmt, an HCL parser, checkov).
test:
	./.ci/test-deps
	./.ci/build-kube.sh > /dev/null
	./.ci/build-helm.sh > /dev/null
	./.ci/build-promtool.sh > /dev/null
	./.ci/build-otelcol.sh > /dev/null
	./.ci/check-terraform.sh
	PATH="$(CURDIR)/target/ci-venv/bin:$$PATH" cargo test --workspace
	# The WAL's unit, recovery and fault tests again on the io_uring backend (or SKIPPED, saying why).
	PATH="$(CURDIR)/target/ci-venv/bin:$$PATH" ./.ci/wal-uring-tests.sh
	# The Go SDK, against the broker binary and the Rust interop example the workspace tests
	# just built; then its frame and record-batch decoders fuzzed (about 15 s each here) and
	# its batch encoder (about 10 s; minimizing a new input of large records is cut short, else
	# it takes the whole budget). The budgets are executions, not seconds: Go 1.26's fuzzing
	# coordinator can report a spurious "context deadline exceeded" when a -fuzztime duration
	# ends while a worker is mid-input (golang/go#75804, fixed in Go 1.27); a count has no
	# deadline to race.
	cd sdk/go && go vet ./... && "$$(../../.ci/build-staticcheck.sh)/staticcheck" ./... && go test ./...
	cd sdk/go && go test ./rustmq -run '^$$' -fuzz '^FuzzDecodeFrame$$' -fuzztime 150000x \
	  && go test ./rustmq -run '^$$' -fuzz '^FuzzDecodeBatches$$' -fuzztime 180000x \
	  && go test ./rustmq -run '^$$' -fuzz '^FuzzEncodeBatch$$' -fuzztime 60000x -fuzzminimizetime 100x
	# Coverage-guided fuzzing of the security parsers and the token decoder (20 s a target).
	./.ci/fuzz.sh

# The CRDs from the operator's Rust types, into crds/ and the Helm chart.
crds:
	cargo run -q -p rustmq-operator --bin rustmq-crdgen -- --out crds --out charts/rustmq-operator/crds

# manifests/ from the Helm chart (a test fails when they differ).
manifests:
	RUSTMQ_UPDATE_MANIFESTS=1 cargo test -p rustmq-operator --test chart committed_manifests_are_the_chart_rendered

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

# The Go SDK and the Rust client against one release dev node it starts (tools/bench-go-vs-rust.sh).
bench-go:
	./tools/bench-go-vs-rust.sh

# One release dev broker per round on its own CPU (BROKER_CPUS, default 0), the load generator
# on the others: throughput, produce and end-to-end p99, the broker's CPU seconds per GB, a
# round under a 1-CPU cgroup quota, the broker's own produce and WAL fsync p99, the CPU steal
# on both sides, fio and a CPU-speed run before and after (tools/bench_compare.py; settings
# in its header).
bench-compare:
	cargo build --release -p rustmq-broker -p rustmq-tools
	python3 tools/bench_compare.py

# Apache Kafka (KRaft, from Maven Central into ~/.cache/rustmq-kafka by
# tools/kafka/fetch-kafka.sh) pinned the same way, measured with its own ProducerPerformance
# and EndToEndLatency, as shipped and with log.flush.interval.messages=1 (tools/bench_kafka.py).
bench-kafka:
	python3 tools/bench_kafka.py

# Needs a running dev node (make dev in another terminal).
bench:
	cargo run --release -p rustmq-tools --bin rustmq-bench -- --partitions 8 --message-size 1024 --duration 30s

# The replication soak: the test suite's kill -9 chaos test with 200 kills instead of 20
# (3 controllers, 3 brokers, idempotent acks=all producers, a checker over the whole log).
SOAK_KILLS ?= 200
soak:
	RUSTMQ_CHAOS_KILLS=$(SOAK_KILLS) cargo test -p rustmq-broker --test replication \
	  kill_nine_brokers_under_load -- --nocapture

clean-dev:
	rm -rf rustmq-data

# A local cluster on 127.0.0.1: three controllers (admin API on 9642, 9643, 9644; Raft and
# internal RPC on 9095, 9195, 9295) and three brokers (QUIC on 9092, 9192, 9292) joining them;
# state, logs and one PID file per node (controller-N.pid, broker-N.pid) under .cluster/.
# CLUSTER_PROFILE=debug uses debug binaries (faster to build). CLUSTER_OBJECTS: the brokers'
# shared local object store (unset: config/broker-local-*.toml's .cluster/objects); for
# benchmarks put it on a tmpfs (e.g. /dev/shm/rustmq-cluster-objects), as a bucket is off
# the WAL's disk: on the same ext4 its fsynced objects hold up the three WALs' fdatasyncs
# (RF=3 p99 25-34 ms against 8-11 ms, docs/benchmarks.md, fifteenth round).
CLUSTER_PROFILE ?= release
CLUSTER_BIN = target/$(if $(filter release,$(CLUSTER_PROFILE)),release,debug)
cluster:
	cargo build $(if $(filter release,$(CLUSTER_PROFILE)),--release) -p rustmq-controller -p rustmq-broker -p rustmq-tools
	mkdir -p .cluster
	for n in 1 2 3; do \
	  if [ -f .cluster/controller-$$n.pid ] && kill -0 $$(cat .cluster/controller-$$n.pid) 2>/dev/null; then \
	    echo "controller-$$n already running"; continue; fi; \
	  nohup $(CLUSTER_BIN)/rustmq-controller --config config/controller-local-$$n.toml \
	    > .cluster/controller-$$n.log 2>&1 & echo $$! > .cluster/controller-$$n.pid; \
	done
	for n in 1 2 3; do \
	  if [ -f .cluster/broker-$$n.pid ] && kill -0 $$(cat .cluster/broker-$$n.pid) 2>/dev/null; then \
	    echo "broker-$$n already running"; continue; fi; \
	  $(if $(CLUSTER_OBJECTS),RUSTMQ_OBJECT_STORAGE__LOCAL_PATH=$(CLUSTER_OBJECTS)) \
	    nohup $(CLUSTER_BIN)/rustmq-broker --config config/broker-local-$$n.toml \
	    > .cluster/broker-$$n.log 2>&1 & echo $$! > .cluster/broker-$$n.pid; \
	done
	@# Return once a leader is elected and all three brokers are registered and online, so
	@# a topic with replication factor 3 can be created right away.
	$(CLUSTER_BIN)/rustmq-admin --api-url http://127.0.0.1:9642 cluster-health --expect-brokers 3 --wait 120s > /dev/null
	@echo "ready: controllers' admin API on http://127.0.0.1:9642 (9643, 9644), brokers' QUIC on"
	@echo "127.0.0.1:9092 (9192, 9292), CA .cluster/certs/ca.pem, logs in .cluster/"

# Returns once the processes have exited (up to 30 s each): a `make cluster` right after
# would otherwise find the ports still held by a broker or controller shutting down, and
# its own processes would exit at once.
cluster-down:
	-for f in .cluster/*.pid; do [ -f "$$f" ] && kill $$(cat "$$f") 2>/dev/null; done
	-for f in .cluster/*.pid; do [ -f "$$f" ] || continue; p=$$(cat "$$f"); \
	  for i in $$(seq 300); do kill -0 $$p 2>/dev/null || break; sleep 0.1; done; rm -f "$$f"; done
	@echo "stopped; state kept in .cluster/ (rm -rf .cluster to start afresh)"
