"""A TCP link tests can cut and restore between vectorhouse and a real backend, recording what is sent."""

from __future__ import annotations

import socket
import threading

import httpx

from tests.conftest import free_port


class Link:
    """A TCP link to Elasticsearch that can be cut and restored: the node going away, as vectorhouse sees it
    (connections reset, new ones refused), while the real node keeps serving the other tests."""

    def __init__(self, target: str) -> None:
        parsed = httpx.URL(target)
        self.target = (parsed.host, parsed.port or 9200)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.sent = b""  # the first MiB vectorhouse sent through the link (request heads, bodies)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        listener.settimeout(0.2)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                inbound, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                outbound = socket.create_connection(self.target, timeout=5)
            except OSError:
                inbound.close()
                continue
            with self._lock:
                self._sockets += [inbound, outbound]
            for a, b, record in ((inbound, outbound, True), (outbound, inbound, False)):
                threading.Thread(target=self._pipe, args=(a, b, record), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, record: bool) -> None:
        try:
            while data := source.recv(65536):
                if record and len(self.sent) < 1 << 20:
                    self.sent += data
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


