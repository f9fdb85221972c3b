"""The embedded backend: the released ONNX encoders run in-process with onnxruntime.

What one machine runs out of the box. Sessions are created once in `start()`, after the ONNX
files are checked against the model card's sha256 (a swapped file never serves under the
card's version). Inference runs in worker threads: onnxruntime releases the GIL, so the event
loop keeps answering /healthz and /metrics while a study is encoded.
"""

import asyncio
from pathlib import Path

import numpy as np
import onnxruntime as ort

from app.errors import BackendError, BackendUnavailableError
from app.inference.backend import TEXT_MODEL, VIDEO_MODEL, VideoBatch, VideoEmbeddings
from app.model_card import ModelCard, sha256_file


def _onnx_path(repository: Path, model: str) -> Path:
    return repository / model / "1" / "model.onnx"


ALLOW_SPINNING = "session.intra_op.allow_spinning"


def session_options(threads: int, spinning: bool = False) -> ort.SessionOptions:
    """The gateway's onnxruntime session options: `threads` intra-op threads (0 = one per core)
    that do not spin after a run. Spinning (onnxruntime's default) would burn CPU that the other
    studies in flight and the event loop need, for a run about 1 ms faster out of ~9
    (bench/bench_ort_spinning.py compares both)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry(ALLOW_SPINNING, "1" if spinning else "0")
    return options


class EmbeddedBackend:
    name = "embedded"

    def __init__(self, repository: Path, card: ModelCard, threads: int = 0) -> None:
        self._repository = repository
        self._card = card
        self._threads = threads
        self._video: ort.InferenceSession | None = None
        self._text: ort.InferenceSession | None = None

    def _session(self, model: str) -> ort.InferenceSession:
        path = _onnx_path(self._repository, model)
        relative = path.relative_to(self._repository).as_posix()
        expected = self._card.files.get(relative)
        if expected is None or sha256_file(path) != expected:
            raise BackendError(f"{relative} does not match model card {self._card.version}")
        options = session_options(self._threads)
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    async def start(self) -> None:
        self._video, self._text = await asyncio.gather(
            asyncio.to_thread(self._session, VIDEO_MODEL),
            asyncio.to_thread(self._session, TEXT_MODEL),
        )

    async def close(self) -> None:
        self._video = self._text = None

    async def ready(self) -> None:
        if self._video is None or self._text is None:
            raise BackendUnavailableError("the embedded encoders are not loaded")

    async def encode_video(self, batch: VideoBatch, request_id: str) -> VideoEmbeddings:
        session = self._video
        if session is None:
            raise BackendUnavailableError("the embedded video encoder is not loaded")
        feeds = {
            "sax": batch.sax.astype(np.float32, copy=False),
            "lax": batch.lax.astype(np.float32, copy=False),
            "lax_present": batch.lax_present.astype(np.float32, copy=False),
        }
        study, clips = await asyncio.to_thread(session.run, None, feeds)
        return VideoEmbeddings(study=study, clips=clips)

    async def encode_sentences(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, request_id: str
    ) -> np.ndarray:
        session = self._text
        if session is None:
            raise BackendUnavailableError("the embedded text encoder is not loaded")
        feeds = {
            "input_ids": input_ids.astype(np.int64, copy=False),
            "attention_mask": attention_mask.astype(np.int64, copy=False),
        }
        (embedding,) = await asyncio.to_thread(session.run, None, feeds)
        return embedding
