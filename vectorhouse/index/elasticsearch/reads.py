"""How the Elasticsearch backend reads: requests retried past a new shard's 503, every hit of a query
page by page, several searches in one round trip, and the files a query matches."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError

PAGE = 1000  # documents (or aggregation buckets) per page when reading everything a query matches
SHARD_RETRIES = 8  # about 3.6 s of waiting for a new shard in all


def read(call: Any, **request: Any) -> Any:
    """`call(**request)`. A shard created a moment ago (by another worker) can answer 503
    no_shard_available for a short while even after the index reports yellow; that is transient, so
    wait and ask again."""
    for attempt in range(SHARD_RETRIES):
        try:
            return call(**request)
        except ApiError as exc:
            if exc.meta.status != 503 or attempt == SHARD_RETRIES - 1:
                raise
            time.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")


def search(client: Elasticsearch, **request: Any) -> Any:
    return read(client.search, **request)


def pages(client: Elasticsearch, name: str, query: dict[str, Any], sort: list[dict[str, str]],
          source: bool | list[str]) -> Iterator[list[dict[str, Any]]]:
    """Every hit of a query, a page at a time in `sort` order (search_after); none when the index is gone."""
    after: list[Any] | None = None
    while True:
        try:
            page = search(client, index=name, query=query, sort=sort, size=PAGE, source=source, search_after=after)
        except NotFoundError:
            return
        batch = page["hits"]["hits"]
        if batch:
            yield batch
        if len(batch) < PAGE:
            return
        after = batch[-1]["sort"]


def search_together(client: Elasticsearch, name: str, searches: list[dict[str, Any]]) -> list[Any] | None:
    """The answers to several searches of one index in one round trip (``_msearch``, which the
    cluster runs side by side); None when the index does not exist."""
    lines: list[dict[str, Any]] = []
    for body in searches:
        lines += [{"index": name}, body]
    answers = read(client.msearch, searches=lines)["responses"]
    failed = [a for a in answers if "error" in a]
    if failed and all(a.get("status") == 404 for a in failed):
        return None
    if failed:
        # A failure inside _msearch comes back as a body, not an exception: ask one at a time,
        # so the cluster's own error (or a shard's transient 503, retried) surfaces as usual.
        try:
            return [search(client, index=name, **{"source" if k == "_source" else k: v for k, v in body.items()})
                    for body in searches]
        except NotFoundError:
            return None
    return answers  # type: ignore[no-any-return]


def files_matching(client: Elasticsearch, name: str, query: dict[str, Any]) -> set[str]:
    """The ids of the files with a document matching `query`, by a composite aggregation a page at a time."""
    found: set[str] = set()
    after: dict[str, Any] | None = None
    while True:
        composite: dict[str, Any] = {"size": PAGE, "sources": [{"file": {"terms": {"field": "file_id"}}}]}
        if after is not None:
            composite["after"] = after
        try:
            page = search(client, index=name, query=query, size=0, aggs={"files": {"composite": composite}})
        except NotFoundError:
            return found
        files = page["aggregations"]["files"]
        found.update(bucket["key"]["file"] for bucket in files["buckets"])
        after = files.get("after_key")
        if len(files["buckets"]) < PAGE or after is None:
            return found
