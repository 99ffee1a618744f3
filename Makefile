# Common developer commands. `make dev` and `make test` are the README's two commands.
.PHONY: dev test lint fmt bench clean-dev

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
