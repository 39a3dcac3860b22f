"""An Elasticsearch for tests: $VECTORHOUSE_TEST_ELASTICSEARCH_URL, else a node started by scripts/elasticsearch.sh.

Use as a session fixture (``tests/conftest.py`` adopts it). A configured URL that does not answer
fails the run: the elasticsearch backend is never skipped.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ENV_VAR = "VECTORHOUSE_TEST_ELASTICSEARCH_URL"
SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "elasticsearch.sh"


def _healthy(url: str) -> None:
    response = httpx.get(f"{url}/_cluster/health", params={"wait_for_status": "yellow", "timeout": "30s"},
                         timeout=40)
    response.raise_for_status()


def elasticsearch_url() -> Iterator[str]:
    url = os.environ.get(ENV_VAR, "").rstrip("/")
    if url:
        try:
            _healthy(url)
        except httpx.HTTPError as exc:
            raise RuntimeError(f"{ENV_VAR}={url} is configured but does not answer: {exc}") from exc
        yield url
        return
    started = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True, timeout=600)
    if started.returncode != 0:
        raise RuntimeError(f"scripts/elasticsearch.sh start failed:\n{started.stderr[-4000:]}")
    url = started.stdout.strip().splitlines()[-1]
    # A node that was already running (another suite's, on the same home) is left running.
    ours = "already running" not in started.stderr
    try:
        yield url
    finally:
        if ours:
            subprocess.run([str(SCRIPT), "stop"], capture_output=True, timeout=120)


def elasticsearch_env(url: str, prefix: str) -> dict[str, str]:
    """`vectorhouse serve` settings for new stores on that cluster, under that index prefix."""
    return {"VECTORHOUSE_INDEX": "elasticsearch", "VECTORHOUSE_ELASTICSEARCH_URL": url,
            "VECTORHOUSE_ELASTICSEARCH_INDEX_PREFIX": prefix}


@contextmanager
def scratch_prefix(url: str) -> Iterator[str]:
    """A fresh index-name prefix; its indices are deleted afterwards (a shared cluster stays clean)."""
    prefix = f"vh-test-{uuid.uuid4().hex[:10]}-"
    try:
        yield prefix
    finally:
        # By name: Elasticsearch 8 refuses wildcard deletes (action.destructive_requires_name).
        listed = httpx.get(f"{url}/_cat/indices/{prefix}*", params={"h": "index", "format": "json"}, timeout=60)
        names = [row["index"] for row in listed.json()] if listed.status_code == 200 else []
        for start in range(0, len(names), 50):
            httpx.delete(f"{url}/{','.join(names[start : start + 50])}", timeout=60).raise_for_status()
