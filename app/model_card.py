"""The model card: what a released model is, what it expects and how well it did. Read by the
gateway (torch-free) so that preprocessing always matches the model it feeds."""

import hashlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.preprocess.spec import InputSpec
from app.zeroshot.measurements import MeasurementCalibration

INTENDED_USE = (
    "Research and decision support only: zero-shot ranking of cardiac conditions from cine MRI. "
    "Not a medical device; not for diagnostic use on its own. Trained on synthetic studies."
)

# The Triton config parameter carrying the card's version (written by the exporter, checked by
# the Triton backend's readiness).
MODEL_VERSION_PARAMETER = "cmr_model_version"


class TextSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    tokenizer: str = "tokenizer.json"
    max_tokens: int
    max_sentences: int


class FindingCalibration(BaseModel):
    """P(finding) = sigmoid(slope * margin + intercept), margin = cos(positive) - cos(negative)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    slope: float
    intercept: float


class Calibration(BaseModel):
    """Calibration of the shipped condition sets, fit on the validation split. Custom prompt
    sets get none: exclusive softmax(scale * cos), findings sigmoid(scale * margin)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    temperature: float = Field(
        1.0, gt=0, description="exclusive mode: softmax(scale * cos / T); 1 when none was kept"
    )
    findings: dict[str, FindingCalibration] = Field(
        default_factory=dict, description="findings mode: Platt scaling per label"
    )
    method: str = ""
    measurements: dict[str, MeasurementCalibration] = Field(
        default_factory=dict,
        description="measurements by prompt ranking, fit on the validation split; a model "
        "without them estimates none",
    )


class ModelCard(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())
    name: str = "cmr-clip"
    version: str
    intended_use: str = INTENDED_USE
    files: dict[str, str] = Field(description="path relative to the repository -> sha256")
    input_spec: InputSpec
    text: TextSpec
    embed_dim: int
    logit_scale: float = Field(gt=0, description="exp of the learned logit scale")
    calibration: Calibration
    training_data: str
    limitations: tuple[str, ...] = Field(
        default=(), description="what the model is not, and where its figures do not reach"
    )
    evaluation: dict[str, Any] = Field(default_factory=dict)

    @property
    def weights_sha256(self) -> str:
        """One digest over the ONNX files, as responses report it."""
        onnx = sorted((p, h) for p, h in self.files.items() if p.endswith(".onnx"))
        return hashlib.sha256("".join(h for _, h in onnx).encode()).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_model_card(repository: Path) -> ModelCard:
    return ModelCard.model_validate_json((repository / "model_card.json").read_text())
