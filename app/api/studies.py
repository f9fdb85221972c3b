"""The one path of every study upload: slot, deadline, receive while ingesting, encode, stage
timings, audit. /v1/diagnose, /v1/embed/study, /v1/search/study and /v1/report all go through
`study_upload`; the routes that also take a study by reference in PACS (a JSON body) go
through `study_request`, which retrieves a referenced study or reads an upload."""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from python_multipart.multipart import parse_options_header

from app.api.audit import AuditContext, audit_trail, audited
from app.api.metrics import GatewayMetrics
from app.api.reference_schemas import ReferenceBody
from app.api.schemas import StudySummary
from app.api.uploads import MAX_FIELD_BYTES, FormPart, StudyForm, read_form
from app.dicom.identifiers import IdentifierSniffer, StudyIdentifiers, identifiers_of
from app.dicom.sources import Upload
from app.errors import InvalidUploadError
from app.inference.backend import VideoEmbeddings
from app.pipeline.ingestion import UploadIngestion
from app.pipeline.prepare import PreparedStudy, elapsed_ms
from app.pipeline.service import Pipeline


def _audit_study(request: Request, audit: AuditContext, prepared: PreparedStudy) -> None:
    """Name the request's study in its audit record (a salted hash, never the UID)."""
    audit.study = audit_trail(request).study_key(prepared.outline.study_instance_uid)


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
        _audit_study(self.request, self.audit, prepared)
        return prepared, embeddings

    def identifiers(self, prepared: PreparedStudy) -> StudyIdentifiers | None:
        """The patient and order identifiers of the study's header (app/dicom/identifiers.py)."""
        return self.sniffer.of_study(prepared.outline.study_instance_uid)


@dataclass
class StudyFetch:
    """A study referenced in a DICOMweb source: the request's other fields, as an upload's."""

    form: StudyForm
    body: ReferenceBody
    pipeline: Pipeline
    request_id: str
    request: Request
    audit: AuditContext
    timings_ms: dict[str, float] = field(default_factory=dict)

    async def encode(self) -> tuple[PreparedStudy, VideoEmbeddings]:
        """The retrieved and prepared study and its embeddings (`receive`: the retrieval).
        Raises UnknownDicomwebSourceError, StudyNotFoundError, the DICOMweb errors, the data
        layer's and the backend's CmrErrors."""
        prepared = await self.pipeline.prepare_reference(self.body.study)
        self.timings_ms = prepared.timings_ms
        _audit_study(self.request, self.audit, prepared)
        return prepared, await self.pipeline.encode_study(prepared, self.request_id)

    def identifiers(self, prepared: PreparedStudy) -> StudyIdentifiers | None:
        """The patient and order identifiers of the retrieved study's header."""
        return None if prepared.evidence is None else identifiers_of(prepared.evidence.header)


def _is_json(request: Request) -> bool:
    media_type, _ = parse_options_header(request.headers.get("content-type", ""))
    return media_type == b"application/json"


async def read_reference_body(request: Request, model: type[ReferenceBody]) -> ReferenceBody:
    """The JSON body, validated as `model`; 422 `validation_error` (values never echoed)."""
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise InvalidUploadError(
                f"a JSON study reference is limited to {MAX_FIELD_BYTES} bytes"
            )
    try:
        return model.model_validate_json(bytes(data))
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


@asynccontextmanager
async def study_request(
    request: Request,
    pipeline: Pipeline,
    metrics: GatewayMetrics,
    request_id: str,
    reference_model: type[ReferenceBody],
) -> AsyncIterator[StudyUpload | StudyFetch]:
    """A JSON body (`reference_model`) references a study in PACS: it is validated, then
    retrieved within an inference slot; any other body is a study upload (`study_upload`)."""
    if not _is_json(request):
        async with study_upload(request, pipeline, metrics, request_id) as upload:
            yield upload
        return
    audit = audited(request, "execute")
    body = await read_reference_body(request, reference_model)
    form = StudyForm([FormPart(k, None, v.encode()) for k, v in body.fields().items()])
    fetch = StudyFetch(form, body, pipeline, request_id, request, audit)
    async with pipeline.slot():
        yield fetch
    metrics.observe_stages(fetch.timings_ms)
    request.state.timings_ms = fetch.timings_ms


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
