#!/usr/bin/env bash
# `make stack`: the SAM stack as AWS runs it, on this machine: moto for the AWS services,
# the functions' real binaries under a Lambda Runtime API, API Gateway, the SQS event
# source mappings and Scheduler played from template.yaml. Ctrl-C stops it all.
# `infra/stack.sh stack-cold-start` measures the `make build` bootstraps' cold starts instead.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$PWD/.venv"
# shellcheck source=infra/moto.sh
. infra/moto.sh
export HOOKLINE_PYTHON="$venv/bin/python"
echo "moto: $AWS_ENDPOINT_URL"
cargo run --quiet --locked -p hookline-tests --bin "${1:-hookline-stack}"
