"""Elasticsearch index: one index per store, dense_vector kNN, BM25 text, attribute filters inside kNN.

Each store gets its own index (``vectorhouse-<store id, lower-cased>-<hash of the exact id>``: index
names must be lower case, ids are not). Every chunk is one document, id ``<file id>:<position>``,
with a strict mapping:

    file_id keyword, position integer, tokens integer, text text (kept, not searched),
    terms text (whitespace analyser), vector dense_vector (cosine, plain float HNSW),
    attrs nested {key keyword, s keyword, n double, i long, b boolean}   -- the file's attributes

Attributes are nested key/value rows rather than one field per key so the mapping stays strict
while keys stay arbitrary; every comparison compiles to a ``nested`` query on one row (key AND
typed value), with the semantics of :func:`vectorhouse.index.filters.matches`. The compiled filter
goes inside the kNN ``filter`` (applied during the HNSW search, before the top-k cut) and into the
BM25 query's ``bool.filter``.

Writes use ``refresh=True``, so a file reported ``completed`` is searchable. Only core APIs are
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

import hashlib
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from elasticsearch import ApiError, Elasticsearch, NotFoundError, helpers

from vectorhouse.index.base import Chunk, Hit
from vectorhouse.index.filters import (
    EQUALITY_OPS,
    MEMBERSHIP_OPS,
    ORDERING_OPS,
    Comparison,
    Compound,
    Filter,
    is_number,
    matches,
)
from vectorhouse.index.text import keyword_terms
from vectorhouse.index.tokens import KeywordTokenizer

INDEX_PREFIX = "vectorhouse-"
# kNN candidates per shard: at least this many, else 4 x k (Elasticsearch allows up to 10000).
MIN_NUM_CANDIDATES = 200
_PAGE = 1000  # documents per page when reading a whole file back
# Compiled filters nested deeper than this are evaluated here instead (see `_filter_query`):
# Elasticsearch's indices.query.bool.max_nested_depth is 30 by default, our filters may nest 32 deep.
MAX_BOOL_DEPTH = 20
_SHARD_RETRIES = 8  # about 3.6 s of waiting for a new shard in all
# `mean_vector` from a random sample of this many chunks (~1 MB of JSON), kept this many seconds (or
# until this process writes the store): the whole store up to that size, and fusion needs only the
# scale it gives, which 256 vectors estimate within ~1%.
MEAN_SAMPLE = 256
MEAN_SECONDS = 30.0
_MAX_TERMS = 60000  # file ids per `terms` query (index.max_terms_count defaults to 65536)
_NOT_IN_INDEX_NAMES = ' *?"<>|/\\,#:'  # characters Elasticsearch refuses in index names
_MATCH_NONE: dict[str, Any] = {"match_none": {}}
_MATCH_ALL: dict[str, Any] = {"match_all": {}}


def _text_match(terms: Sequence[str]) -> dict[str, Any]:
    """`match` never parses query syntax; the terms are the same stemmed terms the embedded index searches."""
    return {"match": {"terms": {"query": " ".join(terms), "operator": "or"}}}


def _key(hit: Mapping[str, Any]) -> tuple[str, int]:
    return (hit["_source"]["file_id"], int(hit["_source"]["position"]))


def index_name(store_id: str, prefix: str = INDEX_PREFIX) -> str:
    digest = hashlib.sha256(store_id.encode()).hexdigest()[:10]
    return f"{prefix}{store_id.lower()}-{digest}"


INDEX_SETTINGS: dict[str, Any] = {"number_of_shards": 1, "number_of_replicas": 0}
# Terms come tokenised and stemmed (index.tokens); `whitespace` is a core analyser, on every cluster.
TERMS_FIELD: dict[str, Any] = {"type": "text", "analyzer": "whitespace"}


def mapping(dimension: int) -> dict[str, Any]:
    return {
        "dynamic": "strict",
        "properties": {
            "file_id": {"type": "keyword"},
            "position": {"type": "integer"},
            "tokens": {"type": "integer"},
            "text": {"type": "text", "index": False},
            "terms": TERMS_FIELD,
            # Plain float HNSW: 8.x defaults to int8-quantised vectors, which cost recall.
            "vector": {
                "type": "dense_vector",
                "dims": dimension,
                "index": True,
                "similarity": "cosine",
                "index_options": {"type": "hnsw", "m": 16, "ef_construction": 100},
            },
            "attrs": {
                "type": "nested",
                "properties": {
                    "key": {"type": "keyword"},
                    "s": {"type": "keyword"},
                    "n": {"type": "double"},
                    "i": {"type": "long"},
                    "b": {"type": "boolean"},
                },
            },
        },
    }


def _mapping_problem(found: Mapping[str, Any], dimension: int | None = None) -> str | None:
    """Why an existing index's mapping is not ours (or not for `dimension`-dimensional vectors, when
    given), or None when it is (perhaps without ``terms``)."""
    expected = mapping(dimension or 1)["properties"]
    props = found.get("properties", {})
    for field, spec in expected.items():
        if field == "terms" and field not in props:
            continue  # made by an earlier version: `_add_terms` upgrades it
        have = props.get(field)
        if have is None or have.get("type") != spec["type"]:
            return f"field {field!r} is {have.get('type') if have else 'missing'}, expected {spec['type']}"
    vector = props["vector"]
    if (dimension is not None and vector.get("dims") != dimension) or vector.get("similarity") != "cosine":
        return (f"vector has dims={vector.get('dims')} similarity={vector.get('similarity')}, "
                f"expected {dimension or 'any'}/cosine")
    if found.get("dynamic") not in ("strict", False, "false"):
        return "mapping is not strict"
    return None


# ------------------------------------------------------------------------------------------ attributes

_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1



def _as_long(value: float) -> int | None:
    """The exact integer a number equals when it fits a long, else None (1.0 -> 1, 1.5 -> None)."""
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    number = int(value)
    return number if _LONG_MIN <= number <= _LONG_MAX else None


def attribute_rows(attributes: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The nested rows stored for a file's attributes.

    Integral numbers go to ``i`` (a long: exact, so 2**53 + 1 stays distinct from 2**53) and every
    finite number to ``n`` (a double, for numbers that are not integers). A null value is an absent
    key; a value no filter can equal (array, object, NaN) is a row with the key alone, so the key
    counts as present for ``ne``/``nin``.
    """
    rows: list[dict[str, Any]] = []
    for key, value in (attributes or {}).items():
        if value is None:
            continue
        row: dict[str, Any] = {"key": key}
        if isinstance(value, bool):
            row["b"] = value
        elif isinstance(value, str):
            row["s"] = value
        elif is_number(value) and math.isfinite(value):
            row["n"] = float(value)
            if (exact := _as_long(value)) is not None:
                row["i"] = exact
        rows.append(row)
    return rows


def _nested(key: str, *clauses: dict[str, Any]) -> dict[str, Any]:
    return {"nested": {"path": "attrs", "query": {"bool": {"filter": [{"term": {"attrs.key": key}}, *clauses]}}}}


def _equal_to(value: Any) -> dict[str, Any] | None:
    """Type-aware equality of one attribute row with `value` (module doc of index.filters), or None."""
    if isinstance(value, bool):
        return {"term": {"attrs.b": value}}
    if isinstance(value, str):
        return {"term": {"attrs.s": value}}
    if not is_number(value) or not math.isfinite(value):
        return None  # NaN and infinities equal no stored value
    exact = _as_long(value)
    if exact is not None:
        return {"term": {"attrs.i": exact}}
    # Not an integer (or beyond a long): only rows without an exact integer can equal it.
    return {"bool": {"filter": [{"term": {"attrs.n": float(value)}}],
                     "must_not": [{"exists": {"field": "attrs.i"}}]}}


def _ordered(op: str, value: float) -> dict[str, Any] | None:
    """Numeric ordering of one attribute row against `value`, exact for integers, or None for nothing."""
    if math.isinf(value):
        below = value > 0  # every finite number is below +inf and above -inf
        return {"exists": {"field": "attrs.n"}} if below == (op in ("lt", "lte")) else None
    # Integers compare on the long with an integer bound: i > 1.5 is i >= 2, i <= 1.5 is i <= 1.
    if isinstance(value, int) or value.is_integer():
        bound = int(value)
        long_range: dict[str, int] | None = {op: bound}
    elif op in ("gt", "gte"):
        bound = math.ceil(value)
        long_range = {"gte": bound}
    else:
        bound = math.floor(value)
        long_range = {"lte": bound}
    if not _LONG_MIN <= bound <= _LONG_MAX:  # beyond every long: all of them or none
        long_range = None if (bound > 0) == (op in ("gt", "gte")) else {"gte": _LONG_MIN}
    clauses: list[dict[str, Any]] = [
        {"bool": {"filter": [{"range": {"attrs.n": {op: float(value)}}}],
                  "must_not": [{"exists": {"field": "attrs.i"}}]}}
    ]
    if long_range is not None:
        clauses.append({"range": {"attrs.i": long_range}})
    return {"bool": {"should": clauses, "minimum_should_match": 1}}


def _compile_comparison(f: Comparison) -> dict[str, Any]:
    if f.op in EQUALITY_OPS or f.op in MEMBERSHIP_OPS:
        values = list(f.value) if isinstance(f.value, tuple) else [f.value]
        clauses = [c for c in map(_equal_to, values) if c is not None]
        equal = _nested(f.key, {"bool": {"should": clauses, "minimum_should_match": 1}}) if clauses else _MATCH_NONE
        if f.op in ("eq", "in"):
            return equal
        # ne/nin: the file has the key (with a value) and that value is none of these.
        return {"bool": {"filter": [_nested(f.key)], "must_not": [equal]}}
    if f.op in ORDERING_OPS:
        value = f.value
        if not is_number(value) or math.isnan(value):  # type: ignore[arg-type]
            return _MATCH_NONE
        clause = _ordered(f.op, value)  # type: ignore[arg-type]
        return _nested(f.key, clause) if clause is not None else _MATCH_NONE
    raise ValueError(f"unknown comparison op {f.op!r}")


def attributes_from_rows(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Attributes as `matches()` sees them, back from stored rows (a key-only row: an unmatchable value)."""
    out: dict[str, Any] = {}
    for row in rows:
        for field in ("b", "s", "i", "n"):
            if field in row:
                out[row["key"]] = row[field]
                break
        else:
            out[row["key"]] = []
    return out


def bool_depth(query: Any) -> int:
    """How deeply `bool` queries nest in a query (Elasticsearch refuses 30 by default)."""
    if isinstance(query, list):
        return max((bool_depth(q) for q in query), default=0)
    if not isinstance(query, dict):
        return 0
    inner = max((bool_depth(v) for v in query.values()), default=0)
    return inner + 1 if "bool" in query else inner


def compile_filter(f: Filter) -> dict[str, Any]:
    """Query DSL that selects exactly the documents :func:`vectorhouse.index.filters.matches` accepts."""
    if isinstance(f, Compound):
        if not f.filters:
            return _MATCH_ALL if f.op == "and" else _MATCH_NONE
        children = [compile_filter(child) for child in f.filters]
        if f.op == "and":
            return {"bool": {"filter": children}}
        return {"bool": {"should": children, "minimum_should_match": 1}}
    return _compile_comparison(f)


# ----------------------------------------------------------------------------------------------- index


class ElasticsearchIndex:
    """The Index protocol on Elasticsearch 8.x; thread-safe (the client pools its connections)."""

    def __init__(self, url: str, *, prefix: str = INDEX_PREFIX, request_timeout: float = 30.0) -> None:
        if not prefix or prefix != prefix.lower() or any(c in _NOT_IN_INDEX_NAMES for c in prefix):
            raise ValueError(f"Elasticsearch index prefix must be lower case, without {_NOT_IN_INDEX_NAMES!r}: "
                             f"got {prefix!r}")
        # A store's index is made for its model's dimension by the first write.
        self.prefix = prefix
        self.client = Elasticsearch(url, request_timeout=request_timeout, retry_on_timeout=True, max_retries=2)
        self._known: dict[str, int | None] = {}  # index name -> its vectors' dimension
        self._means: dict[str, tuple[float, np.ndarray]] = {}  # index name -> (when, sampled mean)
        self._tokenizer = KeywordTokenizer()
        self._check_existing()

    def _check_existing(self) -> None:
        """Refuse to start on indices whose mapping is not ours: writing into them would corrupt search."""
        found = self.client.indices.get_mapping(index=f"{self.prefix}*", allow_no_indices=True)
        for name, body in found.body.items():
            problem = _mapping_problem(body.get("mappings", {}))
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
        after: list[Any] | None = None
        while True:
            page = self._search(index=name, query=_MATCH_ALL, sort=[{"file_id": "asc"}, {"position": "asc"}],
                                size=_PAGE, source=["text"], search_after=after)
            batch = page["hits"]["hits"]
            bags = self._tokenizer.bags([h["_source"].get("text", "") for h in batch])
            actions = ({"_op_type": "update", "_index": name, "_id": h["_id"], "doc": {"terms": bag}}
                       for h, bag in zip(batch, bags, strict=True))
            # A document deleted meanwhile (404) needs no terms.
            helpers.bulk(self.client, actions, refresh=True, raise_on_error=True, ignore_status=(404,))
            if len(batch) < _PAGE:
                return
            after = batch[-1]["sort"]

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
        problem = _mapping_problem(found, dimension)
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
        vectors = [self._vector(chunk.vector) for chunk in chunks]
        if not vectors:
            self.delete_file(store_id, file_id)
            return
        name = self._ensure(store_id, len(vectors[0]))
        self._means.pop(name, None)
        attrs = attribute_rows(attributes)
        # Documents past the new last position belong to an older version of the file.
        self._delete_hits(name, self._file_hits(name, file_id, source=False, from_position=len(chunks)))
        bags = self._tokenizer.bags([chunk.text for chunk in chunks])
        actions = (
            {
                "_op_type": "index",
                "_index": name,
                "_id": f"{file_id}:{chunk.position}",
                "_source": {
                    "file_id": file_id,
                    "position": chunk.position,
                    "tokens": chunk.tokens,
                    "text": chunk.text,
                    "terms": bag,
                    "vector": vector,
                    "attrs": attrs,
                },
            }
            for chunk, bag, vector in zip(chunks, bags, vectors, strict=True)
        )
        # raise_on_error: a partly failed bulk must fail the file, never leave it "completed".
        helpers.bulk(self.client, actions, refresh=True, raise_on_error=True, chunk_size=500)

    def delete_file(self, store_id: str, file_id: str) -> None:
        name = index_name(store_id, self.prefix)
        self._means.pop(name, None)
        self._delete_hits(name, self._file_hits(name, file_id, source=False))

    def _delete_hits(self, name: str, hits: list[dict[str, Any]]) -> None:
        # By id through _bulk: _delete_by_query is a module some distributions leave out.
        if hits:
            actions = ({"_op_type": "delete", "_index": name, "_id": h["_id"]} for h in hits)
            helpers.bulk(self.client, actions, refresh=True, raise_on_error=True)

    def delete_store(self, store_id: str) -> None:
        name = index_name(store_id, self.prefix)
        self.client.indices.delete(index=name, ignore_unavailable=True)
        self._known.pop(name, None)
        self._means.pop(name, None)

    def set_attributes(self, store_id: str, file_id: str, attributes: Mapping[str, Any] | None) -> None:
        name = index_name(store_id, self.prefix)
        attrs = attribute_rows(attributes)
        ids = [hit["_id"] for hit in self._file_hits(name, file_id, source=False)]
        if ids:
            # Partial updates, not a script or _update_by_query: some distributions lack both.
            actions = ({"_op_type": "update", "_index": name, "_id": i, "doc": {"attrs": attrs}} for i in ids)
            helpers.bulk(self.client, actions, refresh=True, raise_on_error=True)

    # -- reads -------------------------------------------------------------------------------

    def _file_hits(self, name: str, file_id: str, source: bool | list[str] = True,
                   from_position: int = 0) -> list[dict[str, Any]]:
        """The file's documents in position order (from `from_position` on), a page at a time."""
        hits: list[dict[str, Any]] = []
        after: list[Any] | None = None
        query = {"bool": {"filter": [{"term": {"file_id": file_id}}, {"range": {"position": {"gte": from_position}}}]}}
        while True:
            try:
                page = self._search(
                    index=name,
                    query=query,
                    sort=[{"position": "asc"}],
                    size=_PAGE,
                    source=source,
                    search_after=after,
                )
            except NotFoundError:
                return []
            batch = page["hits"]["hits"]
            hits.extend(batch)
            if len(batch) < _PAGE:
                return hits
            after = batch[-1]["sort"]

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
            page = self._search(index=index_name(store_id, self.prefix), knn=knn, size=k,
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
            page = self._search(index=index_name(store_id, self.prefix), query={"bool": bool_query}, size=k,
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
        sample = {"function_score": {"query": _MATCH_ALL, "random_score": {"seed": 7, "field": "_seq_no"}}}
        try:
            page = self._search(index=name, query=sample, size=MEAN_SAMPLE, source=["vector"])
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
            found = self._read(self.client.termvectors, index=index_name(store_id, self.prefix),
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
        try:
            vectors = self._search(index=name, knn=knn, size=len(keys), source=["file_id", "position"])
            terms = self._terms(query)
            texts = self._search(index=name, query={"bool": {"must": [_text_match(terms)], "filter": [only]}},
                                 size=len(keys), source=["file_id", "position"]) if terms else None
        except NotFoundError:
            return {}
        keyword = {_key(h): float(h["_score"]) for h in (texts["hits"]["hits"] if texts else [])}
        return {
            _key(h): (2.0 * float(h["_score"]) - 1.0, keyword.get(_key(h), 0.0)) for h in vectors["hits"]["hits"]
        }

    def _search(self, **request: Any) -> Any:
        return self._read(self.client.search, **request)

    @staticmethod
    def _read(call: Any, **request: Any) -> Any:
        # A shard created a moment ago (by another worker) can answer 503 no_shard_available for a
        # short while even after the index reports yellow; that is transient, so wait and ask again.
        for attempt in range(_SHARD_RETRIES):
            try:
                return call(**request)
            except ApiError as exc:
                if exc.meta.status != 503 or attempt == _SHARD_RETRIES - 1:
                    raise
                time.sleep(0.1 * (attempt + 1))
        raise AssertionError("unreachable")

    def _filter_query(self, store_id: str, filter: Filter) -> dict[str, Any]:
        compiled = compile_filter(filter)
        if bool_depth(compiled) <= MAX_BOOL_DEPTH:
            return compiled
        # Too deep for the cluster to parse: evaluate it here on each file's attributes (one
        # document per file) and select the files that pass by id. Exact, and rare enough that
        # reading one row per file is affordable.
        allowed = [file_id for file_id, attributes in self._files_attributes(index_name(store_id, self.prefix))
                   if matches(filter, attributes)]
        if not allowed:
            return _MATCH_NONE
        parts = [{"terms": {"file_id": allowed[i : i + _MAX_TERMS]}} for i in range(0, len(allowed), _MAX_TERMS)]
        return parts[0] if len(parts) == 1 else {"bool": {"should": parts, "minimum_should_match": 1}}

    def _files_attributes(self, name: str) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        after: list[Any] | None = None
        while True:
            try:
                page = self._search(index=name, query={"term": {"position": 0}}, sort=[{"file_id": "asc"}],
                                          size=_PAGE, source=["file_id", "attrs"], search_after=after)
            except NotFoundError:
                return out
            batch = page["hits"]["hits"]
            out.extend((h["_source"]["file_id"], attributes_from_rows(h["_source"].get("attrs") or [])) for h in batch)
            if len(batch) < _PAGE:
                return out
            after = batch[-1]["sort"]

    @staticmethod
    def _hit(hit: Mapping[str, Any], score: float) -> Hit:
        source = hit["_source"]
        return Hit(file_id=source["file_id"], position=int(source["position"]), text=source["text"], score=score)

    def file_chunks(self, store_id: str, file_id: str) -> list[str]:
        hits = self._file_hits(index_name(store_id, self.prefix), file_id, source=["text"])
        return [h["_source"]["text"] for h in hits]

    def close(self) -> None:
        self.client.close()
