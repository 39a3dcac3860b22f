"""Giving freed heap back to the system after a large, one-off build (glibc keeps it otherwise)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc (musl, macOS): its allocator returns memory its own way
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim  # type: ignore[no-any-return]


def release_freed_heap() -> None:
    """Return the free pages of the C heap to the system, so they stop counting as resident."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
