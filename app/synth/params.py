"""Clinical parameters of one synthetic patient, sampled by the criteria clinicians use.

Diagnoses follow the ACDC definitions (LV volume index, EF, wall thickness, regional motion,
RV volume/EF) plus pericardial effusion as an independent finding. Myocardial infarction here
is the *motion-only* condition: regional hypokinesis/akinesis in one coronary territory with
end-diastolic geometry drawn from the same distribution as normal hearts (a recent infarct,
before wall thinning), so no single frame can reveal it.
"""

from dataclasses import dataclass

import numpy as np

from app.domain.vocabulary import PRIMARY_DIAGNOSES

# Territory -> (centre angle, half width) in degrees in the heart frame: 0 lateral, 90 anterior,
# 180 septal, 270 inferior.
TERRITORIES: dict[str, tuple[float, float]] = {
    "LAD": (130.0, 60.0),
    "RCA": (250.0, 45.0),
    "LCx": (335.0, 45.0),
}
HYPERTROPHY_SEGMENTS: dict[str, tuple[float, float]] = {
    "basal anteroseptal": (150.0, 45.0),
    "septal": (185.0, 50.0),
    "anterior": (95.0, 40.0),
}


def hypertrophy_extent(height_fraction: np.ndarray) -> np.ndarray:
    """Share (0-1) of a hypertrophied segment's extra thickness at a height of the LV (0 apex,
    1 mitral plane at end-diastole): basal and mid, tapering out towards the apex."""
    return np.clip((height_fraction - 0.2) / 0.3, 0, 1)


def cavity_profile(depth: np.ndarray) -> np.ndarray:
    """Endocardial radius at a depth below the mitral plane (0 there, 1 at the apex; as a share
    of the LV length) as a share of the largest: the half-ellipsoid cavity, hence the length of
    an infarcted sector's wall in that plane (an infarct here spans its territory's sector from
    base to apex)."""
    return np.sqrt(np.clip(1 - depth**2, 0, None))


@dataclass(frozen=True)
class HeartParams:
    """Everything that determines the rendered heart (lengths in mm, volumes in mL)."""

    primary: str  # the ventricular diagnosis (mutually exclusive), "normal" included
    conditions: frozenset[str]  # multi-label findings; "normal" only when nothing is abnormal
    bsa_m2: float
    heart_rate_bpm: float
    lvedv_ml: float
    lvef_pct: float
    lv_length_mm: float  # endocardial apex to mitral plane at end-diastole
    wall_mm: float  # baseline end-diastolic wall thickness
    hypertrophy_segment: str | None
    hypertrophy_extra_mm: float  # added at the segment's centre (max wall = wall + extra)
    infarct_territory: str | None
    infarct_motion_factor: float  # 1 normal, 0 akinetic, between: hypokinetic
    long_axis_shortening: float  # fraction of LV length lost at end-systole
    rvedv_ml: float
    rvef_pct: float
    effusion_mm: float
    end_systole_phase: float  # fraction of the cycle at end-systole

    @property
    def lvesv_ml(self) -> float:
        return self.lvedv_ml * (1.0 - self.lvef_pct / 100.0)

    @property
    def max_wall_mm(self) -> float:
        return self.wall_mm + self.hypertrophy_extra_mm

    @property
    def infarct_motion(self) -> str | None:
        if self.infarct_territory is None:
            return None
        if self.infarct_motion_factor < 0.15:
            return "akinetic"
        return "severely hypokinetic" if self.infarct_motion_factor < 0.35 else "hypokinetic"


def _u(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def sample_heart(rng: np.random.Generator, primary: str | None = None) -> HeartParams:
    """Draw one patient. `primary` forces the main diagnosis (else uniform over diagnoses)."""
    if primary is None:
        primary = str(rng.choice(PRIMARY_DIAGNOSES))
    if primary not in PRIMARY_DIAGNOSES:
        raise ValueError(f"unknown diagnosis {primary!r}")
    bsa = _u(rng, 1.6, 2.2)
    hr = _u(rng, 55, 95)
    # Normal geometry and function (shared by MI: its end-diastolic geometry is normal).
    lvedv = bsa * _u(rng, 62, 88)
    lvef = _u(rng, 57, 70)
    wall = _u(rng, 7.5, 10.5)
    lv_length = _u(rng, 78, 92)
    shortening = _u(rng, 0.13, 0.18)
    rvedv = bsa * _u(rng, 65, 90)
    rvef = _u(rng, 50, 63)
    hyp_segment, hyp_extra = None, 0.0
    territory, motion_factor = None, 1.0
    conditions = {primary}

    if primary == "dilated_cardiomyopathy":
        lvedv = bsa * _u(rng, 115, 165)
        lvef = _u(rng, 15, 36)
        wall = _u(rng, 6.0, 8.5)
        lv_length = _u(rng, 92, 105)
        shortening = _u(rng, 0.04, 0.08)
        if rng.random() < 0.3:  # biventricular involvement
            rvedv = bsa * _u(rng, 120, 150)
            rvef = _u(rng, 22, 36)
            conditions.add("abnormal_right_ventricle")
    elif primary == "hypertrophic_cardiomyopathy":
        lvedv = bsa * _u(rng, 50, 75)
        lvef = _u(rng, 66, 80)
        wall = _u(rng, 9.0, 12.0)
        hyp_segment = str(rng.choice(list(HYPERTROPHY_SEGMENTS)))
        hyp_extra = _u(rng, 17.0, 26.0) - wall
        lv_length = _u(rng, 74, 88)
    elif primary == "myocardial_infarction":
        territory = str(rng.choice(list(TERRITORIES)))
        motion_factor = _u(rng, 0.0, 0.45)
        lvef = _u(rng, 32, 47)
        shortening = _u(rng, 0.08, 0.12)
    elif primary == "abnormal_right_ventricle":
        if rng.random() < 0.5:  # dilated RV
            rvedv = bsa * _u(rng, 125, 170)
            rvef = _u(rng, 25, 45)
        else:  # dysfunction with normal size
            rvef = _u(rng, 18, 35)
    if rng.random() < 0.2:
        conditions.add("pericardial_effusion")
        conditions.discard("normal")  # "normal" as a finding means nothing abnormal at all
    effusion = _u(rng, 6.0, 16.0) if "pericardial_effusion" in conditions else 0.0
    return HeartParams(
        primary=primary,
        conditions=frozenset(conditions),
        bsa_m2=bsa,
        heart_rate_bpm=hr,
        lvedv_ml=lvedv,
        lvef_pct=lvef,
        lv_length_mm=lv_length,
        wall_mm=wall,
        hypertrophy_segment=hyp_segment,
        hypertrophy_extra_mm=hyp_extra,
        infarct_territory=territory,
        infarct_motion_factor=motion_factor,
        long_axis_shortening=shortening,
        rvedv_ml=rvedv,
        rvef_pct=rvef,
        effusion_mm=effusion,
        end_systole_phase=_u(rng, 0.32, 0.40),
    )
