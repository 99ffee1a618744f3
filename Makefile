# Common developer commands. `make dev` and `make test` are the README's two commands.
.PHONY: dev test lint fmt bench clean-dev cluster cluster-down

dev:
	cargo run --release -p rustmq-broker -- --dev

# Starts real object-store servers (fake-gcs-server, moto): .ci/test-deps installs them.
test:
	./.ci/test-deps
	PATH="$(CURDIR)/target/ci-venv/bin:$$PATH" cargo test --workspace

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

# Needs a running dev node (make dev in another terminal).
bench:
	cargo run --release -p rustmq-tools --bin rustmq-bench -- --partitions 8 --message-size 1024 --duration 30s

clean-dev:
	rm -rf rustmq-data

# A local controller cluster: three rustmq-controller processes on 127.0.0.1 (admin API on
# 9642, 9643, 9644; Raft/internal RPC on 9095, 9195, 9295), state, logs and PID files under
# .cluster/. Brokers joining a remote controller cluster come with the replication work.
cluster:
	cargo build --release -p rustmq-controller
	mkdir -p .cluster
	for n in 1 2 3; do \
	  if [ -f .cluster/controller-$$n.pid ] && kill -0 $$(cat .cluster/controller-$$n.pid) 2>/dev/null; then \
	    echo "controller-$$n already running"; continue; fi; \
	  nohup target/release/rustmq-controller --config config/controller-local-$$n.toml \
	    > .cluster/controller-$$n.log 2>&1 & echo $$! > .cluster/controller-$$n.pid; \
	done
	@echo "controllers starting; admin API: http://127.0.0.1:9642 (also 9643, 9644); logs in .cluster/"

cluster-down:
	-for f in .cluster/*.pid; do [ -f "$$f" ] && kill $$(cat "$$f") 2>/dev/null; rm -f "$$f"; done
	@echo "stopped; state kept in .cluster/ (rm -rf .cluster to start afresh)"
