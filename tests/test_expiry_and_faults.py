"""Expiry with a moved clock, and a genuine index fault: a real uvicorn server in this process."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
import uvicorn
from openai import OpenAI

from tests.conftest import free_port, upload
from vectorhouse import compat
from vectorhouse.api import create_app
from vectorhouse.config import Settings

DAY = 86400


class ManualClock:
    """The injectable clock, moved by the test instead of sleeping."""

    def __init__(self) -> None:
        self.value = int(time.time())

    def now(self) -> int:
        return self.value

    def advance(self, seconds: int) -> None:
        self.value += seconds


@dataclass
class InProcessServer:
    client: OpenAI
    http: httpx.Client
    clock: ManualClock
    data_dir: Path


@pytest.fixture(scope="module")
def clocked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    data_dir = tmp_path_factory.mktemp("clocked") / "data"
    port = free_port()
    clock = ManualClock()
    settings = Settings(port=port, data_dir=data_dir, sweep_interval_seconds=0.05, poll_after_ms=50)
    app = create_app(settings, clock=clock, extensions=compat.extensions())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=60) as http:
        yield InProcessServer(OpenAI(base_url=base + "/v1", api_key="local", max_retries=0), http, clock, data_dir)
    server.should_exit = True
    thread.join(30)


def _wait_for(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_expiry_moves_with_activity_then_expires(clocked: InProcessServer) -> None:
    client, clock = clocked.client, clocked.clock
    file_id = upload(client, "exp.txt", "Hedgehogs hibernate through the winter.")
    vs = client.vector_stores.create(name="exp", expires_after={"anchor": "last_active_at", "days": 2})
    client.vector_stores.files.create_and_poll(file_id=file_id, vector_store_id=vs.id, poll_interval_ms=50)
    first = client.vector_stores.retrieve(vs.id)
    assert first.expires_at == first.last_active_at + 2 * DAY  # type: ignore[operator]

    clock.advance(DAY)  # activity moves the deadline
    client.vector_stores.search(vs.id, query="hedgehog")
    moved = client.vector_stores.retrieve(vs.id)
    assert moved.last_active_at == clock.now() and moved.expires_at == clock.now() + 2 * DAY
    assert moved.status == "completed" and moved.usage_bytes > 0

    clock.advance(2 * DAY + 1)
    assert _wait_for(lambda: client.vector_stores.retrieve(vs.id).usage_bytes == 0)
    expired = client.vector_stores.retrieve(vs.id)
    assert expired.status == "expired"
    with pytest.raises(openai.APIStatusError) as info:
        client.vector_stores.search(vs.id, query="hedgehog")
    assert info.value.status_code == 410 and info.value.code == "vector_store_expired"
    other = upload(client, "late.txt", "too late")
    with pytest.raises(openai.APIStatusError) as info:
        client.vector_stores.files.create(vector_store_id=vs.id, file_id=other)
    assert info.value.status_code == 410
    enhanced = clocked.http.post(f"/api/vector-stores/{vs.id}/search", json={"query": "hedgehog"})
    assert enhanced.status_code == 410 and enhanced.json()["error_code"] == "vector_store_expired"
    # The chunks are gone from the index, not just hidden.
    with sqlite3.connect(clocked.data_dir / "index.db") as db:
        assert db.execute("SELECT count(*) FROM chunks WHERE store_id = ?", (vs.id,)).fetchone()[0] == 0
    # Still retrievable and deletable.
    assert client.vector_stores.delete(vs.id).deleted


def test_detaching_a_file_is_activity(clocked: InProcessServer) -> None:
    client, clock = clocked.client, clocked.clock
    vs = client.vector_stores.create(name="detach", expires_after={"anchor": "last_active_at", "days": 2})
    file_id = upload(client, "d.txt", "Terns migrate from pole to pole.")
    client.vector_stores.files.create_and_poll(vector_store_id=vs.id, file_id=file_id, poll_interval_ms=50)
    clock.advance(DAY)
    client.vector_stores.files.delete(file_id=file_id, vector_store_id=vs.id)
    assert client.vector_stores.retrieve(vs.id).last_active_at == clock.now()


def test_files_expire_and_leave_every_store(clocked: InProcessServer) -> None:
    client, clock = clocked.client, clocked.clock
    vs = client.vector_stores.create(name="file-expiry")
    short = client.files.create(file=("short.txt", b"Albatrosses glide for hours without flapping."),
                                purpose="assistants", expires_after={"anchor": "created_at", "seconds": 3600})
    assert short.expires_at == short.created_at + 3600
    kept = upload(client, "kept.txt", "Albatross chicks wait months for their first flight.")
    for file_id in (short.id, kept):
        client.vector_stores.files.create_and_poll(vector_store_id=vs.id, file_id=file_id, poll_interval_ms=50)
    batch_input = client.files.create(file=("input.jsonl", b'{"custom_id": "1"}\n'), purpose="batch")
    assert batch_input.expires_at == batch_input.created_at + 30 * DAY  # OpenAI's default for batch files

    clock.advance(3601)
    assert _wait_for(lambda: short.id not in [f.id for f in client.files.list()])
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(short.id)
    assert [f.id for f in client.vector_stores.files.list(vector_store_id=vs.id)] == [kept]
    hits = client.vector_stores.search(vs.id, query="albatross", extra_body={"search_mode": "full_text"})
    assert {h.file_id for h in hits.data} == {kept}
    assert client.files.retrieve(batch_input.id).id == batch_input.id  # not due yet
    clock.advance(30 * DAY)
    assert _wait_for(lambda: batch_input.id not in [f.id for f in client.files.list()])


def test_store_without_policy_never_expires(clocked: InProcessServer) -> None:
    vs = clocked.client.vector_stores.create(name="forever")
    clocked.clock.advance(400 * DAY)
    time.sleep(0.2)
    assert clocked.client.vector_stores.retrieve(vs.id).status == "completed"


def test_poll_route_returns_expired_store(clocked: InProcessServer) -> None:
    vs = clocked.client.vector_stores.create(name="poll-exp", expires_after={"anchor": "last_active_at", "days": 1})
    clocked.clock.advance(DAY + 1)
    response = clocked.http.post(f"/api/vector-stores/{vs.id}/poll", json={"max_wait_ms": 5000})
    assert response.status_code == 200 and response.json()["status"] == "expired"


def test_genuine_index_fault_is_500_search_failed(clocked: InProcessServer) -> None:
    client = clocked.client
    vs = client.vector_stores.create(name="fault")
    client.vector_stores.files.create_and_poll(file_id=upload(client, "f.txt", "Lynx live in forests."),
                                               vector_store_id=vs.id, poll_interval_ms=50)
    with sqlite3.connect(clocked.data_dir / "index.db") as db:
        # Every search path reads the chunk rows (the keyword postings in memory would outlive a broken FTS table).
        db.execute("ALTER TABLE chunks RENAME TO chunks_broken")
    try:
        response = clocked.http.post(f"/v1/vector_stores/{vs.id}/search", json={"query": "lynx"},
                                     headers={"x-request-id": "req_fault_test"})
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "search_failed"
        assert response.headers["x-request-id"] == "req_fault_test"
        enhanced = clocked.http.post(f"/api/vector-stores/{vs.id}/search", json={"query": "lynx"})
        assert enhanced.status_code == 500 and enhanced.json()["error_code"] == "search_failed"
        assert enhanced.json()["hint"]
    finally:
        with sqlite3.connect(clocked.data_dir / "index.db") as db:
            db.execute("ALTER TABLE chunks_broken RENAME TO chunks")
    assert client.vector_stores.search(vs.id, query="lynx").data


def test_search_skips_files_not_completed_past_the_first_lookup_page(clocked: InProcessServer) -> None:
    # Chunks of a file whose store-file row is not `completed` (a re-ingest under way) are no answer.
    # File rows are looked up a page (2 x max_num_results) at a time, best first: the answer here lies
    # on the second page.
    client = clocked.client
    vs = client.vector_stores.create(name="pages")
    texts = ["Otters hold hands while they sleep on the water.", "Sea otters use stones to open shellfish.",
             "Otters groom their dense fur for hours.", "River otters slide down muddy banks.",
             "Badgers dig long tunnels under hedges."]
    file_ids = [upload(client, f"p{i}.txt", text) for i, text in enumerate(texts)]
    client.vector_stores.file_batches.create_and_poll(vector_store_id=vs.id, file_ids=file_ids,
                                                      poll_interval_ms=50)
    ranking = [r.file_id for r in client.vector_stores.search(vs.id, query="otters", max_num_results=5).data]
    assert len(ranking) == 5
    hidden = ranking[:3]
    with sqlite3.connect(clocked.data_dir / "catalog.db") as db:
        db.executemany("UPDATE vector_store_files SET status = 'in_progress' WHERE store_id = ? AND file_id = ?",
                       [(vs.id, f) for f in hidden])
    try:
        page = client.vector_stores.search(vs.id, query="otters", max_num_results=1)
        assert [r.file_id for r in page.data] == [ranking[3]]
        assert [r.file_id for r in client.vector_stores.search(vs.id, query="otters", max_num_results=2).data] \
            == ranking[3:5]
    finally:
        with sqlite3.connect(clocked.data_dir / "catalog.db") as db:
            db.executemany("UPDATE vector_store_files SET status = 'completed' WHERE store_id = ? AND file_id = ?",
                           [(vs.id, f) for f in hidden])
