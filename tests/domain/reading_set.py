"""The labelled sentence set of tests/domain/reading_sentences.yaml, loaded for the test and
bench/bench_reading.py."""

from pathlib import Path
from typing import NamedTuple

import yaml

SENTENCES_PATH = Path(__file__).with_name("reading_sentences.yaml")
KEYS = {
    "normal": "normal",
    "dcm": "dilated_cardiomyopathy",
    "hcm": "hypertrophic_cardiomyopathy",
    "mi": "myocardial_infarction",
    "rv": "abnormal_right_ventricle",
    "effusion": "pericardial_effusion",
}


class LabelledSentence(NamedTuple):
    group: str
    text: str
    expected: dict[str, str]  # condition -> present | possible | absent

    @property
    def asserted(self) -> set[str]:
        return {c for c, status in self.expected.items() if status == "present"}


def load_sentences() -> list[LabelledSentence]:
    groups = yaml.safe_load(SENTENCES_PATH.read_text())
    return [
        LabelledSentence(group, item["text"], {KEYS[k]: v for k, v in item.items() if k != "text"})
        for group, items in groups.items()
        for item in items
    ]
