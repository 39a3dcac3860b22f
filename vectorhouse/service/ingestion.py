"""Ingestion of claimed jobs: extract → chunk → embed (one batch per model for many files) → index → catalog status."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from vectorhouse.blobs.local import LocalBlobStore
from vectorhouse.catalog import Catalog
from vectorhouse.embed.models import ModelRegistry
from vectorhouse.index.base import Chunk, Index
from vectorhouse.ingest.chunking import ChunkingParams, TextChunk, chunk_text
from vectorhouse.ingest.extract import ExtractionError, extract_text
from vectorhouse.service.events import StatusEvents
from vectorhouse.service.jobs import ClaimedJob
from vectorhouse.service.lifecycle import FileStatus, Lifecycle

log = logging.getLogger("vectorhouse.ingest")


@dataclass
class _Prepared:
    job: ClaimedJob
    seq: int
    attributes: dict[str, Any] | None
    chunks: list[TextChunk]
    model: str  # the store's embedding model


@dataclass
class IngestStats:
    """Cumulative counters since start, read by `vectorhouse bench` through GET /metrics."""

    files_completed: int = 0
    files_failed: int = 0
    chunks: int = 0
    extract_seconds: float = 0.0
    embed_seconds: float = 0.0  # summed over workers: exceeds wall time when they overlap
    # Wall time during which at least one embedding call was running: the embedder's busy time,
    # which total time is compared with to get the pipeline's overhead.
    embed_busy_seconds: float = 0.0
    index_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _embedding: int = field(default=0, repr=False)
    _busy_since: float = field(default=0.0, repr=False)

    def add(self, **deltas: float) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def embedding_started(self) -> None:
        with self._lock:
            if self._embedding == 0:
                self._busy_since = time.perf_counter()
            self._embedding += 1

    def embedding_finished(self) -> None:
        with self._lock:
            self._embedding -= 1
            if self._embedding == 0:
                self.embed_busy_seconds += time.perf_counter() - self._busy_since

    def as_dict(self) -> dict[str, float]:
        with self._lock:
            return {k: v for k, v in vars(self).items() if not k.startswith("_")}


class IngestionService:
    def __init__(self, catalog: Catalog, blobs: LocalBlobStore, index: Index, models: ModelRegistry,
                 lifecycle: Lifecycle, encoding_name: str, events: StatusEvents, windowed: bool = False) -> None:
        self.catalog = catalog
        self.blobs = blobs
        self.index = index
        self.models = models
        self.lifecycle = lifecycle
        self.encoding_name = encoding_name
        self.events = events
        self.windowed = windowed
        self.stats = IngestStats()

    def run_once(self, owner: str, limit: int) -> int:
        """Claim up to `limit` jobs and take each to completed or failed; returns how many were claimed."""
        claimed = self.lifecycle.claim(owner, limit)
        prepared = [p for p in (self._prepare(job) for job in claimed) if p is not None]
        by_model: dict[str, list[_Prepared]] = {}
        for p in prepared:
            by_model.setdefault(p.model, []).append(p)
        for model, group in by_model.items():
            self._embed_and_index(model, group)
        return len(claimed)

    def _prepare(self, job: ClaimedJob) -> _Prepared | None:
        with self.catalog.read() as conn:
            row = self.lifecycle.still_in_progress(conn, job.store_id, job.file_id)
        if row is None:  # detached, deleted or cancelled while queued: nothing to do
            self.lifecycle.drop_job(job)
            return None
        started = time.perf_counter()
        try:
            text = extract_text(self.blobs.read(row.sha256), row.filename)
            params = ChunkingParams(row.max_chunk_size_tokens, row.chunk_overlap_tokens)
            chunks = chunk_text(text, params, self.encoding_name)
            if not chunks:
                raise ExtractionError("invalid_file", "no text could be extracted from the file")
        except ExtractionError as exc:
            self._fail(job, row.seq, exc.code, exc.message)
            return None
        except Exception as exc:  # a bug or I/O fault in one file must not stop the others
            log.exception("ingesting %s into %s failed", job.file_id, job.store_id)
            self._fail(job, row.seq, "server_error", f"processing the file failed: {exc}")
            return None
        finally:
            self.stats.add(extract_seconds=time.perf_counter() - started)
        return _Prepared(job, row.seq, row.attributes, chunks, row.embedding_model or self.models.default)

    def _embed_and_index(self, model: str, prepared: list[_Prepared]) -> None:
        texts = [c.text for p in prepared for c in p.chunks]
        started = time.perf_counter()
        self.stats.embedding_started()
        try:
            embedder = self.models.get(model)
            vectors = (embedder.embed_documents if self.windowed else embedder.embed)(texts)
        except Exception as exc:
            log.exception("embedding %d chunks failed", len(texts))
            for p in prepared:
                self._fail(p.job, p.seq, "server_error", f"embedding failed: {exc}")
            return
        finally:
            self.stats.embedding_finished()
        self.stats.add(embed_seconds=time.perf_counter() - started)
        offset = 0
        for p in prepared:
            rows = vectors[offset : offset + len(p.chunks)]
            offset += len(p.chunks)
            chunks = [Chunk(c.position, c.text, c.token_count, v) for c, v in zip(p.chunks, rows, strict=True)]
            started = time.perf_counter()
            try:
                self.index.upsert(p.job.store_id, p.job.file_id, chunks, p.attributes)
            except Exception as exc:
                log.exception("indexing %s into %s failed", p.job.file_id, p.job.store_id)
                self._fail(p.job, p.seq, "server_error", f"indexing failed: {exc}")
                continue
            # What the store holds for this file: its chunk text and its vectors.
            usage = sum(len(c.text.encode()) + 4 * len(c.vector) for c in chunks)
            self._complete(p.job, p.seq, usage, len(chunks))
            self.stats.add(index_seconds=time.perf_counter() - started, files_completed=1, chunks=len(chunks))

    def _finish(self, job: ClaimedJob, seq: int, status: FileStatus, **values: Any) -> None:
        if self.lifecycle.finish(job, seq, status, **values):
            # Detached or cancelled while we worked: the chunks we just wrote must not linger.
            self.index.delete_file(job.store_id, job.file_id)
        self.events.changed()

    def _complete(self, job: ClaimedJob, seq: int, usage_bytes: int, chunk_count: int) -> None:
        self._finish(job, seq, FileStatus.COMPLETED, usage_bytes=usage_bytes, chunk_count=chunk_count,
                     last_error=None)

    def _fail(self, job: ClaimedJob, seq: int, code: str, message: str) -> None:
        self.stats.add(files_failed=1)
        self._finish(job, seq, FileStatus.FAILED, last_error={"code": code, "message": message[:1000]})
