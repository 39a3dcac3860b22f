"""The embedded index's file attributes in memory, and the files each filter selects, kept per store."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from vectorhouse.index.filters import Comparison, Compound, FileIn, Filter, matches

SELECTIONS_PER_STORE = 64  # filters remembered per store; a write to the store forgets them

# (file id, attributes as JSON or None) of one store, read from SQLite
AttributeReader = Callable[[str], list[tuple[str, str | None]]]


def selection_key(f: Filter) -> Hashable:
    """The filter as a key that tells True, 1 and 1.0 apart (Python's == does not; `matches` does)."""
    if isinstance(f, Comparison):
        return ("cmp", f.key, f.op, _typed(f.value))
    if isinstance(f, Compound):
        return (f.op, tuple(selection_key(g) for g in f.filters))
    if isinstance(f, FileIn):
        return ("files", f.file_ids)
    return ("words", f.words)


def _typed(value: object) -> Hashable:
    if isinstance(value, tuple):
        return tuple(_typed(v) for v in value)
    return (type(value).__name__, value)


class FileAttributes:
    """Parsed once per store (not once per search), and the answer per filter remembered until the
    store's attributes change: a filter at 100k files costs a dictionary walk once, then a lookup."""

    def __init__(self, read: AttributeReader) -> None:
        self._read = read
        self._lock = threading.Lock()
        self._stores: dict[str, dict[str, Mapping[str, Any] | None]] = {}
        self._selections: dict[str, OrderedDict[Hashable, frozenset[str]]] = {}
        self._generation: dict[str, int] = {}  # per store, bumped by every change

    def _store(self, store_id: str) -> dict[str, Mapping[str, Any] | None]:
        while True:
            attributes = self._stores.get(store_id)
            if attributes is not None:
                return attributes
            generation = self._generation.get(store_id, 0)
            read = {fid: json.loads(raw) if raw else None for fid, raw in self._read(store_id)}
            with self._lock:
                if self._generation.get(store_id, 0) == generation:  # else a write raced the read: again
                    return self._stores.setdefault(store_id, read)

    def selected(self, store_id: str, filter: Filter | None) -> frozenset[str] | None:
        """The store's files that pass the filter (None = no filter, every file)."""
        if filter is None:
            return None
        key = selection_key(filter)
        with self._lock:
            remembered = self._selections.get(store_id)
            if remembered is not None and key in remembered:
                remembered.move_to_end(key)
                return remembered[key]
        generation = self._generation.get(store_id, 0)
        attributes = self._store(store_id)
        files = frozenset(fid for fid, attrs in list(attributes.items()) if matches(filter, attrs, fid))
        with self._lock:
            if self._generation.get(store_id, 0) == generation:  # no write came in meanwhile
                remembered = self._selections.setdefault(store_id, OrderedDict())
                remembered[key] = files
                if len(remembered) > SELECTIONS_PER_STORE:
                    remembered.popitem(last=False)
        return files

    def written(self, store_id: str, file_id: str, attributes: Mapping[str, Any] | None,
                only_if_held: bool = False) -> None:
        """After a commit that set a file's attributes (`only_if_held`: an update of a file the store
        may not hold, which then changed nothing)."""
        parsed = json.loads(json.dumps(attributes)) if attributes is not None else None  # as read back

        def change(store: dict[str, Mapping[str, Any] | None]) -> None:
            if file_id in store or not only_if_held:
                store[file_id] = parsed

        self._changed(store_id, change)

    def deleted(self, store_id: str, file_id: str | None) -> None:
        """After a commit that deleted one file (or, with None, the whole store)."""
        if file_id is None:
            with self._lock:
                self._generation[store_id] = self._generation.get(store_id, 0) + 1
                self._stores.pop(store_id, None)
                self._selections.pop(store_id, None)
            return
        self._changed(store_id, lambda store: store.pop(file_id, None))

    def _changed(self, store_id: str, change: Callable[[dict[str, Mapping[str, Any] | None]], object]) -> None:
        with self._lock:
            self._generation[store_id] = self._generation.get(store_id, 0) + 1
            self._selections.pop(store_id, None)
            store = self._stores.get(store_id)
            if store is not None:
                change(store)
