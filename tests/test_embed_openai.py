"""Tests for the OpenAI-compatible embedder against a local stand-in for the remote OpenAI API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from vectorhouse.embed import Embedder, create_embedder
from vectorhouse.embed.openai import OpenAIEmbedder
from vectorhouse.errors import BackendFailure

DIM = 4


def fake_vector(text: str) -> list[float]:
    """Deterministic, deliberately un-normalised vector the stand-in server returns for `text`."""
    return [float(len(text) + 1), float(sum(map(ord, text)) % 97 + 1), 3.0, -2.0]


def expected(texts: list[str]) -> np.ndarray:
    vectors = np.asarray([fake_vector(t) for t in texts], dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@dataclass
class FakeOpenAI:
    """State of the stand-in server: the requests it received."""

    base_url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    """A real HTTP server on 127.0.0.1 standing in for the remote OpenAI embeddings API.

    Model "broken" answers HTTP 500; model "short" returns one vector too few. Results are sent
    in reverse index order, as a real server may, to check the client sorts them.
    """
    state = FakeOpenAI(base_url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - name fixed by http.server
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(body)
            state.headers.append(dict(self.headers))
            if self.path != "/v1/embeddings":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
            elif body["model"] == "broken":
                self._send(500, {"error": {"message": "the embedding model crashed", "type": "server_error"}})
            else:
                inputs = body["input"]
                data = [{"object": "embedding", "index": i, "embedding": fake_vector(t)} for i, t in enumerate(inputs)]
                if body["model"] == "short":
                    data = data[1:]
                self._send(200, {"object": "list", "data": data[::-1], "model": body["model"]})

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            pass

    # Port 0: the OS picks a free port.
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def test_orders_by_index_and_normalises(fake_openai: FakeOpenAI) -> None:
    embedder = OpenAIEmbedder(fake_openai.base_url, "text-embedding-3-small", api_key="sk-test", dimension=DIM)
    texts = ["alpha", "a much longer second text", "", "δέλτα"]
    vectors = embedder.embed(texts)
    assert vectors.dtype == np.float32
    assert vectors.shape == (4, DIM)
    np.testing.assert_allclose(vectors, expected(texts), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert fake_openai.requests[-1] == {"model": "text-embedding-3-small", "input": texts}
    assert fake_openai.headers[-1]["Authorization"] == "Bearer sk-test"


def test_batches_across_several_requests(fake_openai: FakeOpenAI) -> None:
    embedder = OpenAIEmbedder(fake_openai.base_url, "text-embedding-3-small", dimension=DIM, batch_size=3)
    texts = [f"text number {i}" for i in range(8)]
    before = len(fake_openai.requests)
    vectors = embedder.embed(texts)
    sent = [r["input"] for r in fake_openai.requests[before:]]
    assert sent == [texts[0:3], texts[3:6], texts[6:8]]
    np.testing.assert_allclose(vectors, expected(texts), atol=1e-6)
    assert "Authorization" not in fake_openai.headers[-1]


def test_learns_dimension_from_first_response(fake_openai: FakeOpenAI) -> None:
    embedder = OpenAIEmbedder(fake_openai.base_url, "any-model")
    assert embedder.embed(["hello"]).shape == (1, DIM)
    assert embedder.dimension == DIM
    # Without any call yet, asking for the dimension probes the server once.
    fresh = OpenAIEmbedder(fake_openai.base_url, "any-model")
    assert fresh.dimension == DIM
    assert fresh.embed([]).shape == (0, DIM)
    assert isinstance(fresh, Embedder)


def test_dimension_mismatch_is_backend_failure(fake_openai: FakeOpenAI) -> None:
    embedder = OpenAIEmbedder(fake_openai.base_url, "any-model", dimension=1536)
    with pytest.raises(BackendFailure, match="4-dimensional"):
        embedder.embed(["hello"])


def test_http_500_raises_backend_failure(fake_openai: FakeOpenAI) -> None:
    embedder = OpenAIEmbedder(fake_openai.base_url, "broken", dimension=DIM)
    with pytest.raises(BackendFailure, match="HTTP 500.*the embedding model crashed") as info:
        embedder.embed(["hello"])
    assert info.value.status_code == 500


def test_missing_vectors_raise_backend_failure(fake_openai: FakeOpenAI) -> None:
    embedder = OpenAIEmbedder(fake_openai.base_url, "short", dimension=DIM)
    with pytest.raises(BackendFailure, match="3 vectors for 4 inputs"):
        embedder.embed(["a", "b", "c", "d"])


def test_unreachable_server_raises_backend_failure() -> None:
    # Port 9 (discard) on localhost: nothing listens there in the test environment.
    embedder = OpenAIEmbedder("http://127.0.0.1:9/v1", "any-model", dimension=DIM, timeout=5)
    with pytest.raises(BackendFailure, match="failed"):
        embedder.embed(["hello"])


def test_factory(fake_openai: FakeOpenAI) -> None:
    embedder = create_embedder("openai", base_url=fake_openai.base_url, model="m", api_key=None, dimension=DIM)
    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder.embed(["x"]).shape == (1, DIM)
    with pytest.raises(ValueError, match="local, openai"):
        create_embedder("cohere")
