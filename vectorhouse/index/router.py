"""Routes each Index call to the backend its store was created on (recorded in the catalog)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from vectorhouse.index.base import Chunk, FileWrite, Hit, Index
from vectorhouse.index.filters import Filter


class IndexRouter:
    """An Index over several backends: built lazily by name, chosen per store by `backend_of`."""

    def __init__(self, factories: Mapping[str, Callable[[], Index]], backend_of: Callable[[str], str]) -> None:
        self.factories = dict(factories)
        self.backend_of = backend_of
        self._built: dict[str, Index] = {}
        self._store_backend: dict[str, str] = {}
        self._lock = threading.Lock()

    def backend(self, name: str) -> Index:
        with self._lock:
            index = self._built.get(name)
            if index is None:
                index = self._built[name] = self.factories[name]()
            return index

    def _for(self, store_id: str) -> Index:
        name = self._store_backend.get(store_id)
        if name is None:
            # A store's backend never changes, so the answer can be kept.
            name = self._store_backend[store_id] = self.backend_of(store_id)
        return self.backend(name)

    def upsert(self, store_id: str, file_id: str, chunks: Sequence[Chunk],
               attributes: Mapping[str, Any] | None) -> None:
        self._for(store_id).upsert(store_id, file_id, chunks, attributes)

    def upsert_files(self, writes: Sequence[FileWrite]) -> list[Exception | None]:
        """Each backend writes its stores' files together; the errors come back in the writes' order."""
        errors: list[Exception | None] = [None] * len(writes)
        groups: dict[int, tuple[Index, list[int]]] = {}
        for slot, write in enumerate(writes):
            try:
                backend = self._for(write.store_id)
            except Exception as exc:  # the store's backend cannot be built: its files fail
                errors[slot] = exc
                continue
            groups.setdefault(id(backend), (backend, []))[1].append(slot)
        for backend, slots in groups.values():
            for slot, error in zip(slots, backend.upsert_files([writes[s] for s in slots]), strict=True):
                errors[slot] = error
        return errors

    def delete_file(self, store_id: str, file_id: str) -> None:
        self._for(store_id).delete_file(store_id, file_id)

    def delete_store(self, store_id: str) -> None:
        """Every backend built here forgets the store: its catalog row may be gone already (deletion
        commits it first), and a backend without the store deletes nothing."""
        with self._lock:
            built = list(self._built.values())
        for index in built:
            index.delete_store(store_id)
        self._store_backend.pop(store_id, None)

    def set_attributes(self, store_id: str, file_id: str, attributes: Mapping[str, Any] | None) -> None:
        self._for(store_id).set_attributes(store_id, file_id, attributes)

    def search_vector(self, store_id: str, vector: np.ndarray, k: int, filter: Filter | None) -> list[Hit]:
        return self._for(store_id).search_vector(store_id, vector, k, filter)

    def search_text(self, store_id: str, query: str, k: int, filter: Filter | None) -> list[Hit]:
        return self._for(store_id).search_text(store_id, query, k, filter)

    def files_with_words(self, store_id: str, words: tuple[str, ...]) -> set[str]:
        return self._for(store_id).files_with_words(store_id, words)

    def mean_vector(self, store_id: str) -> np.ndarray | None:
        return self._for(store_id).mean_vector(store_id)

    def keyword_scale(self, store_id: str, query: str) -> float:
        return self._for(store_id).keyword_scale(store_id, query)

    def score_chunks(self, store_id: str, keys: Sequence[tuple[str, int]], vector: np.ndarray,
                     query: str) -> dict[tuple[str, int], tuple[float, float]]:
        return self._for(store_id).score_chunks(store_id, keys, vector, query)

    def file_chunks(self, store_id: str, file_id: str) -> list[str]:
        return self._for(store_id).file_chunks(store_id, file_id)

    def ping(self) -> None:
        for index in list(self._built.values()):
            index.ping()

    def close(self) -> None:
        with self._lock:
            for index in self._built.values():
                index.close()
            self._built.clear()
