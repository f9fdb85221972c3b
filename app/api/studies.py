"""The one path of every study upload: slot, deadline, receive while ingesting, encode, stage
timings, audit. /v1/diagnose, /v1/embed/study, /v1/search/study and /v1/report all go through
`study_upload`."""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import Request

from app.api.audit import AuditContext, audit_trail, audited
from app.api.metrics import GatewayMetrics
from app.api.schemas import StudySummary
from app.api.uploads import StudyForm, read_form
from app.dicom.identifiers import IdentifierSniffer, StudyIdentifiers
from app.dicom.sources import Upload
from app.inference.backend import VideoEmbeddings
from app.pipeline.ingestion import UploadIngestion
from app.pipeline.prepare import PreparedStudy, elapsed_ms
from app.pipeline.service import Pipeline


@dataclass
class StudyUpload:
    """An upload whose body is in: its other fields, and its study, ingested or ingesting."""

    form: StudyForm
    pipeline: Pipeline
    ingestion: UploadIngestion
    receive_ms: float  # reading the body (a slow upload's files are ingested meanwhile)
    request_id: str
    request: Request
    sniffer: IdentifierSniffer
    audit: AuditContext
    timings_ms: dict[str, float] = field(default_factory=dict)

    async def encode(self) -> tuple[PreparedStudy, VideoEmbeddings]:
        """The prepared study and its embeddings; its `timings_ms` become the upload's (the
        stages after this one add theirs there). Raises the data layer's and the backend's
        CmrErrors."""
        prepared, embeddings = await self.pipeline.encode_upload(
            self.ingestion, self.receive_ms, self.request_id
        )
        self.timings_ms = prepared.timings_ms
        uid = prepared.outline.study_instance_uid
        self.audit.study = audit_trail(self.request).study_key(uid)
        return prepared, embeddings

    def identifiers(self, prepared: PreparedStudy) -> StudyIdentifiers | None:
        """The patient and order identifiers of the study's header (app/dicom/identifiers.py)."""
        return self.sniffer.of_study(prepared.outline.study_instance_uid)


@asynccontextmanager
async def study_upload(
    request: Request, pipeline: Pipeline, metrics: GatewayMetrics, request_id: str
) -> AsyncIterator[StudyUpload]:
    """Hold an inference slot (before the body is read: refused uploads cost nothing), read the
    body while its files are ingested, each as soon as it is in, and yield the upload. On
    leaving, an ingestion not finished (an error, the deadline) is abandoned; on success the
    stage timings go to the metrics and the access log."""
    audit = audited(request, "execute")
    async with pipeline.slot():
        ingestion = pipeline.ingestion()
        sniffer = IdentifierSniffer()

        def on_file(upload: Upload) -> None:
            sniffer.add(upload)
            ingestion.add(upload)

        try:
            started = time.perf_counter()
            form = await read_form(request, pipeline.settings, on_file)
            receive_ms = elapsed_ms(started)
            upload = StudyUpload(
                form, pipeline, ingestion, receive_ms, request_id, request, sniffer, audit
            )
            yield upload
        finally:
            ingestion.abandon()
    metrics.observe_stages(upload.timings_ms)
    request.state.timings_ms = upload.timings_ms


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
