"""Shared pieces of responses: model identity, content negotiation and the documented error
responses."""

import io
from typing import Any

from fastapi import Request
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite

from app.api.schemas import MeasurementResult, ModelInfo, Problem
from app.model_card import ModelCard
from app.pipeline.measure import Measurement

DICOM_MEDIA_TYPE = "application/dicom"
_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing or invalid API key",
    404: "Not found (a prototype, or a referenced study not in its DICOMweb source)",
    409: "The case archive or a prototype holds embeddings of another model version "
    "(re-index, re-register), or the prototype name is taken",
    413: "Upload too large (bytes or files)",
    415: "Not multipart, not DICOM or an unsupported transfer syntax",
    422: "Invalid input: validation, no cine series, bad conditions, corrupt pixel data",
    501: "The released model cannot be explained by occlusion",
    502: "The encoder backend or the study's DICOMweb source failed",
    503: "Overloaded (see Retry-After), or the backend or case archive is unavailable",
    504: "The backend, the DICOMweb source or the whole request timed out",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for error statuses: problem+json bodies (see main.py)."""
    return {status: {"model": Problem, "description": _DESCRIPTIONS[status]} for status in statuses}


def model_info(card: ModelCard) -> ModelInfo:
    return ModelInfo(name=card.name, version=card.version, sha256=card.weights_sha256)


def measurement_results(measurements: list[Measurement]) -> list[MeasurementResult]:
    return [
        MeasurementResult(
            name=m.name,  # type: ignore[arg-type]
            label=m.label,
            unit=m.unit,
            value=m.value,
            lower=m.lower,
            upper=m.upper,
            coverage=m.coverage,
            grade=m.grade,
        )
        for m in measurements
    ]


def accepts(request: Request, media_type: str) -> bool:
    """Whether the request's Accept header names `media_type` itself (not a wildcard, not a
    longer type such as application/dicom+json)."""
    offered = request.headers.get("accept", "").split(",")
    return any(item.split(";")[0].strip().lower() == media_type for item in offered)


def dicom_file(dataset: Dataset) -> bytes:
    """`dataset` as a DICOM Part 10 file (an application/dicom body)."""
    buffer = io.BytesIO()
    dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()
