"""`vectorhouse search STORE "query"`: the best passages as a table, matched words highlighted, or JSON."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from vectorhouse.remote.connect import client_for, guarded, resolve_store

_FILTER = re.compile(r"^\s*([^\s<>=!]+)\s*(>=|<=|!=|==|=|>|<)\s*(.*?)\s*$")
_OPS = {">=": "gte", "<=": "lte", "!=": "ne", "==": "eq", "=": "eq", ">": "gt", "<": "lt"}


def parse_value(raw: str) -> str | int | float | bool:
    """A filter or attribute value as typed: true/false, an integer, a number, else the text (quotes removed)."""
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def parse_filters(expressions: list[str]) -> dict[str, Any] | None:
    """'year>=2023' → OpenAI's comparison filter; several are ANDed."""
    comparisons = []
    for expression in expressions:
        found = _FILTER.match(expression)
        if found is None:
            raise ValueError(f"cannot read the filter {expression!r}: write key>=value (=, !=, <, <=, >, >=)")
        key, op, raw = found.groups()
        comparisons.append({"key": key, "type": _OPS[op], "value": parse_value(raw)})
    if not comparisons:
        return None
    return comparisons[0] if len(comparisons) == 1 else {"type": "and", "filters": comparisons}


def _search(args: argparse.Namespace) -> int:
    client = client_for(args)
    store = resolve_store(client, args.store)
    page = client.vector_stores.search(store.id, query=args.query, max_num_results=args.n,
                                       filters=parse_filters(args.filter or []),  # type: ignore[arg-type]
                                       extra_body={"search_mode": args.mode})
    if args.json:
        print(json.dumps(page.model_dump(), indent=2, ensure_ascii=False))
        return 0
    console = Console()
    if not page.data:
        console.print(f"no results in {store.name or store.id} for {args.query!r}")
        return 0
    table = Table(title=f"{store.name or store.id}: {args.query}", show_lines=True)
    table.add_column("score", justify="right")
    table.add_column("file")
    table.add_column("passage")
    words = [w for w in re.findall(r"\w+", args.query) if len(w) > 2]
    for hit in page.data:
        passage = Text(" ".join((hit.content[0].text if hit.content else "").split())[:600])
        passage.highlight_words(words, style="bold yellow", case_sensitive=False)
        table.add_row(f"{hit.score:.3f}", f"{hit.filename}\n{hit.file_id}", passage)
    console.print(table)
    return 0


def add_commands(commands: Any) -> None:
    from vectorhouse.remote import connection_arguments

    parser = commands.add_parser("search", help="search a store of a running server")
    parser.add_argument("store", help="the store's name or id")
    parser.add_argument("query")
    parser.add_argument("-n", type=int, default=5, help="how many results (default 5)")
    parser.add_argument("--mode", choices=("hybrid", "semantic", "full_text"), default="hybrid")
    parser.add_argument("--filter", action="append", help="an attribute filter like 'year>=2023' (repeatable: AND)")
    connection_arguments(parser)
    parser.set_defaults(handler=guarded(_search))
