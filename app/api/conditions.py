"""The `conditions` and `mode` fields of a diagnosis request -> the ScoringSet to score with.

`conditions` is JSON: a shipped set's name (a bare name is accepted too) or a list of
`{label, prompts[], negative_prompts[]}`. `mode` overrides the set's own question:
"exclusive" needs two or more conditions, "findings" needs negative prompts for each.
"""

import json
from dataclasses import replace
from typing import get_args

from pydantic import TypeAdapter, ValidationError

from app.api.schemas import CustomCondition
from app.errors import InvalidConditionsError
from app.pipeline.service import Pipeline
from app.zeroshot.condition_sets import Mode
from app.zeroshot.scoring_sets import DEFAULT_SETS, ScoringSet

MAX_CUSTOM_CONDITIONS = 32
_custom_list = TypeAdapter(list[CustomCondition])

CONDITIONS_FIELD_SCHEMA = {
    "type": "string",
    "description": (
        "JSON: a condition-set name (GET /v1/condition-sets) or a list of "
        "{label, prompts[], negative_prompts[], prototype}. Default: cardiac_diagnosis_v1, or "
        "cardiac_findings_v1 when mode is findings."
    ),
    "examples": [
        '"cardiac_findings_v1"',
        '[{"label": "dilated LV", "prompts": ["dilated left ventricle with severely reduced '
        'ejection fraction"], "negative_prompts": ["normal left ventricular size"]}, '
        '{"label": "normal", "prompts": ["normal cardiac MRI"], '
        '"negative_prompts": ["abnormal cardiac MRI"]}]',
        '[{"label": "amyloid", "prototype": "site-amyloid-v1"}, {"label": "dilated LV", '
        '"prompts": ["dilated left ventricle"], "negative_prompts": ["normal LV size"]}]',
    ],
}
MODE_FIELD_SCHEMA = {
    "type": "string",
    "enum": list(get_args(Mode)),
    "description": "exclusive: one diagnosis (softmax over conditions); findings: an "
    "independent probability per condition (positive vs negative prompts). Default: the set's.",
}


def _mode(value: str | None) -> Mode | None:
    if value is None or value == "":
        return None
    if value not in get_args(Mode):
        raise InvalidConditionsError(f"mode must be one of {get_args(Mode)}, got {value!r}")
    return value  # type: ignore[return-value]


def _parse(value: str) -> object:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        if value.replace("_", "").isalnum():
            return value  # a bare set name
        raise InvalidConditionsError("`conditions` must be JSON: a set name or a list") from None


def resolve_scoring_set(
    pipeline: Pipeline, conditions: str | None, mode_field: str | None
) -> ScoringSet:
    mode = _mode(mode_field)
    parsed = _parse(conditions) if conditions else DEFAULT_SETS[mode or "exclusive"]
    if isinstance(parsed, str):
        if parsed not in pipeline.condition_sets:
            known = ", ".join(sorted(pipeline.condition_sets))
            raise InvalidConditionsError(f"unknown condition set {parsed!r}; known: {known}")
        scoring_set = ScoringSet.shipped(pipeline.condition_sets[parsed])
    elif isinstance(parsed, list):
        scoring_set = _custom(parsed, mode or "exclusive")
    else:
        raise InvalidConditionsError("`conditions` must be a set name or a list of conditions")
    mode = mode or scoring_set.mode
    return _checked(scoring_set, mode)


def _custom(items: list, mode: Mode) -> ScoringSet:
    if not 1 <= len(items) <= MAX_CUSTOM_CONDITIONS:
        raise InvalidConditionsError(f"give 1 to {MAX_CUSTOM_CONDITIONS} custom conditions")
    try:
        parsed = _custom_list.validate_python(items)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidConditionsError(f"invalid custom conditions: {problems}") from None
    labels = [c.label for c in parsed]
    if len(set(labels)) != len(labels):
        raise InvalidConditionsError("custom condition labels must be unique")
    return ScoringSet.custom(
        mode,
        [(c.label, c.prompts, c.negative_prompts) for c in parsed],
        [c.prototype for c in parsed],
    )


def _checked(scoring_set: ScoringSet, mode: Mode) -> ScoringSet:
    if mode == "exclusive" and len(scoring_set.labels) < 2:
        raise InvalidConditionsError("exclusive mode ranks two or more conditions")
    if mode == "exclusive" and any(scoring_set.prototypes):
        raise InvalidConditionsError("prototype conditions are scored in findings mode")
    if mode == "findings":
        missing = [
            label
            for label, prompts, negatives in zip(
                scoring_set.labels, scoring_set.prompts, scoring_set.negative_prompts, strict=True
            )
            if prompts and not negatives
        ]
        if missing:
            raise InvalidConditionsError(f"findings mode needs negative_prompts for {missing}")
    return replace(scoring_set, mode=mode)
