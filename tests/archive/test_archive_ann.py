"""The ANN path past `exact_max` studies: recall against exact search, filters, and a saved
graph that is reused, caught up after a crash, or rebuilt when it is stale or gone."""

from pathlib import Path

import numpy as np
import pytest
from archive_helpers import DIM, MODEL, create, records, unit_vectors

from app.archive.ann import AnnIndex, AnnSettings, ann_path
from app.archive.models import SearchFilters
from app.archive.store import ArchiveOptions, SqliteArchive

N = 3000
EXACT_MAX = 200


def _exact(vectors: np.ndarray, query: np.ndarray, k: int, rows: np.ndarray | None = None):
    rows = np.arange(len(vectors)) if rows is None else rows
    order = np.argsort(-(vectors[rows] @ query))[:k]
    return {f"key-{i:04d}" for i in rows[order]}


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ann") / "big.sqlite"
    archive = create(path, exact_max=EXACT_MAX, ann_save_every=10 * N)
    vectors = unit_vectors(N, seed=4)
    for start in range(0, N, 500):
        archive.add(records(start, 500), vectors[start : start + 500])
    archive.close()
    return path


def _open(path: Path) -> SqliteArchive:
    return SqliteArchive.open(path, MODEL, DIM, ArchiveOptions(exact_max=EXACT_MAX))


def test_ann_recall_at_10_against_exact_search(indexed: Path) -> None:
    archive, vectors = _open(indexed), unit_vectors(N, seed=4)
    queries = unit_vectors(50, seed=11)
    found = 0
    for query in queries:
        hits = archive.search(query, 10)
        found += len({h.study_key for h in hits} & _exact(vectors, query, 10))
        assert [h.similarity for h in hits] == sorted((h.similarity for h in hits), reverse=True)
    assert found / (10 * len(queries)) >= 0.98


def test_filters_on_the_ann_path_return_only_matching_studies(indexed: Path) -> None:
    archive, vectors = _open(indexed), unit_vectors(N, seed=4)
    query = unit_vectors(1, seed=12)[0]
    hits = archive.search(query, 10, SearchFilters(site="site_e"))  # 1500 rows: ANN + filter
    assert {h.site for h in hits} == {"site_e"}
    odd = np.arange(1, N, 2)
    assert len({h.study_key for h in hits} & _exact(vectors, query, 10, odd)) >= 9


def test_the_saved_graph_is_caught_up_after_a_crash(indexed: Path, tmp_path: Path) -> None:
    """A writer dies after committing rows its saved graph does not hold: at open the graph is
    loaded and the missing rows added, so the newest studies are found."""
    path = tmp_path / "copy.sqlite"
    path.write_bytes(indexed.read_bytes())
    for suffix in ("", ".json"):
        graph = ann_path(indexed).with_name(ann_path(indexed).name + suffix)
        (tmp_path / graph.name.replace("big", "copy")).write_bytes(graph.read_bytes())
    writer = create(path, exact_max=EXACT_MAX, ann_save_every=10 * N)
    newest = unit_vectors(20, seed=99)
    writer.add(records(N, 20), newest)  # committed, graph not saved: then the "crash"
    loaded = AnnIndex.load(ann_path(path), DIM, AnnSettings(), 1, MODEL)
    assert loaded is not None and loaded[1].max_row_id == N  # the saved graph lags
    reader = _open(path)
    assert reader.count() == N + 20
    assert reader.search(newest[7], 1)[0].study_key == f"key-{N + 7:04d}"


def test_a_stale_or_missing_graph_is_rebuilt(indexed: Path, tmp_path: Path) -> None:
    path = tmp_path / "rebuilt.sqlite"
    path.write_bytes(indexed.read_bytes())  # no graph beside it
    archive = _open(path)
    assert archive.search(unit_vectors(N, seed=4)[42], 1)[0].study_key == "key-0042"
    ann_path(path).write_bytes(b"garbage")
    ann_path(path).with_name(ann_path(path).name + ".json").write_text("{}")
    assert _open(path).search(unit_vectors(N, seed=4)[43], 1)[0].study_key == "key-0043"
