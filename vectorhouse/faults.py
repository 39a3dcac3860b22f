"""What a backend failure is: unreachable (a 503, retry later) or a full disk (507), and URLs' credentials redacted."""

from __future__ import annotations

import errno
import re
import sqlite3
from collections.abc import Iterator

from sqlalchemy import exc as sa_exc

_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
# user:password@ in a URL, and password=... in a libpq conninfo string.
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s:]+(:[^/@\s]*)?@")
_CONNINFO_PASSWORD = re.compile(r"(password\s*=\s*)(\S+)", re.IGNORECASE)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _unreachable_types() -> tuple[type[BaseException], ...]:
    # The drivers are optional extras: only the installed ones can have raised.
    types: list[type[BaseException]] = [ConnectionError, TimeoutError, sa_exc.DisconnectionError,
                                         sa_exc.TimeoutError]
    try:
        import psycopg
        import psycopg_pool

        types += [psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout]
    except ImportError:
        pass
    try:
        import elastic_transport

        types += [elastic_transport.ConnectionError, elastic_transport.ConnectionTimeout]
    except ImportError:
        pass
    return tuple(types)


def is_disk_full(exc: BaseException) -> bool:
    for item in _chain(exc):
        if isinstance(item, OSError) and item.errno in _DISK_FULL_ERRNOS:
            return True
        if isinstance(item, sqlite3.OperationalError) and "disk is full" in str(item):
            return True
        if getattr(item, "sqlstate", None) == "53100":  # PostgreSQL's disk_full
            return True
    return False


def is_unreachable(exc: BaseException) -> bool:
    """A backend that cannot be reached or answered too late: the request may succeed when retried."""
    if is_disk_full(exc):
        return False
    types = _unreachable_types()
    for item in _chain(exc):
        if isinstance(item, types):
            return True
        if isinstance(item, sa_exc.OperationalError) and (item.connection_invalidated or
                                                           not isinstance(item.orig, sqlite3.Error)):
            return True
        if isinstance(item, sqlite3.OperationalError) and "locked" in str(item):
            return True
    return False


def redact(text: str) -> str:
    """The text with any URL's user:password@ and any conninfo password removed."""
    return _CONNINFO_PASSWORD.sub(r"\1***", _URL_CREDENTIALS.sub("***@", text))
