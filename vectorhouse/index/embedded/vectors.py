"""The embedded index's in-memory vectors: one immutable snapshot per store, and its HNSW graph."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import hnswlib
import numpy as np


@dataclass(frozen=True)
class StoreVectors:
    """An immutable snapshot of one store's vectors; writers swap in a new one."""

    ids: np.ndarray  # chunk row ids, int64
    file_ids: np.ndarray  # object array of str
    matrix: np.ndarray  # (n, dim) float32
    total: np.ndarray  # (dim,) float64: the rows' sum, kept by writers as they add and drop rows

    @cached_property
    def _files(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct file ids and, per row, the index of its file among them (computed once per snapshot)."""
        return np.unique(self.file_ids, return_inverse=True)  # type: ignore[return-value]

    def rows_of(self, files: set[str]) -> np.ndarray:
        """Boolean mask of the rows that belong to `files`; integer work, not string compares per row."""
        distinct, row_file = self._files
        wanted = np.flatnonzero(np.fromiter((f in files for f in distinct), dtype=bool, count=len(distinct)))
        return np.isin(row_file, wanted)

    @classmethod
    def empty(cls, dim: int) -> StoreVectors:
        return cls(np.empty(0, np.int64), np.empty(0, object), np.empty((0, dim), np.float32), np.zeros(dim))


class Ann:
    """An HNSW graph over a store's vectors, labelled by chunk row id, kept in step with writes."""

    def __init__(self, snapshot: StoreVectors) -> None:
        dim = snapshot.matrix.shape[1]
        self.index = hnswlib.Index(space="ip", dim=dim)
        self.index.init_index(max_elements=max(1024, len(snapshot.ids) * 2), ef_construction=200, M=16)
        self.index.set_ef(128)
        if len(snapshot.ids):
            self.index.add_items(snapshot.matrix, snapshot.ids)

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        needed = self.index.get_current_count() + len(ids)
        if needed > self.index.get_max_elements():
            self.index.resize_index(needed * 2)
        self.index.add_items(vectors, ids)

    def remove(self, ids: np.ndarray) -> None:
        for label in ids.tolist():
            self.index.mark_deleted(label)

    def query(self, vector: np.ndarray, k: int, allowed: set[int] | None) -> tuple[np.ndarray, np.ndarray]:
        self.index.set_ef(max(128, k * 2))
        labels, distances = self.index.knn_query(
            vector.reshape(1, -1), k=k, filter=(allowed.__contains__ if allowed is not None else None)
        )
        return labels[0], 1.0 - distances[0]
