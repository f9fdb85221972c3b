"""The ground truth of a study as a report states it, and the clinical cut-offs it is judged by.

Cut-offs (adult cine SSFP; sexes pooled where reference ranges differ by sex):
LVEF (rounded, as printed) > 70 % hyperdynamic, >= 55 normal, 45-54 mildly, 35-44 moderately,
< 35 severely reduced. LVEDVi > 105 mL/m² dilated; RVEDVi > 110 mL/m² dilated; RVEF < 40 %
reduced; LV wall <= 12 mm normal, >= 30 mm massive. Every cut-off is applied to the rounded
value the text prints, so a number and its word agree.
"""

from dataclasses import dataclass

from app.domain.vocabulary import CONDITIONS
from app.synth import _phrases as ph
from app.synth.params import HeartParams

LVEDVI_UPPER_NORMAL_ML_M2 = 105.0
RVEDVI_UPPER_NORMAL_ML_M2 = 110.0
RVEF_LOWER_NORMAL_PCT = 40
WALL_UPPER_NORMAL_MM = 12.0
MASSIVE_WALL_MM = 30.0


@dataclass(frozen=True)
class Findings:
    """Ground truth of one study, in the units a report uses. Raises ValueError if inconsistent."""

    conditions: frozenset[str]  # subset of CONDITIONS; "normal" only alone
    lvedv_ml: float
    lvesv_ml: float
    lvef_pct: float
    lv_max_wall_mm: float  # maximal end-diastolic wall thickness
    hypertrophy_segment: str | None  # e.g. "basal anteroseptal"
    infarct_territory: str | None  # "LAD", "RCA" or "LCx"
    infarct_motion: str | None  # "akinetic", "hypokinetic" or "severely hypokinetic"
    rvedv_ml: float
    rvef_pct: float
    effusion_mm: float  # 0 when none
    bsa_m2: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "conditions", frozenset(self.conditions))
        unknown = sorted(self.conditions - set(CONDITIONS))
        if unknown or not self.conditions:
            raise ValueError(f"conditions must be a non-empty subset of CONDITIONS, got {unknown}")
        if "normal" in self.conditions and len(self.conditions) > 1:
            raise ValueError("'normal' cannot be combined with other conditions")
        if self.infarct_territory not in (None, *ph.TERRITORIES):
            raise ValueError(f"unknown infarct territory {self.infarct_territory!r}")
        if self.infarct_motion not in ph.WALL_MOTION:
            raise ValueError(f"unknown infarct motion {self.infarct_motion!r}")
        if self.bsa_m2 <= 0:
            raise ValueError(f"body surface area must be positive, got {self.bsa_m2}")

    @classmethod
    def from_heart(cls, heart: HeartParams) -> "Findings":
        """The findings a reader would report for a sampled synthetic heart."""
        return cls(
            conditions=heart.conditions,
            lvedv_ml=heart.lvedv_ml,
            lvesv_ml=heart.lvesv_ml,
            lvef_pct=heart.lvef_pct,
            lv_max_wall_mm=heart.max_wall_mm,
            hypertrophy_segment=heart.hypertrophy_segment,
            infarct_territory=heart.infarct_territory,
            infarct_motion=heart.infarct_motion,
            rvedv_ml=heart.rvedv_ml,
            rvef_pct=heart.rvef_pct,
            effusion_mm=heart.effusion_mm,
            bsa_m2=heart.bsa_m2,
        )

    @property
    def lvedvi_ml_m2(self) -> float:
        return self.lvedv_ml / self.bsa_m2

    @property
    def rvedvi_ml_m2(self) -> float:
        return self.rvedv_ml / self.bsa_m2

    @property
    def rv_dilated(self) -> bool:
        return round(self.rvedvi_ml_m2) > RVEDVI_UPPER_NORMAL_ML_M2

    @property
    def rv_reduced(self) -> bool:
        return round(self.rvef_pct) < RVEF_LOWER_NORMAL_PCT


def lvef_category(lvef_pct: float) -> str:
    """ "hyperdynamic", "normal", "mildly_reduced", "moderately_reduced" or "severely_reduced".

    Judged on the rounded value the report prints, so number and word never disagree
    (54.6 % is printed as 55 % and called normal).
    """
    shown = round(lvef_pct)
    if shown > 70:
        return "hyperdynamic"
    if shown >= 55:
        return "normal"
    if shown >= 45:
        return "mildly_reduced"
    return "moderately_reduced" if shown >= 35 else "severely_reduced"
