"""PostgreSQL + pgvector as an Index: HNSW cosine search, tsvector/GIN keyword search, JSONB attribute filters.

Vector search plans like the embedded backend: the filter is first run over the store's rows in
``index_files`` (one row per file, so cheap) to count candidate chunks. Up to
``exact_search_max_chunks`` candidates (default 10000: ~20 ms at 384 dims on 2 cores) are scanned
exactly, fetched by the (store_id, file_id) btree; that is both faster and exact where an HNSW scan
under a selective filter must walk far and loses recall (1% of 100k chunks: 36 ms at recall 0.76
through HNSW, 5 ms at recall 1 exactly). Above it, HNSW with pgvector 0.8
iterative scans (``hnsw.iterative_scan = relaxed_order``) and the filter inside the query; a result
shorter than k (the scan gave up at ``hnsw.max_scan_tuples``) is redone exactly.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from vectorhouse.index.base import Chunk, FileWrite, Hit, upsert_each
from vectorhouse.index.filters import Filter
from vectorhouse.index.pgvector.filters import compile_filter
from vectorhouse.index.pgvector.keywords import TERMS_CTE, count_file, keyword_query, top_chunks
from vectorhouse.index.pgvector.schema import (
    FILES_TABLE,
    KEYWORDS_TABLE,
    SCHEMA_LOCK,
    STORES_TABLE,
    TABLE,
    TERMS_TABLE,
    ann_key,
    create_vector_index,
    ensure_schema,
)

EXACT_SEARCH_MAX_CHUNKS = 10000
# hnsw.ef_search is capped at 1000 by pgvector. On bench scale's 100k store, 100 SciFact claims, top 10:
# ef 100 recall@10 0.961 (5.0 ms p50 in-process), 200: 0.988 (7.3 ms), 400: 0.998 (12.1 ms); 0.912 at 1M with 100.
_EF_SEARCH_MIN, _EF_SEARCH_MAX = 200, 1000


class PgvectorIndex:
    """The Index protocol on PostgreSQL + pgvector; thread-safe (one pooled connection per call)."""

    def __init__(
        self,
        database_url: str,
        *,
        min_pool_size: int = 1,
        max_pool_size: int = 8,
        connect_timeout: float = 30.0,
        exact_search_max_chunks: int = EXACT_SEARCH_MAX_CHUNKS,
    ) -> None:
        self.exact_search_max_chunks = exact_search_max_chunks
        # Dimensions whose HNSW index this process has seen exist (each store has its model's).
        self._indexed: set[int] = set()
        self._indexed_lock = threading.Lock()
        # Dimensions whose index waits for the end of a bulk load (None: no bulk load running).
        self._deferred: set[int] | None = None
        # The schema first, on a plain connection: the pool's connections need the vector type to exist.
        with psycopg.connect(database_url, connect_timeout=max(1, int(connect_timeout))) as conn:
            ensure_schema(conn)
        self._pool: ConnectionPool[Any] = ConnectionPool(
            database_url,
            min_size=min_pool_size,
            max_size=max_pool_size,
            configure=self._configure,
            # A connection is checked before it is handed out: after PostgreSQL restarts, dead ones are
            # replaced instead of failing a request; while it is down, a request waits 5 s, not 30.
            check=ConnectionPool.check_connection,
            timeout=5.0,
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except BaseException:
            self._pool.close()  # stop its background workers before failing
            raise

    @staticmethod
    def _configure(conn: psycopg.Connection[Any]) -> None:
        register_vector(conn)  # numpy arrays <-> vector, binary on the wire
        conn.commit()  # the type lookups opened a transaction; a pooled connection must be idle

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        # psycopg_pool commits on a clean exit and rolls back on an exception.
        with self._pool.connection() as conn:
            yield conn

    @staticmethod
    def _lock_file(conn: psycopg.Connection[Any], store_id: str, file_id: str) -> None:
        """Serialise writers of one file: without it two concurrent upserts could both insert."""
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{store_id}\n{file_id}",))

    @staticmethod
    def _vector(vector: Any) -> np.ndarray:
        return np.asarray(vector, dtype=np.float32).reshape(-1)

    def _ensure_vector_index(self, dimension: int) -> None:
        with self._indexed_lock:
            if dimension in self._indexed:
                return
            if self._deferred is not None:
                self._deferred.add(dimension)
                return
            self._create_vector_index(dimension)
            self._indexed.add(dimension)

    def _create_vector_index(self, dimension: int, maintenance_work_mem_mb: int | None = None) -> None:
        with self._conn() as conn:
            # Under the schema lock: two processes writing a new dimension's first rows at once.
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", SCHEMA_LOCK)
            if maintenance_work_mem_mb:  # for this transaction only
                conn.execute("SELECT set_config('maintenance_work_mem', %s, true)",
                             (f"{int(maintenance_work_mem_mb)}MB",))
            create_vector_index(conn, dimension)

    @contextmanager
    def bulk_load(self, maintenance_work_mem_mb: int | None = None) -> Iterator[None]:
        """Writes inside do not create the HNSW index of a dimension that has none yet; it is built over
        all their rows at the end, as pgvector advises for loading: at 20k chunks an insert into the
        graph was two thirds of a write, and a build is one pass with the graph in memory (give
        `maintenance_work_mem_mb` room for it, or it spills and slows). Searches meanwhile scan exactly."""
        with self._indexed_lock:
            if self._deferred is not None:
                raise RuntimeError("a bulk load is already running")
            self._deferred = set()
        try:
            yield
        finally:
            with self._indexed_lock:
                deferred, self._deferred = self._deferred, None
        for dimension in sorted(deferred):
            self._create_vector_index(dimension, maintenance_work_mem_mb)
            with self._indexed_lock:
                self._indexed.add(dimension)

    # -- writes ------------------------------------------------------------------------------

    def upsert(
        self, store_id: str, file_id: str, chunks: Sequence[Chunk], attributes: Mapping[str, Any] | None
    ) -> None:
        vectors = [self._vector(c.vector) for c in chunks]
        if vectors:
            if len({len(v) for v in vectors}) > 1:
                raise ValueError("the chunks of one file have vectors of different dimensions")
            self._ensure_vector_index(len(vectors[0]))
        attrs = Jsonb(dict(attributes)) if attributes is not None else None
        with self._conn() as conn:
            self._lock_file(conn, store_id, file_id)
            count_file(conn, store_id, file_id, -1)
            for table in (TABLE, KEYWORDS_TABLE):
                conn.execute(f"DELETE FROM {table} WHERE store_id = %s AND file_id = %s", (store_id, file_id))
            conn.execute(
                f"INSERT INTO {FILES_TABLE} (store_id, file_id, chunks, attributes) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (store_id, file_id) "
                "DO UPDATE SET chunks = excluded.chunks, attributes = excluded.attributes",
                (store_id, file_id, len(chunks), attrs),
            )
            if not chunks:
                return
            # COPY BINARY: several times faster than INSERTs for a file's worth of 384-float vectors.
            with (
                conn.cursor() as cur,
                cur.copy(
                    f"COPY {TABLE} (store_id, file_id, position, text, tokens, embedding, attributes) "
                    "FROM STDIN (FORMAT BINARY)"
                ) as copy,
            ):
                copy.set_types(["text", "text", "int4", "text", "int4", "vector", "jsonb"])
                for chunk, vector in zip(chunks, vectors, strict=True):
                    # PostgreSQL text cannot hold NUL; extracted text occasionally does.
                    text = chunk.text.replace("\x00", "")
                    copy.write_row((store_id, file_id, chunk.position, text, chunk.tokens, vector, attrs))
            conn.execute(
                f"INSERT INTO {KEYWORDS_TABLE} (chunk_id, store_id, file_id, position, attributes, tsv) "
                f"SELECT id, store_id, file_id, position, attributes, to_tsvector('english'::regconfig, text) "
                f"FROM {TABLE} WHERE store_id = %s AND file_id = %s",
                (store_id, file_id),
            )
            count_file(conn, store_id, file_id, 1)

    def upsert_files(self, writes: Sequence[FileWrite]) -> list[Exception | None]:
        return upsert_each(self, writes)  # each commit makes its file searchable: nothing to group

    def delete_file(self, store_id: str, file_id: str) -> None:
        with self._conn() as conn:
            self._lock_file(conn, store_id, file_id)
            count_file(conn, store_id, file_id, -1)
            for table in (TABLE, KEYWORDS_TABLE, FILES_TABLE):
                conn.execute(f"DELETE FROM {table} WHERE store_id = %s AND file_id = %s", (store_id, file_id))

    def delete_store(self, store_id: str) -> None:
        with self._conn() as conn:
            # The store's statistics row first, as every writer of the store takes it: an upsert
            # still running commits before the rows are counted out, or starts after they are gone.
            conn.execute(f"SELECT 1 FROM {STORES_TABLE} WHERE store_id = %s FOR UPDATE", (store_id,))
            for table in (TABLE, KEYWORDS_TABLE, FILES_TABLE, TERMS_TABLE, STORES_TABLE):
                conn.execute(f"DELETE FROM {table} WHERE store_id = %s", (store_id,))

    def set_attributes(self, store_id: str, file_id: str, attributes: Mapping[str, Any] | None) -> None:
        attrs = Jsonb(dict(attributes)) if attributes is not None else None
        with self._conn() as conn:
            self._lock_file(conn, store_id, file_id)
            for table in (TABLE, KEYWORDS_TABLE, FILES_TABLE):
                conn.execute(
                    f"UPDATE {table} SET attributes = %s WHERE store_id = %s AND file_id = %s",
                    (attrs, store_id, file_id),
                )

    # -- reads -------------------------------------------------------------------------------

    @staticmethod
    def _where(store_id: str, filter: Filter | None) -> tuple[str, list[Any]]:
        if filter is None:
            return "store_id = %s", [store_id]
        sql, params = compile_filter(filter)
        return f"store_id = %s AND ({sql})", [store_id, *params]

    def _candidates(
        self, conn: psycopg.Connection[Any], store_id: str, filter: Filter | None
    ) -> tuple[int | None, list[str] | None]:
        """(candidate chunks, their files) when at most exact_search_max_chunks, else (None, None)."""
        limit = self.exact_search_max_chunks + 1  # a file has >= 1 chunk: more files than that is "many"
        if filter is None:
            row = conn.execute(
                f"SELECT count(*), coalesce(sum(chunks), 0) FROM "
                f"(SELECT chunks FROM {FILES_TABLE} WHERE store_id = %s LIMIT %s) f",
                (store_id, limit),
            ).fetchone()
            files, chunks = (int(row[0]), int(row[1])) if row else (0, 0)
            return (None, None) if files >= limit or chunks >= limit else (chunks, None)
        where, params = self._where(store_id, filter)
        rows = conn.execute(
            f"SELECT file_id, chunks FROM {FILES_TABLE} WHERE {where} LIMIT %s", [*params, limit]
        ).fetchall()
        chunks = sum(int(r[1]) for r in rows)
        if len(rows) >= limit or chunks >= limit:
            return None, None
        return chunks, [r[0] for r in rows if r[1]]

    def files_with_words(self, store_id: str, words: tuple[str, ...]) -> set[str]:
        """The store's files whose chunks hold every word (each anywhere in the file), by the GIN index;
        a word PostgreSQL's English configuration has no lexeme for (its own stop words) holds everywhere."""
        one = (f"SELECT file_id FROM {KEYWORDS_TABLE} WHERE store_id = %s "
               "AND (numnode(plainto_tsquery('english', %s)) = 0 OR tsv @@ plainto_tsquery('english', %s))")
        params = [arg for word in words for arg in (store_id, word, word)]
        with self._conn() as conn:
            rows = conn.execute(" INTERSECT ".join([one] * len(words)), params).fetchall()
        return {r[0] for r in rows}

    def search_vector(self, store_id: str, vector: np.ndarray, k: int, filter: Filter | None) -> list[Hit]:
        if k <= 0:
            return []
        query = self._vector(vector)
        where, params = self._where(store_id, filter)
        with self._conn() as conn:
            candidates, files = self._candidates(conn, store_id, filter)
            if candidates == 0:
                return []
            if candidates is not None:
                if files is not None:
                    # The btree finds the allowed files' rows; the filter is re-checked on the rows
                    # so an attributes change between the two statements cannot leak.
                    where += " AND file_id = ANY(%s)"
                    params = [*params, files]
                rows = self._search_exact(conn, where, params, query, k)
            else:
                rows = self._search_ann(conn, where, params, query, k, len(query))
                if len(rows) < k:
                    # Short: fewer than k rows match, or the iterative scan gave up
                    # (hnsw.max_scan_tuples) under a very selective filter. An exact scan settles it.
                    rows = self._search_exact(conn, where, params, query, k)
        return [Hit(file_id=r[0], position=r[1], text=r[2], score=1.0 - float(r[3])) for r in rows]

    @staticmethod
    def _search_exact(
        conn: psycopg.Connection[Any], where: str, params: list[Any], query: np.ndarray, k: int
    ) -> list[tuple[Any, ...]]:
        # "(<=>) + 0" is not an ordering the HNSW index can serve, so this is always an exact scan
        # (a GUC like enable_indexscan would be ignored by a cached generic plan of a prepared query).
        sql = (
            f"SELECT file_id, position, text, embedding <=> %s AS distance FROM {TABLE} WHERE {where} "
            "ORDER BY (embedding <=> %s) + 0, file_id, position LIMIT %s"
        )
        return conn.execute(sql, [query, *params, query, k]).fetchall()

    @staticmethod
    def _search_ann(
        conn: psycopg.Connection[Any], where: str, params: list[Any], query: np.ndarray, k: int, dimension: int
    ) -> list[tuple[Any, ...]]:
        ef_search = str(min(_EF_SEARCH_MAX, max(_EF_SEARCH_MIN, 2 * k)))
        # Executor-time settings (unlike planner GUCs they also reach cached plans); LOCAL = this call.
        conn.execute(
            "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), set_config('hnsw.ef_search', %s, true)",
            (ef_search,),
        )
        # relaxed_order lets the HNSW scan keep going until k rows pass the filter, but may return
        # them slightly out of order, so the outer query re-sorts by the exact distance ("+ 0"
        # keeps PostgreSQL 17+ from reusing the CTE's claimed order and skipping that sort).
        expr, cast, dims = ann_key(dimension)
        sql = (
            f"WITH found AS MATERIALIZED (SELECT file_id, position, text, embedding <=> %s AS distance "
            f"FROM {TABLE} WHERE {dims} AND {where} ORDER BY {expr} <=> %s{cast} LIMIT %s) "
            "SELECT file_id, position, text, distance FROM found ORDER BY distance + 0, file_id, position"
        )
        return conn.execute(sql, [query, *params, query, k]).fetchall()

    def search_text(self, store_id: str, query: str, k: int, filter: Filter | None) -> list[Hit]:
        if k <= 0:
            return []
        where, params = self._where(store_id, filter)
        with self._conn() as conn:
            keywords = keyword_query(conn, store_id, query)
            if keywords is None:
                return []
            rows = top_chunks(conn, keywords, where, params, k)
        return [Hit(file_id=r[0], position=r[1], text=r[2], score=float(r[3])) for r in rows]

    def mean_vector(self, store_id: str) -> np.ndarray | None:
        with self._conn() as conn:
            row = conn.execute(f"SELECT vector_sum, chunks FROM {STORES_TABLE} WHERE store_id = %s",
                               (store_id,)).fetchone()
        if row is None or row[0] is None or not row[1]:
            return None
        total = row[0].to_numpy() if hasattr(row[0], "to_numpy") else row[0]  # pgvector's Vector, or numpy
        return (np.asarray(total, dtype=np.float64) / int(row[1])).astype(np.float32)

    def keyword_scale(self, store_id: str, query: str) -> float:
        with self._conn() as conn:
            keywords = keyword_query(conn, store_id, query)
        return keywords.scale if keywords is not None else 0.0

    def score_chunks(self, store_id: str, keys: Sequence[tuple[str, int]], vector: np.ndarray,
                     query: str) -> dict[tuple[str, int], tuple[float, float]]:
        if not keys:
            return {}
        with self._conn() as conn:
            keywords = keyword_query(conn, store_id, query)
            terms, terms_args, keyword, keyword_args, joined = "", [], "0.0", [], ""
            if keywords is not None:  # the keyword rows are joined only when there are terms to score
                terms, terms_args = keywords.with_terms()
                score, keyword_args = keywords.score()
                keyword = f"CASE WHEN k.tsv @@ {keywords.match()} THEN {score} ELSE 0.0 END"
                joined = f" JOIN {KEYWORDS_TABLE} k ON k.chunk_id = c.id CROSS JOIN {TERMS_CTE}"
            rows = conn.execute(
                f"{terms}SELECT c.file_id, c.position, c.embedding <=> %s, {keyword} FROM {TABLE} c "
                "JOIN unnest(%s::text[], %s::int[]) AS wanted(file_id, position) "
                f"ON c.file_id = wanted.file_id AND c.position = wanted.position{joined} WHERE c.store_id = %s",
                [*terms_args, self._vector(vector), *keyword_args, [key[0] for key in keys], [key[1] for key in keys],
                 store_id],
            ).fetchall()
        return {(r[0], r[1]): (1.0 - float(r[2]), float(r[3])) for r in rows}

    def file_chunks(self, store_id: str, file_id: str) -> list[str]:
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT text FROM {TABLE} WHERE store_id = %s AND file_id = %s ORDER BY position, id",
                (store_id, file_id),
            ).fetchall()
        return [r[0] for r in rows]

    def ping(self) -> None:
        with self._conn() as conn:
            conn.execute("SELECT 1").fetchone()

    def close(self) -> None:
        self._pool.close()
