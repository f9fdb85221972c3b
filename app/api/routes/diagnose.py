"""POST /v1/diagnose: a cine study and free-text conditions -> ranked probabilities."""

from fastapi import APIRouter, Request

from app.api.conditions import CONDITIONS_FIELD_SCHEMA, MODE_FIELD_SCHEMA, resolve_scoring_set
from app.api.deps import EngineDep, MetricsDep, RequestId
from app.api.responses import model_info, problems
from app.api.schemas import ConditionResult, DiagnoseResponse, DiagnoseTimings, PromptSetInfo
from app.api.studies import (
    encode_uploaded_study,
    inference_slot,
    received_upload,
    study_summary,
)
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
    request: Request, engine: EngineDep, metrics: MetricsDep, request_id: RequestId
) -> DiagnoseResponse:
    # The slot before the body is read: refused uploads cost nothing.
    async with inference_slot(engine), received_upload(request, engine) as upload:
        scoring_set = resolve_scoring_set(
            engine, upload.form.text("conditions"), upload.form.text("mode")
        )
        prepared, embeddings = await encode_uploaded_study(engine, upload, request_id)
        timings = prepared.timings_ms
        scores = await engine.score(embeddings.study[0], scoring_set, request_id, timings)
    metrics.observe_stages(timings)
    request.state.timings_ms = timings
    return DiagnoseResponse(
        request_id=request_id,
        model=model_info(engine.card),
        prompt_set=PromptSetInfo(name=scoring_set.name, sha256=scoring_set.sha256),
        intended_use=engine.card.intended_use,
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
