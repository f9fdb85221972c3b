"""Every error leaves the gateway as application/problem+json (RFC 9457) with a stable `code`.

One place maps exceptions to statuses: the data layer's and backend's CmrErrors carry their
own code and status; validation errors, unknown routes and methods get theirs here; anything
unexpected is a 500 `internal_error` whose detail never echoes internals.
"""

import logging
import traceback
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import (
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    CmrError,
    OverloadedError,
    UnauthorizedError,
)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://cmr-clip.dev/problems/"
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}
log = logging.getLogger("app.api")


def problem_response(
    request: Request,
    status: int,
    code: str,
    detail: str,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, object]] | None = None,
) -> JSONResponse:
    body: dict[str, object] = {
        "type": PROBLEM_BASE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": getattr(request.state, "request_id", None),
    }
    if errors is not None:
        body["errors"] = errors
    request.state.error_code = code
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


_BACKEND_ERRORS = (BackendUnavailableError, BackendTimeoutError, BackendError)


async def _cmr_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CmrError)
    if isinstance(exc, _BACKEND_ERRORS):
        backend = request.app.state.pipeline.backend.name
        request.app.state.metrics.backend_errors.labels(backend=backend, kind=exc.code).inc()
    headers: dict[str, str] = {}
    if isinstance(exc, OverloadedError):
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, UnauthorizedError):
        headers["WWW-Authenticate"] = 'Bearer realm="cmr-clip"'
    return problem_response(request, exc.http_status, exc.code, exc.message, headers)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, object]]:
    """Location, message and type of each error; never the submitted value (it may be PHI)."""
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        for error in exc.errors()
    ]


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors)  # type: ignore[arg-type]
    return problem_response(request, 422, "validation_error", detail, errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    return problem_response(request, exc.status_code, code, str(exc.detail), exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The stack, not the message: an exception's text may quote a DICOM value (PHI).
    stack = "".join(traceback.format_tb(exc.__traceback__))
    log.error("unhandled error", extra={"error_type": type(exc).__name__, "stack": stack})
    return problem_response(request, 500, "internal_error", "internal error; see the server log")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CmrError, _cmr_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
