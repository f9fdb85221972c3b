"""Pictures of a synthetic dataset for people: per condition, a PNG montage (slices x phases)
and an animated GIF of the beating heart (mid short axis beside the 4-chamber view).

Studies are read back through the ingestion path, so the pictures show what the model sees.
CLI: python -m app.synth.montage --data DIR --out docs/img
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from app.dicom.ingest import load_study
from app.dicom.study import CineView
from app.domain.manifest import MANIFEST_NAME, read_manifest
from app.domain.vocabulary import CONDITIONS
from app.preprocess.ops import crop_resample, locate_heart

CROP_MM = 150.0
TILE_PX = 80
GIF_FRAMES = 12
GIF_LEVELS = 32
MONTAGE_LEVELS = 64


def _heart_tiles(view: CineView, slices: list[int]) -> np.ndarray:
    """(len(slices), T, TILE_PX, TILE_PX) crops around the heart, scaled to [0, 1]."""
    middle = view.pixels[view.n_slices // 4 : max(view.n_slices - view.n_slices // 4, 1)]
    centre = locate_heart(middle, view.pixel_spacing_mm)
    frames = view.pixels[slices].reshape(-1, *view.pixels.shape[2:])
    tiles = crop_resample(frames, centre, view.pixel_spacing_mm, CROP_MM / TILE_PX, TILE_PX)
    tiles = tiles.reshape(len(slices), view.n_phases, TILE_PX, TILE_PX)
    return np.clip(tiles / np.percentile(tiles, 99.5), 0, 1)


def _to_image(array: np.ndarray) -> Image.Image:
    return Image.fromarray((array * 255).astype(np.uint8))


def montage(view: CineView, columns: int = 6) -> Image.Image:
    """Short-axis slices (rows, base at the top) x evenly spaced phases (columns)."""
    tiles = _heart_tiles(view, list(range(view.n_slices)))
    phases = np.linspace(0, view.n_phases - 1, columns).round().astype(int)
    rows = [np.concatenate(list(tiles[s, phases]), axis=1) for s in range(view.n_slices)]
    return _to_image(np.concatenate(rows, axis=0))


def beating_gif(sax: CineView, lax: CineView | None, path: Path) -> None:
    """Mid-ventricular short axis (and 4-chamber, when present) through one cycle."""
    mid = _heart_tiles(sax, [sax.n_slices // 2])[0]
    panels = [mid]
    if lax is not None:
        lax_tiles = _heart_tiles(lax, [0])[0]
        index = np.linspace(0, lax.n_phases - 1, sax.n_phases).round().astype(int)
        panels.append(lax_tiles[index])
    # 12 frames and 32 grey levels keep each GIF near 100 kB for the README
    shown = np.linspace(0, sax.n_phases - 1, GIF_FRAMES).round().astype(int)
    frames = [
        _to_image(np.concatenate([p[t] for p in panels], axis=1)).quantize(GIF_LEVELS)
        for t in shown
    ]
    duration_ms = int(sax.rr_interval_ms / GIF_FRAMES)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=duration_ms, loop=0)


def _clearest_example(rows: list[dict[str, str]], condition: str) -> dict[str, str] | None:
    """A study with this condition alone if there is one, else as its diagnosis, else any."""
    having = [r for r in rows if r[f"label_{condition}"] == "1"]
    alone = [r for r in having if sum(r[f"label_{c}"] == "1" for c in CONDITIONS) == 1]
    primary = [r for r in having if r["primary_diagnosis"] == condition]
    return next(iter(alone + primary + having), None)


def render_examples(data_dir: Path, out_dir: Path) -> list[Path]:
    """One montage and one GIF per condition present in the dataset's manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = read_manifest(data_dir / MANIFEST_NAME)
    written = []
    for condition in CONDITIONS:
        row = _clearest_example(rows, condition)
        if row is None:
            continue
        study = load_study(data_dir / row["study_dir"])
        assert study.sax is not None
        montage_path = out_dir / f"montage_{condition}.png"
        montage(study.sax).quantize(MONTAGE_LEVELS).save(montage_path, optimize=True)
        gif_path = out_dir / f"beat_{condition}.gif"
        beating_gif(study.sax, study.views.get("4ch"), gif_path)
        written += [montage_path, gif_path]
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with manifest.csv")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    for path in render_examples(args.data, args.out):
        print(path)


if __name__ == "__main__":
    main()
