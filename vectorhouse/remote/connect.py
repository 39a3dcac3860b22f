"""The SDK client the CLI commands share: where the server is, which key, and errors as one readable line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

import openai
from openai import OpenAI

DEFAULT_URL = "http://127.0.0.1:8000"


def client_for(args: argparse.Namespace) -> OpenAI:
    url = (args.url or os.environ.get("VECTORHOUSE_URL") or DEFAULT_URL).rstrip("/")
    key = args.api_key or os.environ.get("OPENAI_API_KEY") or "local"
    return OpenAI(base_url=url + "/v1", api_key=key, max_retries=2)


def resolve_store(client: OpenAI, name_or_id: str, create: bool = False) -> Any:
    """A store by id (`vs_…`) or by name (the newest of that name); made when asked and missing."""
    if name_or_id.startswith("vs_"):
        return client.vector_stores.retrieve(name_or_id)
    for store in client.vector_stores.list(limit=100):
        if store.name == name_or_id:
            return store
    if create:
        return client.vector_stores.create(name=name_or_id)
    raise LookupError(f"no vector store named '{name_or_id}' (give its id, or --create)")


def guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """The command, with the server's errors and an unreachable server said in one line (exit 2)."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except openai.APIConnectionError:
            url = args.url or os.environ.get("VECTORHOUSE_URL") or DEFAULT_URL
            print(f"vectorhouse {args.command}: cannot reach a vectorhouse server at {url}", file=sys.stderr)
        except openai.APIStatusError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            print(f"vectorhouse {args.command}: {exc.status_code} {body.get('message') or exc.message}",
                  file=sys.stderr)
        except (LookupError, ValueError, OSError) as exc:
            print(f"vectorhouse {args.command}: {exc}", file=sys.stderr)
        return 2

    return run
