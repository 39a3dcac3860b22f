"""Vector store files: attach (row + job in one transaction), list, read, re-attribute, detach, content."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, select, update

from vectorhouse.catalog import Catalog, vector_store_files
from vectorhouse.clock import Clock
from vectorhouse.errors import InvalidRequest, NotFound
from vectorhouse.index.base import Index
from vectorhouse.schemas.chunking import resolve_chunking
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
from vectorhouse.service.lifecycle import STATUSES, FileStatus, Lifecycle, check_file_id
from vectorhouse.service.pagination import PageRequest, paginate
from vectorhouse.service.search import chunk_provenance
from vectorhouse.service.vector_stores import VectorStoreService


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
                 queue: JobQueue, events: StatusEvents, lifecycle: Lifecycle) -> None:
        self.events = events
        self.catalog = catalog
        self.index = index
        self.clock = clock
        self.stores = stores
        self.queue = queue
        self.lifecycle = lifecycle

    def attach(self, project_id: str, store_id: str, file_id: str, attributes: dict[str, Any] | None,
               chunking_strategy: dict[str, Any] | None) -> VectorStoreFileObject:
        chunking = resolve_chunking(chunking_strategy)
        with self.catalog.transaction() as conn:
            self.stores.usable_row(conn, project_id, store_id)
            self.lifecycle.attach_files(conn, project_id, store_id, [file_id], attributes, chunking)
            self.stores.touch(conn, store_id)
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

    def _checked_row(self, conn: Connection, project_id: str, store_id: str, file_id: str) -> Any:
        self.stores.row(conn, project_id, store_id)
        check_file_id(file_id)
        return self._row(conn, store_id, file_id)

    def get(self, project_id: str, store_id: str, file_id: str) -> VectorStoreFileObject:
        with self.catalog.read() as conn:
            return store_file_object(self._checked_row(conn, project_id, store_id, file_id))

    def list(self, project_id: str, store_id: str, status: str | None, page: PageRequest,
             batch_id: str | None = None) -> CursorPage[VectorStoreFileObject]:
        if status is not None and status not in STATUSES:
            raise InvalidRequest(
                f"filter must be one of {', '.join(STATUSES)}; got '{status}'", param="filter"
            )
        with self.catalog.read() as conn:
            self.stores.row(conn, project_id, store_id)
            where = [vector_store_files.c.store_id == store_id]
            if status is not None:
                where.append(vector_store_files.c.status == status)
            if batch_id is not None:
                where.append(vector_store_files.c.batch_id == batch_id)
            result = paginate(conn, vector_store_files, where, page, id_column=vector_store_files.c.file_id)
        data = [store_file_object(r) for r in result.rows]
        return CursorPage[VectorStoreFileObject].of(data, result.has_more)

    def update(self, project_id: str, store_id: str, file_id: str,
               attributes: dict[str, Any] | None) -> VectorStoreFileObject:
        with self.catalog.transaction() as conn:
            row = self._checked_row(conn, project_id, store_id, file_id)
            conn.execute(
                update(vector_store_files).where(vector_store_files.c.seq == row.seq).values(attributes=attributes)
            )
            # Inside the catalog transaction, so a failing index write leaves both unchanged.
            self.index.set_attributes(store_id, file_id, attributes)
            self.stores.touch(conn, store_id)
            return store_file_object(self._row(conn, store_id, file_id))

    def delete(self, project_id: str, store_id: str, file_id: str) -> VectorStoreFileDeleted:
        with self.catalog.transaction() as conn:
            self._checked_row(conn, project_id, store_id, file_id)
            self.lifecycle.detach(conn, store_id, file_id)
            self.stores.touch(conn, store_id)  # detaching is activity, as attaching is
        self.index.delete_file(store_id, file_id)
        self.events.changed()
        return VectorStoreFileDeleted(id=file_id)

    def wait(self, project_id: str, store_id: str, file_id: str, max_wait_ms: int) -> VectorStoreFileObject:
        return wait_with(self.events, lambda: self.get(project_id, store_id, file_id),
                         lambda f: f.status != FileStatus.IN_PROGRESS.value, max_wait_ms, f"file '{file_id}'")

    def content(self, project_id: str, store_id: str, file_id: str, provenance: bool = False) -> FileContentPage:
        """The file's chunks in order; with `provenance`, where each is in the file."""
        with self.catalog.read() as conn:
            row = self._checked_row(conn, project_id, store_id, file_id)
        if row.status == FileStatus.FAILED.value:
            error = row.last_error or {}
            raise InvalidRequest(
                f"file '{file_id}' failed indexing ({error.get('code')}: {error.get('message')}); it has no content",
                param="file_id", code="file_indexing_failed",
            )
        texts = self.index.file_chunks(store_id, file_id)
        return FileContentPage(data=[
            TextContent(text=t, provenance=chunk_provenance(row.provenance, i) if provenance else None)
            for i, t in enumerate(texts)])
