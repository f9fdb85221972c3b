"""POST /v1/search, /v1/search/study and /v1/report: the case archive and report drafting."""

import asyncio
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
from app.api.studies import study_request
from app.api.study_results import (
    FHIR_LINKS_FIELD,
    FHIR_SUBMIT_FIELD,
    checked_count,
    form_count,
    report_options,
    report_result,
)
from app.api.uploads import StudyForm, study_form_schema
from app.archive.models import SearchFilters
from app.errors import InvalidSearchError
from app.reporting.fhir import FHIR_MEDIA_TYPE
from app.reporting.links import DEFAULT_SIMILAR_CASES

router = APIRouter(prefix="/v1", tags=["archive"])
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
    top_k = checked_count(body.top_k, "top_k", settings)
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
        top_k = form_count(study.form, "top_k", 10, pipeline.settings)
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
        "(preliminary DiagnosticReport, one Observation per finding, the model as Device), "
        "linked to the patient, order, imaging study and encounter (`fhir`, or the DICOM "
        "header); `fhir_submit=true` posts it to the configured FHIR server as a transaction. "
        "Decision support only: not for diagnostic use on its own."
    ),
    openapi_extra=study_form_schema(
        {
            "similar_cases": _SIMILAR_FIELD,
            "fhir": FHIR_LINKS_FIELD,
            "fhir_submit": FHIR_SUBMIT_FIELD,
        },
        reference_body=ReportByReference.__name__,
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
        fhir = FHIR_MEDIA_TYPE in request.headers.get("accept", "")
        options = report_options(study.form, pipeline.settings, fhir)
        prepared, embeddings = await study.encode()
        body, media_type = await report_result(
            pipeline,
            archive,
            prepared,
            embeddings,
            options,
            study.identifiers(prepared),
            request_id,
        )
    return JSONResponse(body, media_type=media_type)
