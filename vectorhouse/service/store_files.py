"""Vector store files: attach (row + job in one transaction), list, read, re-attribute, detach, content."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, select, update

from vectorhouse.catalog import Catalog, files, jobs, vector_store_files
from vectorhouse.clock import Clock
from vectorhouse.errors import Conflict, InvalidRequest, NotFound
from vectorhouse.ids import is_valid
from vectorhouse.index.base import Index
from vectorhouse.ingest.chunking import AUTO_CHUNKING, ChunkingParams, validate_static
from vectorhouse.schemas.objects import (
    CursorPage,
    FileContentPage,
    LastError,
    StaticChunking,
    StaticChunkingStrategy,
    TextContent,
    VectorStoreFileDeleted,
    VectorStoreFileObject,
)
from vectorhouse.service.events import StatusEvents, wait_with
from vectorhouse.service.jobs import JobQueue
from vectorhouse.service.pagination import PageRequest, paginate
from vectorhouse.service.vector_stores import VectorStoreService

STATUSES = ("in_progress", "completed", "failed", "cancelled")
# A store file in one of these may be attached again: that retries it.
RETRYABLE_STATUSES = ("failed", "cancelled")



def resolve_chunking(raw: dict[str, Any] | None, param: str = "chunking_strategy") -> ChunkingParams:
    """OpenAI's chunking_strategy request → the effective static window (auto = 800/400)."""
    if raw is None:
        return AUTO_CHUNKING
    kind = raw.get("type")
    if kind == "auto" and set(raw) <= {"type"}:
        return AUTO_CHUNKING
    if kind == "static":
        static = raw.get("static")
        if set(raw) - {"type", "static"} or not isinstance(static, dict) or set(static) != {
            "max_chunk_size_tokens", "chunk_overlap_tokens"
        }:
            raise InvalidRequest(
                "static chunking_strategy needs exactly 'static': {'max_chunk_size_tokens': int, "
                "'chunk_overlap_tokens': int}",
                param=f"{param}.static",
                code="invalid_chunking_strategy",
            )
        validate_static(static["max_chunk_size_tokens"], static["chunk_overlap_tokens"])
        return ChunkingParams(static["max_chunk_size_tokens"], static["chunk_overlap_tokens"])
    raise InvalidRequest(
        "chunking_strategy must be {'type': 'auto'} or {'type': 'static', 'static': {...}}",
        param=f"{param}.type",
        code="invalid_chunking_strategy",
    )


def check_file_id(file_id: str, param: str = "file_id") -> None:
    if not isinstance(file_id, str) or not is_valid("file-", file_id):
        raise InvalidRequest(
            f"'{file_id}' is not a valid file id: expected 'file-' followed by letters and digits",
            param=param,
            code="invalid_file_id",
        )


def store_file_object(row: Any) -> VectorStoreFileObject:
    return VectorStoreFileObject(
        id=row.file_id,
        usage_bytes=row.usage_bytes,
        created_at=row.created_at,
        vector_store_id=row.store_id,
        status=row.status,
        last_error=LastError(**row.last_error) if row.last_error else None,
        chunking_strategy=StaticChunkingStrategy(
            static=StaticChunking(
                max_chunk_size_tokens=row.max_chunk_size_tokens, chunk_overlap_tokens=row.chunk_overlap_tokens
            )
        ),
        attributes=row.attributes,
    )


class StoreFileService:
    def __init__(self, catalog: Catalog, index: Index, clock: Clock, stores: VectorStoreService,
                 queue: JobQueue, events: StatusEvents) -> None:
        self.events = events
        self.catalog = catalog
        self.index = index
        self.clock = clock
        self.stores = stores
        self.queue = queue

    def attach_in(self, conn: Connection, store_id: str, file_ids: Sequence[str],
                  attributes: dict[str, Any] | None, chunking: ChunkingParams, param: str = "file_id",
                  batch_id: str | None = None) -> None:
        """Attach files inside the caller's transaction: each store-file row and its job commit together."""
        if len(set(file_ids)) != len(file_ids):
            raise InvalidRequest("the same file id is listed more than once", param=param)
        for i, file_id in enumerate(file_ids):
            where = param if len(file_ids) == 1 and param == "file_id" else f"{param}[{i}]"
            check_file_id(file_id, where)
            if conn.execute(select(files.c.id).where(files.c.id == file_id)).first() is None:
                raise NotFound(f"No file found with id '{file_id}'.", param=where, code="file_not_found")
            this_file = and_(vector_store_files.c.store_id == store_id, vector_store_files.c.file_id == file_id)
            existing = conn.execute(select(vector_store_files.c.status).where(this_file)).first()
            if existing is not None and existing.status not in RETRYABLE_STATUSES:
                raise Conflict(
                    f"File '{file_id}' is already attached to vector store '{store_id}'.",
                    param=where,
                    code="file_already_attached",
                )
            values = {
                "status": "in_progress",
                "last_error": None,
                "attributes": attributes,
                "max_chunk_size_tokens": chunking.max_chunk_size_tokens,
                "chunk_overlap_tokens": chunking.chunk_overlap_tokens,
                "usage_bytes": 0,
                "chunk_count": 0,
                "batch_id": batch_id,
            }
            if existing is None:
                conn.execute(insert(vector_store_files).values(store_id=store_id, file_id=file_id,
                                                               created_at=self.clock.now(), **values))
            else:
                # Attaching a failed or cancelled file again retries it (e.g. after the index backend
                # was unreachable), with the new attributes and chunking.
                conn.execute(update(vector_store_files).where(this_file).values(**values))
            self.queue.enqueue(conn, store_id, file_id)
        self.stores.touch(conn, store_id)

    def attach(self, store_id: str, file_id: str, attributes: dict[str, Any] | None,
               chunking_strategy: dict[str, Any] | None) -> VectorStoreFileObject:
        chunking = resolve_chunking(chunking_strategy)
        with self.catalog.transaction() as conn:
            self.stores.usable_row(conn, store_id)
            self.attach_in(conn, store_id, [file_id], attributes, chunking)
            row = self._row(conn, store_id, file_id)
        self.queue.notify()
        return store_file_object(row)

    def _row(self, conn: Connection, store_id: str, file_id: str) -> Any:
        row = conn.execute(
            select(vector_store_files).where(
                and_(vector_store_files.c.store_id == store_id, vector_store_files.c.file_id == file_id)
            )
        ).first()
        if row is None:
            raise NotFound(
                f"No file with id '{file_id}' in vector store '{store_id}'.",
                param="file_id",
                code="file_not_in_vector_store",
            )
        return row

    def _checked_row(self, conn: Connection, store_id: str, file_id: str) -> Any:
        self.stores.row(conn, store_id)
        check_file_id(file_id)
        return self._row(conn, store_id, file_id)

    def get(self, store_id: str, file_id: str) -> VectorStoreFileObject:
        with self.catalog.read() as conn:
            return store_file_object(self._checked_row(conn, store_id, file_id))

    def list(self, store_id: str, status: str | None, page: PageRequest,
             batch_id: str | None = None) -> CursorPage[VectorStoreFileObject]:
        if status is not None and status not in STATUSES:
            raise InvalidRequest(
                f"filter must be one of {', '.join(STATUSES)}; got '{status}'", param="filter"
            )
        with self.catalog.read() as conn:
            self.stores.row(conn, store_id)
            where = [vector_store_files.c.store_id == store_id]
            if status is not None:
                where.append(vector_store_files.c.status == status)
            if batch_id is not None:
                where.append(vector_store_files.c.batch_id == batch_id)
            result = paginate(conn, vector_store_files, where, page, id_column=vector_store_files.c.file_id)
        data = [store_file_object(r) for r in result.rows]
        return CursorPage[VectorStoreFileObject].of(data, result.has_more)

    def update(self, store_id: str, file_id: str, attributes: dict[str, Any] | None) -> VectorStoreFileObject:
        with self.catalog.transaction() as conn:
            row = self._checked_row(conn, store_id, file_id)
            conn.execute(
                update(vector_store_files).where(vector_store_files.c.seq == row.seq).values(attributes=attributes)
            )
            # Inside the catalog transaction, so a failing index write leaves both unchanged.
            self.index.set_attributes(store_id, file_id, attributes)
            self.stores.touch(conn, store_id)
            return store_file_object(self._row(conn, store_id, file_id))

    def delete(self, store_id: str, file_id: str) -> VectorStoreFileDeleted:
        with self.catalog.transaction() as conn:
            self._checked_row(conn, store_id, file_id)
            conn.execute(
                delete(vector_store_files).where(
                    and_(vector_store_files.c.store_id == store_id, vector_store_files.c.file_id == file_id)
                )
            )
            conn.execute(delete(jobs).where(and_(jobs.c.store_id == store_id, jobs.c.file_id == file_id)))
        self.index.delete_file(store_id, file_id)
        self.events.changed()
        return VectorStoreFileDeleted(id=file_id)

    def wait(self, store_id: str, file_id: str, max_wait_ms: int) -> VectorStoreFileObject:
        return wait_with(self.events, lambda: self.get(store_id, file_id), lambda f: f.status != "in_progress",
                         max_wait_ms, f"file '{file_id}'")

    def content(self, store_id: str, file_id: str) -> FileContentPage:
        with self.catalog.read() as conn:
            row = self._checked_row(conn, store_id, file_id)
        if row.status == "failed":
            error = row.last_error or {}
            raise InvalidRequest(
                f"file '{file_id}' failed indexing ({error.get('code')}: {error.get('message')}); it has no content",
                param="file_id", code="file_indexing_failed",
            )
        texts = self.index.file_chunks(store_id, file_id)
        return FileContentPage(data=[TextContent(text=t) for t in texts])

    def create_store(self, request: Any) -> Any:
        """A new store and its initial `file_ids`, attached in the same transaction (all or nothing)."""
        chunking = resolve_chunking(request.chunking_strategy)
        with self.catalog.transaction() as conn:
            store_id = self.stores.insert(conn, request)
            if request.file_ids:
                self.attach_in(conn, store_id, request.file_ids, None, chunking, param="file_ids")
            store = self.stores.to_object(conn, self.stores.row(conn, store_id))
        self.queue.notify()
        return store
