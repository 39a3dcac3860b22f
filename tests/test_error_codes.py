"""Every code of ERROR_CODES provoked by a real request: status and code on /v1, plus error_code and hint on /api."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Server
from vectorhouse.errors import ERROR_CODES

V1 = "/v1/vector_stores"
API = "/api/vector-stores"
# Covered elsewhere: tests/test_expiry_and_faults.py (a controllable clock or an injected fault),
# tests/test_projects_and_keys.py (keys, admin routes, quotas), tests/test_backend_outages.py and
# tests/test_hostile_requests.py (a backend gone, a full disk).
ELSEWHERE = {"vector_store_expired": 410, "search_failed": 500, "invalid_api_key": 401,
             "insufficient_permissions": 403, "vector_store_limit_exceeded": 429, "insufficient_storage": 507,
             "service_unavailable": 503,
             # tests/test_collection_api.py: the /v1/api collection API's own
             "collection_not_found": 404, "collection_exists": 409,
             # tests/test_responses.py: grounded answers (a chat model, faked there)
             "chat_model_not_configured": 400, "invalid_chat_model": 400, "unsupported_tool": 400,
             "response_not_found": 404, "chat_upstream_error": 502, "chat_upstream_timeout": 504}


@dataclass
class Ctx:
    """Objects the cases point at, created once for the module."""

    web: httpx.Client
    store: str  # an empty-ish store
    attached: str  # a small file attached to `store` and completed
    loose: str  # an uploaded file attached nowhere
    failed: str  # an empty file attached to `store`, ingestion failed


def _upload(web: httpx.Client, name: str, content: str | bytes) -> str:
    data = content.encode() if isinstance(content, str) else content
    response = web.post("/v1/files", files={"file": (name, data)}, data={"purpose": "assistants"})
    assert response.status_code == 200, response.text
    return response.json()["id"]


def _store(web: httpx.Client, name: str) -> str:
    response = web.post(API, json={"name": name})
    assert response.status_code == 200, response.text
    return response.json()["id"]


def _big_text(size: int) -> str:
    """Over a hundred KB of varied sentences: ingestion takes seconds, so a 1 ms poll sees it in progress."""
    rng = random.Random(11)
    words = ("basalt cedar delta estuary fern gorge heron inlet jasper kelp lichen moraine nettle oxbow "
             "prairie quartz reed sedge tundra upland vale wetland").split()
    parts: list[str] = []
    total = 0
    while total < size:
        sentence = f"Survey {len(parts)} found {' '.join(rng.choices(words, k=rng.randint(6, 14)))} " \
                   f"at {rng.randint(0, 99999)} metres."
        parts.append(sentence)
        total += len(sentence) + 1
    return " ".join(parts)


@pytest.fixture(scope="module")
def ctx(server: Server) -> Iterator[Ctx]:
    with httpx.Client(base_url=server.base_url, timeout=120) as web:
        store = _store(web, "error-codes")
        attached = _upload(web, "ok.txt", "Kingfishers dive for small fish.")
        failed = _upload(web, "empty.txt", b"")
        for file_id in (attached, failed):
            response = web.post(f"{API}/{store}/files", json={"file_id": file_id})
            assert response.status_code == 200, response.text
        response = web.post(f"{API}/{store}/poll", json={"max_wait_ms": 120_000})
        assert response.status_code == 200, response.text
        statuses = {f["id"]: f["status"] for f in web.get(f"{API}/{store}/files").json()["data"]}
        assert statuses == {attached: "completed", failed: "failed"}
        yield Ctx(web, store, attached, _upload(web, "loose.txt", "never attached"), failed)


def _batches(base: str) -> str:
    return f"{base}/{{store}}/{'file_batches' if base == V1 else 'file-batches'}"


def _attach(chunking: dict[str, Any]) -> Callable[[Ctx, str], httpx.Response]:
    def send(c: Ctx, base: str) -> httpx.Response:
        return c.web.post(f"{base}/{c.store}/files", json={"file_id": c.loose, "chunking_strategy": chunking})
    return send


def _store_metadata(metadata: dict[str, Any]) -> Callable[[Ctx, str], httpx.Response]:
    def send(c: Ctx, base: str) -> httpx.Response:
        return c.web.post(base, json={"name": "too-much", "metadata": metadata})
    return send


def _timeout(c: Ctx, base: str) -> httpx.Response:
    store = _store(c.web, "timeout")
    big = _upload(c.web, "big.txt", _big_text(40_000))
    attached = c.web.post(f"{base}/{store}/files", json={"file_id": big})
    assert attached.status_code == 200 and attached.json()["status"] == "in_progress", attached.text
    return c.web.post(f"{base}/{store}/files/{big}/poll", json={"max_wait_ms": 1})


@dataclass(frozen=True)
class Case:
    send: Callable[[Ctx, str], httpx.Response]
    param: str | None
    v1: bool = True  # False where the route exists only under /api


def _cancel_finished(c: Ctx, base: str) -> httpx.Response:
    """A batch in a store of its own runs to completion; cancelling it then is refused."""
    store = _store(c.web, "finished-batch")
    file_id = _upload(c.web, "batch.txt", "Puffins nest in burrows.")
    batch = c.web.post(_batches(base).format(store=store), json={"file_ids": [file_id]}).json()
    assert c.web.post(f"{API}/{store}/poll", json={"max_wait_ms": 120_000}).status_code == 200
    return c.web.post(_batches(base).format(store=store) + f"/{batch['id']}/cancel")


CASES: dict[str, Case] = {
    "vector_store_not_found": Case(lambda c, b: c.web.get(f"{b}/vs_nothere"), "vector_store_id"),
    "file_not_found": Case(lambda c, b: c.web.post(f"{b}/{c.store}/files", json={"file_id": "file-nothere"}),
                           "file_id"),
    "file_already_attached": Case(lambda c, b: c.web.post(f"{b}/{c.store}/files", json={"file_id": c.attached}),
                                  "file_id"),
    "file_not_in_vector_store": Case(lambda c, b: c.web.get(f"{b}/{c.store}/files/{c.loose}"), "file_id"),
    "file_indexing_failed": Case(lambda c, b: c.web.get(f"{b}/{c.store}/files/{c.failed}/content"), "file_id"),
    "file_indexing_timeout": Case(_timeout, "max_wait_ms", v1=False),
    "invalid_chunking_strategy": Case(_attach({"type": "fancy"}), "chunking_strategy.type"),
    "chunk_size_invalid": Case(
        _attach({"type": "static", "static": {"max_chunk_size_tokens": 99, "chunk_overlap_tokens": 0}}),
        "chunking_strategy.static.max_chunk_size_tokens"),
    "chunk_overlap_invalid": Case(
        _attach({"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 101}}),
        "chunking_strategy.static.chunk_overlap_tokens"),
    "batch_not_found": Case(lambda c, b: c.web.get(_batches(b).format(store=c.store) + "/vsfb_nothere"), "batch_id"),
    # The size check comes before any id is resolved, so made-up ids are enough.
    "batch_too_large": Case(lambda c, b: c.web.post(_batches(b).format(store=c.store),
                                                    json={"file_ids": [f"file-x{i}" for i in range(2001)]}),
                            "file_ids"),
    "invalid_search_query": Case(lambda c, b: c.web.post(f"{b}/{c.store}/search", json={"query": ""}), "query"),
    "invalid_search_filter": Case(
        lambda c, b: c.web.post(f"{b}/{c.store}/search",
                                json={"query": "fish", "filters": {"type": "near", "key": "k", "value": 1}}),
        "filters.type"),
    "metadata_too_large": Case(_store_metadata({f"k{i}": "v" for i in range(17)}), "metadata"),
    "metadata_key_too_long": Case(_store_metadata({"k" * 65: "v"}), "metadata"),
    "metadata_value_too_long": Case(_store_metadata({"k": "v" * 513}), "metadata"),
    "batch_not_cancellable": Case(_cancel_finished, "batch_id"),
    "invalid_metadata": Case(_store_metadata({"k": 5}), "metadata"),
    "invalid_attributes": Case(
        lambda c, b: c.web.post(f"{b}/{c.store}/files", json={"file_id": c.loose, "attributes": {"k": {"a": 1}}}),
        "attributes",
    ),
    "invalid_request_body": Case(lambda c, b: c.web.post(b, json=[1, 2]), None),
    "invalid_vector_store_id": Case(lambda c, b: c.web.get(f"{b}/not-a-store"), "vector_store_id"),
    "invalid_file_id": Case(lambda c, b: c.web.post(f"{b}/{c.store}/files", json={"file_id": "bogus"}), "file_id"),
    "vector_store_creation_failed": Case(lambda c, b: c.web.post(b, json={"file_ids": [c.loose] * 501}), "file_ids"),
    "invalid_embedding_model": Case(lambda c, b: c.web.post(b, json={"embedding_model": "no-such-model"}),
                                    "embedding_model"),
}

V1_CASES = [code for code, case in CASES.items() if case.v1]


@pytest.mark.parametrize("code", V1_CASES)
def test_code_on_v1(ctx: Ctx, code: str) -> None:
    case = CASES[code]
    response = case.send(ctx, V1)
    status = ERROR_CODES[code][0]
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == code and error["param"] == case.param and error["message"]
    assert error["type"] == ("invalid_request_error" if status < 500 else "server_error")
    assert response.headers.get("x-request-id")


@pytest.mark.parametrize("code", list(CASES))
def test_code_on_api(ctx: Ctx, code: str) -> None:
    case = CASES[code]
    response = case.send(ctx, API)
    status, hint = ERROR_CODES[code]
    assert response.status_code == status, response.text
    body = response.json()
    assert body["statusCode"] == status and body["error_code"] == code
    assert body["hint"] == hint and hint
    assert body["parameter"] == case.param and body["message"]
    assert body["request_id"] == response.headers["x-request-id"]


def test_failed_requests_changed_nothing(ctx: Ctx) -> None:
    """The refused attaches and batches above left the store as the fixture made it."""
    files = ctx.web.get(f"{V1}/{ctx.store}/files").json()["data"]
    assert sorted(f["id"] for f in files) == sorted([ctx.attached, ctx.failed])
    counts = ctx.web.get(f"{V1}/{ctx.store}").json()["file_counts"]
    assert counts["total"] == 2 and counts["completed"] == 1 and counts["failed"] == 1


def test_codes_covered_elsewhere_are_in_the_table() -> None:
    for code, status in ELSEWHERE.items():
        assert code in ERROR_CODES and ERROR_CODES[code][0] == status and ERROR_CODES[code][1]


def test_every_code_has_a_test() -> None:
    assert set(CASES).isdisjoint(ELSEWHERE)
    assert set(CASES) | set(ELSEWHERE) == set(ERROR_CODES)
