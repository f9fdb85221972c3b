"""Request and response bodies of /v1/prototypes."""

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.api.schemas import _LABEL, ModelInfo
from app.zeroshot.prototype_store import NAME_PATTERN

MAX_STUDIES = 256
_KEYS = Field(default_factory=list, max_length=MAX_STUDIES, description="archive study keys")
_VECTORS = Field(
    default_factory=list,
    max_length=MAX_STUDIES,
    description="study embeddings (POST /v1/embed/study `embedding`) of this model",
)


class PrototypeRequest(BaseModel):
    """k studies with the label and k' without it (k, k' >= 1; 4 or more of each also fits a
    calibration), as embeddings, archive study keys, or both."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "site-amyloid-v1",
                    "label": "cardiac amyloidosis",
                    "study_keys": ["a3f9…", "77c1…"],
                    "negative_study_keys": ["0b2e…", "c4d8…"],
                }
            ]
        },
    )
    name: str = Field(pattern=NAME_PATTERN, description="unique; a new version, a new name")
    label: str = _LABEL
    embeddings: list[list[float]] = _VECTORS
    study_keys: list[str] = _KEYS
    negative_embeddings: list[list[float]] = _VECTORS
    negative_study_keys: list[str] = _KEYS

    @model_validator(mode="after")
    def _both_kinds(self) -> "PrototypeRequest":
        if not (self.embeddings or self.study_keys):
            raise ValueError("give studies with the label: embeddings or study_keys")
        if not (self.negative_embeddings or self.negative_study_keys):
            raise ValueError("give studies without it: negative_embeddings or negative_study_keys")
        return self


_INFO_EXAMPLE = {
    "name": "site-amyloid-v1",
    "label": "cardiac amyloidosis",
    "model": {"name": "cmr-clip", "version": "0.3.0", "sha256": "6c30e928…"},
    "k_positive": 16,
    "k_negative": 16,
    "calibration": "platt",
    "created": "2026-12-04T17:30:00+00:00",
}


class PrototypeInfo(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_INFO_EXAMPLE]})
    name: str
    label: str
    model: ModelInfo = Field(description="the model whose embeddings the prototype holds")
    k_positive: int
    k_negative: int
    calibration: str = Field(
        description="platt: fit on the registered studies' leave-one-out margins; none: "
        "fewer than 4 of a kind, sigmoid(scale x margin)"
    )
    created: str


class PrototypeList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"prototypes": [_INFO_EXAMPLE]}]})
    prototypes: list[PrototypeInfo]
