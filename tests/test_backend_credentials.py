"""Reaching backends safely: Elasticsearch credentials and TLS options, PostgreSQL sslmode, secrets never echoed."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port, start_server, upload
from tests.es import elasticsearch_env, scratch_prefix
from tests.tcp import Link
from vectorhouse.config import Settings, postgres_conninfo
from vectorhouse.index.factory import available_backends, elasticsearch_connection

SECRET = "hunter2-Secret-Value"


def test_elasticsearch_connection_options_from_settings() -> None:
    assert elasticsearch_connection(Settings(elasticsearch_url="http://es:9200")) == {}
    keyed = elasticsearch_connection(Settings(elasticsearch_url="https://es:9200", elasticsearch_api_key="abc",
                                              elasticsearch_ca_certs="/etc/ca.pem"))
    assert keyed == {"api_key": "abc", "verify_certs": True, "ca_certs": "/etc/ca.pem"}
    basic = elasticsearch_connection(Settings(elasticsearch_url="https://es:9200", elasticsearch_username="u",
                                              elasticsearch_password="p", elasticsearch_verify_certs=False))
    assert basic == {"basic_auth": ("u", "p"), "verify_certs": False}
    cloud = Settings(elasticsearch_cloud_id="name:" + base64.b64encode(b"example.com$abc$def").decode())
    assert elasticsearch_connection(cloud)["cloud_id"] == cloud.elasticsearch_cloud_id
    assert "elasticsearch" in available_backends(cloud)  # a cloud id alone makes the backend available


def test_postgres_tls_settings_join_the_url() -> None:
    settings = Settings(database_url="postgresql://u@db/x", database_sslmode="verify-full",
                        database_sslrootcert="/etc/root.crt")
    assert postgres_conninfo(settings) == "postgresql://u@db/x?sslmode=verify-full&sslrootcert=%2Fetc%2Froot.crt"
    # What the URL itself says wins.
    explicit = Settings(database_url="postgresql://u@db/x?sslmode=disable", database_sslmode="require")
    assert postgres_conninfo(explicit) == "postgresql://u@db/x?sslmode=disable"


def test_elasticsearch_api_key_goes_on_the_wire(elasticsearch_url: str, tmp_path: Path) -> None:
    link = Link(elasticsearch_url)
    link.up()
    try:
        with scratch_prefix(link.url) as prefix:
            env = {**elasticsearch_env(link.url, prefix), "VECTORHOUSE_INDEX": "elasticsearch",
                   "VECTORHOUSE_ELASTICSEARCH_API_KEY": SECRET}
            server = start_server(tmp_path / "data", env)
            try:
                client = server.client()
                store = client.vector_stores.create(name="keyed")
                file_id = upload(client, "a.txt", "Sea otters hold hands while they sleep.")
                client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=file_id,
                                                           poll_interval_ms=100)
                assert client.vector_stores.search(store.id, query="otters").data
            finally:
                server.stop()
        assert f"authorization: apikey {SECRET}".lower().encode() in link.sent.lower()
        assert SECRET not in server.log()
    finally:
        link.down()


def _failed_start(tmp_path: Path, env: dict[str, str]) -> str:
    import os

    result = subprocess.run([sys.executable, "-m", "vectorhouse", "serve", "--port", str(free_port()),
                             "--data-dir", str(tmp_path / "data")], capture_output=True, text=True, timeout=180,
                            env={**os.environ, **env})
    assert result.returncode != 0
    return result.stdout + result.stderr


@pytest.mark.parametrize("env", [
    {"VECTORHOUSE_DATABASE_URL": f"postgresql://vh:{SECRET}@127.0.0.1:{free_port()}/vh"},
    {"VECTORHOUSE_ELASTICSEARCH_URL": f"http://elastic:{SECRET}@127.0.0.1:{free_port()}",
     "VECTORHOUSE_INDEX": "elasticsearch"},
    {"VECTORHOUSE_ELASTICSEARCH_URL": f"http://127.0.0.1:{free_port()}", "VECTORHOUSE_ELASTICSEARCH_USERNAME": "e",
     "VECTORHOUSE_ELASTICSEARCH_PASSWORD": SECRET, "VECTORHOUSE_INDEX": "elasticsearch"},
], ids=["postgres-url", "elasticsearch-url", "elasticsearch-basic-auth"])
def test_credentials_are_never_echoed(tmp_path: Path, env: dict[str, str]) -> None:
    output = _failed_start(tmp_path, env)
    assert "unreachable" in output.lower() or "connect" in output.lower(), output[-2000:]
    assert SECRET not in output


def test_postgres_sslmode_reaches_the_driver(postgres_url: str, tmp_path: Path) -> None:
    # The test server speaks no TLS: sslmode=require must make the connection fail, saying why.
    output = _failed_start(tmp_path, {"VECTORHOUSE_DATABASE_URL": postgres_url,
                                      "VECTORHOUSE_DATABASE_SSLMODE": "require"})
    assert "SSL" in output, output[-2000:]
