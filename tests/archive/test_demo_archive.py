"""The committed demo archive, which `make serve` searches on a fresh clone: built with the
released model from external-site studies only, and answering."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from app.archive.stats import archive_stats
from app.archive.store import SqliteArchive
from app.config import ServingSettings
from app.model_card import load_model_card
from app.synth.sites import SITES

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEMO = PROJECT_ROOT / ServingSettings.model_fields["archive_path"].default
CARD = load_model_card(PROJECT_ROOT / "model_repository")


@pytest.fixture(scope="module")
def demo_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy, so that no test touches the committed file."""
    copy = tmp_path_factory.mktemp("demo") / "demo.sqlite"
    shutil.copy(DEMO, copy)
    return copy


def test_demo_archive_matches_the_released_model(demo_copy: Path) -> None:
    stats = archive_stats(demo_copy)
    assert stats.model_version == CARD.version, "rebuild it: make demo-archive"
    assert stats.embed_dim == CARD.embed_dim
    external = {name for name, site in SITES.items() if site.external}
    assert stats.studies >= 150 and set(stats.per_site) <= external
    assert stats.dated == stats.studies
    assert stats.file_bytes < 2_000_000  # committed: kept small


def test_demo_archive_answers_a_search(demo_copy: Path) -> None:
    archive = SqliteArchive.open(demo_copy, CARD.version, CARD.embed_dim)
    query = np.random.default_rng(0).standard_normal(CARD.embed_dim).astype(np.float32)
    hits = archive.search(query / np.linalg.norm(query), 10)
    assert len(hits) == 10 and all(hit.impression for hit in hits)
    archive.close()
