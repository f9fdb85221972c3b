"""POST /v1/search, /v1/search/study and /v1/report: the case archive and report drafting."""

import asyncio
import datetime as dt
import json

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from app.api.archive_schemas import (
    FHIR_BUNDLE_EXAMPLE,
    FHIR_BUNDLE_SCHEMA,
    ReportResponse,
    SearchRequest,
    SearchResponse,
    SimilarCase,
)
from app.api.archive_state import ArchiveDep
from app.api.deps import MetricsDep, PipelineDep, RequestId
from app.api.reference_schemas import ReportByReference, SearchByReference
from app.api.responses import model_info, problems
from app.api.studies import study_request, study_summary
from app.api.uploads import StudyForm, study_form_schema
from app.archive.models import SearchFilters
from app.config import ServingSettings
from app.errors import InvalidSearchError
from app.reporting.fhir import FHIR_MEDIA_TYPE, report_bundle
from app.reporting.workflow import FINDINGS_SET, draft_for_embedding

router = APIRouter(prefix="/v1", tags=["archive"])
DEFAULT_SIMILAR_CASES = 5
_TOP_K_FIELD = {"type": "integer", "minimum": 1, "description": "results wanted (default 10)"}
_FILTERS_FIELD = {
    "type": "string",
    "description": 'JSON object, e.g. {"site": "site_d", "date_from": "2024-01-01"}',
}
_SIMILAR_FIELD = {
    "type": "integer",
    "minimum": 1,
    "description": f"similar cases to cite (default {DEFAULT_SIMILAR_CASES})",
}


def _checked_count(value: int, name: str, settings: ServingSettings) -> int:
    if not 1 <= value <= settings.archive_max_top_k:
        raise InvalidSearchError(f"`{name}` must be 1 to {settings.archive_max_top_k}")
    return value


def _form_count(form: StudyForm, name: str, default: int, settings: ServingSettings) -> int:
    value = form.text(name)
    try:
        return _checked_count(default if value is None else int(value), name, settings)
    except ValueError:
        raise InvalidSearchError(f"`{name}` must be an integer") from None


def _form_filters(form: StudyForm) -> SearchFilters:
    value = form.text("filters")
    try:
        return SearchFilters.model_validate(json.loads(value)) if value else SearchFilters()
    except ValidationError as exc:  # messages only: a submitted value is never echoed
        reasons = "; ".join(error["msg"] for error in exc.errors())
        raise InvalidSearchError(f"`filters`: {reasons}") from None
    except ValueError:
        raise InvalidSearchError("`filters` must be a JSON object") from None


@router.post(
    "/search",
    response_model=SearchResponse,
    summary="Past studies most similar to a phrase",
    description="Text -> study search over the case archive (embeddings of this model only).",
    responses=problems(401, 409, 422, 502, 503, 504),
)
async def search_by_text(
    body: SearchRequest, pipeline: PipelineDep, archive: ArchiveDep, request_id: RequestId
) -> SearchResponse:
    settings = pipeline.settings
    top_k = _checked_count(body.top_k, "top_k", settings)
    if not body.text.strip() or len(body.text) > settings.max_text_chars:
        raise InvalidSearchError(f"`text` must be 1 to {settings.max_text_chars} characters")
    (vector,) = await pipeline.text.prompts([body.text], request_id)
    hits = await asyncio.to_thread(archive.search, vector, top_k, body.filters)
    return SearchResponse(
        request_id=request_id,
        model=model_info(pipeline.card),
        results=[SimilarCase.of(hit) for hit in hits],
    )


@router.post(
    "/search/study",
    response_model=SearchResponse,
    summary="Past studies most similar to an uploaded study",
    description=(
        "Study -> study search, the study uploaded or referenced in a configured PACS "
        '(JSON: `{"study": {"dicomweb": "<source>", "study_instance_uid": "…"}}`). The study '
        "itself is never among the results, even when it was archived before."
    ),
    openapi_extra=study_form_schema(
        {"top_k": _TOP_K_FIELD, "filters": _FILTERS_FIELD},
        reference_body=SearchByReference.__name__,
    ),
    responses=problems(400, 401, 404, 409, 413, 415, 422, 502, 503, 504),
)
async def search_by_study(
    request: Request,
    pipeline: PipelineDep,
    archive: ArchiveDep,
    metrics: MetricsDep,
    request_id: RequestId,
) -> SearchResponse:
    async with study_request(request, pipeline, metrics, request_id, SearchByReference) as study:
        top_k = _form_count(study.form, "top_k", 10, pipeline.settings)
        filters = _form_filters(study.form)
        prepared, embeddings = await study.encode()
        itself = archive.uid_digest(prepared.outline.study_instance_uid)
        hits = await asyncio.to_thread(archive.search, embeddings.study[0], top_k, filters, itself)
    return SearchResponse(
        request_id=request_id,
        model=model_info(pipeline.card),
        results=[SimilarCase.of(hit) for hit in hits],
    )


@router.post(
    "/report",
    response_model=ReportResponse,
    summary="Draft impression of a study, from its findings and similar cases",
    description=(
        "The study uploaded, or referenced in a configured PACS (JSON: "
        '`{"study": {"dicomweb": "<source>", "study_instance_uid": "…"}}`). '
        "Every sentence of the draft states a finding above its calibrated threshold or quotes "
        "a cited similar case. Send `Accept: application/fhir+json` for a FHIR R4 Bundle "
        "(preliminary DiagnosticReport, one Observation per finding, the model as Device). "
        "Decision support only: not for diagnostic use on its own."
    ),
    openapi_extra=study_form_schema(
        {"similar_cases": _SIMILAR_FIELD}, reference_body=ReportByReference.__name__
    ),
    responses={
        200: {
            "content": {
                FHIR_MEDIA_TYPE: {"schema": FHIR_BUNDLE_SCHEMA, "example": FHIR_BUNDLE_EXAMPLE}
            }
        },
        **problems(400, 401, 404, 409, 413, 415, 422, 502, 503, 504),
    },
)
async def draft_report(
    request: Request,
    pipeline: PipelineDep,
    archive: ArchiveDep,
    metrics: MetricsDep,
    request_id: RequestId,
) -> Response:
    async with study_request(request, pipeline, metrics, request_id, ReportByReference) as study:
        similar_k = _form_count(
            study.form, "similar_cases", DEFAULT_SIMILAR_CASES, pipeline.settings
        )
        prepared, embeddings = await study.encode()
        draft, similar = await draft_for_embedding(
            pipeline,
            archive,
            embeddings.study[0],
            similar_k,
            request_id,
            prepared.timings_ms,
            exclude_uid_digest=archive.uid_digest(prepared.outline.study_instance_uid),
        )
    if FHIR_MEDIA_TYPE in request.headers.get("accept", ""):
        bundle = report_bundle(draft, pipeline.card, FINDINGS_SET, dt.datetime.now(dt.UTC))
        return JSONResponse(bundle, media_type=FHIR_MEDIA_TYPE)
    body = ReportResponse(
        request_id=request_id,
        model=model_info(pipeline.card),
        disclaimer=pipeline.card.intended_use,
        draft_impression=draft.text,
        sentences=draft.sentences,
        findings=draft.findings,
        similar_cases=[SimilarCase.of(hit) for hit in similar],
        study=study_summary(prepared),
    )
    return JSONResponse(body.model_dump(mode="json"))
