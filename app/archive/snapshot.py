"""The searchable in-memory view of an archive: vectors, filter columns and, past `exact_max`
studies, an ANN graph over the same rows.

Search is exact (an exhaustive scan) while the candidates after filtering number at most
`exact_max`; beyond that the graph proposes candidates, filters drop the ones that do not match
and the survivors are re-scored exactly, so every similarity returned is a true cosine.
"""

import datetime as dt
from dataclasses import dataclass

import numpy as np

from app.archive.ann import AnnIndex, exact_search
from app.archive.models import SearchFilters

NO_DATE = -1  # date ordinals start at 1


@dataclass(frozen=True)
class Rows:
    """Rows read from the store, in row-id order: ids (N,) int64, unit vectors (N, D) float32,
    sites and dates (None where unknown)."""

    row_ids: np.ndarray
    vectors: np.ndarray
    sites: list[str | None]
    dates: list[dt.date | None]


class VectorSnapshot:
    def __init__(self, dim: int, exact_max: int) -> None:
        self.dim = dim
        self.exact_max = exact_max
        self.ann: AnnIndex | None = None
        self.size = 0
        self._row_ids = np.zeros(0, np.int64)
        self._vectors = np.zeros((0, dim), np.float32)
        self._site_codes = np.zeros(0, np.int32)  # -1 = unknown site
        self._days = np.zeros(0, np.int32)  # date ordinal, NO_DATE = unknown
        self._site_index: dict[str, int] = {}

    @property
    def max_row_id(self) -> int:
        return int(self._row_ids[self.size - 1]) if self.size else 0

    @property
    def row_ids(self) -> np.ndarray:
        return self._row_ids[: self.size]

    @property
    def vectors(self) -> np.ndarray:
        return self._vectors[: self.size]

    def append(self, rows: Rows) -> None:
        n = len(rows.row_ids)
        if n == 0:
            return
        self._reserve(self.size + n)
        end = self.size + n
        self._row_ids[self.size : end] = rows.row_ids
        self._vectors[self.size : end] = rows.vectors
        self._site_codes[self.size : end] = [self._site_code(s) for s in rows.sites]
        self._days[self.size : end] = [d.toordinal() if d else NO_DATE for d in rows.dates]
        self.size = end
        if self.ann is not None:
            self.ann.add(rows.row_ids, rows.vectors)

    @property
    def needs_ann(self) -> bool:
        """Past exact_max rows without a graph: the owner loads a saved one or builds one."""
        return self.ann is None and self.size > self.exact_max

    def attach_ann(self, ann: AnnIndex, max_row_id: int) -> None:
        """Use `ann`, which holds the rows up to `max_row_id`: the newer ones are added now."""
        newer = self.row_ids > max_row_id
        ann.add(self.row_ids[newer], self.vectors[newer])
        self.ann = ann

    def nearest(
        self, query: np.ndarray, k: int, filters: SearchFilters | None, excluded: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(row ids (<= k,), cosine similarities) of the most similar allowed rows, descending.
        `excluded`: row ids never to return."""
        allowed = self._allowed(filters, excluded)
        candidates = self.size if allowed is None else int(allowed.sum())
        if candidates == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if self.ann is None or candidates <= self.exact_max:
            if allowed is None:  # a slice, not a gather: no copy of the whole matrix
                similarity, positions = exact_search(query, self.vectors, k)
            else:
                subset = np.flatnonzero(allowed)
                similarity, found = exact_search(query, self._vectors[subset], k)
                positions = subset[found]
        else:
            positions = self._ann_candidates(query, k, allowed)
            similarity = np.einsum("nd,d->n", self._vectors[positions], query)  # exact re-score
        return self._top(positions, similarity, k)

    def _top(
        self, positions: np.ndarray, similarity: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k most similar of `positions`, descending (ties: older rows first)."""
        if len(similarity) > k:
            keep = np.argpartition(-similarity, k - 1)[:k]
            positions, similarity = positions[keep], similarity[keep]
        order = np.lexsort((positions, -similarity))
        return self._row_ids[positions[order]], similarity[order]

    def _ann_candidates(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> np.ndarray:
        """Positions of at least k allowed rows proposed by the graph, fetching 4x more each
        round while filters reject too many; every allowed row if the graph runs out."""
        assert self.ann is not None
        fetch = min(self.size, 4 * k)
        while True:
            positions = np.searchsorted(self.row_ids, self.ann.search(query, fetch))
            if allowed is not None:
                positions = positions[allowed[positions]]
            if len(positions) >= k:
                return positions
            if fetch >= self.size:
                return np.arange(self.size) if allowed is None else np.flatnonzero(allowed)
            fetch = min(self.size, 4 * fetch)

    def _allowed(self, filters: SearchFilters | None, excluded: np.ndarray) -> np.ndarray | None:
        """Boolean mask over rows, or None when every row is allowed."""
        mask: np.ndarray | None = None
        if filters is not None and filters.site is not None:
            mask = self._site_codes[: self.size] == self._site_index.get(filters.site, -2)
        if filters is not None and (filters.date_from or filters.date_to):
            days = self._days[: self.size]
            in_range = days != NO_DATE
            if filters.date_from:
                in_range &= days >= filters.date_from.toordinal()
            if filters.date_to:
                in_range &= days <= filters.date_to.toordinal()
            mask = in_range if mask is None else mask & in_range
        if len(excluded):
            mask = np.ones(self.size, bool) if mask is None else mask
            mask[np.isin(self.row_ids, excluded)] = False
        return mask

    def _site_code(self, site: str | None) -> int:
        if site is None:
            return -1
        return self._site_index.setdefault(site, len(self._site_index))

    def _reserve(self, needed: int) -> None:
        """Grow the columns geometrically, so appending batch after batch stays linear."""
        capacity = len(self._row_ids)
        if needed <= capacity:
            return
        capacity = max(needed, 2 * capacity, 1024)
        self._row_ids = _grown(self._row_ids, capacity)
        self._vectors = _grown(self._vectors, capacity)
        self._site_codes = _grown(self._site_codes, capacity)
        self._days = _grown(self._days, capacity)


def _grown(array: np.ndarray, capacity: int) -> np.ndarray:
    grown = np.zeros((capacity, *array.shape[1:]), array.dtype)
    grown[: len(array)] = array
    return grown
