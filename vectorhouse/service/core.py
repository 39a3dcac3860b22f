"""`Vectorhouse`: builds the catalog, blobs, index router, models and services once, and runs the workers."""

from __future__ import annotations

import fcntl
import logging
from pathlib import Path
from typing import IO

from threadpoolctl import threadpool_limits

from vectorhouse.blobs.local import LocalBlobStore
from vectorhouse.catalog import Catalog
from vectorhouse.chat.openai import OpenAIChat
from vectorhouse.clock import Clock, SystemClock
from vectorhouse.config import Settings, postgres_conninfo
from vectorhouse.embed.models import Endpoint, ModelRegistry
from vectorhouse.index.factory import available_backends, create_index
from vectorhouse.index.router import IndexRouter
from vectorhouse.ingest.extract import ExtractLimits
from vectorhouse.ingest.tokenizer import get_encoding
from vectorhouse.ingest.worker import WorkerPool
from vectorhouse.service.answers import AnswerService
from vectorhouse.service.batches import BatchService
from vectorhouse.service.collections import CollectionService
from vectorhouse.service.events import StatusEvents
from vectorhouse.service.expiry import ExpirySweeper
from vectorhouse.service.files import FileService
from vectorhouse.service.ingestion import IngestionService
from vectorhouse.service.jobs import JobQueue
from vectorhouse.service.keys import Keys
from vectorhouse.service.lifecycle import Lifecycle
from vectorhouse.service.responses import ResponseService
from vectorhouse.service.search import SearchService
from vectorhouse.service.store_files import StoreFileService
from vectorhouse.service.telemetry import Telemetry
from vectorhouse.service.vector_stores import VectorStoreService

log = logging.getLogger("vectorhouse")


def registry_for(settings: Settings) -> ModelRegistry:
    """The models stores may choose under these settings (none loaded yet)."""
    if settings.embedder not in ("local", "openai"):
        raise ValueError(f"VECTORHOUSE_EMBEDDER must be 'local' or 'openai', got {settings.embedder!r}")
    extra = [name.strip() for name in settings.openai_embedding_models.split(",") if name.strip()]
    endpoint_models = [settings.openai_embedding_model] if settings.embedder == "openai" else []
    endpoint_models = list(dict.fromkeys([*endpoint_models, *extra]))
    endpoint = Endpoint(settings.openai_base_url, settings.openai_api_key, tuple(endpoint_models),
                        settings.openai_embedding_dimension) if endpoint_models else None
    return ModelRegistry(settings.model_dir, settings.default_embedding_model, endpoint,
                         device=settings.embed_device, batch_size=settings.embed_batch_size,
                         threads=settings.embed_threads or None)


def build_models(settings: Settings) -> ModelRegistry:
    """The models stores may choose, the default one loaded now (others when first used)."""
    models = registry_for(settings)
    models.get(models.default)
    return models


class Vectorhouse:
    """One instance per process. `start()` loads the model and starts the workers; `close()` stops them."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        # The index's matrix-vector scans are small; a multi-threaded BLAS spin-waits after each one
        # and steals the cores the embedder needs next (query embedding went from 3 ms to 9 ms).
        threadpool_limits(limits=1, user_api="blas")
        data_dir = Path(settings.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.catalog = Catalog.open(postgres_conninfo(settings), data_dir)
        # A SQLite catalog and the embedded index belong to one process; a PostgreSQL catalog is shared.
        self._lock_file = None if self.catalog.shared else self._lock_data_dir(data_dir)
        self.models = build_models(settings)
        get_encoding(settings.tokenizer)  # load the BPE ranks now, not on the first file
        self.blobs = LocalBlobStore(data_dir / "blobs")
        self.backends = available_backends(settings)
        if settings.default_index not in self.backends:
            raise ValueError(f"index backend {settings.default_index!r} is not available here: "
                             f"choose one of {', '.join(self.backends)}")
        self.index = IndexRouter(
            {name: (lambda name=name: create_index(name, settings)) for name in self.backends},
            self._backend_of,
        )
        self.queue = JobQueue(self.catalog, self.clock, settings.job_lease_seconds)
        self.lifecycle = Lifecycle(self.catalog, self.queue, self.clock, settings.max_job_attempts)
        self.events = StatusEvents()
        self.keys = Keys(self.catalog, self.clock, settings.auth)
        self.files = FileService(self.catalog, self.blobs, self.index, self.clock, settings.max_upload_bytes,
                                 self.lifecycle, settings.project_max_file_bytes)
        self.stores = VectorStoreService(self.catalog, self.index, self.clock, self.backends,
                                         settings.default_index, self.models, self.lifecycle, self.queue,
                                         settings.project_max_vector_stores)
        self.store_files = StoreFileService(self.catalog, self.index, self.clock, self.stores, self.queue,
                                            self.events, self.lifecycle)
        self.batches = BatchService(self.catalog, self.clock, self.store_files, self.events,
                                    settings.max_batch_files)
        self.search = SearchService(self.catalog, self.index, self.stores)
        configured = bool(settings.chat_base_url and settings.chat_model)
        self.chat = OpenAIChat(settings.chat_base_url, settings.chat_api_key,
                               settings.chat_timeout_seconds) if configured else None
        self.answers = AnswerService(self.search, self.chat, settings.chat_model if configured else "",
                                     [m.strip() for m in settings.chat_models.split(",") if m.strip()],
                                     settings.chat_context_tokens, settings.tokenizer)
        if configured:  # rewrite_query asks the chat model, as OpenAI's does; else the rule-based rewrite
            self.search.rewriter = self.answers.rewrite
        self.responses = ResponseService(self.catalog, self.answers, self.clock)
        self.collections = CollectionService(self.catalog, self.blobs, self.stores, self.files, self.search,
                                             self.answers, self.lifecycle, self.queue)
        self.ingestion = IngestionService(
            self.catalog, self.blobs, self.index, self.models, self.lifecycle, settings.tokenizer, self.events,
            windowed=settings.long_chunks == "windows", limits=ExtractLimits.from_settings(settings),
            max_file_tokens=settings.max_file_tokens, time_budget_seconds=settings.file_time_budget_seconds,
        )
        self.telemetry = Telemetry(self.catalog, self.index, self.backends, self.models, self.clock)
        self.sweeper = ExpirySweeper(self.catalog, self.index, self.clock, self.events,
                                     settings.sweep_interval_seconds, self.lifecycle, self.files)
        self.workers = WorkerPool(
            self.ingestion.run_once, self.queue.wakeup, settings.workers, settings.worker_batch_files
        )

    @staticmethod
    def _lock_data_dir(data_dir: Path) -> IO[str]:
        # The embedded catalog and index belong to one process; a second one would corrupt the caches.
        handle = open(data_dir / ".lock", "w")  # noqa: SIM115 - held for the life of the process
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RuntimeError(f"data dir {data_dir} is in use by another vectorhouse process") from None
        return handle

    def _backend_of(self, store_id: str) -> str:
        return self.stores.backend_of(store_id) or self.settings.default_index

    def start(self) -> None:
        for name in self.backends:
            # Connect now: a bad URL or a foreign Elasticsearch mapping fails the start, not a file.
            self.index.backend(name)
        self.stores.pin_default_model()
        if not self.catalog.shared:
            # This process owns the SQLite catalog, so every unfinished claim was a dead process's.
            # (With PostgreSQL, other live processes hold claims; expired leases free a dead one's.)
            self.queue.release_all()
        self.workers.start()
        self.sweeper.start()
        self.queue.notify()
        log.info("vectorhouse ready: data dir %s, %d workers", self.settings.data_dir, self.settings.workers)

    def close(self) -> None:
        self.ingestion.close()  # first: a worker waiting on a parse is freed at once, its file left claimed
        self.workers.stop()
        self.sweeper.stop()
        self.index.close()
        if self.chat is not None:
            self.chat.close()
        self.catalog.close()
        if self._lock_file is not None:
            self._lock_file.close()
