"""Results remembered for as long as the very objects they were computed from are the current ones."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SameObjects(Generic[T]):
    """The last `size` results of `make()`, each kept with the objects it was computed from.

    A lookup hits only when it passes those very objects again (identity, not equality): a snapshot
    that a write replaced, or a filter's file set that a write recomputed, never serves a stale
    result, and no object needs to be hashable.
    """

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._held: OrderedDict[tuple[int, ...], tuple[tuple[object, ...], T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, objects: tuple[object, ...], make: Callable[[], T]) -> T:
        key = tuple(id(o) for o in objects)
        with self._lock:
            held = self._held.get(key)
        if held is not None and all(a is b for a, b in zip(held[0], objects, strict=True)):
            return held[1]
        value = make()
        with self._lock:
            self._held[key] = (objects, value)  # holding the objects keeps their ids from being reused
            self._held.move_to_end(key)
            while len(self._held) > self._size:
                self._held.popitem(last=False)
        return value
