"""POST /v1/diagnose: a cine study and free-text conditions -> ranked probabilities; with
explain=true the clips and phases that drove each, with measure=true LVEF and volumes."""

from fastapi import APIRouter, Request

from app.api.conditions import CONDITIONS_FIELD_SCHEMA, MODE_FIELD_SCHEMA, resolve_scoring_set
from app.api.deps import MetricsDep, PipelineDep, RequestId
from app.api.responses import problems
from app.api.schemas import DiagnoseResponse
from app.api.studies import study_upload
from app.api.study_results import diagnose_response
from app.api.uploads import flag_field_schema, study_form_schema

router = APIRouter(prefix="/v1", tags=["diagnosis"])


@router.post(
    "/diagnose",
    response_model=DiagnoseResponse,
    summary="Zero-shot diagnosis of a cine CMR study from free-text prompts",
    description=(
        "Upload a study (DICOM files or one .zip) and, optionally, the conditions to rank. "
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
        }
    ),
    responses=problems(400, 401, 404, 409, 413, 415, 422, 501, 502, 503, 504),
)
async def diagnose(
    request: Request, pipeline: PipelineDep, metrics: MetricsDep, request_id: RequestId
) -> DiagnoseResponse:
    async with study_upload(request, pipeline, metrics, request_id) as upload:
        scoring_set = resolve_scoring_set(
            pipeline, upload.form.text("conditions"), upload.form.text("mode")
        )
        explain, measure = upload.form.flag("explain"), upload.form.flag("measure")
        prepared, embeddings = await upload.encode()
        return await diagnose_response(
            pipeline, prepared, embeddings, scoring_set, request_id, explain, measure
        )
