"""What every Index backend promises, one suite over all of them: embedded (exact scan, HNSW, FTS5-scored),
pgvector (planned, HNSW) and Elasticsearch.

Writes replace and delete exactly; filters apply before the top-k cut and select what `matches()` selects;
vector scores are cosines; keyword statistics are the store's own; stores of any dimension live side by
side; the signals hybrid search asks for (`score_chunks`, `keyword_scale`, `mean_vector`) agree with the
searches. What only one backend does (its schema, its migrations, its query language) is tested beside it.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.chunks import DIM, chunks_of, rand_unit, unit
from tests.es import scratch_prefix
from tests.filter_parity import PARITY_ATTRIBUTES, describe, parity_filters
from vectorhouse.index.base import Chunk, FileWrite, Index
from vectorhouse.index.elasticsearch import ElasticsearchIndex
from vectorhouse.index.embedded import EmbeddedIndex
from vectorhouse.index.filters import Comparison, Compound, TextContains, matches, resolve_text
from vectorhouse.index.pgvector import PgvectorIndex

KINDS = ["embedded", "embedded-hnsw", "embedded-sqlite", "pgvector", "pgvector-hnsw", "elasticsearch"]


@pytest.fixture(params=KINDS)
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Index]:
    idx: Any
    kind = request.param
    if kind == "embedded":
        idx = EmbeddedIndex(tmp_path / "index.db")
    elif kind == "embedded-hnsw":  # every vector search through the HNSW graph
        idx = EmbeddedIndex(tmp_path / "index.db", exact_search_max_chunks=0)
    elif kind == "embedded-sqlite":  # keyword scores from FTS5 itself, not the in-memory postings
        idx = EmbeddedIndex(tmp_path / "index.db", keyword_postings_max_chunks=0)
    elif kind.startswith("pgvector"):
        idx = PgvectorIndex(request.getfixturevalue("postgres_url"),
                            **({"exact_search_max_chunks": 0} if kind.endswith("hnsw") else {}))
    else:
        with scratch_prefix(request.getfixturevalue("elasticsearch_url")) as prefix:
            idx = ElasticsearchIndex(request.getfixturevalue("elasticsearch_url"), prefix=prefix)
            yield idx
            idx.close()
            return
    yield idx
    idx.close()


def store() -> str:
    return f"vs_{uuid.uuid4().hex[:12]}"


def ready(index: Index) -> None:
    if isinstance(index, EmbeddedIndex) and index.keyword_postings_max_chunks:
        assert index.keyword_postings(wait=30) == "ready"  # score from the postings, not SQLite


# ---------------------------------------------------------------------------------------- writes


def test_ping_answers_when_the_backend_is_up(index: Index) -> None:
    index.ping()  # readiness (/ready) asks this; an unreachable backend raises (tests/test_elasticsearch_server.py)


def test_upsert_replaces_idempotently(index: Index) -> None:
    s = store()
    index.upsert(s, "file-a", chunks_of(["one", "two", "three"]), {"k": "v"})
    index.upsert(s, "file-a", chunks_of(["one", "two", "three"]), {"k": "v"})  # a retried job
    assert index.file_chunks(s, "file-a") == ["one", "two", "three"]
    assert len(index.search_vector(s, rand_unit(np.random.default_rng(1)), 10, None)) == 3

    index.upsert(s, "file-a", chunks_of(["uno", "dos"]), {"k": "w"})
    assert index.file_chunks(s, "file-a") == ["uno", "dos"]
    hits = index.search_vector(s, rand_unit(np.random.default_rng(1)), 10, Comparison("k", "eq", "w"))
    assert {h.text for h in hits} == {"uno", "dos"}
    index.upsert(s, "file-a", [], None)  # no chunks: the file is simply gone
    assert index.file_chunks(s, "file-a") == []


def test_upsert_files_writes_each_file_and_fails_only_the_bad_one(index: Index) -> None:
    s = store()
    index.upsert(s, "file-old", chunks_of(["stale one", "stale two", "stale three"]), None)
    index.upsert(s, "file-gone", chunks_of(["to be emptied"]), None)
    wider = rand_unit(np.random.default_rng(5), dim=DIM + 3)
    mixed = [*chunks_of(["a fine chunk"], seed=4), Chunk(1, "another width", 2, wider)]
    errors = index.upsert_files([
        FileWrite(s, "file-a", chunks_of(["alpha walrus"], seed=1), {"k": "a"}),
        FileWrite(s, "file-mixed", mixed, None),  # its chunks' vectors differ in length: refused
        FileWrite(s, "file-old", chunks_of(["fresh walrus"], seed=2), {"k": "b"}),  # replaced: positions 1, 2 go
        FileWrite(s, "file-gone", [], None),  # no chunks: the file is emptied
    ])
    assert [e is None for e in errors] == [True, False, True, True]
    # Searchable on return, with no refresh or wait of the caller's own.
    assert index.file_chunks(s, "file-a") == ["alpha walrus"]
    assert index.file_chunks(s, "file-old") == ["fresh walrus"]
    assert index.file_chunks(s, "file-mixed") == [] and index.file_chunks(s, "file-gone") == []
    ready(index)
    assert {h.file_id for h in index.search_text(s, "walrus", 5, None)} == {"file-a", "file-old"}
    assert index.search_text(s, "stale", 5, None) == [] and index.search_text(s, "fine", 5, None) == []
    only_a = Comparison("k", "eq", "a")
    assert [h.file_id for h in index.search_vector(s, rand_unit(np.random.default_rng(6)), 5, only_a)] == ["file-a"]


def test_file_chunks_in_position_order(index: Index) -> None:
    s = store()
    vectors = rand_unit(np.random.default_rng(2), 5)
    index.upsert(s, "file-a", [Chunk(p, f"chunk {p}", 2, vectors[p]) for p in (3, 0, 4, 1, 2)], None)
    assert index.file_chunks(s, "file-a") == [f"chunk {p}" for p in range(5)]
    assert index.file_chunks(s, "file-missing") == []


def test_delete_file_and_store_touch_nothing_else(index: Index) -> None:
    s1, s2 = store(), store()
    for s in (s1, s2):
        for f in ("file-a", "file-b"):
            index.upsert(s, f, chunks_of(["alpha text", "beta text"]), None)
    ready(index)
    index.delete_file(s1, "file-a")
    assert index.file_chunks(s1, "file-a") == [] and len(index.file_chunks(s1, "file-b")) == 2
    assert len(index.file_chunks(s2, "file-a")) == 2
    assert {h.file_id for h in index.search_text(s1, "alpha", 10, None)} == {"file-b"}
    index.delete_store(s1)
    assert index.search_vector(s1, rand_unit(np.random.default_rng(3)), 5, None) == []
    assert index.search_text(s1, "alpha", 5, None) == []
    assert {h.file_id for h in index.search_text(s2, "alpha", 10, None)} == {"file-a", "file-b"}


def test_set_attributes_changes_filter_results(index: Index) -> None:
    s = store()
    index.upsert(s, "file-a", chunks_of(["red apples"]), {"colour": "red"})
    index.upsert(s, "file-b", chunks_of(["green apples"]), {"colour": "green"})
    ready(index)
    red = Comparison("colour", "eq", "red")
    q = rand_unit(np.random.default_rng(4))
    assert {h.file_id for h in index.search_vector(s, q, 10, red)} == {"file-a"}
    index.set_attributes(s, "file-b", {"colour": "red"})
    index.set_attributes(s, "file-a", None)
    assert {h.file_id for h in index.search_vector(s, q, 10, red)} == {"file-b"}
    assert {h.file_id for h in index.search_text(s, "apples", 10, red)} == {"file-b"}
    assert {h.file_id for h in index.search_vector(s, q, 10, Comparison("colour", "ne", "blue"))} == {"file-b"}


def test_nul_characters_are_harmless(index: Index) -> None:
    s = store()
    index.upsert(s, "file-a", chunks_of(["bad\x00byte text"]), {"k": "v"})
    assert index.file_chunks(s, "file-a")[0].replace("\x00", "") == "badbyte text"
    q = rand_unit(np.random.default_rng(5))
    assert index.search_vector(s, q, 5, Comparison("k\x00", "eq", "v")) == []
    assert index.search_vector(s, q, 5, Comparison("k", "eq", "v\x00")) == []
    assert len(index.search_vector(s, q, 5, Comparison("k", "ne", "v\x00"))) == 1


def test_stores_of_different_dimensions_live_side_by_side(index: Index) -> None:
    rng = np.random.default_rng(6)
    stores = {store(): dim for dim in (8, 24)}
    for s, dim in stores.items():
        index.upsert(s, "file-a", chunks_of([f"d{dim} text {p}" for p in range(6)], rand_unit(rng, 6, dim)), None)
    for s, dim in stores.items():
        q = rand_unit(rng, dim=dim)
        hits = index.search_vector(s, q, 3, None)
        assert len(hits) == 3 and all(h.text.startswith(f"d{dim}") for h in hits)
        mean = index.mean_vector(s)
        assert mean is not None and mean.shape == (dim,)


# ---------------------------------------------------------------------------------- vector search


def test_vector_search_matches_numpy_exact(index: Index) -> None:
    s = store()
    rng = np.random.default_rng(10)
    n_files, per_file = 20, 15
    matrix = rand_unit(rng, n_files * per_file)
    keys = []
    for f in range(n_files):
        vecs = matrix[f * per_file : (f + 1) * per_file]
        index.upsert(s, f"file-{f:02d}", chunks_of([f"c{f}-{p}" for p in range(per_file)], vecs), None)
        keys += [(f"file-{f:02d}", p) for p in range(per_file)]
    for trial in range(5):
        q = rand_unit(rng)
        exact = matrix @ q
        top = np.argsort(-exact)[:10]
        hits = index.search_vector(s, q, 10, None)
        assert [h.key for h in hits] == [keys[i] for i in top], f"trial {trial}"
        for h, i in zip(hits, top, strict=True):
            assert h.score == pytest.approx(float(exact[i]), abs=1e-5)


def test_filter_applies_before_top_k(index: Index) -> None:
    s = store()
    rng = np.random.default_rng(11)
    base = rand_unit(rng)
    near = np.stack([unit(base + 0.01 * rng.normal(size=DIM)) for _ in range(60)])
    for f in range(6):
        index.upsert(s, f"file-a{f}", chunks_of([f"a{f}-{p}" for p in range(10)], near[f * 10 : (f + 1) * 10]),
                     {"group": "a"})
    index.upsert(s, "file-b", chunks_of(["far away"], (-base).reshape(1, -1)), {"group": "b"})
    hits = index.search_vector(s, base, 10, Comparison("group", "eq", "b"))
    assert [(h.file_id, h.text) for h in hits] == [("file-b", "far away")]
    assert hits[0].score == pytest.approx(-1.0, abs=1e-4)
    assert {h.file_id for h in index.search_vector(s, base, 10, None)} <= {f"file-a{f}" for f in range(6)}


def test_selective_filter_on_a_larger_store_returns_k(index: Index) -> None:
    s = store()
    rng = np.random.default_rng(12)
    n_files, per_file = 200, 10
    matrix = rand_unit(rng, n_files * per_file)
    for f in range(n_files):
        index.upsert(s, f"file-{f:03d}", chunks_of(["x"] * per_file, matrix[f * per_file : (f + 1) * per_file]),
                     {"bucket": f % 50})
    allowed = np.array([(i // per_file) % 50 == 7 for i in range(n_files * per_file)])  # 4 files, 40 chunks
    for _ in range(3):
        q = rand_unit(rng)
        top = set(np.argsort(-np.where(allowed, matrix @ q, -np.inf))[:10].tolist())
        hits = index.search_vector(s, q, 10, Comparison("bucket", "eq", 7))
        assert len(hits) == 10
        found = {int(h.file_id.split("-")[1]) * per_file + h.position for h in hits}
        assert len(found & top) >= 8  # exact where the backend scans few candidates, HNSW otherwise


def test_nan_and_infinite_filter_values_match_nothing_they_cannot_equal(index: Index) -> None:
    s = store()
    index.upsert(s, "file-a", chunks_of(["x"]), {"k": 1})
    q = rand_unit(np.random.default_rng(21))
    for f in (Comparison("k", "gt", math.nan), Comparison("k", "in", (math.inf, "a\x00"))):
        assert index.search_vector(s, q, 3, f) == []
    assert len(index.search_vector(s, q, 3, Comparison("k", "nin", (math.inf,)))) == 1


def test_filter_parity_with_matches(index: Index) -> None:
    s = store()
    names = list(PARITY_ATTRIBUTES)
    rng = np.random.default_rng(20)
    for name in names:
        index.upsert(s, name, chunks_of(["common parity text"], rand_unit(rng, 1)), PARITY_ATTRIBUTES[name])
    ready(index)
    q = rand_unit(rng)
    filters = parity_filters()
    assert len(filters) > 140
    mismatches = []
    for f in filters:
        expected = {name for name in names if matches(f, PARITY_ATTRIBUTES[name])}
        by_vector = {h.file_id for h in index.search_vector(s, q, len(names), f)}
        by_text = {h.file_id for h in index.search_text(s, "parity", len(names), f)}
        if by_vector != expected or by_text != expected:
            mismatches.append((describe(f), sorted(expected), sorted(by_vector), sorted(by_text)))
    assert not mismatches, "\n".join(map(str, mismatches))
    # The table is not vacuous: most filters select something and leave something out.
    assert sum(1 for f in filters if 0 < sum(matches(f, a) for a in PARITY_ATTRIBUTES.values()) < len(names)) > 100


def test_text_contains_needs_every_word_somewhere_in_the_file(index: Index) -> None:
    s = store()
    rng = np.random.default_rng(22)
    index.upsert(s, "file-both", chunks_of(["The volcano's lava flowed", "then Ash fell"], rand_unit(rng, 2)),
                 {"topics": ["geology"]})
    index.upsert(s, "file-lava", chunks_of(["Lava only, no dust here"], rand_unit(rng, 1)), {"topics": ["geology"]})
    index.upsert(s, "file-none", chunks_of(["bread and butter"], rand_unit(rng, 1)), {"topics": ["food"]})
    index.upsert(s, "file-elsewhere", chunks_of(["ash and lava"], rand_unit(rng, 1)), None)
    ready(index)
    q = rand_unit(rng)

    def found(f: Any) -> tuple[set[str], set[str]]:
        # As the search service does: resolved once through the backend's own word lookup.
        f = resolve_text(f, lambda words: index.files_with_words(s, words))
        by_text = {h.file_id for h in index.search_text(s, "lava ash bread dust", 10, f)}
        return {h.file_id for h in index.search_vector(s, q, 10, f)}, by_text

    both = {"file-both", "file-elsewhere"}
    assert found(TextContains(("lava", "ash"))) == (both, both)  # words in different chunks count
    assert found(TextContains(("lava",))) == (both | {"file-lava"},) * 2
    assert found(TextContains(("flows",))) == ({"file-both"},) * 2  # stemmed as the keyword search is
    assert found(TextContains(("lava", "zebra"))) == (set(), set())
    assert found(TextContains(())) == ({"file-both", "file-lava", "file-none", "file-elsewhere"},
                                       {"file-both", "file-lava", "file-none", "file-elsewhere"})
    geology_with_ash = Compound("and", (Comparison("topics", "in", ("geology",)), TextContains(("ash",))))
    assert found(geology_with_ash) == ({"file-both"},) * 2
    either = Compound("or", (TextContains(("butter",)), TextContains(("dust",))))
    assert found(either) == ({"file-none", "file-lava"},) * 2
    # Only the store's own files: another store's words do not leak in.
    other = store()
    index.upsert(other, "file-zebra", chunks_of(["zebra lava"], rand_unit(rng, 1)), None)
    assert found(TextContains(("zebra",))) == (set(), set())
    index.delete_file(s, "file-elsewhere")
    assert found(TextContains(("lava", "ash"))) == ({"file-both"},) * 2


# ----------------------------------------------------------------------------------- text search

HOSTILE_QUERIES = [
    "", "   ", "'", '"', "''", '"unterminated phrase', "apples AND pears", "NOT apples", "OR OR AND",
    "a & b | !c", "(apples", "apples)", "apples:*", "appl:* & pear:AB", "?", "???", "!!", "<->",
    "apples <-> pears", "apples <2> pears", "\\", "%s", "%(x)s", "{}", "$1", "'; DROP TABLE index_chunks; --",
    "日本語のテキスト", "Grüße aus Köln", "🚀🔥", "emoji 🚀 apples", "\x00", "apples\x00pears", "x" * 5000,
    " ".join(f"w{i}" for i in range(500)), "the a an of", "_", "__init__", "NEAR(apples pears)", "apples*",
    "-apples", "+apples", "apples~2", "col:apples",
]  # fmt: skip


def test_hostile_keyword_queries_never_raise(index: Index) -> None:
    s = store()
    index.upsert(s, "file-a", chunks_of(["apples and pears", "Grüße aus Köln", "__init__ module"]), {"k": 1})
    ready(index)
    either = Compound("or", (Comparison("k", "eq", 1), Comparison("k", "lt", 0)))
    for q in HOSTILE_QUERIES:
        assert isinstance(index.search_text(s, q, 5, None), list), q
        index.search_text(s, q, 5, either)
        assert index.keyword_scale(s, q) >= 0.0
    assert {h.text for h in index.search_text(s, "apples AND pears", 5, None)} == {"apples and pears"}
    assert {h.text for h in index.search_text(s, "köln", 5, None)} == {"Grüße aus Köln"}
    assert len(index.file_chunks(s, "file-a")) == 3


def test_keyword_search_is_scoped_to_the_store_and_the_filter(index: Index) -> None:
    s1, s2 = store(), store()
    index.upsert(s1, "file-a", chunks_of(["herons fish in rivers"]), {"year": 2020})
    index.upsert(s1, "file-b", chunks_of(["herons nest in trees"]), {"year": 2024})
    index.upsert(s2, "file-c", chunks_of(["herons everywhere"]), None)
    ready(index)
    assert {h.file_id for h in index.search_text(s1, "herons", 10, None)} == {"file-a", "file-b"}
    assert {h.file_id for h in index.search_text(s1, "herons", 10, Comparison("year", "gte", 2023))} == {"file-b"}
    assert {h.file_id for h in index.search_text(s2, "herons", 10, None)} == {"file-c"}


def test_keyword_statistics_are_the_store_s_own(index: Index) -> None:
    """Another store's writes never move this store's keyword scores (a tenant's uploads are its own)."""
    mine, other = store(), store()
    texts = ["kingfishers dive for fish", "herons wait in reeds", "owls hunt at night", "fish swim upstream"]
    for i, text in enumerate(texts):
        index.upsert(mine, f"file-{i}", chunks_of([text], seed=i), None)
    ready(index)
    before = [(h.key, h.score) for h in index.search_text(mine, "fish herons", 10, None)]
    scale_before = index.keyword_scale(mine, "fish herons")
    for i in range(30):  # a bigger store full of the same words
        index.upsert(other, f"file-{i}", chunks_of([f"fish fish herons {i}"], seed=i), None)
    ready(index)
    after = [(h.key, h.score) for h in index.search_text(mine, "fish herons", 10, None)]
    if isinstance(index, EmbeddedIndex) and not index.keyword_postings_max_chunks:
        # The one exception, documented (docs/quality.md): FTS5's own bm25(), which the embedded index
        # falls back to above its postings limit, counts every store's rows.
        assert after != before
        return
    assert after == [(key, pytest.approx(score, rel=1e-6)) for key, score in before]
    assert index.keyword_scale(mine, "fish herons") == pytest.approx(scale_before, rel=1e-6)


# ---------------------------------------------------------------- the signals hybrid search asks for

TEXTS = [
    "otters float on their backs", "a heron waits by the river", "otters and herons share the river",
    "kingfishers dive fast", "the otter otter otter den", "moss grows on the north side",
    "herons nest in colonies", "rivers carve valleys", "an otter eats a crab", "owls hunt at night",
]


def test_score_chunks_gives_both_signals_as_the_searches_do(index: Index) -> None:
    rng = np.random.default_rng(4)
    store, other = f"vs_{uuid.uuid4().hex[:10]}", f"vs_{uuid.uuid4().hex[:10]}"
    vectors = rand_unit(rng, len(TEXTS))
    for f in range(2):  # two files of five chunks
        chunks = [Chunk(p, TEXTS[5 * f + p], 5, vectors[5 * f + p]) for p in range(5)]
        index.upsert(store, f"file-{f}", chunks, None)
    index.upsert(other, "file-0", [Chunk(0, "otters otters", 2, vectors[0])], None)
    if isinstance(index, EmbeddedIndex) and index.keyword_postings_max_chunks:
        assert index.keyword_postings(wait=30) == "ready"  # score from the postings, not SQLite
    query = rand_unit(rng, 1)[0]
    words = "otter herons river"
    keys = [(f"file-{f}", p) for f in range(2) for p in range(5)] + [("file-9", 0), ("file-0", 7)]

    scored = index.score_chunks(store, keys, query, words)

    assert set(scored) == set(keys[:10])  # chunks that do not exist are left out
    keyword = {h.key: h.score for h in index.search_text(store, words, 50, None)}
    assert len(keyword) >= 3  # how many match depends on the backend's stemming
    for (file_id, position), (cosine, text) in scored.items():
        i = 5 * int(file_id[-1]) + position
        assert cosine == pytest.approx(float(vectors[i] @ query), abs=1e-5)
        assert text == pytest.approx(keyword.get((file_id, position), 0.0), rel=1e-6)
    assert index.score_chunks(store, [], query, words) == {}
    assert set(index.score_chunks(store, keys, query, "")) == set(keys[:10])  # no keyword: all 0.0
    assert all(t == 0.0 for _, t in index.score_chunks(store, keys, query, "?!").values())
    assert index.score_chunks(f"vs_{uuid.uuid4().hex[:10]}", keys, query, words) == {}  # unknown store


def test_keyword_scale_is_the_score_of_every_term_once_at_average_length(index: Index) -> None:
    rng = np.random.default_rng(9)
    store = f"vs_{uuid.uuid4().hex[:10]}"
    # Every chunk four content words long (no stop words), so each is of average length.
    texts = ["alpha bravo charlie delta", "echo foxtrot golf hotel", "india juliet kilo lima",
             "otter heron kelp moss", "mike november oscar papa", "quebec romeo sierra tango",
             "uniform victor whiskey xray", "yankee zulu amber basalt"]
    vectors = rand_unit(rng, len(texts))
    index.upsert(store, "file-0", [Chunk(p, t, 4, vectors[p]) for p, t in enumerate(texts)], None)
    if isinstance(index, EmbeddedIndex) and index.keyword_postings_max_chunks:
        assert index.keyword_postings(wait=30) == "ready"  # score from the postings, not SQLite
    scale = index.keyword_scale(store, "otter heron")
    best = index.search_text(store, "otter heron", 5, None)
    assert [h.position for h in best] == [3]
    assert scale > 0 and best[0].score == pytest.approx(scale, rel=2e-3)
    # A term the store does not hold counts at the largest IDF, above that of a term held once ("otter"):
    # a chunk matching only part of the question gets a keyword signal for only that part.
    held_once = index.keyword_scale(store, "otter")
    assert held_once == pytest.approx(scale / 2, rel=1e-6)
    lacked = index.keyword_scale(store, "otter heron zzzquux") - scale
    assert held_once * 1.1 < lacked < held_once * 3
    assert index.keyword_scale(store, "otter heron zzzquux yyyquux") == pytest.approx(scale + 2 * lacked, rel=1e-6)
    assert index.keyword_scale(store, "zzzquux") == 0.0  # no chunk can match: no keyword signal at all
    assert index.keyword_scale(store, "?!") == 0.0


def test_mean_vector_is_the_mean_of_the_store_s_chunk_vectors(index: Index) -> None:
    rng = np.random.default_rng(12)
    store, other = f"vs_{uuid.uuid4().hex[:10]}", f"vs_{uuid.uuid4().hex[:10]}"
    assert index.mean_vector(store) is None
    vectors = rand_unit(rng, 12)
    for f in range(3):
        index.upsert(store, f"file-{f}", [Chunk(p, f"text {f} {p}", 2, vectors[4 * f + p]) for p in range(4)], None)
    index.upsert(other, "file-0", [Chunk(0, "elsewhere", 1, rand_unit(rng, 1)[0])], None)
    mean = index.mean_vector(store)
    assert mean is not None and mean.shape == (DIM,)
    np.testing.assert_allclose(mean, vectors.mean(axis=0), atol=1e-5)
    index.delete_file(store, "file-1")  # every backend follows deletes (Elasticsearch: its sample anew)
    np.testing.assert_allclose(index.mean_vector(store), vectors[[0, 1, 2, 3, 8, 9, 10, 11]].mean(axis=0), atol=1e-5)
    index.upsert(store, "file-2", [Chunk(0, "replaced", 1, vectors[5])], None)  # and replacements
    np.testing.assert_allclose(index.mean_vector(store), vectors[[0, 1, 2, 3, 5]].mean(axis=0), atol=1e-5)
    index.delete_store(store)
    assert index.mean_vector(store) is None
