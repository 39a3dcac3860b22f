"""Catalog engine: creates the schema and hands out transactions (SQLite in WAL mode by default)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event

from vectorhouse.catalog.tables import metadata


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the single writer; synchronous=NORMAL is durable across a
    # process kill (only an OS crash can lose the last transactions).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def sqlite_engine(path: Path) -> Engine:
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=8,
        max_overflow=16,
    )
    event.listen(engine, "connect", _sqlite_pragmas)

    # pysqlite's own transaction handling defers BEGIN; take the write lock up front instead so
    # two writers never deadlock upgrading from a read lock.
    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn):  # type: ignore[no-untyped-def]
        read_only = conn.get_execution_options().get("vectorhouse_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


class Catalog:
    """Owns the engine; `transaction()` is the only way services write."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    @classmethod
    def open_sqlite(cls, path: Path) -> Catalog:
        return cls(sqlite_engine(path))

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only snapshot that takes no write lock."""
        with self.engine.connect().execution_options(vectorhouse_read_only=True) as conn:
            with conn.begin():
                yield conn

    def close(self) -> None:
        self.engine.dispose()
