"""Catalog engine: creates the schema and hands out transactions (SQLite in WAL mode by default)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event

MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same in every vectorhouse process.
_MIGRATION_LOCK_KEY = 0x76686F757365  # "vhouse"


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


def postgres_engine(url: str) -> Engine:
    # SQLAlchemy's default PostgreSQL driver is psycopg2; vectorhouse uses psycopg 3.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    # Fail fast while the server is down or restarting (a 503 to the caller), never hang a request:
    # connecting gives up after 5 s, and so does waiting for a pooled connection.
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, pool_timeout=5,
                         connect_args={"connect_timeout": 5})


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration; several processes starting at once take turns."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


class Catalog:
    """Owns the engine; `transaction()` is the only way services write."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite has one writer at a time and its busy handler polls with sleeps of up to 100 ms, so
        # under load a waiting writer sleeps while others take the lock. The data dir is locked to
        # one process, so queueing writers on an in-process lock hands the lock over at once.
        self._writer: AbstractContextManager[object] = threading.RLock() if not self.shared else nullcontext()
        migrate(engine)

    @property
    def shared(self) -> bool:
        """True when other processes may use the same catalog (PostgreSQL)."""
        return self.engine.dialect.name == "postgresql"

    @classmethod
    def open(cls, database_url: str, data_dir: Path) -> Catalog:
        if database_url:
            return cls(postgres_engine(database_url))
        return cls(sqlite_engine(data_dir / "catalog.db"))

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self._writer, self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only snapshot that takes no write lock."""
        with self.engine.connect().execution_options(vectorhouse_read_only=True) as conn:
            with conn.begin():
                yield conn

    def close(self) -> None:
        self.engine.dispose()
