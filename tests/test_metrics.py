"""What operators read: Prometheus metrics at /metrics (requests, latency, queue, files, chunks, ingestion),
/metrics.json, /health and /ready, and one log line per request — text or JSON."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from openai import OpenAI
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Server, start_server, upload


def scrape(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(server.base_url + "/metrics", headers={"Authorization": "Bearer local"}, timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


SEARCH_ROUTE = "/v1/vector_stores/{vector_store_id}/search"


def test_metrics_count_requests_files_chunks_and_ingestion(server: Server, client: OpenAI, backend: str) -> None:
    before = scrape(server)
    store = client.vector_stores.create(name="metrics")
    file_id = upload(client, "m.txt", "Prometheus scrapes metrics from every vectorhouse server. " * 40)
    done = client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=file_id, poll_interval_ms=100)
    assert done.status == "completed"
    for _ in range(3):
        client.vector_stores.search(store.id, query="scrapes metrics")
    missing = httpx.post(f"{server.api}/vector_stores/vs_{'Z' * 24}/search", json={"query": "x"}, timeout=30)
    assert missing.status_code == 404
    after = scrape(server)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("vectorhouse_http_requests_total", method="POST", route=SEARCH_ROUTE, status="200") == 3
    assert delta("vectorhouse_http_requests_total", method="POST", route=SEARCH_ROUTE, status="404") == 1
    assert delta("vectorhouse_http_request_duration_seconds_count", method="POST", route=SEARCH_ROUTE) == 4
    assert delta("vectorhouse_http_request_duration_seconds_sum", method="POST", route=SEARCH_ROUTE) > 0
    assert delta("vectorhouse_http_request_duration_seconds_bucket", method="POST", route=SEARCH_ROUTE, le="+Inf") == 4
    # Labels are route templates, never raw ids.
    assert not any("vs_" in dict(labels).get("route", "") for _, labels in after)
    assert delta("vectorhouse_ingest_files_completed_total") >= 1
    assert delta("vectorhouse_ingest_chunks_total") >= 1 and delta("vectorhouse_ingest_embed_busy_seconds_total") > 0
    assert value(after, "vectorhouse_store_files", status="completed") >= 1
    assert value(after, "vectorhouse_index_chunks", backend=backend) >= 1
    assert value(after, "vectorhouse_ingest_queue_jobs") >= 0 and value(after, "vectorhouse_ingest_claimed_jobs") >= 0
    assert ("vectorhouse_ingest_oldest_job_age_seconds", ()) in after
    legacy = httpx.get(server.base_url + "/metrics.json", timeout=30).json()
    assert legacy["ingest"]["files_completed"] >= 1


def test_health_and_ready(server: Server, backend: str) -> None:
    assert httpx.get(server.base_url + "/health", timeout=30).json() == {"status": "ok"}
    ready = httpx.get(server.base_url + "/ready", timeout=30)
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["checks"]["model"] == "ok" and body["checks"]["catalog"] == "ok"
    assert body["checks"][f"index:{backend}"] == "ok"


def test_one_json_log_line_per_request(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", {"VECTORHOUSE_LOG_FORMAT": "json"})
    try:
        ok = httpx.get(server.api + "/vector_stores", headers={"x-request-id": "req-log-1"}, timeout=30)
        missing = httpx.get(server.api + "/vector_stores/vs_nothere", headers={"x-request-id": "req-log-2"},
                            timeout=30)
        assert ok.status_code == 200 and missing.status_code == 404
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
            by_id = {line.get("request_id"): line for line in lines if line.get("logger") == "vectorhouse.access"}
            if {"req-log-1", "req-log-2"} <= set(by_id):
                break
            time.sleep(0.1)
        first, second = by_id["req-log-1"], by_id["req-log-2"]
        assert first["route"] == "/v1/vector_stores" and first["status"] == 200 and first["method"] == "GET"
        assert second["route"] == "/v1/vector_stores/{vector_store_id}" and second["status"] == 404
        assert second["path"] == "/v1/vector_stores/vs_nothere" and second["duration_ms"] > 0
        assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
        # Every line of the server's log is JSON (uvicorn's own included), one request one access line.
        assert all(line.startswith("{") for line in server.log().splitlines() if line.strip())
        assert sum(1 for line in lines if line.get("request_id") == "req-log-1") == 1
    finally:
        server.stop()
