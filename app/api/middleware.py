"""The gateway's one ASGI middleware: request id, body-size cap, metrics, the request log and
the audit record of a request that touched a study (app/api/audit.py).

Pure ASGI (no BaseHTTPMiddleware) so that uploads stream through untouched and an over-size
body is refused while it arrives, not after it has been buffered.
"""

import hashlib
import logging
import re
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.audit import ANONYMOUS, AuditContext
from app.api.metrics import GatewayMetrics
from app.api.problems import problem_response
from app.audit.trail import AuditRecord, AuditTrail, now
from app.errors import PayloadTooLargeError

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
log = logging.getLogger("app.api.requests")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _template(scope: Scope) -> str:
    return getattr(scope.get("route"), "path", None) or "unmatched"


class GatewayMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        metrics: GatewayMetrics,
        max_body_bytes: int,
        model_headers: list,
        audit: AuditTrail,
        model_version: str,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.model_headers: list[tuple[bytes, bytes]] = model_headers
        self.audit = audit
        self.model_version = model_version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = _header(scope, b"x-request-id")
        request_id = sent if sent and _REQUEST_ID.match(sent) else uuid.uuid4().hex
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        started = time.perf_counter()
        body_sha256 = hashlib.sha256()

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(self.model_headers)
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and "audit" in state:
                body_sha256.update(message.get("body", b""))
            await send(message)

        self.metrics.in_flight.inc()
        try:
            declared = _header(scope, b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
                response = problem_response(
                    Request(scope), 413, PayloadTooLargeError.code, self._too_large()
                )
                await response(scope, receive, send_with_headers)
            else:
                await self.app(scope, self._capped(receive, scope), send_with_headers)
        finally:
            self.metrics.in_flight.dec()
            self._record(scope, state, status, time.perf_counter() - started)
            if "audit" in state:
                self._audit(scope, state, status, body_sha256.hexdigest())

    def _too_large(self) -> str:
        return f"the request body exceeds {self.max_body_bytes} bytes"

    def _capped(self, receive: Receive, scope: Scope) -> Receive:
        received = 0

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                scope["state"]["body_bytes"] = received
                if received > self.max_body_bytes:
                    raise PayloadTooLargeError(self._too_large())
            return message

        return capped_receive

    def _audit(self, scope: Scope, state: dict[str, Any], status: int, body_sha256: str) -> None:
        context: AuditContext = state["audit"]
        self.audit.append(
            AuditRecord(
                time=now(),
                request_id=state["request_id"],
                caller=state.get("caller", ANONYMOUS),
                action=context.action,
                route=_template(scope),
                study=context.study,
                job_id=context.job_id,
                model_version=self.model_version,
                status=status,
                outcome=state.get("error_code") or ("success" if status < 400 else "error"),
                result_sha256=body_sha256 if status < 400 else None,
            )
        )

    def _record(self, scope: Scope, state: dict[str, Any], status: int, seconds: float) -> None:
        template = _template(scope)
        method = scope["method"]
        self.metrics.requests.labels(route=template, method=method, status=str(status)).inc()
        self.metrics.latency.labels(route=template, method=method).observe(seconds)
        code = state.get("error_code")
        if code:
            self.metrics.errors.labels(code=code).inc()
        if "body_bytes" in state and template.startswith("/v1"):
            self.metrics.upload_bytes.labels(route=template).observe(state["body_bytes"])
        fields: dict[str, Any] = {
            "request_id": state["request_id"],
            "method": method,
            "route": template,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
        }
        if code:
            fields["code"] = code
        if "timings_ms" in state:
            fields["timings_ms"] = state["timings_ms"]
        log.info("request", extra=fields)
