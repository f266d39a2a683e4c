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

echo "== moto"
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p target
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >target/moto.log 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
    break
  fi
  sleep 0.1
done

export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export HOOKLINE_PYTHON="$venv/bin/python"
export HOOKLINE_REQUIRE_EXTERNAL=1

echo "== tests"
cargo test --workspace --locked
