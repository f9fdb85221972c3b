"""The impression reader: which conditions a text asserts, negations understood."""

import pytest

from app.domain.reading import CONDITION_PHRASES, mentioned_conditions, reading
from app.domain.vocabulary import CONDITIONS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("No pericardial effusion.", set()),
        ("There is no left ventricular hypertrophy or regional wall motion abnormality.", set()),
        ("No definite LV dilatation. Normal right ventricular size and function.", set()),
        ("1. Small pericardial effusion (6 mm).\n2. No LV hypertrophy.", {"pericardial_effusion"}),
        ("The left ventricle is severely dilated (LVEDVi 150 mL/m²).", {"dilated_cardiomyopathy"}),
        ("Akinesis of the anterior walls in the LAD territory.", {"myocardial_infarction"}),
        ("Likely normal study; no convincing abnormality.", {"normal"}),
        ("Severely dilated RV with reduced systolic function.", {"abnormal_right_ventricle"}),
    ],
)
def test_mentioned_conditions_reads_negations(text: str, expected: set[str]) -> None:
    assert mentioned_conditions(text) == expected


def test_phrase_families_cover_every_condition_with_abbreviations() -> None:
    assert set(CONDITION_PHRASES) == set(CONDITIONS)
    assert "lv dilatation" in CONDITION_PHRASES["dilated_cardiomyopathy"]
    assert "rv systolic dysfunction" in CONDITION_PHRASES["abnormal_right_ventricle"]


def test_reading_tells_denied_hedged_and_asserted_apart() -> None:
    assert reading("Small pericardial effusion is not seen.") == {"pericardial_effusion": "absent"}
    assert reading("No LV dilatation, but a possible inferior infarct.") == {
        "dilated_cardiomyopathy": "absent",
        "myocardial_infarction": "possible",
    }
    assert reading("Findings consistent with HCM; effusion cannot be excluded.") == {
        "hypertrophic_cardiomyopathy": "present",
        "pericardial_effusion": "possible",
    }
    assert mentioned_conditions("Possible small pericardial effusion.") == set()
