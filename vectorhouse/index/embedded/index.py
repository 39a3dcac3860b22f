"""The embedded Index: chunks and FTS5 in a SQLite file (the truth), vectors and BM25 postings in memory."""

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

from vectorhouse.index.base import Chunk, Hit
from vectorhouse.index.embedded.keywords import KeywordMatches, KeywordPostings
from vectorhouse.index.embedded.schema import SCHEMA, fts_match
from vectorhouse.index.embedded.vectors import Ann, StoreVectors
from vectorhouse.index.filters import Filter, matches
from vectorhouse.index.text import bm25_idf, keyword_terms
from vectorhouse.index.tokens import TOKENIZE

log = logging.getLogger("vectorhouse.index")

class EmbeddedIndex:
    """Durable in SQLite (the source of truth); the vector snapshots and HNSW graphs are caches."""

    def __init__(self, path: Path, exact_search_max_chunks: int = 20000,
                 keyword_postings_max_chunks: int = 50000) -> None:
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
        self._vectors: dict[str, StoreVectors] = {}
        self._ann: dict[str, Ann] = {}
        conn = self._conn()
        had_chunk_owners = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'chunk_owners'"
        ).fetchone()
        conn.executescript(SCHEMA.format(tokenize=TOKENIZE))
        if not had_chunk_owners:  # an index written before chunk_owners existed: fill it once
            conn.execute("INSERT INTO chunk_owners(id, store_id, file_id) SELECT id, store_id, file_id FROM chunks")
        if conn.execute("SELECT 1 FROM chunk_owners LIMIT 1").fetchone():
            self._start_loading_keywords()  # on a restart, ready before the first searches come

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
            cached = self._vectors.get(store_id)
            if chunks and cached is not None and len(cached.ids) and \
                    cached.matrix.shape[1] != np.asarray(chunks[0].vector).shape[-1]:
                raise ValueError(f"store {store_id} holds {cached.matrix.shape[1]}-dimensional vectors, got "
                                 f"{np.asarray(chunks[0].vector).shape[-1]}")
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in self._delete_steps("store_id = ? AND file_id = ?", (store_id, file_id)):
                    conn.execute(sql, params)
                new_ids: list[int] = []
                for chunk in chunks:
                    vector = np.asarray(chunk.vector, dtype=np.float32)
                    cur = conn.execute(
                        "INSERT INTO chunks(store_id, file_id, position, text, tokens, vector) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (store_id, file_id, chunk.position, chunk.text, chunk.tokens, vector.tobytes()),
                    )
                    row_id = int(cur.lastrowid or 0)
                    new_ids.append(row_id)
                    conn.execute("INSERT INTO chunks_fts(rowid, text) VALUES (?, ?)", (row_id, chunk.text))
                    conn.execute("INSERT INTO chunk_owners(id, store_id, file_id) VALUES (?, ?, ?)",
                                 (row_id, store_id, file_id))
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
            if store_id in self._vectors:
                self._drop_file_from_cache(store_id, file_id)
                if chunks:
                    matrix = np.stack([np.asarray(c.vector, dtype=np.float32) for c in chunks])
                    ids = np.asarray(new_ids, dtype=np.int64)
                    old = self._vectors[store_id]
                    self._vectors[store_id] = StoreVectors(
                        np.concatenate([old.ids, ids]),
                        np.concatenate([old.file_ids, np.full(len(ids), file_id, dtype=object)]),
                        np.concatenate([old.matrix, matrix]) if len(old.ids) else matrix,
                        (old.total if len(old.ids) else 0.0) + matrix.sum(axis=0, dtype=np.float64),
                    )
                    if store_id in self._ann:
                        self._ann[store_id].add(matrix, ids)

    def _drop_file_from_cache(self, store_id: str, file_id: str) -> None:
        old = self._vectors.get(store_id)
        if old is None:
            return
        gone = old.file_ids == file_id
        if not gone.any():
            return
        if store_id in self._ann:
            self._ann[store_id].remove(old.ids[gone])
        keep = ~gone
        self._vectors[store_id] = StoreVectors(old.ids[keep], old.file_ids[keep], old.matrix[keep],
                                                old.total - old.matrix[gone].sum(axis=0, dtype=np.float64))

    def delete_file(self, store_id: str, file_id: str) -> None:
        with self._lock:
            where = ("store_id = ? AND file_id = ?", (store_id, file_id))
            self._write(
                [
                    *self._delete_steps(*where),
                    ("DELETE FROM file_attributes WHERE store_id = ? AND file_id = ?", (store_id, file_id)),
                ]
            )
            self._drop_file_from_cache(store_id, file_id)
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
            self._vectors.pop(store_id, None)
            self._ann.pop(store_id, None)
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

    # -- reads -------------------------------------------------------------------------------

    def _snapshot(self, store_id: str) -> StoreVectors:
        with self._lock:
            snap = self._vectors.get(store_id)
            if snap is None:
                rows = self._conn().execute(
                    "SELECT id, file_id, vector FROM chunks WHERE store_id = ? ORDER BY id", (store_id,)
                ).fetchall()
                if rows:
                    # One model per store, so every row has the first row's dimension.
                    matrix = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(
                        len(rows), len(rows[0][2]) // 4
                    )
                    snap = StoreVectors(
                        np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
                        np.array([r[1] for r in rows], dtype=object),
                        matrix,
                        matrix.sum(axis=0, dtype=np.float64),
                    )
                else:
                    snap = StoreVectors.empty(0)
                self._vectors[store_id] = snap
            return snap

    def _ann_for(self, store_id: str, snap: StoreVectors) -> Ann:
        with self._lock:
            ann = self._ann.get(store_id)
            if ann is None:
                ann = self._ann[store_id] = Ann(snap)
            return ann

    def _allowed_files(self, store_id: str, filter: Filter | None) -> set[str] | None:
        """The files that pass the filter (None = no filter, every file)."""
        if filter is None:
            return None
        rows = self._conn().execute(
            "SELECT file_id, attributes FROM file_attributes WHERE store_id = ?", (store_id,)
        ).fetchall()
        return {fid for fid, raw in rows if matches(filter, json.loads(raw) if raw else None, fid)}

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
        snap = self._snapshot(store_id)
        allowed_files = self._allowed_files(store_id, filter)
        mask = None if allowed_files is None else snap.rows_of(allowed_files)
        candidates = len(snap.ids) if mask is None else int(mask.sum())
        if candidates == 0:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if candidates <= self.exact_search_max_chunks:
            ids = snap.ids if mask is None else snap.ids[mask]
            matrix = snap.matrix if mask is None else snap.matrix[mask]
            scores = matrix @ query
            top = min(k, len(scores))
            best = np.argpartition(-scores, top - 1)[:top]
            best = best[np.lexsort((ids[best], -scores[best]))]
            found = [(int(ids[i]), float(scores[i])) for i in best]
        else:
            allowed_ids = None if mask is None else set(snap.ids[mask].tolist())
            labels, sims = self._ann_for(store_id, snap).query(query, min(k, candidates), allowed_ids)
            found = [(int(label), float(sim)) for label, sim in zip(labels, sims, strict=True)]
        return self._hits(found)

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
        return (snap.total / len(snap.ids)).astype(np.float32) if len(snap.ids) else None

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
        found = self._keywords.matches(store_id, terms)
        if found is not None:
            return sum(found.idfs) if any(found.rows_with) else 0.0
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
        at = np.minimum(np.searchsorted(snap.ids, ids), max(len(snap.ids) - 1, 0))
        known = snap.ids[at] == ids if len(snap.ids) else np.zeros(len(ids), bool)
        cosines = np.zeros(len(ids))
        cosines[known] = snap.matrix[at[known]] @ np.asarray(vector, dtype=np.float32).reshape(-1)
        keyword = self._keyword_scores(store_id, keyword_terms(query), ids)
        return {
            (r[1], r[2]): (float(cosines[i]), keyword.get(r[0], 0.0))
            for i, r in enumerate(rows)
            if known[i]
        }

    def _keyword_scores(self, store_id: str, terms: list[str], ids: np.ndarray) -> dict[int, float]:
        if not terms:
            return {}
        found = self._keywords.matches(store_id, terms)
        if found is not None:
            wanted = np.isin(found.ids, ids)
            return dict(zip(found.ids[wanted].tolist(), found.scores[wanted].tolist(), strict=True))
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
            snapshot = self._keywords.load(self._conn())  # searches and writes go on meanwhile
            with self._lock:
                self._keywords.finish_loading(snapshot)
                self._keywords_state = "ready"
                self._check_keywords_size()
        except Exception:
            log.exception("loading the keyword postings failed; SQLite scores keyword searches")
            with self._lock:
                self._keywords.clear()
                self._keywords_state = "too_big"

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

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
