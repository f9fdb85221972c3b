"""POST /v1/diagnose: a cine study and free-text conditions -> ranked probabilities; with
explain=true the clips and phases that drove each, with measure=true LVEF and volumes."""

import base64

from fastapi import APIRouter, Request

from app.api.conditions import CONDITIONS_FIELD_SCHEMA, MODE_FIELD_SCHEMA, resolve_scoring_set
from app.api.deps import MetricsDep, PipelineDep, RequestId
from app.api.responses import measurement_results, model_info, problems
from app.api.schemas import (
    ConditionExplanation,
    ConditionResult,
    DiagnoseResponse,
    DiagnoseTimings,
    ExplainedClip,
    Explanation,
    PhaseWindow,
    PromptSetInfo,
)
from app.api.studies import study_summary, study_upload
from app.api.uploads import flag_field_schema, study_form_schema
from app.pipeline.explanation import StudyExplanation, explain_study
from app.pipeline.measure import measure_study
from app.reporting.explanation_png import explanation_png
from app.zeroshot.explain import PHASE_WINDOWS
from app.zeroshot.scoring_sets import ConditionScore

router = APIRouter(prefix="/v1", tags=["diagnosis"])

EXPLANATION_METHOD = (
    "occlusion: a clip is occluded by removing its token from the encoder's attention pool "
    "(as an absent view is), a phase window by re-encoding the study with every clip held "
    "still over it; weight = change of the condition's score (findings: positive-negative "
    "margin; exclusive: cosine minus the mean over conditions), divided by the sum of the "
    "absolute changes"
)


def _explanation(explained: StudyExplanation, scores: list[ConditionScore]) -> Explanation:
    top = explained.conditions[scores[0].label]
    return Explanation(
        method=EXPLANATION_METHOD,
        clips=[
            ExplainedClip(index=c.index, view=c.view, slice_index=c.slice_index, level=c.level)
            for c in explained.clips
        ],
        phase_windows=[
            PhaseWindow(name=name, start=start, end=end)
            for name, (start, end) in PHASE_WINDOWS.items()
        ],
        conditions=[
            ConditionExplanation(
                label=c.label,
                clip_weights=c.clip_weights,
                phase_weights=c.window_weights,
                driving_clips=c.driving_clips,
                in_words=c.in_words,
            )
            for c in (explained.conditions[s.label] for s in scores)
        ],
        image_png_base64=base64.b64encode(explanation_png(explained, top)).decode(),
    )


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
        timings = prepared.timings_ms
        vectors = await pipeline.condition_vectors(scoring_set, request_id, timings)
        scores = await pipeline.score(
            embeddings.study[0], scoring_set, request_id, timings, vectors
        )
        explained = (
            await explain_study(pipeline, prepared, embeddings, scoring_set, vectors, request_id)
            if explain
            else None
        )
        measured = (
            await measure_study(pipeline, embeddings.study[0], request_id) if measure else None
        )
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
            explain=timings.get("explain"),
        ),
        explanation=None if explained is None else _explanation(explained, scores),
        measurements=None if measured is None else measurement_results(measured),
    )
