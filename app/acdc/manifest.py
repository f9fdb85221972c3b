"""ACDC subjects -> manifest rows (study, impression, labels, fold), like the synthetic sites'.

Impressions are written from the subject's group and the volumes measured from its expert masks,
by the same writers as the synthetic sites (one style per subject, in turn), so real hearts and
synthetic ones carry the same kind of text. Folds: within each group, subjects in id order go
to folds 1..5 in turn, so every fold holds 4 subjects of each group and no subject is in two.
"""

from pathlib import Path
from typing import Any

import numpy as np

from app.acdc.subject import MaskMeasurements, SubjectInfo, measure_masks, read_info
from app.domain.vocabulary import CONDITIONS
from app.synth.findings import Findings
from app.synth.impressions import REPORT_STYLES, write_impression

SITE = "acdc"
FOLDS = 5
GROUP_CONDITIONS = {
    "NOR": "normal",
    "DCM": "dilated_cardiomyopathy",
    "HCM": "hypertrophic_cardiomyopathy",
    "MINF": "myocardial_infarction",
    "RV": "abnormal_right_ventricle",
}


def subject_findings(info: SubjectInfo, measured: MaskMeasurements) -> Findings:
    """What a reader would report: the group's diagnosis with the measured volumes. ACDC
    names no infarct territory or hypertrophied segment, so the impression names none; an
    infarct's wall motion is called hypokinetic, the mildest claim the group supports."""
    condition = GROUP_CONDITIONS[info.group]
    return Findings(
        conditions=frozenset({condition}),
        lvedv_ml=measured.lvedv_ml,
        lvesv_ml=measured.lvesv_ml,
        lvef_pct=measured.lvef_pct,
        lv_max_wall_mm=measured.lv_max_wall_mm,
        hypertrophy_segment=None,
        infarct_territory=None,
        infarct_motion="hypokinetic" if condition == "myocardial_infarction" else None,
        rvedv_ml=measured.rvedv_ml,
        rvef_pct=measured.rvef_pct,
        effusion_mm=0.0,
        bsa_m2=info.bsa_m2,
    )


def subject_row(folder: Path, fold: int, seed: int) -> dict[str, Any]:
    """One manifest row; `study_dir` is the subject folder itself (absolute: read in place)."""
    info, measured = read_info(folder), measure_masks(folder)
    number = int("".join(ch for ch in info.subject_id if ch.isdigit()) or 0)
    rng = np.random.default_rng([seed, number])
    findings = subject_findings(info, measured)
    style = REPORT_STYLES[number % len(REPORT_STYLES)]
    primary = GROUP_CONDITIONS[info.group]
    return {
        "study_id": f"{SITE}-{info.subject_id}",
        "site": SITE,
        "external": 0,
        "study_dir": str(folder.resolve()),
        "impression": write_impression(findings, style, rng),
        "primary_diagnosis": primary,
        **{f"label_{c}": int(c == primary) for c in CONDITIONS},
        "fold": fold,
        "group": info.group,
        "lvedv_ml": round(measured.lvedv_ml, 1),
        "lvesv_ml": round(measured.lvesv_ml, 1),
        "lvef_pct": round(measured.lvef_pct, 1),
        "rvedv_ml": round(measured.rvedv_ml, 1),
        "rvef_pct": round(measured.rvef_pct, 1),
        "lv_max_wall_mm": round(measured.lv_max_wall_mm, 1),
        "bsa_m2": round(info.bsa_m2, 2),
    }


def subject_rows(root: Path, seed: int = 0) -> list[dict[str, Any]]:
    """Rows of every subject folder under root (folders holding an Info.cfg), with folds."""
    folders = sorted(p.parent for p in root.glob("*/Info.cfg"))
    by_group: dict[str, list[Path]] = {}
    for folder in folders:
        by_group.setdefault(read_info(folder).group, []).append(folder)
    folds = {f: i % FOLDS + 1 for group in by_group.values() for i, f in enumerate(group)}
    return [subject_row(folder, folds[folder], seed) for folder in folders]
