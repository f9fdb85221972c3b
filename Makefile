# Every target creates/updates the virtual environment it needs; all are idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_DIR ?= data/demo

.PHONY: venv test lint format serve demo-data bench data train evaluate export clean

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

# The demo model: synthetic data (3 training sites + 2 external), training, evaluation, export.
DATA_DIR ?= data/cmr
RUN_DIR ?= runs/demo
MODEL_VERSION ?= 0.1.0-preview
data: $(VENV)/.dev-stamp
	test -f $(DATA_DIR)/manifest.csv || ( \
	  $(BIN)/python -m app.synth --studies 450 --site train --seed 0 --out $(DATA_DIR) && \
	  $(BIN)/python -m app.synth --studies 150 --site external --seed 1 --out $(DATA_DIR) )

train: data
	$(BIN)/python -m app.training.train --config app/training/demo.toml
	$(BIN)/python -m app.training.train --config app/training/demo.toml \
	  --set model.single_frame=true --set train.out_dir=$(RUN_DIR)-single-frame

evaluate: $(VENV)/.dev-stamp
	$(BIN)/python -m app.training.evaluate --run $(RUN_DIR) --ablation $(RUN_DIR)-single-frame \
	  --real ../shared/realdata/sunnybrook_SCD0000101/dicom --out eval --version $(MODEL_VERSION)

export: evaluate
	$(BIN)/python -m app.training.export --run $(RUN_DIR) --eval eval/summary.json --out model_repository \
	  --version $(MODEL_VERSION)

clean:
	rm -rf $(VENV) data runs .pytest_cache .ruff_cache
