"""How close are synthetic studies to a real cine study? Prints blood/myocardium contrast,
blood-pool noise, heart size in the field of view and motion amplitude for the real
Sunnybrook case (expert contours) and for synthetic studies (rendered masks), and writes the
mid-ventricular ED/ES slices side by side to docs/img/real_vs_synthetic.png.

    python bench/realism.py [--real ../shared/realdata/sunnybrook_SCD0000101] [--studies 10]
"""

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from app.dicom.ingest import load_study
from app.preprocess.ops import crop_resample, locate_heart
from app.synth.heart import HeartModel
from app.synth.study import SyntheticStudy, synthesize_study

ROOT = Path(__file__).resolve().parents[1]
TILE_PX, CROP_MM = 160, 150.0


@dataclass(frozen=True)
class Figures:
    contrast: float  # mean blood / mean LV myocardium, end-diastole
    blood_cv: float  # blood-pool std / mean (noise, flow and texture together)
    epi_area_cm2: float  # LV epicardial area, mid-ventricular end-diastole
    fov_mm: float
    fac: float  # fractional area change of the LV cavity, mid-ventricular

    @property
    def heart_fraction_of_fov(self) -> float:
        return self.epi_area_cm2 * 100 / self.fov_mm**2


def _measure(image: np.ndarray, blood: np.ndarray, myo: np.ndarray) -> tuple[float, float]:
    return float(image[blood].mean() / image[myo].mean()), float(
        image[blood].std() / image[blood].mean()
    )


def _polygon_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    canvas = Image.new("L", (shape[1], shape[0]), 0)
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in points], fill=1)
    return np.asarray(canvas, dtype=bool)


def real_figures(case: Path) -> tuple[Figures, np.ndarray]:
    """Mid-ventricular slice 5: endocardium at ED (image 119) and ES (108), epicardium at ED."""
    study = load_study(case / "dicom")
    assert study.sax is not None
    sax = study.sax
    contour = case / "contours"
    ed_i = np.loadtxt(contour / "i-contours" / "IM-0001-0119-icontour-manual.txt")
    es_i = np.loadtxt(contour / "i-contours" / "IM-0001-0108-icontour-manual.txt")
    ed_o = np.loadtxt(contour / "o-contours" / "IM-0001-0119-ocontour-manual.txt")
    slice_index, ed, es = 5, 18, 7
    shape = sax.pixels.shape[2:]
    blood, epi = _polygon_mask(ed_i, shape), _polygon_mask(ed_o, shape)
    # interiors only (2 pixels from the contours), as the synthetic masks are: no partial volume
    inner_blood = ndimage.binary_erosion(blood, iterations=2)
    inner_myo = ndimage.binary_erosion(epi & ~blood, iterations=1)
    contrast, cv = _measure(sax.pixels[slice_index, ed], inner_blood, inner_myo)
    pixel_cm2 = sax.pixel_spacing_mm[0] * sax.pixel_spacing_mm[1] / 100
    fac = 1 - _polygon_mask(es_i, shape).sum() / blood.sum()
    fov = shape[0] * sax.pixel_spacing_mm[0]
    pair = _tiles(sax.pixels[:, [ed, es]], sax.pixel_spacing_mm, slice_index)
    return Figures(contrast, cv, float(epi.sum() * pixel_cm2), fov, float(fac)), pair


def synthetic_figures(study: SyntheticStudy) -> tuple[Figures, np.ndarray]:
    series = study.series["sax"]
    index = len(series.planes) // 2
    plane = series.planes[index]
    model = HeartModel(study.params)
    u, v, h = study.placement.heart_coordinates(plane.points())
    sampler = model.sampler(u, v, h, plane.pixel_mm)
    phases = series.trigger_times_ms[index] / series.rr_intervals_ms[index]
    es = int(np.argmin([sampler.at(p).lv_blood.sum() for p in phases]))
    ed_f, es_f = sampler.at(float(phases[0])), sampler.at(float(phases[es]))
    blood = (ed_f.lv_blood > 0.99) & (ed_f.papillary < 0.01)
    lv_ring = np.hypot(u, v) < model.radius_ed + study.params.max_wall_mm + 2
    myo = (ed_f.myocardium > 0.99) & lv_ring
    image = series.frames[index][0].astype(np.float32)
    contrast, cv = _measure(image, blood, myo)
    pixel_cm2 = plane.pixel_mm**2 / 100
    epi = ((ed_f.lv_blood + ed_f.myocardium * lv_ring) > 0.5).sum() * pixel_cm2
    fac = 1 - es_f.lv_blood.sum() / ed_f.lv_blood.sum()
    frames = np.stack(series.frames).astype(np.float32)[:, [0, es]]
    pair = _tiles(frames, (plane.pixel_mm, plane.pixel_mm), index)
    return Figures(contrast, cv, float(epi), plane.size * plane.pixel_mm, float(fac)), pair


def _tiles(clips: np.ndarray, spacing: tuple[float, float], index: int) -> np.ndarray:
    """ED and ES of one slice, cropped around the heart, side by side, scaled to [0, 1]."""
    centre = locate_heart(clips, spacing)
    crop = crop_resample(clips[index], centre, spacing, CROP_MM / TILE_PX, TILE_PX)
    return np.clip(np.concatenate(list(crop), axis=1) / np.percentile(crop, 99.5), 0, 1)


def _row(name: str, f: Figures) -> str:
    return (
        f"| {name} | {f.contrast:.2f} | {f.blood_cv:.3f} | {f.epi_area_cm2:.1f} | "
        f"{100 * f.heart_fraction_of_fov:.1f} | {f.fac:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--real", type=Path, default=ROOT.parent / "shared/realdata/sunnybrook_SCD0000101"
    )
    parser.add_argument("--studies", type=int, default=10, help="synthetic studies per diagnosis")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/img/real_vs_synthetic.png")
    args = parser.parse_args()
    real, real_pair = real_figures(args.real)
    print("| study | blood/myo | blood CV | LV epi area cm² | % of FOV | LV FAC |")
    print("|---|---|---|---|---|---|")
    print(_row("real: Sunnybrook HF-I (EF ≈ 26 %)", real))
    example = None
    for diagnosis in ("normal", "dilated_cardiomyopathy", "myocardial_infarction"):
        figures = []
        for i in range(args.studies):
            study = synthesize_study("site_a", seed=100, index=i, primary=diagnosis)
            f, pair = synthetic_figures(study)
            figures.append(f)
            if diagnosis == "dilated_cardiomyopathy" and example is None:
                example = pair
        mean = Figures(*np.mean([list(f.__dict__.values()) for f in figures], axis=0))
        print(_row(f"synthetic site_a {diagnosis} (mean of {args.studies})", mean))
    assert example is not None
    gap = np.ones((TILE_PX, 8))
    Image.fromarray(
        (np.concatenate([real_pair, gap, example], axis=1) * 255).astype(np.uint8)
    ).save(args.out)
    print(f"\nreal ED | real ES || synthetic DCM ED | ES -> {args.out}")


if __name__ == "__main__":
    main()
