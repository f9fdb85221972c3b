"""One synthetic study end to end: patient -> heart -> planes -> images -> DICOM + manifest row."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.domain.vocabulary import CONDITIONS, PRIMARY_DIAGNOSES
from app.synth.dicom_writer import SeriesImages, StudyHeader, write_series
from app.synth.findings import Findings
from app.synth.heart import HeartModel, measure_volumes_ml
from app.synth.impressions import write_impression
from app.synth.params import HeartParams, sample_heart
from app.synth.render import Contrast, acquire, render_plane
from app.synth.scene import HeartPlacement, four_chamber_plane, place_heart, short_axis_stack
from app.synth.sites import SITES, SiteProfile


def study_id(site: str, seed: int, index: int) -> str:
    return f"{site}-s{seed}-{index:05d}"


def _disc_ef(areas_mm2: np.ndarray, gap_mm: float) -> tuple[float, float, float]:
    """Clinical disc summation over the acquired slices: (EDV, ESV, EF), areas (S, T)."""
    volumes = areas_mm2.sum(axis=0) * gap_mm / 1000
    edv, esv = float(volumes.max()), float(volumes.min())
    return edv, esv, 100 * (1 - esv / edv)


@dataclass(frozen=True)
class SyntheticStudy:
    """A rendered study in memory: the truth that tests compare ingestion against."""

    key: str
    site: SiteProfile
    params: HeartParams
    placement: HeartPlacement
    header: StudyHeader
    series: dict[str, SeriesImages]  # "sax", "4ch"
    row: dict[str, Any]  # manifest row (without the file count)

    def write(self, out_root: Path) -> list[Path]:
        study_dir = out_root / self.key
        return [
            p
            for s in self.series.values()
            for p in write_series(self.header, self.site, s, study_dir)
        ]


def generate_study(
    site_name: str, seed: int, index: int, out_root: Path, primary: str | None = None
) -> dict[str, Any]:
    """Render and write one study under `out_root/<study id>/`; return its manifest row."""
    study = synthesize_study(site_name, seed, index, primary)
    return {**study.row, "n_files": len(study.write(out_root))}


def synthesize_study(
    site_name: str, seed: int, index: int, primary: str | None = None
) -> SyntheticStudy:
    """Render one study in memory. Deterministic in (site, seed, index). Diagnoses cycle
    through PRIMARY_DIAGNOSES by index unless `primary` is given, so datasets are balanced.
    """
    site: SiteProfile = SITES[site_name]
    key = study_id(site_name, seed, index)
    rng = np.random.default_rng([seed, list(SITES).index(site_name), index])
    params = sample_heart(rng, primary or PRIMARY_DIAGNOSES[index % len(PRIMARY_DIAGNOSES)])
    model = HeartModel(params)
    placement = place_heart(model, rng)

    phases = int(rng.integers(site.phases_range[0], site.phases_range[1] + 1))
    size = int(rng.choice(site.matrix_choices))
    pixel_mm = float(np.clip(rng.uniform(*site.fov_mm_range) / size, 1.2, 2.0))
    gap_mm = float(rng.uniform(*site.slice_gap_mm_range))
    ratio = rng.uniform(*site.blood_to_myo)
    contrast = Contrast(
        myocardium=1 / ratio,
        fat=rng.uniform(0.95, 1.25),
        soft_tissue=rng.uniform(0.85, 1.0) / ratio,
        fluid=rng.uniform(0.9, 1.1),
        pericardium=0.1,
    )
    snr = rng.uniform(*site.snr_range)
    rr_ms = 60000.0 / params.heart_rate_bpm
    trigger_delay_ms = rng.uniform(0, 0.6) * rr_ms / phases  # R-wave detection delay

    sax_planes = short_axis_stack(
        model,
        placement,
        rng,
        size=size,
        pixel_mm=pixel_mm,
        gap_mm=gap_mm,
        normal_towards_apex=site.normal_towards_apex,
    )
    lax_plane = four_chamber_plane(model, placement, size=size, pixel_mm=pixel_mm)
    views = {"sax": sax_planes, "4ch": [lax_plane]}
    rendered: dict[str, SeriesImages] = {}
    lv_areas = []
    for view, planes in views.items():
        frames, triggers, rr_per_slice = [], [], []
        for plane in planes:
            # Each slice is its own breath-hold: slightly different RR and heart position.
            slice_rr = rr_ms * (1 + rng.normal(0, 0.015))
            trigger_ms = trigger_delay_ms + np.arange(phases) * slice_rr / phases
            shift = rng.normal(0, 1.0, 2)
            image = render_plane(
                model, placement, plane, trigger_ms / slice_rr, contrast, shift, rng
            )
            if view == "sax":
                lv_areas.append(image.lv_blood_mm2)
            frames.append(
                acquire(
                    image.signal,
                    plane,
                    rng,
                    snr=snr,
                    bias_strength=site.bias_strength,
                    blood_level=site.stored_blood_level,
                    rescale_slope=site.rescale_slope,
                    signed=site.signed_pixels,
                )
            )
            triggers.append(trigger_ms)
            rr_per_slice.append(slice_rr)
        is_sax = view == "sax"
        rendered[view] = SeriesImages(
            view=view,
            series_number=100 if is_sax else 200,
            description=site.sax_description if is_sax else site.lax_description,
            planes=planes,
            frames=frames,
            trigger_times_ms=triggers,
            rr_intervals_ms=rr_per_slice,
            slice_thickness_mm=site.slice_thickness_mm,
            spacing_between_slices_mm=gap_mm if is_sax else site.slice_thickness_mm,
        )

    header = StudyHeader.create(key, rng, params.heart_rate_bpm)

    # Ground truth from the rendered fractions: end-diastole and the acquired frame nearest
    # end-systole (what a reader would pick), on a 2 mm voxel grid.
    es_phase = np.round(params.end_systole_phase * phases) / phases
    lv_ml, rv_ml = measure_volumes_ml(model, np.array([0.0, es_phase]))
    _, _, disc_lvef = _disc_ef(np.asarray(lv_areas), gap_mm)
    impression = write_impression(Findings.from_heart(params), site.report_style, rng)
    row = {
        "study_id": key,
        "site": site_name,
        "external": int(site.external),
        "study_dir": key,
        "impression": impression,
        "primary_diagnosis": params.primary,
        **{f"label_{c}": int(c in params.conditions) for c in CONDITIONS},
        "lvedv_ml": round(params.lvedv_ml, 1),
        "lvesv_ml": round(params.lvesv_ml, 1),
        "lvef_pct": round(params.lvef_pct, 1),
        "rvedv_ml": round(params.rvedv_ml, 1),
        "rvef_pct": round(params.rvef_pct, 1),
        "lv_max_wall_mm": round(params.max_wall_mm, 1),
        "effusion_mm": round(params.effusion_mm, 1),
        "infarct_territory": params.infarct_territory or "",
        "infarct_motion": params.infarct_motion or "",
        "hypertrophy_segment": params.hypertrophy_segment or "",
        "bsa_m2": round(params.bsa_m2, 2),
        "heart_rate_bpm": round(params.heart_rate_bpm, 1),
        "measured_lvedv_ml": round(float(lv_ml[0]), 1),
        "measured_lvesv_ml": round(float(lv_ml[1]), 1),
        "measured_lvef_pct": round(float(100 * (1 - lv_ml[1] / lv_ml[0])), 1),
        "measured_rvedv_ml": round(float(rv_ml[0]), 1),
        "measured_rvef_pct": round(float(100 * (1 - rv_ml[1] / rv_ml[0])), 1),
        "disc_lvef_pct": round(disc_lvef, 1),
        "sax_slices": len(sax_planes),
        "phases": phases,
        "matrix": size,
        "pixel_mm": round(pixel_mm, 4),
        "slice_gap_mm": round(gap_mm, 2),
        "seed": seed,
    }
    return SyntheticStudy(key, site, params, placement, header, rendered, row)
