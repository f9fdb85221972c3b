"""DICOM ingestion: files, zips or uploads -> `CineStudy` (see `load_study`).

Modules, in data-path order: sources (payloads, zip safety) -> reader + frames (headers, pixel
decoding) -> clips + stacks + series (cine selection) -> ingest (wiring, time resampling).
`load_study` is imported lazily so that `app.dicom.study` stays importable without pydicom.
"""

from typing import Any

__all__ = ["load_study"]


def __getattr__(name: str) -> Any:
    if name == "load_study":
        from app.dicom.ingest import load_study

        return load_study
    raise AttributeError(name)
