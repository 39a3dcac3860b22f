"""API keys and projects through the real server: auth on once a key exists, project isolation, quotas, admin routes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import Server, free_port, start_server, upload
from tests.pg import scratch_database

ISOLATION_BACKENDS = ("embedded", "pgvector")


class Site:
    """A server, and clients of it with a given key."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.keys = server.keys
        self.new_key = server.new_key

    def client(self, key: str) -> OpenAI:
        return OpenAI(base_url=self.server.api, api_key=key, max_retries=0)

    def http(self, key: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.server.base_url, headers=headers, timeout=60)


def _site(backend: str, data_dir: Path, request: pytest.FixtureRequest, stack: ExitStack,
          env: dict[str, str] | None = None) -> Site:
    env = dict(env or {})
    if backend == "pgvector":
        url = stack.enter_context(scratch_database(request.getfixturevalue("postgres_url")))
        env.update({"VECTORHOUSE_DATABASE_URL": url, "VECTORHOUSE_INDEX": "pgvector"})
    server = start_server(data_dir, env)
    stack.callback(server.stop)
    return Site(server)


@pytest.fixture(scope="module", params=ISOLATION_BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with ExitStack() as stack:
        yield _site(request.param, tmp_path_factory.mktemp(f"keys-{request.param}") / "data", request, stack)


def _error(response: httpx.Response) -> dict:
    """OpenAI's envelope, or the /api flavour's body read into the same four fields."""
    body = response.json()
    if "statusCode" in body:
        return {"message": body["message"], "type": None, "param": body["parameter"], "code": body["error_code"]}
    assert set(body) == {"error"}, body
    return body["error"]


def test_keys_turn_auth_on_at_once_and_revoke_at_once(site: Site) -> None:
    open_client = site.client("anything")
    before = upload(open_client, "old.txt", "made while the server was open")
    assert site.http(None).get("/v1/files").status_code == 200  # no keys yet: open for local use

    created = site.keys("create", "--project", "default", "--name", "first")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("sk-proj-") and len(secret) > 40

    # No restart: the very next request needs a key, and the old token is not one.
    for key in (None, "anything", secret[:-1] + ("x" if secret[-1] != "x" else "y")):
        response = site.http(key).get("/v1/files")
        assert response.status_code == 401
        assert _error(response)["code"] == "invalid_api_key"
    for path in ("/v1/vector_stores", "/api/vector-stores", "/metrics", "/v1/no/such/route"):
        response = site.http(None).get(path)
        assert response.status_code == 401, path
    assert site.http(None).get("/health").status_code == 200
    with pytest.raises(openai.AuthenticationError):
        open_client.vector_stores.list()

    # Rows made while open belong to the default project, which this key acts in.
    assert before in [f.id for f in site.client(secret).files.list()]

    listed = site.keys("list")
    assert listed.returncode == 0
    assert secret not in listed.stdout and "first" in listed.stdout
    assert "last used never" not in listed.stdout.splitlines()[-1]  # the requests above were counted

    revoked = site.keys("revoke", secret)
    assert revoked.returncode == 0, revoked.stderr
    response = site.http(secret).get("/v1/files")
    assert response.status_code == 401 and _error(response)["code"] == "invalid_api_key"
    assert secret not in site.keys("list", "--all").stdout


def _same_as_unknown(theirs: httpx.Response, unknown: httpx.Response, their_id: str, unknown_id: str) -> None:
    """Another project's id answers exactly as an id that names nothing: status, code, param, message."""
    assert theirs.status_code == unknown.status_code, (theirs.text, unknown.text)
    a, b = _error(theirs), _error(unknown)
    assert a["code"] == b["code"] and a["param"] == b["param"]
    assert a["message"].replace(their_id, "ID") == b["message"].replace(unknown_id, "ID")


def test_projects_see_only_their_own(site: Site) -> None:
    alice = site.new_key("alice")
    bob = site.new_key("bob")
    a = site.client(alice)
    file_id = upload(a, "otters.txt", "Sea otters hold hands while they sleep so they do not drift apart.")
    store = a.vector_stores.create(name="alice-store")
    a.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=file_id, poll_interval_ms=100)
    batch = a.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=[upload(a, "b.txt", "batch text")])
    assert a.vector_stores.search(store.id, query="otters sleeping").data

    b = site.client(bob)
    bob_file = upload(b, "bob.txt", "Bob's own notes about volcanoes.")
    bob_store = b.vector_stores.create(name="bob-store")
    unknown_file, unknown_store, unknown_batch = "file-" + "Z" * 24, "vs_" + "Z" * 24, "vsfb_" + "Z" * 24
    cases = [
        ("GET", "/v1/files/{f}", None),
        ("GET", "/v1/files/{f}/content", None),
        ("DELETE", "/v1/files/{f}", None),
        ("GET", "/v1/vector_stores/{s}", None),
        ("POST", "/v1/vector_stores/{s}", {"name": "taken"}),
        ("POST", "/v1/vector_stores/{s}/search", {"query": "otters"}),
        ("GET", "/v1/vector_stores/{s}/files", None),
        ("POST", "/v1/vector_stores/{s}/files", {"file_id": bob_file}),
        ("GET", "/v1/vector_stores/{s}/files/{f}", None),
        ("POST", "/v1/vector_stores/{s}/files/{f}", {"attributes": {"x": 1}}),
        ("GET", "/v1/vector_stores/{s}/files/{f}/content", None),
        ("DELETE", "/v1/vector_stores/{s}/files/{f}", None),
        ("POST", "/v1/vector_stores/{s}/file_batches", {"file_ids": [bob_file]}),
        ("GET", "/v1/vector_stores/{s}/file_batches/{b}", None),
        ("POST", "/v1/vector_stores/{s}/file_batches/{b}/cancel", None),
        ("GET", "/v1/vector_stores/{s}/file_batches/{b}/files", None),
        ("POST", "/api/vector-stores/{s}/poll", None),
        ("GET", "/api/vector-stores/{s}", None),
        ("DELETE", "/v1/vector_stores/{s}", None),
        # Bob's own store, Alice's file: attaching another project's file is refused as unknown.
        ("POST", f"/v1/vector_stores/{bob_store.id}/files", {"file_id": "{f}"}),
        ("POST", f"/v1/vector_stores/{bob_store.id}/file_batches", {"file_ids": ["{f}"]}),
        ("POST", "/v1/vector_stores", {"file_ids": ["{f}"]}),
    ]
    with site.http(bob) as http:
        for method, path, body in cases:
            def fill(text: str, f: str, s: str, b_: str) -> str:
                return text.replace("{f}", f).replace("{s}", s).replace("{b}", b_)

            def send(f: str, s: str, b_: str, method: str = method, path: str = path,
                     body: dict | None = body) -> httpx.Response:
                payload = None if body is None else {
                    k: (fill(v, f, s, b_) if isinstance(v, str) else [fill(x, f, s, b_) for x in v]
                        if isinstance(v, list) else v) for k, v in body.items()}
                return http.request(method, fill(path, f, s, b_), json=payload)

            theirs = send(file_id, store.id, batch.id)
            unknown = send(unknown_file, unknown_store, unknown_batch)
            assert theirs.status_code == 404, (method, path, theirs.text)
            for their_id, unknown_id in ((file_id, unknown_file), (store.id, unknown_store), (batch.id, unknown_batch)):
                if their_id in _error(theirs)["message"]:
                    _same_as_unknown(theirs, unknown, their_id, unknown_id)
                    break
            else:
                assert _error(theirs) == _error(unknown), (method, path)
        # Lists never show them, and their ids are no cursor here either.
        assert file_id not in [f["id"] for f in http.get("/v1/files").json()["data"]]
        assert [s["id"] for s in http.get("/v1/vector_stores").json()["data"]] == [bob_store.id]
        _same_as_unknown(http.get("/v1/vector_stores", params={"after": store.id}),
                         http.get("/v1/vector_stores", params={"after": unknown_store}), store.id, unknown_store)

    # Alice's objects are untouched by all of Bob's attempts.
    assert a.files.retrieve(file_id).id == file_id
    assert a.vector_stores.retrieve(store.id).name == "alice-store"
    assert a.vector_stores.files.retrieve(vector_store_id=store.id, file_id=file_id).attributes in (None, {})
    assert [s.id for s in a.vector_stores.list()] == [store.id]


def test_collections_belong_to_their_project(site: Site) -> None:
    alice, bob = site.new_key("alice-kb"), site.new_key("bob-kb")
    with site.http(alice) as a, site.http(bob) as b:
        made = a.post("/v1/api/collection/create", json={"collection": "kb"}).json()
        [doc] = a.post("/v1/api/index", json={"collection": "kb", "documents": [{"content": "Alice's otters."}]}
                       ).json()["ids"]
        assert "kb" not in b.get("/v1/api/collection").json()["collections"]
        for name in ("kb", made["id"]):  # by name and by store id: both unknown to Bob
            for response in (b.post("/v1/api/search", json={"collection": name, "search_text": "otters"}),
                             b.get("/v1/api/collection/data", params={"collection": name}),
                             b.request("DELETE", "/v1/api/delete_index", json={"collection": name})):
                assert response.status_code == 404 and _error(response)["code"] == "collection_not_found"
        # Names are unique per project: Bob has a "kb" of his own, and Alice's documents are not in it.
        assert b.post("/v1/api/collection/create", json={"collection": "kb"}).status_code == 200
        gone = b.request("DELETE", "/v1/api/collection/delete_by_ids", json={"collection": "kb", "ids": [doc]})
        assert gone.json() == {"deleted": 0}
        assert [d["id"] for d in a.get("/v1/api/collection/data", params={"collection": "kb"}).json()["details"]] \
            == [doc]


def test_admin_keys_manage_keys_over_http(site: Site) -> None:
    member = site.new_key("carol")
    admin = site.new_key("ops", "--admin")
    assert admin.startswith("sk-admin-")
    denied = site.http(member).get("/v1/organization/projects")
    assert denied.status_code == 403 and _error(denied)["code"] == "insufficient_permissions"

    with site.http(admin) as http:
        names = [p["name"] for p in http.get("/v1/organization/projects").json()["data"]]
        assert {"carol", "ops"} <= set(names)
        project = http.post("/v1/organization/projects", json={"name": "dave"}).json()
        assert project["object"] == "organization.project" and project["id"].startswith("proj_")
        made = http.post(f"/v1/organization/projects/{project['id']}/api_keys", json={"name": "ci"}).json()
        assert made["object"] == "organization.project.api_key" and made["value"].startswith("sk-proj-")
        listing = http.get("/v1/organization/projects/dave/api_keys").json()
        assert [k["id"] for k in listing["data"]] == [made["id"]]
        assert all(k["value"] is None for k in listing["data"])  # the secret is never shown again
        assert made["value"][-4:] in listing["data"][0]["redacted_value"]

        dave = site.client(made["value"])
        assert list(dave.vector_stores.list()) == []
        # A key is found only under its own project.
        assert http.get(f"/v1/organization/projects/carol/api_keys/{made['id']}").status_code == 404
        deleted = http.delete(f"/v1/organization/projects/dave/api_keys/{made['id']}").json()
        assert deleted == {"object": "organization.project.api_key.deleted", "id": made["id"], "deleted": True}
    with pytest.raises(openai.AuthenticationError):
        dave.vector_stores.list()


def test_quotas_per_project(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    with ExitStack() as stack:
        site = _site("embedded", tmp_path / "data", request, stack,
                     {"VECTORHOUSE_PROJECT_MAX_VECTOR_STORES": "2", "VECTORHOUSE_PROJECT_MAX_FILE_BYTES": "1000"})
        a, b = site.client(site.new_key("a")), site.client(site.new_key("b"))
        a.vector_stores.create(name="1")
        a.vector_stores.create(name="2")
        with pytest.raises(openai.RateLimitError) as caught:
            a.vector_stores.create(name="3")
        assert caught.value.code == "vector_store_limit_exceeded"
        assert len(list(a.vector_stores.list())) == 2
        assert b.vector_stores.create(name="1").id  # quotas are per project

        upload(a, "600.txt", "x" * 600)
        blobs = sorted(p.name for p in (tmp_path / "data" / "blobs").rglob("*") if p.is_file())
        with pytest.raises(openai.RateLimitError):
            upload(a, "500.txt", "y" * 500)
        assert [f.filename for f in a.files.list()] == ["600.txt"]
        assert sorted(p.name for p in (tmp_path / "data" / "blobs").rglob("*") if p.is_file()) == blobs
        assert upload(b, "500.txt", "y" * 500)


def _serve(data_dir: Path, *flags: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    import os

    return subprocess.Popen([sys.executable, "-m", "vectorhouse", "serve", "--host", "0.0.0.0",
                             "--port", str(free_port()), "--data-dir", str(data_dir), *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})


def test_serve_refuses_an_open_network_host(tmp_path: Path) -> None:
    refused = _serve(tmp_path / "data")
    output, _ = refused.communicate(timeout=120)
    assert refused.returncode == 2
    assert "refusing to listen on 0.0.0.0 with no API keys" in output and "--allow-anonymous" in output

    subprocess.run([sys.executable, "-m", "vectorhouse", "keys", "create", "--project", "p", "--data-dir",
                    str(tmp_path / "data")], check=True, capture_output=True, timeout=120)
    for flags, data_dir in (((), tmp_path / "data"), (("--allow-anonymous",), tmp_path / "open")):
        started = _serve(data_dir, *flags)
        try:
            with pytest.raises(subprocess.TimeoutExpired):
                started.wait(5)  # it starts and keeps running
        finally:
            started.terminate()
            started.wait(30)


def test_auth_required_with_no_key_refuses_everyone(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", {"VECTORHOUSE_AUTH": "required"})
    try:
        response = httpx.get(server.api + "/files", headers={"Authorization": "Bearer local"})
        assert response.status_code == 401 and _error(response)["code"] == "invalid_api_key"
        assert httpx.get(server.base_url + "/health").status_code == 200
    finally:
        server.stop()


def test_a_catalog_from_before_projects_upgrades_into_the_default_project(tmp_path: Path) -> None:
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from sqlalchemy import select, text

    from vectorhouse.catalog import DEFAULT_PROJECT_ID, Catalog, files, projects
    from vectorhouse.catalog.database import MIGRATIONS, sqlite_engine
    from vectorhouse.catalog.tables import metadata

    engine = sqlite_engine(tmp_path / "catalog.db")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
        conn.execute(text("INSERT INTO files (id, created_at, filename, purpose, bytes, sha256) "
                          "VALUES ('file-old', 1, 'a.txt', 'assistants', 1, :sha)"), {"sha": "0" * 64})
    catalog = Catalog(engine)  # migrates to the newest schema
    with catalog.read() as conn:
        assert conn.execute(select(files.c.project_id).where(files.c.id == "file-old")).scalar() == DEFAULT_PROJECT_ID
        assert conn.execute(select(projects.c.name).where(projects.c.id == DEFAULT_PROJECT_ID)).scalar() == "default"
        # The migrations make exactly the tables the code declares.
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    catalog.close()
