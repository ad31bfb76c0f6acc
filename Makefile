# Prefer the Lambda runtime's Python (3.13) for the dev venv so `sam build` finds it on PATH;
# fall back to python3 where it is not installed (sam build is then skipped with a message).
PY313 := $(shell p="$$(pyenv root 2>/dev/null)/versions/3.13.0/bin/python3.13"; if [ -x "$$p" ]; then echo "$$p"; else command -v python3.13 2>/dev/null; fi)
VENV_PYTHON ?= $(if $(PY313),$(PY313),python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export AWS_EC2_METADATA_DISABLED := true
export SAM_CLI_TELEMETRY := 0

.PHONY: test venv lint typecheck pytest fuzz model asyncapi-parser sam-validate sam-build checkov run demo emulator bench soak fmt clean

test: venv lint typecheck pytest sam-validate sam-build checkov

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(VENV_PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed

lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: venv
	$(BIN)/mypy $$(for d in layers/core emulator local functions bench; do [ -n "$$(find $$d -name '*.py' 2>/dev/null | head -1)" ] && echo $$d; done)

pytest: venv asyncapi-parser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The longer contract fuzz (`make test` runs the same test with 20 cases per operation and phase):
# schemathesis over the whole OpenAPI document against the real handlers, the emulator and moto.
FUZZ_EXAMPLES ?= 100
fuzz: venv
	API_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/contract/test_fuzz.py -q -p no:randomly $(PYTEST_ARGS)

# The trigger engine's stateful model (tests/model/README.md) run long: `make test` runs the same
# test with MODEL_EXAMPLES=4 (HYPOTHESIS_PROFILE=ci replays fixed examples; this explores new ones).
MODEL_EXAMPLES ?= 500
MODEL_STEPS ?= 40
model: venv
	MODEL_EXAMPLES=$(MODEL_EXAMPLES) MODEL_STEPS=$(MODEL_STEPS) MODEL_BULKS=3 MODEL_TIMEOUT=0 $(BIN)/python -m pytest tests/model -q -p no:randomly --timeout 0 $(PYTEST_ARGS)

# The official AsyncAPI parser (pinned in tests/asyncapi/package-lock.json) validates GET /asyncapi.json
# in tests/unit/test_asyncapi.py. Without node the test fails under CI and skips locally.
ASYNCAPI_DIR := tests/asyncapi
asyncapi-parser: $(ASYNCAPI_DIR)/node_modules/.package-lock.json

$(ASYNCAPI_DIR)/node_modules/.package-lock.json: $(ASYNCAPI_DIR)/package.json $(ASYNCAPI_DIR)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(ASYNCAPI_DIR) --no-audit --no-fund --ignore-scripts --loglevel=error && touch $@; \
	else \
		echo "npm not found: the AsyncAPI parser test cannot run (install Node 20)"; \
	fi

sam-validate: venv
	$(BIN)/sam validate --lint --region us-east-1

sam-build: venv
	@if $(BIN)/python -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 13) else 1)'; then \
		$(BIN)/sam build --parallel --region us-east-1; \
	else \
		echo "sam build skipped: the venv's Python is not 3.13 (the Lambda runtime); install Python 3.13 to build"; \
	fi

# Template posture (docs/security.md, "Template posture"): checkov's CloudFormation checks, offline.
# Its own venv: checkov pins boto3/botocore far below what moto, the stubs and the layer use here.
# Every skipped check is justified where it is skipped (the resource's Metadata in template.yaml).
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION):
	@test -x $(CHECKOV_VENV)/bin/python || $(VENV_PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --disable-pip-version-check 'checkov==$(CHECKOV_VERSION)'
	@touch $@

checkov: $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
	$(CHECKOV_VENV)/bin/checkov --framework cloudformation --skip-download --quiet --compact -f template.yaml

emulator: venv
	$(BIN)/python -m sfemulator

run: venv
	$(BIN)/python -m devstack

demo: venv
	$(BIN)/python -m devstack.demo

bench: venv
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# The trigger chaos soak (bench/soak_triggers.py): `make soak DURATION=600` for the long run.
DURATION ?= 60
soak: venv
	$(BIN)/python bench/soak_triggers.py --duration $(DURATION)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .aws-sam .mypy_cache .ruff_cache
