"""Errors over plain HTTP: OpenAI's envelope for every failure, 400 not 422, and keep-alive survives."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Server


def _error(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    return error


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "param"),
    [
        ("POST", "/vector_stores", {"content": b"{not json", "headers": {"content-type": "application/json"}}, 400,
         None),
        ("POST", "/vector_stores", {"json": [1, 2, 3]}, 400, None),
        ("POST", "/vector_stores", {"json": {"name": 5}}, 400, "name"),
        ("POST", "/vector_stores", {"json": {"file_ids": "file-abc"}}, 400, "file_ids"),
        ("POST", "/vector_stores", {"json": {"file_ids": [f"file-{i}" for i in range(501)]}}, 400, "file_ids"),
        ("POST", "/vector_stores", {"json": {"metadata": {"a": None}}}, 400, "metadata"),
        ("GET", "/vector_stores?limit=0", {}, 400, "limit"),
        ("GET", "/vector_stores?limit=abc", {}, 400, "limit"),
        ("GET", "/vector_stores?after=vs_unknowncursor", {}, 400, "after"),
        ("GET", "/files?limit=10001", {}, 400, "limit"),
        ("GET", "/vector_stores/vs_nothere", {}, 404, "vector_store_id"),
        ("GET", "/vector_stores/vs_nothere/files", {}, 404, "vector_store_id"),
        ("POST", "/vector_stores/vs_nothere/search", {"json": {"query": "x"}}, 404, "vector_store_id"),
        ("GET", "/files/file-nothere", {}, 404, "file_id"),
        ("GET", "/no/such/route", {}, 404, None),
        ("PUT", "/vector_stores", {}, 405, None),
    ],
)
def test_error_envelope(http: httpx.Client, method: str, path: str, kwargs: dict, status: int,
                        param: str | None) -> None:
    response = http.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    error = _error(response)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


def test_keep_alive_connection_survives_errors(server: Server) -> None:
    with httpx.Client(base_url=server.api) as http:
        responses = [
            http.post("/vector_stores", content=b"{", headers={"content-type": "application/json"}),
            http.get("/vector_stores/vs_nothere"),
            http.post("/vector_stores", json={"unknown": 1}),
            http.post("/vector_stores/vs_nothere/search", json={"query": ""}),
            http.get("/vector_stores"),
        ]
        assert [r.status_code for r in responses] == [400, 404, 400, 400, 200]
        # Every request went over the same pooled connection: no error closed it.
        assert len(http._transport._pool.connections) == 1  # type: ignore[attr-defined]


def test_health_and_docs(server: Server) -> None:
    assert httpx.get(server.base_url + "/health").status_code == 200
    assert httpx.get(server.base_url + "/docs").status_code == 200
    spec = httpx.get(server.base_url + "/openapi.json").json()
    assert "/v1/vector_stores/{vector_store_id}/search" in spec["paths"]
