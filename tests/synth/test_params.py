"""The sampled patients meet the clinical criteria their labels claim (ACDC-style)."""

import numpy as np
import pytest

from app.domain.vocabulary import MOTION_ONLY_CONDITION, PRIMARY_DIAGNOSES
from app.synth.params import sample_heart


@pytest.fixture(scope="module")
def hearts():
    rng = np.random.default_rng(11)
    return {d: [sample_heart(rng, d) for _ in range(150)] for d in PRIMARY_DIAGNOSES}


def test_dilated_cardiomyopathy_criteria(hearts):
    for h in hearts["dilated_cardiomyopathy"]:
        assert h.lvedv_ml / h.bsa_m2 > 100 and h.lvef_pct < 40


def test_hypertrophic_cardiomyopathy_criteria(hearts):
    for h in hearts["hypertrophic_cardiomyopathy"]:
        assert h.max_wall_mm > 15 and h.lvef_pct >= 55 and h.hypertrophy_segment


def test_infarction_is_regional_and_reduces_ef(hearts):
    for h in hearts["myocardial_infarction"]:
        assert h.infarct_territory in {"LAD", "RCA", "LCx"}
        assert h.infarct_motion_factor < 0.5 and h.lvef_pct < 50


def test_motion_only_condition_has_normal_end_diastolic_geometry(hearts):
    """What a single end-diastolic frame shows (size, wall, length) is drawn from the very
    ranges normal hearts are: only motion separates them."""
    assert MOTION_ONLY_CONDITION == "myocardial_infarction"

    def geometry(h):
        return h.lvedv_ml / h.bsa_m2, h.wall_mm, h.lv_length_mm, h.rvedv_ml / h.bsa_m2

    normal = np.array([geometry(h) for h in hearts["normal"]])
    infarct = np.array([geometry(h) for h in hearts["myocardial_infarction"]])
    assert (infarct.min(0) >= normal.min(0) - 3).all() and (
        infarct.max(0) <= normal.max(0) + 3
    ).all()
    assert all(h.hypertrophy_extra_mm == 0 for h in hearts["myocardial_infarction"])


def test_abnormal_right_ventricle_criteria(hearts):
    for h in hearts["abnormal_right_ventricle"]:
        assert h.rvef_pct < 45 and (h.rvef_pct < 40 or h.rvedv_ml / h.bsa_m2 > 110)


def test_normal_hearts_are_normal(hearts):
    for h in hearts["normal"]:
        assert h.lvef_pct >= 55 and h.max_wall_mm <= 12 and h.rvef_pct >= 45
        assert h.conditions in ({"normal"}, {"pericardial_effusion"})


def test_effusion_is_an_independent_finding(hearts):
    with_effusion = [
        h for hs in hearts.values() for h in hs if "pericardial_effusion" in h.conditions
    ]
    assert 0.1 < len(with_effusion) / 750 < 0.3
    assert all(h.effusion_mm >= 5 for h in with_effusion)
    assert all("normal" not in h.conditions for h in with_effusion)
