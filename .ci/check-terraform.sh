#!/usr/bin/env bash
# Checks terraform/ without the provider registry (unreachable here, so `terraform init` and
# `validate` cannot run): `tofu fmt -check` (OpenTofu built from the Go module proxy and
# cached under ~/.cache/rustmq-tofu), every file parsed and the module's interface and
# security properties checked (terraform/tests/check_module.py, python-hcl2), and checkov's
# policy scan (skips, with reasons, in terraform/.checkov.yaml). `make test` runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
TOFU_VERSION=v1.10.6
TOFU_DIR="${HOME}/.cache/rustmq-tofu/tofu-${TOFU_VERSION}/bin"
if [ ! -x "$TOFU_DIR/tofu" ]; then
  echo "building OpenTofu ${TOFU_VERSION} from the Go module proxy into $TOFU_DIR"
  mkdir -p "$TOFU_DIR"
  # Its go.mod has a replace directive, which `go install pkg@version` refuses: build inside
  # the downloaded module instead, so the directive applies.
  src="$(go mod download -json "github.com/opentofu/opentofu@${TOFU_VERSION}" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$TOFU_DIR/tofu.tmp" ./cmd/tofu)
  mv "$TOFU_DIR/tofu.tmp" "$TOFU_DIR/tofu"
fi
echo "== tofu fmt -check -recursive terraform"
# No CLI configuration is needed (and none exists on a fresh machine).
cli_config="$(mktemp)"
trap 'rm -f "$cli_config"' EXIT
TF_CLI_CONFIG_FILE="$cli_config" "$TOFU_DIR/tofu" fmt -check -recursive -diff terraform

VENV="${RUSTMQ_TF_VENV:-$PWD/target/tf-venv}"
if ! "$VENV/bin/python3" -c "import hcl2, checkov" >/dev/null 2>&1; then
  echo "installing python-hcl2 and checkov into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "checkov==3.3.30" "python-hcl2==8.1.4"
fi
echo "== terraform/tests/check_module.py"
"$VENV/bin/python3" terraform/tests/check_module.py
echo "== checkov"
"$VENV/bin/checkov" --quiet --compact --config-file terraform/.checkov.yaml -d terraform
