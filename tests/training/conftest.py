"""A tiny generated dataset: two training sites and one external site."""

from pathlib import Path

import pytest

from app.synth.dataset import generate_dataset


@pytest.fixture(scope="session")
def tiny_manifest(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    generate_dataset(20, ("site_a", "site_b"), seed=3, out_dir=out, workers=2, progress=False)
    generate_dataset(5, ("site_e",), seed=3, out_dir=out, workers=2, progress=False)
    return out / "manifest.csv"


@pytest.fixture(scope="session")
def tiny_acdc_manifest(realdata_dir: Path, tmp_path_factory) -> Path:
    """Ten real ACDC subjects (two per group, read in place through links), folds 1 and 2."""
    from app.acdc.manifest import subject_rows
    from app.domain.manifest import write_manifest

    root = tmp_path_factory.mktemp("acdc")
    for first in (1, 21, 41, 61, 81):  # the five groups, in id blocks of 20
        for number in (first, first + 1):
            name = f"patient{number:03d}"
            (root / name).symlink_to(realdata_dir / "acdc" / "training" / name)
    manifest = root / "manifest.csv"
    write_manifest(manifest, subject_rows(root))
    return manifest
