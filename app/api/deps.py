"""Typed dependencies, so that route signatures read like prose."""

from typing import Annotated

from fastapi import Depends, Request

from app.api.metrics import GatewayMetrics
from app.config import ServingSettings
from app.pipeline.service import Pipeline


def _pipeline(request: Request) -> Pipeline:
    return request.app.state.pipeline


def _metrics(request: Request) -> GatewayMetrics:
    return request.app.state.metrics


def _settings(request: Request) -> ServingSettings:
    return request.app.state.settings


def _request_id(request: Request) -> str:
    return request.state.request_id


PipelineDep = Annotated[Pipeline, Depends(_pipeline)]
MetricsDep = Annotated[GatewayMetrics, Depends(_metrics)]
SettingsDep = Annotated[ServingSettings, Depends(_settings)]
RequestId = Annotated[str, Depends(_request_id)]
