"""Expiry: a background sweeper marks stores past their expires_at `expired` (freeing their index data) and
deletes files past theirs."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import and_, select, update

from vectorhouse.catalog import Catalog, vector_stores
from vectorhouse.clock import Clock
from vectorhouse.index.base import Index
from vectorhouse.service.events import StatusEvents
from vectorhouse.service.files import FileService
from vectorhouse.service.lifecycle import Lifecycle
from vectorhouse.service.vector_stores import DAY_SECONDS

log = logging.getLogger("vectorhouse.expiry")


class ExpirySweeper:
    def __init__(self, catalog: Catalog, index: Index, clock: Clock, events: StatusEvents,
                 interval_seconds: float, lifecycle: Lifecycle, files: FileService) -> None:
        self.lifecycle = lifecycle
        self.files = files
        self.catalog = catalog
        self.index = index
        self.clock = clock
        self.events = events
        self.interval_seconds = interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self) -> list[str]:
        """Expire every store and delete every file whose time has passed; returns the stores' ids."""
        deleted = self.files.delete_expired()
        for file_id in deleted:
            log.info("file %s expired and was deleted", file_id)
        if deleted:
            self.events.changed()
        return self._expire_stores()

    def _expire_stores(self) -> list[str]:
        now = self.clock.now()
        due = and_(
            vector_stores.c.expired == 0,
            vector_stores.c.expires_after_days.is_not(None),
            vector_stores.c.last_active_at + vector_stores.c.expires_after_days * DAY_SECONDS <= now,
        )
        with self.catalog.transaction() as conn:
            store_ids = conn.execute(select(vector_stores.c.id).where(due)).scalars().all()
            if not store_ids:
                return []
            conn.execute(update(vector_stores).where(vector_stores.c.id.in_(store_ids)).values(expired=1))
            self.lifecycle.expire(conn, store_ids)
        for store_id in store_ids:
            self.index.delete_store(store_id)
            log.info("vector store %s expired; its chunks were freed", store_id)
        self.events.changed()
        return list(store_ids)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="vectorhouse-expiry", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            try:
                self.sweep()
            except Exception:  # keep sweeping on the next tick
                log.exception("expiry sweep failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
