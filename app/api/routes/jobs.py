"""POST /v1/jobs and GET /v1/jobs/{job_id}: a diagnosis or report run later, its result fetched
or pushed to a signed webhook (app/jobs)."""

import asyncio
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from app.api.audit import audited, caller_id
from app.api.conditions import CONDITIONS_FIELD_SCHEMA, MODE_FIELD_SCHEMA, resolve_scoring_set
from app.api.deps import PipelineDep
from app.api.job_schemas import JobView
from app.api.jobs_runner import JobRunner
from app.api.responses import problems
from app.api.study_results import FHIR_LINKS_FIELD, FHIR_SUBMIT_FIELD, report_options
from app.api.uploads import StudyForm, read_form, study_form_schema
from app.errors import InvalidJobError, JobNotFoundError, JobsUnavailableError
from app.jobs.models import JobRequest, UploadedStudy
from app.jobs.webhook import SIGNATURE_HEADER, checked_webhook_url
from app.pipeline.service import Pipeline

router = APIRouter(prefix="/v1", tags=["jobs"])
_FIELDS = {
    "task": {"type": "string", "enum": ["diagnose", "report"], "description": "what to run"},
    "conditions": CONDITIONS_FIELD_SCHEMA,
    "mode": MODE_FIELD_SCHEMA,
    "similar_cases": {"type": "integer", "minimum": 1, "description": "report: cited cases"},
    "format": {
        "type": "string",
        "enum": ["json", "fhir"],
        "description": "report: the JSON report (default) or its FHIR Bundle",
    },
    "fhir": FHIR_LINKS_FIELD,
    "fhir_submit": FHIR_SUBMIT_FIELD,
    "webhook_url": {
        "type": "string",
        "format": "uri",
        "description": (
            "called with the job's JSON once it has run, signed with the "
            f"{SIGNATURE_HEADER} header; its host must be on CMR_JOBS_WEBHOOK_HOSTS"
        ),
    },
}


def _runner(request: Request) -> JobRunner:
    runner: JobRunner | None = getattr(request.app.state, "jobs", None)
    if runner is None:
        raise JobsUnavailableError("jobs are unavailable on this gateway (CMR_JOBS_DIR)")
    return runner


RunnerDep = Annotated[JobRunner, Depends(_runner)]


def _job_request(form: StudyForm, files: int, pipeline: Pipeline) -> JobRequest:
    """The job's fields, checked now as the synchronous route would (422 before queueing)."""
    settings = pipeline.settings
    task = form.text("task")
    webhook_url = form.text("webhook_url")
    if webhook_url is not None:
        if settings.jobs_webhook_secret is None:
            raise InvalidJobError("webhooks are not configured (CMR_JOBS_WEBHOOK_SECRET)")
        checked_webhook_url(webhook_url, settings.jobs_webhook_hosts)
    study = UploadedStudy(files=files)
    if task == "diagnose":
        conditions, mode = form.text("conditions"), form.text("mode")
        resolve_scoring_set(pipeline, conditions, mode)
        return JobRequest(
            task=task, study=study, conditions=conditions, mode=mode, webhook_url=webhook_url
        )
    if task == "report":
        wanted = form.text("format") or "json"
        if wanted not in ("json", "fhir"):
            raise InvalidJobError("`format` must be json or fhir")
        report = report_options(form, settings, fhir=wanted == "fhir")
        return JobRequest(task=task, study=study, report=report, webhook_url=webhook_url)
    raise InvalidJobError("`task` must be diagnose or report")


@router.post(
    "/jobs",
    status_code=202,
    response_model=JobView,
    summary="Queue a diagnosis or a report of an uploaded study",
    description=(
        "The fields of /v1/diagnose or /v1/report plus `task`; answers 202 with the job and "
        "its `Location` once the upload is stored. Jobs survive a gateway restart (a run cut "
        "short is retried once). 503 + Retry-After when the queue is full."
    ),
    openapi_extra=study_form_schema(_FIELDS),
    responses=problems(400, 401, 413, 415, 422, 503),
)
async def submit_job(request: Request, pipeline: PipelineDep, runner: RunnerDep) -> JSONResponse:
    audit = audited(request, "create")
    settings = pipeline.settings
    # Refused before the body is read; submit checks again, in the transaction that queues.
    await asyncio.to_thread(runner.store.check_room, settings.jobs_max_queued)
    job_id = uuid.uuid4().hex
    audit.job_id = job_id
    writer = runner.spool.writer(job_id)
    try:
        form = await read_form(request, settings, writer.add)
        job_request = _job_request(form, writer.files, pipeline)
        if writer.sniffer.found is not None:
            audit.study = runner.audit.study_key(writer.sniffer.found.study_instance_uid)
        writer.commit()
        record = await asyncio.to_thread(
            runner.store.submit,
            job_id,
            caller_id(request),
            job_request,
            audit.study,
            settings.jobs_max_queued,
        )
    except BaseException:
        writer.discard()
        raise
    runner.wake()
    view = JobView.of(record)
    return JSONResponse(
        view.model_dump(mode="json"), status_code=202, headers={"Location": view.location}
    )


@router.get(
    "/jobs/{job_id}",
    response_model=JobView,
    summary="A job's state, and its result once it has run",
    responses=problems(401, 404),
)
async def get_job(
    request: Request,
    runner: RunnerDep,
    job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")],
) -> JobView:
    audit = audited(request, "read")
    audit.job_id = job_id
    record = await asyncio.to_thread(runner.store.get, job_id, caller_id(request))
    if record is None:
        raise JobNotFoundError(f"no job {job_id} of this API key")
    audit.study = record.study
    return JobView.of(record)
