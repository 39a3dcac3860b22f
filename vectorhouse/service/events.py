"""A condition that status changes signal, so pollers wait without busy-looping."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from vectorhouse.errors import InvalidRequest, Timeout

T = TypeVar("T")


class StatusEvents:
    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._generation = 0

    def changed(self) -> None:
        """Called after any store-file status change is committed."""
        with self._condition:
            self._generation += 1
            self._condition.notify_all()

    def wait_until(self, read: Callable[[], T], done: Callable[[T], bool], timeout: float) -> tuple[T, bool]:
        """Re-reads after each change until `done(value)` or the timeout; returns (last value, done)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._condition:
                generation = self._generation
            value = read()
            if done(value):
                return value, True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return value, False
            with self._condition:
                # A change between the read and here bumped the generation: read again at once.
                if self._generation == generation:
                    self._condition.wait(remaining)


MAX_POLL_MS = 600_000


def wait_with(events: StatusEvents, read: Any, done: Any, max_wait_ms: int, what: str) -> Any:
    """Blocks until `done(read())` or max_wait_ms (capped at 10 minutes), woken by status changes."""
    if max_wait_ms < 0:
        raise InvalidRequest("max_wait_ms must be ≥ 0", param="max_wait_ms")
    waited_ms = min(max_wait_ms, MAX_POLL_MS)
    value, finished = events.wait_until(read, done, waited_ms / 1000)
    if not finished:
        raise Timeout(f"{what} was still in progress after {waited_ms} ms", param="max_wait_ms",
                      code="file_indexing_timeout")
    return value
