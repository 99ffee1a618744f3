#!/usr/bin/env bash
# Runs every coverage-guided fuzz target of security/fuzz (cargo fuzz, libFuzzer with
# AddressSanitizer) for FUZZ_SECONDS each, from the committed seeds. A crash fails the run
# and leaves its input under security/fuzz/artifacts/<target>/.
#
# cargo-fuzz is installed once into ~/.cache/rustmq-cargo-fuzz/<version>. libFuzzer's
# instrumentation needs unstable compiler flags: rustup's nightly toolchain when there is
# one, else the stable compiler with RUSTC_BOOTSTRAP=1 (it says so).
set -euo pipefail
cd "$(dirname "$0")/../security/fuzz"

CARGO_FUZZ_VERSION=0.13.1
ROOT="$HOME/.cache/rustmq-cargo-fuzz/$CARGO_FUZZ_VERSION"
if [[ ! -x "$ROOT/bin/cargo-fuzz" ]]; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION into $ROOT (once)" >&2
  cargo install --quiet --locked --root "$ROOT" cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
export PATH="$ROOT/bin:$PATH"

toolchain=()
if command -v rustup >/dev/null 2>&1 && rustup run nightly rustc --version >/dev/null 2>&1; then
  toolchain=(+nightly)
else
  echo "no nightly toolchain: building the fuzz targets with the stable compiler and RUSTC_BOOTSTRAP=1" >&2
  export RUSTC_BOOTSTRAP=1
fi

seconds="${FUZZ_SECONDS:-20}"
for target in $(cargo "${toolchain[@]}" fuzz list); do
  corpus="target/corpus/$target"
  mkdir -p "$corpus"
  echo "== fuzz $target (${seconds}s)"
  log="target/$target.log"
  # New inputs go to the scratch corpus; the seeds are read only.
  if ! cargo "${toolchain[@]}" fuzz run "$target" "$corpus" "seeds/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 > "$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz target $target failed (its input is under security/fuzz/artifacts/$target/)" >&2
    exit 1
  fi
  grep -E "^stat::(number_of_executed_units|new_units_added)" "$log" || true
done
