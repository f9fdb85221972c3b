"""The rendered heart realises its parameters: volumes, EF, motion curve, regional motion."""

import numpy as np
import pytest

from app.domain.vocabulary import PRIMARY_DIAGNOSES
from app.synth.heart import HeartModel, measure_volumes_ml, volume_curve
from app.synth.params import sample_heart


@pytest.mark.parametrize("diagnosis", PRIMARY_DIAGNOSES)
def test_ejection_fraction_from_rendered_masks_matches_parameters(diagnosis):
    rng = np.random.default_rng(3)
    for _ in range(3):
        params = sample_heart(rng, diagnosis)
        model = HeartModel(params)
        lv, rv = measure_volumes_ml(model, np.array([0.0, params.end_systole_phase]))
        measured_ef = 100 * (1 - lv[1] / lv[0])
        assert abs(measured_ef - params.lvef_pct) < 3, (diagnosis, measured_ef, params.lvef_pct)
        assert abs(lv[0] - params.lvedv_ml) / params.lvedv_ml < 0.05
        measured_rvef = 100 * (1 - rv[1] / rv[0])
        assert abs(measured_rvef - params.rvef_pct) < 6
        assert abs(rv[0] - params.rvedv_ml) / params.rvedv_ml < 0.08


def test_volume_curve_is_physiological():
    phase = np.linspace(0, 1, 1001)[:-1]
    curve = volume_curve(phase, end_systole=0.35)
    assert curve[0] == pytest.approx(0) and curve.max() == pytest.approx(1)
    assert phase[np.argmax(curve)] == pytest.approx(0.35, abs=0.002)
    ejection = np.diff(curve[phase <= 0.35])
    assert (ejection >= -1e-12).all()  # ejection is monotone
    # rapid filling restores most of the volume within 0.18 of the cycle, then the atrial kick
    assert curve[np.searchsorted(phase, 0.53)] < 0.35
    assert curve[np.searchsorted(phase, 0.84)] > 0.15 and curve[-1] < 0.01


def test_infarcted_territory_moves_less_than_remote_myocardium():
    rng = np.random.default_rng(5)
    params = sample_heart(rng, "myocardial_infarction")
    model = HeartModel(params)
    assert params.infarct_territory is not None
    from app.synth.params import TERRITORIES

    centre_deg = TERRITORIES[params.infarct_territory][0]
    angles = np.deg2rad(np.array([centre_deg, centre_deg + 180.0]))
    h_ed = np.full(2, 0.6 * model.length_ed)
    ed, _ = model.lv_radii(angles, h_ed, 1.0, 0.0, model.motion_factor(angles))
    es_stretch = model.stretch(1.0)
    es, _ = model.lv_radii(angles, h_ed, es_stretch, 1.0, model.motion_factor(angles))
    excursion = (ed - es) / ed
    assert excursion[0] < 0.5 * excursion[1]
