"""The Index protocol every backend implements, and the records that cross it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from vectorhouse.index.filters import Filter


def check_dimension(dimension: int, largest: int, what: str) -> None:
    """A vector length a backend can index: 1..largest (`what` names the limit in the error)."""
    if not (isinstance(dimension, int) and 0 < dimension <= largest):
        raise ValueError(f"vector dimension must be 1..{largest} ({what}), got {dimension!r}")


@dataclass(frozen=True)
class Chunk:
    """One indexed piece of a file in a store; `vector` is L2-normalised float32."""

    position: int
    text: str
    tokens: int
    vector: np.ndarray


@dataclass(frozen=True)
class FileWrite:
    """One file's chunks for `Index.upsert_files`: what one `upsert` call takes."""

    store_id: str
    file_id: str
    chunks: Sequence[Chunk]
    attributes: Mapping[str, Any] | None


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
    """Stores chunks per (store, file) and searches them, applying (resolved) filters before the top-k cut."""

    def upsert(
        self, store_id: str, file_id: str, chunks: Sequence[Chunk], attributes: Mapping[str, Any] | None
    ) -> None:
        """Replace every chunk of this file in this store (idempotent, so a retried job is harmless)."""
        ...

    def upsert_files(self, writes: Sequence[FileWrite]) -> list[Exception | None]:
        """`upsert` each file; all are searchable when this returns. A file that could not be written
        gets its error in its slot (the others are written); a backend may write them together (one
        bulk request and one refresh, where each write would otherwise wait for a refresh of its own)."""
        ...

    def delete_file(self, store_id: str, file_id: str) -> None: ...

    def delete_store(self, store_id: str) -> None: ...

    def set_attributes(self, store_id: str, file_id: str, attributes: Mapping[str, Any] | None) -> None: ...

    def search_vector(
        self, store_id: str, vector: np.ndarray, k: int, filter: Filter | None
    ) -> list[Hit]:
        """Filters arrive resolved: a TextContains is already the FileIn of `files_with_words`."""
        ...

    def files_with_words(self, store_id: str, words: tuple[str, ...]) -> set[str]:
        """The store's files whose chunks hold every word, each anywhere in the file, as the backend's
        keyword search analyses words (what a TextContains filter resolves to, once per search)."""
        ...

    def search_text(self, store_id: str, query: str, k: int, filter: Filter | None) -> list[Hit]: ...

    def mean_vector(self, store_id: str) -> np.ndarray | None:
        """The mean of the store's chunk vectors (None when it has none). Its dot product with a query
        vector is the query's mean cosine over the store, what an unrelated chunk scores: hybrid
        fusion measures cosines up from there. A backend may estimate it from a sample of the chunks."""
        ...

    def keyword_scale(self, store_id: str, query: str) -> float:
        """The keyword score of a chunk holding every query term once, at average length, a term the
        store lacks counting at the largest IDF (that of a term no chunk holds): the score fusion maps
        to 0.5. So a keyword score means the same for a two-word and a ten-word query, and a chunk
        matching one ordinary word of a question the store mostly lacks gets little. 0.0 when the
        query has no keyword terms, or none of them is in the store (no chunk can match then)."""
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

    def ping(self) -> None:
        """Raise when the backend cannot be reached (readiness checks); return quickly otherwise."""
        ...

    def close(self) -> None: ...


def upsert_each(index: Index, writes: Sequence[FileWrite]) -> list[Exception | None]:
    """`Index.upsert_files` one `upsert` at a time, for a backend whose writes are searchable at once."""
    errors: list[Exception | None] = []
    for write in writes:
        try:
            index.upsert(write.store_id, write.file_id, write.chunks, write.attributes)
        except Exception as exc:  # this file fails; the others are still written
            errors.append(exc)
        else:
            errors.append(None)
    return errors
