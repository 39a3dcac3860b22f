"""The everyday CLI against a real running server: `ingest` (folders, attributes, glob, skip unchanged, failures
and exit codes), `search` (table, JSON, filters), `stores` and `files`, and an unreachable server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, start_server


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("cli") / "data")
    yield server
    server.stop()


def cli(server: Server | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VECTORHOUSE_URL": server.base_url if server else "http://127.0.0.1:9",
           "OPENAI_API_KEY": "local", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "vectorhouse", *args], capture_output=True, text=True,
                          timeout=300, env=env)


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("docs")
    (root / "guides").mkdir()
    (root / "guides" / "keys.md").write_text("# Keys\n\nRotate keys monthly with vectorhouse keys revoke.")
    (root / "otters.txt").write_text("Sea otters hold hands while they sleep so they do not drift apart.")
    (root / "empty.txt").write_text("")
    (root / ".hidden.txt").write_text("never uploaded")
    (root / "notes.log").write_text("Kingfishers dive for fish in clear rivers.")
    return root


def test_ingest_search_and_rerun(remote: Server, docs: Path) -> None:
    first = cli(remote, "ingest", str(docs), "--store", "kb", "--create", "--attr", "team=docs", "--attr",
                "year=2024", "--glob", "*.txt")
    assert first.returncode == 1, first.stderr  # empty.txt fails, and says why
    assert "empty.txt" in first.stderr and "invalid_file" in first.stderr and "failed files" in first.stderr
    files = as_json(cli(remote, "files", "list", "--store", "kb", "--json"))
    by_path = {f["attributes"]["path"]: f for f in files}
    assert set(by_path) == {"otters.txt", "empty.txt"}  # the glob held; hidden files never go
    otters = by_path["otters.txt"]
    assert otters["status"] == "completed" and otters["attributes"]["team"] == "docs"
    assert otters["attributes"]["year"] == 2024 and len(otters["attributes"]["sha256"]) == 64

    everything = cli(remote, "ingest", str(docs), "--store", "kb")
    assert everything.returncode == 1  # empty.txt still fails; the rest went in
    assert "unchanged (skipped)" in everything.stderr
    files = as_json(cli(remote, "files", "list", "--store", "kb", "--json"))
    paths = sorted(f["attributes"]["path"] for f in files)
    assert paths == ["empty.txt", "guides/keys.md", "notes.log", "otters.txt"]  # one copy each, the failed retried
    assert [f["status"] for f in files if f["attributes"]["path"] == "empty.txt"] == ["failed"]

    (docs / "empty.txt").write_text("Now it has words about puffins.")
    fixed = cli(remote, "ingest", str(docs), "--store", "kb")
    assert fixed.returncode == 0, fixed.stderr
    files = as_json(cli(remote, "files", "list", "--store", "kb", "--json"))
    assert sorted(f["status"] for f in files) == ["completed"] * 4

    table = cli(remote, "search", "kb", "how often should keys be rotated", "-n", "2")
    assert table.returncode == 0, table.stderr
    assert table.stdout.index("keys.md") < table.stdout.index("file-", table.stdout.index("keys.md") + 10)
    found = as_json(cli(remote, "search", "kb", "otters sleeping", "--json", "--mode", "semantic"))
    assert found["data"][0]["filename"] == "otters.txt"
    only_2025 = as_json(cli(remote, "search", "kb", "otters", "--json", "--filter", "year>=2025"))
    assert only_2025["data"] == []
    team = as_json(cli(remote, "search", "kb", "otters", "--json", "--filter", "team=docs", "--filter", "year=2024"))
    assert team["data"] and all(d["attributes"]["team"] == "docs" for d in team["data"])
    bad = cli(remote, "search", "kb", "x", "--filter", "year ~ 3")
    assert bad.returncode == 2 and "cannot read the filter" in bad.stderr


def test_stores_and_files_commands(remote: Server, tmp_path: Path) -> None:
    made = as_json(cli(remote, "stores", "create", "scratch", "--json"))[0]
    assert made["name"] == "scratch" and made["id"].startswith("vs_")
    assert made["id"] in [s["id"] for s in as_json(cli(remote, "stores", "list", "--json"))]
    assert as_json(cli(remote, "stores", "show", "scratch", "--json"))[0]["id"] == made["id"]
    listing = cli(remote, "stores", "list")
    assert listing.returncode == 0 and "scratch" in listing.stdout
    (tmp_path / "a.txt").write_text("Alpha text about glaciers.")
    assert cli(remote, "ingest", str(tmp_path / "a.txt"), "--store", made["id"]).returncode == 0
    [attached] = as_json(cli(remote, "files", "list", "--store", "scratch", "--json"))
    assert as_json(cli(remote, "files", "show", attached["id"], "--json"))[0]["filename"] == "a.txt"
    assert as_json(cli(remote, "files", "show", attached["id"], "--store", "scratch", "--json"))[0]["status"] \
        == "completed"
    assert as_json(cli(remote, "files", "delete", attached["id"], "--json"))[0]["deleted"] is True
    assert as_json(cli(remote, "files", "list", "--store", "scratch", "--json")) == []
    assert as_json(cli(remote, "stores", "delete", "scratch", "--json"))[0]["deleted"] is True
    missing = cli(remote, "stores", "show", "scratch")
    assert missing.returncode == 2 and "no vector store named 'scratch'" in missing.stderr
    unknown = cli(remote, "files", "show", "file-nothere")
    assert unknown.returncode == 2 and "404" in unknown.stderr


def test_an_unreachable_server_is_one_line(tmp_path: Path) -> None:
    result = cli(None, "stores", "list")
    assert result.returncode == 2 and "cannot reach a vectorhouse server at http://127.0.0.1:9" in result.stderr
