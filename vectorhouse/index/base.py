"""The Index protocol every backend implements, and the records that cross it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from vectorhouse.search.filters import Filter


@dataclass(frozen=True)
class Chunk:
    """One indexed piece of a file in a store; `vector` is L2-normalised float32."""

    position: int
    text: str
    tokens: int
    vector: np.ndarray


@dataclass(frozen=True)
class Hit:
    """A raw signal from one search path: cosine similarity for vectors, BM25 (higher better) for text."""

    file_id: str
    position: int
    text: str
    score: float

    @property
    def key(self) -> tuple[str, int]:
        return (self.file_id, self.position)


class Index(Protocol):
    """Stores chunks per (store, file) and searches them, applying filters before the top-k cut."""

    def upsert(
        self, store_id: str, file_id: str, chunks: Sequence[Chunk], attributes: Mapping[str, Any] | None
    ) -> None:
        """Replace every chunk of this file in this store (idempotent, so a retried job is harmless)."""
        ...

    def delete_file(self, store_id: str, file_id: str) -> None: ...

    def delete_store(self, store_id: str) -> None: ...

    def set_attributes(self, store_id: str, file_id: str, attributes: Mapping[str, Any] | None) -> None: ...

    def search_vector(
        self, store_id: str, vector: np.ndarray, k: int, filter: Filter | None
    ) -> list[Hit]: ...

    def search_text(self, store_id: str, query: str, k: int, filter: Filter | None) -> list[Hit]: ...

    def keyword_scale(self, store_id: str, query: str) -> float:
        """The keyword score of a chunk holding every query term (that the store holds) once, at
        average length: the score that fusion maps to 0.5, so a keyword score means the same for a
        two-word and a ten-word query. 0.0 when no term of the query is in the store."""
        ...

    def score_chunks(
        self, store_id: str, keys: Sequence[tuple[str, int]], vector: np.ndarray, query: str
    ) -> dict[tuple[str, int], tuple[float, float]]:
        """Both raw signals of these (file_id, position) chunks, as the two searches score them:
        (cosine with `vector`, keyword score for `query`, 0.0 when no keyword matches). Hybrid search
        asks for the signal a candidate of one search is missing; chunks gone from the store are left out."""
        ...

    def file_chunks(self, store_id: str, file_id: str) -> list[str]:
        """The file's chunk texts in order (the store-file content page)."""
        ...

    def close(self) -> None: ...
