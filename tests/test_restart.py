"""Nothing accepted is lost: kill -9 during ingestion of 50 files, restart, every file ends finished."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import start_server, upload


def test_kill_during_ingestion_then_restart_finishes_everything(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # One worker taking one file at a time keeps most jobs queued when the kill lands.
    env = {"VECTORHOUSE_WORKERS": "1", "VECTORHOUSE_WORKER_BATCH_FILES": "1"}
    first = start_server(data_dir, env)
    try:
        client = first.client()
        vs = client.vector_stores.create(name="crash")
        text = " ".join(f"Sentence {i} about resilient ingestion after crashes." for i in range(200))
        ids = [upload(client, f"f{i}.txt", f"File {i}. {text}") for i in range(49)]
        ids.append(upload(client, "broken.pdf", b"%PDF-1.7 not really"))
        for file_id in ids:
            client.vector_stores.files.create(vector_store_id=vs.id, file_id=file_id)
        deadline = time.monotonic() + 60
        while client.vector_stores.retrieve(vs.id).file_counts.completed < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        counts = client.vector_stores.retrieve(vs.id).file_counts
        assert counts.in_progress > 0, "the kill must land while files are still in progress"
    finally:
        first.kill()

    second = start_server(data_dir, env)
    try:
        client = second.client()
        statuses = {}
        for file_id in ids:
            done = client.vector_stores.files.poll(file_id, vector_store_id=vs.id, poll_interval_ms=50)
            statuses[file_id] = done.status
        assert len(statuses) == 50
        assert statuses[ids[-1]] == "failed"
        assert all(statuses[i] == "completed" for i in ids[:-1])
        vs_after = client.vector_stores.retrieve(vs.id)
        assert vs_after.file_counts.in_progress == 0 and vs_after.file_counts.total == 50
        # Each file's chunks are there exactly once (a re-run job replaced, not duplicated, them).
        for file_id in ids[:3]:
            parts = list(client.vector_stores.files.content(file_id, vector_store_id=vs.id))
            positions_text = [p.text for p in parts]
            assert len(positions_text) == len(set(positions_text))
        hits = client.vector_stores.search(vs.id, query="File 7 resilient ingestion", max_num_results=50)
        assert hits.data
    finally:
        second.stop()
