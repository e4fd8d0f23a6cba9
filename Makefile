# ETL Run Artifacts API - developer commands. `make help` lists them.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
S3RVER_STAMP := .local/s3rver/.installed-lock
export SAM_CLI_TELEMETRY := 0

.DEFAULT_GOAL := help
.PHONY: help install dev test check lint format build clean bench bench-smoke s3rver strict-s3 dist

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Python 3.13 is the Lambda runtime's version: .venv uses it when present (PYTHON313, found below),
# 3.11 otherwise. Set PYTHON to choose another; an existing .venv keeps its Python (rm -rf .venv).
PYTHON ?= $(shell '$(PYTHON313)' -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null \
	&& echo '$(PYTHON313)' || echo python3)

install: $(STAMP) ## Create .venv (Python 3.13 when present, else python3) with the dev dependencies (idempotent)

$(STAMP): pyproject.toml clients/python/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@# Second, so the client's `etl-artifacts` script replaces the one an older server install owned.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e './clients/python[all]'
	@touch $(STAMP)

PORT ?= 3000
dev: install strict-s3 ## Embedded Postgres + local S3 + migrate + demo data + API on 127.0.0.1:3000 (PORT=3100 for another port)
	$(BIN)/etl-artifacts dev --port $(PORT)

# Three pytest-xdist workers by default, on two cores: a worker spends about a quarter of its time
# waiting on real timeouts and on servers in other processes. Tests sharing a module's servers stay
# on one worker (--dist loadfile); files are handed out in collection order, longest first
# (tests/plugins/scheduling.py; xdist's default would start the files with the most tests first).
# PYTEST_WORKERS=0 runs serially; without xdist installed the suite runs serially.
PYTEST_WORKERS ?= 3
XDIST = $(shell $(BIN)/python -c 'import xdist' 2>/dev/null && [ '$(PYTEST_WORKERS)' != 0 ] \
	&& echo '-n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder')

test: install s3rver strict-s3 ## Run the whole test suite (what CI runs), three workers
	$(BIN)/pytest $(XDIST) $(PYTEST_ARGS)

# The inner loop: lint, types, and the tests not marked slow / needing the servers' heavy setups.
check: install ## ruff, ruff format --check, mypy and the fast tests (unit + API-level; < 90 s)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest $(XDIST) -m fast -q $(PYTEST_ARGS)

# checkov pins its own boto3/packaging versions, so it lives in a virtualenv of its own.
CHECKOV_VENV := .local/tools/checkov
CHECKOV_VERSION := 3.3.30
CHECKOV := $(CHECKOV_VENV)/bin/checkov

$(CHECKOV):
	@test -x $(CHECKOV_VENV)/bin/python || python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check 'checkov==$(CHECKOV_VERSION)'

lint: install $(CHECKOV) ## ruff (lint + format check), mypy, sam validate --lint, cfn-lint, checkov
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/sam validate --lint --region us-east-1
	$(BIN)/cfn-lint template.yaml
	@# Findings are fixed or skipped in template.yaml (Metadata.checkov.skip, one reason each).
	$(CHECKOV) --file template.yaml --framework cloudformation --quiet --compact --skip-download

format: install ## Apply ruff formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# SAM does not pass the template's Architecture to the layer's Makefile: one variable sets both.
ARCH ?= arm64
build: install ## sam build (no Docker) for ARCH=arm64 (default) or x86_64: functions + the shared layer
	LAYER_ARCH=$(ARCH) $(BIN)/sam build --parallel --cached --parameter-overrides Architecture=$(ARCH)

bench: install s3rver strict-s3 ## Benchmarks vs DuckDB & co. (minutes; data cached in .local/bench-data): writes bench/results/latest.md
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-smoke: install s3rver strict-s3 ## Every benchmark scenario at tiny sizes, a few minutes (also run by make test)
	$(BIN)/python -m bench --smoke $(BENCH_ARGS)

s3rver: $(S3RVER_STAMP) ## Install s3rver (npm, pinned by bench/node/package-lock.json) into .local/s3rver for the S3 cost model

$(S3RVER_STAMP): bench/node/package.json bench/node/package-lock.json | install
	$(BIN)/python -m bench.s3rver_server --install

# LocalStack's S3 (the strict local S3: docs/local-stack.md) runs on Python 3.13 in a virtualenv
# of its own, from a fully pinned requirements file. PYTHON313 is found as `python3.13` on PATH, or
# through pyenv when its shim has 3.13 installed but not selected; set it to use another.
LOCALSTACK_VENV := .local/tools/localstack
LOCALSTACK_REQUIREMENTS := local-tools/localstack/requirements.txt
LOCALSTACK_STAMP := $(LOCALSTACK_VENV)/.installed-stamp
PYTHON313 ?= $(shell python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null \
	|| PYENV_VERSION=$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.[0-9]+)?$$' | tail -n 1) \
	python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null || echo python3.13)

strict-s3: $(LOCALSTACK_STAMP) ## Install LocalStack's S3 (Python 3.13) into .local/tools/localstack for dev and tests

$(LOCALSTACK_STAMP): $(LOCALSTACK_REQUIREMENTS)
	@py='$(PYTHON313)'; "$$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null \
	  || { echo "error: the strict local S3 (LocalStack) needs Python 3.13: install it (e.g. pyenv install 3.13) or run make with PYTHON313=/path/to/python3.13" >&2; exit 1; }
	@test -x $(LOCALSTACK_VENV)/bin/python || '$(PYTHON313)' -m venv $(LOCALSTACK_VENV)
	$(LOCALSTACK_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $(LOCALSTACK_REQUIREMENTS)
	@# The index of AWS's service specs, built once here (as LocalStack's image does) and copied by
	@# every start: without it each start spends seconds rebuilding it.
	@rm -rf $(LOCALSTACK_VENV)/fs && mkdir -p $(LOCALSTACK_VENV)/fs/usr/lib/localstack
	OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT=$(LOCALSTACK_VENV)/fs $(LOCALSTACK_VENV)/bin/python -m localstack.aws.spec
	@touch $@

# Wheels (and sdists) of the client and the server into dist/; each version is written in one place
# (clients/python/src/etl_artifacts_client/_version.py, layers/shared/etl_artifacts/__init__.py).
dist: install ## Build the client's and the server's wheels into dist/ (python -m build)
	rm -rf dist
	$(BIN)/python -m build --outdir dist clients/python
	$(BIN)/python -m build --outdir dist .

clean: ## Remove build output and local state (keeps .venv)
	rm -rf .aws-sam .local .pytest_cache .mypy_cache .ruff_cache dist
