"""PostgreSQL + pgvector index: HNSW cosine search, tsvector/GIN keyword search, JSONB attribute filters.

Schema (created idempotently by :func:`ensure_schema`)::

    index_chunks(id bigint identity, store_id text, file_id text, position int, text text, tokens int,
                 embedding vector, tsv tsvector GENERATED from to_tsvector('english', text),
                 attributes jsonb)      -- the file's attributes, copied onto every chunk row
        HNSW per dimension ((embedding::vector(d)) vector_cosine_ops) WHERE vector_dims(embedding) = d,
        GIN (tsv), btree (store_id, file_id, position)
    index_files(store_id, file_id, chunks int, attributes jsonb)   PRIMARY KEY (store_id, file_id)
    index_terms, index_stores   -- keyword statistics, below

Stores of different embedding models, hence dimensions, share the table: the column has no fixed
dimension, and each dimension in use gets its own partial HNSW index over its rows (made when its
first rows are written), which a search of a store of that dimension names in its WHERE and ORDER BY.

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

Text scores are BM25-like, with the IDF and the scale of the embedded backend's FTS5 ``bm25()``::

    score = sum over held terms t of  idf(t) * ts_rank('{1,1,1,1}', tsv, t, 1) * zeta(2) * log2(avg length + 1)

``ts_rank`` of one lexeme gives its term frequency a saturating weight (``sum(1/i^2, i = 1..tf) /
zeta(2)``: 1 occurrence 0.61, 2 -> 0.76, many -> 1) and, with normalisation 1, divides by
``log2(length + 1)``, the length counting the chunk's lexeme occurrences. The constant makes one
occurrence in a chunk of the store's average length weigh exactly ``idf(t)``, as BM25 does, so
``keyword_scale`` is the summed IDF of the held terms, as on the other backends. ``idf`` is
FTS5's (``index.text.bm25_idf``) over per-store statistics kept in two tables as chunks are
written, so a search reads them by key::

    index_terms(store_id, lexeme, chunks)    -- chunks of the store holding the lexeme
    index_stores(store_id, chunks, tokens)   -- the store's chunks and their lexeme occurrences

Writers of one store take its ``index_stores`` row lock first, which orders their updates of the
shared ``index_terms`` rows (no deadlocks) and keeps the counts equal to the rows. Without IDF
(``ts_rank`` alone) SciFact's keyword nDCG@10 was 0.570 against FTS5's 0.687.

Chunk rows are not compressed below 8 kB (``toast_tuple_target``): a compressed ``tsvector`` is
decompressed again by every ``@@`` and ``ts_rank`` of every matching row. On SciFact (5,229 chunks)
a 7-term query matching 2,564 of them took 35 ms compressed and 13 ms not; the larger heap costs an
exact vector scan of the store about 1 ms (3.1 -> 4.1 ms).
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg.types.json import Jsonb

from vectorhouse.index.base import Chunk, Hit
from vectorhouse.index.filters import (
    EQUALITY_OPS,
    MEMBERSHIP_OPS,
    ORDERING_OPS,
    Comparison,
    Compound,
    Filter,
    is_number,
)
from vectorhouse.index.text import bm25_idf, keyword_terms

try:  # psycopg[pool]; a minimal pool below stands in when it is not installed
    from psycopg_pool import ConnectionPool
except ImportError:  # pragma: no cover - exercised only without psycopg_pool
    ConnectionPool = None  # type: ignore[assignment,misc]

TABLE = "index_chunks"
FILES_TABLE = "index_files"
TERMS_TABLE = "index_terms"
STORES_TABLE = "index_stores"
EXACT_SEARCH_MAX_CHUNKS = 10000

# Two-int advisory lock keys (a separate key space from the bigint per-file locks): "vh", "schema".
_SCHEMA_LOCK = (0x7668, 0x5343)

# ts_rank's term-frequency weights sum 1/i^2 and divide by its limit, zeta(2) = pi^2 / 6.
ZETA_2 = math.pi**2 / 6
# Rows smaller than this are stored as they are: nothing compressed, nothing moved out of line.
TOAST_TUPLE_TARGET = 8160

# hnsw.ef_search is capped at 1000 by pgvector.
_EF_SEARCH_MIN, _EF_SEARCH_MAX = 100, 1000

# pgvector's HNSW indexes vector up to 2000 dimensions and halfvec up to 4000; wider embeddings
# (e.g. text-embedding-3-large, 3072) are indexed as half precision via an expression index.
MAX_VECTOR_INDEX_DIM, MAX_HALFVEC_INDEX_DIM = 2000, 4000


_TERM_QUERY = "plainto_tsquery('english', %s)"


@dataclass(frozen=True)
class _KeywordQuery:
    """The query's keyword terms that the store holds, with their IDF, and the store's length scale.

    Each term is its own plainto_tsquery and travels as a parameter, so no user text is ever parsed
    as tsquery syntax.
    """

    terms: tuple[str, ...]
    idfs: tuple[float, ...]
    length_scale: float  # zeta(2) * log2(average length + 1): one occurrence at average length -> idf
    scale: float  # Index.keyword_scale: the held terms' IDF, and the largest IDF for each term lacked

    def match(self) -> tuple[str, list[Any]]:
        """A tsquery matching a chunk that holds any of the terms."""
        return "(" + " || ".join([_TERM_QUERY] * len(self.terms)) + ")", list(self.terms)

    def score(self) -> tuple[str, list[Any]]:
        """The chunk's keyword score (see the module docstring); 0 for a chunk matching no term."""
        parts = [f"ts_rank('{{1,1,1,1}}', c.tsv, {_TERM_QUERY}, 1) * %s"] * len(self.terms)
        args: list[Any] = [arg for term, idf in zip(self.terms, self.idfs, strict=True) for arg in (term, idf)]
        return f"({' + '.join(parts)}) * %s", [*args, self.length_scale]


def _keyword_query(conn: psycopg.Connection[Any], store_id: str, query: str) -> _KeywordQuery | None:
    """The store's statistics for the query's terms; None when it holds none of them."""
    words = keyword_terms(query)
    if not words:
        return None
    # PostgreSQL's parser reads the digits after a hyphen as a signed number ("XJ-4471" is 'xj' and
    # '-4471'): a number in the query is looked up in both forms, and stands for the one the store holds more.
    terms = [*words, *(f"-{w}" for w in words if w.isdigit())]
    # Per term: its lexemes (none for a stop word; several, AND-ed, for e.g. "e_coli", which then
    # counts the chunks of its rarest lexeme) and how many chunks of the store hold it.
    rows = conn.execute(
        f"""
        SELECT t.term, count(v.lexeme), min(coalesce(x.chunks, 0)), s.chunks, s.tokens
        FROM unnest(%s::text[]) WITH ORDINALITY AS t(term, i)
        LEFT JOIN LATERAL unnest(to_tsvector('english', t.term)) AS v ON TRUE
        LEFT JOIN {TERMS_TABLE} x ON x.store_id = %s AND x.lexeme = v.lexeme
        LEFT JOIN {STORES_TABLE} s ON s.store_id = %s
        GROUP BY t.i, t.term, s.chunks, s.tokens ORDER BY t.i
        """,
        (terms, store_id, store_id),
    ).fetchall()
    signed = {str(r[0])[1:]: r for r in rows[len(words):]}
    rows = [signed[r[0]] if r[0] in signed and signed[r[0]][2] > r[2] else r for r in rows[: len(words)]]
    held = [(str(r[0]), int(r[2])) for r in rows if r[1] and r[2] and r[3]]
    if not held:
        return None
    chunks, tokens = int(rows[0][3]), int(rows[0][4])
    idfs = tuple(bm25_idf(chunks, rows_with) for _, rows_with in held)
    lacked = sum(1 for r in rows if r[1] and not r[2])  # a word PostgreSQL stems to nothing never matches
    return _KeywordQuery(
        terms=tuple(term for term, _ in held),
        idfs=idfs,
        length_scale=ZETA_2 * math.log2(tokens / chunks + 1),
        scale=sum(idfs) + lacked * bm25_idf(chunks, 0),
    )


def _count_file(conn: psycopg.Connection[Any], store_id: str, file_id: str, sign: int) -> None:
    """Add (sign 1) or take away (sign -1) the file's current chunk rows in the store's statistics:
    keyword counts, and the sum of its vectors (whose mean `mean_vector` gives).

    The store's row first: its lock orders every writer of the store, so their updates of the
    shared term rows cannot deadlock, and the counts always equal the committed rows.
    """
    op = "+" if sign > 0 else "-"  # pgvector has vector + and -, no scalar product
    conn.execute(
        f"""
        INSERT INTO {STORES_TABLE} AS s (store_id, chunks, tokens, vector_sum)
        SELECT %s, %s * count(*), %s * coalesce(sum(
            (SELECT count(*) FROM unnest(c.tsv) AS u, unnest(u.positions))), 0), sum(c.embedding)
        FROM {TABLE} c WHERE c.store_id = %s AND c.file_id = %s
        ON CONFLICT (store_id) DO UPDATE SET chunks = s.chunks + excluded.chunks, tokens = s.tokens + excluded.tokens,
            vector_sum = CASE WHEN s.vector_sum IS NULL THEN excluded.vector_sum
                              WHEN excluded.vector_sum IS NULL THEN s.vector_sum
                              ELSE s.vector_sum {op} excluded.vector_sum END
        """,
        (store_id, sign, sign, store_id, file_id),
    )
    # One unnest row per distinct lexeme of a chunk: count(*) is the chunks holding it. Sorted, so
    # two writers would lock shared rows in the same order even without the store's lock.
    conn.execute(
        f"""
        INSERT INTO {TERMS_TABLE} AS t (store_id, lexeme, chunks)
        SELECT %s, u.lexeme, %s * count(*) FROM {TABLE} c, unnest(c.tsv) AS u
        WHERE c.store_id = %s AND c.file_id = %s GROUP BY u.lexeme ORDER BY u.lexeme
        ON CONFLICT (store_id, lexeme) DO UPDATE SET chunks = t.chunks + excluded.chunks
        """,
        (store_id, sign, store_id, file_id),
    )


def _ann_key(dimension: int) -> tuple[str, str, str]:
    """(indexed expression, cast for the query parameter, partial-index predicate) that one dimension's
    HNSW index and its searches share; the dimension is an int of ours, written into the SQL text so
    the planner can match the partial index."""
    d = int(dimension)
    kind = "vector" if d <= MAX_VECTOR_INDEX_DIM else "halfvec"
    return f"(embedding::{kind}({d}))", f"::{kind}({d})", f"vector_dims(embedding) = {d}"


def _vector_index_name(dimension: int) -> str:
    return f"{TABLE}_hnsw_{int(dimension)}"


# ------------------------------------------------------------------------------------------ schema


def check_dimension(dimension: int) -> None:
    if not (isinstance(dimension, int) and 0 < dimension <= MAX_HALFVEC_INDEX_DIM):
        raise ValueError(f"vector dimension must be 1..{MAX_HALFVEC_INDEX_DIM} (pgvector HNSW), got {dimension!r}")


def create_vector_index(conn: psycopg.Connection[Any], dimension: int) -> None:
    """One dimension's partial HNSW index (separate so bulk loaders can build it after loading, which
    is much faster). A no-op, taking no table lock, when it exists."""
    check_dimension(dimension)
    name = _vector_index_name(dimension)
    if conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is not None:  # type: ignore[index]
        return
    expr, _, where = _ann_key(dimension)
    ops = "vector_cosine_ops" if dimension <= MAX_VECTOR_INDEX_DIM else "halfvec_cosine_ops"
    conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {TABLE} USING hnsw ({expr} {ops}) WHERE {where}")


def _untype_embedding(conn: psycopg.Connection[Any]) -> None:
    """A table from before stores chose models has `vector(d)` and one HNSW index: make the column
    dimensionless and give its rows' dimension the per-dimension index."""
    row = conn.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attname = 'embedding'",
        (TABLE,),
    ).fetchone()
    if row is None or row[0] == "vector":
        return
    if not (row[0].startswith("vector(") and row[0].endswith(")")):
        raise ValueError(f"table {TABLE} holds {row[0]} embeddings, not pgvector's vector; use another database")
    conn.execute(f"DROP INDEX IF EXISTS {TABLE}_embedding_hnsw")
    conn.execute(f"ALTER TABLE {TABLE} ALTER COLUMN embedding TYPE vector")
    create_vector_index(conn, int(row[0][len("vector("):-1]))


def ensure_schema(conn: psycopg.Connection[Any]) -> None:
    """Create extension, table and indexes if missing, and commit; safe when many processes start at once."""
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
                embedding vector NOT NULL,
                tsv tsvector GENERATED ALWAYS AS (to_tsvector('english'::regconfig, text)) STORED,
                attributes jsonb
            ) WITH (toast_tuple_target = {TOAST_TUPLE_TARGET})
            """
        )
        row = conn.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass", (TABLE,)).fetchone()
        if f"toast_tuple_target={TOAST_TUPLE_TARGET}" not in ((row[0] if row else None) or []):
            # A table made by an earlier version; rows written from now on are stored uncompressed.
            conn.execute(f"ALTER TABLE {TABLE} SET (toast_tuple_target = {TOAST_TUPLE_TARGET})")
        row = conn.execute(
            "SELECT attstorage FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'embedding'", (TABLE,)
        ).fetchone()
        if row is not None and row[0] == "e":
            # vector's default EXTERNAL storage moves it out of line whenever text + tsv + vector pass
            # ~2 kB (384 dims already do), costing TOAST lookups on every distance; MAIN keeps it in
            # the row and lets text/tsv be compressed or moved instead. Only new rows are affected.
            conn.execute(f"ALTER TABLE {TABLE} ALTER COLUMN embedding SET STORAGE MAIN")
        _untype_embedding(conn)
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
        _ensure_keyword_statistics(conn)


def _ensure_keyword_statistics(conn: psycopg.Connection[Any]) -> None:
    """The statistics tables; counted from the chunk rows when a database predates them."""
    row = conn.execute("SELECT to_regclass(%s), to_regclass(%s)", (TERMS_TABLE, STORES_TABLE)).fetchone()
    if row is not None and row[0] is not None and row[1] is not None:
        has_sum = conn.execute("SELECT 1 FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'vector_sum'",
                               (STORES_TABLE,)).fetchone()
        if not has_sum:  # from before stores kept their vectors' sum
            conn.execute(f"ALTER TABLE {STORES_TABLE} ADD COLUMN vector_sum vector")
            conn.execute(f"UPDATE {STORES_TABLE} s SET vector_sum = x.total FROM (SELECT store_id, sum(embedding) "
                         f"AS total FROM {TABLE} GROUP BY store_id) x WHERE x.store_id = s.store_id")
        return
    conn.execute(f"DROP TABLE IF EXISTS {TERMS_TABLE}, {STORES_TABLE}")
    conn.execute(
        f"CREATE TABLE {TERMS_TABLE} (store_id text NOT NULL, lexeme text NOT NULL, chunks integer NOT NULL, "
        "PRIMARY KEY (store_id, lexeme))"
    )
    conn.execute(
        f"CREATE TABLE {STORES_TABLE} (store_id text PRIMARY KEY, chunks bigint NOT NULL, tokens bigint NOT NULL, "
        "vector_sum vector)"
    )
    conn.execute(
        f"INSERT INTO {TERMS_TABLE} (store_id, lexeme, chunks) "
        f"SELECT c.store_id, u.lexeme, count(*) FROM {TABLE} c, unnest(c.tsv) AS u GROUP BY c.store_id, u.lexeme"
    )
    conn.execute(
        f"INSERT INTO {STORES_TABLE} (store_id, chunks, tokens, vector_sum) SELECT c.store_id, count(*), coalesce("
        f"sum((SELECT count(*) FROM unnest(c.tsv) AS u, unnest(u.positions))), 0), sum(c.embedding) FROM {TABLE} c "
        "GROUP BY c.store_id"
    )


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
    Semantics are exactly :func:`vectorhouse.index.filters.matches`.
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
        *,
        min_pool_size: int = 1,
        max_pool_size: int = 8,
        use_psycopg_pool: bool = True,
        connect_timeout: float = 30.0,
        exact_search_max_chunks: int = EXACT_SEARCH_MAX_CHUNKS,
    ) -> None:
        self.exact_search_max_chunks = exact_search_max_chunks
        # Dimensions whose HNSW index this process has seen exist (each store has its model's).
        self._indexed: set[int] = set()
        self._indexed_lock = threading.Lock()
        # The schema first, on a plain connection: the pool's connections need the vector type to exist.
        with psycopg.connect(database_url, connect_timeout=max(1, int(connect_timeout))) as conn:
            ensure_schema(conn)
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

    @staticmethod
    def _vector(vector: Any) -> np.ndarray:
        return np.asarray(vector, dtype=np.float32).reshape(-1)

    def _ensure_vector_index(self, dimension: int) -> None:
        with self._indexed_lock:
            if dimension in self._indexed:
                return
            with self._conn() as conn:
                # Under the schema lock: two processes writing a new dimension's first rows at once.
                conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", _SCHEMA_LOCK)
                create_vector_index(conn, dimension)
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
            _count_file(conn, store_id, file_id, -1)
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
            _count_file(conn, store_id, file_id, 1)

    def delete_file(self, store_id: str, file_id: str) -> None:
        with self._conn() as conn:
            self._lock_file(conn, store_id, file_id)
            _count_file(conn, store_id, file_id, -1)
            for table in (TABLE, FILES_TABLE):
                conn.execute(f"DELETE FROM {table} WHERE store_id = %s AND file_id = %s", (store_id, file_id))

    def delete_store(self, store_id: str) -> None:
        with self._conn() as conn:
            # The store's statistics row first, as every writer of the store takes it: an upsert
            # still running commits before the rows are counted out, or starts after they are gone.
            conn.execute(f"SELECT 1 FROM {STORES_TABLE} WHERE store_id = %s FOR UPDATE", (store_id,))
            for table in (TABLE, FILES_TABLE, TERMS_TABLE, STORES_TABLE):
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
        expr, cast, dims = _ann_key(dimension)
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
            keywords = _keyword_query(conn, store_id, query)
            if keywords is None:
                return []
            score, score_args = keywords.score()
            match, match_args = keywords.match()
            rows = conn.execute(
                f"SELECT c.file_id, c.position, c.text, {score} AS score FROM {TABLE} c "
                f"WHERE c.tsv @@ {match} AND {where} ORDER BY score DESC, c.file_id, c.position LIMIT %s",
                [*score_args, *match_args, *params, k],
            ).fetchall()
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
            keywords = _keyword_query(conn, store_id, query)
        return keywords.scale if keywords is not None else 0.0

    def score_chunks(self, store_id: str, keys: Sequence[tuple[str, int]], vector: np.ndarray,
                     query: str) -> dict[tuple[str, int], tuple[float, float]]:
        if not keys:
            return {}
        with self._conn() as conn:
            keywords = _keyword_query(conn, store_id, query)
            keyword, keyword_args = "0.0", []
            if keywords is not None:
                score, score_args = keywords.score()
                match, match_args = keywords.match()
                keyword = f"CASE WHEN c.tsv @@ {match} THEN {score} ELSE 0.0 END"
                keyword_args = [*match_args, *score_args]
            rows = conn.execute(
                f"SELECT c.file_id, c.position, c.embedding <=> %s, {keyword} FROM {TABLE} c "
                "JOIN unnest(%s::text[], %s::int[]) AS k(file_id, position) "
                "ON c.file_id = k.file_id AND c.position = k.position WHERE c.store_id = %s",
                [self._vector(vector), *keyword_args, [key[0] for key in keys], [key[1] for key in keys], store_id],
            ).fetchall()
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
