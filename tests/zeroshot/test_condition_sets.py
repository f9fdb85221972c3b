"""Condition sets: load from package data, match the conditions, keep holdout wording out."""

import re

import pytest
from pydantic import ValidationError

from app.domain.reading import mentioned_conditions
from app.domain.vocabulary import CONDITIONS, PARAPHRASE_HOLDOUT, PRIMARY_DIAGNOSES
from app.zeroshot.condition_sets import (
    ConditionPrompt,
    ConditionSet,
    load_condition_sets,
    parse_condition_sets,
    prompt_set_hash,
)

# Pinned on purpose: editing a prompt changes every score, so it must come with a new version
# (bump `version`, then update the hash here).
EXPECTED_HASHES = {
    "cardiac_diagnosis_v1": "a1e826892e379b4fe623f717607af88f1c02ac83f7f4a008f6f2d62afe9951a2",
    "cardiac_findings_v1": "d859c8a97f87390c495f247a5f422e80f6f5cfe02562bee17132eb162042149b",
}


@pytest.fixture(scope="module")
def sets() -> dict[str, ConditionSet]:
    return load_condition_sets()


def _all_prompts(condition_set: ConditionSet) -> list[tuple[str, str]]:
    return [
        (condition.label, prompt)
        for condition in condition_set.conditions
        for prompt in (*condition.prompts, *condition.negative_prompts, condition.description)
    ]


def _word_ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def test_both_sets_load(sets: dict[str, ConditionSet]) -> None:
    assert set(sets) == {"cardiac_diagnosis_v1", "cardiac_findings_v1"}
    assert sets["cardiac_diagnosis_v1"].mode == "exclusive"
    assert sets["cardiac_findings_v1"].mode == "findings"


def test_labels_are_conditions(sets: dict[str, ConditionSet]) -> None:
    for condition_set in sets.values():
        assert set(condition_set.labels) <= set(CONDITIONS)
    assert sets["cardiac_diagnosis_v1"].labels == PRIMARY_DIAGNOSES
    assert sets["cardiac_findings_v1"].labels == CONDITIONS


def test_prompt_counts(sets: dict[str, ConditionSet]) -> None:
    for condition_set in sets.values():
        for condition in condition_set.conditions:
            assert 5 <= len(condition.prompts) <= 8, condition.label
            # "not normal" is worded as the abnormal diagnoses are: two prompts of each
            most = 8 if condition.label == "normal" else 5
            assert 3 <= len(condition.negative_prompts) <= most, condition.label


def test_no_holdout_wording(sets: dict[str, ConditionSet]) -> None:
    """Neither a holdout phrase nor any three consecutive words of one appear in a prompt."""
    holdout = [phrase for phrases in PARAPHRASE_HOLDOUT.values() for phrase in phrases]
    holdout_trigrams = set().union(*(_word_ngrams(phrase, 3) for phrase in holdout))
    for condition_set in sets.values():
        for label, prompt in _all_prompts(condition_set):
            assert not any(phrase.lower() in prompt.lower() for phrase in holdout), prompt
            shared = _word_ngrams(prompt, 3) & holdout_trigrams
            assert not shared, f"{label}: {prompt!r} shares {shared} with PARAPHRASE_HOLDOUT"


def test_prompts_say_what_they_mean(sets: dict[str, ConditionSet]) -> None:
    """Read as an impression, a prompt asserts its condition alone; a negative never asserts it."""
    for condition_set in sets.values():
        for condition in condition_set.conditions:
            for prompt in condition.prompts:
                assert mentioned_conditions(prompt) == {condition.label}, prompt
            for prompt in condition.negative_prompts:
                assert condition.label not in mentioned_conditions(prompt), prompt


def test_shared_conditions_are_identical(sets: dict[str, ConditionSet]) -> None:
    findings = {c.label: c for c in sets["cardiac_findings_v1"].conditions}
    for condition in sets["cardiac_diagnosis_v1"].conditions:
        assert findings[condition.label] == condition


def test_hash_is_stable(sets: dict[str, ConditionSet]) -> None:
    again = load_condition_sets()
    for name, condition_set in sets.items():
        assert prompt_set_hash(condition_set) == prompt_set_hash(again[name])
        assert prompt_set_hash(condition_set) == EXPECTED_HASHES[name], (
            f"{name} changed: bump its version and update EXPECTED_HASHES"
        )
        # Same content from differently formatted input gives the same hash.
        rebuilt = ConditionSet.model_validate_json(condition_set.model_dump_json(indent=2))
        assert prompt_set_hash(rebuilt) == prompt_set_hash(condition_set)


def test_hash_changes_with_any_prompt(sets: dict[str, ConditionSet]) -> None:
    original = sets["cardiac_diagnosis_v1"]
    first = original.conditions[0]
    edited_condition = first.model_copy(update={"prompts": (*first.prompts[:-1], "normal MRI")})
    edited = original.model_copy(
        update={"conditions": (edited_condition, *original.conditions[1:])}
    )
    assert prompt_set_hash(edited) != prompt_set_hash(original)


def _condition(label: str, **changes: object) -> dict[str, object]:
    base = {"label": label, "description": "d", "prompts": ["p1"], "negative_prompts": ["n1"]}
    return {**base, **changes}


def test_validation_rejects_bad_sets() -> None:
    def make(mode: str, *conditions: dict[str, object]) -> ConditionSet:
        return ConditionSet.model_validate(
            {"name": "x", "version": "1.0.0", "mode": mode, "conditions": list(conditions)}
        )

    make("exclusive", _condition("normal"), _condition("pericardial_effusion"))  # valid
    with pytest.raises(ValidationError, match="repeats labels"):
        make("exclusive", _condition("normal"), _condition("normal"))
    with pytest.raises(ValidationError, match="unknown condition"):
        make("findings", _condition("cardiac_amyloidosis"))
    with pytest.raises(ValidationError, match="no negative prompts"):
        make("findings", _condition("normal", negative_prompts=[]))
    with pytest.raises(ValidationError, match="at least two"):
        make("exclusive", _condition("normal"))
    with pytest.raises(ValidationError):
        ConditionPrompt.model_validate(_condition("normal", prompts=[]))
    with pytest.raises(ValidationError, match="blank"):
        ConditionPrompt.model_validate(_condition("normal", prompts=["  "]))
    with pytest.raises(ValidationError, match="duplicate"):
        ConditionPrompt.model_validate(
            _condition("normal", prompts=["Normal study", "normal study"])
        )


def test_parse_yaml_with_anchors() -> None:
    text = """
definitions:
  - &n {label: normal, description: d, prompts: [normal study], negative_prompts: [abnormal]}
condition_sets:
  - {name: tiny, version: 0.1.0, mode: findings, conditions: [*n]}
"""
    (tiny,) = parse_condition_sets(text)
    assert tiny.labels == ("normal",) and tiny.conditions[0].prompts == ("normal study",)
