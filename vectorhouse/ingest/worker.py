"""Ingestion worker threads inside the serve process: claim jobs, process them, sleep until woken."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable

log = logging.getLogger("vectorhouse.worker")

# Returns how many jobs it claimed; the pool calls it with (worker id, batch size).
RunOnce = Callable[[str, int], int]


class WorkerPool:
    def __init__(
        self,
        run_once: RunOnce,
        wakeup: threading.Event,
        workers: int,
        batch_files: int,
        idle_seconds: float = 1.0,
    ) -> None:
        self.run_once = run_once
        self.wakeup = wakeup
        self.workers = workers
        self.batch_files = batch_files
        self.idle_seconds = idle_seconds
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.owner_prefix = uuid.uuid4().hex[:12]

    def start(self) -> None:
        for n in range(self.workers):
            thread = threading.Thread(
                target=self._loop,
                args=(f"{self.owner_prefix}-{n}",),
                name=f"vectorhouse-worker-{n}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def _loop(self, owner: str) -> None:
        while not self._stop.is_set():
            try:
                claimed = self.run_once(owner, self.batch_files)
            except Exception:  # the loop must outlive any single failure (e.g. a locked database)
                log.exception("worker %s: claiming or processing jobs failed", owner)
                claimed = 0
            if claimed == 0:
                # Woken at once by an enqueue; the timeout covers jobs whose lease ran out.
                self.wakeup.wait(self.idle_seconds)
                self.wakeup.clear()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.wakeup.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
