"""The job store: one SQLite file (WAL, synchronous FULL), so that a job accepted with 202 is on
disk before the answer leaves, and survives any end of the gateway process.

States: queued -> running -> succeeded | failed. `claim` counts an attempt; at startup
`recover` puts a job found running (its process died) back in the queue, or fails it with
`job_interrupted` once it has had MAX_ATTEMPTS. Every method is blocking: call it off the event
loop.
"""

import datetime as dt
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from app.errors import OverloadedError
from app.jobs.models import MAX_ATTEMPTS, JobError, JobRecord, JobRequest, WebhookState

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    caller TEXT NOT NULL,
    state TEXT NOT NULL,
    request TEXT NOT NULL,
    study TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    result TEXT,
    media_type TEXT,
    error TEXT,
    webhook TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, seq);
"""
_ACTIVE = "state IN ('queued', 'running')"
_INTERRUPTED = JobError(
    code="job_interrupted",
    status=500,
    detail=f"the gateway stopped while running this job, {MAX_ATTEMPTS} times",
)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class JobStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def _write(self, sql: str, *args: Any) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    def submit(
        self, job_id: str, caller: str, request: JobRequest, study: str | None, max_active: int
    ) -> JobRecord:
        """Queue a job. Raises OverloadedError when `max_active` jobs are queued or running."""
        now = _now()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._check_room(max_active)
                row = self._db.execute(
                    "INSERT INTO jobs (id, caller, state, request, study, created, updated, "
                    "webhook) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?) RETURNING *",
                    (
                        job_id,
                        caller,
                        request.model_dump_json(),
                        study,
                        now,
                        now,
                        "pending" if request.webhook_url else "none",
                    ),
                ).fetchone()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return _record(row)  # as queued: the worker may have claimed it since

    def check_room(self, max_active: int) -> None:
        """Raises OverloadedError (503 + Retry-After) when `max_active` jobs are queued or
        running."""
        with self._lock:
            self._check_room(max_active)

    def _check_room(self, max_active: int) -> None:
        (active,) = self._db.execute(f"SELECT count(*) FROM jobs WHERE {_ACTIVE}").fetchone()
        if active >= max_active:
            raise OverloadedError(
                f"{active} jobs are queued or running; retry later", retry_after_s=5
            )

    def claim(self) -> JobRecord | None:
        """The oldest queued job, now running with one more attempt; None if none is queued."""
        with self._lock:
            row = self._db.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated = ? "
                "WHERE seq = (SELECT min(seq) FROM jobs WHERE state = 'queued') RETURNING *",
                (_now(),),
            ).fetchone()
        return None if row is None else _record(row)

    def requeue(self, job_id: str) -> None:
        """A running job given back unfinished by a graceful stop: its attempt does not count."""
        self._write(
            "UPDATE jobs SET state = 'queued', attempts = attempts - 1, updated = ? "
            "WHERE id = ? AND state = 'running'",
            _now(),
            job_id,
        )

    def succeed(
        self, job_id: str, result: dict[str, Any], media_type: str, study: str | None
    ) -> None:
        self._write(
            "UPDATE jobs SET state = 'succeeded', result = ?, media_type = ?, "
            "study = coalesce(?, study), updated = ? WHERE id = ?",
            json.dumps(result),
            media_type,
            study,
            _now(),
            job_id,
        )

    def fail(self, job_id: str, error: JobError, study: str | None = None) -> None:
        self._write(
            "UPDATE jobs SET state = 'failed', error = ?, study = coalesce(?, study), "
            "updated = ? WHERE id = ?",
            error.model_dump_json(),
            study,
            _now(),
            job_id,
        )

    def set_webhook(self, job_id: str, state: WebhookState) -> None:
        self._write("UPDATE jobs SET webhook = ? WHERE id = ?", state, job_id)

    def get(self, job_id: str, caller: str | None = None) -> JobRecord | None:
        """The job, if it exists and (when `caller` is given) was submitted by that caller."""
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None or (caller is not None and row["caller"] != caller):
            return None
        return _record(row)

    def active_ids(self) -> set[str]:
        """Jobs queued or running: those whose uploads are still needed."""
        with self._lock:
            return {row[0] for row in self._db.execute(f"SELECT id FROM jobs WHERE {_ACTIVE}")}

    def recover(self) -> list[JobRecord]:
        """At startup: jobs found running go back to the queue, or fail once they have had
        MAX_ATTEMPTS. -> the finished jobs whose webhook is still to be delivered."""
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET state = 'queued', updated = ? "
                "WHERE state = 'running' AND attempts < ?",
                (_now(), MAX_ATTEMPTS),
            )
            self._db.execute(
                "UPDATE jobs SET state = 'failed', error = ?, updated = ? WHERE state = 'running'",
                (_INTERRUPTED.model_dump_json(), _now()),
            )
            rows = self._db.execute(
                f"SELECT * FROM jobs WHERE webhook = 'pending' AND NOT {_ACTIVE} ORDER BY seq"
            ).fetchall()
        return [_record(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _record(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        id=row["id"],
        caller=row["caller"],
        state=row["state"],
        request=JobRequest.model_validate_json(row["request"]),
        study=row["study"],
        attempts=row["attempts"],
        created=dt.datetime.fromisoformat(row["created"]),
        updated=dt.datetime.fromisoformat(row["updated"]),
        result=None if row["result"] is None else json.loads(row["result"]),
        media_type=row["media_type"],
        error=None if row["error"] is None else JobError.model_validate_json(row["error"]),
        webhook=row["webhook"],
    )
