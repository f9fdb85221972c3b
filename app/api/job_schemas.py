"""Bodies of /v1/jobs: a job's state and, once it has run, its result or its problem."""

import datetime as dt
import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.jobs.models import JobError, JobRecord, JobState, WebhookState

JOBS_PATH = "/v1/jobs"


_JOB_ID_EXAMPLE = "3f1c2a9e5b7d4e0f8a6c1d2e3f4a5b6c"


class JobView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": _JOB_ID_EXAMPLE,
                    "task": "diagnose",
                    "state": "failed",
                    "location": f"{JOBS_PATH}/{_JOB_ID_EXAMPLE}",
                    "created": "2026-01-05T09:00:00Z",
                    "updated": "2026-01-05T09:00:04Z",
                    "attempts": 1,
                    "result": None,
                    "result_media_type": None,
                    "result_sha256": None,
                    "error": {
                        "code": "no_cine_series",
                        "status": 422,
                        "detail": "no series with at least 8 phases at one position",
                    },
                    "webhook": "delivered",
                }
            ]
        }
    )

    id: str
    task: Literal["diagnose", "report"]
    state: JobState
    location: str = Field(description="where to GET this job")
    created: dt.datetime
    updated: dt.datetime
    attempts: int = Field(description="runs started (a run cut by a restart is retried once)")
    result: dict[str, Any] | None = Field(
        None, description="when succeeded: the body /v1/diagnose or /v1/report would answer"
    )
    result_media_type: str | None = Field(None, examples=["application/fhir+json"])
    result_sha256: str | None = Field(None, description="sha256 of the result's JSON, as audited")
    error: JobError | None = Field(None, description="when failed: the problem's code and detail")
    webhook: WebhookState

    @staticmethod
    def result_sha256_of(result: dict[str, Any]) -> str:
        """The digest of a result, over its canonical JSON (sorted keys, no spaces)."""
        canonical = json.dumps(result, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @classmethod
    def of(cls, record: JobRecord) -> "JobView":
        result = record.result
        return cls(
            id=record.id,
            task=record.request.task,
            state=record.state,
            location=f"{JOBS_PATH}/{record.id}",
            created=record.created,
            updated=record.updated,
            attempts=record.attempts,
            result=result,
            result_media_type=record.media_type,
            result_sha256=None if result is None else cls.result_sha256_of(result),
            error=record.error,
            webhook=record.webhook,
        )
