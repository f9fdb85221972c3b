"""prepare_study: what travels on from ingestion to the encoder."""

import weakref
from pathlib import Path

import pytest

from app.config import IngestLimits
from app.dicom import ingest
from app.dicom.study import CineStudy, StudyOutline
from app.model_card import load_model_card
from app.pipeline import prepare
from app.synth.study import synthesize_study

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"


def test_the_full_resolution_pixels_are_released_once_preprocessed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = synthesize_study("site_c", seed=3, index=1)
    uploads = [(p.name, p.read_bytes()) for p in sorted(study.write(tmp_path))]
    ingested: list[weakref.ref] = []
    outlines: list[StudyOutline] = []

    def load_and_watch(source: object, limits: IngestLimits) -> CineStudy:
        cine = ingest.load_study(source, limits)  # type: ignore[arg-type]
        ingested.extend(weakref.ref(view.pixels) for view in cine.views.values())
        outlines.append(cine.outline())
        return cine

    monkeypatch.setattr(prepare, "load_study", load_and_watch)
    prepared = prepare.prepare_study(uploads, load_model_card(REPOSITORY), IngestLimits())

    assert ingested and all(pixels() is None for pixels in ingested)
    assert prepared.outline == outlines[0]
    assert prepared.outline.views[0] == "sax" and len(prepared.outline.views) >= 2
    assert prepared.outline.slices > 1 and prepared.outline.phases > 1
    assert prepared.outline.n_files == len(uploads)
