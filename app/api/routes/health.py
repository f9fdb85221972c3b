"""Liveness, readiness and metrics: never behind an API key (probes and scrapers), and
liveness never touches the backend (a Triton outage must not restart every gateway)."""

import asyncio

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.api.deps import MetricsDep, PipelineDep
from app.api.responses import model_info, problems
from app.api.schemas import HealthStatus, ReadyStatus
from app.errors import CmrError, NotReadyError

router = APIRouter(tags=["operations"])
READY_TIMEOUT_S = 5.0


@router.get("/healthz", response_model=HealthStatus, summary="The process is alive")
async def healthz() -> HealthStatus:
    return HealthStatus(status="ok")


@router.get(
    "/readyz",
    response_model=ReadyStatus,
    summary="The backend serves the card's model and the default prompts are embedded",
    responses=problems(503),
)
async def readyz(pipeline: PipelineDep) -> ReadyStatus:
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            await pipeline.ready()
    except TimeoutError:
        raise NotReadyError(f"the {pipeline.backend.name} backend did not answer in time") from None
    except CmrError as exc:
        raise NotReadyError(f"{pipeline.backend.name} backend: {exc.message}") from None
    return ReadyStatus(
        status="ready", backend=pipeline.backend.name, model=model_info(pipeline.card)
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={
        200: {
            "content": {
                CONTENT_TYPE_LATEST.split(";")[0]: {
                    "example": 'cmr_http_requests_total{method="POST",route="/v1/diagnose",'
                    'status="200"} 42.0\n'
                }
            }
        }
    },
)
async def metrics(metrics: MetricsDep) -> Response:
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
