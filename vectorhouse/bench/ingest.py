"""`vectorhouse bench ingest`: upload a BEIR corpus one file per document and report ingestion throughput."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from openai import OpenAI

from vectorhouse.bench.beir import Dataset, load_dataset, store_name
from vectorhouse.bench.server import bench_server, client_for, read_metrics

POLL_INTERVAL_S = 0.2  # bounds how much the measured total can overshoot the last file's completion
ATTACH_BATCH = 64  # files per file batch: few requests, yet ingestion starts while uploads go on


@dataclass(frozen=True)
class IngestResult:
    store_id: str
    submitted: int  # documents the client tried to upload and attach
    completed: int  # files the store reports completed
    failed: int  # files the store reports failed or cancelled, plus uploads/attaches that errored
    chunks: int
    total_s: float
    extract_s: float
    embed_s: float
    embed_busy_s: float
    index_s: float


class _Progress:
    """One counter line on stderr, rewritten in place."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.tty = sys.stderr.isatty()
        self._last = 0.0

    def show(self, uploaded: int, done: int, failed: int, elapsed: float, final: bool = False) -> None:
        now = time.monotonic()
        # Off a terminal the \r lines would pile up in a log: print rarely there.
        if not final and now - self._last < (0.2 if self.tty else 10.0):
            return
        self._last = now
        line = f"uploaded {uploaded}/{self.total}  done {done}/{self.total}  failed {failed}  {elapsed:.1f}s"
        sys.stderr.write(("\r" + line + "\x1b[K") if self.tty else line + "\n")
        if final and self.tty:
            sys.stderr.write("\n")
        sys.stderr.flush()


def run_ingest(client: OpenAI, base_url: str, dataset: Dataset, limit: int | None = None,
               concurrency: int = 8, attach_batch: int = ATTACH_BATCH,
               embedding_model: str | None = None) -> IngestResult:
    """Create a fresh `bench-<name>` store, upload and attach the first `limit` documents, wait for all of them.

    Files are uploaded in parallel and attached as they arrive, `attach_batch` at a time through
    file batches (each file with its own attributes), the way a bulk loader uses the API;
    `attach_batch=1` attaches each file with its own request instead.
    """
    docs = list(dataset.corpus.items())[: limit if limit is not None else None]
    before = read_metrics(base_url)
    store = client.vector_stores.create(
        name=store_name(dataset, embedding_model),
        extra_body={"embedding_model": embedding_model} if embedding_model else None,
    )
    progress = _Progress(len(docs))
    lock = threading.Lock()
    uploaded = 0
    upload_failures = 0
    errors: list[str] = []
    pending: list[tuple[str, str]] = []  # (file id, doc id) uploaded, not yet attached

    def attach(files: list[tuple[str, str]]) -> None:
        try:
            if len(files) == 1:
                client.vector_stores.files.create(vector_store_id=store.id, file_id=files[0][0],
                                                  attributes={"doc_id": files[0][1]})
            else:
                client.vector_stores.file_batches.create(
                    vector_store_id=store.id,
                    files=[{"file_id": file_id, "attributes": {"doc_id": doc_id}} for file_id, doc_id in files],
                )
        except Exception as exc:  # count them and go on: one bad request must not void the run
            with lock:
                errors.extend(f"{doc_id}: {exc}" for _, doc_id in files)

    def upload(doc_id: str, text: str) -> None:
        nonlocal uploaded, upload_failures
        file_id = None
        try:
            file_id = client.files.create(file=(f"{doc_id}.txt", text.encode("utf-8")), purpose="assistants").id
        except Exception as exc:
            with lock:
                errors.append(f"{doc_id}: {exc}")
        with lock:
            if file_id is None:
                upload_failures += 1
            else:
                uploaded += 1
                pending.append((file_id, doc_id))
            # The last upload to finish attaches whatever is left.
            last = uploaded + upload_failures == len(docs)
            ready = pending[:] if pending and (len(pending) >= attach_batch or last) else []
            if ready:
                pending.clear()
        if ready:
            attach(ready)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="bench-upload") as pool:
        futures: list[Future[None]] = [pool.submit(upload, doc_id, text) for doc_id, text in docs]
        while True:
            # Poll while uploading too, for progress; finished only once every attach was sent.
            counts = client.vector_stores.retrieve(store.id).file_counts
            all_sent = all(f.done() for f in futures)
            elapsed = time.perf_counter() - started
            finished = all_sent and counts.in_progress == 0
            progress.show(uploaded, counts.completed, counts.failed + counts.cancelled + len(errors), elapsed,
                          final=finished)
            if finished:
                break
            time.sleep(POLL_INTERVAL_S)
    total_s = time.perf_counter() - started
    after = read_metrics(base_url)
    for message in errors[:5]:
        print(f"upload error {message}", file=sys.stderr)

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    return IngestResult(
        store_id=store.id,
        submitted=len(docs),
        completed=counts.completed,
        failed=counts.failed + counts.cancelled + len(errors),
        chunks=int(delta("chunks")),
        total_s=total_s,
        extract_s=delta("extract_seconds"),
        embed_s=delta("embed_seconds"),
        embed_busy_s=delta("embed_busy_seconds"),
        index_s=delta("index_seconds"),
    )


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


def report_lines(dataset: Dataset, result: IngestResult) -> list[str]:
    """Plain `name  value` lines, easy to paste into a note."""
    overhead = (_ratio(result.total_s, result.embed_busy_s) - 1) * 100
    lines = [
        f"dataset              {dataset.name} ({result.submitted} of {len(dataset.corpus)} documents)",
        f"store                {result.store_id}",
        f"documents            {result.completed}",
        f"failed               {result.failed}",
        f"chunks               {result.chunks}",
        f"total seconds        {result.total_s:.2f}",
        f"documents/s          {_ratio(result.completed, result.total_s):.1f}",
        f"chunks/s             {_ratio(result.chunks, result.total_s):.1f}",
        # Wall time with at least one embedding call running (workers overlap, so not their sum).
        f"embed seconds        {result.embed_busy_s:.2f} "
        f"({_ratio(result.embed_busy_s, result.total_s) * 100:.1f}% of total)",
        f"embed thread seconds {result.embed_s:.2f} (summed over worker threads)",
        f"extract seconds      {result.extract_s:.2f}",
        f"index seconds        {result.index_s:.2f}",
        f"pipeline overhead    {overhead:.1f}% (total / embed seconds - 1)",
    ]
    return lines


def ingest_command(args: argparse.Namespace) -> int:
    dataset = load_dataset(args.dataset)
    with bench_server(args.url, args.data_dir) as base_url:
        result = run_ingest(client_for(base_url), base_url, dataset, args.limit, args.concurrency,
                            args.attach_batch, args.embedding_model)
    print("\n".join(report_lines(dataset, result)))
    return 0 if result.failed == 0 else 1


def add_ingest_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("ingest", help="upload a BEIR corpus one file per document; report throughput")
    parser.add_argument("dataset", metavar="DATASET_DIR", help="BEIR folder (corpus.jsonl[.gz], queries, qrels)")
    parser.add_argument("--url", help="use this running server (http://host:port) instead of starting one")
    parser.add_argument("--data-dir", help="data dir for the started server, kept afterwards (default: temporary)")
    parser.add_argument("--limit", type=int, help="only the first N documents")
    parser.add_argument("--concurrency", type=int, default=8, help="parallel uploads (default 8)")
    parser.add_argument("--attach-batch", type=int, default=ATTACH_BATCH,
                        help=f"files per file batch; 1 attaches each file alone (default {ATTACH_BATCH})")
    parser.add_argument("--embedding-model", help="the store's embedding model (default: the server's)")
    parser.set_defaults(handler=ingest_command)
