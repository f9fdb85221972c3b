"""What a route tells the audit trail about its request: that it touches a study, which one (as
the trail's keyed hash, never the UID) and which job. The middleware writes the record when the
response has gone out, with the caller's key id, the outcome and the sha256 of the body."""

from dataclasses import dataclass
from typing import Literal

from fastapi import Request

from app.audit.trail import AuditTrail

ANONYMOUS = "anonymous"


@dataclass
class AuditContext:
    action: Literal["create", "read", "execute"]
    study: str | None = None
    job_id: str | None = None


def audited(request: Request, action: Literal["create", "read", "execute"]) -> AuditContext:
    """Mark the request as one touching a study; the returned context takes its details."""
    context = AuditContext(action)
    request.state.audit = context
    return context


def audit_trail(request: Request) -> AuditTrail:
    return request.app.state.audit


def caller_id(request: Request) -> str:
    """The key id require_api_key found, or ANONYMOUS on a gateway without keys."""
    return getattr(request.state, "caller", ANONYMOUS)
