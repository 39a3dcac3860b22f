"""The pgvector backend's tables and indexes, created idempotently by :func:`ensure_schema`.

    index_chunks(id bigint identity, store_id text, file_id text, position int, text text, tokens int,
                 embedding vector, attributes jsonb)   -- the file's attributes, copied onto every chunk row
        HNSW per dimension ((embedding::vector(d)) vector_cosine_ops) WHERE vector_dims(embedding) = d,
        btree (store_id, file_id, position)
    index_keywords(chunk_id bigint PRIMARY KEY, store_id, file_id, position, attributes,
                   tsv tsvector)        -- to_tsvector('english', text) of the chunk row chunk_id
        GIN (tsv), a partial GIN (tsv) per length band, btree (store_id, file_id),
        btree (store_id, length(tsv))
    index_files(store_id, file_id, chunks int, attributes jsonb)   PRIMARY KEY (store_id, file_id)
    index_terms(store_id, lexeme, chunks)                  -- keyword statistics (keywords.py)
    index_stores(store_id, chunks, tokens, vector_sum)     -- ... and the sum of the store's vectors

Stores of different embedding models, hence dimensions, share the table: the column has no fixed
dimension, and each dimension in use gets its own partial HNSW index over its rows (made when its
first rows are written), which a search of a store of that dimension names in its WHERE and ORDER BY.

Keyword search reads only ``index_keywords``, whose rows are a quarter of a chunk row's size (no
text, no vector), and joins the chunk rows of its top k alone: it fetches the rows that the
length bands' partial GIN indexes leave (keywords.py). At 103k chunks, SciFact's claims ranked in full over
the chunk rows took 164.2 ms p50, over keyword rows 84.5 ms (docs/performance.md).

Rows are not compressed below 8 kB (``toast_tuple_target``): a compressed ``tsvector`` is
decompressed again by every ``@@`` and ``ts_rank`` of every matching row. On SciFact (5,229 chunks)
a 7-term query matching 2,564 of them took 35 ms compressed and 13 ms not.
"""

from __future__ import annotations

from typing import Any

import psycopg

from vectorhouse.index.base import check_dimension as _check_any_dimension

TABLE = "index_chunks"
KEYWORDS_TABLE = "index_keywords"
FILES_TABLE = "index_files"
TERMS_TABLE = "index_terms"
STORES_TABLE = "index_stores"

# Lower edges of the length bands (distinct lexemes, ``length(tsv)``) that each have a partial GIN
# index of their own: keyword search asks each band for the chunks whose terms could still reach
# the top k at that length (keywords.py). Finer where chunks are short, as the bound changes most there.
LENGTH_BANDS = (1, 12, 16, 20, 24, 28, 32, 38, 45, 54, 64, 80, 100, 128, 160, 200, 256, 320, 400, 512, 700, 1000)


def band_predicate(band: int, column: str = "tsv") -> str:
    """The length band's partial-index predicate; a query must repeat it (over its own alias) to use the index."""
    low = LENGTH_BANDS[band]
    if band + 1 == len(LENGTH_BANDS):
        return f"length({column}) >= {low}"
    return f"length({column}) >= {low} AND length({column}) < {LENGTH_BANDS[band + 1]}"


# Two-int advisory lock keys (a separate key space from the bigint per-file locks): "vh", "schema".
SCHEMA_LOCK = (0x7668, 0x5343)

# Rows smaller than this are stored as they are: nothing compressed, nothing moved out of line.
TOAST_TUPLE_TARGET = 8160

# pgvector's HNSW indexes vector up to 2000 dimensions and halfvec up to 4000; wider embeddings
# (e.g. text-embedding-3-large, 3072) are indexed as half precision via an expression index.
MAX_VECTOR_INDEX_DIM, MAX_HALFVEC_INDEX_DIM = 2000, 4000


def ann_key(dimension: int) -> tuple[str, str, str]:
    """(indexed expression, cast for the query parameter, partial-index predicate) that one dimension's
    HNSW index and its searches share; the dimension is an int of ours, written into the SQL text so
    the planner can match the partial index."""
    d = int(dimension)
    kind = "vector" if d <= MAX_VECTOR_INDEX_DIM else "halfvec"
    return f"(embedding::{kind}({d}))", f"::{kind}({d})", f"vector_dims(embedding) = {d}"


def vector_index_name(dimension: int) -> str:
    return f"{TABLE}_hnsw_{int(dimension)}"


def check_dimension(dimension: int) -> None:
    _check_any_dimension(dimension, MAX_HALFVEC_INDEX_DIM, "pgvector HNSW")


def create_vector_index(conn: psycopg.Connection[Any], dimension: int) -> None:
    """One dimension's partial HNSW index (separate so bulk loaders can build it after loading, which
    is much faster). A no-op, taking no table lock, when it exists."""
    check_dimension(dimension)
    name = vector_index_name(dimension)
    if conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is not None:  # type: ignore[index]
        return
    expr, _, where = ann_key(dimension)
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
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", SCHEMA_LOCK)
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
                attributes jsonb
            ) WITH (toast_tuple_target = {TOAST_TUPLE_TARGET})
            """
        )
        _uncompressed(conn, TABLE)
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
        _ensure_keywords(conn)
        _ensure_keyword_statistics(conn)


def _uncompressed(conn: psycopg.Connection[Any], table: str) -> None:
    row = conn.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass", (table,)).fetchone()
    if f"toast_tuple_target={TOAST_TUPLE_TARGET}" not in ((row[0] if row else None) or []):
        # A table made by an earlier version; rows written from now on are stored uncompressed.
        conn.execute(f"ALTER TABLE {table} SET (toast_tuple_target = {TOAST_TUPLE_TARGET})")


def _ensure_keywords(conn: psycopg.Connection[Any]) -> None:
    """The keyword rows' table; filled from the chunk rows' own ``tsv`` column where a database
    predates it (which then loses that column and its indexes)."""
    conn.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {KEYWORDS_TABLE} (
            chunk_id bigint PRIMARY KEY,
            store_id text NOT NULL,
            file_id text NOT NULL,
            position integer NOT NULL,
            attributes jsonb,
            tsv tsvector NOT NULL
        ) WITH (toast_tuple_target = {TOAST_TUPLE_TARGET})
        """
    )
    _uncompressed(conn, KEYWORDS_TABLE)
    old = conn.execute("SELECT 1 FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'tsv' "
                       "AND NOT attisdropped", (TABLE,)).fetchone()
    if old:
        conn.execute(f"INSERT INTO {KEYWORDS_TABLE} (chunk_id, store_id, file_id, position, attributes, tsv) "
                     f"SELECT id, store_id, file_id, position, attributes, tsv FROM {TABLE}")
        conn.execute(f"ALTER TABLE {TABLE} DROP COLUMN tsv")  # its GIN and length indexes go with it
    conn.execute(f"CREATE INDEX IF NOT EXISTS {KEYWORDS_TABLE}_tsv ON {KEYWORDS_TABLE} USING gin (tsv)")
    for band, low in enumerate(LENGTH_BANDS):
        conn.execute(f"CREATE INDEX IF NOT EXISTS {KEYWORDS_TABLE}_tsv_{low} ON {KEYWORDS_TABLE} USING gin (tsv) "
                     f"WHERE {band_predicate(band)}")
    conn.execute(f"CREATE INDEX IF NOT EXISTS {KEYWORDS_TABLE}_store_file ON {KEYWORDS_TABLE} (store_id, file_id)")
    # Chunks by their distinct lexemes: the store's shortest and longest chunk, which bound the bands
    # keyword search asks (keywords.top_chunks).
    conn.execute(f"CREATE INDEX IF NOT EXISTS {KEYWORDS_TABLE}_store_lexemes ON {KEYWORDS_TABLE} "
                 "(store_id, length(tsv))")


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
        f"SELECT k.store_id, u.lexeme, count(*) FROM {KEYWORDS_TABLE} k, unnest(k.tsv) AS u "
        "GROUP BY k.store_id, u.lexeme"
    )
    conn.execute(
        f"INSERT INTO {STORES_TABLE} (store_id, chunks, tokens, vector_sum) SELECT c.store_id, count(*), coalesce("
        f"sum((SELECT count(*) FROM {KEYWORDS_TABLE} k, unnest(k.tsv) AS u, unnest(u.positions) "
        f"WHERE k.chunk_id = c.id)), 0), sum(c.embedding) FROM {TABLE} c GROUP BY c.store_id"
    )
