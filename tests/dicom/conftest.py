"""Fixtures for DICOM ingestion tests: the real Sunnybrook study, variants derived from it in a
tmp dir (never written into shared/), and pydicom's shipped test files (read from disk: never
through pydicom.data.get_testdata_file, which may try the network)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from dicom_helpers import parse, to_bytes
from pydicom import config as pydicom_config
from pydicom.dataset import Dataset

from app.dicom.ingest import load_study
from app.dicom.study import CineStudy

# edit(ds, instance_number) -> None (drop the file), a Dataset, or [(file name, Dataset), ...]
Edit = Callable[[Dataset, int], "Dataset | list[tuple[str, Dataset]] | None"]


@pytest.fixture(scope="session")
def sunnybrook_dir(realdata_dir: Path) -> Path:
    path = realdata_dir / "sunnybrook_SCD0000101" / "dicom"
    if not path.is_dir():
        pytest.skip("Sunnybrook study not found")
    return path


@pytest.fixture(scope="session")
def contours_dir(realdata_dir: Path) -> Path:
    return realdata_dir / "sunnybrook_SCD0000101" / "contours" / "i-contours"


@pytest.fixture(scope="session")
def sunnybrook_bytes(sunnybrook_dir: Path) -> dict[int, bytes]:
    """InstanceNumber (= file stem) -> file bytes, 240 files."""
    return {int(p.stem): p.read_bytes() for p in sunnybrook_dir.glob("*.dcm")}


@pytest.fixture(scope="session")
def sunnybrook_study(sunnybrook_dir: Path) -> CineStudy:
    return load_study(sunnybrook_dir)


@pytest.fixture
def derive(tmp_path: Path, sunnybrook_bytes: dict[int, bytes]) -> Callable[[Edit], Path]:
    """Write a variant of the Sunnybrook study to a fresh tmp dir and return the dir."""
    counter = iter(range(1000))

    def _derive(edit: Edit) -> Path:
        out = tmp_path / f"variant{next(counter)}"
        out.mkdir()
        for instance, data in sorted(sunnybrook_bytes.items()):
            with pydicom_config.disable_value_validation():  # edits may write invalid values
                result = edit(parse(data), instance)
            if result is None:
                continue
            named = [(f"{instance}.dcm", result)] if isinstance(result, Dataset) else result
            for name, ds in named:
                (out / name).write_bytes(to_bytes(ds))
        return out

    return _derive
