"""PostgreSQL + pgvector index: HNSW cosine search, tsvector/GIN keyword search, JSONB attribute filters.

Schema (created idempotently by :func:`ensure_schema`)::

    index_chunks(id bigint identity, store_id text, file_id text, position int, text text, tokens int,
                 embedding vector(dim), tsv tsvector GENERATED from to_tsvector('english', text),
                 attributes jsonb)      -- the file's attributes, copied onto every chunk row
        HNSW (embedding vector_cosine_ops), GIN (tsv), btree (store_id, file_id, position)
    index_files(store_id, file_id, chunks int, attributes jsonb)   PRIMARY KEY (store_id, file_id)

Filters compile to SQL over ``attributes`` with bound parameters only (:func:`compile_filter`), so
they run inside the same query and before the top-k cut.

Vector search plans like the embedded backend: the filter is first run over the store's rows in
``index_files`` (one row per file, so cheap) to count candidate chunks. Up to
``exact_search_max_chunks`` candidates (default 10000: ~20 ms at 384 dims on 2 cores) are scanned
exactly, fetched by the (store_id, file_id) btree; that is both faster and exact where an HNSW scan
under a selective filter must walk far and loses recall (1% of 100k chunks: 36 ms at recall 0.76
through HNSW, 5 ms at recall 1 exactly). Above it, HNSW with pgvector 0.8
iterative scans (``hnsw.iterative_scan = relaxed_order``) and the filter inside the query; a result
shorter than k (the scan gave up at ``hnsw.max_scan_tuples``) is redone exactly.

Text scores: ``ts_rank('{1,1,1,1}', tsv, q) * n * TEXT_SCORE_SCALE`` where ``q`` ORs one
``plainto_tsquery`` per keyword term and ``n`` is the number of distinct query lexemes. ``ts_rank``
gives each matched lexeme a saturating term-frequency weight (1 occurrence 0.61, 2 -> 0.76,
3 -> 0.84, many -> 1.0) and then divides by ``n``; multiplying by ``n`` makes it a BM25-like *sum
over matched terms*. There is no IDF (PostgreSQL keeps no cheap per-store document frequencies;
the 'english' config drops stop words, the commonest terms) and no length normalisation (chunks are
token windows of near-equal length). ``TEXT_SCORE_SCALE`` puts one term occurring once at ~4.6,
where Lucene BM25 puts one distinctive term, so ``search.fusion.bm25_to_unit`` maps it near 0.5.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg.types.json import Jsonb

from vectorhouse.index.base import Chunk, Hit
from vectorhouse.search.filters import (
    EQUALITY_OPS,
    MEMBERSHIP_OPS,
    ORDERING_OPS,
    Comparison,
    Compound,
    Filter,
    is_number,
)
from vectorhouse.search.text import keyword_terms

try:  # psycopg[pool]; a minimal pool below stands in when it is not installed
    from psycopg_pool import ConnectionPool
except ImportError:  # pragma: no cover - exercised only without psycopg_pool
    ConnectionPool = None  # type: ignore[assignment,misc]

TABLE = "index_chunks"
FILES_TABLE = "index_files"
EXACT_SEARCH_MAX_CHUNKS = 10000

# Two-int advisory lock keys (a separate key space from the bigint per-file locks): "vh", "schema".
_SCHEMA_LOCK = (0x7668, 0x5343)

# ts_rank of one lexeme occurring once is 1/1.645 (0.608); this scale puts it at ~4.6 (see module doc).
TEXT_SCORE_SCALE = 7.5
ONE_OCCURRENCE_RANK = 1 / 1.645

# hnsw.ef_search is capped at 1000 by pgvector.
_EF_SEARCH_MIN, _EF_SEARCH_MAX = 100, 1000

# pgvector's HNSW indexes vector up to 2000 dimensions and halfvec up to 4000; wider embeddings
# (e.g. text-embedding-3-large, 3072) are indexed as half precision via an expression index.
MAX_VECTOR_INDEX_DIM, MAX_HALFVEC_INDEX_DIM = 2000, 4000


def _text_match(terms: int) -> tuple[str, str]:
    """(tsquery, score) SQL for `terms` keyword parameters, each given twice: once per expression.

    One plainto_tsquery per term, OR-ed to match: terms travel as parameters, so no user text is
    ever parsed as tsquery syntax (stop words give empty queries, which || ignores). The score sums
    each term's own ts_rank (0.6..1 for a matched lexeme, 0 otherwise): a BM25-like sum over matched
    terms, without IDF. (ts_rank of the OR-ed query does not grow with the number of matched terms,
    which ranked a one-term match level with a three-term match.)
    """
    term_query = "plainto_tsquery('english', %s)"
    tsquery = " || ".join([term_query] * terms)
    score = " + ".join([f"ts_rank('{{1,1,1,1}}', c.tsv, {term_query})"] * terms)
    return tsquery, score


def _ann_key(dimension: int) -> tuple[str, str]:
    """(indexed expression, cast for the query parameter) that the HNSW index and its ORDER BY share."""
    if dimension <= MAX_VECTOR_INDEX_DIM:
        return "embedding", ""
    return f"(embedding::halfvec({int(dimension)}))", f"::halfvec({int(dimension)})"


# ------------------------------------------------------------------------------------------ schema


def create_vector_index(conn: psycopg.Connection[Any], dimension: int) -> None:
    """The HNSW index (separate so bulk loaders can build it after loading, which is much faster)."""
    expr, _ = _ann_key(dimension)
    ops = "vector_cosine_ops" if dimension <= MAX_VECTOR_INDEX_DIM else "halfvec_cosine_ops"
    conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_embedding_hnsw ON {TABLE} USING hnsw ({expr} {ops})")


def ensure_schema(conn: psycopg.Connection[Any], dimension: int, *, vector_index: bool = True) -> None:
    """Create extension, table and indexes if missing, and commit; safe when many processes start at once.

    Raises ValueError when the table exists with another vector dimension.
    """
    if not (isinstance(dimension, int) and 0 < dimension <= MAX_HALFVEC_INDEX_DIM):
        raise ValueError(f"vector dimension must be 1..{MAX_HALFVEC_INDEX_DIM} (pgvector HNSW), got {dimension!r}")
    with conn.transaction():
        # CREATE ... IF NOT EXISTS still races on the catalog's unique indexes; the lock serialises it.
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", _SCHEMA_LOCK)
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {TABLE} (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                store_id text NOT NULL,
                file_id text NOT NULL,
                position integer NOT NULL,
                text text NOT NULL,
                tokens integer NOT NULL,
                embedding vector({int(dimension)}) NOT NULL,
                tsv tsvector GENERATED ALWAYS AS (to_tsvector('english'::regconfig, text)) STORED,
                attributes jsonb
            )
            """
        )
        row = conn.execute(
            "SELECT attstorage FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'embedding'", (TABLE,)
        ).fetchone()
        if row is not None and row[0] == "e":
            # vector's default EXTERNAL storage moves it out of line whenever text + tsv + vector pass
            # ~2 kB (384 dims already do), costing TOAST lookups on every distance; MAIN keeps it in
            # the row and lets text/tsv be compressed or moved instead. Only new rows are affected.
            conn.execute(f"ALTER TABLE {TABLE} ALTER COLUMN embedding SET STORAGE MAIN")
        row = conn.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attname = 'embedding'",
            (TABLE,),
        ).fetchone()
        if row is None or row[0] != f"vector({dimension})":
            raise ValueError(
                f"table {TABLE} holds {row[0] if row else 'no embedding column'}, but this index was "
                f"configured for vector({dimension}); use another database or drop the table"
            )
        conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_store_file ON {TABLE} (store_id, file_id, position)")
        # One row per file: lets a search count a filter's candidate chunks without touching chunks.
        conn.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {FILES_TABLE} (
                store_id text NOT NULL,
                file_id text NOT NULL,
                chunks integer NOT NULL,
                attributes jsonb,
                PRIMARY KEY (store_id, file_id)
            )
            """
        )
        conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_tsv ON {TABLE} USING gin (tsv)")
        if vector_index:
            create_vector_index(conn, dimension)


# ----------------------------------------------------------------------------------------- filters


def _storable(value: object) -> bool:
    """Whether a filter value can equal some stored JSONB value (jsonb has no NaN/inf, no NUL chars)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return "\x00" not in value
    return isinstance(value, (bool, int))



_ATTR = "(attributes -> %s)"
_PRESENT = f"jsonb_typeof({_ATTR}) <> 'null'"  # NULL (hence no match) when the key is absent


def _compile_comparison(f: Comparison) -> tuple[str, list[Any]]:
    if "\x00" in f.key:  # no stored key can contain NUL, so the attribute is missing: nothing matches
        return "FALSE", []
    key = f.key
    if f.op in EQUALITY_OPS or f.op in MEMBERSHIP_OPS:
        items = f.value if f.op in MEMBERSHIP_OPS else (f.value,)
        if not isinstance(items, tuple):
            items = (items,)
        # Values no stored attribute can hold (NaN, inf, NUL) never compare equal: drop them.
        kept = [Jsonb(v) for v in items if _storable(v)]
        negate = f.op in ("ne", "nin")
        if not kept:
            return (f"COALESCE({_PRESENT}, FALSE)", [key]) if negate else ("FALSE", [])
        # jsonb equality is already type-aware: 1 = 1.0, "1" <> 1, true <> 1.
        if f.op in EQUALITY_OPS:
            test, params = f"{_ATTR} = %s::jsonb", [key, kept[0]]
        else:
            test, params = f"{_ATTR} = ANY(%s::jsonb[])", [key, kept]
        if negate:
            return f"COALESCE({_PRESENT} AND NOT ({test}), FALSE)", [key, *params]
        return f"COALESCE({test}, FALSE)", params
    if f.op in ORDERING_OPS:
        value = f.value
        if not is_number(value) or (isinstance(value, float) and math.isnan(value)):
            return "FALSE", []
        if isinstance(value, float) and math.isinf(value):
            below = value > 0  # every finite number is below +inf and above -inf
            always = below if f.op in ("lt", "lte") else not below
            return (f"COALESCE(jsonb_typeof({_ATTR}) = 'number', FALSE)", [key]) if always else ("FALSE", [])
        sql_op = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[f.op]
        # CASE guarantees the comparison only ever sees numbers; jsonb compares numbers exactly as
        # numerics, and both sides were written by json.dumps (shortest round-trip repr), so the
        # order equals Python's float/int order.
        return (
            f"COALESCE(CASE WHEN jsonb_typeof({_ATTR}) = 'number' THEN {_ATTR} {sql_op} %s::jsonb END, FALSE)",
            [key, key, Jsonb(value)],
        )
    raise ValueError(f"unknown comparison op {f.op!r}")


def compile_filter(f: Filter) -> tuple[str, list[Any]]:
    """A never-NULL SQL boolean over the ``attributes`` column, with its %s parameters in order.

    The SQL text is built from constants only; keys and values always travel as bound parameters.
    Semantics are exactly :func:`vectorhouse.search.filters.matches`.
    """
    if isinstance(f, Compound):
        if not f.filters:
            return ("TRUE", []) if f.op == "and" else ("FALSE", [])
        parts: list[str] = []
        params: list[Any] = []
        for child in f.filters:
            sql, child_params = compile_filter(child)
            parts.append(f"({sql})")
            params.extend(child_params)
        return (" AND " if f.op == "and" else " OR ").join(parts), params
    return _compile_comparison(f)


# ------------------------------------------------------------------------------------------- pool


class _SimplePool:
    """A minimal thread-safe connection pool, used only when psycopg_pool is not installed."""

    def __init__(self, conninfo: str, max_size: int, configure: Any) -> None:
        self._conninfo = conninfo
        self._configure = configure
        self._idle: queue.LifoQueue[psycopg.Connection[Any]] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(max_size)
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        if self._closed:
            raise RuntimeError("the connection pool is closed")
        self._slots.acquire()
        conn: psycopg.Connection[Any] | None = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = psycopg.connect(self._conninfo)
                self._configure(conn)
            with conn.transaction():
                yield conn
        finally:
            if conn is not None:
                if self._closed or conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.close()
                else:
                    self._idle.put(conn)
            self._slots.release()

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


# ------------------------------------------------------------------------------------------ index


class PgvectorIndex:
    """The Index protocol on PostgreSQL + pgvector; thread-safe (one pooled connection per call)."""

    def __init__(
        self,
        database_url: str,
        dimension: int,
        *,
        min_pool_size: int = 1,
        max_pool_size: int = 8,
        use_psycopg_pool: bool = True,
        connect_timeout: float = 30.0,
        exact_search_max_chunks: int = EXACT_SEARCH_MAX_CHUNKS,
    ) -> None:
        self.dimension = dimension
        self.exact_search_max_chunks = exact_search_max_chunks
        # The schema first, on a plain connection: the pool's connections need the vector type to exist.
        with psycopg.connect(database_url, connect_timeout=max(1, int(connect_timeout))) as conn:
            ensure_schema(conn, dimension)
        self._pool: Any
        if use_psycopg_pool and ConnectionPool is not None:
            self._pool = ConnectionPool(
                database_url,
                min_size=min_pool_size,
                max_size=max_pool_size,
                configure=self._configure,
                open=False,
            )
            try:
                self._pool.open(wait=True, timeout=connect_timeout)
            except BaseException:
                self._pool.close()  # stop its background workers before failing
                raise
        else:
            self._pool = _SimplePool(database_url, max_pool_size, self._configure)

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

    def _vector(self, vector: Any) -> np.ndarray:
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        if v.shape[0] != self.dimension:
            raise ValueError(f"expected a vector of dimension {self.dimension}, got {v.shape[0]}")
        return v

    # -- writes ------------------------------------------------------------------------------

    def upsert(
        self, store_id: str, file_id: str, chunks: Sequence[Chunk], attributes: Mapping[str, Any] | None
    ) -> None:
        vectors = [self._vector(c.vector) for c in chunks]
        attrs = Jsonb(dict(attributes)) if attributes is not None else None
        with self._conn() as conn:
            self._lock_file(conn, store_id, file_id)
            conn.execute(f"DELETE FROM {TABLE} WHERE store_id = %s AND file_id = %s", (store_id, file_id))
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

    def delete_file(self, store_id: str, file_id: str) -> None:
        with self._conn() as conn:
            self._lock_file(conn, store_id, file_id)
            for table in (TABLE, FILES_TABLE):
                conn.execute(f"DELETE FROM {table} WHERE store_id = %s AND file_id = %s", (store_id, file_id))

    def delete_store(self, store_id: str) -> None:
        with self._conn() as conn:
            for table in (TABLE, FILES_TABLE):
                conn.execute(f"DELETE FROM {table} WHERE store_id = %s", (store_id,))

    def set_attributes(self, store_id: str, file_id: str, attributes: Mapping[str, Any] | None) -> None:
        attrs = Jsonb(dict(attributes)) if attributes is not None else None
        with self._conn() as conn:
            self._lock_file(conn, store_id, file_id)
            for table in (TABLE, FILES_TABLE):
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
                rows = self._search_ann(conn, where, params, query, k, self.dimension)
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
        expr, cast = _ann_key(dimension)
        sql = (
            f"WITH found AS MATERIALIZED (SELECT file_id, position, text, embedding <=> %s AS distance "
            f"FROM {TABLE} WHERE {where} ORDER BY {expr} <=> %s{cast} LIMIT %s) "
            "SELECT file_id, position, text, distance FROM found ORDER BY distance + 0, file_id, position"
        )
        return conn.execute(sql, [query, *params, query, k]).fetchall()

    def search_text(self, store_id: str, query: str, k: int, filter: Filter | None) -> list[Hit]:
        terms = keyword_terms(query)
        if not terms or k <= 0:
            return []
        tsquery, score = _text_match(len(terms))
        where, params = self._where(store_id, filter)
        sql = (
            f"SELECT c.file_id, c.position, c.text, ({score}) * %s AS score "
            f"FROM {TABLE} c WHERE c.tsv @@ ({tsquery}) AND {where} "
            "ORDER BY score DESC, c.file_id, c.position LIMIT %s"
        )
        args = [*terms, TEXT_SCORE_SCALE, *terms, *params, k]
        with self._conn() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [Hit(file_id=r[0], position=r[1], text=r[2], score=float(r[3])) for r in rows]

    def keyword_scale(self, store_id: str, query: str) -> float:
        # Without IDF every term weighs the same: one occurrence of each term the store holds.
        terms = keyword_terms(query)
        if not terms:
            return 0.0
        held = " + ".join(
            [f"(EXISTS (SELECT 1 FROM {TABLE} WHERE store_id = %s AND tsv @@ plainto_tsquery('english', %s)))::int"]
            * len(terms)
        )
        with self._conn() as conn:
            row = conn.execute(f"SELECT {held}", [arg for term in terms for arg in (store_id, term)]).fetchone()
        return int(row[0] if row else 0) * TEXT_SCORE_SCALE * ONE_OCCURRENCE_RANK

    def score_chunks(self, store_id: str, keys: Sequence[tuple[str, int]], vector: np.ndarray,
                     query: str) -> dict[tuple[str, int], tuple[float, float]]:
        if not keys:
            return {}
        terms = keyword_terms(query)
        keyword, keyword_args = "0.0", []
        if terms:
            tsquery, score = _text_match(len(terms))
            keyword = f"CASE WHEN c.tsv @@ ({tsquery}) THEN ({score}) * %s ELSE 0.0 END"
            keyword_args = [*terms, *terms, TEXT_SCORE_SCALE]
        sql = (
            f"SELECT c.file_id, c.position, c.embedding <=> %s, {keyword} FROM {TABLE} c "
            "JOIN unnest(%s::text[], %s::int[]) AS k(file_id, position) "
            "ON c.file_id = k.file_id AND c.position = k.position WHERE c.store_id = %s"
        )
        args = [self._vector(vector), *keyword_args, [key[0] for key in keys], [key[1] for key in keys], store_id]
        with self._conn() as conn:
            rows = conn.execute(sql, args).fetchall()
        return {(r[0], r[1]): (1.0 - float(r[2]), float(r[3])) for r in rows}

    def file_chunks(self, store_id: str, file_id: str) -> list[str]:
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT text FROM {TABLE} WHERE store_id = %s AND file_id = %s ORDER BY position, id",
                (store_id, file_id),
            ).fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        self._pool.close()
