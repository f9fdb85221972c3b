"""Approximate nearest neighbours over unit vectors: a faiss HNSW graph (inner product).

The graph is a derived view of the SQLite store, never the truth: its ids are the store's row
ids, and a saved graph carries a JSON sidecar saying which rows it holds (archive generation,
model version, highest row id). A graph that is missing, unreadable or stale is rebuilt or caught
up from SQLite at open, so an interrupted write can cost time but never data.

Why faiss-cpu (bench/bench_archive.py, same HNSW parameters for the three libraries, figures
in the README): the best recall at every efSearch on 10^5 random unit vectors (0.994 at 1024,
hnswlib and usearch 0.987), wheels for every platform; hnswlib installs from source (no wheel for
Python 3.11, last release 2023); usearch's wheel, imported before onnxruntime, crashes
onnxruntime's import (a statically linked libstdc++), a trap in a process that runs the embedded
backend. Exact search goes through faiss too (`exact_search`), for the reason given there.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError


@dataclass(frozen=True)
class AnnSettings:
    """HNSW parameters. The defaults reach recall@10 >= 0.98 against exact search on 10^5
    random unit vectors of 128 dimensions (0.995, bench/bench_archive.py) but only 0.70 on 10^6,
    where efSearch 4096 is needed for 0.97: random vectors are the hard case (real embeddings
    cluster and do better); measure on your own archive before trusting ANN past 10^5."""

    connectivity: int = 32  # M: neighbours per node
    expansion_add: int = 100  # efConstruction: 200 doubles build time for ~0.5 % recall
    expansion_search: int = 1024  # efSearch
    threads: int = 0  # OpenMP threads while adding; 0 = all cores


class AnnState(BaseModel):
    """What a saved graph holds, written beside it as `<graph>.json`."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    generation: int
    model_version: str
    dim: int
    max_row_id: int
    count: int
    graph: dict[str, int]  # the parameters that shape the graph (see _graph_params)


class AnnIndex:
    def __init__(self, dim: int, settings: AnnSettings, index: faiss.Index | None = None) -> None:
        self.dim = dim
        self.settings = settings
        if index is None:
            hnsw = faiss.IndexHNSWFlat(dim, settings.connectivity, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = settings.expansion_add
            index = faiss.IndexIDMap2(hnsw)
        self._index = index
        self.expansion_search = settings.expansion_search

    @property
    def expansion_search(self) -> int:
        """efSearch: a query-time choice, not saved with the graph."""
        return int(faiss.downcast_index(self._index.index).hnsw.efSearch)

    @expansion_search.setter
    def expansion_search(self, ef: int) -> None:
        faiss.downcast_index(self._index.index).hnsw.efSearch = ef

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, row_ids: np.ndarray, vectors: np.ndarray) -> None:
        """row_ids (N,) int64, unit vectors (N, D) float32."""
        if len(row_ids):
            faiss.omp_set_num_threads(self.settings.threads or os.cpu_count() or 1)
            self._index.add_with_ids(
                np.ascontiguousarray(vectors, np.float32), row_ids.astype(np.int64)
            )

    def search(self, query: np.ndarray, count: int) -> np.ndarray:
        """Row ids (<= count,) of the approximate nearest neighbours of one unit query (D,)."""
        faiss.omp_set_num_threads(1)  # one query: a thread team would only add overhead
        _, ids = self._index.search(np.ascontiguousarray(query[None], np.float32), count)
        return ids[0][ids[0] >= 0]

    def save(self, path: Path, state: AnnState) -> None:
        """Write the graph, then its sidecar, each atomically (a torn pair reads as stale)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        faiss.write_index(self._index, str(tmp))
        os.replace(tmp, path)
        sidecar = _sidecar(path)
        tmp_sidecar = sidecar.with_name(sidecar.name + ".tmp")
        tmp_sidecar.write_text(state.model_dump_json())
        os.replace(tmp_sidecar, sidecar)

    def state(self, generation: int, model_version: str, max_row_id: int) -> AnnState:
        return AnnState(
            generation=generation,
            model_version=model_version,
            dim=self.dim,
            max_row_id=max_row_id,
            count=len(self),
            graph=_graph_params(self.settings),
        )

    @classmethod
    def load(
        cls, path: Path, dim: int, settings: AnnSettings, generation: int, model_version: str
    ) -> "tuple[AnnIndex, AnnState] | None":
        """The saved graph if it belongs to this archive generation, model and graph
        parameters; None when it is missing, unreadable or stale (the caller rebuilds)."""
        try:
            state = AnnState.model_validate_json(_sidecar(path).read_text())
            wanted = (generation, model_version, dim, _graph_params(settings))
            if (state.generation, state.model_version, state.dim, state.graph) != wanted:
                return None
            index = cls(dim, settings, faiss.read_index(str(path)))
        except (OSError, RuntimeError, AttributeError, ValidationError, json.JSONDecodeError):
            return None
        return (index, state) if len(index) == state.count else None


def exact_search(query: np.ndarray, base: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(inner products (k,), indices (k,)) of the k rows of `base` (N, D) nearest to one unit
    query (D,), best first, by an exhaustive scan on one thread. Not numpy's `base @ query`:
    OpenBLAS splits that product across threads, and on cores busy with inference the split
    alone costs milliseconds (measured: 16 ms instead of 0.2 ms for 10^4 rows on 2 busy cores).
    """
    faiss.omp_set_num_threads(1)
    similarity, found = faiss.knn(
        np.ascontiguousarray(query[None], np.float32),
        np.ascontiguousarray(base, np.float32),
        min(k, len(base)),
        metric=faiss.METRIC_INNER_PRODUCT,
    )
    return similarity[0], found[0]


def _graph_params(settings: AnnSettings) -> dict[str, int]:
    return {"connectivity": settings.connectivity, "expansion_add": settings.expansion_add}


def ann_path(archive_path: Path) -> Path:
    """Where the graph of the archive file `archive_path` is saved."""
    return archive_path.with_suffix(".faiss")


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")
