"""The FastAPI application: `create_app(settings)`; `app` for `uvicorn app.api.main:app`.

One uvicorn worker per process (Kubernetes scales pods), so Prometheus counters are exact.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.api.archive_state import open_archive
from app.api.jobs_runner import open_jobs
from app.api.logs import configure_logging
from app.api.metrics import GatewayMetrics
from app.api.middleware import GatewayMiddleware
from app.api.problems import PROBLEM_MEDIA_TYPE, install_problem_handlers
from app.api.process_state import settled_for_serving
from app.api.reference_schemas import reference_components
from app.api.routes import archive, catalog, diagnose, embed, health, jobs, prototypes
from app.api.security import require_api_key
from app.audit.trail import AuditTrail
from app.config import ServingSettings
from app.errors import CmrError
from app.model_card import INTENDED_USE
from app.pipeline.service import Pipeline

log = logging.getLogger("app.api")
DESCRIPTION = f"""Zero-shot cardiac MRI diagnosis with CMR-CLIP, a contrastive video-text model.

Upload a cine CMR study (DICOM or a zip) and free-text conditions; get ranked, calibrated
probabilities, embeddings for search, and the model's provenance on every response.

**Intended use.** {INTENDED_USE}

Errors are `application/problem+json` (RFC 9457) with a stable machine-readable `code`.
Authenticate with `Authorization: Bearer <key>` or `X-API-Key: <key>` where keys are configured.
"""


def _operation_id(route: APIRoute) -> str:
    return route.name


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    pipeline: Pipeline = app.state.pipeline
    settings: ServingSettings = app.state.settings
    if not settings.api_keys_sha256:
        log.warning("no API keys configured (CMR_API_KEYS_SHA256): the API is open to anyone")
    await pipeline.start()
    try:
        await pipeline.ready()  # warm the prompt cache; a backend that is still down is fine
    except CmrError as exc:
        log.warning("backend not ready at startup", extra={"code": exc.code})
    app.state.archive = await asyncio.to_thread(open_archive, settings, pipeline.card)
    app.state.jobs = await open_jobs(settings, pipeline, app.state.audit, lambda: app.state.archive)
    log.info(
        "serving",
        extra={"backend": pipeline.backend.name, "model_version": pipeline.card.version},
    )
    try:
        with settled_for_serving(settings.gil_switch_interval_ms):
            yield
    finally:
        if app.state.jobs is not None:
            await app.state.jobs.stop()
        await pipeline.close()
        app.state.audit.close()
        if app.state.archive is not None:
            app.state.archive.close()


def _problem_json_openapi(app: FastAPI) -> dict[str, Any]:
    """The generated schema, with error bodies documented as application/problem+json and
    FastAPI's default validation-error schema replaced by Problem."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    for path in schema["paths"].values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {
                        PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
                    }
    for name in ("HTTPValidationError", "ValidationError"):
        schema["components"]["schemas"].pop(name, None)
    schema["components"]["schemas"].update(reference_components())
    app.openapi_schema = schema
    return schema


def create_app(settings: ServingSettings | None = None, *, configure_logs: bool = True) -> FastAPI:
    settings = settings or ServingSettings()
    if configure_logs:
        configure_logging(settings.log_level)
    pipeline = Pipeline.from_settings(settings)
    metrics = GatewayMetrics()
    app = FastAPI(
        title="CMR-CLIP API",
        version=pipeline.card.version,
        description=DESCRIPTION,
        lifespan=_lifespan,
        generate_unique_id_function=_operation_id,
        openapi_tags=[
            {"name": "diagnosis", "description": "zero-shot ranking of conditions"},
            {"name": "embeddings", "description": "unit vectors of studies and texts"},
            {"name": "archive", "description": "similar past studies and draft reports"},
            {"name": "prototypes", "description": "few-shot labels from a site's own studies"},
            {"name": "jobs", "description": "asynchronous diagnoses and reports"},
            {"name": "catalog", "description": "the model card and the condition sets"},
            {"name": "operations", "description": "health, readiness and metrics"},
        ],
    )
    app.state.settings = settings
    app.state.pipeline = pipeline
    app.state.metrics = metrics
    salt = settings.audit_salt
    app.state.audit = AuditTrail(
        settings.audit_log_path, None if salt is None else salt.get_secret_value().encode()
    )
    card = pipeline.card
    metrics.model_info.labels(
        name=card.name, version=card.version, sha256=card.weights_sha256, backend=settings.backend
    ).set(1)
    metrics.inference_slots.set(pipeline.slots.capacity)
    metrics.inference_slots_busy.set_function(lambda: pipeline.slots.in_use)
    install_problem_handlers(app)
    protected = [Depends(require_api_key)]
    app.include_router(health.router)
    for router in (
        diagnose.router,
        embed.router,
        archive.router,
        prototypes.router,
        jobs.router,
        catalog.router,
    ):
        app.include_router(router, dependencies=protected)
    app.openapi = lambda: _problem_json_openapi(app)  # type: ignore[method-assign]
    model_headers = [
        (b"x-model-name", card.name.encode()),
        (b"x-model-version", card.version.encode()),
        (b"x-model-sha256", card.weights_sha256.encode()),
    ]
    app.add_middleware(
        GatewayMiddleware,
        metrics=metrics,
        max_body_bytes=settings.max_upload_bytes,
        model_headers=model_headers,
        audit=app.state.audit,
        model_version=card.version,
    )
    return app


def __getattr__(name: str) -> FastAPI:
    """`app.api.main:app` builds the application on first access (uvicorn's import), so that
    importing this module for create_app never loads a model."""
    if name == "app":
        return create_app()
    raise AttributeError(name)
