"""Files: upload into the blob store, list, read back, delete (which detaches everywhere), and expiry."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

from sqlalchemy import Connection, delete, func, insert, select

from vectorhouse.blobs.local import BlobStorageFull, BlobTooLarge, LocalBlobStore
from vectorhouse.catalog import Catalog, files
from vectorhouse.clock import Clock
from vectorhouse.errors import InsufficientStorage, InvalidRequest, NotFound, PayloadTooLarge, QuotaExceeded
from vectorhouse.ids import is_valid, new_id
from vectorhouse.index.base import Index
from vectorhouse.schemas.objects import CursorPage, FileDeleted, FileObject
from vectorhouse.service.lifecycle import Lifecycle, file_bytes_left, find_file, owned_by
from vectorhouse.service.pagination import PageRequest, paginate

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
MAX_FILENAME_CHARS = 8192
BATCH_FILE_DEFAULT_SECONDS = 30 * 86400
MIN_EXPIRY_SECONDS, MAX_EXPIRY_SECONDS = 3600, 2592000


def check_filename(filename: str) -> None:
    """A name is stored as given (blobs are kept by hash, so no name reaches a path), except what no
    catalog can hold: NUL (PostgreSQL text), or a name longer than MAX_FILENAME_CHARS."""
    if "\x00" in filename:
        raise InvalidRequest("the file's name must not contain NUL characters", param="file")
    if len(filename) > MAX_FILENAME_CHARS:
        raise InvalidRequest(f"the file's name is longer than {MAX_FILENAME_CHARS} characters", param="file")


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
                 max_upload_bytes: int, lifecycle: Lifecycle, max_bytes_per_project: int = 0) -> None:
        self.lifecycle = lifecycle
        self.catalog = catalog
        self.blobs = blobs
        self.index = index
        self.clock = clock
        self.max_upload_bytes = max_upload_bytes
        self.max_bytes_per_project = max_bytes_per_project

    def create(self, project_id: str, stream: BinaryIO, filename: str, purpose: str,
               expires_after: dict[str, Any] | None) -> FileObject:
        check_filename(filename)
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
        elif purpose == "batch":  # as OpenAI: batch input files expire after 30 days unless told otherwise
            expires_at = now + BATCH_FILE_DEFAULT_SECONDS
        with self.catalog.read() as conn:
            quota_left = file_bytes_left(conn, project_id, self.max_bytes_per_project)
        limit = self.max_upload_bytes if quota_left is None else min(self.max_upload_bytes, quota_left)
        try:
            sha, size = self.blobs.put_stream(stream, limit)
        except BlobTooLarge:
            if quota_left is not None and quota_left < self.max_upload_bytes:
                raise self._over_quota() from None
            raise PayloadTooLarge(
                f"file is larger than the maximum upload size of {self.max_upload_bytes} bytes", param="file"
            ) from None
        except BlobStorageFull:
            raise InsufficientStorage("the server's disk is full: the file was not kept", param="file") from None
        file_id = new_id("file-")
        try:
            with self.catalog.transaction() as conn:
                left = file_bytes_left(conn, project_id, self.max_bytes_per_project)
                if left is not None and size > left:  # another upload of the project won the race
                    raise self._over_quota()
                conn.execute(
                    insert(files).values(
                        id=file_id, created_at=now, filename=filename, purpose=purpose, bytes=size, sha256=sha,
                        expires_at=expires_at, project_id=project_id,
                    )
                )
        except BaseException:
            self._drop_blob_if_unused(sha)
            raise
        return self.get(project_id, file_id)

    def create_many(self, project_id: str, named: Sequence[tuple[str, bytes]],
                    then: Callable[[Connection, list[str]], None], param: str) -> list[str]:
        """Several files at once, all or none: their bytes are kept first, then every row and
        `then(conn, ids)` (attaching them) commit in one transaction; a failure leaves nothing behind."""
        for filename, _ in named:
            check_filename(filename)
        kept: list[str] = []
        try:
            sizes = []
            for i, (_, data) in enumerate(named):
                if len(data) > self.max_upload_bytes:
                    raise PayloadTooLarge(f"larger than the maximum upload size of {self.max_upload_bytes} bytes",
                                          param=f"{param}[{i}]")
                sha, size = self.blobs.put_stream(io.BytesIO(data), self.max_upload_bytes)
                kept.append(sha)
                sizes.append(size)
            ids = [new_id("file-") for _ in named]
            with self.catalog.transaction() as conn:
                left = file_bytes_left(conn, project_id, self.max_bytes_per_project)
                if left is not None and sum(sizes) > left:
                    raise self._over_quota(param)
                now = self.clock.now()
                conn.execute(insert(files), [
                    {"id": file_id, "created_at": now, "filename": filename, "purpose": "assistants", "bytes": size,
                     "sha256": sha, "expires_at": None, "project_id": project_id}
                    for file_id, (filename, _), sha, size in zip(ids, named, kept, sizes, strict=True)
                ])
                then(conn, ids)
        except BlobStorageFull:
            self._drop_blobs_if_unused(kept)
            raise InsufficientStorage("the server's disk is full: nothing was kept", param=param) from None
        except BaseException:
            self._drop_blobs_if_unused(kept)
            raise
        return ids

    def _over_quota(self, param: str = "file") -> QuotaExceeded:
        return QuotaExceeded(f"the project's files would pass its quota of {self.max_bytes_per_project} bytes: "
                             "delete files first", param=param)

    def _drop_blobs_if_unused(self, shas: Sequence[str]) -> None:
        for sha in dict.fromkeys(shas):
            self._drop_blob_if_unused(sha)

    def _drop_blob_if_unused(self, sha: str) -> None:
        """Bytes are kept once per sha256: they go with the last file row that names them."""
        with self.catalog.read() as conn:
            used = conn.execute(select(func.count()).select_from(files).where(files.c.sha256 == sha)).scalar()
        if not used:
            self.blobs.delete(sha)

    def _row(self, project_id: str, file_id: str) -> Any:
        row = None
        if is_valid("file-", file_id):
            with self.catalog.read() as conn:
                row = find_file(conn, project_id, file_id)
        if row is None:
            raise NotFound(f"No file found with id '{file_id}'.", param="file_id", code="file_not_found")
        return row

    def get(self, project_id: str, file_id: str) -> FileObject:
        return file_object(self._row(project_id, file_id))

    def blob_path(self, project_id: str, file_id: str) -> tuple[str, Any]:
        row = self._row(project_id, file_id)
        return row.filename, self.blobs.path(row.sha256)

    def list(self, project_id: str, purpose: str | None, page: PageRequest) -> CursorPage[FileObject]:
        where = [owned_by(files, project_id)]
        if purpose:
            where.append(files.c.purpose == purpose)
        with self.catalog.read() as conn:
            result = paginate(conn, files, where, page)
        data = [file_object(r) for r in result.rows]
        return CursorPage[FileObject].of(data, result.has_more)

    def delete(self, project_id: str, file_id: str) -> FileDeleted:
        self._remove(self._row(project_id, file_id))
        return FileDeleted(id=file_id)

    def delete_expired(self) -> list[str]:
        """Every file whose expires_at has passed is deleted, as if its owner had (the sweeper calls this)."""
        with self.catalog.read() as conn:
            due = conn.execute(select(files).where(files.c.expires_at.is_not(None),
                                                   files.c.expires_at <= self.clock.now())).all()
        for row in due:
            self._remove(row)
        return [row.id for row in due]

    def _remove(self, row: Any) -> None:
        """The file leaves every store, then its row goes, then its bytes if no other file shares them."""
        file_id = row.id
        with self.catalog.transaction() as conn:
            stores = self.lifecycle.detach_everywhere(conn, file_id)
            conn.execute(delete(files).where(files.c.id == file_id))
        # The catalog rows are gone first, so search already ignores these chunks; now free them.
        for store_id in stores:
            self.index.delete_file(store_id, file_id)
        self._drop_blob_if_unused(row.sha256)
