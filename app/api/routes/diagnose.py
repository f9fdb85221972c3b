"""POST /v1/diagnose: a cine study and free-text conditions -> ranked probabilities."""

from fastapi import APIRouter, Request

from app.api.conditions import CONDITIONS_FIELD_SCHEMA, MODE_FIELD_SCHEMA, resolve_scoring_set
from app.api.deps import MetricsDep, PipelineDep, RequestId
from app.api.responses import model_info, problems
from app.api.schemas import ConditionResult, DiagnoseResponse, DiagnoseTimings, PromptSetInfo
from app.api.studies import study_summary, study_upload
from app.api.uploads import study_form_schema

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
        {"conditions": CONDITIONS_FIELD_SCHEMA, "mode": MODE_FIELD_SCHEMA}
    ),
    responses=problems(400, 401, 413, 415, 422, 502, 503, 504),
)
async def diagnose(
    request: Request, pipeline: PipelineDep, metrics: MetricsDep, request_id: RequestId
) -> DiagnoseResponse:
    async with study_upload(request, pipeline, metrics, request_id) as upload:
        scoring_set = resolve_scoring_set(
            pipeline, upload.form.text("conditions"), upload.form.text("mode")
        )
        prepared, embeddings = await upload.encode()
        timings = prepared.timings_ms
        scores = await pipeline.score(embeddings.study[0], scoring_set, request_id, timings)
    return DiagnoseResponse(
        request_id=request_id,
        model=model_info(pipeline.card),
        prompt_set=PromptSetInfo(name=scoring_set.name, sha256=scoring_set.sha256),
        intended_use=pipeline.card.intended_use,
        study=study_summary(prepared),
        mode=scoring_set.mode,
        conditions=[
            ConditionResult(
                label=s.label,
                probability=s.probability,
                similarity=s.similarity,
                rank=s.rank,
                threshold=s.threshold,
                present=None if s.threshold is None else s.probability >= s.threshold,
                calibration=s.calibration,
            )
            for s in scores
        ],
        timings_ms=DiagnoseTimings(
            receive=timings["receive"],
            parse=timings["parse"],
            preprocess=timings["preprocess"],
            encode=round(timings["encode_video"] + timings["encode_text"], 2),
            score=timings["score"],
        ),
    )
