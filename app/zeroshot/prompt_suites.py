"""Prompt-robustness suites: clinician phrasings of the conditions, labelled and split.

`prompt_suites/clinician_v1.yaml` was written independently of the report generator's templates
(see its header). Its `dev` half may be used to choose prompts and settings; its `test` half is
frozen and only ever reported.
"""

from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

CLINICIAN_SUITE = "clinician_v1.yaml"


class Phrasing(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str
    polarity: Literal["positive", "negated"]
    style: Literal["clinical", "abbreviation", "british", "typo", "lay", "hedged", "terse"]
    split: Literal["dev", "test"]
    text: str = Field(min_length=1)


class PromptSuite(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    phrasings: tuple[Phrasing, ...] = Field(min_length=1)

    def select(self, split: str, polarity: str = "positive") -> tuple[Phrasing, ...]:
        return tuple(p for p in self.phrasings if p.split == split and p.polarity == polarity)


def load_prompt_suite(file_name: str = CLINICIAN_SUITE) -> PromptSuite:
    """A suite shipped with the package. Raises pydantic.ValidationError if it is invalid."""
    entry = resources.files("app.zeroshot").joinpath("prompt_suites", file_name)
    return PromptSuite.model_validate(yaml.safe_load(entry.read_text(encoding="utf-8")))
