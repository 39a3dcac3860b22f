"""File batches: attach many files in one transaction, live counts, cancel, list the batch's files."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, insert, select, update

from vectorhouse.catalog import Catalog, file_batches, vector_store_files
from vectorhouse.clock import Clock
from vectorhouse.errors import InvalidRequest, NotFound
from vectorhouse.ids import is_valid, new_id
from vectorhouse.schemas.chunking import resolve_chunking
from vectorhouse.schemas.objects import CursorPage, FileBatchObject, VectorStoreFileObject
from vectorhouse.schemas.requests import FileBatchCreate
from vectorhouse.service.events import StatusEvents
from vectorhouse.service.lifecycle import FileStatus, count_files, rollup
from vectorhouse.service.pagination import PageRequest
from vectorhouse.service.store_files import StoreFileService


class BatchService:
    def __init__(self, catalog: Catalog, clock: Clock, store_files: StoreFileService, events: StatusEvents,
                 max_batch_files: int) -> None:
        self.catalog = catalog
        self.clock = clock
        self.store_files = store_files
        self.stores = store_files.stores
        self.lifecycle = store_files.lifecycle
        self.events = events
        self.max_batch_files = max_batch_files

    def create(self, project_id: str, store_id: str, request: FileBatchCreate) -> FileBatchObject:
        if (request.file_ids is None) == (request.files is None):
            raise InvalidRequest("send exactly one of 'file_ids' or 'files'", param="file_ids")
        count = len(request.file_ids if request.file_ids is not None else request.files or [])
        param = "file_ids" if request.file_ids is not None else "files"
        if count == 0:
            raise InvalidRequest(f"'{param}' must list at least one file", param=param)
        if count > self.max_batch_files:
            raise InvalidRequest(
                f"a batch may hold at most {self.max_batch_files} files; got {count}",
                param=param, code="batch_too_large",
            )
        batch_id = new_id("vsfb_")
        with self.catalog.transaction() as conn:
            self.stores.usable_row(conn, project_id, store_id)
            conn.execute(insert(file_batches).values(id=batch_id, store_id=store_id, created_at=self.clock.now(),
                                                     cancelled=0))
            if request.file_ids is not None:
                chunking = resolve_chunking(request.chunking_strategy)
                self.lifecycle.attach_files(conn, project_id, store_id, request.file_ids, request.attributes, chunking,
                                            param="file_ids", batch_id=batch_id)
            else:
                seen: set[str] = set()
                for i, item in enumerate(request.files or []):
                    if item.file_id in seen:
                        raise InvalidRequest("the same file id is listed more than once",
                                             param=f"files[{i}].file_id")
                    seen.add(item.file_id)
                    chunking = resolve_chunking(item.chunking_strategy, f"files[{i}].chunking_strategy")
                    self.lifecycle.attach_files(conn, project_id, store_id, [item.file_id], item.attributes, chunking,
                                                param=f"files[{i}].file_id", batch_id=batch_id)
            self.stores.touch(conn, store_id)
            batch = self._object(conn, self._row(conn, project_id, store_id, batch_id))
        self.store_files.queue.notify()
        return batch

    def _row(self, conn: Connection, project_id: str, store_id: str, batch_id: str) -> Any:
        self.stores.row(conn, project_id, store_id)
        row = None
        if is_valid("vsfb_", batch_id):
            row = conn.execute(
                select(file_batches).where(and_(file_batches.c.id == batch_id, file_batches.c.store_id == store_id))
            ).first()
        if row is None:
            raise NotFound(f"No file batch found with id '{batch_id}' in vector store '{store_id}'.",
                           param="batch_id", code="batch_not_found")
        return row

    def _object(self, conn: Connection, row: Any) -> FileBatchObject:
        counts = count_files(conn, vector_store_files.c.batch_id == row.id)
        status = FileStatus.CANCELLED.value if row.cancelled else rollup(counts)
        return FileBatchObject(id=row.id, created_at=row.created_at, vector_store_id=row.store_id, status=status,
                               file_counts=counts)

    def get(self, project_id: str, store_id: str, batch_id: str) -> FileBatchObject:
        with self.catalog.read() as conn:
            return self._object(conn, self._row(conn, project_id, store_id, batch_id))

    def cancel(self, project_id: str, store_id: str, batch_id: str) -> FileBatchObject:
        with self.catalog.transaction() as conn:
            row = self._row(conn, project_id, store_id, batch_id)
            batch = self._object(conn, row)
            if batch.status != FileStatus.IN_PROGRESS.value:
                raise InvalidRequest(f"batch '{batch_id}' is already {batch.status}; only an in-progress batch "
                                     "can be cancelled", param="batch_id", code="batch_not_cancellable")
            conn.execute(update(file_batches).where(file_batches.c.id == batch_id).values(cancelled=1))
            self.lifecycle.cancel(conn, vector_store_files.c.batch_id == batch_id)
            batch = self._object(conn, self._row(conn, project_id, store_id, batch_id))
        self.events.changed()
        return batch

    def list_files(self, project_id: str, store_id: str, batch_id: str, status: str | None,
                   page: PageRequest) -> CursorPage[VectorStoreFileObject]:
        with self.catalog.read() as conn:
            self._row(conn, project_id, store_id, batch_id)
        return self.store_files.list(project_id, store_id, status, page, batch_id=batch_id)
