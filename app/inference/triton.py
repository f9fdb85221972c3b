"""The Triton backend: the encoders of `model_repository/` served by a Triton Inference Server,
reached with tritonclient's asyncio clients (gRPC by default, HTTP if configured).

Tensors go as binary data; batches larger than a model's max_batch_size (from the repository's
config.pbtxt) are sent in chunks. Every call has the deadline `backend_timeout_s`; only
"unavailable" answers and connection failures are retried (`backend_retries` times, short
backoff). Errors become BackendUnavailableError, BackendTimeoutError or BackendError, with
Triton's message but never tensor data.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import numpy as np
from tritonclient.grpc import aio as grpc_aio
from tritonclient.http import aio as http_aio
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from app.config import ServingSettings
from app.errors import BackendError, BackendTimeoutError, BackendUnavailableError, CmrError
from app.inference.backend import TEXT_MODEL, VIDEO_MODEL, VideoBatch, VideoEmbeddings
from app.inference.model_config import read_model_config
from app.model_card import MODEL_VERSION_PARAMETER, ModelCard

log = logging.getLogger(__name__)

MODEL_VERSION = "1"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # a full video batch (16 studies) is ~38 MB
GRPC_CHANNEL_ARGS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # After Triton restarts, reconnect within a second instead of gRPC's default backoff
    # (which grows to two minutes), so the gateway recovers as soon as Triton is back.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
RETRY_BACKOFF_S = 0.1
UNAVAILABLE = frozenset({"StatusCode.UNAVAILABLE", "503"})
DEADLINE = frozenset({"StatusCode.DEADLINE_EXCEEDED", "504"})
CLIENT_ERRORS = (InferenceServerException, aiohttp.ClientError, OSError)  # OSError ⊃ TimeoutError

T = TypeVar("T")


def backend_error(error: Exception, what: str) -> CmrError:
    """The gateway's error for a client exception raised during `what`."""
    if isinstance(error, InferenceServerException):
        status, message = error.status() or "", (error.message() or "")[:300]
        if status in UNAVAILABLE:
            return BackendUnavailableError(f"Triton unavailable during {what}: {message}")
        if status in DEADLINE:
            return BackendTimeoutError(f"Triton missed the deadline of {what}")
        return BackendError(f"Triton failed {what}: {message}")
    if isinstance(error, TimeoutError):  # before OSError: TimeoutError is one
        return BackendTimeoutError(f"Triton missed the deadline of {what}")
    if isinstance(error, aiohttp.ClientConnectionError | OSError):
        return BackendUnavailableError(f"Triton unreachable during {what}: {type(error).__name__}")
    return BackendError(f"Triton failed {what}: {type(error).__name__}")


class TritonBackend:
    """EncoderBackend on Triton (`settings.triton_url`, `settings.triton_protocol`), checked
    against the model card: ready() fails unless Triton serves the card's version."""

    name = "triton"

    def __init__(self, settings: ServingSettings, card: ModelCard) -> None:
        self._settings = settings
        self._card = card
        self._grpc = settings.triton_protocol == "grpc"
        self._types: Any = grpc_aio if self._grpc else http_aio  # InferInput, InferRequestedOutput
        # gRPC carries the deadline per call (Triton sees it too); aiohttp per session.
        self._deadline = {"client_timeout": settings.backend_timeout_s} if self._grpc else {}
        self._max_batch = {
            model: read_model_config(
                settings.model_repository / model / "config.pbtxt"
            ).max_batch_size
            for model in (VIDEO_MODEL, TEXT_MODEL)
        }
        self._client: Any = None

    async def start(self) -> None:
        if self._client is not None:
            return
        url = self._settings.triton_url
        if self._grpc:
            self._client = grpc_aio.InferenceServerClient(url, channel_args=GRPC_CHANNEL_ARGS)
        else:
            self._client = http_aio.InferenceServerClient(
                url, conn_timeout=self._settings.backend_timeout_s
            )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def _require_client(self) -> Any:
        if self._client is None:
            raise RuntimeError("TritonBackend.start() was not called")
        return self._client

    async def _call(self, what: str, call: Callable[..., Awaitable[T]], *args: Any, **kw: Any) -> T:
        """`await call(*args, **kw)` with the deadline, retrying only while unavailable."""
        attempt = 0
        while True:
            try:
                return await call(*args, **kw, **self._deadline)
            except CLIENT_ERRORS as error:
                mapped = backend_error(error, what)
                if not isinstance(mapped, BackendUnavailableError) or (
                    attempt >= self._settings.backend_retries
                ):
                    raise mapped from error
            attempt += 1
            log.warning("%s: Triton unavailable, retry %d", what, attempt)
            await asyncio.sleep(RETRY_BACKOFF_S * 2 ** (attempt - 1))

    async def ready(self) -> None:
        client = self._require_client()
        if not await self._call("server readiness", client.is_server_ready):
            raise BackendUnavailableError("Triton is not ready")
        for model in (VIDEO_MODEL, TEXT_MODEL):
            if not await self._call(
                f"{model} readiness", client.is_model_ready, model, MODEL_VERSION
            ):
                raise BackendUnavailableError(f"Triton has no ready {model} v{MODEL_VERSION}")
            served = await self._served_version(model)
            if served != self._card.version:
                raise BackendError(
                    f"Triton serves {model} of model version {served!r} but the gateway's model "
                    f"card is {self._card.version!r}: deploy the same model_repository to both"
                )

    async def _served_version(self, model: str) -> str | None:
        """The `cmr_model_version` parameter of the config Triton loaded for `model`."""
        client = self._require_client()
        what = f"{model} config"
        if self._grpc:
            response = await self._call(
                what, client.get_model_config, model, MODEL_VERSION, as_json=True
            )
            config = response["config"]
        else:
            config = await self._call(what, client.get_model_config, model, MODEL_VERSION)
        return config.get("parameters", {}).get(MODEL_VERSION_PARAMETER, {}).get("string_value")

    async def _infer(
        self, model: str, inputs: dict[str, np.ndarray], outputs: tuple[str, ...], request_id: str
    ) -> list[np.ndarray]:
        """Run `model` on inputs sharing a batch axis, in chunks of at most its max_batch_size;
        returns the outputs in order, concatenated over the chunks."""
        client = self._require_client()
        size = len(next(iter(inputs.values())))
        if size == 0:
            raise ValueError(f"empty batch for {model}")
        requested = [self._types.InferRequestedOutput(name) for name in outputs]
        step = self._max_batch[model]
        chunks = []
        for start in range(0, size, step):
            tensors = []
            for name, array in inputs.items():
                part = array[start : start + step]
                tensor = self._types.InferInput(
                    name, list(part.shape), np_to_triton_dtype(part.dtype)
                )
                tensor.set_data_from_numpy(part)
                tensors.append(tensor)
            result = await self._call(
                f"{model} inference",
                client.infer,
                model,
                tensors,
                model_version=MODEL_VERSION,
                outputs=requested,
                request_id=request_id,
            )
            chunks.append([result.as_numpy(name) for name in outputs])
        return [np.concatenate(parts) for parts in zip(*chunks, strict=True)]

    async def encode_video(self, batch: VideoBatch, request_id: str) -> VideoEmbeddings:
        inputs = {
            "sax": np.ascontiguousarray(batch.sax, np.float32),
            "lax": np.ascontiguousarray(batch.lax, np.float32),
            "lax_present": np.ascontiguousarray(batch.lax_present, np.float32),
        }
        study, clips = await self._infer(
            VIDEO_MODEL, inputs, ("study_embedding", "clip_embeddings"), request_id
        )
        return VideoEmbeddings(study=study, clips=clips)

    async def encode_sentences(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, request_id: str
    ) -> np.ndarray:
        inputs = {
            "input_ids": np.ascontiguousarray(input_ids, np.int64),
            "attention_mask": np.ascontiguousarray(attention_mask, np.int64),
        }
        (embedding,) = await self._infer(TEXT_MODEL, inputs, ("embedding",), request_id)
        return embedding
