"""Group refreshes for the Elasticsearch index: every write waits for one refresh that began after it,
and one refresh serves all the writes that came in while the previous one ran."""

from __future__ import annotations

import threading
from collections.abc import Callable


class RefreshGroups:
    """`wait(name)` returns once a refresh of index `name` that started after the call has finished.

    With W writers the index is refreshed at most once per refresh time instead of once per file
    (each forced refresh also leaves a segment for Lucene to merge later). A failed refresh fails
    every write that waited on it, so no file is reported searchable when it might not be.
    """

    def __init__(self, refresh: Callable[[str], None]) -> None:
        self._refresh = refresh
        self._cond = threading.Condition()
        self._started: dict[str, int] = {}  # per index: the number of the newest refresh begun
        self._done: dict[str, int] = {}  # the newest one finished
        self._failed: dict[str, tuple[int, BaseException]] = {}
        self._running: set[str] = set()

    def wait(self, name: str) -> None:
        with self._cond:
            wanted = self._started.get(name, 0) + 1  # the next refresh to begin covers this write
            while self._done.get(name, 0) < wanted:
                if name in self._running:
                    self._cond.wait()
                    continue
                number = self._started[name] = self._started.get(name, 0) + 1
                self._running.add(name)
                self._cond.release()
                error: BaseException | None = None
                try:
                    self._refresh(name)
                except BaseException as exc:  # handed to every writer that waited on this refresh
                    error = exc
                finally:
                    self._cond.acquire()
                    self._running.discard(name)
                    self._done[name] = number
                    if error is not None:
                        self._failed[name] = (number, error)
                    self._cond.notify_all()
            failed = self._failed.get(name)
            if failed is not None and failed[0] == wanted:
                raise failed[1]

    def forget(self, name: str) -> None:
        """The index is gone: drop its counters."""
        with self._cond:
            if name not in self._running:
                for table in (self._started, self._done, self._failed):
                    table.pop(name, None)
