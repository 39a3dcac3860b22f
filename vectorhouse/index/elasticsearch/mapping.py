"""The Elasticsearch backend's indices: one per store, named from its id, with a strict mapping of our own.

Each store gets its own index (``vectorhouse-<store id, lower-cased>-<hash of the exact id>``: index
names must be lower case, ids are not). Every chunk is one document, id ``<file id>:<position>``::

    file_id keyword, position integer, tokens integer, text text (kept, not searched),
    terms text (whitespace analyser), vector dense_vector (cosine, plain float HNSW),
    attrs nested {key keyword, s keyword, n double, i long, b boolean}   -- the file's attributes

A store's index is made for its model's dimension by the store's first write.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

INDEX_PREFIX = "vectorhouse-"


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


def mapping_problem(found: Mapping[str, Any], dimension: int | None = None) -> str | None:
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
