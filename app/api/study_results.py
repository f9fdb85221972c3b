"""What /v1/diagnose and /v1/report answer for a prepared study, shared with the jobs that run
the same requests later (app/api/jobs_runner.py): one code path for both."""

import base64
import datetime as dt
import json
from typing import Any

from pydantic import ValidationError

from app.api.archive_schemas import ReportResponse, SimilarCase
from app.api.responses import measurement_results, model_info
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
from app.api.studies import study_summary
from app.api.uploads import StudyForm
from app.archive.models import CaseArchive
from app.config import ServingSettings
from app.dicom.identifiers import StudyIdentifiers
from app.errors import FhirUnavailableError, InvalidFhirLinksError, InvalidSearchError
from app.inference.backend import VideoEmbeddings
from app.pipeline.explanation import StudyExplanation, explain_study
from app.pipeline.measure import measure_study
from app.pipeline.prepare import PreparedStudy
from app.pipeline.service import Pipeline
from app.reporting.explanation_png import explanation_png
from app.reporting.fhir import FHIR_MEDIA_TYPE, report_bundle
from app.reporting.fhir_server import post_transaction
from app.reporting.links import (
    DEFAULT_SIMILAR_CASES,
    FhirLinks,
    IdentifierSystems,
    ReportOptions,
    bundle_links,
)
from app.reporting.workflow import FINDINGS_SET, draft_for_embedding
from app.zeroshot.explain import PHASE_WINDOWS
from app.zeroshot.scoring_sets import ConditionScore, ScoringSet

JSON_MEDIA_TYPE = "application/json"


def checked_count(value: int, name: str, settings: ServingSettings) -> int:
    if not 1 <= value <= settings.archive_max_top_k:
        raise InvalidSearchError(f"`{name}` must be 1 to {settings.archive_max_top_k}")
    return value


def form_count(form: StudyForm, name: str, default: int, settings: ServingSettings) -> int:
    value = form.text(name)
    try:
        return checked_count(default if value is None else int(value), name, settings)
    except ValueError:
        raise InvalidSearchError(f"`{name}` must be an integer") from None


FHIR_LINKS_FIELD = {
    "type": "string",
    "description": (
        "JSON object of FHIR references linking the report: subject (Patient/id), based_on "
        "([ServiceRequest/id]), imaging_study (ImagingStudy/id), encounter (Encounter/id). "
        "Without them the DICOM header's PatientID, AccessionNumber and StudyInstanceUID "
        "link it as identifiers."
    ),
    "examples": ['{"subject": "Patient/123", "based_on": ["ServiceRequest/9"]}'],
}
FHIR_SUBMIT_FIELD = {
    "type": "string",
    "enum": ["true", "false"],
    "description": (
        "true: post the Bundle to the configured FHIR server as a transaction and answer its "
        "transaction-response Bundle"
    ),
}


def report_options(form: StudyForm, settings: ServingSettings, fhir: bool) -> ReportOptions:
    """The report fields of an upload form: `similar_cases`, `fhir` (JSON FhirLinks) and
    `fhir_submit` ("true" posts the bundle, which implies fhir). Raises the typed 422s, and
    FhirUnavailableError for a submit with no server configured."""
    similar = form_count(form, "similar_cases", DEFAULT_SIMILAR_CASES, settings)
    submit = (form.text("fhir_submit") or "false").strip().lower()
    if submit not in ("true", "false"):
        raise InvalidFhirLinksError("`fhir_submit` must be true or false")
    if submit == "true" and settings.fhir_server_url is None:
        raise FhirUnavailableError("no FHIR server is configured on this gateway")
    raw = form.text("fhir")
    try:
        links = FhirLinks.model_validate(json.loads(raw)) if raw else None
    except ValidationError as exc:  # messages and places only: a value is never echoed
        reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidFhirLinksError(f"`fhir`: {reasons}") from None
    except ValueError:
        raise InvalidFhirLinksError("`fhir` must be a JSON object") from None
    return ReportOptions(
        similar_cases=similar, fhir=fhir or submit == "true", links=links, submit=submit == "true"
    )


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


async def diagnose_response(
    pipeline: Pipeline,
    prepared: PreparedStudy,
    embeddings: VideoEmbeddings,
    scoring_set: ScoringSet,
    request_id: str,
    explain: bool = False,
    measure: bool = False,
) -> tuple[DiagnoseResponse, list[ConditionScore]]:
    """Scores of the study under `scoring_set`, as /v1/diagnose answers, and the scores it was
    built from (what a DICOM SR writes); `explain` adds the clips and phase windows that drove
    each condition, `measure` LVEF and volumes."""
    timings = prepared.timings_ms
    embedding = embeddings.study[0]
    vectors = await pipeline.condition_vectors(scoring_set, request_id, timings)
    scores = await pipeline.score(embedding, scoring_set, request_id, timings, vectors)
    explained = (
        await explain_study(pipeline, prepared, embeddings, scoring_set, vectors, request_id)
        if explain
        else None
    )
    measured = await measure_study(pipeline, embedding, request_id) if measure else None
    response = DiagnoseResponse(
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
    return response, scores


async def report_result(
    pipeline: Pipeline,
    archive: CaseArchive,
    prepared: PreparedStudy,
    embeddings: VideoEmbeddings,
    options: ReportOptions,
    identifiers: StudyIdentifiers | None,
    request_id: str,
) -> tuple[dict[str, Any], str]:
    """The draft report of the study -> (body, media type): the JSON report, its FHIR Bundle,
    or the FHIR server's transaction-response once posted. Raises the backend's, the
    archive's and the FHIR server's CmrErrors."""
    draft, similar = await draft_for_embedding(
        pipeline,
        archive,
        embeddings.study[0],
        options.similar_cases,
        request_id,
        prepared.timings_ms,
        exclude_uid_digest=archive.uid_digest(prepared.outline.study_instance_uid),
        study=(prepared, embeddings),
    )
    if not options.fhir:
        body = ReportResponse(
            request_id=request_id,
            model=model_info(pipeline.card),
            disclaimer=pipeline.card.intended_use,
            draft_impression=draft.text,
            sentences=draft.sentences,
            findings=draft.findings,
            measurements=measurement_results(draft.measurements),
            similar_cases=[SimilarCase.of(hit) for hit in similar],
            study=study_summary(prepared),
        )
        return body.model_dump(mode="json"), JSON_MEDIA_TYPE
    settings = pipeline.settings
    systems = IdentifierSystems(
        patient_id=settings.fhir_patient_id_system, accession=settings.fhir_accession_system
    )
    links = bundle_links(options.links, identifiers, systems)
    bundle = report_bundle(draft, pipeline.card, FINDINGS_SET, dt.datetime.now(dt.UTC), links)
    if options.submit:
        if settings.fhir_server_url is None:
            raise FhirUnavailableError("no FHIR server is configured on this gateway")
        token = settings.fhir_server_token
        bundle = await post_transaction(bundle, settings.fhir_server_url, token)
    return bundle, FHIR_MEDIA_TYPE
