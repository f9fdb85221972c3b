"""POST /v1/diagnose: a cine study and free-text conditions -> ranked probabilities, as JSON or
as a DICOM Structured Report; with explain=true the clips and phases that drove each, with
measure=true LVEF and volumes."""

import asyncio
import datetime as dt

from fastapi import APIRouter, Request, Response

from app.api.conditions import CONDITIONS_FIELD_SCHEMA, MODE_FIELD_SCHEMA, resolve_scoring_set
from app.api.deps import MetricsDep, PipelineDep, RequestId
from app.api.reference_schemas import DiagnoseByReference
from app.api.responses import DICOM_MEDIA_TYPE, accepts, dicom_file, problems
from app.api.schemas import DiagnoseResponse, StoredReport
from app.api.studies import StudyFetch, study_request
from app.api.study_results import diagnose_response
from app.api.uploads import flag_field_schema, study_form_schema

router = APIRouter(prefix="/v1", tags=["diagnosis"])


@router.post(
    "/diagnose",
    response_model=DiagnoseResponse,
    summary="Zero-shot diagnosis of a cine CMR study from free-text prompts",
    description=(
        "Upload a study (DICOM files or one .zip), or reference one in a configured PACS "
        '(JSON: `{"study": {"dicomweb": "<source>", "study_instance_uid": "…"}}`), and, '
        "optionally, the conditions to rank. `Accept: application/dicom` returns the result "
        'as a DICOM Structured Report (TID 1500); `"store": true` (by reference) also stores '
        "that report in the study's PACS over STOW-RS. "
        "Decision support only: not for diagnostic use on its own."
    ),
    openapi_extra=study_form_schema(
        {
            "conditions": CONDITIONS_FIELD_SCHEMA,
            "mode": MODE_FIELD_SCHEMA,
            "explain": flag_field_schema(
                "true: per condition, the weight of each clip (short-axis slices base to "
                "apex, long-axis views) and each phase window, and a PNG"
            ),
            "measure": flag_field_schema(
                "true: LVEF, LVEDVi and RVEF by prompt ranking, with 90 % intervals"
            ),
        },
        reference_body=DiagnoseByReference.__name__,
    ),
    responses={
        200: {
            "content": {
                DICOM_MEDIA_TYPE: {
                    "schema": {"type": "string", "format": "binary"},
                    "example": "<a DICOM Part 10 file: Comprehensive 3D SR, TID 1500>",
                }
            }
        },
        **problems(400, 401, 404, 409, 413, 415, 422, 501, 502, 503, 504),
    },
)
async def diagnose(
    request: Request, pipeline: PipelineDep, metrics: MetricsDep, request_id: RequestId
) -> Response:
    async with study_request(request, pipeline, metrics, request_id, DiagnoseByReference) as study:
        scoring_set = resolve_scoring_set(
            pipeline, study.form.text("conditions"), study.form.text("mode")
        )
        explain, measure = study.form.flag("explain"), study.form.flag("measure")
        prepared, embeddings = await study.encode()
        response, scores = await diagnose_response(
            pipeline, prepared, embeddings, scoring_set, request_id, explain, measure
        )
        reference = study.body if isinstance(study, StudyFetch) else None
        store = isinstance(reference, DiagnoseByReference) and reference.store
        sr = None
        if store or accepts(request, DICOM_MEDIA_TYPE):
            from app.reporting.sr import result_sr  # highdicom takes a second to import

            assert prepared.evidence is not None  # every ingested study has its evidence
            now = dt.datetime.now(dt.UTC)
            sr = await asyncio.to_thread(
                result_sr, prepared.evidence, pipeline.card, scoring_set.name, scores, now
            )
        if store and sr is not None and reference is not None:
            await pipeline.store_in_source(reference.study, sr)
            response.stored_report = StoredReport(
                dicomweb=reference.study.dicomweb,
                study_instance_uid=sr.StudyInstanceUID,
                series_instance_uid=sr.SeriesInstanceUID,
                sop_instance_uid=sr.SOPInstanceUID,
            )
    if sr is not None and accepts(request, DICOM_MEDIA_TYPE):
        return Response(dicom_file(sr), media_type=DICOM_MEDIA_TYPE)
    return Response(response.model_dump_json(), media_type="application/json")
