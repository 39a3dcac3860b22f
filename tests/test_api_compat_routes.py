"""The /api/vector-stores route set over plain HTTP: all 18 operations, polls, enhanced errors, request ids."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.conftest import Server
from vectorhouse.errors import ERROR_CODES

API = "/api/vector-stores"
V1 = "/v1/vector_stores"
ENHANCED_KEYS = {"statusCode", "timestamp", "path", "message", "request_id", "error_code", "parameter", "hint"}
ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
LONG_WAIT = {"max_wait_ms": 300_000}

_WORDS = ("harbour lantern meadow quarry ribbon saddle timber velvet walnut glacier orchard beacon canyon "
          "falcon granite island juniper kettle lagoon marble nectar osprey pebble quiver raven summit "
          "thistle umber violet willow yarrow zephyr anchor bramble cobalt dune ember fjord").split()


def varied_text(size: int, seed: int = 1) -> str:
    """`size` characters of non-repeating sentences, so chunking and embedding have real work to do."""
    rng = random.Random(seed)
    parts: list[str] = []
    total = 0
    i = 0
    while total < size:
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 14)))
        sentence = f"Record {i} notes that the {words} measured {rng.randint(0, 99999)} units."
        parts.append(sentence)
        total += len(sentence) + 1
        i += 1
    return " ".join(parts)


@pytest.fixture(scope="module")
def web(server: Server) -> Iterator[httpx.Client]:
    """Plain HTTP at the server root, so both /v1 and /api paths can be used."""
    with httpx.Client(base_url=server.base_url, timeout=120) as client:
        yield client


def upload(web: httpx.Client, name: str, content: str | bytes) -> str:
    data = content.encode() if isinstance(content, str) else content
    response = web.post("/v1/files", files={"file": (name, data)}, data={"purpose": "assistants"})
    assert response.status_code == 200, response.text
    return response.json()["id"]


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers.get("x-request-id")
    return response.json()


def create_store(web: httpx.Client, base: str = API, **body: Any) -> dict[str, Any]:
    store = ok(web.post(base, json=body))
    assert store["object"] == "vector_store" and store["id"].startswith("vs_")
    return store


def assert_enhanced(response: httpx.Response, status: int, code: str | None,
                    parameter: str | None = None) -> dict[str, Any]:
    """The /api error body: exact keys, types, and values tied to the response and the code table."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ENHANCED_KEYS
    assert type(body["statusCode"]) is int and body["statusCode"] == status
    assert isinstance(body["timestamp"], str) and ISO_8601.match(body["timestamp"]), body["timestamp"]
    stamp = datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
    assert stamp.tzinfo is not None
    assert abs(datetime.now(timezone.utc) - stamp) < timedelta(minutes=5)
    assert body["path"] == response.request.url.path
    assert isinstance(body["message"], str) and body["message"]
    assert body["request_id"] == response.headers["x-request-id"] and body["request_id"]
    assert body["error_code"] == code
    assert body["parameter"] == parameter
    if code in ERROR_CODES:
        assert isinstance(body["hint"], str) and body["hint"] == ERROR_CODES[code][1]
    else:
        assert body["hint"] is None
    return body


def assert_openai_error(response: httpx.Response, status: int, code: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


def _same_store(a: dict[str, Any], b: dict[str, Any]) -> None:
    for key in ("id", "object", "name", "metadata", "created_at", "file_counts", "status", "usage_bytes"):
        assert a[key] == b[key], key


# -- the 18 operations ------------------------------------------------------------------------------


def test_store_create_list_retrieve_update_delete(web: httpx.Client) -> None:
    store = create_store(web, name="compat-crud", metadata={"team": "docs"})
    assert store["name"] == "compat-crud" and store["metadata"] == {"team": "docs"}
    assert store["status"] == "completed" and store["usage_bytes"] == 0
    assert store["file_counts"] == {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 0}

    listed = ok(web.get(API, params={"limit": 100}))
    assert listed["object"] == "list" and isinstance(listed["has_more"], bool)
    assert store["id"] in [s["id"] for s in listed["data"]]
    assert all(s["object"] == "vector_store" for s in listed["data"])
    assert listed["first_id"] == listed["data"][0]["id"] and listed["last_id"] == listed["data"][-1]["id"]

    fetched = ok(web.get(f"{API}/{store['id']}"))
    _same_store(fetched, store)

    updated = ok(web.post(f"{API}/{store['id']}", json={"name": "renamed", "metadata": {"team": "search"}}))
    assert updated["object"] == "vector_store" and updated["id"] == store["id"]
    assert updated["name"] == "renamed" and updated["metadata"] == {"team": "search"}
    # The update is what /v1 sees as well.
    _same_store(ok(web.get(f"{V1}/{store['id']}")), updated)

    deleted = ok(web.delete(f"{API}/{store['id']}"))
    assert deleted == {"id": store["id"], "object": "vector_store.deleted", "deleted": True}
    assert_enhanced(web.get(f"{API}/{store['id']}"), 404, "vector_store_not_found", "vector_store_id")
    assert_openai_error(web.get(f"{V1}/{store['id']}"), 404, "vector_store_not_found")


def test_store_file_routes_and_search(web: httpx.Client) -> None:
    store = create_store(web, name="compat-files")
    sid = store["id"]
    file_id = upload(web, "otters.txt", "Sea otters hold hands while sleeping so they do not drift apart.")
    strategy = {"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 20}}

    attached = ok(web.post(f"{API}/{sid}/files",
                           json={"file_id": file_id, "attributes": {"year": 2024}, "chunking_strategy": strategy}))
    assert attached["object"] == "vector_store.file" and attached["id"] == file_id
    assert attached["vector_store_id"] == sid and attached["status"] in ("in_progress", "completed")
    assert attached["attributes"] == {"year": 2024}
    assert attached["chunking_strategy"] == strategy

    done = ok(web.post(f"{API}/{sid}/files/{file_id}/poll", json=LONG_WAIT))
    assert done["object"] == "vector_store.file" and done["status"] == "completed"
    assert done["last_error"] is None and done["usage_bytes"] > 0

    listed = ok(web.get(f"{API}/{sid}/files"))
    assert listed["object"] == "list" and [f["id"] for f in listed["data"]] == [file_id]
    assert listed["data"][0]["object"] == "vector_store.file" and listed["has_more"] is False
    assert ok(web.get(f"{API}/{sid}/files", params={"filter": "failed"}))["data"] == []

    fetched = ok(web.get(f"{API}/{sid}/files/{file_id}"))
    assert fetched == done

    updated = ok(web.post(f"{API}/{sid}/files/{file_id}", json={"attributes": {"year": 2025, "team": "sea"}}))
    assert updated["object"] == "vector_store.file" and updated["attributes"] == {"year": 2025, "team": "sea"}
    assert ok(web.get(f"{V1}/{sid}/files/{file_id}"))["attributes"] == {"year": 2025, "team": "sea"}

    content = ok(web.get(f"{API}/{sid}/files/{file_id}/content"))
    assert content["object"] == "vector_store.file_content.page" and content["has_more"] is False
    assert content["data"] and all(part["type"] == "text" for part in content["data"])
    assert "Sea otters hold hands" in " ".join(part["text"] for part in content["data"])

    page = ok(web.post(f"{API}/{sid}/search",
                       json={"query": "otters sleeping", "filters": {"key": "year", "type": "gte", "value": 2025}}))
    assert page["object"] == "vector_store.search_results.page"
    assert page["search_query"] == ["otters sleeping"] and page["has_more"] is False
    assert [hit["file_id"] for hit in page["data"]] == [file_id]
    hit = page["data"][0]
    assert hit["filename"] == "otters.txt" and hit["attributes"] == {"year": 2025, "team": "sea"}
    assert 0 < hit["score"] <= 1 and hit["content"][0]["type"] == "text" and "otters" in hit["content"][0]["text"]
    # Same query, same answer through /v1.
    v1_page = ok(web.post(f"{V1}/{sid}/search",
                          json={"query": "otters sleeping", "filters": {"key": "year", "type": "gte", "value": 2025}}))
    assert [h["file_id"] for h in v1_page["data"]] == [file_id]

    deleted = ok(web.delete(f"{API}/{sid}/files/{file_id}"))
    assert deleted == {"id": file_id, "object": "vector_store.file.deleted", "deleted": True}
    assert_enhanced(web.get(f"{API}/{sid}/files/{file_id}"), 404, "file_not_in_vector_store", "file_id")
    assert ok(web.get(f"{API}/{sid}/files"))["data"] == []
    assert ok(web.get(f"/v1/files/{file_id}"))["id"] == file_id  # detaching keeps the file


def test_file_batch_routes(web: httpx.Client) -> None:
    sid = create_store(web, name="compat-batch")["id"]
    ids = [upload(web, f"batch{i}.txt", f"Batch note {i}: lighthouses guide ships past the reef.") for i in range(3)]
    batch = ok(web.post(f"{API}/{sid}/file-batches", json={"file_ids": ids, "attributes": {"src": "batch"}}))
    assert batch["object"] == "vector_store.files_batch" and batch["id"].startswith("vsfb_")
    assert batch["vector_store_id"] == sid and batch["file_counts"]["total"] == 3
    assert batch["status"] in ("in_progress", "completed")

    store = ok(web.post(f"{API}/{sid}/poll", json=LONG_WAIT))
    assert store["object"] == "vector_store" and store["status"] == "completed"
    assert store["file_counts"]["completed"] == 3 and store["file_counts"]["in_progress"] == 0

    fetched = ok(web.get(f"{API}/{sid}/file-batches/{batch['id']}"))
    assert fetched["object"] == "vector_store.files_batch" and fetched["id"] == batch["id"]
    assert fetched["status"] == "completed" and fetched["file_counts"]["completed"] == 3
    assert ok(web.get(f"{V1}/{sid}/file_batches/{batch['id']}")) == fetched

    files = ok(web.get(f"{API}/{sid}/file-batches/{batch['id']}/files"))
    assert files["object"] == "list" and sorted(f["id"] for f in files["data"]) == sorted(ids)
    assert all(f["object"] == "vector_store.file" and f["attributes"] == {"src": "batch"} for f in files["data"])

    # Cancel needs a batch still in progress: one file large enough to take a moment, cancelled at once.
    slow = upload(web, "slow.txt", varied_text(40_000, seed=2))
    pending = ok(web.post(f"{API}/{sid}/file-batches", json={"file_ids": [slow]}))
    assert pending["status"] == "in_progress"
    cancelled = ok(web.post(f"{API}/{sid}/file-batches/{pending['id']}/cancel"))
    assert cancelled["object"] == "vector_store.files_batch" and cancelled["id"] == pending["id"]
    assert cancelled["status"] == "cancelled"
    assert cancelled["file_counts"]["cancelled"] == 1 and cancelled["file_counts"]["in_progress"] == 0
    assert ok(web.get(f"{V1}/{sid}/file_batches/{pending['id']}"))["status"] == "cancelled"


def test_poll_routes_time_out_then_return_completed(web: httpx.Client) -> None:
    sid = create_store(web, name="compat-poll")["id"]
    big = upload(web, "big.txt", varied_text(40_000))
    attached = ok(web.post(f"{API}/{sid}/files", json={"file_id": big}))
    assert attached["status"] == "in_progress"

    started = time.monotonic()
    timed_out = web.post(f"{API}/{sid}/files/{big}/poll", json={"max_wait_ms": 1})
    assert_enhanced(timed_out, 504, "file_indexing_timeout", "max_wait_ms")
    store_timed_out = web.post(f"{API}/{sid}/poll", json={"max_wait_ms": 1})
    assert_enhanced(store_timed_out, 504, "file_indexing_timeout", "max_wait_ms")
    assert time.monotonic() - started < 5  # a 1 ms wait answers at once
    assert ok(web.get(f"{API}/{sid}"))["status"] == "in_progress"

    done = ok(web.post(f"{API}/{sid}/files/{big}/poll", json=LONG_WAIT))
    assert done["object"] == "vector_store.file" and done["id"] == big and done["vector_store_id"] == sid
    assert done["status"] == "completed" and done["usage_bytes"] > 0
    # No body at all: the default wait applies, and the store is already done.
    store = ok(web.post(f"{API}/{sid}/poll"))
    assert store["object"] == "vector_store" and store["id"] == sid and store["status"] == "completed"
    assert store["file_counts"]["completed"] == 1 and store["usage_bytes"] == done["usage_bytes"]
    assert ok(web.get(f"{V1}/{sid}/files/{big}"))["status"] == "completed"


def test_poll_routes_body_defaults_cap_and_errors(web: httpx.Client) -> None:
    sid = create_store(web, name="compat-poll-args")["id"]
    file_id = upload(web, "tiny.txt", "Puffins nest in burrows on cliff tops.")
    ok(web.post(f"{V1}/{sid}/files", json={"file_id": file_id}))
    # Over the cap is accepted (capped, not refused); an empty object means the default.
    assert ok(web.post(f"{API}/{sid}/files/{file_id}/poll", json={"max_wait_ms": 10**9}))["status"] == "completed"
    assert ok(web.post(f"{API}/{sid}/files/{file_id}/poll", json={}))["status"] == "completed"
    assert ok(web.post(f"{API}/{sid}/poll", json={}))["status"] == "completed"
    assert_enhanced(web.post(f"{API}/{sid}/poll", json={"max_wait_ms": -1}), 400, None, "max_wait_ms")
    assert_enhanced(web.post(f"{API}/{sid}/poll", json={"max_wait_ms": "soon"}), 400, None, "max_wait_ms")
    assert_enhanced(web.post(f"{API}/vs_nothere/poll", json={"max_wait_ms": 10}), 404, "vector_store_not_found",
                    "vector_store_id")
    other = upload(web, "loose.txt", "not attached")
    assert_enhanced(web.post(f"{API}/{sid}/files/{other}/poll", json={"max_wait_ms": 10}), 404,
                    "file_not_in_vector_store", "file_id")


def test_updates_answer_on_patch_as_the_spec_spells_them(web: httpx.Client) -> None:
    sid = create_store(web, name="compat-patch")["id"]
    patched = ok(web.patch(f"{API}/{sid}", json={"name": "patched", "metadata": {"k": "v"}}))
    assert patched["name"] == "patched" and patched["metadata"] == {"k": "v"}
    assert ok(web.get(f"{V1}/{sid}"))["name"] == "patched"
    file_id = upload(web, "tiny.txt", "Puffins nest in burrows on cliff tops.")
    ok(web.post(f"{API}/{sid}/files", json={"file_id": file_id}))
    item = ok(web.patch(f"{API}/{sid}/files/{file_id}", json={"attributes": {"year": 2024}}))
    assert item["attributes"] == {"year": 2024}
    assert ok(web.get(f"{V1}/{sid}/files/{file_id}"))["attributes"] == {"year": 2024}
    assert_enhanced(web.patch(f"{API}/vs_nothere", json={"name": "x"}), 404, "vector_store_not_found",
                    "vector_store_id")


def test_poll_routes_read_max_wait_ms_from_the_query(web: httpx.Client) -> None:
    sid = create_store(web, name="compat-poll-query")["id"]
    big = upload(web, "big.txt", varied_text(40_000, seed=7))
    assert ok(web.post(f"{API}/{sid}/files", json={"file_id": big}))["status"] == "in_progress"
    started = time.monotonic()
    assert_enhanced(web.post(f"{API}/{sid}/files/{big}/poll", params={"max_wait_ms": 1}), 504,
                    "file_indexing_timeout", "max_wait_ms")
    assert_enhanced(web.post(f"{API}/{sid}/poll", params={"max_wait_ms": 1}), 504, "file_indexing_timeout",
                    "max_wait_ms")
    assert time.monotonic() - started < 5
    assert_enhanced(web.post(f"{API}/{sid}/poll", params={"max_wait_ms": -1}), 400, None, "max_wait_ms")
    done = ok(web.post(f"{API}/{sid}/files/{big}/poll", params={"max_wait_ms": 300_000}))
    assert done["status"] == "completed"


# -- one catalog behind both route sets ---------------------------------------------------------------


def test_api_objects_are_visible_through_v1(web: httpx.Client) -> None:
    store = create_store(web, API, name="made-in-api", metadata={"via": "api"})
    sid = store["id"]
    file_id = upload(web, "api.txt", "Axolotls regrow their limbs.")
    ok(web.post(f"{API}/{sid}/files", json={"file_id": file_id, "attributes": {"via": "api"}}))
    ok(web.post(f"{API}/{sid}/poll", json=LONG_WAIT))
    v1_store = ok(web.get(f"{V1}/{sid}"))
    assert v1_store["metadata"] == {"via": "api"} and v1_store["file_counts"]["completed"] == 1
    assert sid in [s["id"] for s in ok(web.get(V1, params={"limit": 100}))["data"]]
    v1_file = ok(web.get(f"{V1}/{sid}/files/{file_id}"))
    assert v1_file["status"] == "completed" and v1_file["attributes"] == {"via": "api"}
    assert [f["id"] for f in ok(web.get(f"{V1}/{sid}/files"))["data"]] == [file_id]
    ok(web.delete(f"{V1}/{sid}"))
    assert_enhanced(web.get(f"{API}/{sid}"), 404, "vector_store_not_found", "vector_store_id")


def test_v1_objects_are_visible_through_api(web: httpx.Client) -> None:
    store = create_store(web, V1, name="made-in-v1", metadata={"via": "v1"})
    sid = store["id"]
    file_id = upload(web, "v1.txt", "Tardigrades survive the vacuum of space.")
    ok(web.post(f"{V1}/{sid}/files", json={"file_id": file_id, "attributes": {"via": "v1"}}))
    polled = ok(web.post(f"{API}/{sid}/files/{file_id}/poll", json=LONG_WAIT))
    assert polled["status"] == "completed" and polled["attributes"] == {"via": "v1"}
    api_store = ok(web.get(f"{API}/{sid}"))
    _same_store(api_store, ok(web.get(f"{V1}/{sid}")))
    assert api_store["metadata"] == {"via": "v1"} and api_store["file_counts"]["completed"] == 1
    assert sid in [s["id"] for s in ok(web.get(API, params={"limit": 100}))["data"]]
    assert [f["id"] for f in ok(web.get(f"{API}/{sid}/files"))["data"]] == [file_id]
    hits = ok(web.post(f"{API}/{sid}/search", json={"query": "tardigrade space"}))["data"]
    assert [h["file_id"] for h in hits] == [file_id]
    # A file attached through /v1 conflicts with an attach through /api: it is the same row.
    assert_enhanced(web.post(f"{API}/{sid}/files", json={"file_id": file_id}), 409, "file_already_attached",
                    "file_id")
    ok(web.delete(f"{API}/{sid}"))
    assert_openai_error(web.get(f"{V1}/{sid}"), 404, "vector_store_not_found")


# -- enhanced error bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code", "parameter"),
    [
        ("GET", f"{API}/vs_nothere", {}, 404, "vector_store_not_found", "vector_store_id"),
        ("GET", f"{API}/not-a-store", {}, 400, "invalid_vector_store_id", "vector_store_id"),
        ("GET", f"{API}/vs_nothere/files", {}, 404, "vector_store_not_found", "vector_store_id"),
        ("POST", f"{API}/vs_nothere/search", {"json": {"query": ""}}, 400, "invalid_search_query", "query"),
        ("POST", API, {"json": {"metadata": {f"k{i}": "v" for i in range(17)}}}, 400, "metadata_too_large",
         "metadata"),
        ("POST", API, {"json": {"name": 5}}, 400, None, "name"),
        ("POST", API, {"json": {"unknown": 1}}, 400, None, "unknown"),
        ("POST", API, {"content": b"{oops", "headers": {"content-type": "application/json"}}, 400, None, None),
        ("GET", f"{API}?limit=0", {}, 400, None, "limit"),
        ("GET", "/api/no-such-route", {}, 404, None, None),
        ("PUT", API, {}, 405, None, None),
    ],
)
def test_enhanced_error_body(web: httpx.Client, method: str, path: str, kwargs: dict[str, Any], status: int,
                             code: str | None, parameter: str | None) -> None:
    response = web.request(method, path, **kwargs)
    body = assert_enhanced(response, status, code, parameter)
    assert "error" not in body


def test_v1_errors_keep_openai_envelope(web: httpx.Client) -> None:
    error = assert_openai_error(web.get(f"{V1}/vs_nothere"), 404, "vector_store_not_found")
    assert error["param"] == "vector_store_id" and error["type"] == "invalid_request_error"


def test_enhanced_error_path_includes_ids(web: httpx.Client) -> None:
    sid = create_store(web, name="compat-path")["id"]
    response = web.get(f"{API}/{sid}/file-batches/vsfb_nothere")
    body = assert_enhanced(response, 404, "batch_not_found", "batch_id")
    assert body["path"] == f"{API}/{sid}/file-batches/vsfb_nothere"


# -- request ids ----------------------------------------------------------------------------------------------


REQUESTS = [
    ("GET", "/health", 200),
    ("GET", V1, 200),
    ("GET", API, 200),
    ("GET", f"{V1}/vs_nothere", 404),
    ("GET", f"{API}/vs_nothere", 404),
    ("GET", f"{V1}/not-a-store", 400),
    ("GET", f"{API}/not-a-store", 400),
    ("GET", "/v1/files/file-nothere", 404),
    ("GET", "/no/such/route", 404),
]


def test_every_response_has_a_request_id(web: httpx.Client) -> None:
    seen: set[str] = set()
    for method, path, status in REQUESTS:
        response = web.request(method, path)
        assert response.status_code == status, (path, response.text)
        rid = response.headers.get("x-request-id")
        assert rid, path
        assert rid not in seen, "request ids must differ between requests"
        seen.add(rid)
        if path.startswith("/api/") and status >= 400:
            assert response.json()["request_id"] == rid


def test_caller_request_id_is_echoed(web: httpx.Client) -> None:
    for i, (method, path, status) in enumerate(REQUESTS):
        mine = f"trace-{i}-abc123"
        response = web.request(method, path, headers={"x-request-id": mine})
        assert response.status_code == status
        assert response.headers["x-request-id"] == mine, path
        if path.startswith("/api/") and status >= 400:
            assert response.json()["request_id"] == mine
    # On a success with a body and an upload too.
    store = web.post(API, json={"name": "traced"}, headers={"x-request-id": "trace-create"})
    assert store.status_code == 200 and store.headers["x-request-id"] == "trace-create"
    uploaded = web.post("/v1/files", files={"file": ("t.txt", b"traced")}, data={"purpose": "assistants"},
                        headers={"x-request-id": "trace-upload"})
    assert uploaded.status_code == 200 and uploaded.headers["x-request-id"] == "trace-upload"
