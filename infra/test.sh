#!/usr/bin/env bash
# The whole test run: lint the template, check formatting and lints, then run every
# suite with moto's server on 127.0.0.1 standing in for DynamoDB and SQS.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$PWD/.venv"

echo "== template"
"$venv/bin/cfn-lint" template.yaml
SAM_CLI_TELEMETRY=0 "$venv/bin/sam" validate --lint --template template.yaml --region us-east-1

echo "== fmt and clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== unused dependencies"
# A pinned cargo-machete, built once into target/tools (a minute on a fresh machine).
tools="$PWD/target/tools"
if [ ! -x "$tools/bin/cargo-machete" ]; then
  cargo install --quiet --locked --version 0.9.2 --root "$tools" cargo-machete
fi
"$tools/bin/cargo-machete"

echo "== chromium"
# The console's browser test drives Debian's Chromium through its ChromeDriver.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q chromium chromium-driver ||
    { $sudo apt-get update -q && $sudo apt-get install -y -q chromium chromium-driver; }
fi

echo "== moto"
# shellcheck source=infra/moto.sh
. infra/moto.sh
export HOOKLINE_PYTHON="$venv/bin/python"
export HOOKLINE_REQUIRE_EXTERNAL=1

echo "== tests"
cargo test --workspace --locked
