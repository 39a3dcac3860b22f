"""Embedding models chosen per store, through the SDK: bge-small beside MiniLM, an endpoint's model of
another dimension beside both, on every backend; unknown names refused; queries embedded with the store's model.

The OpenAI-compatible endpoint is a stand-in (the remote embeddings API cannot run here): a real HTTP
server on loopback whose vectors are a deterministic function of the text, 8 numbers long.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from openai import BadRequestError

from tests.conftest import Server, serving, upload
from vectorhouse.embed.models import ModelRegistry

BGE = "bge-small-en-v1.5-int8"
ENDPOINT_MODEL = "stand-in-embedding-8"
DIM = 8
DOCS = {
    "volcano.txt": "Magma ascends through cracks in the crust until it erupts as lava.",
    "bees.txt": "Honeybees tell their hive mates where flowers are with a waggle dance.",
    "tides.txt": "The Moon's gravity pulls the oceans into two bulges, so coasts see two high tides a day.",
}


def stand_in_vector(text: str) -> list[float]:
    """The stand-in endpoint's vector for a text: the same text always gives the same vector."""
    digest = hashlib.sha256(text.encode()).digest()
    return [b - 127.5 for b in digest[:DIM]]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """FakeOpenAIEmbeddings: a stand-in for a remote OpenAI-compatible /v1/embeddings."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - name fixed by http.server
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            data = [{"object": "embedding", "index": i, "embedding": stand_in_vector(t)}
                    for i, t in enumerate(body["input"])]
            payload = json.dumps({"object": "list", "data": data, "model": body["model"]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{http.server_address[1]}/v1"
    http.shutdown()


@pytest.fixture(scope="module")
def models_server(backend: str, endpoint: str, tmp_path_factory: pytest.TempPathFactory,
                  request: pytest.FixtureRequest) -> Iterator[Server]:
    env = {"VECTORHOUSE_OPENAI_BASE_URL": endpoint, "VECTORHOUSE_OPENAI_EMBEDDING_MODELS": ENDPOINT_MODEL}
    with serving(backend, tmp_path_factory.mktemp(f"models-{backend}") / "data", request, env) as srv:
        yield srv


@pytest.fixture(scope="module")
def stores(models_server: Server) -> dict[str, str]:
    """One store per model, holding the same three files."""
    client = models_server.client()
    file_ids = [upload(client, name, text) for name, text in DOCS.items()]
    out = {}
    for model in ("all-MiniLM-L6-v2", BGE, ENDPOINT_MODEL):
        vs = client.vector_stores.create(name=model, extra_body={"embedding_model": model})
        batch = client.vector_stores.file_batches.create_and_poll(vector_store_id=vs.id, file_ids=file_ids)
        assert batch.file_counts.completed == len(DOCS), model
        out[model] = vs.id
    return out


def test_a_store_reports_its_model(models_server: Server, stores: dict[str, str]) -> None:
    client = models_server.client()
    for model, store_id in stores.items():
        assert client.vector_stores.retrieve(store_id).embedding_model == model  # type: ignore[attr-defined]
    listed = {s.id: s.embedding_model for s in client.vector_stores.list(limit=100)}  # type: ignore[attr-defined]
    assert {listed[store_id] for store_id in stores.values()} == set(stores)
    plain = client.vector_stores.create(name="default")
    assert plain.embedding_model == "all-MiniLM-L6-v2-int8"  # type: ignore[attr-defined]


def test_stores_of_different_models_and_dimensions_search_side_by_side(
        models_server: Server, stores: dict[str, str]) -> None:
    client = models_server.client()
    question = "what happens when hot liquid rock rises toward the surface"
    for model in ("all-MiniLM-L6-v2", BGE):
        hits = client.vector_stores.search(stores[model], query=question, extra_body={"search_mode": "semantic"})
        assert hits.data[0].filename == "volcano.txt", model
    # The endpoint's 8-number vectors: a document's own text is its nearest neighbour, at cosine 1.
    text = DOCS["bees.txt"]
    hits = client.vector_stores.search(stores[ENDPOINT_MODEL], query=text, extra_body={"search_mode": "semantic"})
    assert hits.data[0].filename == "bees.txt" and hits.data[0].score == pytest.approx(1.0, abs=1e-5)
    for store_id in stores.values():  # hybrid and keyword search work on every one of them
        assert client.vector_stores.search(store_id, query="waggle dance").data[0].filename == "bees.txt"


def test_queries_are_embedded_with_the_store_s_model_and_its_query_prefix(models_server: Server) -> None:
    client = models_server.client()
    query = "how do insects share where food is"
    # A store of one file, whose one chunk is embedded alone: int8 models quantise activations per
    # batch, so a chunk embedded beside others differs from itself alone in the third decimal.
    alone = client.vector_stores.create(name="alone", extra_body={"embedding_model": BGE})
    client.vector_stores.files.create_and_poll(vector_store_id=alone.id, file_id=upload(client, "bees.txt",
                                                                                        DOCS["bees.txt"]))
    bees = client.vector_stores.search(alone.id, query=query, extra_body={"search_mode": "semantic"}).data[0]
    bge = ModelRegistry(Path("~/.cache/vectorhouse/models")).get(BGE)
    document = bge.embed([DOCS["bees.txt"]])[0]
    with_prefix = float(bge.embed_queries([query])[0] @ document)
    without_prefix = float(bge.embed([query])[0] @ document)
    assert abs(with_prefix - without_prefix) > 1e-3  # the prefix matters, so the test can tell
    assert bees.score == pytest.approx(with_prefix, abs=1e-4)


def test_unknown_models_are_refused_naming_the_field(models_server: Server) -> None:
    client = models_server.client()
    for name in ("no-such-model", "../etc", ""):
        with pytest.raises(BadRequestError) as caught:
            client.vector_stores.create(name="x", extra_body={"embedding_model": name})
        error = caught.value.body  # type: ignore[assignment]
        assert error["param"] == "embedding_model" and "all-MiniLM-L6-v2" in error["message"]
    names = {s.name for s in client.vector_stores.list(limit=100)}
    assert "x" not in names  # nothing half-written


def test_a_pullable_model_not_installed_says_how_to_install_it(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    with serving("embedded", tmp_path / "data", request, {"VECTORHOUSE_MODEL_DIR": str(tmp_path / "none")}) as srv:
        with pytest.raises(BadRequestError) as caught:
            srv.client().vector_stores.create(name="x", extra_body={"embedding_model": BGE})
    assert f"vectorhouse models pull {BGE}" in caught.value.body["message"]  # type: ignore[index]


def test_a_store_s_model_is_kept_when_the_default_changes(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    data_dir = tmp_path / "data"
    with serving("embedded", data_dir, request) as srv:
        client = srv.client()
        store = client.vector_stores.create(name="kept")
        file_id = upload(client, "bees.txt", DOCS["bees.txt"])
        client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=file_id)
        before = client.vector_stores.search(store.id, query="insects dancing", extra_body={"search_mode": "semantic"})
    with serving("embedded", data_dir, request, {"VECTORHOUSE_EMBEDDING_MODEL": BGE}) as srv:
        client = srv.client()
        assert client.vector_stores.retrieve(store.id).embedding_model == "all-MiniLM-L6-v2-int8"  # type: ignore[attr-defined]
        after = client.vector_stores.search(store.id, query="insects dancing", extra_body={"search_mode": "semantic"})
        assert after.data[0].score == pytest.approx(before.data[0].score, abs=1e-5)
        assert client.vector_stores.create(name="new").embedding_model == BGE  # type: ignore[attr-defined]


def test_stores_from_before_models_keep_the_default_they_were_made_with(
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    data_dir = tmp_path / "data"
    with serving("embedded", data_dir, request) as srv:
        store = srv.client().vector_stores.create(name="old")
    with sqlite3.connect(data_dir / "catalog.db") as catalog:  # as a catalog from before the column was used
        catalog.execute("UPDATE vector_stores SET embedding_model = NULL")
    with serving("embedded", data_dir, request) as srv:
        assert srv.client().vector_stores.retrieve(store.id).embedding_model == "all-MiniLM-L6-v2-int8"  # type: ignore[attr-defined]
    with sqlite3.connect(data_dir / "catalog.db") as catalog:
        assert catalog.execute("SELECT embedding_model FROM vector_stores").fetchall() == [("all-MiniLM-L6-v2-int8",)]
