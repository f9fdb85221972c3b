"""Versioned zero-shot condition sets: which conditions to score, with which prompts, and how.

A set is read from YAML package data (`app/zeroshot/condition_sets/*.yaml`). Its `mode` says
which question the scores answer (see DESIGN.md): "exclusive" is one diagnosis out of the set, a
softmax over the conditions' prompt ensembles (CLIP); "findings" scores each condition on its
own, positive prompts against negative prompts (CheXzero). `prompt_set_hash` identifies a set's
exact content, so cached prompt embeddings can never outlive an edit. No torch here.
"""

import hashlib
import json
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.domain.vocabulary import CONDITIONS

Mode = Literal["exclusive", "findings"]  # the question a set's scores answer (see above)
_PACKAGE = "app.zeroshot"
_FOLDER = "condition_sets"


def _clean_prompts(prompts: tuple[str, ...]) -> tuple[str, ...]:
    """Prompts stripped and whitespace-collapsed; raises ValueError on blanks or duplicates."""
    cleaned = tuple(" ".join(prompt.split()) for prompt in prompts)
    if any(not prompt for prompt in cleaned):
        raise ValueError("prompts must not be blank")
    lowered = [prompt.lower() for prompt in cleaned]
    duplicates = sorted({prompt for prompt in lowered if lowered.count(prompt) > 1})
    if duplicates:
        raise ValueError(f"duplicate prompts: {duplicates}")
    return cleaned


class ConditionPrompt(BaseModel):
    """One condition and the prompts that describe it (present) and deny it (absent)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str = Field(description="one of app.domain.vocabulary.CONDITIONS")
    description: str = Field(min_length=1, description="what the condition means here")
    prompts: tuple[str, ...] = Field(min_length=1, description="positive phrasings")
    negative_prompts: tuple[str, ...] = Field(
        default=(), description="phrasings of its absence; required in findings mode"
    )

    @field_validator("label")
    @classmethod
    def _known_label(cls, label: str) -> str:
        if label not in CONDITIONS:
            raise ValueError(f"unknown condition {label!r}; known: {', '.join(CONDITIONS)}")
        return label

    @field_validator("prompts", "negative_prompts")
    @classmethod
    def _clean(cls, prompts: tuple[str, ...]) -> tuple[str, ...]:
        return _clean_prompts(prompts)


class ConditionSet(BaseModel):
    """A named, versioned group of conditions and the question its scores answer (`mode`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$", description="semantic version")
    mode: Mode
    conditions: tuple[ConditionPrompt, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> "ConditionSet":
        labels = [condition.label for condition in self.conditions]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise ValueError(f"condition set {self.name!r} repeats labels {duplicates}")
        if self.mode == "exclusive" and len(labels) < 2:
            raise ValueError(f"exclusive set {self.name!r} needs at least two conditions")
        if self.mode == "findings":
            missing = [c.label for c in self.conditions if not c.negative_prompts]
            if missing:
                raise ValueError(f"findings set {self.name!r}: no negative prompts for {missing}")
        return self

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(condition.label for condition in self.conditions)


class _ConditionSetFile(BaseModel):
    """One YAML file: shared condition definitions (anchors) and the sets built from them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    definitions: tuple[ConditionPrompt, ...] = ()
    condition_sets: tuple[ConditionSet, ...] = Field(min_length=1)


def parse_condition_sets(text: str) -> tuple[ConditionSet, ...]:
    """The sets in one YAML document. Raises pydantic.ValidationError if one is invalid."""
    return _ConditionSetFile.model_validate(yaml.safe_load(text)).condition_sets


def load_condition_sets() -> dict[str, ConditionSet]:
    """Every condition set shipped with the package, by name (files in name order).

    Raises ValueError if two files define a set of the same name, pydantic.ValidationError if
    a set is invalid.
    """
    folder = resources.files(_PACKAGE).joinpath(_FOLDER)
    files = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".yaml")),
        key=lambda entry: entry.name,
    )
    sets: dict[str, ConditionSet] = {}
    for entry in files:
        for condition_set in parse_condition_sets(entry.read_text(encoding="utf-8")):
            if condition_set.name in sets:
                raise ValueError(f"condition set {condition_set.name!r} is defined twice")
            sets[condition_set.name] = condition_set
    return sets


def prompt_set_hash(condition_set: ConditionSet) -> str:
    """sha256 (hex) of the set's canonical JSON: sorted keys, no whitespace, UTF-8.

    Equal for equal content whatever the source formatting; any change of a name, version,
    mode, label, description or prompt (or their order, which fixes score columns) changes it.
    """
    canonical = json.dumps(
        condition_set.model_dump(mode="json"),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
