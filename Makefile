# ETL Run Artifacts API - developer commands. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
S3RVER_STAMP := .local/s3rver/.installed-lock
export SAM_CLI_TELEMETRY := 0

.DEFAULT_GOAL := help
.PHONY: help install dev test lint format build clean bench bench-smoke s3rver dist

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(STAMP) ## Create .venv and install the project with its dev dependencies (idempotent)

$(STAMP): pyproject.toml clients/python/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@# Second, so the client's `etl-artifacts` script replaces the one an older server install owned.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e './clients/python[all]'
	@touch $(STAMP)

PORT ?= 3000
dev: install ## Embedded Postgres + local S3 + migrate + demo data + API on 127.0.0.1:3000 (PORT=3100 for another port)
	$(BIN)/etl-artifacts dev --port $(PORT)

test: install s3rver ## Run the whole test suite (what CI runs)
	$(BIN)/pytest

# checkov pins its own boto3/packaging versions, so it lives in a virtualenv of its own.
CHECKOV_VENV := .local/tools/checkov
CHECKOV_VERSION := 3.3.30
CHECKOV := $(CHECKOV_VENV)/bin/checkov

$(CHECKOV):
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
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

bench: install s3rver ## Benchmarks vs DuckDB & co. (minutes; data cached in .local/bench-data): writes bench/results/latest.md
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-smoke: install s3rver ## Every benchmark scenario at tiny sizes, a few minutes (also run by make test)
	$(BIN)/python -m bench --smoke $(BENCH_ARGS)

s3rver: $(S3RVER_STAMP) ## Install s3rver (npm, pinned by bench/node/package-lock.json) into .local/s3rver for the S3 cost model

$(S3RVER_STAMP): bench/node/package.json bench/node/package-lock.json | install
	$(BIN)/python -m bench.s3rver_server --install

# Wheels (and sdists) of the client and the server into dist/; each version is written in one place
# (clients/python/src/etl_artifacts_client/_version.py, pyproject.toml).
dist: install ## Build the client's and the server's wheels into dist/ (python -m build)
	rm -rf dist
	$(BIN)/python -m build --outdir dist clients/python
	$(BIN)/python -m build --outdir dist .

clean: ## Remove build output and local state (keeps .venv)
	rm -rf .aws-sam .local .pytest_cache .mypy_cache .ruff_cache dist
