"""In-memory BM25 postings that answer the embedded index's FTS5 keyword query exactly, without SQLite scoring.

SQLite's ``bm25()`` runs once per matching row, and a question of nine words matches half of a
scientific corpus: 2.7 ms of a 3 ms keyword search at SciFact size. These postings hold what that
function reads (each row's term frequencies and length, from FTS5's own index and tokenizer) and
score the same formula in numpy. The FTS5 table stays the source of truth: a query the postings
cannot answer exactly (a word that FTS5 splits into a phrase, postings not built yet) returns None
and the caller asks SQLite.

Scores are FTS5's formula: ``idf * tf*(k1+1) / (tf + k1*(1 - b + b*len/avglen))`` summed over the
query's phrases, k1 = 1.2, b = 0.75, ``idf = ln((N - n + 0.5) / (n + 0.5))`` (at least 1e-6), with N,
n and the average length taken over the store's own rows, as the other backends do (FTS5's own
``bm25()``, which answers when these postings cannot, takes them over the whole table). A small store
then weighs its words by its own documents, not by whatever else the index holds.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from vectorhouse.index.embedded.memo import SameObjects
from vectorhouse.index.embedded.postings_file import SavedPostings
from vectorhouse.index.embedded.topk import SegmentTerms, WeighedQuery, best, contenders, scores_of
from vectorhouse.index.text import bm25_idf
from vectorhouse.index.tokens import KeywordTokenizer, Occurrences, occurrences_sql

K1 = 1.2
B = 0.75
WEIGHTS_HELD = 10_000_000  # postings whose weights are remembered (8 bytes each + positions)

Postings = dict[str, tuple[np.ndarray, np.ndarray]]


def _postings(occurrences: Occurrences, ids: np.ndarray) -> tuple[Postings, np.ndarray]:
    """Per-term (row positions, frequencies) and each row's length in tokens."""
    postings: Postings = {}
    if not occurrences:
        return postings, np.zeros(len(ids), np.float64)
    docs = np.array(",".join(o[1] for o in occurrences).split(","), dtype=np.int64)
    freqs = np.array(",".join(o[2] for o in occurrences).split(","), dtype=np.uint32)  # float64 when scored
    positions = np.searchsorted(ids, docs).astype(np.int32)
    start = 0
    for term, row_ids, _ in occurrences:
        end = start + row_ids.count(",") + 1
        postings[term] = (positions[start:end], freqs[start:end])
        start = end
    lengths = np.bincount(positions, weights=freqs, minlength=len(ids)).astype(np.float64)
    return postings, lengths


@dataclass(frozen=True)
class _Segment:
    """Rows added together; immutable except by replacement (a delete swaps in a new `alive`)."""

    ids: np.ndarray  # chunk row ids, ascending, int64
    stores: np.ndarray  # store code per row, int32
    files: np.ndarray  # file id per row, object
    lengths: np.ndarray  # tokens per row, float64
    alive: np.ndarray  # bool
    postings: Postings

    @cached_property
    def _files(self) -> tuple[np.ndarray, np.ndarray]:
        return np.unique(self.files, return_inverse=True)  # type: ignore[return-value]

    @cached_property
    def single_store(self) -> int:
        """The one store code every row has, else -1."""
        return int(self.stores[0]) if len(self.stores) and (self.stores == self.stores[0]).all() else -1

    @cached_property
    def all_alive(self) -> bool:
        return bool(self.alive.all())

    def rows_of(self, files: set[str]) -> np.ndarray:
        """Boolean mask of the rows that belong to `files` (one test per distinct file, not per row)."""
        distinct, row_file = self._files
        wanted = np.fromiter((f in files for f in distinct), dtype=bool, count=len(distinct))
        return wanted[row_file]

    @classmethod
    def build(cls, ids: np.ndarray, stores: np.ndarray, files: np.ndarray, occurrences: Occurrences) -> _Segment:
        postings, lengths = _postings(occurrences, ids)
        return cls(ids, stores, files, lengths, np.ones(len(ids), bool), postings)

    def live(self) -> _Segment:
        """The same rows without the deleted ones (merging drops them for good)."""
        if self.alive.all():
            return self
        keep = np.flatnonzero(self.alive)
        remap = np.full(len(self.ids), -1, np.int32)
        remap[keep] = np.arange(len(keep), dtype=np.int32)
        postings: Postings = {}
        for term, (positions, freqs) in self.postings.items():
            kept = self.alive[positions]
            if kept.any():
                postings[term] = (remap[positions[kept]], freqs[kept])
        return _Segment(self.ids[keep], self.stores[keep], self.files[keep], self.lengths[keep],
                        np.ones(len(keep), bool), postings)

    @staticmethod
    def merge(older: _Segment, newer: _Segment) -> _Segment:
        a, b = older.live(), newer.live()
        offset = len(a.ids)
        postings: Postings = dict(a.postings)
        for term, (positions, freqs) in b.postings.items():
            shifted = positions + np.int32(offset)
            if term in postings:
                old_positions, old_freqs = postings[term]
                postings[term] = (np.concatenate([old_positions, shifted]), np.concatenate([old_freqs, freqs]))
            else:
                postings[term] = (shifted, freqs)
        return _Segment(
            np.concatenate([a.ids, b.ids]), np.concatenate([a.stores, b.stores]), np.concatenate([a.files, b.files]),
            np.concatenate([a.lengths, b.lengths]), np.ones(offset + len(b.ids), bool), postings,
        )


@dataclass(frozen=True)
class KeywordMatches:
    """A query's matching rows (any order) with their BM25, and each query phrase's IDF and row count."""

    ids: np.ndarray  # chunk row ids, int64
    scores: np.ndarray  # float64
    idfs: list[float]
    rows_with: list[int]  # rows of the store holding the phrase (BM25's n)
    rows: int  # rows of the store (BM25's N)


@dataclass(frozen=True)
class _Snapshot:
    segments: tuple[_Segment, ...]
    rows: int  # live rows in the whole table
    store_rows: dict[int, int]  # live rows per store code (BM25's N)
    store_tokens: dict[int, float]  # their total length per store code

    def counted(self, code: int, rows: int, tokens: float) -> tuple[dict[int, int], dict[int, float]]:
        """Per-store counts with `rows` and `tokens` added to one store's."""
        store_rows, store_tokens = dict(self.store_rows), dict(self.store_tokens)
        store_rows[code] = store_rows.get(code, 0) + rows
        store_tokens[code] = store_tokens.get(code, 0.0) + tokens
        return store_rows, store_tokens


class KeywordPostings:
    """BM25 postings over every row of the FTS5 table.

    Lifecycle: `start_loading` and `finish_loading` (and every `add` / `remove`) are called under the
    index's write lock; `load` reads the table in one read transaction without it, so searches and
    writes go on meanwhile. Writes made while loading are replayed afterwards: each is idempotent
    (an upsert is "forget the file, then add its rows"), so one already in the loaded rows is harmless.
    """

    def __init__(self) -> None:
        self._snapshot: _Snapshot | None = None
        self._pending: list[Callable[[], None]] | None = None
        self._stores: dict[str, int] = {}
        self._tokenizer = KeywordTokenizer()
        self._weighed_lock = threading.Lock()
        self._weighed: dict[tuple[int, str, int],
                            tuple[_Segment, float, tuple[np.ndarray, np.ndarray, int]]] = {}
        self._weighed_size = 0
        self._file_masks: SameObjects[np.ndarray] = SameObjects()

    @property
    def rows(self) -> int:
        return self._snapshot.rows if self._snapshot is not None else 0

    def clear(self) -> None:
        self._snapshot = None
        self._pending = None

    def _code(self, store_id: str) -> int:
        return self._stores.setdefault(store_id, len(self._stores))

    def _segment(self, rows: Sequence[tuple[int, str, str]], occurrences: Occurrences) -> _Segment:
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        order = np.argsort(ids, kind="stable")
        stores = np.fromiter((self._code(r[1]) for r in rows), dtype=np.int32, count=len(rows))
        files = np.array([r[2] for r in rows], dtype=object) if rows else np.empty(0, object)
        return _Segment.build(ids[order], stores[order], files[order], occurrences)

    def start_loading(self) -> None:
        self._snapshot = None
        self._pending = []

    def load(self, conn: sqlite3.Connection, saved: SavedPostings | None = None) -> _Snapshot:
        """Every row's terms: from a save caught up with the table (rows written or deleted since), else
        read from the FTS5 index itself; in one read transaction."""
        conn.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunk_terms USING fts5vocab(main, chunks_fts, 'instance')"
        )
        conn.execute("BEGIN")
        try:
            rows = conn.execute("SELECT id, store_id, file_id FROM chunk_owners ORDER BY id").fetchall()
            if saved is None:
                segments = [self._segment(rows, conn.execute(occurrences_sql("temp.chunk_terms")).fetchall())]
            else:
                segments = self._caught_up(conn, saved, rows)
        finally:
            conn.execute("COMMIT")
        segments = [s for s in segments if s.alive.any()]
        stores = np.concatenate([s.stores[s.alive] for s in segments]) if segments else np.empty(0, np.int32)
        lengths = np.concatenate([s.lengths[s.alive] for s in segments]) if segments else np.empty(0)
        codes = np.unique(stores)
        return _Snapshot(
            tuple(segments), len(stores),
            {int(c): int(n) for c, n in zip(codes, np.bincount(stores)[codes], strict=True)},
            {int(c): float(t) for c, t in zip(codes, np.bincount(stores, weights=lengths)[codes], strict=True)},
        )

    def _caught_up(self, conn: sqlite3.Connection, saved: SavedPostings,
                   rows: list[tuple[int, str, str]]) -> list[_Segment]:
        """The saved segment with the rows deleted since marked dead, plus a segment of the rows added."""
        stores = np.fromiter((self._code(s) for s in saved.stores), np.int32, count=len(saved.stores))
        segment = _Segment(saved.ids, stores, np.array(saved.files, dtype=object), saved.lengths,
                           np.ones(len(saved.ids), bool), saved.postings)
        current = np.fromiter((r[0] for r in rows), np.int64, count=len(rows))
        segment = replace(segment, alive=np.isin(saved.ids, current, assume_unique=True))
        added = [rows[i] for i in np.flatnonzero(np.isin(current, saved.ids, assume_unique=True, invert=True))]
        if not added:
            return [segment]
        texts = conn.execute("SELECT id, text FROM chunks WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
                             (json.dumps([r[0] for r in added]),)).fetchall()
        return [segment, self._segment(added, self._tokenizer.occurrences(texts))]

    def saved_form(self) -> SavedPostings | None:
        """The live rows and their postings as one segment, for `postings_file.write`."""
        snap = self._snapshot
        if snap is None:
            return None
        merged: _Segment | None = None
        for segment in snap.segments:
            merged = segment.live() if merged is None else _Segment.merge(merged, segment)
        if merged is None:
            return SavedPostings(np.empty(0, np.int64), [], [], np.empty(0), {})
        names = {code: name for name, code in self._stores.items()}
        return SavedPostings(merged.ids, [names[int(c)] for c in merged.stores], list(merged.files), merged.lengths,
                             merged.postings)

    def state(self) -> object:
        """A token that is the same object until the postings change (a save is skipped if it is)."""
        return self._snapshot

    def finish_loading(self, snapshot: _Snapshot) -> None:
        pending, self._pending = self._pending or [], None
        self._snapshot = snapshot
        for write in pending:
            write()

    def add(self, store_id: str, file_id: str, rows: Sequence[tuple[int, str]]) -> None:
        snap = self._snapshot
        if snap is None:
            if self._pending is not None:
                self._pending.append(lambda: self.add(store_id, file_id, rows))
            return
        if not rows:
            return
        occurrences = self._tokenizer.occurrences(rows)
        segment = self._segment([(row_id, store_id, file_id) for row_id, _ in rows], occurrences)
        segments = [*snap.segments, segment]
        # Merge while the newest segment is at least half its neighbour: log(n) segments, each row
        # copied log(n) times over a bulk load.
        while len(segments) > 1 and 2 * int(segments[-1].alive.sum()) >= int(segments[-2].alive.sum()):
            newer = segments.pop()
            segments[-1] = _Segment.merge(segments[-1], newer)
        self._snapshot = _Snapshot(tuple(segments), snap.rows + len(segment.ids),
                                   *snap.counted(self._code(store_id), len(segment.ids), float(segment.lengths.sum())))

    def remove(self, store_id: str, file_id: str | None = None) -> None:
        """Forget a file's rows in a store, or the whole store's with file_id None."""
        snap = self._snapshot
        if snap is None:
            if self._pending is not None:
                self._pending.append(lambda: self.remove(store_id, file_id))
            return
        code = self._stores.get(store_id)
        if code is None:
            return
        segments: list[_Segment] = []
        rows, tokens = 0, 0.0
        for segment in snap.segments:
            gone = segment.alive & (segment.stores == code)
            if file_id is not None:
                gone &= segment.files == file_id
            if gone.any():
                rows += int(gone.sum())
                tokens += float(segment.lengths[gone].sum())
                segment = replace(segment, alive=segment.alive & ~gone)
                if 2 * int(segment.alive.sum()) < len(segment.ids):
                    segment = segment.live()  # mostly deleted rows: drop them (re-ingests would pile up)
            if segment.alive.any():
                segments.append(segment)
        self._snapshot = _Snapshot(tuple(segments), snap.rows - rows, *snap.counted(code, -rows, -tokens))

    def matches(self, store_id: str, words: Sequence[str],
                allowed_files: set[str] | None = None) -> KeywordMatches | None:
        """Every row of this store matching any word, with its BM25; None: ask SQLite instead."""
        snap = self._snapshot
        if snap is None:
            return None
        query = self._weighed_query(snap, store_id, words, allowed_files)
        return self._scored(snap, store_id, query) if query is not None else None

    def weighed(self, store_id: str, words: Sequence[str],
                allowed_files: set[str] | None = None) -> WeighedQuery | None:
        """The query's terms over the store's segments, weighed; None: ask SQLite instead."""
        snap = self._snapshot
        return self._weighed_query(snap, store_id, words, allowed_files) if snap is not None else None

    def _weighed_query(self, snap: _Snapshot, store_id: str, words: Sequence[str],
                       allowed_files: set[str] | None) -> WeighedQuery | None:
        phrases = self._tokenizer.words(words)
        if any(len(tokens) != 1 for tokens in phrases):
            return None  # a multi-token phrase needs positions; SQLite answers it
        terms = [tokens[0] for tokens in phrases]
        code = self._stores.get(store_id)
        store_rows = snap.store_rows.get(code, 0) if code is not None else 0
        if code is None or store_rows <= 0:
            return WeighedQuery([], [], [])
        avgdl = snap.store_tokens[code] / store_rows
        weighed = [[self._weights(segment, term, code, avgdl) for term in terms] for segment in snap.segments]
        rows_with = [sum(w[i][2] for w in weighed) for i in range(len(terms))]
        idfs = [bm25_idf(store_rows, hits) for hits in rows_with]
        segments = []
        for segment, weights in zip(snap.segments, weighed, strict=True):
            allowed = None
            if allowed_files is not None:
                # Remembered for the same segment and selection (a repeated filter).
                allowed = self._file_masks.get((segment, allowed_files),
                                               lambda s=segment: s.rows_of(set(allowed_files)))
            segments.append(SegmentTerms(segment.ids, allowed, [(w[0], w[1]) for w in weights]))
        return WeighedQuery(idfs, rows_with, segments)

    def _scored(self, snap: _Snapshot, store_id: str, query: WeighedQuery, k: int = 0) -> KeywordMatches:
        """Every matching row's BM25, in one pass over every posting of the query; with `k` > 0, only the
        rows that can be among the best k (`topk.contenders`)."""
        code = self._stores.get(store_id, -1)
        if not query.idfs:  # a store with no rows
            return KeywordMatches(np.empty(0, np.int64), np.empty(0, np.float64), [], [], 0)
        found_ids: list[np.ndarray] = []
        found_scores: list[np.ndarray] = []
        floor = 0.0  # a score k rows found so far reach (so the best k are at least that)
        for segment, terms in zip(snap.segments, query.segments, strict=True):
            held = [(positions, idf * weight) for idf, (positions, weight) in zip(query.idfs, terms.terms, strict=True)
                    if len(positions)]
            if not held:
                continue
            # One pass over every posting; each row's terms are summed in query order, as += per term would.
            scores = np.bincount(np.concatenate([p for p, _ in held]), weights=np.concatenate([c for _, c in held]),
                                 minlength=len(segment.ids))
            # Rows of other stores, deleted or filtered out, None when there are none to mask.
            excluded: np.ndarray | None = None
            if not self._whole_and_one_store(segment, code):
                excluded = ~(segment.alive & (segment.stores == code))
            if terms.allowed is not None:
                excluded = ~terms.allowed if excluded is None else excluded | ~terms.allowed
            rows, floor = contenders(scores, excluded, k, floor)
            found_ids.append(segment.ids[rows])
            found_scores.append(scores[rows])
        if not found_ids:
            return KeywordMatches(np.empty(0, np.int64), np.empty(0, np.float64), query.idfs, query.rows_with,
                                  snap.store_rows.get(code, 0))
        return KeywordMatches(np.concatenate(found_ids), np.concatenate(found_scores), query.idfs, query.rows_with,
                              snap.store_rows.get(code, 0))

    def _weights(self, segment: _Segment, term: str, code: int,
                 avgdl: float) -> tuple[np.ndarray, np.ndarray, int]:
        """(positions, BM25 weight without the IDF, rows of the store holding it) of one term in one segment,
        remembered while the segment and the store's average length stay the same: a question
        of nine words reads ~400k postings at a million chunks, and the weights are most of the work."""
        key = (id(segment), term, code)
        with self._weighed_lock:
            held = self._weighed.get(key)
        if held is not None and held[0] is segment and held[1] == avgdl:
            return held[2]
        posting = segment.postings.get(term)
        if posting is None:
            found: tuple[np.ndarray, np.ndarray, int] = (np.empty(0, np.int32), np.empty(0), 0)
        else:
            positions, freqs = posting
            if not self._whole_and_one_store(segment, code):
                mine = segment.alive[positions] & (segment.stores[positions] == code)
                positions, freqs = positions[mine], freqs[mine]
            tf = freqs.astype(np.float64)
            length = segment.lengths[positions]
            # Written as FTS5's C expression, operation for operation, so the doubles agree.
            weights = (tf * (K1 + 1.0)) / (tf + K1 * (1 - B + B * length / avgdl))
            found = (positions, weights, len(positions))
        with self._weighed_lock:
            self._weighed[key] = (segment, avgdl, found)
            self._weighed_size += len(found[0])
            while self._weighed_size > WEIGHTS_HELD and len(self._weighed) > 1:
                oldest = next(iter(self._weighed))
                self._weighed_size -= len(self._weighed.pop(oldest)[2][0])
        return found

    @staticmethod
    def _whole_and_one_store(segment: _Segment, code: int) -> bool:
        """True when every row of the segment is live and the store's: no row needs masking."""
        return segment.single_store == code and segment.all_alive

    def search(self, store_id: str, words: Sequence[str], k: int,
               allowed_files: set[str] | None) -> list[tuple[int, float]] | None:
        """The best k (row id, BM25) of this store's rows matching any word; None: ask SQLite instead."""
        snap = self._snapshot
        query = self._weighed_query(snap, store_id, words, allowed_files) if snap is not None else None
        if snap is None or query is None:
            return None
        found = self._scored(snap, store_id, query, k)
        return best(found.ids, found.scores, k)

    def scale(self, store_id: str, words: Sequence[str]) -> float | None:
        """The held terms' IDF summed (0 when the store holds none); None: ask SQLite instead."""
        query = self.weighed(store_id, words)
        if query is None:
            return None
        return sum(query.idfs) if any(query.rows_with) else 0.0

    def scores_of(self, store_id: str, words: Sequence[str], ids: np.ndarray) -> dict[int, float] | None:
        """BM25 of these rows of the store that hold a word; None: ask SQLite instead."""
        query = self.weighed(store_id, words)
        return scores_of(query, ids) if query is not None else None
