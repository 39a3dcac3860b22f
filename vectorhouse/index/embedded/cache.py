"""The embedded index's vectors: each store's rows in memory, its HNSW graph kept, saved and reloaded, and search."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vectorhouse.index.embedded.memo import SameObjects
from vectorhouse.index.embedded.vectors import Ann, StoreBuffer, StoreVectors

log = logging.getLogger("vectorhouse.index")
# A filtered graph search first asks for OVERSAMPLE x k / (the filter's share) unfiltered results, when
# that is at most WIDE_SEARCH_MAX (a share of 1% or more, for k = 10).
OVERSAMPLE, WIDE_SEARCH_MAX = 3, 3000


@dataclass(frozen=True)
class RowSource:
    """How the cache reads SQLite: a store's rows whole, or only its owners, and vectors by id."""

    rows: Callable[[str], tuple[np.ndarray, list[str], np.ndarray]]  # ids ascending, file ids, (n, dim)
    owners: Callable[[str], tuple[np.ndarray, list[str]]]  # ids ascending, file ids
    vectors: Callable[[np.ndarray], np.ndarray]  # (len(ids), dim) in the order of the ids


class VectorCache:
    """Writers call `added`/`dropped` under `lock` after their SQLite commit; readers take `view`s.

    A store gets a graph once it holds more than `graph_min_chunks` chunks; from then on every write
    updates it, and it is saved under `graphs_dir/<store>/` at `save_all` (close) and in the background
    once `save_after_changes` rows changed. Loading a saved graph catches it up with SQLite (rows added
    or deleted since the save), so a crash costs only the re-adding of what changed since.
    """

    def __init__(self, graphs_dir: Path, source: RowSource, lock: threading.RLock, graph_min_chunks: int,
                 save_after_changes: int) -> None:
        self.graphs_dir = graphs_dir
        self.graph_min_chunks = graph_min_chunks
        self.save_after_changes = save_after_changes
        self._source = source
        self._lock = lock
        self._buffers: dict[str, StoreBuffer] = {}
        self._graphs: dict[str, Ann] = {}
        self._saving = threading.Event()
        self.warm = threading.Event()
        self._masks: SameObjects[np.ndarray] = SameObjects()
        self.graphs_built = self.graphs_loaded = 0  # since this process started

    def buffer(self, store_id: str) -> StoreBuffer:
        """The store's rows, read from SQLite the first time (with its graph, when it is big enough)."""
        buffer = self._buffers.get(store_id)
        if buffer is not None:  # no lock: a search must not wait for a writer or a graph being saved
            return buffer
        with self._lock:
            buffer = self._buffers.get(store_id)
            if buffer is None:
                ids, file_ids, matrix = self._read(store_id)
                buffer = StoreBuffer.from_rows(ids, file_ids, matrix) if len(ids) else StoreBuffer(0)
                self._buffers[store_id] = buffer
                if buffer.view().live > self.graph_min_chunks:
                    self.graph(store_id)
            return buffer

    def _read(self, store_id: str) -> tuple[np.ndarray, list[str], np.ndarray]:
        """The store's rows: the vectors saved with its graph plus those written since, else all from SQLite
        (reading a million 1.5 KB vectors out of SQLite took 36 s, np.load of them a second or two)."""
        saved = self.graphs_dir / store_id / "vectors.npy"
        labels_path = self.graphs_dir / store_id / "labels.npy"
        try:
            labels, vectors = np.load(labels_path), np.load(saved)  # one sequential read, not page faults
        except (OSError, ValueError):
            return self._source.rows(store_id)
        ids, file_ids = self._source.owners(store_id)
        if len(labels) != len(vectors) or not len(ids):
            return self._source.rows(store_id)
        if np.array_equal(ids, labels):  # nothing written or deleted since the save
            return ids, file_ids, vectors
        at = np.minimum(np.searchsorted(labels, ids), len(labels) - 1)
        held = labels[at] == ids
        matrix = np.empty((len(ids), vectors.shape[1]), np.float32)
        rows = np.flatnonzero(held)
        matrix[rows] = np.take(vectors, at[rows], axis=0)
        if len(rows) < len(ids):
            missing = np.flatnonzero(~held)
            matrix[missing] = self._source.vectors(ids[missing])
        return ids, file_ids, matrix

    def view(self, store_id: str) -> StoreVectors:
        return self.buffer(store_id).view()

    def has_graph(self, store_id: str) -> bool:
        return store_id in self._graphs

    def search(self, store_id: str, query: np.ndarray, k: int, files: frozenset[str] | None,
               exact_max: int) -> list[tuple[int, float]]:
        """The k nearest (chunk id, cosine) among the rows of `files` (None: every row): an exact scan up
        to `exact_max` candidates, else through the graph."""
        snap = self.view(store_id)
        mask = self._rows_of(snap, files)
        candidates = snap.live if files is None else int(mask.sum())
        if candidates == 0:
            return []
        if candidates <= exact_max or not self.has_graph(store_id):
            every = candidates == len(snap.ids)
            ids = snap.ids if every else snap.ids[mask]
            scores = (snap.matrix if every else snap.matrix[mask]) @ query
            top = min(k, len(scores))
            best = np.argpartition(-scores, top - 1)[:top]
            best = best[np.lexsort((ids[best], -scores[best]))]
            return [(int(ids[i]), float(scores[i])) for i in best]
        labels, sims = self._graph_search(store_id, snap, None if files is None else mask, query,
                                          min(k, candidates), candidates)
        return [(int(label), float(sim)) for label, sim in zip(labels, sims, strict=True)]

    def _graph_search(self, store_id: str, snap: StoreVectors, mask: np.ndarray | None, query: np.ndarray, k: int,
                      candidates: int) -> tuple[np.ndarray, np.ndarray]:
        """With a filter, first an unfiltered search OVERSAMPLE times as deep as the filter's share needs,
        kept if k of its results pass (a filter callback per visited node cost 30 ms at a million chunks
        and a 10% filter); else the graph walk with the filter."""
        ann = self.graph(store_id)
        if mask is None:
            return ann.query(query, k, None)
        wide = max(k, int(k * snap.live / candidates * OVERSAMPLE))
        if wide <= WIDE_SEARCH_MAX:
            labels, sims = ann.query(query, min(wide, snap.live), None)
            at, known = snap.positions(labels.astype(np.int64))
            passing = np.zeros(len(labels), bool)
            passing[np.flatnonzero(known)] = mask[at]
            if int(passing.sum()) >= k:
                return labels[passing][:k], sims[passing][:k]
        return ann.query(query, k, set(snap.ids[mask].tolist()))

    def _rows_of(self, snap: StoreVectors, files: frozenset[str] | None) -> np.ndarray:
        """snap.rows_of(files), remembered for the same snapshot and selection (a repeated filter)."""
        if files is None:
            return snap.rows_of(None)
        # Keyed by the view's small arrays, not the view: a remembered mask must not pin a matrix the
        # buffer has outgrown. Every write makes new views of both.
        return self._masks.get((snap.codes, snap.alive, files), lambda: snap.rows_of(files))

    def graph(self, store_id: str) -> Ann:
        """The store's graph: in memory, else the saved one caught up with the rows, else built now."""
        ann = self._graphs.get(store_id)
        if ann is not None:
            return ann
        with self._lock:
            ann = self._graphs.get(store_id)
            if ann is None:
                view = self.buffer(store_id).view()
                started = time.perf_counter()
                ann, how = Ann.load(self.graphs_dir / store_id, view), "loaded"
                if ann is None:
                    ann, how = Ann.build(view), "built"
                    self.graphs_built += 1
                else:
                    self.graphs_loaded += 1
                log.info("HNSW graph of %s %s: %d chunks in %.1f s", store_id, how, view.live,
                         time.perf_counter() - started)
                self._graphs[store_id] = ann
                self._maybe_save(store_id)
            return ann

    def check_dimension(self, store_id: str, dimension: int) -> None:
        """Refuse vectors of another length than the store's; an empty store takes any (a new model)."""
        buffer = self.buffer(store_id)
        if buffer.dimension != dimension:
            if buffer.view().live:
                raise ValueError(f"store {store_id} holds {buffer.dimension}-dimensional vectors, got {dimension}")
            self._buffers[store_id] = StoreBuffer(dimension)
            self._drop_graph(store_id)

    def added(self, store_id: str, file_id: str, ids: np.ndarray, matrix: np.ndarray) -> None:
        buffer = self._buffers.get(store_id)
        if buffer is None:
            return  # not loaded: the first read takes these rows from SQLite
        buffer.append(file_id, ids, matrix)
        ann = self._graphs.get(store_id)
        if ann is not None:
            ann.add(matrix, ids)
        elif buffer.view().live > self.graph_min_chunks:
            self.graph(store_id)
        self._maybe_save(store_id)

    def dropped(self, store_id: str, file_id: str) -> None:
        buffer = self._buffers.get(store_id)
        if buffer is None:
            return
        ids = buffer.drop_file(file_id)
        ann = self._graphs.get(store_id)
        if ann is not None and len(ids):
            ann.remove(ids)
            self._maybe_save(store_id)

    def drop_store(self, store_id: str) -> None:
        self._buffers.pop(store_id, None)
        self._drop_graph(store_id)

    def _drop_graph(self, store_id: str) -> None:
        self._graphs.pop(store_id, None)
        shutil.rmtree(self.graphs_dir / store_id, ignore_errors=True)

    def _maybe_save(self, store_id: str) -> None:
        # One save at a time, in the background: writers wait for it, searches do not.
        ann = self._graphs.get(store_id)
        if ann is None or ann.changes < self.save_after_changes or self._saving.is_set():
            return
        self._saving.set()
        threading.Thread(target=self._save, args=(store_id,), name="vectorhouse-graph-save", daemon=True).start()

    def _save(self, store_id: str) -> None:
        try:
            with self._lock:
                ann, buffer = self._graphs.get(store_id), self._buffers.get(store_id)
                if ann is not None and buffer is not None:
                    view = buffer.view()
                    ann.save(self.graphs_dir / store_id, view.ids[view.alive], view.matrix[view.alive])
        except Exception:
            log.exception("saving the HNSW graph of %s failed; a restart catches up from SQLite", store_id)
        finally:
            self._saving.clear()

    def save_all(self) -> None:
        """Save every graph with unsaved changes (at close; benchmarks and tests call it too)."""
        with self._lock:
            for store_id, ann in list(self._graphs.items()):
                if ann.changes or not (self.graphs_dir / store_id / "vectors.npy").is_file():
                    self._saving.set()
                    self._save(store_id)

    def warm_up(self, store_ids: list[str]) -> None:
        """Load every store's rows and graph (on a restart, before the first searches come)."""
        try:
            for store_id in store_ids:
                self.buffer(store_id)
        except Exception:
            log.exception("loading the vectors failed; each store loads on its first search")
        finally:
            self.warm.set()

    def loaded(self) -> int:
        return len(self._buffers)
