"""The embedded Index: chunks and FTS5 in a SQLite file (the truth), vectors, HNSW graphs and BM25 postings beside."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vectorhouse.index.base import Chunk, FileWrite, Hit, upsert_each
from vectorhouse.index.embedded import postings_file
from vectorhouse.index.embedded.attributes import FileAttributes
from vectorhouse.index.embedded.cache import RowSource, VectorCache
from vectorhouse.index.embedded.keywords import KeywordMatches, KeywordPostings
from vectorhouse.index.embedded.schema import SCHEMA, fts_match
from vectorhouse.index.embedded.vectors import StoreVectors
from vectorhouse.index.filters import Filter
from vectorhouse.index.text import bm25_idf, keyword_terms
from vectorhouse.index.tokens import TOKENIZE

log = logging.getLogger("vectorhouse.index")

class EmbeddedIndex:
    """Durable in SQLite (the source of truth); the vector buffers and HNSW graphs are caches.

    A store's graph exists once it holds more than `exact_search_max_chunks` chunks, is kept in step
    with every write, and is saved under `<index>.hnsw/<store>/` (at close, and in the background
    once `graph_save_changes` rows changed); a restart loads it and catches up on what changed since.
    """

    def __init__(self, path: Path, exact_search_max_chunks: int = 20000,
                 keyword_postings_max_chunks: int = 2_000_000, graph_save_changes: int = 50000) -> None:
        # Each store's vectors have its own model's dimension, read off its rows.
        self.path = path
        self.exact_search_max_chunks = exact_search_max_chunks
        self.keyword_postings_max_chunks = keyword_postings_max_chunks
        self._keywords = KeywordPostings()
        # "cold" until the first keyword search, then "loading" (SQLite answers meanwhile), "ready",
        # or "too_big" (SQLite answers until a delete makes room).
        self._keywords_state = "cold"
        self._local = threading.local()
        self._lock = threading.RLock()
        self._postings_path = path.with_name(path.name + ".postings.npz")
        self._keywords_saved: object = None  # the postings state last written to _postings_path
        self._attributes = FileAttributes(self._read_attributes)
        rows = RowSource(self._read_rows, self._read_owners, self._read_vectors)
        self._cache = VectorCache(path.with_name(path.name + ".hnsw"), rows, self._lock,
                                  exact_search_max_chunks, graph_save_changes)
        conn = self._conn()
        had_chunk_owners = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'chunk_owners'"
        ).fetchone()
        conn.executescript(SCHEMA.format(tokenize=TOKENIZE))
        if not had_chunk_owners:  # an index written before chunk_owners existed: fill it once
            conn.execute("INSERT INTO chunk_owners(id, store_id, file_id) SELECT id, store_id, file_id FROM chunks")
        if conn.execute("SELECT 1 FROM chunk_owners LIMIT 1").fetchone():
            self._start_loading_keywords()  # on a restart, ready before the first searches come
            stores = [r[0] for r in conn.execute("SELECT DISTINCT store_id FROM chunk_owners")]
            threading.Thread(target=self._cache.warm_up, args=(stores,), name="vectorhouse-vectors",
                             daemon=True).start()
        else:
            self._cache.warm.set()

    # -- connections -------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def _write(self, sql_steps: Sequence[tuple[str, Sequence[Any]]]) -> None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in sql_steps:
                conn.execute(sql, params)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # -- writes ------------------------------------------------------------------------------

    @staticmethod
    def _delete_steps(where: str, params: Sequence[Any]) -> list[tuple[str, Sequence[Any]]]:
        return [
            (
                "INSERT INTO chunks_fts(chunks_fts, rowid, text) "
                f"SELECT 'delete', id, text FROM chunks WHERE {where}",
                params,
            ),
            (f"DELETE FROM chunk_owners WHERE id IN (SELECT id FROM chunks WHERE {where})", params),
            (f"DELETE FROM chunks WHERE {where}", params),
        ]

    def upsert(
        self, store_id: str, file_id: str, chunks: Sequence[Chunk], attributes: Mapping[str, Any] | None
    ) -> None:
        with self._lock:
            matrix = np.stack([np.asarray(c.vector, dtype=np.float32).reshape(-1) for c in chunks]) if chunks \
                else None
            if matrix is not None:
                self._cache.check_dimension(store_id, matrix.shape[1])
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in self._delete_steps("store_id = ? AND file_id = ?", (store_id, file_id)):
                    conn.execute(sql, params)
                first = self._next_ids(conn, len(chunks))
                new_ids = list(range(first, first + len(chunks)))
                conn.executemany(
                    "INSERT INTO chunks(id, store_id, file_id, position, text, tokens, vector) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(row_id, store_id, file_id, c.position, c.text, c.tokens, matrix[i].tobytes())  # type: ignore[index]
                     for i, (row_id, c) in enumerate(zip(new_ids, chunks, strict=True))],
                )
                conn.executemany("INSERT INTO chunks_fts(rowid, text) VALUES (?, ?)",
                                 [(row_id, c.text) for row_id, c in zip(new_ids, chunks, strict=True)])
                conn.executemany("INSERT INTO chunk_owners(id, store_id, file_id) VALUES (?, ?, ?)",
                                 [(row_id, store_id, file_id) for row_id in new_ids])
                conn.execute(
                    "INSERT OR REPLACE INTO file_attributes(store_id, file_id, attributes) VALUES (?, ?, ?)",
                    (store_id, file_id, json.dumps(attributes) if attributes is not None else None),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._keywords.remove(store_id, file_id)
            self._keywords.add(store_id, file_id, [(row_id, c.text) for row_id, c in zip(new_ids, chunks, strict=True)])
            self._check_keywords_size()
            self._attributes.written(store_id, file_id, attributes)
            self._cache.dropped(store_id, file_id)
            if matrix is not None:
                self._cache.added(store_id, file_id, np.asarray(new_ids, dtype=np.int64), matrix)

    @staticmethod
    def _next_ids(conn: sqlite3.Connection, count: int) -> int:
        """The first of `count` fresh chunk ids: never one used before, even by a deleted chunk (the
        HNSW graphs label nodes by id)."""
        row = conn.execute("SELECT value FROM counters WHERE name = 'chunk_id'").fetchone()
        last = row[0] if row else conn.execute("SELECT coalesce(max(id), 0) FROM chunks").fetchone()[0]
        conn.execute("INSERT OR REPLACE INTO counters(name, value) VALUES ('chunk_id', ?)", (last + count,))
        return int(last) + 1

    def upsert_files(self, writes: Sequence[FileWrite]) -> list[Exception | None]:
        return upsert_each(self, writes)  # each commit makes its file searchable: nothing to group

    def delete_file(self, store_id: str, file_id: str) -> None:
        with self._lock:
            where = ("store_id = ? AND file_id = ?", (store_id, file_id))
            self._write(
                [
                    *self._delete_steps(*where),
                    ("DELETE FROM file_attributes WHERE store_id = ? AND file_id = ?", (store_id, file_id)),
                ]
            )
            self._attributes.deleted(store_id, file_id)
            self._cache.dropped(store_id, file_id)
            self._keywords_removed(store_id, file_id)

    def _keywords_removed(self, store_id: str, file_id: str | None) -> None:
        self._keywords.remove(store_id, file_id)
        if self._keywords_state == "too_big":
            self._keywords_state = "cold"  # the next keyword search counts again

    def delete_store(self, store_id: str) -> None:
        with self._lock:
            self._write(
                [
                    *self._delete_steps("store_id = ?", (store_id,)),
                    ("DELETE FROM file_attributes WHERE store_id = ?", (store_id,)),
                ]
            )
            self._attributes.deleted(store_id, None)
            self._cache.drop_store(store_id)
            self._keywords_removed(store_id, None)

    def set_attributes(self, store_id: str, file_id: str, attributes: Mapping[str, Any] | None) -> None:
        self._write(
            [
                (
                    "UPDATE file_attributes SET attributes = ? WHERE store_id = ? AND file_id = ?",
                    (json.dumps(attributes) if attributes is not None else None, store_id, file_id),
                )
            ]
        )
        self._attributes.written(store_id, file_id, attributes, only_if_held=True)

    # -- reads -------------------------------------------------------------------------------

    def _read_rows(self, store_id: str) -> tuple[np.ndarray, list[str], np.ndarray]:
        rows = self._conn().execute(
            "SELECT id, file_id, vector FROM chunks WHERE store_id = ? ORDER BY id", (store_id,)
        ).fetchall()
        if not rows:
            return np.empty(0, np.int64), [], np.empty((0, 0), np.float32)
        # One model per store, so every row has the first row's dimension; copied: the buffer grows in place.
        matrix = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(
            len(rows), len(rows[0][2]) // 4).copy()
        return np.fromiter((r[0] for r in rows), np.int64, count=len(rows)), [r[1] for r in rows], matrix

    def _read_owners(self, store_id: str) -> tuple[np.ndarray, list[str]]:
        rows = self._conn().execute(
            "SELECT id, file_id FROM chunk_owners WHERE store_id = ? ORDER BY id", (store_id,)).fetchall()
        return np.fromiter((r[0] for r in rows), np.int64, count=len(rows)), [r[1] for r in rows]

    def _read_vectors(self, ids: np.ndarray) -> np.ndarray:
        found = dict(self._conn().execute(
            "SELECT id, vector FROM chunks WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(ids.tolist()),)))
        return np.stack([np.frombuffer(found[i], np.float32) for i in ids.tolist()])

    def _snapshot(self, store_id: str) -> StoreVectors:
        return self._cache.view(store_id)

    def save_graphs(self) -> None:
        """Save every HNSW graph with unsaved changes (close does; benchmarks and tests may)."""
        self._cache.save_all()

    def _read_attributes(self, store_id: str) -> list[tuple[str, str | None]]:
        return self._conn().execute(
            "SELECT file_id, attributes FROM file_attributes WHERE store_id = ?", (store_id,)
        ).fetchall()

    def _allowed_files(self, store_id: str, filter: Filter | None) -> frozenset[str] | None:
        """The files that pass the filter (None = no filter, every file)."""
        return self._attributes.selected(store_id, filter)

    def files_with_words(self, store_id: str, words: tuple[str, ...]) -> set[str]:
        """The store's files whose chunks hold every word (each anywhere in the file), by FTS5."""
        found: set[str] | None = None
        for word in words:
            rows = self._conn().execute(
                "SELECT DISTINCT c.file_id FROM chunks_fts JOIN chunk_owners c ON c.id = chunks_fts.rowid "
                "WHERE chunks_fts MATCH ? AND c.store_id = ?", (fts_match([word]), store_id),
            )
            holding = {r[0] for r in rows}
            found = holding if found is None else found & holding
            if not found:
                return set()
        return found or set()

    def search_vector(self, store_id: str, vector: np.ndarray, k: int, filter: Filter | None) -> list[Hit]:
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        return self._hits(self._cache.search(store_id, query, k, self._allowed_files(store_id, filter),
                                             self.exact_search_max_chunks))

    def _hits(self, found: Sequence[tuple[int, float]]) -> list[Hit]:
        if not found:
            return []
        ids = [row_id for row_id, _ in found]
        marks = ",".join("?" * len(ids))
        rows = {
            r[0]: r[1:]
            for r in self._conn().execute(
                f"SELECT id, file_id, position, text FROM chunks WHERE id IN ({marks})", ids
            )
        }
        return [
            Hit(file_id=rows[i][0], position=rows[i][1], text=rows[i][2], score=score)
            for i, score in found
            if i in rows
        ]

    def mean_vector(self, store_id: str) -> np.ndarray | None:
        snap = self._snapshot(store_id)
        return (snap.total / snap.live).astype(np.float32) if snap.live else None

    def keyword_matches(self, store_id: str, query: str) -> KeywordMatches | None:
        """Every chunk of the store matching the query with its BM25, and each term's IDF, from the
        in-memory postings (`bench fusion` replays fusions on them); None when they cannot answer."""
        terms = keyword_terms(query)
        return self._keywords.matches(store_id, terms) if terms else None

    def keyword_scale(self, store_id: str, query: str) -> float:
        terms = keyword_terms(query)
        if not terms:
            return 0.0
        # BM25 gives a term occurring once in a chunk of average length exactly its IDF; a term no
        # chunk holds has the largest IDF there is, bm25_idf(N, 0).
        scale = self._keywords.scale(store_id, terms)
        if scale is not None:
            return scale
        conn = self._conn()
        total_rows = conn.execute("SELECT count(*) FROM chunk_owners").fetchone()[0]
        # FTS5's own statistics: the rows matching each phrase, out of every row of the table.
        held = [conn.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?",
                             (fts_match([term]),)).fetchone()[0] for term in terms]
        return sum(bm25_idf(total_rows, rows) for rows in held) if any(held) else 0.0

    def score_chunks(self, store_id: str, keys: Sequence[tuple[str, int]], vector: np.ndarray,
                     query: str) -> dict[tuple[str, int], tuple[float, float]]:
        if not keys:
            return {}
        rows = self._conn().execute(
            # CROSS JOIN keeps the keys as the outer loop: each probes the (store, file, position) index.
            "SELECT c.id, c.file_id, c.position FROM json_each(?) AS k CROSS JOIN chunks c ON c.store_id = ? "
            "AND c.file_id = json_extract(k.value, '$[0]') AND c.position = json_extract(k.value, '$[1]')",
            (json.dumps([list(key) for key in keys]), store_id),
        ).fetchall()
        if not rows:
            return {}
        ids = np.array([r[0] for r in rows], np.int64)
        snap = self._snapshot(store_id)
        at, known = snap.positions(ids)
        cosines = np.zeros(len(ids))
        cosines[known] = snap.matrix[at] @ np.asarray(vector, dtype=np.float32).reshape(-1)
        keyword = self._keyword_scores(store_id, keyword_terms(query), ids)
        return {
            (r[1], r[2]): (float(cosines[i]), keyword.get(r[0], 0.0))
            for i, r in enumerate(rows)
            if known[i]
        }

    def _keyword_scores(self, store_id: str, terms: list[str], ids: np.ndarray) -> dict[int, float]:
        if not terms:
            return {}
        found = self._keywords.scores_of(store_id, terms, ids)  # by binary search in each term's postings
        if found is not None:
            return found
        rows = self._conn().execute(
            "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
            "AND rowid IN (SELECT value FROM json_each(?))",
            (fts_match(terms), json.dumps(ids.tolist())),
        )
        return {int(r[0]): float(r[1]) for r in rows}

    def keyword_postings(self, wait: float = 0.0) -> str:
        """The keyword postings' state: "cold", "loading", "ready" or "too_big" (SQLite scores).

        With `wait`, a cold index starts loading and the call waits up to that many seconds for
        the load to end (a benchmark or a test that wants the in-memory path).
        """
        if wait > 0 and self._keywords_state == "cold":
            self._start_loading_keywords()
        deadline = time.monotonic() + wait
        while self._keywords_state == "loading" and time.monotonic() < deadline:
            time.sleep(0.01)
        return self._keywords_state

    def _start_loading_keywords(self) -> None:
        with self._lock:
            if self._keywords_state == "cold":
                self._keywords_state = "loading"
                threading.Thread(target=self._load_keywords, name="vectorhouse-keywords", daemon=True).start()

    def _load_keywords(self) -> None:
        try:
            with self._lock:
                if self._conn().execute("SELECT count(*) FROM chunk_owners").fetchone()[0] > \
                        self.keyword_postings_max_chunks:
                    self._keywords_state = "too_big"
                    return
                self._keywords.start_loading()
            saved = postings_file.read(self._postings_path)
            snapshot = self._keywords.load(self._conn(), saved)  # searches and writes go on meanwhile
            with self._lock:
                self._keywords.finish_loading(snapshot)
                self._keywords_state = "ready"
                self._check_keywords_size()
            if saved is None:
                self._save_keywords()  # so that the next start reads them back instead of from FTS5
        except Exception:
            log.exception("loading the keyword postings failed; SQLite scores keyword searches")
            with self._lock:
                self._keywords.clear()
                self._keywords_state = "too_big"

    def _save_keywords(self) -> None:
        state = self._keywords.state()
        if self._keywords_state != "ready" or state is self._keywords_saved:
            return
        form = self._keywords.saved_form()
        if form is not None:
            postings_file.write(self._postings_path, form)
            self._keywords_saved = state

    def _check_keywords_size(self) -> None:
        if self._keywords_state == "ready" and self._keywords.rows > self.keyword_postings_max_chunks:
            self._keywords.clear()
            self._keywords_state = "too_big"

    def search_text(self, store_id: str, query: str, k: int, filter: Filter | None) -> list[Hit]:
        terms = keyword_terms(query)
        if not terms:
            return []
        if self._keywords_state == "cold":
            self._start_loading_keywords()
        allowed = self._allowed_files(store_id, filter)
        if allowed is not None and not allowed:
            return []
        found = self._keywords.search(store_id, terms, k, allowed)
        if found is None:
            found = self._search_text_sql(store_id, terms, k, allowed)
        return self._hits(found)

    def _search_text_sql(self, store_id: str, terms: list[str], k: int,
                         allowed: set[str] | None) -> list[tuple[int, float]]:
        sql = (
            "SELECT c.id, -bm25(chunks_fts) AS score FROM chunks_fts JOIN chunk_owners c ON c.id = chunks_fts.rowid "
            "WHERE chunks_fts MATCH ? AND c.store_id = ?"
        )
        params: list[Any] = [fts_match(terms), store_id]
        if allowed is not None:
            sql += " AND c.file_id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(sorted(allowed)))
        sql += " ORDER BY bm25(chunks_fts), c.id LIMIT ?"
        params.append(k)
        return [(int(r[0]), float(r[1])) for r in self._conn().execute(sql, params)]

    def file_chunks(self, store_id: str, file_id: str) -> list[str]:
        rows = self._conn().execute(
            "SELECT text FROM chunks WHERE store_id = ? AND file_id = ? ORDER BY position",
            (store_id, file_id),
        )
        return [r[0] for r in rows]

    def ping(self) -> None:
        self._conn().execute("SELECT 1").fetchone()
        if self._keywords_state == "loading":
            raise RuntimeError("loading the keyword postings")
        if not self._cache.warm.is_set():
            raise RuntimeError(f"loading the vectors and HNSW graphs of the stores ({self._cache.loaded()} so far)")

    def close(self) -> None:
        try:
            self._cache.save_all()
            self._save_keywords()
        except Exception:
            log.exception("saving the HNSW graphs or keyword postings at close failed; a restart catches up")
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
