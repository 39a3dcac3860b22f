"""Fuzz every route of OpenAI's own OpenAPI document (Files + Vector Stores) with schemathesis: no 5xx, ever."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from tests.conftest import Server

SPEC = Path(__file__).parent / "fixtures" / "openai-openapi-files-vector-stores.json"
schema = schemathesis.openapi.from_path(str(SPEC))


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case: schemathesis.Case, server: Server) -> None:
    response = case.call(base_url=server.api, headers={"Authorization": "Bearer local"}, timeout=60)
    assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text}"
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["message"] and error["type"]
