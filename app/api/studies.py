"""The shared path of every study upload: slot, deadline, receive and ingest, preprocess, encode."""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import Request

from app.api.schemas import StudySummary
from app.api.uploads import StudyForm, read_form
from app.errors import RequestTimeoutError
from app.inference.backend import VideoEmbeddings
from app.inference.engine import InferenceEngine, PreparedStudy
from app.inference.ingestion import UploadIngestion


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


@dataclass
class ReceivedUpload:
    """An upload whose body is in: its other fields, and its study, ingested or ingesting."""

    form: StudyForm
    ingestion: UploadIngestion
    receive_ms: float  # reading the body (a slow upload's files are ingested meanwhile)


@asynccontextmanager
async def received_upload(
    request: Request, engine: InferenceEngine
) -> AsyncIterator[ReceivedUpload]:
    """Read the upload's body while its files are ingested, each as soon as it is in. Enter
    inside `inference_slot`, so that a refused request never has its body read; on leaving,
    an ingestion not finished (an error, the deadline) is abandoned."""
    ingestion = UploadIngestion(engine.card, engine.limits)
    try:
        started = time.perf_counter()
        form = await read_form(request, engine.settings, ingestion.add)
        receive_ms = round((time.perf_counter() - started) * 1000, 2)
        yield ReceivedUpload(form, ingestion, receive_ms)
    finally:
        ingestion.abandon()


async def encode_uploaded_study(
    engine: InferenceEngine, upload: ReceivedUpload, request_id: str
) -> tuple[PreparedStudy, VideoEmbeddings]:
    """Call inside `received_upload`. Raises the data layer's and backend's CmrErrors."""
    prepared = await upload.ingestion.finish()
    prepared.timings_ms = {"receive": upload.receive_ms, **prepared.timings_ms}
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
