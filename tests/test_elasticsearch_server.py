"""The elasticsearch backend under faults: a foreign mapping stops the start; a node that goes away fails files
and searches answer 503, until it is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import start_server, upload
from tests.es import elasticsearch_env, scratch_prefix
from tests.tcp import Link
from vectorhouse.index.elasticsearch import index_name


@pytest.fixture
def prefix(elasticsearch_url: str) -> Iterator[str]:
    with scratch_prefix(elasticsearch_url) as name:
        yield name


def test_foreign_mapping_fails_the_start(elasticsearch_url: str, prefix: str, tmp_path: Path) -> None:
    name = index_name("vs_somebody_else", prefix)
    created = httpx.put(f"{elasticsearch_url}/{name}",
                        json={"mappings": {"properties": {"vector": {"type": "dense_vector", "dims": 3}}}}, timeout=60)
    assert created.status_code == 200, created.text
    with pytest.raises(RuntimeError, match=f"{name} exists with another mapping"):
        start_server(tmp_path / "data", elasticsearch_env(elasticsearch_url, prefix), timeout=60)


def test_node_gone_fails_files_and_searches_503_then_all_recovers(
    elasticsearch_url: str, prefix: str, tmp_path: Path
) -> None:
    link = Link(elasticsearch_url)
    link.up()
    server = start_server(tmp_path / "data", elasticsearch_env(link.url, prefix))
    try:
        client = server.client()
        vs = client.vector_stores.create(name="flaky")
        before = upload(client, "before.txt", "Puffins nest in burrows on cliffs.")
        assert client.vector_stores.files.create_and_poll(file_id=before, vector_store_id=vs.id,
                                                          poll_interval_ms=50).status == "completed"
        link.down()
        started = time.monotonic()
        with pytest.raises(openai.InternalServerError) as caught:
            client.vector_stores.search(vs.id, query="puffins")
        assert caught.value.status_code == 503 and caught.value.code == "service_unavailable"
        assert time.monotonic() - started < 15  # fails fast, never hangs
        ready = httpx.get(server.base_url + "/ready", timeout=30)
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
        checks = ready.json()["checks"]
        assert checks["index:elasticsearch"] != "ok" and checks["catalog"] == "ok" and checks["model"] == "ok"
        during = upload(client, "during.txt", "Gannets dive from great heights.")
        failed = client.vector_stores.files.create_and_poll(file_id=during, vector_store_id=vs.id,
                                                            poll_interval_ms=100)
        assert failed.status == "failed" and failed.last_error is not None
        assert failed.last_error.code == "server_error" and "index" in failed.last_error.message
        link.up()
        assert client.vector_stores.search(vs.id, query="puffins").data  # no restart needed
        assert httpx.get(server.base_url + "/ready", timeout=30).status_code == 200
        retried = client.vector_stores.files.create_and_poll(file_id=during, vector_store_id=vs.id,
                                                             poll_interval_ms=50)
        assert retried.status == "completed" and retried.last_error is None
        hits = client.vector_stores.search(vs.id, query="gannets dive")
        assert hits.data and hits.data[0].file_id == during
    finally:
        server.stop()
        link.down()
