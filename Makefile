# Every target creates/updates the virtual environment it needs; all are idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_DIR ?= data/demo

.PHONY: venv test lint format serve demo-data bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first and pinned, so no resolver ever pulls a newer (CUDA) build.
$(VENV)/.torch-stamp: | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	touch $@

$(VENV)/.dev-stamp: pyproject.toml $(VENV)/.torch-stamp
	$(BIN)/pip install --quiet -e '.[serve,train,demo,dev]'
	touch $@

$(VENV)/.bench-stamp: pyproject.toml $(VENV)/.dev-stamp
	$(BIN)/pip install --quiet -e '.[serve,train,demo,dev,bench]'
	touch $@

venv: $(VENV)/.dev-stamp

lint: $(VENV)/.dev-stamp
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(VENV)/.dev-stamp
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/pytest -q

# Until the API lands, `serve` runs the data pipeline end to end on a freshly generated study.
serve: $(VENV)/.dev-stamp
	$(BIN)/python -m app.demo --out $(DEMO_DIR)

demo-data: $(VENV)/.dev-stamp
	$(BIN)/python -m app.synth --studies 15 --site train --seed 7 --out $(DEMO_DIR)
	$(BIN)/python -m app.synth.montage --data $(DEMO_DIR) --out docs/img

bench: $(VENV)/.bench-stamp
	$(BIN)/python bench/bench_synth.py
	$(BIN)/python bench/bench_ingest.py
	$(BIN)/python bench/realism.py

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
