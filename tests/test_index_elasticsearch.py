"""ElasticsearchIndex on a real Elasticsearch 8 node (scripts/elasticsearch.sh, or a configured URL)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.es import scratch_prefix
from tests.filter_parity import PARITY_ATTRIBUTES, describe, parity_filters
from vectorhouse.index.base import Chunk
from vectorhouse.index.elasticsearch import ElasticsearchIndex, index_name, mapping
from vectorhouse.index.elasticsearch.mapping import INDEX_SETTINGS
from vectorhouse.index.embedded import EmbeddedIndex
from vectorhouse.index.filters import Comparison, matches

DIM = 16


@pytest.fixture
def prefix(elasticsearch_url: str) -> Iterator[str]:
    with scratch_prefix(elasticsearch_url) as name:
        yield name


@pytest.fixture
def index(elasticsearch_url: str, prefix: str) -> Iterator[ElasticsearchIndex]:
    idx = ElasticsearchIndex(elasticsearch_url, prefix=prefix)
    yield idx
    idx.close()


def rand_unit(rng: np.random.Generator, n: int) -> np.ndarray:
    m = rng.normal(size=(n, DIM)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def chunks_of(texts: list[str], vectors: np.ndarray | None = None, seed: int = 0) -> list[Chunk]:
    if vectors is None:
        vectors = rand_unit(np.random.default_rng(seed), len(texts))
    return [Chunk(position=i, text=t, tokens=len(t.split()), vector=vectors[i]) for i, t in enumerate(texts)]


def test_upsert_replaces_and_deletes(index: ElasticsearchIndex) -> None:
    index.upsert("vs_A", "file-a", chunks_of(["one otter", "two otters", "three otters"]), {"k": "v"})
    index.upsert("vs_A", "file-a", chunks_of(["one heron", "two herons"]), {"k": "v"})
    assert index.file_chunks("vs_A", "file-a") == ["one heron", "two herons"]  # searchable at once
    assert index.search_text("vs_A", "otters", 10, None) == []
    index.upsert("vs_A", "file-b", chunks_of(["herons again"]), None)
    # Store ids differ only in case: separate indices.
    index.upsert("vs_a", "file-c", chunks_of(["herons elsewhere"]), None)
    assert {h.file_id for h in index.search_text("vs_A", "herons", 10, None)} == {"file-a", "file-b"}
    index.delete_file("vs_A", "file-a")
    assert [h.file_id for h in index.search_text("vs_A", "herons", 10, None)] == ["file-b"]
    index.delete_store("vs_A")
    assert index.search_text("vs_A", "herons", 10, None) == []
    assert [h.file_id for h in index.search_text("vs_a", "herons", 10, None)] == ["file-c"]
    index.delete_file("vs_never", "x")  # a store without an index is not an error
    assert index.file_chunks("vs_never", "x") == []


def test_vector_search_matches_numpy_exact(index: ElasticsearchIndex) -> None:
    rng = np.random.default_rng(1)
    vectors = rand_unit(rng, 300)
    for f in range(30):
        index.upsert("vs_v", f"file-{f:02d}", chunks_of(["x"] * 10, vectors[f * 10 : f * 10 + 10]), None)
    for q in rand_unit(rng, 10):
        hits = index.search_vector("vs_v", q, 10, None)
        cosines = vectors @ q
        best = np.argsort(-cosines)[:10]
        assert [(h.file_id, h.position) for h in hits] == [(f"file-{i // 10:02d}", i % 10) for i in best]
        np.testing.assert_allclose([h.score for h in hits], cosines[best], atol=1e-4)


def test_set_attributes_changes_filter_results(index: ElasticsearchIndex) -> None:
    index.upsert("vs_s", "file-a", chunks_of(["kestrels hover", "kestrels dive"]), {"year": 2020})
    q = rand_unit(np.random.default_rng(2), 1)[0]
    recent = Comparison("year", "gte", 2023)
    assert index.search_vector("vs_s", q, 5, recent) == []
    index.set_attributes("vs_s", "file-a", {"year": 2024})
    assert len(index.search_vector("vs_s", q, 5, recent)) == 2
    assert len(index.search_text("vs_s", "kestrels", 5, recent)) == 2


def test_filter_applies_before_top_k(index: ElasticsearchIndex) -> None:
    # 60 near chunks and one far chunk tagged group=b: the filter must find it with k=10.
    rng = np.random.default_rng(3)
    q = rand_unit(rng, 1)[0]
    near = np.stack([q + 0.05 * v for v in rand_unit(rng, 60)])
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    for i in range(60):
        index.upsert("vs_f", f"near-{i}", chunks_of(["near"], near[i : i + 1]), {"group": "a"})
    index.upsert("vs_f", "far", chunks_of(["far"], -q.reshape(1, -1)), {"group": "b"})
    hits = index.search_vector("vs_f", q, 10, Comparison("group", "eq", "b"))
    assert [h.file_id for h in hits] == ["far"]


def test_filter_parity_with_matches(index: ElasticsearchIndex) -> None:
    names = list(PARITY_ATTRIBUTES)
    rng = np.random.default_rng(20)
    for name in names:
        index.upsert("vs_p", name, chunks_of(["common parity text"], rand_unit(rng, 1)), PARITY_ATTRIBUTES[name])
    q = rand_unit(rng, 1)[0]
    filters = parity_filters()
    mismatches = []
    for f in filters:
        expected = {name for name in names if matches(f, PARITY_ATTRIBUTES[name])}
        by_vector = {h.file_id for h in index.search_vector("vs_p", q, len(names), f)}
        by_text = {h.file_id for h in index.search_text("vs_p", "parity", len(names), f)}
        if by_vector != expected or by_text != expected:
            mismatches.append((describe(f), sorted(expected), sorted(by_vector), sorted(by_text)))
    assert not mismatches, "\n".join(map(str, mismatches))


def test_an_index_with_another_mapping_is_a_startup_error(elasticsearch_url: str, prefix: str) -> None:
    name = index_name("vs_wrong", prefix)
    created = httpx.put(f"{elasticsearch_url}/{name}", json={
        "mappings": {"properties": {"vector": {"type": "dense_vector", "dims": 3, "similarity": "cosine"}}}
    }, timeout=60)
    assert created.status_code == 200, created.text
    with pytest.raises(ValueError, match=name):
        ElasticsearchIndex(elasticsearch_url, prefix=prefix)


def test_bad_prefix_is_refused(elasticsearch_url: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        ElasticsearchIndex(elasticsearch_url, prefix="Upper*")


def test_text_search_stems_and_scores_as_the_embedded_index(index: ElasticsearchIndex, tmp_path: Path) -> None:
    texts = ["Running experiments on otters", "the otter experiment ran long", "kelp forests grow",
             "an experimental run", "herons nest in colonies", "otters otters otters"]
    embedded = EmbeddedIndex(tmp_path / "index.db", keyword_postings_max_chunks=0)  # FTS5 itself
    try:
        for idx in (index, embedded):
            idx.upsert("vs_stem", "file-a", chunks_of(texts), None)
        for query in ("experiments", "otter", "Experimenting with OTTERS?", "runs", "colony herons", "zzz"):
            found = index.search_text("vs_stem", query, 10, None)
            reference = embedded.search_text("vs_stem", query, 10, None)
            # The same terms (Porter stemming) match the same chunks; only the IDF formula differs.
            assert {h.position for h in found} == {h.position for h in reference}, query
        assert {h.position for h in index.search_text("vs_stem", "experiments", 10, None)} == {0, 1}
        # Lucene's IDF ln(1 + (N - n + 0.5) / (n + 0.5)) per term: "otter" in 3 of 6 chunks, "colony"
        # in 1, "zzz" in none (the largest IDF); one occurrence at average length scores exactly that.
        assert index.keyword_scale("vs_stem", "otters colonies zzz") == pytest.approx(
            math.log(1 + 3.5 / 3.5) + math.log(1 + 5.5 / 1.5) + math.log(1 + 6.5 / 0.5), rel=1e-6)
    finally:
        embedded.close()


def test_an_index_from_before_terms_gets_them(elasticsearch_url: str, prefix: str) -> None:
    name = index_name("vs_old", prefix)
    old = mapping(DIM)
    del old["properties"]["terms"]
    old["properties"]["text"] = {"type": "text", "analyzer": "standard"}  # as earlier versions made it
    created = httpx.put(f"{elasticsearch_url}/{name}", json={"mappings": old, "settings": INDEX_SETTINGS}, timeout=60)
    assert created.status_code == 200, created.text
    vectors = rand_unit(np.random.default_rng(1), 3)
    for position, text in enumerate(["running otters", "kelp", "an otter ran"]):
        doc = {"file_id": "file-a", "position": position, "tokens": 2, "text": text,
               "vector": vectors[position].tolist(), "attrs": []}
        put = httpx.put(f"{elasticsearch_url}/{name}/_doc/file-a:{position}?refresh=true", json=doc, timeout=60)
        assert put.status_code == 201, put.text

    idx = ElasticsearchIndex(elasticsearch_url, prefix=prefix)
    try:
        assert {h.position for h in idx.search_text("vs_old", "otter runs", 10, None)} == {0, 2}
        assert idx.keyword_scale("vs_old", "otter") > 0
        idx.upsert("vs_old", "file-b", chunks_of(["otters again"]), None)
        assert {h.file_id for h in idx.search_text("vs_old", "otter", 10, None)} == {"file-a", "file-b"}
    finally:
        idx.close()
