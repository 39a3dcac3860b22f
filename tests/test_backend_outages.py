"""PostgreSQL restarted under load: requests fail fast with 503 in OpenAI's envelope while it is gone, never
another 5xx, never a hang, and everything works again when it returns, without restarting vectorhouse.
(Elasticsearch going away: tests/test_elasticsearch_server.py.)"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import start_server, upload
from tests.pg import embedded_server, start_embedded, stop_embedded

FAST_S = 8.0  # a request while a backend is down answers within this (connect and pool waits are 5 s)


class Traffic:
    """Background clients searching and listing in a loop; every answer's status and time is kept."""

    def __init__(self, base_url: str, store_id: str, clients: int = 4) -> None:
        self.base_url = base_url
        self.store_id = store_id
        self.seen: list[tuple[float, int | str, float]] = []  # (when, status or error, seconds)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(clients)]

    def _run(self, n: int) -> None:
        with httpx.Client(base_url=self.base_url + "/v1", headers={"Authorization": "Bearer t"}, timeout=30) as http:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    if n % 2:
                        status: int | str = http.post(f"/vector_stores/{self.store_id}/search",
                                                      json={"query": "otters"}).status_code
                    else:
                        status = http.get("/vector_stores").status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                self.seen.append((started, status, time.monotonic() - started))
                time.sleep(0.05)

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)


def test_postgresql_restarted_under_load(tmp_path: Path) -> None:
    with embedded_server() as url:
        server = start_server(tmp_path / "data", {"VECTORHOUSE_DATABASE_URL": url, "VECTORHOUSE_INDEX": "pgvector"})
        try:
            client = server.client()
            store = client.vector_stores.create(name="pg")
            file_id = upload(client, "otters.txt", "Sea otters hold hands while they sleep.")
            client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=file_id,
                                                       poll_interval_ms=100)
            with Traffic(server.base_url, store.id) as traffic:
                time.sleep(1.5)
                stop_embedded(url)
                stopped_at = time.monotonic()  # pg_ctl -w returned: the server is gone
                time.sleep(6)
                # Attaching while the catalog is gone is refused, so nothing is half accepted.
                with pytest.raises(openai.InternalServerError) as refused:
                    client.files.create(file=("late.txt", b"written while down"), purpose="assistants")
                assert refused.value.status_code == 503
                ready = httpx.get(server.base_url + "/ready", timeout=30)
                assert ready.status_code == 503 and ready.json()["checks"]["catalog"] != "ok"
                starting_at = time.monotonic()
                start_embedded(url)
                restarted_at = time.monotonic()
                time.sleep(4)
            statuses = Counter(status for _, status, _ in traffic.seen)
            during = [(s, d) for t, s, d in traffic.seen if stopped_at < t and t + d < starting_at]
            after = [s for t, s, _ in traffic.seen if t > restarted_at + 2]
            assert during and {s for s, _ in during} == {503}, statuses
            assert max(d for _, d in during) < FAST_S, max(d for _, d in during)
            assert set(statuses) <= {200, 503}, statuses  # no 500, no dropped connection
            assert after and set(after) == {200}, statuses
            # Ingestion recovered too: a file attached now completes and is found.
            again = upload(client, "after.txt", "Kingfishers dive into rivers for fish.")
            done = client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=again,
                                                              poll_interval_ms=100)
            assert done.status == "completed"
            assert client.vector_stores.search(store.id, query="kingfishers").data[0].file_id == again
            assert httpx.get(server.base_url + "/ready", timeout=30).status_code == 200
        finally:
            server.stop()
