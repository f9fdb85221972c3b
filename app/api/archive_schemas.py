"""Request and response bodies of the case-archive routes (/v1/search, /v1/report)."""

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas import (
    MODEL_EXAMPLE,
    REQUEST_ID_EXAMPLE,
    STUDY_EXAMPLE,
    MeasurementResult,
    ModelInfo,
    StudySummary,
)
from app.archive.models import SearchFilters, SearchHit
from app.reporting.draft import DraftSentence, FindingResult

_SIMILAR_CASE_EXAMPLE = {
    "study_key": "site_d-s11-00042",
    "similarity": 0.91,
    "impression": "Severely dilated LV with an LVEF of 22%. The right ventricle is dilated.",
    "site": "site_d",
    "date": "2024-05-17",
}


class SearchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "text": "young patient with severe biventricular dilation",
                    "top_k": 10,
                    "filters": {"site": "site_d", "date_from": "2024-01-01"},
                }
            ]
        },
    )

    text: str = Field(min_length=1, description="a phrase or an impression, in report language")
    top_k: int = Field(10, ge=1, description="results wanted, at most CMR_ARCHIVE_MAX_TOP_K")
    filters: SearchFilters = Field(default_factory=SearchFilters)


class SimilarCase(BaseModel):
    study_key: str = Field(description="de-identified key of the archived study")
    similarity: float = Field(ge=-1.0001, le=1.0001, description="cosine of the embeddings")
    impression: str = Field(description="the archived study's report impression")
    site: str | None
    date: dt.date | None

    @classmethod
    def of(cls, hit: SearchHit) -> "SimilarCase":
        return cls(
            study_key=hit.study_key,
            similarity=hit.similarity,
            impression=hit.impression,
            site=hit.site,
            date=hit.study_date,
        )


class SearchResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "request_id": REQUEST_ID_EXAMPLE,
                    "model": MODEL_EXAMPLE,
                    "results": [_SIMILAR_CASE_EXAMPLE],
                }
            ]
        }
    )

    request_id: str
    model: ModelInfo
    results: list[SimilarCase] = Field(description="most similar first")


class ReportResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "request_id": REQUEST_ID_EXAMPLE,
                    "model": MODEL_EXAMPLE,
                    "disclaimer": "Research and decision support only: …",
                    "draft_impression": (
                        "Dilated left ventricle with reduced systolic function, suggesting "
                        "dilated cardiomyopathy (probability 0.97; threshold 0.5). Similar "
                        'case site_d-s11-00042 (similarity 0.91): "Severely dilated LV with '
                        'an LVEF of 22%."'
                    ),
                    "sentences": [
                        {
                            "text": "Dilated left ventricle with reduced systolic function, …",
                            "source": "finding",
                            "label": "dilated_cardiomyopathy",
                        },
                        {
                            "text": 'Similar case site_d-s11-00042 (similarity 0.91): "…"',
                            "source": "similar_case",
                            "label": "dilated_cardiomyopathy",
                            "study_key": "site_d-s11-00042",
                            "similarity": 0.91,
                        },
                    ],
                    "findings": [
                        {
                            "label": "dilated_cardiomyopathy",
                            "probability": 0.97,
                            "threshold": 0.5,
                            "present": True,
                            "driving_slices": "basal to mid short-axis slices",
                        }
                    ],
                    "measurements": [
                        {
                            "name": "lvef_pct",
                            "label": "LV ejection fraction",
                            "unit": "%",
                            "value": 24.0,
                            "lower": 10.2,
                            "upper": 37.8,
                            "coverage": 0.9,
                            "grade": "severely reduced",
                        }
                    ],
                    "similar_cases": [_SIMILAR_CASE_EXAMPLE],
                    "study": STUDY_EXAMPLE,
                }
            ]
        }
    )

    request_id: str
    model: ModelInfo
    disclaimer: str = Field(description="the model card's intended use")
    draft_impression: str = Field(description="preliminary, to be edited by the reader")
    sentences: list[DraftSentence] = Field(description="the draft, with each sentence's source")
    findings: list[FindingResult] = Field(description="zero-shot findings, most probable first")
    measurements: list[MeasurementResult] = Field(
        default_factory=list, description="LVEF and volumes by prompt ranking, with intervals"
    )
    similar_cases: list[SimilarCase]
    study: StudySummary


FHIR_BUNDLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "FHIR R4 Bundle (collection): a preliminary DiagnosticReport, one Observation per "
        "finding, the model's Device and a Provenance"
    ),
    "required": ["resourceType", "type", "entry"],
    "properties": {
        "resourceType": {"const": "Bundle"},
        "type": {"const": "collection"},
        "timestamp": {"type": "string"},
        "entry": {"type": "array", "items": {"type": "object"}},
    },
}
_OBSERVATION_URL = "urn:uuid:0f4e6a0e-3c1b-4d2a-9e1f-7a8b9c0d1e2f"
FHIR_BUNDLE_EXAMPLE: dict[str, Any] = {
    "resourceType": "Bundle",
    "type": "collection",
    "timestamp": "2025-03-01T12:00:00+00:00",
    "entry": [
        {
            "fullUrl": "urn:uuid:5b1f0c1e-8d7a-4a57-9a57-2f6f3f1c9d10",
            "resource": {
                "resourceType": "DiagnosticReport",
                "status": "preliminary",
                "code": {"text": "Cardiac MRI: AI-drafted preliminary impression"},
                "conclusion": "Dilated left ventricle with reduced systolic function, …",
                "result": [{"reference": _OBSERVATION_URL}],
            },
        },
        {
            "fullUrl": _OBSERVATION_URL,
            "resource": {
                "resourceType": "Observation",
                "status": "preliminary",
                "code": {"text": "dilated cardiomyopathy"},
                "valueQuantity": {
                    "value": 0.97,
                    "unit": "probability",
                    "system": "http://unitsofmeasure.org",
                    "code": "1",
                },
            },
        },
    ],
}
