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
