"""`vectorhouse stores list|create|show|delete` and `vectorhouse files list|show|delete` against a running server."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from typing import Any

from rich.console import Console
from rich.table import Table

from vectorhouse.remote.connect import client_for, guarded, resolve_store


def _when(timestamp: int | None) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M") if timestamp else ""


def _emit(args: argparse.Namespace, objects: list[Any], columns: list[str], rows: list[list[str]]) -> int:
    if args.json:
        print(json.dumps([o.model_dump() for o in objects], indent=2, ensure_ascii=False))
        return 0
    table = Table()
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console().print(table)
    return 0


def _store_row(s: Any) -> list[str]:
    counts = s.file_counts
    return [s.id, s.name or "", s.status, f"{counts.completed}/{counts.total}" + (f" ({counts.failed} failed)"
            if counts.failed else ""), str(s.usage_bytes), _when(s.created_at)]


STORE_COLUMNS = ["id", "name", "status", "files", "bytes", "created"]


def _stores(args: argparse.Namespace) -> int:
    client = client_for(args)
    if args.action == "list":
        stores = list(client.vector_stores.list(limit=100))
        return _emit(args, stores, STORE_COLUMNS, [_store_row(s) for s in stores])
    if args.action == "create":
        extra = {k: v for k, v in (("embedding_model", args.model), ("backend", args.backend)) if v}
        store = client.vector_stores.create(name=args.name, extra_body=extra or None)
        return _emit(args, [store], STORE_COLUMNS, [_store_row(store)])
    store = resolve_store(client, args.name)
    if args.action == "show":
        return _emit(args, [store], STORE_COLUMNS, [_store_row(store)])
    deleted = client.vector_stores.delete(store.id)
    return _emit(args, [deleted], ["id", "deleted"], [[deleted.id, str(deleted.deleted)]])


def _files(args: argparse.Namespace) -> int:
    client = client_for(args)
    if args.store:
        store = resolve_store(client, args.store)
        if args.action == "list":
            items = list(client.vector_stores.files.list(vector_store_id=store.id, limit=100))
            rows = [[f.id, f.status, str((f.attributes or {}).get("path", "")), str(f.usage_bytes),
                     f"{f.last_error.code}: {f.last_error.message}" if f.last_error else ""] for f in items]
            return _emit(args, items, ["id", "status", "path", "bytes", "last_error"], rows)
        if args.action == "show":
            item = client.vector_stores.files.retrieve(args.file_id, vector_store_id=store.id)
            return _emit(args, [item], ["id", "status", "attributes"],
                         [[item.id, item.status, json.dumps(item.attributes or {})]])
        gone = client.vector_stores.files.delete(args.file_id, vector_store_id=store.id)  # detach only
        return _emit(args, [gone], ["id", "deleted"], [[gone.id, str(gone.deleted)]])
    if args.action == "list":
        files = list(client.files.list(limit=100))
        return _emit(args, files, ["id", "filename", "bytes", "purpose", "created"],
                     [[f.id, f.filename, str(f.bytes), f.purpose, _when(f.created_at)] for f in files])
    if args.action == "show":
        file = client.files.retrieve(args.file_id)
        return _emit(args, [file], ["id", "filename", "bytes", "purpose", "created"],
                     [[file.id, file.filename, str(file.bytes), file.purpose, _when(file.created_at)]])
    deleted = client.files.delete(args.file_id)  # leaves every store
    return _emit(args, [deleted], ["id", "deleted"], [[deleted.id, str(deleted.deleted)]])


def add_commands(commands: Any) -> None:
    from vectorhouse.remote import connection_arguments

    stores = commands.add_parser("stores", help="vector stores of a running server")
    actions = stores.add_subparsers(dest="action", required=True)
    for action, help_text in (("list", "every store"), ("create", "a new store"), ("show", "one store"),
                              ("delete", "delete a store (its files stay)")):
        sub = actions.add_parser(action, help=help_text)
        if action != "list":
            sub.add_argument("name", metavar="NAME" if action == "create" else "NAME_OR_ID")
        if action == "create":
            sub.add_argument("--model", help="its embedding model (`vectorhouse models list`)")
            sub.add_argument("--backend", help="its index backend")
        connection_arguments(sub)
        sub.set_defaults(handler=guarded(_stores))
    files = commands.add_parser("files", help="files of a running server, or of one store with --store")
    file_actions = files.add_subparsers(dest="action", required=True)
    for action, help_text in (("list", "files"), ("show", "one file"),
                              ("delete", "delete a file (with --store: detach it from that store)")):
        sub = file_actions.add_parser(action, help=help_text)
        if action != "list":
            sub.add_argument("file_id")
        sub.add_argument("--store", help="a store's name or id: its files")
        connection_arguments(sub)
        sub.set_defaults(handler=guarded(_files))
