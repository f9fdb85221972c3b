"""Pydantic models of every request and response body: the API contract (see openapi.json)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.zeroshot.condition_sets import Mode
from app.zeroshot.prototype_store import NAME_PATTERN as PROTOTYPE_NAME_PATTERN

_LABEL = Field(min_length=1, max_length=100, pattern=r"^[\w .,()/+-]+$")
_PROMPT_LIST_MAX = 32
REQUEST_ID_EXAMPLE = "3f1c2a7e9b5d4e0a"
MODEL_EXAMPLE = {"name": "cmr-clip", "version": "0.4.0", "sha256": "6c30e928e9d0…"}
STUDY_EXAMPLE = {
    "study_instance_uid": "1.2.826.0.1.3680043.8.498.1",
    "views": ["sax", "4ch"],
    "slices": 12,
    "phases": 25,
    "files": 325,
    "warnings": [],
}


def _clean(prompts: list[str]) -> list[str]:
    cleaned = [" ".join(p.split()) for p in prompts]
    if any(not p for p in cleaned):
        raise ValueError("prompts must not be blank")
    if len({p.lower() for p in cleaned}) != len(cleaned):
        raise ValueError("prompts must not repeat")
    return cleaned


class CustomCondition(BaseModel):
    """A condition of the caller's own, described by free-text prompts."""

    model_config = ConfigDict(extra="forbid")

    label: str = _LABEL
    prompts: list[str] = Field(
        default_factory=list,
        max_length=_PROMPT_LIST_MAX,
        description="phrasings of its presence (one or more, unless a prototype is given)",
    )
    negative_prompts: list[str] = Field(
        default_factory=list,
        max_length=_PROMPT_LIST_MAX,
        description="phrasings of its absence; required in findings mode with prompts",
    )
    prototype: str | None = Field(
        None,
        pattern=PROTOTYPE_NAME_PATTERN,
        description="a registered few-shot prototype (POST /v1/prototypes), findings mode: "
        "alone, or blended with the prompts",
    )

    @field_validator("prompts", "negative_prompts")
    @classmethod
    def _clean_prompts(cls, prompts: list[str]) -> list[str]:
        if any(len(p) > 500 for p in prompts):
            raise ValueError("a prompt has at most 500 characters")
        return _clean(prompts)

    @model_validator(mode="after")
    def _described(self) -> "CustomCondition":
        if not self.prompts and self.prototype is None:
            raise ValueError("give prompts, a prototype, or both")
        if self.negative_prompts and not self.prompts:
            raise ValueError("negative_prompts need prompts")
        return self


class ModelInfo(BaseModel):
    name: str
    version: str
    sha256: str = Field(description="sha256 over the released encoders' ONNX files")


class PromptSetInfo(BaseModel):
    name: str = Field(description="a shipped condition set's name, or 'custom'")
    sha256: str = Field(description="sha256 of the prompts the scores came from")


class StudySummary(BaseModel):
    study_instance_uid: str
    views: list[str] = Field(description="cine views found, e.g. ['sax', '4ch']")
    slices: int = Field(description="short-axis slices")
    phases: int = Field(description="phases over one cardiac cycle (short axis)")
    files: int = Field(description="DICOM files read")
    warnings: list[str] = Field(description="everything skipped, ignored or resampled")


class ConditionResult(BaseModel):
    label: str
    probability: float = Field(ge=0, le=1)
    similarity: float = Field(
        ge=-1.0001,
        le=1.0001,
        description="cosine to the prompt ensemble (a prototype alone: to its positive mean; "
        "a blend: the dot product with the blended direction)",
    )
    rank: int = Field(ge=1)
    threshold: float | None = Field(
        None, description="findings mode: the decision threshold, 0.5 (none in exclusive mode)"
    )
    present: bool | None = Field(None, description="probability >= threshold, where one exists")
    calibration: Literal["temperature", "platt", "none"] = Field(
        "none",
        description=(
            "how the probability was calibrated: 'temperature' (shipped exclusive set, when the "
            "card keeps one), 'platt' (shipped findings set, per finding; a prototype alone "
            "registered with 4 or more studies of each kind, on its own studies), 'none' "
            "(custom prompts and blends: softmax of scale x cosine, or sigmoid of scale x the "
            "positive-negative margin)"
        ),
    )


class DiagnoseTimings(BaseModel):
    receive: float = Field(description="reading the upload's body and splitting it into files")
    parse: float = Field(
        description="DICOM ingestion: unpacking and header reading, file by file while the "
        "upload arrives (so it overlaps `receive`), then view selection and pixel decoding"
    )
    preprocess: float
    encode: float
    score: float
    explain: float | None = Field(
        None, description="explain=true: the phase windows' re-encoding and the occlusion"
    )


class ExplainedClip(BaseModel):
    index: int = Field(ge=0, description="position in clip_weights and driving_clips")
    view: str = Field(description="'sax' or a long-axis view ('4ch')")
    slice_index: int | None = Field(None, description="short axis: 0 = base, upwards to apex")
    level: Literal["basal", "mid", "apical"] | None = None


class PhaseWindow(BaseModel):
    name: str
    start: float = Field(ge=0, le=1, description="fraction of the cardiac cycle from the R wave")
    end: float = Field(ge=0, le=1)


class ConditionExplanation(BaseModel):
    label: str
    clip_weights: list[float] = Field(
        description="per clip (in `clips` order): the score change when the clip is occluded, "
        "divided by the sum of the absolute changes; positive = argued for the condition"
    )
    phase_weights: list[float] = Field(
        description="per phase window (in `phase_windows` order), normalised likewise"
    )
    driving_clips: list[int] = Field(
        description="indices of the (up to two) clips with the largest positive weights"
    )
    in_words: str = Field(description="the driving clips as a reader says it")


class Explanation(BaseModel):
    method: str
    clips: list[ExplainedClip]
    phase_windows: list[PhaseWindow]
    conditions: list[ConditionExplanation] = Field(description="in the order of `conditions`")
    image_png_base64: str = Field(
        description="PNG: the mid short-axis slice at end-diastole and the slice stack shaded "
        "by weight for the top-ranked condition, driving slices outlined"
    )


class MeasurementResult(BaseModel):
    name: Literal["lvef_pct", "lvedvi_ml_m2", "rvef_pct"]
    label: str
    unit: str
    value: float
    lower: float = Field(description="lower end of the interval")
    upper: float
    coverage: float = Field(description="the interval's nominal coverage (0.9)")
    grade: str = Field(description="the estimate in a reader's words")
    method: str = Field(
        "prompt ranking over a grid of values; linear map and split-conformal interval fit on "
        "the validation split"
    )


class StoredReport(BaseModel):
    """The DICOM Structured Report of a result, as stored in its study's DICOMweb source."""

    dicomweb: str = Field(description="the source it was stored in")
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str


class DiagnoseResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "request_id": REQUEST_ID_EXAMPLE,
                    "model": MODEL_EXAMPLE,
                    "prompt_set": {"name": "cardiac_diagnosis_v1", "sha256": "a81b…"},
                    "intended_use": "Research and decision support only: …",
                    "study": STUDY_EXAMPLE,
                    "mode": "exclusive",
                    "conditions": [
                        {
                            "label": "dilated_cardiomyopathy",
                            "probability": 0.71,
                            "similarity": 0.42,
                            "rank": 1,
                        },
                        {"label": "normal", "probability": 0.12, "similarity": 0.18, "rank": 2},
                    ],
                    "timings_ms": {
                        "receive": 45.0,
                        "parse": 410.0,
                        "preprocess": 60.0,
                        "encode": 30.0,
                        "score": 1,
                    },
                }
            ]
        }
    )

    request_id: str
    model: ModelInfo
    prompt_set: PromptSetInfo
    intended_use: str
    study: StudySummary
    mode: Mode
    conditions: list[ConditionResult] = Field(description="sorted by probability, descending")
    timings_ms: DiagnoseTimings
    explanation: Explanation | None = Field(None, description="with explain=true")
    measurements: list[MeasurementResult] | None = Field(None, description="with measure=true")
    stored_report: StoredReport | None = Field(
        None, description='the DICOM SR of this result, where `"store": true` asked for it'
    )


class TextEmbeddingRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"texts": ["dilated left ventricle", "normal study"]}]},
    )
    texts: list[str] = Field(min_length=1, description="impressions or phrases")


class TextEmbeddingResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "request_id": REQUEST_ID_EXAMPLE,
                    "model": MODEL_EXAMPLE,
                    "dimensions": 128,
                    "embeddings": [[0.16, 0.05, -0.03]],
                }
            ]
        }
    )

    request_id: str
    model: ModelInfo
    dimensions: int
    embeddings: list[list[float]] = Field(description="unit vectors, one per text, in order")


class StudyEmbeddingResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "request_id": REQUEST_ID_EXAMPLE,
                    "model": MODEL_EXAMPLE,
                    "dimensions": 128,
                    "study": STUDY_EXAMPLE,
                    "embedding": [0.12, -0.02, 0.07],
                    "clip_embeddings": [[0.1, 0.0, 0.2]],
                }
            ]
        }
    )

    request_id: str
    model: ModelInfo
    dimensions: int
    study: StudySummary
    embedding: list[float] = Field(description="unit study embedding")
    clip_embeddings: list[list[float]] = Field(
        description="unit embedding of each clip: SAX slices base -> apex, then long-axis views"
    )


class ConditionSetSummary(BaseModel):
    name: str
    version: str
    mode: Mode
    labels: list[str]
    sha256: str


class ConditionSetList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "condition_sets": [
                        {
                            "name": "cardiac_diagnosis_v1",
                            "version": "1.1.0",
                            "mode": "exclusive",
                            "labels": ["normal", "dilated_cardiomyopathy"],
                            "sha256": "a1e826892e37…",
                        }
                    ]
                }
            ]
        }
    )

    condition_sets: list[ConditionSetSummary]


class HealthStatus(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok", "ready"]


class ReadyStatus(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ready",
                    "backend": "embedded",
                    "model": MODEL_EXAMPLE,
                }
            ]
        }
    )

    status: Literal["ready"]
    backend: str
    model: ModelInfo


class Problem(BaseModel):
    """RFC 9457 problem details, with a stable machine-readable `code`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "https://cmr-clip.dev/problems/no_cine_series",
                    "title": "Unprocessable Entity",
                    "status": 422,
                    "detail": "no cine series with at least 8 phases at one position",
                    "code": "no_cine_series",
                    "request_id": REQUEST_ID_EXAMPLE,
                }
            ]
        }
    )

    type: str
    title: str
    status: int
    detail: str
    code: str
    request_id: str | None = None
    errors: list[dict[str, object]] | None = Field(None, description="validation errors")
