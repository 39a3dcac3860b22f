"""Several serve processes on one PostgreSQL: a shared job queue (SKIP LOCKED), each file done exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import Server, backend_env, start_server, upload
from tests.pg import scratch_database


@pytest.fixture
def database(postgres_url: str) -> Iterator[str]:
    with scratch_database(postgres_url) as url:
        yield url


def _metrics(server: Server) -> dict[str, float]:
    return httpx.get(server.base_url + "/metrics.json").json()["ingest"]


def test_two_processes_share_one_queue(database: str, tmp_path: Path) -> None:
    # One data dir for both: with a PostgreSQL catalog it holds only the shared blobs.
    env = {**backend_env("pgvector", database), "VECTORHOUSE_WORKERS": "1", "VECTORHOUSE_WORKER_BATCH_FILES": "4"}
    first = start_server(tmp_path / "shared", env)
    second = start_server(tmp_path / "shared", env)
    try:
        client = first.client()
        vs = client.vector_stores.create(name="two-workers")
        text = " ".join(f"Sentence {i} about shared queues and leases." for i in range(30))
        ids = [upload(client, f"w{i}.txt", f"Worker file {i}. {text}") for i in range(200)]
        batch = second.client().vector_stores.file_batches.create_and_poll(vs.id, file_ids=ids, poll_interval_ms=100)
        assert batch.status == "completed" and batch.file_counts.completed == 200
        done_first, done_second = _metrics(first)["files_completed"], _metrics(second)["files_completed"]
        assert done_first + done_second == 200  # no file was processed twice...
        assert done_first > 0 and done_second > 0  # ...and both processes took work
        with psycopg.connect(database) as conn:
            rows = conn.execute(
                "SELECT f.file_id, f.chunk_count, count(c.*), count(DISTINCT c.position) "
                "FROM vector_store_files f LEFT JOIN index_chunks c "
                "ON c.store_id = f.store_id AND c.file_id = f.file_id "
                "WHERE f.store_id = %s GROUP BY f.file_id, f.chunk_count",
                (vs.id,),
            ).fetchall()
            assert len(rows) == 200
            for file_id, chunk_count, chunks, positions in rows:
                assert chunk_count > 0 and chunks == chunk_count == positions, file_id
            assert conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0
    finally:
        first.stop()
        second.stop()


def test_dead_workers_jobs_are_taken_over(database: str, tmp_path: Path) -> None:
    env = {**backend_env("pgvector", database), "VECTORHOUSE_WORKERS": "1", "VECTORHOUSE_WORKER_BATCH_FILES": "1",
           "VECTORHOUSE_JOB_LEASE_SECONDS": "2"}
    doomed = start_server(tmp_path / "shared", env)
    try:
        client = doomed.client()
        vs = client.vector_stores.create(name="lease")
        text = " ".join(f"Line {i} on leases that run out when a worker dies." for i in range(150))
        ids = [upload(client, f"l{i}.txt", f"{i} {text}") for i in range(10)]
        client.vector_stores.file_batches.create(vs.id, file_ids=ids)
        deadline = time.monotonic() + 60
        while client.vector_stores.retrieve(vs.id).file_counts.completed < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.vector_stores.retrieve(vs.id).file_counts.in_progress > 0
    finally:
        doomed.kill()  # its claimed job keeps the dead owner until the lease runs out
    survivor = start_server(tmp_path / "shared", env)
    try:
        client = survivor.client()
        for file_id in ids:
            assert client.vector_stores.files.poll(file_id, vector_store_id=vs.id, poll_interval_ms=100).status == (
                "completed"
            )
        with psycopg.connect(database) as conn:
            duplicates = conn.execute(
                "SELECT count(*) FROM (SELECT file_id, position FROM index_chunks WHERE store_id = %s "
                "GROUP BY file_id, position HAVING count(*) > 1) d",
                (vs.id,),
            ).fetchone()[0]
        assert duplicates == 0
    finally:
        survivor.stop()
