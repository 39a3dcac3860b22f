"""Elasticsearch 8.x as an Index: dense_vector kNN, BM25 over vectorhouse's own terms, filters inside kNN.

A write returns after a refresh that began after it (:mod:`.refresh` groups them: one refresh for
every file written meanwhile, not one each), so a file reported ``completed`` is searchable; the files
of one embedding call go in one bulk request with one refresh (``upsert_files``). Only core APIs are
used (index, bulk, search, kNN): no ``_delete_by_query``, scripts or extra analyzers, which the
integration-test distribution and some managed clusters leave out. That distribution has no
stemmer either, so chunks and queries are tokenised here, by :class:`vectorhouse.index.tokens.
KeywordTokenizer` (the embedded index's FTS5 tokenizer, Porter stemming): ``terms`` holds each
chunk's terms as often as they occur, and Elasticsearch's BM25 over it scores what FTS5's does,
but for Lucene's IDF. Unstemmed (the standard analyser), SciFact's hybrid nDCG@10 was 0.717 against
the embedded backend's 0.738. An index made before ``terms`` existed gets the field on first use.
Hybrid fusion stays in :mod:`vectorhouse.search.fusion` (Elasticsearch's own RRF needs a paid licence).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from elasticsearch import ApiError, Elasticsearch, NotFoundError, helpers

from vectorhouse.index.base import Chunk, FileWrite, Hit
from vectorhouse.index.elasticsearch.filters import (
    MATCH_ALL,
    attribute_rows,
    attributes_from_rows,
    bool_depth,
    compile_filter,
    file_ids_query,
)
from vectorhouse.index.elasticsearch.mapping import (
    INDEX_PREFIX,
    INDEX_SETTINGS,
    TERMS_FIELD,
    index_name,
    mapping,
    mapping_problem,
)
from vectorhouse.index.elasticsearch.reads import files_matching, pages, read, search, search_together
from vectorhouse.index.elasticsearch.refresh import RefreshGroups
from vectorhouse.index.filters import Filter, matches
from vectorhouse.index.text import keyword_terms
from vectorhouse.index.tokens import KeywordTokenizer

# kNN candidates: at least this many, else 4 x k (Elasticsearch allows up to 10000). Each segment's
# graph is searched that wide, so recall falls as merges leave fewer, larger segments: at 1M chunks
# and 47 segments, recall@10 0.956 / 0.981 / 0.993 for 200 / 400 / 800 at 33.0 / 43.4 / 62.3 ms p50.
MIN_NUM_CANDIDATES = 400
# Compiled filters nested deeper than this are evaluated here instead (see `_filter_query`):
# Elasticsearch's indices.query.bool.max_nested_depth is 30 by default, our filters may nest 32 deep.
MAX_BOOL_DEPTH = 20
# `mean_vector` from a random sample of this many chunks (~1 MB of JSON), kept this many seconds (or
# until this process writes the store): the whole store up to that size, and fusion needs only the
# scale it gives, which 256 vectors estimate within ~1%.
MEAN_SAMPLE = 256
MEAN_SECONDS = 30.0
_NOT_IN_INDEX_NAMES = ' *?"<>|/\\,#:'  # characters Elasticsearch refuses in index names


def _text_match(terms: Sequence[str]) -> dict[str, Any]:
    """`match` never parses query syntax; the terms are the same stemmed terms the embedded index searches."""
    return {"match": {"terms": {"query": " ".join(terms), "operator": "or"}}}


def _file_from(file_id: str, position: int) -> dict[str, Any]:
    """The file's documents at or past `position`."""
    return {"bool": {"filter": [{"term": {"file_id": file_id}}, {"range": {"position": {"gte": position}}}]}}


def _key(hit: Mapping[str, Any]) -> tuple[str, int]:
    return (hit["_source"]["file_id"], int(hit["_source"]["position"]))


class ElasticsearchIndex:
    """The Index protocol on Elasticsearch 8.x; thread-safe (the client pools its connections)."""

    def __init__(self, url: str, *, prefix: str = INDEX_PREFIX, request_timeout: float = 30.0,
                 **connection: Any) -> None:
        """`connection`: the client's own options (api_key, basic_auth, cloud_id, ca_certs, verify_certs)."""
        if not prefix or prefix != prefix.lower() or any(c in _NOT_IN_INDEX_NAMES for c in prefix):
            raise ValueError(f"Elasticsearch index prefix must be lower case, without {_NOT_IN_INDEX_NAMES!r}: "
                             f"got {prefix!r}")
        # A store's index is made for its model's dimension by the first write.
        self.prefix = prefix
        hosts = None if connection.get("cloud_id") else url
        self.client = Elasticsearch(hosts, request_timeout=request_timeout, retry_on_timeout=True, max_retries=2,
                                    **connection)
        self._known: dict[str, int | None] = {}  # index name -> its vectors' dimension
        self._means: dict[str, tuple[float, np.ndarray]] = {}  # index name -> (when, sampled mean)
        self._tokenizer = KeywordTokenizer()
        self._refreshes = RefreshGroups(lambda name: self.client.indices.refresh(index=name))
        self._check_existing()

    def _check_existing(self) -> None:
        """Refuse to start on indices whose mapping is not ours: writing into them would corrupt search."""
        found = self.client.indices.get_mapping(index=f"{self.prefix}*", allow_no_indices=True)
        for name, body in found.body.items():
            problem = mapping_problem(body.get("mappings", {}))
            if problem:
                raise ValueError(
                    f"Elasticsearch index {name} exists with another mapping ({problem}); vectorhouse "
                    "needs its own mapping there. Use another cluster or index prefix, or delete that index."
                )
            if "terms" not in body.get("mappings", {}).get("properties", {}):
                self._add_terms(name)
            self._known[name] = body.get("mappings", {}).get("properties", {}).get("vector", {}).get("dims")

    def _add_terms(self, name: str) -> None:
        """Give an index made before ``terms`` existed the field, and every document its terms."""
        self.client.indices.put_mapping(index=name, properties={"terms": TERMS_FIELD})
        for batch in pages(self.client, name, MATCH_ALL, [{"file_id": "asc"}, {"position": "asc"}], ["text"]):
            bags = self._tokenizer.bags([h["_source"].get("text", "") for h in batch])
            actions = ({"_op_type": "update", "_index": name, "_id": h["_id"], "doc": {"terms": bag}}
                       for h, bag in zip(batch, bags, strict=True))
            # A document deleted meanwhile (404) needs no terms.
            helpers.bulk(self.client, actions, refresh=True, raise_on_error=True, ignore_status=(404,))

    def _ensure(self, store_id: str, dimension: int) -> str:
        name = index_name(store_id, self.prefix)
        if self._known.get(name) == dimension:
            return name
        if not self.client.indices.exists(index=name):
            try:
                self.client.indices.create(
                    index=name,
                    mappings=mapping(dimension),
                    settings=INDEX_SETTINGS,
                )
            except ApiError as exc:  # another process created it first: check what it made
                if exc.error != "resource_already_exists_exception":
                    raise
        found = self.client.indices.get_mapping(index=name).body[name]["mappings"]
        problem = mapping_problem(found, dimension)
        if problem:
            raise ValueError(f"Elasticsearch index {name} has another mapping ({problem})")
        if "terms" not in found.get("properties", {}):
            self._add_terms(name)
        # Another worker may have created it a moment ago: its shard must be up before the first search.
        self.client.cluster.health(index=name, wait_for_status="yellow", timeout="60s")
        self._known[name] = dimension
        return name

    @staticmethod
    def _vector(vector: Any) -> list[float]:
        return np.asarray(vector, dtype=np.float32).reshape(-1).tolist()  # type: ignore[no-any-return]

    # -- writes ------------------------------------------------------------------------------

    def upsert(
        self, store_id: str, file_id: str, chunks: Sequence[Chunk], attributes: Mapping[str, Any] | None
    ) -> None:
        error = self.upsert_files([FileWrite(store_id, file_id, chunks, attributes)])[0]
        if error is not None:
            raise error

    def upsert_files(self, writes: Sequence[FileWrite]) -> list[Exception | None]:
        # One bulk request and one refresh per index for all the files: a refresh per file left a
        # segment per file for Lucene to merge (each merge rebuilding HNSW graphs).
        errors: list[Exception | None] = [None] * len(writes)
        actions: list[dict[str, Any]] = []
        owner: dict[tuple[str, str], int] = {}  # (index, document id) -> the write it belongs to
        by_index: dict[str, list[int]] = {}
        for i, write in enumerate(writes):
            try:
                vectors = [self._vector(chunk.vector) for chunk in write.chunks]
                # A file without chunks only has its documents deleted (all are stale, below).
                name = self._ensure(write.store_id, len(vectors[0])) if vectors \
                    else index_name(write.store_id, self.prefix)
            except Exception as exc:  # this file fails (another dimension than its store's, say)
                errors[i] = exc
                continue
            self._means.pop(name, None)
            by_index.setdefault(name, []).append(i)
            attrs = attribute_rows(write.attributes)
            bags = self._tokenizer.bags([chunk.text for chunk in write.chunks])
            for chunk, bag, vector in zip(write.chunks, bags, vectors, strict=True):
                doc_id = f"{write.file_id}:{chunk.position}"
                owner[(name, doc_id)] = i
                actions.append({"_op_type": "index", "_index": name, "_id": doc_id, "_source": {
                    "file_id": write.file_id, "position": chunk.position, "tokens": chunk.tokens,
                    "text": chunk.text, "terms": bag, "vector": vector, "attrs": attrs}})
        for name, slots in by_index.items():
            try:
                # Documents past a file's new last position belong to an older version of it.
                stale = self._stale_hits(name, {writes[i].file_id: len(writes[i].chunks) for i in slots})
            except Exception as exc:
                for i in slots:
                    errors[i] = exc
                continue
            actions += [{"_op_type": "delete", "_index": name, "_id": hit["_id"]} for hit in stale]
        actions = [a for a in actions if a["_op_type"] == "delete" or errors[owner[(a["_index"], a["_id"])]] is None]
        try:
            _, failed = helpers.bulk(self.client, actions, refresh=False, raise_on_error=False, chunk_size=500)
        except Exception as exc:
            return [error or exc for error in errors]
        for item in failed:  # type: ignore[union-attr]
            (op, result), = item.items()
            if op == "delete" and result.get("status") == 404:
                continue  # deleted meanwhile: as good as deleted here
            slot = owner.get((result.get("_index"), result.get("_id")))
            if slot is not None:
                # A partly failed bulk fails its file: it must never be reported searchable.
                errors[slot] = errors[slot] or helpers.BulkIndexError("a document failed to index", [item])
        undo = [{"_op_type": "delete", "_index": name, "_id": doc_id}
                for (name, doc_id), slot in owner.items() if errors[slot] is not None]
        if undo:  # a failed file keeps none of the documents it did write (best effort)
            helpers.bulk(self.client, undo, refresh=False, raise_on_error=False)
        for name, slots in by_index.items():
            if not any(a["_index"] == name for a in actions):
                continue  # nothing written there (an empty file of a store without an index, say)
            try:
                self._refreshes.wait(name)
            except Exception as exc:
                for i in slots:
                    errors[i] = errors[i] or exc
        return errors

    def delete_file(self, store_id: str, file_id: str) -> None:
        name = index_name(store_id, self.prefix)
        self._means.pop(name, None)
        self._delete_hits(name, self._file_hits(name, file_id, source=False))

    def _delete_hits(self, name: str, hits: list[dict[str, Any]]) -> None:
        # By id through _bulk: _delete_by_query is a module some distributions leave out.
        if hits:
            actions = ({"_op_type": "delete", "_index": name, "_id": h["_id"]} for h in hits)
            helpers.bulk(self.client, actions, refresh=False, raise_on_error=True)
            self._refreshes.wait(name)

    def delete_store(self, store_id: str) -> None:
        name = index_name(store_id, self.prefix)
        self.client.indices.delete(index=name, ignore_unavailable=True)
        self._refreshes.forget(name)
        self._known.pop(name, None)
        self._means.pop(name, None)

    def set_attributes(self, store_id: str, file_id: str, attributes: Mapping[str, Any] | None) -> None:
        name = index_name(store_id, self.prefix)
        attrs = attribute_rows(attributes)
        ids = [hit["_id"] for hit in self._file_hits(name, file_id, source=False)]
        if ids:
            # Partial updates, not a script or _update_by_query: some distributions lack both.
            actions = ({"_op_type": "update", "_index": name, "_id": i, "doc": {"attrs": attrs}} for i in ids)
            helpers.bulk(self.client, actions, refresh=False, raise_on_error=True)
            self._refreshes.wait(name)

    # -- reads -------------------------------------------------------------------------------

    def _file_hits(self, name: str, file_id: str, source: bool | list[str] = True,
                   from_position: int = 0) -> list[dict[str, Any]]:
        """The file's documents in position order (from `from_position` on)."""
        query = _file_from(file_id, from_position)
        return [hit for batch in pages(self.client, name, query, [{"position": "asc"}], source) for hit in batch]

    def _stale_hits(self, name: str, lengths: Mapping[str, int]) -> list[dict[str, Any]]:
        """The documents of these files at or past each one's given position, a few hundred files a search."""
        files, hits = list(lengths.items()), []
        for start in range(0, len(files), 256):
            query = {"bool": {"minimum_should_match": 1,
                              "should": [_file_from(f, n) for f, n in files[start:start + 256]]}}
            hits += [hit for batch in pages(self.client, name, query, [{"file_id": "asc"}, {"position": "asc"}], False)
                     for hit in batch]
        return hits

    def search_vector(self, store_id: str, vector: np.ndarray, k: int, filter: Filter | None) -> list[Hit]:
        if k <= 0:
            return []
        knn: dict[str, Any] = {
            "field": "vector",
            "query_vector": self._vector(vector),
            "k": k,
            "num_candidates": min(10000, max(MIN_NUM_CANDIDATES, 4 * k)),
        }
        if filter is not None:
            knn["filter"] = self._filter_query(store_id, filter)
        try:
            page = search(self.client, index=index_name(store_id, self.prefix), knn=knn, size=k,
                                      source=["file_id", "position", "text"])
        except NotFoundError:
            return []
        # Elasticsearch's cosine score is (1 + cos) / 2; hits carry the cosine like every backend.
        return [self._hit(h, 2.0 * float(h["_score"]) - 1.0) for h in page["hits"]["hits"]]

    def _terms(self, query: str) -> list[str]:
        """The query's distinct keyword terms, tokenised as the chunks' ``terms`` were."""
        return self._tokenizer.terms(keyword_terms(query))

    def search_text(self, store_id: str, query: str, k: int, filter: Filter | None) -> list[Hit]:
        terms = self._terms(query)
        if not terms or k <= 0:
            return []
        bool_query: dict[str, Any] = {"must": [_text_match(terms)]}
        if filter is not None:
            bool_query["filter"] = [self._filter_query(store_id, filter)]
        try:
            page = search(self.client, index=index_name(store_id, self.prefix), query={"bool": bool_query}, size=k,
                                      source=["file_id", "position", "text"])
        except NotFoundError:
            return []
        return [self._hit(h, float(h["_score"])) for h in page["hits"]["hits"]]

    def mean_vector(self, store_id: str) -> np.ndarray | None:
        name = index_name(store_id, self.prefix)
        cached = self._means.get(name)
        if cached is not None and time.monotonic() - cached[0] < MEAN_SECONDS:
            return cached[1]
        # A random sample (random_score is a core query): Elasticsearch cannot aggregate dense vectors.
        sample = {"function_score": {"query": MATCH_ALL, "random_score": {"seed": 7, "field": "_seq_no"}}}
        try:
            page = search(self.client, index=name, query=sample, size=MEAN_SAMPLE, source=["vector"])
        except NotFoundError:
            return None
        hits = page["hits"]["hits"]
        if not hits:
            return None
        mean = np.asarray([h["_source"]["vector"] for h in hits], dtype=np.float64).mean(axis=0).astype(np.float32)
        self._means[name] = (time.monotonic(), mean)
        return mean

    def keyword_scale(self, store_id: str, query: str) -> float:
        terms = self._terms(query)
        if not terms:
            return 0.0
        try:
            # The query's terms as a document give each term's document frequency.
            found = read(self.client.termvectors, index=index_name(store_id, self.prefix),
                               doc={"terms": " ".join(terms)}, fields=["terms"], term_statistics=True,
                               field_statistics=True, positions=False, offsets=False)
        except NotFoundError:
            return 0.0
        vector = found.get("term_vectors", {}).get("terms")
        if not vector:
            return 0.0
        docs = int(vector["field_statistics"]["doc_count"])
        # Elasticsearch's BM25 keeps the (k1 + 1) numerator, so one occurrence at average length scores
        # exactly the term's idf = ln(1 + (N - n + 0.5) / (n + 0.5)); a term no document holds (n = 0)
        # counts at the largest IDF.
        frequencies = [int(stats.get("doc_freq", 0)) for stats in vector.get("terms", {}).values()]
        if not any(frequencies):
            return 0.0
        return sum(math.log(1 + (docs - n + 0.5) / (n + 0.5)) for n in frequencies)

    def score_chunks(self, store_id: str, keys: Sequence[tuple[str, int]], vector: np.ndarray,
                     query: str) -> dict[tuple[str, int], tuple[float, float]]:
        if not keys:
            return {}
        name = index_name(store_id, self.prefix)
        only = {"ids": {"values": [f"{file_id}:{position}" for file_id, position in keys]}}
        # A kNN filter that leaves fewer documents than num_candidates is searched exactly.
        knn = {"field": "vector", "query_vector": self._vector(vector), "k": len(keys),
               "num_candidates": min(10000, max(MIN_NUM_CANDIDATES, len(keys))), "filter": only}
        searches: list[dict[str, Any]] = [{"knn": knn, "size": len(keys), "_source": ["file_id", "position"]}]
        terms = self._terms(query)
        if terms:
            searches.append({"query": {"bool": {"must": [_text_match(terms)], "filter": [only]}},
                             "size": len(keys), "_source": ["file_id", "position"]})
        answers = search_together(self.client, name, searches)
        if answers is None:
            return {}
        keyword = {_key(h): float(h["_score"]) for h in (answers[1]["hits"]["hits"] if terms else [])}
        return {
            _key(h): (2.0 * float(h["_score"]) - 1.0, keyword.get(_key(h), 0.0)) for h in answers[0]["hits"]["hits"]
        }

    def _filter_query(self, store_id: str, filter: Filter) -> dict[str, Any]:
        compiled = compile_filter(filter)
        if bool_depth(compiled) <= MAX_BOOL_DEPTH:
            return compiled
        # Too deep for the cluster to parse: evaluate it here on each file's attributes (one
        # document per file) and select the files that pass by id. Exact, and rare enough that
        # reading one row per file is affordable.
        files = self._files_attributes(index_name(store_id, self.prefix))
        return file_ids_query([file_id for file_id, attributes in files if matches(filter, attributes, file_id)])

    def files_with_words(self, store_id: str, words: tuple[str, ...]) -> set[str]:
        """The store's files whose chunks hold every word (each anywhere in the file): one composite
        aggregation of file ids per term, intersected."""
        name = index_name(store_id, self.prefix)
        found: set[str] | None = None
        for term in self._tokenizer.terms(list(words)):
            holding = files_matching(self.client, name, {"term": {"terms": term}})
            found = holding if found is None else found & holding
            if not found:
                return set()
        return found or set()

    def _files_attributes(self, name: str) -> list[tuple[str, dict[str, Any]]]:
        """Each file's attributes, from its first chunk's document."""
        firsts = pages(self.client, name, {"term": {"position": 0}}, [{"file_id": "asc"}], ["file_id", "attrs"])
        return [(h["_source"]["file_id"], attributes_from_rows(h["_source"].get("attrs") or []))
                for batch in firsts for h in batch]

    @staticmethod
    def _hit(hit: Mapping[str, Any], score: float) -> Hit:
        source = hit["_source"]
        return Hit(file_id=source["file_id"], position=int(source["position"]), text=source["text"], score=score)

    def file_chunks(self, store_id: str, file_id: str) -> list[str]:
        hits = self._file_hits(index_name(store_id, self.prefix), file_id, source=["text"])
        return [h["_source"]["text"] for h in hits]

    def ping(self) -> None:
        self.client.cluster.health()  # answered by every node (the test distribution has no GET /)

    def close(self) -> None:
        self.client.close()
