# syntax=docker/dockerfile:1
# The gateway: FastAPI with the `serve` extra (onnxruntime, tritonclient), never torch.
#   make image-gateway        (docker build --build-arg MODEL_VERSION=<card version> -t … .)
# Non-root, read-only root filesystem: the only writable path is /tmp (a volume; in Kubernetes an
# emptyDir), where multipart uploads are spooled. One uvicorn worker: scale with pods.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:${PATH}
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app/ app/
# DL3013 (pin versions): this installs the project itself, a path, not a package; its
# dependencies are the pins and ranges of pyproject.toml.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[serve]" \
 && python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)"
COPY model_repository/ /opt/cmr/model_repository/
# The image is labelled with the model it serves: refuse to build under another version.
ARG MODEL_VERSION
RUN python -c "import json, sys; card = json.load(open(sys.argv[1])); \
sys.exit(None if card['version'] == sys.argv[2] else f'MODEL_VERSION={sys.argv[2]!r} but the card is {card[\"version\"]!r}')" \
    /opt/cmr/model_repository/model_card.json "${MODEL_VERSION}"

FROM python:3.11-slim
ARG MODEL_VERSION
LABEL org.opencontainers.image.title="cmr-clip-gateway" \
      org.opencontainers.image.description="CMR-CLIP zero-shot cardiac MRI REST gateway (embedded onnxruntime or Triton backend)" \
      org.opencontainers.image.version="${MODEL_VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="CMR-CLIP" \
      io.cmr-clip.model.name="cmr-clip" \
      io.cmr-clip.model.version="${MODEL_VERSION}"
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=33554432 \
    MALLOC_TRIM_THRESHOLD_=134217728 \
    NUMPY_MADVISE_HUGEPAGE=0 \
    TMPDIR=/tmp \
    HOME=/tmp \
    CMR_MODEL_REPOSITORY=/opt/cmr/model_repository \
    CMR_JOBS_DIR=/tmp/cmr-jobs
RUN groupadd --system --gid 10001 cmr \
 && useradd --system --uid 10001 --gid cmr --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin cmr
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/cmr/model_repository /opt/cmr/model_repository
# The demo case archive, which Kubernetes' init step copies to a writable volume.
COPY archive/demo/demo.sqlite /opt/cmr/archive/demo.sqlite
WORKDIR /opt/cmr
USER 10001:10001
VOLUME ["/tmp"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
CMD ["uvicorn", "app.api.main:app", "--host", "0.0.0.0", "--port", "8080", "--workers", "1", \
     "--no-access-log", "--timeout-graceful-shutdown", "30"]
