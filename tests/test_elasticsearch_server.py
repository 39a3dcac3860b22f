"""The elasticsearch backend under faults: a foreign mapping stops the start; a node that goes away fails files."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import free_port, start_server, upload
from tests.es import elasticsearch_env, scratch_prefix
from vectorhouse.index.elasticsearch import index_name


class TcpProxy:
    """Forwards a loopback port to Elasticsearch; `down()` drops every connection and refuses new ones."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 9200)
        self.port = free_port()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self._lock:
            for sock in [*self._sockets, *([self._listener] if self._listener else [])]:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self._sockets.clear()
            self._listener = None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def prefix(elasticsearch_url: str) -> Iterator[str]:
    with scratch_prefix(elasticsearch_url) as name:
        yield name


def test_foreign_mapping_fails_the_start(elasticsearch_url: str, prefix: str, tmp_path: Path) -> None:
    name = index_name("vs_somebody_else", prefix)
    created = httpx.put(f"{elasticsearch_url}/{name}",
                        json={"mappings": {"properties": {"vector": {"type": "dense_vector", "dims": 3}}}}, timeout=60)
    assert created.status_code == 200, created.text
    with pytest.raises(RuntimeError, match=f"{name} exists with another mapping"):
        start_server(tmp_path / "data", elasticsearch_env(elasticsearch_url, prefix), timeout=60)


def test_node_gone_mid_ingest_fails_the_file_then_a_retry_completes(
    elasticsearch_url: str, prefix: str, tmp_path: Path
) -> None:
    proxy = TcpProxy(elasticsearch_url)
    proxy.up()
    server = start_server(tmp_path / "data", elasticsearch_env(proxy.url, prefix))
    try:
        client = server.client()
        vs = client.vector_stores.create(name="flaky")
        before = upload(client, "before.txt", "Puffins nest in burrows on cliffs.")
        assert client.vector_stores.files.create_and_poll(file_id=before, vector_store_id=vs.id,
                                                          poll_interval_ms=50).status == "completed"
        proxy.down()
        during = upload(client, "during.txt", "Gannets dive from great heights.")
        failed = client.vector_stores.files.create_and_poll(file_id=during, vector_store_id=vs.id,
                                                            poll_interval_ms=100)
        assert failed.status == "failed" and failed.last_error is not None
        assert failed.last_error.code == "server_error" and failed.last_error.message
        proxy.up()
        retried = client.vector_stores.files.create_and_poll(file_id=during, vector_store_id=vs.id,
                                                             poll_interval_ms=50)
        assert retried.status == "completed" and retried.last_error is None
        hits = client.vector_stores.search(vs.id, query="gannets dive")
        assert hits.data and hits.data[0].file_id == during
    finally:
        server.stop()
        proxy.down()
