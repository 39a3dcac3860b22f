"""Fuzz every route of OpenAI's own OpenAPI document (Files + Vector Stores) with schemathesis: no 5xx, ever."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.conftest import Server, serving

SPEC = Path(__file__).parent / "fixtures" / "openai-openapi-files-vector-stores.json"
schema = schemathesis.openapi.from_path(str(SPEC))


@pytest.fixture(scope="module")
def keyed(backend: str, tmp_path_factory: pytest.TempPathFactory,
          request: pytest.FixtureRequest) -> Iterator[tuple[Server, str]]:
    """A server with auth on (a key exists), and that key: the fuzzing runs as a real tenant would."""
    with serving(backend, tmp_path_factory.mktemp(f"fuzz-{backend}") / "data", request) as srv:
        yield srv, srv.new_key("fuzz")


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case: schemathesis.Case, keyed: tuple[Server, str]) -> None:
    server, key = keyed
    response = case.call(base_url=server.api, headers={"Authorization": f"Bearer {key}"}, timeout=60)
    assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text}"
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["message"] and error["type"]
