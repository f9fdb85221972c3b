"""One append-only JSON line per request that touches a study, apart from the operational log.

A record names the caller by key id (a prefix of the configured sha256 digest of its key, never
the key), the study by a keyed hash of its StudyInstanceUID (HMAC-SHA256 under
CMR_AUDIT_SALT), and the result by the sha256 of the bytes returned: enough to answer "who
asked what about this study, with which model, and what did they get" for a study whose UID the
auditor holds, while the file itself names no patient. The mapping to IHE ATNA and FHIR
AuditEvent is in docs/design.md.
"""

import datetime as dt
import hashlib
import hmac
import logging
import os
import secrets
import sys
import threading
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

log = logging.getLogger("app.audit")
KEY_ID_HEX = 16  # of the key's sha256 digest: names the key, cannot be turned back into it


def key_id(key_sha256: str) -> str:
    """The id of a configured API key: the first hex digits of its sha256 digest."""
    return key_sha256.lower()[:KEY_ID_HEX]


class AuditRecord(BaseModel):
    """One access to a study. `outcome` is "success" or the problem's `code`."""

    time: dt.datetime
    request_id: str = Field(description="the X-Request-ID, or the job id for a job's run")
    caller: str = Field(description="key id of the API key, or 'anonymous' on an open gateway")
    action: Literal["create", "read", "execute"]
    route: str = Field(description="route template, or job:<task> for a job's run")
    study: str | None = Field(description="HMAC-SHA256 of the StudyInstanceUID; none if unread")
    job_id: str | None = None
    model_version: str
    status: int
    outcome: str
    result_sha256: str | None = Field(description="sha256 of the body returned; none on error")


class AuditTrail:
    """Appends records to a file opened O_APPEND (each record one write(2), so lines of
    concurrent writers never interleave), or to stdout, which the operational log (stderr)
    never uses. Thread-safe; each record is flushed (and fsynced for a file) before return."""

    def __init__(self, path: Path | None, salt: bytes | None) -> None:
        if salt is None:
            log.warning("no CMR_AUDIT_SALT: audit study hashes change at every restart")
            salt = secrets.token_bytes(32)
        self._salt = salt
        self._lock = threading.Lock()
        self._fd: int | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)

    def study_key(self, study_instance_uid: str) -> str:
        return hmac.new(self._salt, study_instance_uid.encode(), hashlib.sha256).hexdigest()

    def append(self, record: AuditRecord) -> None:
        line = record.model_dump_json().encode() + b"\n"
        with self._lock:
            if self._fd is None:
                sys.stdout.buffer.write(line)
                sys.stdout.buffer.flush()
            else:
                os.write(self._fd, line)
                os.fsync(self._fd)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
