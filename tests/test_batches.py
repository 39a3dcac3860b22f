"""File batches through the SDK: both request shapes, helpers, 500 files, cancel, listing, limits."""

from __future__ import annotations

import time

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.conftest import Server, start_server, upload


def test_file_ids_pattern_with_shared_attributes(client: OpenAI) -> None:
    vs = client.vector_stores.create(name="batch-ids")
    ids = [upload(client, f"b{i}.txt", f"Batch document {i} about lighthouses.") for i in range(5)]
    raw = client.vector_stores.file_batches.with_raw_response.create(
        vs.id, file_ids=ids, attributes={"source": "batch"},
        chunking_strategy={"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 50}},
    )
    batch = raw.parse()
    assert batch.id.startswith("vsfb_") and batch.object == "vector_store.files_batch"
    assert batch.vector_store_id == vs.id and batch.file_counts.total == 5
    if batch.status == "in_progress":
        assert raw.headers["openai-poll-after-ms"].isdigit()
    done = client.vector_stores.file_batches.poll(batch.id, vector_store_id=vs.id, poll_interval_ms=50)
    assert done.status == "completed" and done.file_counts.completed == 5 and done.file_counts.in_progress == 0
    files = client.vector_stores.file_batches.list_files(batch.id, vector_store_id=vs.id).data
    assert sorted(f.id for f in files) == sorted(ids)
    assert all(f.attributes == {"source": "batch"} for f in files)
    assert all(f.chunking_strategy.static.max_chunk_size_tokens == 200 for f in files)  # type: ignore[union-attr]


def test_files_pattern_with_per_file_settings_and_one_failure(client: OpenAI) -> None:
    vs = client.vector_stores.create(name="batch-files")
    good = upload(client, "good.txt", "Owls hunt at night and have silent flight.")
    bad = upload(client, "bad.txt", b"")
    batch = client.vector_stores.file_batches.create_and_poll(
        vs.id,
        files=[
            {"file_id": good, "attributes": {"kind": "bird"},
             "chunking_strategy": {"type": "static", "static": {"max_chunk_size_tokens": 300,
                                                                "chunk_overlap_tokens": 0}}},
            {"file_id": bad, "attributes": {"kind": "empty"}},
        ],
        poll_interval_ms=50,
    )
    assert batch.status == "completed"  # one failing file never fails the batch
    assert batch.file_counts.completed == 1 and batch.file_counts.failed == 1
    good_file = client.vector_stores.files.retrieve(good, vector_store_id=vs.id)
    assert good_file.attributes == {"kind": "bird"}
    assert good_file.chunking_strategy.static.max_chunk_size_tokens == 300  # type: ignore[union-attr]
    bad_file = client.vector_stores.files.retrieve(bad, vector_store_id=vs.id)
    assert bad_file.status == "failed" and bad_file.chunking_strategy.static.max_chunk_size_tokens == 800  # type: ignore[union-attr]
    failed = client.vector_stores.file_batches.list_files(batch.id, vector_store_id=vs.id, filter="failed").data
    assert [f.id for f in failed] == [bad]


def test_upload_and_poll_helper(client: OpenAI) -> None:
    vs = client.vector_stores.create(name="batch-upload")
    existing = upload(client, "existing.txt", "Existing file about volcanoes.")
    batch = client.vector_stores.file_batches.upload_and_poll(
        vs.id, files=[(f"u{i}.txt", f"Uploaded file {i} about glaciers.".encode()) for i in range(6)],
        file_ids=[existing], max_concurrency=3, poll_interval_ms=50,
    )
    assert batch.status == "completed" and batch.file_counts.completed == 7
    hits = client.vector_stores.search(vs.id, query="glaciers", max_num_results=50)
    assert len({h.file_id for h in hits.data}) >= 6


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({}, "file_ids", None),
        ({"file_ids": ["file-a"], "files": [{"file_id": "file-a"}]}, "file_ids", None),
        ({"file_ids": []}, "file_ids", None),
        ({"file_ids": [f"file-x{i}" for i in range(2001)]}, "file_ids", "batch_too_large"),
        ({"files": [{"file_id": f"file-x{i}"} for i in range(2001)]}, "files", "batch_too_large"),
        ({"files": [{"file_id": "file-a", "bogus": 1}]}, "files[0].bogus", None),
    ],
)
def test_batch_validation(http: httpx.Client, client: OpenAI, body: dict, param: str, code: str | None) -> None:
    vs = client.vector_stores.create(name="batch-bad")
    response = http.post(f"/vector_stores/{vs.id}/file_batches", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param
    if code:
        assert error["code"] == code
    assert client.vector_stores.files.list(vs.id).data == []


def test_batch_with_unknown_file_attaches_nothing(client: OpenAI) -> None:
    vs = client.vector_stores.create(name="batch-partial")
    good = upload(client, "g.txt", "good")
    with pytest.raises(openai.NotFoundError) as info:
        client.vector_stores.file_batches.create(vs.id, file_ids=[good, "file-nothere"])
    assert info.value.param == "file_ids[1]"
    assert client.vector_stores.files.list(vs.id).data == []


def test_unknown_batch_is_404(client: OpenAI) -> None:
    vs = client.vector_stores.create(name="batch-404")
    with pytest.raises(openai.NotFoundError) as info:
        client.vector_stores.file_batches.retrieve("vsfb_nothere", vector_store_id=vs.id)
    assert info.value.code == "batch_not_found"
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.file_batches.create("vs_nothere", file_ids=["file-a"])


def test_cancel_mid_batch_then_cancel_again(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # One worker taking one file at a time, so most of the batch is still queued when we cancel.
    srv: Server = start_server(tmp_path / "cancel", {"VECTORHOUSE_WORKERS": "1",
                                                     "VECTORHOUSE_WORKER_BATCH_FILES": "1"})
    try:
        client = srv.client()
        vs = client.vector_stores.create(name="cancel")
        text = " ".join(f"Line {i} of a long file about harbours and ships." for i in range(300))
        ids = [upload(client, f"c{i}.txt", f"{i} {text}") for i in range(30)]
        batch = client.vector_stores.file_batches.create(vs.id, file_ids=ids)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            counts = client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=vs.id).file_counts
            if counts.completed >= 1:
                break
            time.sleep(0.02)
        cancelled = client.vector_stores.file_batches.cancel(batch.id, vector_store_id=vs.id)
        assert cancelled.status == "cancelled"
        assert cancelled.file_counts.in_progress == 0
        assert cancelled.file_counts.cancelled > 0 and cancelled.file_counts.completed >= 1
        assert cancelled.file_counts.total == 30
        # Polling a cancelled batch returns at once (it keys on in_progress reaching 0).
        polled = client.vector_stores.file_batches.poll(batch.id, vector_store_id=vs.id, poll_interval_ms=50)
        assert polled.status == "cancelled"
        time.sleep(1.0)  # let the file being worked on when we cancelled finish its job
        files = {f.id: f.status for f in client.vector_stores.files.list(vs.id, limit=100)}
        assert set(files.values()) <= {"completed", "cancelled"}
        finished = client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=vs.id).file_counts
        assert finished.completed + finished.cancelled == 30
        hits = client.vector_stores.search(vs.id, query="harbours and ships", max_num_results=50)
        completed = {f for f, s in files.items() if s == "completed"}
        assert {h.file_id for h in hits.data} <= completed
        with pytest.raises(openai.BadRequestError) as info:
            client.vector_stores.file_batches.cancel(batch.id, vector_store_id=vs.id)
        assert "cancelled" in info.value.message
    finally:
        srv.stop()


def test_cancel_finished_batch_is_400(client: OpenAI) -> None:
    vs = client.vector_stores.create(name="cancel-done")
    batch = client.vector_stores.file_batches.create_and_poll(
        vs.id, file_ids=[upload(client, "f.txt", "finished")], poll_interval_ms=50
    )
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.file_batches.cancel(batch.id, vector_store_id=vs.id)
    assert info.value.param == "batch_id" and "completed" in info.value.message


def test_batch_of_500_small_files_completes(client: OpenAI) -> None:
    vs = client.vector_stores.create(name="batch-500")
    ids = [client.files.create(file=(f"s{i}.txt", f"Small file {i}: fact number {i}.".encode()),
                               purpose="assistants").id for i in range(500)]
    started = time.perf_counter()
    batch = client.vector_stores.file_batches.create_and_poll(vs.id, file_ids=ids, poll_interval_ms=100)
    elapsed = time.perf_counter() - started
    assert batch.status == "completed" and batch.file_counts.completed == 500
    listed = [f.id for f in client.vector_stores.file_batches.list_files(batch.id, vector_store_id=vs.id,
                                                                        limit=100)]
    assert sorted(listed) == sorted(ids)
    print(f"500-file batch: {elapsed:.1f} s")


async def test_async_batch(aclient: AsyncOpenAI) -> None:
    vs = await aclient.vector_stores.create(name="async-batch")
    f = await aclient.files.create(file=("x.txt", b"Async batches of herons."), purpose="assistants")
    batch = await aclient.vector_stores.file_batches.create_and_poll(vs.id, file_ids=[f.id], poll_interval_ms=50)
    assert batch.status == "completed"
