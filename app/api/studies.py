"""The shared path of every study upload: slot, deadline, ingest, preprocess, encode."""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Request

from app.api.schemas import StudySummary
from app.api.uploads import StudyForm, read_form
from app.errors import RequestTimeoutError
from app.inference.backend import VideoEmbeddings
from app.inference.engine import InferenceEngine, PreparedStudy


@asynccontextmanager
async def inference_slot(engine: InferenceEngine) -> AsyncIterator[None]:
    """Hold one inference slot within the request deadline; 503 when none is free,
    504 when the work outlives the deadline. A slot covers reading the upload too, so the
    studies held in memory at once are bounded by the slots."""
    async with engine.slots.hold():
        try:
            async with asyncio.timeout(engine.settings.request_timeout_s):
                yield
        except TimeoutError:
            raise RequestTimeoutError(
                f"the study was not processed within {engine.settings.request_timeout_s:g} s"
            ) from None


async def receive_form(request: Request, engine: InferenceEngine) -> tuple[StudyForm, float]:
    """The upload's multipart form, and how long receiving and parsing it took (ms). Call
    inside `inference_slot`, so that a refused request never has its body read."""
    started = time.perf_counter()
    form = await read_form(request, engine.settings)
    return form, round((time.perf_counter() - started) * 1000, 2)


async def encode_uploaded_study(
    engine: InferenceEngine, form: StudyForm, request_id: str, receive_ms: float
) -> tuple[PreparedStudy, VideoEmbeddings]:
    """Call inside `inference_slot`; `receive_ms` is how long reading the upload took.
    Raises the data layer's and backend's CmrErrors."""
    uploads = form.take_uploads()
    prepared = await engine.prepare(uploads)
    prepared.timings_ms = {"receive": receive_ms, **prepared.timings_ms}
    del uploads  # the bytes are no longer needed while the backend works
    embeddings = await engine.encode_study(prepared, request_id)
    return prepared, embeddings


def study_summary(prepared: PreparedStudy) -> StudySummary:
    outline = prepared.outline
    return StudySummary(
        study_instance_uid=outline.study_instance_uid,
        views=list(outline.views),
        slices=outline.slices,
        phases=outline.phases,
        files=outline.n_files,
        warnings=list(outline.warnings),
    )
