"""Ingestion of claimed jobs: sandboxed extract → size/token/time limits → chunk → embed → index → catalog status."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tiktoken

from vectorhouse.blobs.local import LocalBlobStore
from vectorhouse.catalog import Catalog
from vectorhouse.config import Settings
from vectorhouse.embed.models import ModelRegistry
from vectorhouse.index.base import Chunk, FileWrite, Index
from vectorhouse.ingest.chunking import ChunkingParams, TextChunk, chunk_text
from vectorhouse.ingest.extract import (
    DEFAULT_LIMITS,
    INVALID_FILE,
    ExtractionError,
    ExtractLimits,
    extract_document,
    utf8_size,
)
from vectorhouse.ingest.provenance import Locator
from vectorhouse.ingest.sandbox import ExtractionTimeout, ExtractSandbox, SandboxClosed
from vectorhouse.ingest.tokenizer import get_encoding
from vectorhouse.service.events import StatusEvents
from vectorhouse.service.jobs import ClaimedJob
from vectorhouse.service.lifecycle import FileStatus, Lifecycle, Outcome

log = logging.getLogger("vectorhouse.ingest")
_DEFAULTS = Settings()

# Chunks per embedding call. Small files are packed together up to this (a SciFact claim of 128 files is
# one call, which is what makes it fast); a larger file is embedded alone in calls of this size, its time
# budget checked between them.
EMBED_CALL_CHUNKS = 1024
# A text of more than this many UTF-8 bytes per allowed token is refused without tokenizing it:
# real text averages about 4 bytes per token.
_BYTES_PER_TOKEN_CAP = 32
# Tokens are counted a slice at a time, so counting a huge text holds no huge token list.
_COUNT_SLICE_CHARS = 1 << 20


@dataclass
class _Prepared:
    job: ClaimedJob
    seq: int
    attributes: dict[str, Any] | None
    chunks: list[TextChunk]
    model: str  # the store's embedding model
    spent: float  # seconds of worker time on this file so far, against the time budget
    # Per chunk: offsets in the extracted text, and page/slide/sheet/headings (ingest/provenance.py).
    provenance: list[dict[str, Any]] = field(default_factory=list)


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
                 lifecycle: Lifecycle, encoding_name: str, events: StatusEvents, windowed: bool = False,
                 limits: ExtractLimits = DEFAULT_LIMITS, max_file_tokens: int = _DEFAULTS.max_file_tokens,
                 time_budget_seconds: float = _DEFAULTS.file_time_budget_seconds) -> None:
        self.catalog = catalog
        self.blobs = blobs
        self.index = index
        self.models = models
        self.lifecycle = lifecycle
        self.encoding_name = encoding_name
        self.events = events
        self.windowed = windowed
        self.limits = limits
        self.max_file_tokens = max_file_tokens
        # A file's budget counts the worker time spent on it (its extraction, and the embedding calls its
        # chunks are in), so the files claimed with it do not use it up.
        self.time_budget_seconds = time_budget_seconds
        self.stats = IngestStats()
        # One sandbox per worker thread: each parses one file at a time, and none waits for another's.
        self._local = threading.local()
        self._sandboxes: list[ExtractSandbox] = []
        self._sandboxes_lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        """Kill the extraction processes; a file being parsed stays claimed (retried after a restart)."""
        with self._sandboxes_lock:
            self._closed = True
            sandboxes, self._sandboxes = self._sandboxes, []
        for sandbox in sandboxes:
            sandbox.close()

    def run_once(self, owner: str, limit: int) -> int:
        """Claim up to `limit` jobs and take each to completed or failed; returns how many were claimed."""
        claimed = self.lifecycle.claim(owner, limit)
        prepared = []
        for job in claimed:
            if self._closed:  # stopping: the rest stay claimed, as after a crash
                break
            p = self._prepare(job)
            if p is not None:
                prepared.append(p)
        by_model: dict[str, list[_Prepared]] = {}
        for p in prepared:
            by_model.setdefault(p.model, []).append(p)
        for model, group in by_model.items():
            for call in _embedding_calls(group):
                self._embed_and_index(model, call)
        return len(claimed)

    def _sandbox(self) -> ExtractSandbox:
        sandbox: ExtractSandbox | None = getattr(self._local, "sandbox", None)
        if sandbox is None:
            with self._sandboxes_lock:
                if self._closed:
                    raise SandboxClosed()
                sandbox = ExtractSandbox(self.limits)
                self._sandboxes.append(sandbox)
            self._local.sandbox = sandbox
        return sandbox

    def _prepare(self, job: ClaimedJob) -> _Prepared | None:
        with self.catalog.read() as conn:
            row = self.lifecycle.still_in_progress(conn, job.store_id, job.file_id)
        if row is None:  # detached, deleted or cancelled while queued: nothing to do
            self.lifecycle.drop_job(job)
            return None
        started = time.perf_counter()
        budget = self.time_budget_seconds

        def convert(data: bytes, kind: str) -> str:
            # Created on the first rich file only: plain text never starts a process.
            return self._sandbox().convert(data, kind, budget - (time.perf_counter() - started))

        try:
            text, kind = extract_document(self.blobs.read(row.sha256), row.filename, limits=self.limits,
                                          convert=convert)
            self._check_tokens(text)
            params = ChunkingParams(row.max_chunk_size_tokens, row.chunk_overlap_tokens)
            chunks = chunk_text(text, params, self.encoding_name)
            locator = Locator(text, kind)
            provenance = [locator.span(c.start, c.start + len(c.text)) for c in chunks]
            del text, locator
            if not chunks:
                raise ExtractionError(INVALID_FILE, "no text could be extracted from the file")
            if time.perf_counter() - started > budget:
                raise self._over_budget()
        except SandboxClosed:
            return None  # the service is stopping: the job stays claimed
        except ExtractionError as exc:
            if isinstance(exc, ExtractionTimeout) and time.perf_counter() - started >= budget:
                exc = self._over_budget()  # the parse was cut short by what was left of the budget
            self._fail(job, row.seq, exc.code, exc.message)
            return None
        except Exception as exc:  # a bug or I/O fault in one file must not stop the others
            log.exception("ingesting %s into %s failed", job.file_id, job.store_id)
            self._fail(job, row.seq, "server_error", f"processing the file failed: {exc}")
            return None
        finally:
            self.stats.add(extract_seconds=time.perf_counter() - started)
        return _Prepared(job, row.seq, row.attributes, chunks, row.embedding_model or self.models.default,
                         time.perf_counter() - started, provenance)

    def _check_tokens(self, text: str) -> None:
        """Refuse a text of more than max_file_tokens tokens (OpenAI's cap per attached file)."""
        limit = self.max_file_tokens
        size = utf8_size(text)
        if size <= limit:  # every token is at least one byte: nothing to count
            return
        if size > limit * _BYTES_PER_TOKEN_CAP:
            raise ExtractionError(INVALID_FILE, f"the file has far more than {limit:,} tokens of text ({size:,} "
                                                f"bytes of it); the limit is {limit:,} tokens per file")
        tokens = count_tokens(text, get_encoding(self.encoding_name))
        if tokens > limit:
            raise ExtractionError(INVALID_FILE, f"the file has {tokens:,} tokens of text, more than the limit "
                                                f"of {limit:,} tokens per file")

    def _over_budget(self) -> ExtractionError:
        return ExtractionError(INVALID_FILE, f"processing the file exceeded the time budget of "
                                             f"{self.time_budget_seconds:g} s per file")

    def _embed_and_index(self, model: str, prepared: list[_Prepared]) -> None:
        """Embed the files' chunks, EMBED_CALL_CHUNKS per call, then index each file still within its budget."""
        texts = [c.text for p in prepared for c in p.chunks]
        live = list(prepared)
        parts: list[np.ndarray] = []
        for start in range(0, len(texts), EMBED_CALL_CHUNKS):
            began = time.perf_counter()
            self.stats.embedding_started()
            try:
                embedder = self.models.get(model)
                batch = texts[start : start + EMBED_CALL_CHUNKS]
                parts.append(np.asarray((embedder.embed_documents if self.windowed else embedder.embed)(batch)))
            except Exception as exc:
                log.exception("embedding %d chunks failed", len(texts))
                for p in live:
                    self._fail(p.job, p.seq, "server_error", f"embedding failed: {exc}")
                return
            finally:
                self.stats.embedding_finished()
            elapsed = time.perf_counter() - began
            self.stats.add(embed_seconds=elapsed)
            for p in live:
                p.spent += elapsed
                if p.spent > self.time_budget_seconds:
                    error = self._over_budget()
                    self._fail(p.job, p.seq, error.code, error.message)
            live = [p for p in live if p.spent <= self.time_budget_seconds]
            if not live:  # a large file past its budget: its remaining calls are skipped
                return
        vectors = np.concatenate(parts)
        indexed = {id(p) for p in live}
        offset = 0
        written: list[tuple[_Prepared, FileWrite]] = []
        started = time.perf_counter()
        for p in prepared:
            rows = vectors[offset : offset + len(p.chunks)]
            offset += len(p.chunks)
            if id(p) in indexed:
                chunks = [Chunk(c.position, c.text, c.token_count, v) for c, v in zip(p.chunks, rows, strict=True)]
                written.append((p, FileWrite(p.job.store_id, p.job.file_id, chunks, p.attributes)))
        # The call's files are written together (on Elasticsearch: one bulk request, one refresh).
        try:
            errors = self.index.upsert_files([write for _, write in written])
        except Exception as exc:  # the contract returns errors per file; anything raised fails them all
            errors = [exc] * len(written)
        outcomes: list[Outcome] = []
        completed = chunk_count = 0
        for (p, write), error in zip(written, errors, strict=True):
            if error is not None:
                log.error("indexing %s into %s failed", p.job.file_id, p.job.store_id, exc_info=error)
                outcomes.append(self._failure(p.job, p.seq, "server_error", f"indexing failed: {error}"))
                continue
            # What the store holds for this file: its chunk text and its vectors.
            usage = sum(len(c.text.encode()) + 4 * len(c.vector) for c in write.chunks)
            outcomes.append(Outcome(p.job, p.seq, FileStatus.COMPLETED, {
                "usage_bytes": usage, "chunk_count": len(write.chunks), "last_error": None,
                "provenance": p.provenance}))
            completed += 1
            chunk_count += len(write.chunks)
        # Counted before the pollers wake, so a client that sees its file completed sees it counted too.
        self.stats.add(files_completed=completed, chunks=chunk_count)
        # The call's files end together: one catalog transaction, one wake-up of the pollers.
        self._finish_all(outcomes)
        self.stats.add(index_seconds=time.perf_counter() - started)

    def _finish_all(self, outcomes: list[Outcome]) -> None:
        if not outcomes:
            return
        for outcome, dropped in zip(outcomes, self.lifecycle.finish_all(outcomes), strict=True):
            if dropped:
                # Detached or cancelled while we worked: the chunks we just wrote must not linger.
                self.index.delete_file(outcome.job.store_id, outcome.job.file_id)
        self.events.changed()

    def _failure(self, job: ClaimedJob, seq: int, code: str, message: str) -> Outcome:
        self.stats.add(files_failed=1)
        return Outcome(job, seq, FileStatus.FAILED, {"last_error": {"code": code, "message": message[:1000]}})

    def _fail(self, job: ClaimedJob, seq: int, code: str, message: str) -> None:
        self._finish_all([self._failure(job, seq, code, message)])


def _embedding_calls(files: list[_Prepared]) -> list[list[_Prepared]]:
    """Files grouped into embedding calls: small ones packed up to EMBED_CALL_CHUNKS, then each larger one alone."""
    calls: list[list[_Prepared]] = []
    current: list[_Prepared] = []
    size = 0
    for p in files:
        n = len(p.chunks)
        if n > EMBED_CALL_CHUNKS:
            continue
        if current and size + n > EMBED_CALL_CHUNKS:
            calls.append(current)
            current, size = [], 0
        current.append(p)
        size += n
    if current:
        calls.append(current)
    calls.extend([p] for p in files if len(p.chunks) > EMBED_CALL_CHUNKS)
    return calls


def count_tokens(text: str, enc: tiktoken.Encoding) -> int:
    """len(enc.encode_ordinary(text)), counted a slice at a time at cuts that change no token."""
    total = 0
    start = 0
    while start < len(text):
        end = min(start + _COUNT_SLICE_CHARS, len(text))
        if end < len(text):
            end = _token_boundary(text, start, end)
        total += len(enc.encode_ordinary(text[start:end]))
        start = end
    return total


def _token_boundary(text: str, start: int, end: int) -> int:
    """A cut in (start, end] that no pre-tokenizer piece of o200k_base or cl100k_base spans.

    Their patterns never join a newline to a following letter or digit, nor a single space to what
    precedes it when a non-space comes before it and a letter or digit after it.
    """
    cut = text.rfind("\n", start, end - 1)
    while cut != -1:
        if text[cut + 1].isalnum():
            return cut + 1
        cut = text.rfind("\n", start, cut)
    cut = text.rfind(" ", start + 1, end - 1)
    while cut != -1:
        if not text[cut - 1].isspace() and text[cut + 1].isalnum():
            return cut
        cut = text.rfind(" ", start + 1, cut)
    return end  # no such cut in a whole slice (no spaces or newlines): off by at most a token here
