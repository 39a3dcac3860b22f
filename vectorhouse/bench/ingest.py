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
               concurrency: int = 8) -> IngestResult:
    """Create a fresh `bench-<name>` store, upload and attach the first `limit` documents, wait for all of them."""
    docs = list(dataset.corpus.items())[: limit if limit is not None else None]
    before = read_metrics(base_url)
    store = client.vector_stores.create(name=store_name(dataset))
    progress = _Progress(len(docs))
    lock = threading.Lock()
    uploaded = 0
    errors: list[str] = []

    def upload(doc_id: str, text: str) -> None:
        nonlocal uploaded
        try:
            file = client.files.create(file=(f"{doc_id}.txt", text.encode("utf-8")), purpose="assistants")
            client.vector_stores.files.create(vector_store_id=store.id, file_id=file.id,
                                              attributes={"doc_id": doc_id})
        except Exception as exc:  # count it and go on: one bad request must not void the run
            with lock:
                errors.append(f"{doc_id}: {exc}")
            return
        with lock:
            uploaded += 1

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
        index_s=delta("index_seconds"),
    )


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


def report_lines(dataset: Dataset, result: IngestResult) -> list[str]:
    """Plain `name  value` lines, easy to paste into a note."""
    overhead = (_ratio(result.total_s, result.embed_s) - 1) * 100
    lines = [
        f"dataset              {dataset.name} ({result.submitted} of {len(dataset.corpus)} documents)",
        f"store                {result.store_id}",
        f"documents            {result.completed}",
        f"failed               {result.failed}",
        f"chunks               {result.chunks}",
        f"total seconds        {result.total_s:.2f}",
        f"documents/s          {_ratio(result.completed, result.total_s):.1f}",
        f"chunks/s             {_ratio(result.chunks, result.total_s):.1f}",
        # Summed over the server's worker threads, so with several workers it can exceed wall time.
        f"embed seconds        {result.embed_s:.2f} ({_ratio(result.embed_s, result.total_s) * 100:.1f}% of total)",
        f"extract seconds      {result.extract_s:.2f}",
        f"index seconds        {result.index_s:.2f}",
        f"pipeline overhead    {overhead:.1f}% (total/embed - 1)",
    ]
    if result.embed_s > result.total_s:
        lines.append("note: embed seconds are summed over the server's worker threads, which overlapped; "
                     "run the server with VECTORHOUSE_WORKERS=1 for a serial overhead figure")
    return lines


def ingest_command(args: argparse.Namespace) -> int:
    dataset = load_dataset(args.dataset)
    with bench_server(args.url, args.data_dir) as base_url:
        result = run_ingest(client_for(base_url), base_url, dataset, args.limit, args.concurrency)
    print("\n".join(report_lines(dataset, result)))
    return 0 if result.failed == 0 else 1


def add_ingest_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("ingest", help="upload a BEIR corpus one file per document; report throughput")
    parser.add_argument("dataset", metavar="DATASET_DIR", help="BEIR folder (corpus.jsonl[.gz], queries, qrels)")
    parser.add_argument("--url", help="use this running server (http://host:port) instead of starting one")
    parser.add_argument("--data-dir", help="data dir for the started server, kept afterwards (default: temporary)")
    parser.add_argument("--limit", type=int, help="only the first N documents")
    parser.add_argument("--concurrency", type=int, default=8, help="parallel uploads (default 8)")
    parser.set_defaults(handler=ingest_command)
