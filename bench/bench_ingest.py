"""Ingest + preprocess one large cine study from disk, side by side with SimpleITK and MONAI.

Target: "ingest + preprocess a 12-slice x 25-phase x 256^2 study (300 files) in under 1 s on
2 cores from disk, and at least as fast as reading the same series with SimpleITK's
ImageSeriesReader or MONAI's LoadImage". All readers get the same folder of 300 files; runs
are interleaved (the order rotates every repeat) after one warm-up each, so the page cache is
warm for every reader and load from other processes hits all of them alike. Prints to stdout
only and deletes the study it wrote.

    python bench/bench_ingest.py [--repeats 7] [--slices 12]

Needs `app` importable (Makefile `bench` target, or `PYTHONPATH=.`) and the `bench` extra
(simpleitk, monai).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.dicom.ingest import load_study
from app.dicom.study import CineStudy
from app.preprocess import InputSpec, ModelInput, preprocess_study
from app.synth.dicom_writer import write_series
from app.synth.sites import SITES
from app.synth.study import SyntheticStudy, synthesize_study

TARGET_S = 1.0
BENCH_SITE = "bench_ingest_256"  # registered in SITES only inside this process
# 7.5 mm spacing gives 12 short-axis slices for most hearts (index 0 of seed 0 does);
# site_b's own 8-10 mm gives 10-13.
SLICE_GAP_MM = 7.5
MAX_INDEX_TRIES = 50


@dataclass
class Timings:
    """Seconds of each timed run of one method (warm-up excluded)."""

    runs_s: list[float] = dataclasses.field(default_factory=list)

    @property
    def median_s(self) -> float:
        return statistics.median(self.runs_s)

    @property
    def min_s(self) -> float:
        return min(self.runs_s)


@dataclass
class Method:
    """One way of reading the study: a callable returning a short description of its result."""

    name: str
    run: Callable[[], str]
    timings: Timings = dataclasses.field(default_factory=Timings)
    returned: str = ""


# --- the test study ----------------------------------------------------------------------


def register_bench_site() -> None:
    """Add a 256^2, 25-phase, single-series variant of site_b to SITES.

    synthesize_study looks its site up by name in SITES, so the benchmark registers a derived
    profile there (in this process only; nothing on disk or in other processes changes).
    """
    SITES[BENCH_SITE] = dataclasses.replace(
        SITES["site_b"],
        name=BENCH_SITE,
        matrix_choices=(256,),
        phases_range=(25, 25),
        series_per_slice=False,
        slice_gap_mm_range=(SLICE_GAP_MM, SLICE_GAP_MM),
    )


def synthesize_with_slices(slices: int, seed: int) -> SyntheticStudy:
    """The first study (by index) of the bench site whose SAX stack has exactly `slices`."""
    for index in range(MAX_INDEX_TRIES):
        study = synthesize_study(BENCH_SITE, seed, index)
        if len(study.series["sax"].planes) == slices:
            return study
    raise RuntimeError(f"no study with {slices} SAX slices in {MAX_INDEX_TRIES} indices")


def write_sax_series(study: SyntheticStudy, out_dir: Path) -> Path:
    """Write only the SAX series; return the one folder that holds its files."""
    paths = write_series(study.header, study.site, study.series["sax"], out_dir)
    folders = {p.parent for p in paths}
    if len(folders) != 1:
        raise RuntimeError(f"SAX series written to {len(folders)} folders, expected 1")
    return folders.pop()


# --- the readers -------------------------------------------------------------------------


def ours(series_dir: Path, spec: InputSpec, stage_times: dict[str, list[float]]) -> str:
    """load_study then preprocess_study; each stage's time is appended to stage_times."""
    started_s = time.perf_counter()
    study = load_study(series_dir)
    loaded_s = time.perf_counter()
    model_input = preprocess_study(study, spec)
    done_s = time.perf_counter()
    stage_times["ingest"].append(loaded_s - started_s)
    stage_times["preprocess"].append(done_s - loaded_s)
    return describe_ours(study, model_input)


def describe_ours(study: CineStudy, model_input: ModelInput) -> str:
    view_shapes = ", ".join(f"{name} {v.pixels.shape}" for name, v in study.views.items())
    return f"CineStudy {view_shapes} -> ModelInput sax {model_input.sax.shape}"


def sitk_series_reader(file_names: tuple[str, ...]) -> Callable[[], str]:
    """ImageSeriesReader.Execute() on the names GetGDCMSeriesFileNames returned."""
    import SimpleITK as sitk

    def run() -> str:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(file_names)
        return describe_sitk(reader.Execute())

    return run


def sitk_read_image(file_names: tuple[str, ...]) -> Callable[[], str]:
    """sitk.ReadImage on the plain list of every file."""
    import SimpleITK as sitk

    def run() -> str:
        return describe_sitk(sitk.ReadImage(list(file_names)))

    return run


def describe_sitk(image: Any) -> str:
    size = "x".join(str(n) for n in image.GetSize())
    return f"sitk.Image {image.GetPixelIDTypeAsString()} {size} (x*y*z)"


def monai_loader(series_dir: Path, reader: str | None) -> tuple[str, Callable[[], str]]:
    """(reader class LoadImage picks, a callable running LoadImage on the folder)."""
    from monai.transforms import LoadImage

    # Without nvImageCodec (a GPU decoder) MONAI logs a warning and uses pydicom's decoders.
    plugin_logger = logging.getLogger("monai.data.nvimgcodec_pydicom_plugin")
    level = plugin_logger.level
    plugin_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loader = LoadImage(image_only=True, reader=reader)
    finally:
        plugin_logger.setLevel(level)
    # LoadImage tries its readers last-registered first and takes the first whose suffix check
    # accepts the path (a folder counts as a DICOM series).
    chosen = next(r for r in loader.readers[::-1] if r.verify_suffix((str(series_dir),)))

    def run() -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = loader(series_dir)
        return f"{type(image).__name__} {image.dtype} {tuple(image.shape)}"

    return type(chosen).__name__, run


def build_methods(
    series_dir: Path, spec: InputSpec, stage_times: dict[str, list[float]]
) -> list[Method]:
    """Every reader to compare; prints what SimpleITK's series lookup and MONAI chose."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalWarningDisplay(False)  # "non uniform sampling": cine repeats
    all_files = tuple(sorted(str(p) for p in series_dir.iterdir()))
    gdcm_files = tuple(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(series_dir)))
    print(
        f"SimpleITK GetGDCMSeriesFileNames: {len(gdcm_files)} of {len(all_files)} files "
        f"({len(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(series_dir)))} series id), "
        f"ITK threads {sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()}"
    )
    methods = [
        Method("ours: ingest + preprocess", lambda: ours(series_dir, spec, stage_times)),
        Method("SimpleITK ImageSeriesReader", sitk_series_reader(gdcm_files)),
    ]
    if len(gdcm_files) < len(all_files):  # GDCM dropped files: also read every one of them
        methods.append(Method("SimpleITK ReadImage(all)", sitk_read_image(all_files)))
    for reader in (None, "PydicomReader"):
        chosen, run = monai_loader(series_dir, reader)
        label = "default" if reader is None else f'reader="{reader}"'
        print(f"MONAI LoadImage({label}) uses {chosen}")
        methods.append(Method(f"MONAI LoadImage({reader or 'default'})", run))
    return methods


# --- measuring and reporting ---------------------------------------------------------------


def measure(methods: list[Method], repeats: int) -> None:
    """One warm-up each, then `repeats` rounds; each round runs every method once, starting
    one method later than the round before so no method always runs first or last."""
    for method in methods:
        method.returned = method.run()
    for round_index in range(repeats):
        shift = round_index % len(methods)
        for method in methods[shift:] + methods[:shift]:
            started_s = time.perf_counter()
            method.run()
            method.timings.runs_s.append(time.perf_counter() - started_s)


def report(methods: list[Method], stage_times: dict[str, list[float]], repeats: int) -> None:
    """The table, then PASS/FAIL. Ratios divide medians; < 1 means ours is faster."""
    ours_method, others = methods[0], methods[1:]
    ingest_s = statistics.median(stage_times["ingest"][1:])  # [0] is the warm-up
    print()
    print(f"{repeats} interleaved repeats after 1 warm-up each; page cache warm for all")
    print(f"{'method':<32} {'median s':>9} {'min s':>7} {'ours/it':>8} {'ingest/it':>10}  returned")
    for stage, runs_s in stage_times.items():
        row = f"  ours: {stage} only"
        print(f"{row:<32} {statistics.median(runs_s[1:]):>9.3f} {min(runs_s[1:]):>7.3f}")
    for method in methods:
        ratios = ""
        if method is not ours_method:
            ratio = ours_method.timings.median_s / method.timings.median_s
            ratios = f"{ratio:.2f}".rjust(8) + f"{ingest_s / method.timings.median_s:.2f}".rjust(11)
        print(
            f"{method.name:<32} {method.timings.median_s:>9.3f} {method.timings.min_s:>7.3f} "
            f"{ratios:>19}  {method.returned}"
        )
    print("ours/it = ours (ingest + preprocess, timed per run as one) / it; ingest/it = ours")
    print("ingest alone / it (the others only read: no grouping, ordering or preprocessing)")
    print()
    verdict = "PASS" if ours_method.timings.median_s < TARGET_S else "FAIL"
    print(
        f"ingest + preprocess < {TARGET_S:.0f} s: {verdict} ({ours_method.timings.median_s:.3f} s)"
    )
    for method in others:
        ratio = ours_method.timings.median_s / method.timings.median_s
        verdict = "PASS" if ratio <= 1 else "FAIL"
        print(f"ratio <= 1 vs {method.name}: {verdict} ({ratio:.2f})")


def print_what_ours_returns(series_dir: Path, spec: InputSpec) -> None:
    study = load_study(series_dir)
    model_input = preprocess_study(study, spec)
    print("ours returns (the whole job: cine grouping, slice and phase order, 4D array):")
    for name, view in study.views.items():
        print(
            f"  view {name}: pixels {view.pixels.dtype} {view.pixels.shape} (S, T, H, W), "
            f"{view.slice_spacing_mm:.1f} mm slice spacing, "
            f"RR {view.rr_interval_ms:.0f} ms, {len(view.series_instance_uids)} series"
        )
    print(f"  files read {study.n_files}, warnings {study.warnings or 'none'}")
    print(
        f"  ModelInput: sax {model_input.sax.shape} (slices, frames, crop, crop), "
        f"lax {model_input.lax.shape}, lax_present {model_input.lax_present.tolist()}"
    )
    print("the others return one flat stack of 300 images in file order, phases and slices mixed")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--slices", type=int, default=12, help="SAX slices of the test study")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    register_bench_site()
    study = synthesize_with_slices(args.slices, args.seed)
    spec = InputSpec()
    print(f"load average (1/5/15 min) at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        series_dir = write_sax_series(study, Path(tmp))
        n_files = sum(1 for _ in series_dir.iterdir())
        sax = study.series["sax"]
        print(
            f"test study {study.key}: {len(sax.planes)} slices x {len(sax.frames[0])} phases x "
            f"{sax.planes[0].size}^2, {n_files} files, one series ({study.site.transfer_syntax})"
        )
        print_what_ours_returns(series_dir, spec)
        stage_times: dict[str, list[float]] = {"ingest": [], "preprocess": []}
        methods = build_methods(series_dir, spec, stage_times)
        measure(methods, args.repeats)
    report(methods, stage_times, args.repeats)


if __name__ == "__main__":
    main()
