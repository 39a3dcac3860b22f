"""The server a benchmark talks to: a `vectorhouse serve` subprocess on a free loopback port, or a given URL."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from openai import OpenAI

HEALTH_TIMEOUT_S = 300.0  # loading the embedding model on a cold, busy machine can take a while


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api_key() -> str:
    # A server with keys needs one (OPENAI_API_KEY, as for the SDK); an open one takes any.
    return os.environ.get("OPENAI_API_KEY") or "bench"


def client_for(base_url: str) -> OpenAI:
    """One SDK client per run: its connection pool keeps connections alive between calls."""
    return OpenAI(base_url=base_url + "/v1", api_key=api_key())


def read_metrics(base_url: str) -> dict[str, float]:
    """The server's cumulative ingestion counters (GET /metrics.json → {"ingest": {...}})."""
    response = httpx.get(base_url + "/metrics.json", timeout=30, headers={"Authorization": f"Bearer {api_key()}"})
    response.raise_for_status()
    return {k: float(v) for k, v in response.json()["ingest"].items()}


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)


def start_server(data_dir: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "vectorhouse", "serve", "--port", str(port), "--data-dir", str(data_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),  # VECTORHOUSE_* settings (embedder, batch sizes) pass through
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"vectorhouse serve exited with {process.returncode}; log {log_path}:\n"
                                   + _tail(log_path))
            try:
                if httpx.get(base_url + "/health", timeout=1).status_code == 200:
                    return process, base_url
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"vectorhouse serve not healthy after {HEALTH_TIMEOUT_S:.0f}s; log {log_path}:\n"
                           + _tail(log_path))
    except BaseException:
        stop_server(process)
        raise


@contextmanager
def bench_server(url: str | None, data_dir: str | None) -> Iterator[str]:
    """Yield the base URL (no /v1) of the server to benchmark, stopping whatever this started.

    With `url`, that server is used as is. Otherwise a server is started on `data_dir` (kept afterwards,
    so a later run can reuse the data), or on a temporary directory that is removed afterwards.
    """
    if url:
        yield url.rstrip("/").removesuffix("/v1")
        return
    temp_root: Path | None = None
    if data_dir:
        data_path = Path(data_dir).expanduser().resolve()
        log_path = data_path.parent / f"{data_path.name}-bench-server.log"
        data_path.parent.mkdir(parents=True, exist_ok=True)
    else:
        temp_root = Path(tempfile.mkdtemp(prefix="vectorhouse-bench-"))
        data_path = temp_root / "data"
        log_path = temp_root / "server.log"
    try:
        process, base_url = start_server(data_path, log_path)
        print(f"server {base_url} (data {data_path}, log {log_path})", file=sys.stderr)
        try:
            yield base_url
        finally:
            stop_server(process)
    finally:
        if temp_root is not None:
            shutil.rmtree(temp_root, ignore_errors=True)
