"""`Index.score_chunks`, `keyword_scale` and `mean_vector` on every backend, against what the searches score."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.es import scratch_prefix
from vectorhouse.index.base import Chunk, Index
from vectorhouse.index.elasticsearch import ElasticsearchIndex
from vectorhouse.index.embedded import EmbeddedIndex
from vectorhouse.index.pgvector import PgvectorIndex

DIM = 16
TEXTS = [
    "otters float on their backs", "a heron waits by the river", "otters and herons share the river",
    "kingfishers dive fast", "the otter otter otter den", "moss grows on the north side",
    "herons nest in colonies", "rivers carve valleys", "an otter eats a crab", "owls hunt at night",
]


@pytest.fixture(params=["embedded", "embedded-sqlite", "pgvector", "elasticsearch"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Index]:
    idx: Index
    if request.param == "embedded":
        idx = EmbeddedIndex(tmp_path / "index.db")
    elif request.param == "embedded-sqlite":  # keyword scores from FTS5 itself, not the postings
        idx = EmbeddedIndex(tmp_path / "index.db", keyword_postings_max_chunks=0)
    elif request.param == "pgvector":
        idx = PgvectorIndex(request.getfixturevalue("postgres_url"))
    else:
        with scratch_prefix(request.getfixturevalue("elasticsearch_url")) as prefix:
            idx = ElasticsearchIndex(request.getfixturevalue("elasticsearch_url"), prefix=prefix)
            yield idx
            idx.close()
            return
    yield idx
    idx.close()


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    m = rng.normal(size=(n, DIM)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_score_chunks_gives_both_signals_as_the_searches_do(index: Index) -> None:
    rng = np.random.default_rng(4)
    store, other = f"vs_{uuid.uuid4().hex[:10]}", f"vs_{uuid.uuid4().hex[:10]}"
    vectors = _unit(rng, len(TEXTS))
    for f in range(2):  # two files of five chunks
        chunks = [Chunk(p, TEXTS[5 * f + p], 5, vectors[5 * f + p]) for p in range(5)]
        index.upsert(store, f"file-{f}", chunks, None)
    index.upsert(other, "file-0", [Chunk(0, "otters otters", 2, vectors[0])], None)
    if isinstance(index, EmbeddedIndex) and index.keyword_postings_max_chunks:
        assert index.keyword_postings(wait=30) == "ready"  # score from the postings, not SQLite
    query = _unit(rng, 1)[0]
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
    vectors = _unit(rng, len(texts))
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
    vectors = _unit(rng, 12)
    for f in range(3):
        index.upsert(store, f"file-{f}", [Chunk(p, f"text {f} {p}", 2, vectors[4 * f + p]) for p in range(4)], None)
    index.upsert(other, "file-0", [Chunk(0, "elsewhere", 1, _unit(rng, 1)[0])], None)
    mean = index.mean_vector(store)
    assert mean is not None and mean.shape == (DIM,)
    np.testing.assert_allclose(mean, vectors.mean(axis=0), atol=1e-5)
    index.delete_file(store, "file-1")  # every backend follows deletes (Elasticsearch: its sample anew)
    np.testing.assert_allclose(index.mean_vector(store), vectors[[0, 1, 2, 3, 8, 9, 10, 11]].mean(axis=0), atol=1e-5)
    index.upsert(store, "file-2", [Chunk(0, "replaced", 1, vectors[5])], None)  # and replacements
    np.testing.assert_allclose(index.mean_vector(store), vectors[[0, 1, 2, 3, 5]].mean(axis=0), atol=1e-5)
    index.delete_store(store)
    assert index.mean_vector(store) is None
