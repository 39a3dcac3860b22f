"""Files: upload into the blob store, list, read back, and delete (which detaches everywhere)."""

from __future__ import annotations

from typing import Any, BinaryIO

from sqlalchemy import delete, func, insert, select

from vectorhouse.blobs.local import BlobTooLarge, LocalBlobStore
from vectorhouse.catalog import Catalog, files
from vectorhouse.clock import Clock
from vectorhouse.errors import InvalidRequest, NotFound, PayloadTooLarge
from vectorhouse.ids import is_valid, new_id
from vectorhouse.index.base import Index
from vectorhouse.schemas.objects import CursorPage, FileDeleted, FileObject
from vectorhouse.service.lifecycle import Lifecycle
from vectorhouse.service.pagination import PageRequest, paginate

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
MIN_EXPIRY_SECONDS, MAX_EXPIRY_SECONDS = 3600, 2592000


def file_object(row: Any) -> FileObject:
    return FileObject(
        id=row.id,
        bytes=row.bytes,
        created_at=row.created_at,
        filename=row.filename,
        purpose=row.purpose,
        expires_at=row.expires_at,
    )


class FileService:
    def __init__(self, catalog: Catalog, blobs: LocalBlobStore, index: Index, clock: Clock,
                 max_upload_bytes: int, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle
        self.catalog = catalog
        self.blobs = blobs
        self.index = index
        self.clock = clock
        self.max_upload_bytes = max_upload_bytes

    def create(self, stream: BinaryIO, filename: str, purpose: str, expires_after: dict[str, Any] | None,
               ) -> FileObject:
        if purpose not in PURPOSES:
            raise InvalidRequest(
                f"'{purpose}' is not a valid purpose: expected one of {', '.join(PURPOSES)}", param="purpose"
            )
        now = self.clock.now()
        expires_at = None
        if expires_after is not None:
            if expires_after.get("anchor") != "created_at":
                raise InvalidRequest("expires_after[anchor] must be 'created_at'", param="expires_after.anchor")
            seconds = expires_after.get("seconds")
            if not isinstance(seconds, int) or not MIN_EXPIRY_SECONDS <= seconds <= MAX_EXPIRY_SECONDS:
                raise InvalidRequest(
                    f"expires_after[seconds] must be an integer between {MIN_EXPIRY_SECONDS} and "
                    f"{MAX_EXPIRY_SECONDS}",
                    param="expires_after.seconds",
                )
            expires_at = now + seconds
        try:
            sha, size = self.blobs.put_stream(stream, self.max_upload_bytes)
        except BlobTooLarge:
            raise PayloadTooLarge(
                f"file is larger than the maximum upload size of {self.max_upload_bytes} bytes", param="file"
            ) from None
        file_id = new_id("file-")
        with self.catalog.transaction() as conn:
            conn.execute(
                insert(files).values(
                    id=file_id, created_at=now, filename=filename, purpose=purpose, bytes=size, sha256=sha,
                    expires_at=expires_at,
                )
            )
        return self.get(file_id)

    def _row(self, file_id: str) -> Any:
        if not is_valid("file-", file_id):
            raise NotFound(f"No file found with id '{file_id}'.", param="file_id", code="file_not_found")
        with self.catalog.read() as conn:
            row = conn.execute(select(files).where(files.c.id == file_id)).first()
        if row is None:
            raise NotFound(f"No file found with id '{file_id}'.", param="file_id", code="file_not_found")
        return row

    def get(self, file_id: str) -> FileObject:
        return file_object(self._row(file_id))

    def blob_path(self, file_id: str) -> tuple[str, Any]:
        row = self._row(file_id)
        return row.filename, self.blobs.path(row.sha256)

    def list(self, purpose: str | None, page: PageRequest) -> CursorPage[FileObject]:
        where = [files.c.purpose == purpose] if purpose else []
        with self.catalog.read() as conn:
            result = paginate(conn, files, where, page)
        data = [file_object(r) for r in result.rows]
        return CursorPage[FileObject].of(data, result.has_more)

    def delete(self, file_id: str) -> FileDeleted:
        row = self._row(file_id)
        with self.catalog.transaction() as conn:
            stores = self.lifecycle.detach_everywhere(conn, file_id)
            conn.execute(delete(files).where(files.c.id == file_id))
            still_used = conn.execute(
                select(func.count()).select_from(files).where(files.c.sha256 == row.sha256)
            ).scalar()
        # The catalog rows are gone first, so search already ignores these chunks; now free them.
        for store_id in stores:
            self.index.delete_file(store_id, file_id)
        if not still_used:
            self.blobs.delete(row.sha256)
        return FileDeleted(id=file_id)
