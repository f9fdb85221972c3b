"""Helpers shared by the DICOM ingestion tests (imported by name: tests/dicom is on sys.path)."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
from pydicom import config as pydicom_config
from pydicom.dataset import Dataset

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
N_SLICES, N_PHASES = 12, 20


def parse(data: bytes) -> Dataset:
    with pydicom_config.disable_value_validation():
        return pydicom.dcmread(io.BytesIO(data))


def to_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    with pydicom_config.disable_value_validation():
        ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def slice_phase(instance: int) -> tuple[int, int]:
    """Sunnybrook files are slice-major: instance 1..20 is slice 0 (base), phases 0..19."""
    return (instance - 1) // N_PHASES, (instance - 1) % N_PHASES
