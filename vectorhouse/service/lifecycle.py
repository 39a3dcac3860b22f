"""The store-file lifecycle in one place: statuses and transitions, file_counts, job attempts, the delete cascade.

A store file is a (store, file) row of ``vector_store_files``; while it is ``in_progress`` it has one
ingestion job. Every service changes statuses, counts files and deletes rows only through here::

    (none) ──attach──▶ in_progress ──▶ completed
                          │   ├──────▶ failed      (extraction, embedding or indexing failed, or
                          │   │                     the job was claimed max_attempts times)
                          │   └──────▶ cancelled   (batch cancelled, store expired)
    failed, cancelled ──attach again──▶ in_progress (a retry)

Deleting a store file, a file or a store deletes its rows and jobs in the caller's transaction;
the index data goes after the commit (search already ignores chunks without a completed row).

Files and stores belong to a project, and this module is the one place that checks it: another
project's store or file is looked up exactly like an id that names nothing (no existence leaks),
lists show only the caller's own, and a project's quotas are counted here. Backends know no tenants.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from vectorhouse.catalog import Catalog, files, jobs, vector_store_files, vector_stores
from vectorhouse.clock import Clock
from vectorhouse.errors import Conflict, InvalidRequest, NotFound, QuotaExceeded
from vectorhouse.ids import is_valid
from vectorhouse.ingest.chunking import ChunkingParams
from vectorhouse.schemas.objects import FileCounts
from vectorhouse.service.jobs import ClaimedJob, JobQueue


class FileStatus(str, Enum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


STATUSES: tuple[str, ...] = tuple(s.value for s in FileStatus)
# A store file in one of these may be attached again: that retries it.
RETRYABLE: frozenset[str] = frozenset({FileStatus.FAILED.value, FileStatus.CANCELLED.value})
# Where each status may go (None: no row yet).
TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({FileStatus.IN_PROGRESS.value}),
    FileStatus.IN_PROGRESS.value: frozenset({FileStatus.COMPLETED.value, FileStatus.FAILED.value,
                                             FileStatus.CANCELLED.value}),
    FileStatus.FAILED.value: frozenset({FileStatus.IN_PROGRESS.value}),
    FileStatus.CANCELLED.value: frozenset({FileStatus.IN_PROGRESS.value}),
    FileStatus.COMPLETED.value: frozenset(),
}


def _this(store_id: str, file_id: str) -> Any:
    return and_(vector_store_files.c.store_id == store_id, vector_store_files.c.file_id == file_id)


def check_file_id(file_id: str, param: str = "file_id") -> None:
    if not isinstance(file_id, str) or not is_valid("file-", file_id):
        raise InvalidRequest(
            f"'{file_id}' is not a valid file id: expected 'file-' followed by letters and digits",
            param=param,
            code="invalid_file_id",
        )


def owned_by(table: Any, project_id: str) -> Any:
    """The condition that limits `files` or `vector_stores` rows to one project's."""
    return table.c.project_id == project_id


def find_store(conn: Connection, project_id: str, store_id: str) -> Any:
    """The project's store with this id, else None (whether or not another project has one)."""
    return conn.execute(select(vector_stores).where(vector_stores.c.id == store_id,
                                                    owned_by(vector_stores, project_id))).first()


def find_file(conn: Connection, project_id: str, file_id: str) -> Any:
    """The project's file with this id, else None (whether or not another project has one)."""
    return conn.execute(select(files).where(files.c.id == file_id, owned_by(files, project_id))).first()


def check_store_quota(conn: Connection, project_id: str, max_stores: int) -> None:
    """429 when the project already has `max_stores` vector stores (0: no quota)."""
    if max_stores <= 0:
        return
    count = conn.execute(select(func.count()).select_from(vector_stores)
                         .where(owned_by(vector_stores, project_id))).scalar() or 0
    if count >= max_stores:
        raise QuotaExceeded(f"the project has {count} vector stores, its quota is {max_stores}: delete one first",
                            code="vector_store_limit_exceeded")


def file_bytes_left(conn: Connection, project_id: str, max_bytes: int) -> int | None:
    """Bytes the project may still upload (None: no quota)."""
    if max_bytes <= 0:
        return None
    used = conn.execute(select(func.coalesce(func.sum(files.c.bytes), 0))
                        .where(owned_by(files, project_id))).scalar() or 0
    return max(0, max_bytes - int(used))


def count_files(conn: Connection, *where: Any) -> FileCounts:
    """Exact per-status counts of store-files matching `where` (a store, or a batch)."""
    counts = dict(
        conn.execute(
            select(vector_store_files.c.status, func.count()).where(*where).group_by(vector_store_files.c.status)
        ).all()
    )
    result = FileCounts(**{status: counts.get(status, 0) for status in STATUSES})
    result.total = sum(counts.get(status, 0) for status in STATUSES)
    return result


def rollup(counts: FileCounts) -> str:
    """The status of a store or batch from its files' counts (a cancelled batch says so itself)."""
    return FileStatus.IN_PROGRESS.value if counts.in_progress else FileStatus.COMPLETED.value


class Outcome(NamedTuple):
    """How one claimed file ends: its job, the store file's row version, the new status and its values."""

    job: ClaimedJob
    seq: int
    status: FileStatus
    values: dict[str, Any]


class Lifecycle:
    """The transitions of store files, each inside the caller's catalog transaction unless it says not."""

    def __init__(self, catalog: Catalog, queue: JobQueue, clock: Clock, max_attempts: int) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.catalog = catalog
        self.queue = queue
        self.clock = clock
        self.max_attempts = max_attempts

    # -- attaching -------------------------------------------------------------------------

    def attach_files(self, conn: Connection, project_id: str, store_id: str, file_ids: Sequence[str],
                     attributes: dict[str, Any] | None, chunking: ChunkingParams, param: str = "file_id",
                     batch_id: str | None = None) -> None:
        """Attach the project's files inside the caller's transaction: each store-file row and its job
        commit together; errors name each file by its place in the request (`param`, or `param[i]`)."""
        if len(set(file_ids)) != len(file_ids):
            raise InvalidRequest("the same file id is listed more than once", param=param)
        for i, file_id in enumerate(file_ids):
            where = param if len(file_ids) == 1 and param == "file_id" else f"{param}[{i}]"
            check_file_id(file_id, where)
            if find_file(conn, project_id, file_id) is None:
                raise NotFound(f"No file found with id '{file_id}'.", param=where, code="file_not_found")
            self.attach(conn, store_id, file_id, attributes, chunking, where, batch_id)

    def attach(self, conn: Connection, store_id: str, file_id: str, attributes: dict[str, Any] | None,
               chunking: ChunkingParams, param: str, batch_id: str | None = None) -> None:
        """(none) or failed/cancelled → in_progress, with its job, in the caller's transaction."""
        existing = conn.execute(select(vector_store_files.c.status).where(_this(store_id, file_id))).first()
        current = existing.status if existing is not None else None
        if FileStatus.IN_PROGRESS.value not in TRANSITIONS.get(current, frozenset()):
            raise Conflict(f"File '{file_id}' is already attached to vector store '{store_id}'.", param=param,
                           code="file_already_attached")
        values = {
            "status": FileStatus.IN_PROGRESS.value,
            "last_error": None,
            "attributes": attributes,
            "max_chunk_size_tokens": chunking.max_chunk_size_tokens,
            "chunk_overlap_tokens": chunking.chunk_overlap_tokens,
            "usage_bytes": 0,
            "chunk_count": 0,
            "provenance": None,
            "batch_id": batch_id,
        }
        if existing is None:
            conn.execute(insert(vector_store_files).values(store_id=store_id, file_id=file_id,
                                                           created_at=self.clock.now(), **values))
        else:
            # Attaching a failed or cancelled file again retries it (e.g. after the index backend was
            # unreachable), with the new attributes and chunking.
            conn.execute(update(vector_store_files).where(_this(store_id, file_id)).values(**values))
        self.queue.enqueue(conn, store_id, file_id)

    # -- ingestion ---------------------------------------------------------------------------

    def claim(self, owner: str, limit: int) -> list[ClaimedJob]:
        """Claim jobs for a worker. A job already claimed `max_attempts` times (each time its worker died
        or its process was killed) is not tried again: its file ends failed."""
        exhausted_jobs = (
            select(jobs.c.id, jobs.c.store_id, jobs.c.file_id, jobs.c.attempts)
            .where(and_(or_(jobs.c.owner.is_(None), jobs.c.lease_until < self.clock.now()),
                        jobs.c.attempts >= self.max_attempts))
        )
        # Looked for without the write lock first: nearly every claim finds none.
        with self.catalog.read() as conn:
            if conn.execute(exhausted_jobs.limit(1)).first() is None:
                return self.queue.claim(owner, limit)
        with self.catalog.transaction() as conn:
            for job in conn.execute(exhausted_jobs).all():
                self._set(conn, job.store_id, job.file_id, FileStatus.FAILED, last_error={
                    "code": "server_error",
                    "message": f"processing the file stopped {job.attempts} times without finishing (the worker "
                               "or its process died); it is not tried again",
                })
                conn.execute(delete(jobs).where(jobs.c.id == job.id))
        return self.queue.claim(owner, limit)

    def still_in_progress(self, conn: Connection, store_id: str, file_id: str) -> Any:
        """The store file's row with its file's blob, when its job should still run (else None)."""
        row = conn.execute(
            select(vector_store_files, files.c.sha256, files.c.filename, vector_stores.c.embedding_model)
            .join(files, files.c.id == vector_store_files.c.file_id)
            .join(vector_stores, vector_stores.c.id == vector_store_files.c.store_id)
            .where(_this(store_id, file_id))
        ).first()
        return row if row is not None and row.status == FileStatus.IN_PROGRESS.value else None

    def finish(self, job: ClaimedJob, seq: int, status: FileStatus, **values: Any) -> bool:
        """in_progress → completed or failed, and the job gone, in one transaction. Returns whether the
        file's index data must be dropped: it was detached or cancelled while the worker ran."""
        return self.finish_all([Outcome(job, seq, status, values)])[0]

    def finish_all(self, outcomes: Sequence[Outcome]) -> list[bool]:
        """`finish` for several files in one transaction (the files of one embedding call): the catalog's
        writer is taken once, not once per file (11k small files: 12 ms each, mostly waiting for it)."""
        dropped = []
        with self.catalog.transaction() as conn:
            for job, seq, status, values in outcomes:
                updated = conn.execute(
                    update(vector_store_files)
                    .where(and_(vector_store_files.c.seq == seq,
                                vector_store_files.c.status == FileStatus.IN_PROGRESS.value))
                    .values(status=status.value, **values)
                ).rowcount
                self.queue.finish(conn, job)
                current = conn.execute(select(vector_store_files.c.status)
                                       .where(_this(job.store_id, job.file_id))).first()
                dropped.append(not updated and (current is None or current.status == FileStatus.CANCELLED.value))
        return dropped

    def drop_job(self, job: ClaimedJob) -> None:
        """A claimed job whose file is no longer in progress (detached, deleted, cancelled): nothing to do."""
        with self.catalog.transaction() as conn:
            self.queue.finish(conn, job)

    # -- cancelling --------------------------------------------------------------------------

    def cancel(self, conn: Connection, *where: Any) -> list[tuple[str, str]]:
        """in_progress → cancelled for the store files matching `where`; their jobs go."""
        pending = and_(*where, vector_store_files.c.status == FileStatus.IN_PROGRESS.value)
        keys = [(r.store_id, r.file_id) for r in conn.execute(
            select(vector_store_files.c.store_id, vector_store_files.c.file_id).where(pending))]
        conn.execute(update(vector_store_files).where(pending).values(status=FileStatus.CANCELLED.value))
        for store_id, file_id in keys:
            conn.execute(delete(jobs).where(and_(jobs.c.store_id == store_id, jobs.c.file_id == file_id)))
        return keys

    def expire(self, conn: Connection, store_ids: Sequence[str]) -> None:
        """An expired store's waiting files end cancelled (never stuck in progress); it holds no bytes."""
        conn.execute(delete(jobs).where(jobs.c.store_id.in_(store_ids)))
        self.cancel(conn, vector_store_files.c.store_id.in_(store_ids))
        conn.execute(update(vector_store_files).where(vector_store_files.c.store_id.in_(store_ids))
                     .values(usage_bytes=0))

    # -- deleting ----------------------------------------------------------------------------

    def detach(self, conn: Connection, store_id: str, file_id: str) -> None:
        """The store file's row and job go (the caller drops its index data after the commit)."""
        conn.execute(delete(vector_store_files).where(_this(store_id, file_id)))
        conn.execute(delete(jobs).where(and_(jobs.c.store_id == store_id, jobs.c.file_id == file_id)))

    def detach_everywhere(self, conn: Connection, file_id: str) -> list[str]:
        """A file being deleted leaves every store; returns the stores whose index data must go."""
        stores = list(conn.execute(
            select(vector_store_files.c.store_id).where(vector_store_files.c.file_id == file_id)).scalars())
        conn.execute(delete(vector_store_files).where(vector_store_files.c.file_id == file_id))
        conn.execute(delete(jobs).where(jobs.c.file_id == file_id))
        return stores

    def empty_store(self, conn: Connection, store_id: str) -> None:
        """Every store file of a store being deleted goes, with its jobs."""
        conn.execute(delete(jobs).where(jobs.c.store_id == store_id))
        conn.execute(delete(vector_store_files).where(vector_store_files.c.store_id == store_id))

    # -- internal ----------------------------------------------------------------------------

    @staticmethod
    def _set(conn: Connection, store_id: str, file_id: str, status: FileStatus, **values: Any) -> None:
        allowed = [s for s, targets in TRANSITIONS.items() if s is not None and status.value in targets]
        conn.execute(update(vector_store_files)
                     .where(and_(_this(store_id, file_id), vector_store_files.c.status.in_(allowed)))
                     .values(status=status.value, **values))
