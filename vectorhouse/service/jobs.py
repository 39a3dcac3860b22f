"""The ingestion job queue in the catalog: enqueue inside the attach transaction, claim with a lease."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import Connection, and_, delete, insert, or_, select, update

from vectorhouse.catalog import Catalog, jobs
from vectorhouse.clock import Clock


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    store_id: str
    file_id: str
    attempts: int
    owner: str


class JobQueue:
    def __init__(self, catalog: Catalog, clock: Clock, lease_seconds: int) -> None:
        self.catalog = catalog
        self.clock = clock
        self.lease_seconds = lease_seconds
        # Set on every enqueue so idle workers wake at once instead of polling.
        self.wakeup = threading.Event()

    def enqueue(self, conn: Connection, store_id: str, file_id: str) -> None:
        """Adds a job inside the caller's transaction: the attach and its job commit together."""
        conn.execute(insert(jobs).values(store_id=store_id, file_id=file_id, created_at=self.clock.now()))

    def notify(self) -> None:
        self.wakeup.set()

    def release_all(self) -> None:
        """Start-up of the only process on an embedded catalog: every claim belonged to a dead process."""
        with self.catalog.transaction() as conn:
            conn.execute(update(jobs).values(owner=None, lease_until=None))

    def claim(self, owner: str, limit: int) -> list[ClaimedJob]:
        now = self.clock.now()
        with self.catalog.transaction() as conn:
            free = or_(jobs.c.owner.is_(None), jobs.c.lease_until < now)
            # SKIP LOCKED: on PostgreSQL, workers of other processes claim other jobs instead of waiting.
            rows = conn.execute(
                select(jobs).where(free).order_by(jobs.c.id).limit(limit).with_for_update(skip_locked=True)
            ).all()
            if not rows:
                return []
            ids = [r.id for r in rows]
            conn.execute(
                update(jobs)
                .where(and_(jobs.c.id.in_(ids), free))
                .values(owner=owner, lease_until=now + self.lease_seconds, attempts=jobs.c.attempts + 1)
            )
        return [ClaimedJob(r.id, r.store_id, r.file_id, r.attempts + 1, owner) for r in rows]

    def finish(self, conn: Connection, job: ClaimedJob) -> None:
        """Deletes the job only while this worker still owns it: a job cancelled (or re-claimed after
        its lease ran out) and replaced meanwhile must not be taken down with it."""
        conn.execute(delete(jobs).where(and_(jobs.c.id == job.id, jobs.c.owner == job.owner)))
