"""TritonBackend against a real Triton (pytriton's binary) serving the released model: the same
numbers as onnxruntime in-process, both protocols, chunking, batching, errors and recovery."""

import asyncio
import re
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from app.config import ServingSettings
from app.deploy.triton_server import TritonProcess, triton_available
from app.errors import BackendError, BackendTimeoutError, BackendUnavailableError
from app.inference.backend import TEXT_MODEL, VIDEO_MODEL, VideoBatch
from app.inference.triton import TritonBackend
from app.model_card import ModelCard, load_model_card

pytestmark = pytest.mark.triton

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"
PROTOCOLS = ["grpc", "http"]


@pytest.fixture(scope="module")
def card() -> ModelCard:
    return load_model_card(REPOSITORY)


@pytest.fixture(scope="module")
def sessions() -> dict[str, ort.InferenceSession]:
    return {
        model: ort.InferenceSession(str(REPOSITORY / model / "1" / "model.onnx"))
        for model in (VIDEO_MODEL, TEXT_MODEL)
    }


def make_backend(
    server: TritonProcess, protocol: str, card: ModelCard, **settings: Any
) -> TritonBackend:
    url = server.grpc_url if protocol == "grpc" else server.http_url
    config = ServingSettings(
        backend="triton",
        triton_url=url,
        triton_protocol=protocol,
        model_repository=REPOSITORY,
        **settings,
    )
    return TritonBackend(config, card)


def run(backend: TritonBackend, body: Callable[[TritonBackend], Awaitable[Any]]) -> Any:
    """Start the backend, run `body` with it, close it: one event loop per test."""

    async def main() -> Any:
        await backend.start()
        try:
            return await body(backend)
        finally:
            await backend.close()

    return asyncio.run(main())


def studies(card: ModelCard, count: int, seed: int = 0) -> VideoBatch:
    spec, rng = card.input_spec, np.random.default_rng(seed)
    views = len(spec.lax_views)
    shape = (spec.frames, spec.crop_px, spec.crop_px)
    return VideoBatch(
        sax=rng.random((count, spec.sax_slices, *shape), dtype=np.float32),
        lax=rng.random((count, views, *shape), dtype=np.float32),
        lax_present=(rng.random((count, views)) > 0.3).astype(np.float32),
    )


def sentences(count: int, length: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(4, 300, (count, length))
    mask = (np.arange(length) < rng.integers(3, length + 1, (count, 1))).astype(np.int64)
    return ids * mask, mask


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def assert_video_matches(sessions, batch: VideoBatch, study, clips) -> None:
    feeds = {"sax": batch.sax, "lax": batch.lax, "lax_present": batch.lax_present}
    ref_study, ref_clips = sessions[VIDEO_MODEL].run(None, feeds)
    assert study.shape == ref_study.shape and clips.shape == ref_clips.shape
    assert cosine(study, ref_study).min() >= 0.9999
    assert cosine(clips, ref_clips).min() >= 0.9999


def assert_text_matches(sessions, ids: np.ndarray, mask: np.ndarray, embedding) -> None:
    (ref,) = sessions[TEXT_MODEL].run(None, {"input_ids": ids, "attention_mask": mask})
    assert embedding.shape == ref.shape and embedding.dtype == np.float32
    assert cosine(embedding, ref).min() >= 0.9999


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_ready_and_encoders_agree_with_onnxruntime(triton_server, card, sessions, protocol):
    batch, (ids, mask) = studies(card, 3), sentences(5)

    async def body(backend: TritonBackend):
        await backend.ready()
        video = await backend.encode_video(batch, "req-video")
        return video, await backend.encode_sentences(ids, mask, "req-text")

    video, embedding = run(make_backend(triton_server, protocol, card), body)
    assert_video_matches(sessions, batch, video.study, video.clips)
    assert_text_matches(sessions, ids, mask, embedding)


def test_batches_over_max_batch_size_are_split(triton_server, card, sessions):
    """18 studies > 16 and 70 sentences > 64: Triton rejects either in one request."""
    batch, (ids, mask) = studies(card, 18, seed=1), sentences(70, seed=1)

    async def body(backend: TritonBackend):
        video = await backend.encode_video(batch, "req-big")
        return video, await backend.encode_sentences(ids, mask, "req-big")

    video, embedding = run(make_backend(triton_server, "grpc", card), body)
    assert_video_matches(sessions, batch, video.study, video.clips)
    assert_text_matches(sessions, ids, mask, embedding)


def inference_counts(server: TritonProcess, model: str) -> tuple[float, float]:
    """(inferences, executions) of `model` from Triton's Prometheus metrics."""
    text = urllib.request.urlopen(server.metrics_url, timeout=5).read().decode()

    def metric(name: str) -> float:
        match = re.search(rf'^{name}{{model="{model}",version="1"}} (\S+)$', text, re.M)
        assert match, name
        return float(match.group(1))

    return metric("nv_inference_count"), metric("nv_inference_exec_count")


def test_concurrent_requests_are_batched_by_triton(triton_server, card, sessions):
    """The dynamic batcher hands model.py several concurrent requests, which it runs as one
    batch, and every request gets its own rows back. The requests share one shape, as the
    gateway's text embedder sends them (padded to max_tokens): Triton merges only requests
    of equal shape."""
    length = card.text.max_tokens
    requests = [sentences(1, length=length, seed=i) for i in range(32)]
    before = inference_counts(triton_server, TEXT_MODEL)

    async def body(backend: TritonBackend):
        calls = [backend.encode_sentences(*r, f"req-{i}") for i, r in enumerate(requests)]
        return await asyncio.gather(*calls)

    embeddings = run(make_backend(triton_server, "grpc", card), body)
    deadline = time.monotonic() + 5  # the metrics may trail the last response by a moment
    after = inference_counts(triton_server, TEXT_MODEL)
    while after[0] - before[0] < len(requests) and time.monotonic() < deadline:
        time.sleep(0.1)
        after = inference_counts(triton_server, TEXT_MODEL)
    for (ids, mask), embedding in zip(requests, embeddings, strict=True):
        assert_text_matches(sessions, ids, mask, embedding)
    inferences, executions = after[0] - before[0], after[1] - before[1]
    assert inferences == 32
    assert executions < inferences


def test_version_mismatch_is_a_backend_error(triton_server, card):
    other = card.model_copy(update={"version": "9.9.9"})
    with pytest.raises(BackendError) as raised:
        run(make_backend(triton_server, "grpc", other), lambda backend: backend.ready())
    assert raised.value.code == "backend_error"
    assert "9.9.9" in raised.value.message and card.version in raised.value.message


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_missed_deadline_is_a_backend_timeout(triton_server, card, protocol):
    backend = make_backend(triton_server, protocol, card, backend_timeout_s=1e-4)
    with pytest.raises(BackendTimeoutError):
        run(backend, lambda backend: backend.encode_video(studies(card, 4), "req-slow"))


async def ready_within(backend: TritonBackend, timeout_s: float) -> None:
    """Probe ready() as a readiness probe would, until it passes or `timeout_s` is over."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await backend.ready()
        except BackendUnavailableError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.1)


def test_stopped_triton_is_unavailable_and_the_same_backend_recovers(
    triton_repository, card, tmp_path
):
    """Triton stopped mid-run: calls fail fast with BackendUnavailableError (bounded retries);
    once it is back on the same ports, the very same backend objects work again within a
    readiness probe or two (gRPC reconnects after a backoff capped at 1 s)."""
    if (reason := triton_available()) is not None:
        pytest.skip(reason)
    ids, mask = sentences(2)
    with TritonProcess(triton_repository, workdir=tmp_path) as server:
        backends = [make_backend(server, protocol, card) for protocol in PROTOCOLS]

        async def scenario() -> None:
            for backend in backends:
                await backend.start()
                await backend.ready()
            server.stop()
            for backend in backends:
                started = time.monotonic()
                with pytest.raises(BackendUnavailableError):
                    await backend.encode_sentences(ids, mask, "req-down")
                assert time.monotonic() - started < 3.0
                with pytest.raises(BackendUnavailableError):
                    await backend.ready()
            server.start()
            for backend in backends:
                await ready_within(backend, 3.0)
                assert (await backend.encode_sentences(ids, mask, "req-back")).shape == (2, 128)
                await backend.close()

        asyncio.run(scenario())
