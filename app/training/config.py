"""Training configuration: a TOML file plus `--set section.key=value` overrides, validated."""

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from app.preprocess.spec import InputSpec


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Section):
    manifests: tuple[Path, ...] = Field(min_length=1)
    cache_dir: Path = Path("data/cache")
    training_sites: tuple[str, ...] | None = None  # None: every site not flagged external
    val_fraction: float = Field(0.15, ge=0.0, lt=0.5)
    test_fraction: float = Field(0.15, ge=0.0, lt=0.5)
    test_fold: int | None = Field(
        None, ge=1, description="studies with this `fold` form the test split (ACDC)"
    )
    site_repeats: dict[str, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict,
        description="training studies of these sites appear this many times per epoch",
    )
    max_sentences: int = Field(12, ge=1)
    max_tokens: int = Field(64, ge=8)


class ModelConfig(_Section):
    channels: tuple[int, int, int] = (16, 32, 64)
    stem_stride: int = Field(2, ge=1, le=8)
    width: int = 128
    embed_dim: int = 128
    text_trainable_layers: int = Field(0, ge=0, description="top tower layers fine-tuned")
    text_head_hidden: int = Field(0, ge=0, description="0: linear projection head")
    single_frame: bool = False


class TrainConfig(_Section):
    epochs: int = Field(12, ge=1)
    batch_size: int = Field(32, ge=2)
    grad_accum: int = Field(1, ge=1)
    lr: float = Field(2e-3, gt=0)
    text_tower_lr_scale: float = Field(
        0.1, gt=0, le=1, description="learning rate of unlocked text-tower layers, relative"
    )
    weight_decay: float = Field(0.05, ge=0)
    warmup_steps: int = Field(50, ge=0)
    seed: int = 0
    workers: int = Field(0, ge=0, description="DataLoader worker processes")
    out_dir: Path = Path("runs/demo")
    augment: bool = True
    key_frame_prob: float = Field(
        0.0, ge=0, le=1, description="share of cine studies cut to ED/ES key frames per batch"
    )
    sentence_keep: float = Field(
        1.0, gt=0, le=1, description="train-time probability of keeping each impression sentence"
    )
    soft_target_weight: float = Field(
        0.0, ge=0, lt=1, description="share of each contrastive target given to similar impressions"
    )
    soft_target_temperature: float = Field(0.05, gt=0)
    text_geometry_weight: float = Field(
        0.0, ge=0, description="weight of the term that keeps the tower's text neighbourhoods"
    )
    text_geometry_anchors: int = Field(256, ge=2, description="anchors drawn per step")
    text_geometry_words: int = Field(3000, ge=0, description="vocabulary words among anchors")
    text_geometry_temperature: float = Field(0.05, gt=0)


class RunConfig(_Section):
    data: DataConfig
    input: InputSpec = InputSpec()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()


def _set(tree: dict[str, Any], dotted: str, raw: str) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for key in parents:
        node = node.setdefault(key, {})
    try:  # TOML literal syntax for values: numbers, booleans, strings in quotes, arrays
        node[leaf] = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        node[leaf] = raw  # a bare string such as a path


def load_config(path: Path | None, overrides: Sequence[str] = ()) -> RunConfig:
    """Read `path` (TOML), apply `section.key=value` overrides, validate."""
    tree: dict[str, Any] = tomllib.loads(path.read_text()) if path else {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not section.key=value")
        _set(tree, key.strip(), value.strip())
    return RunConfig.model_validate(tree)
