"""Vector stores: create, read, update, delete, list; exact file_counts, usage_bytes, expiry and activity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from vectorhouse.catalog import Catalog, vector_store_files, vector_stores
from vectorhouse.clock import Clock
from vectorhouse.embed.base import Embedder
from vectorhouse.embed.models import ModelRegistry, UnknownModel
from vectorhouse.errors import BackendFailure, Gone, InvalidRequest, NotFound
from vectorhouse.ids import is_valid, new_id
from vectorhouse.index.base import Index
from vectorhouse.schemas.chunking import resolve_chunking
from vectorhouse.schemas.objects import (
    CursorPage,
    ExpiresAfterObject,
    VectorStoreDeleted,
    VectorStoreObject,
)
from vectorhouse.schemas.requests import VectorStoreCreate, VectorStoreUpdate
from vectorhouse.service.events import StatusEvents, wait_with
from vectorhouse.service.jobs import JobQueue
from vectorhouse.service.lifecycle import (
    FileStatus,
    Lifecycle,
    check_store_quota,
    count_files,
    find_store,
    owned_by,
    rollup,
)
from vectorhouse.service.pagination import PageRequest, paginate

DAY_SECONDS = 86400
MAX_CREATE_FILE_IDS = 500  # OpenAI's limit on a create's file_ids


def store_not_found(store_id: str) -> NotFound:
    return NotFound(
        f"No vector store found with id '{store_id}'.", param="vector_store_id", code="vector_store_not_found"
    )


class VectorStoreService:
    def __init__(self, catalog: Catalog, index: Index, clock: Clock, backends: Sequence[str],
                 default_backend: str, models: ModelRegistry, lifecycle: Lifecycle, queue: JobQueue,
                 max_stores_per_project: int = 0) -> None:
        self.catalog = catalog
        self.index = index
        self.clock = clock
        self.backends = tuple(backends)
        self.default_backend = default_backend
        self.models = models
        self.lifecycle = lifecycle
        self.queue = queue
        self.max_stores_per_project = max_stores_per_project

    def pin_default_model(self) -> None:
        """Stores made before stores chose models were embedded with the default: record it, so a later
        change of the default never embeds their queries with another model than their chunks."""
        with self.catalog.transaction() as conn:
            conn.execute(update(vector_stores).where(vector_stores.c.embedding_model.is_(None))
                         .values(embedding_model=self.models.default))

    def model_name(self, row: Any) -> str:
        return row.embedding_model or self.models.default

    def embedder_of(self, row: Any) -> Embedder:
        """The store's model, which embeds its chunks and its queries alike."""
        name = self.model_name(row)
        try:
            return self.models.get(name)
        except UnknownModel as exc:  # installed when the store was made, gone from this server since
            raise BackendFailure(f"the embedding model '{name}' of vector store '{row.id}' is not available "
                                 f"on this server: {exc}", code="embedding_model_unavailable") from exc

    def backend_of(self, store_id: str) -> str | None:
        with self.catalog.read() as conn:
            return conn.execute(select(vector_stores.c.backend).where(vector_stores.c.id == store_id)).scalar()

    # -- reading -----------------------------------------------------------------------------

    def row(self, conn: Connection, project_id: str, store_id: str) -> Any:
        """The project's store; another project's id answers exactly as an unknown one."""
        if not is_valid("vs_", store_id):
            raise InvalidRequest(
                f"'{store_id}' is not a valid vector store id: expected 'vs_' followed by letters and digits",
                param="vector_store_id",
                code="invalid_vector_store_id",
            )
        row = find_store(conn, project_id, store_id)
        if row is None:
            raise store_not_found(store_id)
        return row

    def expires_at(self, row: Any) -> int | None:
        if row.expires_after_days is None:
            return None
        return int(row.last_active_at + row.expires_after_days * DAY_SECONDS)

    def is_expired(self, row: Any) -> bool:
        expires_at = self.expires_at(row)
        return bool(row.expired) or (expires_at is not None and expires_at <= self.clock.now())

    def usable_row(self, conn: Connection, project_id: str, store_id: str) -> Any:
        """The store row, refusing an expired store (410) for search and attach."""
        row = self.row(conn, project_id, store_id)
        if self.is_expired(row):
            raise Gone(
                f"Vector store '{store_id}' has expired and can no longer be used.",
                param="vector_store_id",
                code="vector_store_expired",
            )
        return row

    def to_object(self, conn: Connection, row: Any) -> VectorStoreObject:
        file_counts = count_files(conn, vector_store_files.c.store_id == row.id)
        usage = conn.execute(
            select(func.coalesce(func.sum(vector_store_files.c.usage_bytes), 0)).where(
                vector_store_files.c.store_id == row.id
            )
        ).scalar()
        status = "expired" if self.is_expired(row) else rollup(file_counts)
        return VectorStoreObject(
            id=row.id,
            created_at=row.created_at,
            name=row.name or "",
            usage_bytes=int(usage or 0),
            file_counts=file_counts,
            status=status,
            expires_after=(
                ExpiresAfterObject(days=row.expires_after_days) if row.expires_after_days is not None else None
            ),
            expires_at=self.expires_at(row),
            last_active_at=row.last_active_at,
            metadata=row.metadata,
            embedding_model=self.model_name(row),
        )

    def wait(self, project_id: str, store_id: str, max_wait_ms: int, events: StatusEvents) -> VectorStoreObject:
        """Until no file is in progress (or the store expired); 504 when max_wait_ms runs out first."""
        return wait_with(events, lambda: self.get(project_id, store_id),
                         lambda s: s.status != FileStatus.IN_PROGRESS.value, max_wait_ms, f"vector store '{store_id}'")

    def get(self, project_id: str, store_id: str) -> VectorStoreObject:
        with self.catalog.read() as conn:
            return self.to_object(conn, self.row(conn, project_id, store_id))

    def list(self, project_id: str, page: PageRequest) -> CursorPage[VectorStoreObject]:
        with self.catalog.read() as conn:
            result = paginate(conn, vector_stores, [owned_by(vector_stores, project_id)], page)
            data = [self.to_object(conn, r) for r in result.rows]
        return CursorPage[VectorStoreObject].of(data, result.has_more)

    # -- writing -----------------------------------------------------------------------------

    def create(self, project_id: str, request: VectorStoreCreate, collection: str | None = None) -> VectorStoreObject:
        """A new store and its initial `file_ids`, attached in the same transaction (all or nothing);
        `collection` names it in the collection API (the catalog keeps those names unique)."""
        chunking = resolve_chunking(request.chunking_strategy)
        if request.file_ids is not None and len(request.file_ids) > MAX_CREATE_FILE_IDS:
            raise InvalidRequest(f"a vector store is created with at most {MAX_CREATE_FILE_IDS} file_ids; attach "
                                 "more with file batches", param="file_ids", code="vector_store_creation_failed")
        with self.catalog.transaction() as conn:
            check_store_quota(conn, project_id, self.max_stores_per_project)
            store_id = self._insert(conn, project_id, request, collection)
            if request.file_ids:
                self.lifecycle.attach_files(conn, project_id, store_id, request.file_ids, None, chunking,
                                            param="file_ids")
            store = self.to_object(conn, self.row(conn, project_id, store_id))
        self.queue.notify()
        return store

    def _insert(self, conn: Connection, project_id: str, request: VectorStoreCreate, collection: str | None) -> str:
        backend = request.backend or self.default_backend
        if backend not in self.backends:
            raise InvalidRequest(f"backend '{backend}' is not available on this server: choose one of "
                                 f"{', '.join(self.backends)}", param="backend")
        model = request.embedding_model if request.embedding_model is not None else self.models.default
        try:
            self.models.check(model)
        except UnknownModel as exc:
            raise InvalidRequest(str(exc), param="embedding_model", code="invalid_embedding_model") from None
        store_id = new_id("vs_")
        now = self.clock.now()
        conn.execute(
            insert(vector_stores).values(
                id=store_id,
                created_at=now,
                name=request.name or "",
                description=request.description,
                metadata=request.metadata,
                expires_after_days=request.expires_after.days if request.expires_after else None,
                last_active_at=now,
                expired=0,
                backend=backend,
                embedding_model=model,
                project_id=project_id,
                collection=collection,
            )
        )
        return store_id

    def touch(self, conn: Connection, store_id: str) -> None:
        """Activity moves last_active_at, and with it expires_at."""
        conn.execute(
            update(vector_stores).where(vector_stores.c.id == store_id).values(last_active_at=self.clock.now())
        )

    def mark_active(self, row: Any) -> None:
        """`touch` in its own transaction, skipped when the row read already says active this second:
        back-to-back searches then take no write lock at all."""
        if row.last_active_at != self.clock.now():
            with self.catalog.transaction() as conn:
                self.touch(conn, row.id)

    def update(self, project_id: str, store_id: str, request: VectorStoreUpdate) -> VectorStoreObject:
        sent = request.model_fields_set
        values: dict[str, Any] = {}
        if "name" in sent:
            values["name"] = request.name or ""
        if "metadata" in sent:
            values["metadata"] = request.metadata
        if "expires_after" in sent:
            values["expires_after_days"] = request.expires_after.days if request.expires_after else None
        with self.catalog.transaction() as conn:
            row = self.row(conn, project_id, store_id)
            if values:
                values["last_active_at"] = self.clock.now()
                conn.execute(update(vector_stores).where(vector_stores.c.id == row.id).values(**values))
            return self.to_object(conn, self.row(conn, project_id, store_id))

    def delete(self, project_id: str, store_id: str) -> VectorStoreDeleted:
        with self.catalog.transaction() as conn:
            self.row(conn, project_id, store_id)
            self.lifecycle.empty_store(conn, store_id)
            conn.execute(delete(vector_stores).where(vector_stores.c.id == store_id))
        self.index.delete_store(store_id)
        return VectorStoreDeleted(id=store_id)
