"""What only the pgvector backend does, on a real PostgreSQL: schema, statistics, plans (the rest: the contract)."""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("psycopg")
pytest.importorskip("pgvector")

import psycopg  # noqa: E402

from tests.chunks import DIM, chunks_of, rand_unit, unit  # noqa: E402
from tests.pg import scratch_database  # noqa: E402
from vectorhouse.index.base import Chunk  # noqa: E402
from vectorhouse.index.filters import Comparison  # noqa: E402
from vectorhouse.index.pgvector import (  # noqa: E402
    KEYWORDS_TABLE,
    STORES_TABLE,
    TABLE,
    TERMS_TABLE,
    PgvectorIndex,
    ensure_schema,
)

# `postgres_url` (session): tests/conftest.py, from tests/pg.py — one server for the whole run.


@pytest.fixture(scope="module")
def index(postgres_url: str) -> Iterator[PgvectorIndex]:
    idx = PgvectorIndex(postgres_url)
    yield idx
    idx.close()




@pytest.fixture
def fresh_url(postgres_url: str) -> Iterator[str]:
    """A fresh database of its own (schema from scratch), dropped afterwards."""
    with scratch_database(postgres_url) as url:
        if url == postgres_url:
            pytest.skip("no CREATEDB privilege for a fresh database")
        yield url


@pytest.fixture
def store() -> str:
    return f"vs_{uuid.uuid4().hex}"


def row_count(url: str, store_id: str, file_id: str | None = None, table: str = TABLE) -> int:
    with psycopg.connect(url) as conn:
        if file_id is None:
            row = conn.execute(f"SELECT count(*) FROM {table} WHERE store_id = %s", (store_id,)).fetchone()
        else:
            row = conn.execute(
                f"SELECT count(*) FROM {table} WHERE store_id = %s AND file_id = %s", (store_id, file_id)
            ).fetchone()
    assert row is not None
    return int(row[0])


def run_concurrently(work: Callable[[int], None], threads: int) -> None:
    """work(0) .. work(threads - 1) at once, each on its own thread; any exception fails the test."""
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    started = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in started:
        t.start()
    for t in started:
        t.join()
    assert not errors, errors


# ---------------------------------------------------------------------------------------- writes


def test_vectors_no_hnsw_index_can_hold_are_refused(index: PgvectorIndex, store: str) -> None:
    with pytest.raises(ValueError, match="dimension"):
        index.upsert(store, "file-a", [Chunk(0, "x", 1, np.ones(4001, np.float32))], None)
    with pytest.raises(ValueError, match="different dimensions"):
        index.upsert(store, "file-a", [Chunk(0, "x", 1, np.ones(DIM, np.float32)),
                                       Chunk(1, "y", 1, np.ones(DIM + 1, np.float32))], None)
    assert index.file_chunks(store, "file-a") == []


def test_concurrent_upserts_of_one_file_leave_one_copy(index: PgvectorIndex, store: str, postgres_url: str) -> None:
    def work(i: int) -> None:
        for _ in range(5):
            index.upsert(store, "file-a", chunks_of([f"w{i} a", f"w{i} b", f"w{i} c"], seed=i), {"i": i})
            index.search_vector(store, rand_unit(np.random.default_rng(i)), 3, None)
            index.search_text(store, f"w{i}", 3, Comparison("i", "gte", 0))

    run_concurrently(work, 6)
    assert row_count(postgres_url, store, "file-a") == 3
    assert row_count(postgres_url, store, "file-a", KEYWORDS_TABLE) == 3  # one keyword row per chunk row
    texts = index.file_chunks(store, "file-a")
    assert len({t.split()[0] for t in texts}) == 1  # all three chunks from the same (last) writer


def test_ensure_schema_concurrently_on_a_fresh_database(fresh_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work() -> None:
        try:
            with psycopg.connect(fresh_url) as conn:
                barrier.wait()
                ensure_schema(conn)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with psycopg.connect(fresh_url) as conn:
        names = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", (TABLE,))}
        keyword_names = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s",
                                                    (KEYWORDS_TABLE,))}
    assert f"{TABLE}_store_file" in names
    assert {f"{KEYWORDS_TABLE}_tsv", f"{KEYWORDS_TABLE}_store_file", f"{KEYWORDS_TABLE}_store_lexemes"} <= keyword_names
    # Vector indexes are per dimension, made when a dimension's first rows are written.
    assert not any("hnsw" in name for name in names)


# ------------------------------------------------------------------------------------ text search


def _keyword_statistics(url: str, store_id: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(the store's kept statistics, the same counted afresh from its chunk rows)."""
    with psycopg.connect(url) as conn:
        kept = conn.execute(
            f"SELECT lexeme, chunks FROM {TERMS_TABLE} WHERE store_id = %s AND chunks <> 0 "
            f"UNION ALL SELECT '', chunks FROM {STORES_TABLE} WHERE store_id = %s AND chunks <> 0 "
            f"UNION ALL SELECT ' ', tokens FROM {STORES_TABLE} WHERE store_id = %s AND chunks <> 0",
            (store_id, store_id, store_id),
        ).fetchall()
        counted = conn.execute(
            f"SELECT u.lexeme, count(*) FROM {KEYWORDS_TABLE} k, unnest(k.tsv) AS u WHERE k.store_id = %s GROUP BY 1 "
            f"UNION ALL SELECT '', count(*) FROM {TABLE} WHERE store_id = %s HAVING count(*) > 0 "
            f"UNION ALL SELECT ' ', count(*) FROM {KEYWORDS_TABLE} k, unnest(k.tsv) AS u, unnest(u.positions) "
            "WHERE k.store_id = %s HAVING count(*) > 0",
            (store_id, store_id, store_id),
        ).fetchall()
    return sorted(kept), sorted(counted)


def test_text_search_scores_bm25_like(index: PgvectorIndex, store: str) -> None:
    texts = [
        "quantum entanglement experiment results",  # 4 lexemes
        "quantum quantum quantum computing entanglement",  # 5 lexemes, "quantum" 3 times
        "classical mechanics lecture notes",
        "cooking pasta",
        "river otters play",
        "granite erodes slowly",
    ]
    for i, t in enumerate(texts):
        index.upsert(store, f"file-{i}", chunks_of([t], seed=i), None)
    chunks, average = 6, 21 / 6  # lexeme occurrences: 4 + 5 + 4 + 2 + 3 + 3
    idf_quantum = math.log((chunks - 2 + 0.5) / (2 + 0.5))  # FTS5's IDF: 2 of 6 chunks hold it

    def expected(idf: float, tf: int, length: int) -> float:
        # BM25-like: ts_rank's saturating tf weight, relative to one occurrence at average length.
        saturation = sum(1 / i**2 for i in range(1, tf + 1))
        return idf * saturation * math.log2(average + 1) / math.log2(length + 1)

    hits = index.search_text(store, "quantum", 10, None)
    assert [h.file_id for h in hits] == ["file-1", "file-0"]
    assert hits[0].score == pytest.approx(expected(idf_quantum, 3, 5), rel=1e-5)
    assert hits[1].score == pytest.approx(expected(idf_quantum, 1, 4), rel=1e-5)
    # A rare term outweighs a common one: one "otters" (1 of 6 chunks) beats three "quantum".
    idf_otter = math.log((chunks - 1 + 0.5) / (1 + 0.5))
    both = index.search_text(store, "Quantum OTTERS?", 10, None)
    assert [h.file_id for h in both] == ["file-4", "file-1", "file-0"]
    assert both[0].score == pytest.approx(expected(idf_otter, 1, 3), rel=1e-5)
    assert index.keyword_scale(store, "Quantum OTTERS?") == pytest.approx(idf_quantum + idf_otter, rel=1e-9)
    # Stemming through the 'english' config; stop words alone match nothing.
    assert [h.file_id for h in index.search_text(store, "experiments", 10, None)] == ["file-0"]
    assert index.search_text(store, "the and of", 10, None) == []
    assert index.keyword_scale(store, "the and of zzzquux") == 0.0
    assert [h.file_id for h in index.search_text(store, "quantum", 1, None)] == ["file-1"]


def test_keyword_statistics_follow_every_write(index: PgvectorIndex, store: str, postgres_url: str) -> None:
    other = f"vs_{uuid.uuid4().hex}"
    index.upsert(store, "file-a", chunks_of(["otters eat crabs", "crabs eat kelp", "kelp grows"]), None)
    index.upsert(store, "file-b", chunks_of(["herons eat fish", "fish fish fish"]), None)
    index.upsert(other, "file-a", chunks_of(["otters otters", "moss"]), None)
    index.upsert(store, "file-a", chunks_of(["otters sleep", "the tide turns"]), None)  # replaced
    index.upsert(store, "file-a", chunks_of(["otters sleep", "the tide turns"]), None)  # a retried job
    index.delete_file(store, "file-b")
    index.delete_file(store, "file-missing")

    def work(i: int) -> None:
        for n in range(3):
            index.upsert(store, f"file-{i % 3}", chunks_of([f"w{i} shared {n}", "shared words", f"w{n}"]), None)
            index.delete_file(store, f"file-{(i + 1) % 3}")

    run_concurrently(work, 6)
    index.upsert(store, "file-z", chunks_of(["herons nest high"]), None)
    kept, counted = _keyword_statistics(postgres_url, store)
    assert kept == counted and any(lexeme == "heron" for lexeme, _ in kept)
    kept, counted = _keyword_statistics(postgres_url, other)
    assert kept == counted == sorted([("", 2), (" ", 3), ("otter", 1), ("moss", 1)])

    index.delete_store(store)
    assert _keyword_statistics(postgres_url, store) == ([], [])
    with psycopg.connect(postgres_url) as conn:
        for table in (TERMS_TABLE, STORES_TABLE):
            assert conn.execute(f"SELECT count(*) FROM {table} WHERE store_id = %s", (store,)).fetchone() == (0,)
    assert _keyword_statistics(postgres_url, other)[0] == kept


def test_keyword_statistics_are_counted_for_a_database_that_predates_them(fresh_url: str) -> None:
    idx = PgvectorIndex(fresh_url)
    try:
        for i, text in enumerate(["otters eat crabs", "crabs crabs", "kelp forest", "otters sleep"]):
            idx.upsert("vs_old", f"file-{i}", chunks_of([text], seed=i), None)
        before = [(h.key, h.score) for h in idx.search_text("vs_old", "otters crabs", 10, None)]
    finally:
        idx.close()
    with psycopg.connect(fresh_url) as conn:
        conn.execute(f"DROP TABLE {TERMS_TABLE}, {STORES_TABLE}")  # as a database of an earlier version
        conn.execute(f"ALTER TABLE {TABLE} RESET (toast_tuple_target)")
    idx = PgvectorIndex(fresh_url)
    try:
        assert [(h.key, h.score) for h in idx.search_text("vs_old", "otters crabs", 10, None)] == before
        assert len(before) == 3
        kept, counted = _keyword_statistics(fresh_url, "vs_old")
        assert kept == counted
        with psycopg.connect(fresh_url) as conn:
            options = conn.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass", (TABLE,)).fetchone()
        assert options == (["toast_tuple_target=8160"],)
    finally:
        idx.close()


def test_keyword_rows_are_moved_out_of_a_database_whose_chunk_rows_held_them(fresh_url: str) -> None:
    """A database of an earlier version kept each chunk's tsvector on its chunk row: the first start
    of this version moves them into the keyword table, and searches answer as before."""
    idx = PgvectorIndex(fresh_url)
    try:
        for i, text in enumerate(["otters eat crabs", "crabs crabs", "kelp forest", "otters sleep"]):
            idx.upsert("vs_old", f"file-{i}", chunks_of([text, f"{text} again"], seed=i), {"i": i})
        before = [(h.key, h.score) for h in idx.search_text("vs_old", "otters crabs", 10, None)]
        words = idx.files_with_words("vs_old", ("otters",))
    finally:
        idx.close()
    with psycopg.connect(fresh_url) as conn:  # the earlier shape: tsv generated on the chunk rows
        conn.execute(f"DROP TABLE {KEYWORDS_TABLE}")
        conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN tsv tsvector "
                     "GENERATED ALWAYS AS (to_tsvector('english'::regconfig, text)) STORED")
        conn.execute(f"CREATE INDEX {TABLE}_tsv ON {TABLE} USING gin (tsv)")
    idx = PgvectorIndex(fresh_url)
    try:
        assert [(h.key, h.score) for h in idx.search_text("vs_old", "otters crabs", 10, None)] == before
        assert len(before) == 6 and words == {"file-0", "file-3"}
        assert idx.files_with_words("vs_old", ("otters",)) == words
        assert row_count(fresh_url, "vs_old", table=KEYWORDS_TABLE) == row_count(fresh_url, "vs_old") == 8
        kept, counted = _keyword_statistics(fresh_url, "vs_old")
        assert kept == counted
        with psycopg.connect(fresh_url) as conn:
            left = conn.execute("SELECT count(*) FROM pg_attribute WHERE attrelid = %s::regclass "
                                "AND attname = 'tsv' AND NOT attisdropped", (TABLE,)).fetchone()
        assert left == (0,)
        idx.delete_file("vs_old", "file-0")  # the moved rows are deleted with their file
        assert row_count(fresh_url, "vs_old", "file-0", KEYWORDS_TABLE) == 0
        assert [h.key[0] for h in idx.search_text("vs_old", "otters", 10, None)] == ["file-3", "file-3"]
    finally:
        idx.close()




def test_wide_embeddings_use_a_halfvec_hnsw_index(fresh_url: str) -> None:
    wide = 3072  # text-embedding-3-large: over pgvector's 2000-dimension limit for vector HNSW
    idx = PgvectorIndex(fresh_url, exact_search_max_chunks=0)
    try:
        rng = np.random.default_rng(30)
        m = rng.normal(size=(300, wide)).astype(np.float32)
        m /= np.linalg.norm(m, axis=1, keepdims=True)
        for f in range(3):
            chunks = [Chunk(p, f"w{f}-{p}", 1, m[f * 100 + p]) for p in range(100)]
            idx.upsert("vs_wide", f"file-{f}", chunks, {"f": f})
        q = unit(m[42] + 0.1 * rng.normal(size=wide))
        exact = m @ q
        top = np.argsort(-exact)[:5]
        hits = idx.search_vector("vs_wide", q, 5, None)
        assert [(h.file_id, h.position) for h in hits] == [(f"file-{i // 100}", i % 100) for i in top]
        assert hits[0].score == pytest.approx(float(exact[top[0]]), abs=1e-5)  # full-precision score
        assert [h.position for h in idx.search_vector("vs_wide", q, 3, Comparison("f", "eq", 2))] != []
        with psycopg.connect(fresh_url) as conn:
            (indexdef,) = conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE indexname = %s", (f"{TABLE}_hnsw_3072",)
            ).fetchone() or ("",)
        assert "halfvec(3072)" in indexdef and "halfvec_cosine_ops" in indexdef
    finally:
        idx.close()


def _plan(url: str, dimension: int) -> str:
    with psycopg.connect(url) as conn:
        conn.execute("SET enable_seqscan = off")
        rows = conn.execute(
            f"EXPLAIN SELECT id FROM {TABLE} WHERE vector_dims(embedding) = {dimension} AND store_id = 'x' "
            f"ORDER BY (embedding::vector({dimension})) <=> %s::vector({dimension}) LIMIT 5",
            (str([0.5] * dimension),),
        ).fetchall()
    return "\n".join(r[0] for r in rows)


def test_stores_of_different_dimensions_live_side_by_side(fresh_url: str) -> None:
    """One table holds every store; each dimension in use has its own HNSW index, which its searches use."""
    idx = PgvectorIndex(fresh_url, exact_search_max_chunks=0)
    try:
        rng = np.random.default_rng(40)
        expected = {}
        for store, dim in (("vs_small", 8), ("vs_wide", 24)):
            m = rng.normal(size=(60, dim)).astype(np.float32)
            m /= np.linalg.norm(m, axis=1, keepdims=True)
            for f in range(3):
                idx.upsert(store, f"file-{f}", [Chunk(p, f"{store} text {p}", 1, m[f * 20 + p]) for p in range(20)],
                           {"f": f})
            q = unit(m[27] + 0.05 * rng.normal(size=dim))
            top = np.argsort(-(m @ q))[:5]
            in_file_0 = np.argsort(-(m[:20] @ q))[:5]
            expected[store] = (q, [(f"file-{i // 20}", i % 20) for i in top],
                               [("file-0", int(i)) for i in in_file_0])
        for store, (q, keys, filtered) in expected.items():
            assert [h.key for h in idx.search_vector(store, q, 5, None)] == keys
            assert [h.key for h in idx.search_vector(store, q, 5, Comparison("f", "eq", 0))] == filtered
            assert {h.file_id for h in idx.search_text(store, "text", 100, None)} == {"file-0", "file-1", "file-2"}
        assert "index_chunks_hnsw_8" in _plan(fresh_url, 8) and "index_chunks_hnsw_24" in _plan(fresh_url, 24)
        idx.delete_store("vs_small")
        assert idx.search_vector("vs_wide", expected["vs_wide"][0], 5, None)[0].key == expected["vs_wide"][1][0]
    finally:
        idx.close()


def test_a_table_of_one_fixed_dimension_is_upgraded(fresh_url: str) -> None:
    """A database written before stores chose models has vector(d), one HNSW index and no vector sums."""
    idx = PgvectorIndex(fresh_url)
    try:
        idx.upsert("vs_old", "file-a", chunks_of(["old otters", "old crabs"], seed=3), None)
    finally:
        idx.close()
    with psycopg.connect(fresh_url) as conn:  # as an earlier version left it
        conn.execute(f"DROP INDEX {TABLE}_hnsw_{DIM}")
        conn.execute(f"ALTER TABLE {TABLE} ALTER COLUMN embedding TYPE vector({DIM})")
        conn.execute(f"CREATE INDEX {TABLE}_embedding_hnsw ON {TABLE} USING hnsw (embedding vector_cosine_ops)")
        conn.execute(f"ALTER TABLE {STORES_TABLE} DROP COLUMN vector_sum")
    idx = PgvectorIndex(fresh_url, exact_search_max_chunks=0)
    try:
        old = chunks_of(["old otters", "old crabs"], seed=3)
        q = old[1].vector
        assert idx.search_vector("vs_old", q, 1, None)[0].key == ("file-a", 1)
        np.testing.assert_allclose(idx.mean_vector("vs_old"), (old[0].vector + old[1].vector) / 2, atol=1e-6)
        idx.upsert("vs_new", "file-b", [Chunk(0, "new", 1, unit(np.ones(DIM + 4)))], None)
        assert idx.search_vector("vs_new", unit(np.ones(DIM + 4)), 1, None)[0].key == ("file-b", 0)
        with psycopg.connect(fresh_url) as conn:
            kind = conn.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                                "WHERE attrelid = %s::regclass AND attname = 'embedding'", (TABLE,)).fetchone()
            names = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", (TABLE,))}
        assert kind == ("vector",)
        assert {f"{TABLE}_hnsw_{DIM}", f"{TABLE}_hnsw_{DIM + 4}"} <= names
        assert f"{TABLE}_embedding_hnsw" not in names
    finally:
        idx.close()


def test_a_number_matches_the_signed_form_postgresql_parses_after_a_hyphen(index: PgvectorIndex, store: str) -> None:
    index.upsert(store, "file-a", chunks_of(["Error XJ-4471 appears in the logs", "covid-19 wards", "xj units"]),
                 None)
    # 'XJ-4471' is 'xj' and '-4471' to PostgreSQL; "4471" in the query stands for the form held more.
    assert [h.position for h in index.search_text(store, "XJ-4471", 5, None)] == [0, 2]
    assert {h.position for h in index.search_text(store, "4471", 5, None)} == {0}
    assert {h.position for h in index.search_text(store, "covid 19", 5, None)} == {1}
    # Held once, "4471" weighs what a word held once does: no term of "XJ-4471" counts as lacked.
    assert index.keyword_scale(store, "4471 covid") == pytest.approx(2 * index.keyword_scale(store, "covid"), rel=1e-6)


def _index_exists(url: str, dimension: int) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT to_regclass(%s)", (f"{TABLE}_hnsw_{dimension}",)).fetchone()
    return row is not None and row[0] is not None


def test_a_bulk_load_builds_the_hnsw_index_after_its_rows(fresh_url: str) -> None:
    """Inside bulk_load a new dimension gets no index (searches scan exactly); at the end it is built
    over every loaded row, and approximate search then finds what the exact scan found."""
    idx = PgvectorIndex(fresh_url, exact_search_max_chunks=0)
    try:
        rng = np.random.default_rng(31)
        m = rand_unit(rng, 300)
        with idx.bulk_load(maintenance_work_mem_mb=64):
            with pytest.raises(RuntimeError, match="already running"):
                with idx.bulk_load():
                    pass
            for f in range(3):
                idx.upsert("vs_bulk", f"file-{f}", [Chunk(p, f"b{f}-{p}", 1, m[f * 100 + p]) for p in range(100)], {})
            assert not _index_exists(fresh_url, DIM)
            q = unit(m[7] + 0.05 * rng.normal(size=DIM))
            during = [(h.file_id, h.position) for h in idx.search_vector("vs_bulk", q, 5, None)]
            top = np.argsort(-(m @ q))[:5]
            assert during == [(f"file-{i // 100}", i % 100) for i in top]
        assert _index_exists(fresh_url, DIM)
        assert [(h.file_id, h.position) for h in idx.search_vector("vs_bulk", q, 5, None)] == during
    finally:
        idx.close()


def test_a_failed_bulk_load_leaves_the_index_to_the_next_write(fresh_url: str) -> None:
    idx = PgvectorIndex(fresh_url)
    try:
        m = rand_unit(np.random.default_rng(32), 4)
        with pytest.raises(ValueError, match="boom"):
            with idx.bulk_load():
                idx.upsert("vs_bulk", "file-0", [Chunk(0, "a", 1, m[0])], {})
                raise ValueError("boom")
        assert not _index_exists(fresh_url, DIM)
        idx.upsert("vs_bulk", "file-1", [Chunk(0, "b", 1, m[1])], {})
        assert _index_exists(fresh_url, DIM)
    finally:
        idx.close()
