# Hookline: `make test` is the whole test run (what CI runs); `make build` builds the
# Lambda bootstraps. Python tools (moto, the signature peers, cfn-lint, SAM CLI,
# cargo-lambda) live in .venv, installed on first use.

VENV := .venv
STAMP := $(VENV)/.installed-$(shell sha256sum infra/requirements.txt | cut -c1-12)
FUNCTIONS := hookline-ingest hookline-verify hookline-api hookline-deliver hookline-schedule
export SAM_CLI_TELEMETRY := 0

.PHONY: test lint build sam-build bench fuzz soak dev stack clean-venv

$(STAMP): infra/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements.txt
	rm -f $(VENV)/.installed-*
	touch $@

## The full test run: template lint, fmt, clippy, unit + conformance + end-to-end suites
## (with moto and the Python peers), and the console in headless Chromium (installed if missing).
test: $(STAMP)
	infra/test.sh

## Lint the SAM template offline.
lint: $(STAMP)
	$(VENV)/bin/cfn-lint template.yaml
	$(VENV)/bin/sam validate --lint --template template.yaml --region us-east-1

## Build each function's `bootstrap` for Lambda into target/lambda/<name>/: x86_64, or
## ARCH=arm64 (needs the aarch64-unknown-linux-gnu target; deploy with Architecture=arm64).
ARCH ?= x86_64
build: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --profile lambda $(if $(filter arm64,$(ARCH)),--arm64,--x86-64) \
		$(addprefix --bin ,$(FUNCTIONS))

## sam build with the template as it is (uses cargo-lambda from the venv). SAM builds
## with the release profile; the variable gives it the size optimisation of `make build`.
sam-build: $(STAMP)
	CARGO_PROFILE_RELEASE_OPT_LEVEL=s PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/sam build --config-file infra/samconfig.toml

## Criterion benchmarks, then each function's cold start as Lambda runs its `make build`
## bootstrap (sizes, exec to first poll and to first answer, peak RSS), then the cost of
## steady runs at us-east-1 list prices (target/stack-cost.jsonl; see the README). Not
## part of the test run.
bench: build
	cargo bench -p hookline-shared --bench signatures
	cargo bench -p hookline-ingest --bench ingest
	infra/stack.sh stack-cold-start
	infra/stack.sh stack-cost > target/stack-cost.jsonl
	$(VENV)/bin/python tests/stack/price.py target/stack-cost.jsonl

## Long property fuzzing: every parser of outside input (about 10 minutes), then the
## API's JSON bodies on a running hookline dev, then schemathesis on every operation.
## `make test` runs the same targets briefly.
fuzz: $(STAMP)
	PROPTEST_CASES=2000000 cargo test --release -p hookline-shared --test fuzz
	PROPTEST_CASES=100000 cargo test --release -p hookline-tests --test fuzz_api
	HOOKLINE_PYTHON=$(CURDIR)/$(VENV)/bin/python HOOKLINE_REQUIRE_EXTERNAL=1 HOOKLINE_SCHEMATHESIS_EXAMPLES=1000 \
		cargo test --release -p hookline-tests --test openapi_dev -- --nocapture

## The fault suite for 10 minutes: 100,000 events through a receiver that fails in every
## way it can, with three kill -9s of hookline dev; prints events, delivered,
## exhausted/failed, lost, duplicates. `make test` runs the same suite with 600 events.
soak:
	HOOKLINE_SOAK_EVENTS=100000 HOOKLINE_SOAK_SECS=600 cargo test --release -p hookline-cli --test faults -- --nocapture

## The SAM stack as AWS runs it, on this machine (moto, the real function binaries, API
## Gateway, SQS event source mappings and Scheduler played from template.yaml).
stack: $(STAMP)
	infra/stack.sh

## Run Hookline locally.
dev:
	cargo run --release -p hookline-cli -- dev
