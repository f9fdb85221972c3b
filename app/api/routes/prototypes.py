"""POST /v1/prototypes, GET /v1/prototypes[/{name}]: few-shot labels from a site's own studies,
usable as conditions of /v1/diagnose (`{"label": ..., "prototype": name}`, findings mode)."""

import asyncio

import numpy as np
from fastapi import APIRouter, Request

from app.api.deps import PipelineDep
from app.api.prototype_schemas import PrototypeInfo, PrototypeList, PrototypeRequest
from app.api.responses import problems
from app.api.schemas import ModelInfo
from app.archive.models import CaseArchive
from app.errors import (
    InvalidPrototypeError,
    PrototypeModelMismatchError,
    UnknownPrototypeError,
)
from app.pipeline.service import Pipeline
from app.zeroshot.prototypes import Prototype

router = APIRouter(prefix="/v1", tags=["prototypes"])


def _info(prototype: Prototype, pipeline: Pipeline) -> PrototypeInfo:
    return PrototypeInfo(
        name=prototype.name,
        label=prototype.label,
        model=ModelInfo(
            name=pipeline.card.name,
            version=prototype.model_version,
            sha256=prototype.model_sha256,
        ),
        k_positive=prototype.k_positive,
        k_negative=prototype.k_negative,
        calibration="platt" if prototype.calibration else "none",
        created=prototype.created,
    )


def _archived(request: Request, keys: list[str]) -> list[list[float]]:
    """The stored vectors of archive study keys. Raises InvalidPrototypeError."""
    if not keys:
        return []
    archive: CaseArchive | None = getattr(request.app.state, "archive", None)
    if archive is None:
        raise InvalidPrototypeError("study_keys need a case archive; none is available")
    archive.check_model()
    vectors = []
    for key in keys:
        case = archive.get(key)
        if case is None:
            raise InvalidPrototypeError(f"study key {key[:16]!r} is not in the archive")
        vectors.append(list(case.vector))
    return vectors


def _matrix(rows: list[list[float]]) -> np.ndarray:
    try:
        return np.array(rows, dtype=np.float64).reshape(len(rows), -1)
    except ValueError:
        raise InvalidPrototypeError("embeddings must all have the same width") from None


@router.post(
    "/prototypes",
    response_model=PrototypeInfo,
    status_code=201,
    summary="Register a few-shot label from a site's own labelled studies",
    description="The unit means of the studies with and without the label, stored with the "
    "model version; diagnose scores it in findings mode as cos(with) - cos(without), alone or "
    "blended with prompts (see docs/design.md).",
    responses=problems(401, 409, 422, 503),
)
async def register_prototype(
    body: PrototypeRequest, request: Request, pipeline: PipelineDep
) -> PrototypeInfo:
    positives = await asyncio.to_thread(_archived, request, body.study_keys)
    negatives = await asyncio.to_thread(_archived, request, body.negative_study_keys)
    prototype = await asyncio.to_thread(
        pipeline.prototypes.register,
        body.name,
        body.label,
        _matrix(body.embeddings + positives),
        _matrix(body.negative_embeddings + negatives),
    )
    return _info(prototype, pipeline)


@router.get("/prototypes", response_model=PrototypeList, summary="The registered prototypes")
async def list_prototypes(pipeline: PipelineDep) -> PrototypeList:
    """Those of the served model; prototypes of other model versions are left out."""
    names = await asyncio.to_thread(pipeline.prototypes.names)
    found = []
    for name in names:
        try:
            found.append(_info(pipeline.prototypes.get(name), pipeline))
        except (PrototypeModelMismatchError, UnknownPrototypeError):  # another model's
            continue
    return PrototypeList(prototypes=found)


@router.get(
    "/prototypes/{name}",
    response_model=PrototypeInfo,
    summary="One registered prototype",
    responses=problems(401, 404, 409),
)
async def get_prototype(name: str, pipeline: PipelineDep) -> PrototypeInfo:
    return _info(await asyncio.to_thread(pipeline.prototypes.get, name), pipeline)
