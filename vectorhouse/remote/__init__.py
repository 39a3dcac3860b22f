"""The everyday CLI over the HTTP API (`ingest`, `search`, `stores`, `files`): any running vectorhouse, via the SDK."""

from __future__ import annotations

import argparse
from typing import Any


def add_remote_commands(commands: Any) -> None:
    """Register the commands that talk to a running server on the `vectorhouse` parser."""
    from vectorhouse.remote import ingest, resources, search

    for module in (ingest, search, resources):
        module.add_commands(commands)


def connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="the server (default $VECTORHOUSE_URL, else http://127.0.0.1:8000)")
    parser.add_argument("--api-key", help="a key from `vectorhouse keys create` (default $OPENAI_API_KEY)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
