"""What only the Elasticsearch backend does, on a real node: its mapping and stemmed terms (the rest: the contract)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from elasticsearch import BadRequestError

from tests.chunks import DIM, chunks_of, rand_unit
from tests.es import scratch_prefix
from vectorhouse.index.base import FileWrite
from vectorhouse.index.elasticsearch import ElasticsearchIndex, index_name, mapping
from vectorhouse.index.elasticsearch.mapping import INDEX_SETTINGS
from vectorhouse.index.embedded import EmbeddedIndex


@pytest.fixture
def prefix(elasticsearch_url: str) -> Iterator[str]:
    with scratch_prefix(elasticsearch_url) as name:
        yield name


@pytest.fixture
def index(elasticsearch_url: str, prefix: str) -> Iterator[ElasticsearchIndex]:
    idx = ElasticsearchIndex(elasticsearch_url, prefix=prefix)
    yield idx
    idx.close()


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


def _refreshes(index: ElasticsearchIndex, name: str) -> int:
    stats = index.client.indices.stats(index=name, metric="refresh")
    return int(stats["indices"][name]["primaries"]["refresh"]["total"])


def test_concurrent_writes_share_refreshes_and_each_is_searchable_when_it_returns(
        index: ElasticsearchIndex) -> None:
    import threading

    store, files, found = "vs_refresh", 24, []
    index.upsert(store, "file-warm", chunks_of(["warm up"], seed=0), None)  # creates the index
    name = index_name(store, index.prefix)

    before = _refreshes(index, name)
    start = threading.Barrier(8)

    def writer(w: int) -> None:
        start.wait()
        for f in range(w, files, 8):
            index.upsert(store, f"file-{f:03d}", chunks_of([f"unique{f}word here"], seed=f + 1), None)
            # What upsert promised: the file is searchable the moment it returns.
            found.append(bool(index.search_text(store, f"unique{f}word", 5, None)))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert found == [True] * files
    assert _refreshes(index, name) - before < files  # grouped: fewer refreshes than files written
    index.delete_store(store)


def test_the_files_of_one_call_share_one_bulk_request_and_one_refresh(index: ElasticsearchIndex) -> None:
    store, files = "vs_batch", 30
    index.upsert(store, "file-warm", chunks_of(["warm up"], seed=0), None)  # creates the index
    name = index_name(store, index.prefix)

    before = _refreshes(index, name)
    writes = [FileWrite(store, f"file-{f:03d}", chunks_of([f"unique{f}word here", "and more"], seed=f + 1), None)
              for f in range(files)]
    assert index.upsert_files(writes) == [None] * files
    assert _refreshes(index, name) - before <= 2  # one for the call (and perhaps the cluster's own), not one per file
    assert all(index.search_text(store, f"unique{f}word", 5, None) for f in range(files))
    index.delete_store(store)


def test_a_failed_search_inside_one_round_trip_raises_the_clusters_error(index: ElasticsearchIndex) -> None:
    # score_chunks sends its vector and keyword searches as one _msearch, whose failures come back as
    # bodies: a vector of the wrong dimension must still surface as the cluster's 400, not as no scores.
    index.upsert("vs_msearch", "file-a", chunks_of(["otters in kelp", "herons nest"]), None)
    keys = [("file-a", 0), ("file-a", 1)]
    scored = index.score_chunks("vs_msearch", keys, rand_unit(np.random.default_rng(3)), "otters")
    assert set(scored) == set(keys) and scored[("file-a", 0)][1] > 0.0 == scored[("file-a", 1)][1]
    with pytest.raises(BadRequestError):
        index.score_chunks("vs_msearch", keys, np.ones(DIM + 1, np.float32), "otters")
