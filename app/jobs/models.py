"""What a job stores: the request as it will be run, and its state."""

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.reporting.links import ReportOptions

JobState = Literal["queued", "running", "succeeded", "failed"]
WebhookState = Literal["none", "pending", "delivered", "failed"]
MAX_ATTEMPTS = 2  # a job running when the gateway died is retried once


class UploadedStudy(BaseModel):
    """A study uploaded with the job: its files wait in the job's folder until it has run."""

    source: Literal["upload"] = "upload"
    files: int = Field(ge=1)


# A study by reference (DICOMweb: a configured source and a StudyInstanceUID) joins this as a
# second model, discriminated by `source`; the runner fetches it where it reads the upload.
JobStudy = UploadedStudy


class JobRequest(BaseModel):
    """The request of POST /v1/jobs, validated when it came in, run as the routes run it."""

    task: Literal["diagnose", "report"]
    study: JobStudy
    conditions: str | None = Field(None, description="diagnose: as /v1/diagnose's field")
    mode: str | None = Field(None, description="diagnose: as /v1/diagnose's field")
    report: ReportOptions | None = Field(None, description="report: how it is wanted")
    webhook_url: str | None = None


class JobError(BaseModel):
    code: str
    status: int
    detail: str


class JobRecord(BaseModel):
    """One row of the job store."""

    id: str
    caller: str
    state: JobState
    request: JobRequest
    study: str | None = Field(None, description="the audit trail's hash of the study")
    attempts: int = 0
    created: dt.datetime
    updated: dt.datetime
    result: dict[str, Any] | None = None
    media_type: str | None = None
    error: JobError | None = None
    webhook: WebhookState = "none"
