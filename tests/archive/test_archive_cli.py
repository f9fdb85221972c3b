"""`python -m app.archive`: stats, evaluate, and an index run that refuses another model's
archive unless told to re-index. (Indexing real studies: tests/api/test_archive_routes.py.)"""

import json
from pathlib import Path

import numpy as np
import pytest
from archive_helpers import unit_vectors

from app.archive.__main__ import main
from app.archive.models import CaseRecord
from app.archive.store import SqliteArchive
from app.domain.manifest import write_manifest
from app.domain.vocabulary import CONDITIONS
from app.model_card import load_model_card

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CARD = load_model_card(PROJECT_ROOT / "model_repository")
N = 12


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    """12 studies cycling through the conditions; their folders do not exist (evaluation reads
    the archived vectors, not the DICOM files)."""
    rows = [
        {
            "study_id": f"site_d-s9-{i:05d}",
            "site": "site_d",
            "study_dir": f"site_d-s9-{i:05d}",
            "impression": "Normal study." if i % 6 == 0 else "The left ventricle is dilated.",
            **{f"label_{c}": int(c == CONDITIONS[i % len(CONDITIONS)]) for c in CONDITIONS},
        }
        for i in range(N)
    ]
    write_manifest(tmp_path / "manifest.csv", rows)
    return tmp_path / "manifest.csv"


def archive_of(manifest: Path, version: str) -> Path:
    path = manifest.parent / "archive.sqlite"
    archive = SqliteArchive.create(path, version, CARD.embed_dim)
    keys = [f"site_d-s9-{i:05d}" for i in range(N)]
    records = [CaseRecord(study_key=k, site="site_d", impression="Normal study.") for k in keys]
    archive.add(records, unit_vectors(N, dim=CARD.embed_dim))
    archive.close()
    return path


def test_stats_show_the_archive_and_the_served_model(
    manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["stats", "--archive", str(archive_of(manifest, CARD.version))])
    stats = json.loads(capsys.readouterr().out)
    assert stats["studies"] == N and stats["model_version"] == CARD.version
    assert stats["served_model_version"] == CARD.version and stats["embed_dim"] == CARD.embed_dim


def test_evaluate_writes_phrase_precision_and_finding_f1(manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval" / "archive.json"
    archive = archive_of(manifest, CARD.version)
    main(["evaluate", "--manifest", str(manifest), "--archive", str(archive), "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["model_version"] == CARD.version and result["studies"] == N
    assert set(result["phrase_search"]) == set(CARD.calibration.findings)
    for label, search in result["phrase_search"].items():
        assert 0 <= search["precision"] <= 1 and search["prompts"]
        assert search["prevalence"] == pytest.approx(2 / N), label
    for agreement in result["draft_findings"].values():
        assert agreement["support"] == 2 and 0 <= agreement["predicted"] <= N
    assert np.isfinite(result["macro_f1"])


def test_index_refuses_another_models_archive_unless_reindex(manifest: Path) -> None:
    archive = archive_of(manifest, "an-older-model")
    with pytest.raises(SystemExit, match="--reindex"):
        main(["index", "--manifest", str(manifest), "--archive", str(archive)])
    main(["index", "--manifest", str(manifest), "--archive", str(archive), "--reindex"])
    reindexed = SqliteArchive.open(archive, CARD.version, CARD.embed_dim)
    assert reindexed.count() == 0  # the old embeddings are gone; these folders do not exist
