"""The shape of the code, enforced: layers import one way (docs/architecture.md), no module passes 450 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vectorhouse"
MAX_LINES = 450
# For each layer, the vectorhouse packages it must never import (at module level or inside a function).
FORBIDDEN: dict[str, set[str]] = {
    "index": {"search", "service", "api", "compat", "bench", "cli"},
    "embed": {"index", "search", "service", "api", "compat", "bench", "cli"},
    "chat": {"index", "embed", "ingest", "catalog", "search", "service", "api", "compat", "bench", "cli"},
    "ingest": {"index", "search", "service", "api", "compat", "bench", "cli"},
    "catalog": {"index", "embed", "ingest", "search", "service", "api", "compat", "bench", "cli"},
    "blobs": {"index", "embed", "ingest", "search", "service", "api", "compat", "bench", "cli"},
    "schemas": {"search", "service", "api", "compat", "bench", "cli"},
    "search": {"service", "api", "compat", "bench", "cli"},
    "service": {"api", "compat", "bench", "cli"},
    "api": {"compat", "bench", "cli", "remote"},
    # The console is static pages behind the extension point: nothing of the server's insides.
    "console": {"index", "embed", "chat", "ingest", "catalog", "blobs", "schemas", "search", "service", "compat",
                "bench", "cli", "remote"},
    # The CLI's remote commands are a client of the HTTP API: none of the server's insides.
    "remote": {"index", "embed", "chat", "ingest", "catalog", "blobs", "schemas", "search", "service", "api",
               "compat", "bench"},
}
WEB = ("fastapi", "starlette", "uvicorn")
BELOW_API = {"index", "embed", "chat", "ingest", "catalog", "blobs", "schemas", "search", "service"}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def _imports(path: Path) -> set[str]:
    """Every module name the file imports, wherever the import statement stands."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _layer(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def violations(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        layer = _layer(path)
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "vectorhouse" and len(parts) > 1 and parts[1] in FORBIDDEN.get(layer, set()):
                found.append(f"{path.relative_to(PACKAGE.parent)}: {layer}/ imports {name}")
            if layer in BELOW_API and parts[0] in WEB:
                found.append(f"{path.relative_to(PACKAGE.parent)}: {layer}/ is below api/ and imports {name}")
    return sorted(set(found))


def test_layers_import_one_way() -> None:
    assert violations(_modules()) == []


def test_no_module_passes_450_lines() -> None:
    long = [f"{p.relative_to(PACKAGE.parent)}: {n} lines" for p in _modules()
            if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert long == []


def test_every_module_says_what_it_owns() -> None:
    missing = [str(p.relative_to(PACKAGE.parent)) for p in _modules()
               if p.stat().st_size and not ast.get_docstring(ast.parse(p.read_text()))]
    assert missing == []


@pytest.mark.parametrize(("layer", "source", "expected"), [
    ("index", "from vectorhouse.search.fusion import fuse_hybrid\n", "index/ imports vectorhouse.search.fusion"),
    ("index", "def f():\n    from vectorhouse.service import core\n", "index/ imports vectorhouse.service"),
    ("api", "import vectorhouse.compat.vector_stores_api\n", "api/ imports vectorhouse.compat.vector_stores_api"),
    ("service", "from fastapi import Request\n", "service/ is below api/ and imports fastapi"),
    ("search", "import starlette.requests\n", "search/ is below api/ and imports starlette.requests"),
])
def test_the_rules_catch_what_they_forbid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layer: str, source: str,
                                          expected: str) -> None:
    fake = tmp_path / "vectorhouse"
    (fake / layer).mkdir(parents=True)
    (fake / layer / "bad.py").write_text('"""A module breaking a rule."""\n' + source)
    monkeypatch.setattr(__import__(__name__, fromlist=["PACKAGE"]), "PACKAGE", fake)
    assert any(expected in v for v in violations([fake / layer / "bad.py"]))
