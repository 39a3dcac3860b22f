"""What vectorhouse reports about itself: the ingest queue, files by status, chunks per backend, readiness."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import case, func, select

from vectorhouse.catalog import Catalog, jobs, vector_store_files, vector_stores
from vectorhouse.clock import Clock
from vectorhouse.embed.models import ModelRegistry
from vectorhouse.faults import redact
from vectorhouse.index.router import IndexRouter
from vectorhouse.service.lifecycle import STATUSES, FileStatus


@dataclass(frozen=True)
class QueueState:
    depth: int  # jobs waiting or running
    claimed: int  # of those, held by a worker under a live lease
    oldest_age_seconds: float  # how long the oldest job has waited (0 with none)


class Telemetry:
    def __init__(self, catalog: Catalog, index: IndexRouter, backends: Sequence[str], models: ModelRegistry,
                 clock: Clock) -> None:
        self.catalog = catalog
        self.index = index
        self.backends = tuple(backends)
        self.models = models
        self.clock = clock

    def queue(self) -> QueueState:
        now = self.clock.now()
        live = case((jobs.c.lease_until > now, 1), else_=0)
        with self.catalog.read() as conn:
            depth, claimed, oldest = conn.execute(
                select(func.count(), func.coalesce(func.sum(live), 0), func.min(jobs.c.created_at))).one()
        return QueueState(int(depth), int(claimed), float(max(0, now - oldest)) if oldest is not None else 0.0)

    def files_by_status(self) -> dict[str, int]:
        with self.catalog.read() as conn:
            rows = conn.execute(select(vector_store_files.c.status, func.count())
                                .group_by(vector_store_files.c.status)).all()
        counts = dict.fromkeys(STATUSES, 0)
        counts.update({status: int(n) for status, n in rows})
        return counts

    def chunks_by_backend(self) -> dict[str, int]:
        """Chunks of completed files, per index backend (what each backend holds that search can return)."""
        with self.catalog.read() as conn:
            rows = conn.execute(
                select(vector_stores.c.backend, func.coalesce(func.sum(vector_store_files.c.chunk_count), 0))
                .join(vector_stores, vector_stores.c.id == vector_store_files.c.store_id)
                .where(vector_store_files.c.status == FileStatus.COMPLETED.value)
                .group_by(vector_stores.c.backend)).all()
        counts = dict.fromkeys(self.backends, 0)
        counts.update({backend: int(n) for backend, n in rows})
        return counts

    def readiness(self) -> dict[str, str]:
        """"ok", or why not, for the default model, the catalog and each configured index backend."""
        checks: dict[str, str] = {}

        def check(name: str, probe: object) -> None:
            try:
                probe()  # type: ignore[operator]
                checks[name] = "ok"
            except Exception as exc:  # whatever it is, the component is not ready; say what, safely
                checks[name] = redact(f"{type(exc).__name__}: {exc}")[:300]

        check("model", lambda: self.models.get(self.models.default))
        check("catalog", self._catalog_ping)
        for backend in self.backends:
            check(f"index:{backend}", lambda backend=backend: self.index.backend(backend).ping())
        return checks

    def _catalog_ping(self) -> None:
        with self.catalog.read() as conn:
            conn.execute(select(1)).scalar()
