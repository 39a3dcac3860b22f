"""`vectorhouse ingest PATH... --store S`: walk folders, upload in parallel, attach through file batches with a live
progress display, skip files the store holds with the same bytes (a changed file replaces its old copy), end with a
summary (exit 1 on failures)."""

from __future__ import annotations

import argparse
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openai import OpenAI
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from vectorhouse.remote.connect import client_for, guarded, resolve_store
from vectorhouse.remote.search import parse_value

BATCH_FILES = 500  # per file batch (OpenAI allows 2000; smaller batches report progress sooner)
HASH_KEY = "sha256"  # the attribute that lets a re-run skip files the store already has
PATH_KEY = "path"


@dataclass
class Source:
    path: Path
    name: str  # relative to the folder it was found in
    sha256: str
    file_id: str | None = None
    status: str = "pending"
    error: str = ""


def find_files(paths: list[str], pattern: str | None) -> list[tuple[Path, str]]:
    """Files named, and files under folders named (matching `pattern`), hidden ones left out, in order."""
    found: list[tuple[Path, str]] = []
    for given in paths:
        root = Path(given)
        if root.is_dir():
            for path in sorted(root.rglob(pattern or "*")):
                relative = path.relative_to(root)
                if path.is_file() and not any(part.startswith(".") for part in relative.parts):
                    found.append((path, str(relative)))
        elif root.is_file():
            found.append((root, root.name))
        else:
            raise FileNotFoundError(f"no such file or folder: {given}")
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _held(client: OpenAI, store_id: str) -> tuple[set[str], list[tuple[str, str, str, str]]]:
    """The content hashes the store holds in progress or completed, and every store file ingest made as
    (id, status, path, sha256): a file sent again replaces those at its path, and failed copies of its bytes."""
    held: set[str] = set()
    made: list[tuple[str, str, str, str]] = []
    for item in client.vector_stores.files.list(vector_store_id=store_id, limit=100):
        sha, path = (item.attributes or {}).get(HASH_KEY), (item.attributes or {}).get(PATH_KEY)
        if isinstance(sha, str):
            made.append((item.id, item.status, str(path), sha))
            if item.status in ("completed", "in_progress"):
                held.add(sha)
    return held, made


def _chunking(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.chunk_size is None:
        return None
    overlap = args.chunk_overlap if args.chunk_overlap is not None else min(400, args.chunk_size // 4)
    return {"type": "static", "static": {"max_chunk_size_tokens": args.chunk_size, "chunk_overlap_tokens": overlap}}


def _ingest(args: argparse.Namespace) -> int:
    client = client_for(args)
    console = Console(stderr=True)
    store = resolve_store(client, args.store, create=args.create)
    attributes = {}
    for item in args.attr or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"cannot read --attr {item!r}: write key=value")
        attributes[key] = parse_value(raw)
    found = find_files(args.paths, args.glob)
    held, made = _held(client, store.id)
    sources = [Source(path, name, sha) for path, name in found if (sha := _sha256(path)) not in held]
    skipped = len(found) - len(sources)
    for source in sources:  # what it replaces leaves the store (the uploaded file itself stays in Files)
        for stale_id, status, path, sha in made:
            if path == source.name or (sha == source.sha256 and status in ("failed", "cancelled")):
                client.vector_stores.files.delete(stale_id, vector_store_id=store.id)
    started = time.monotonic()
    plain = not console.is_terminal
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, disable=plain) as progress:
        uploading = progress.add_task("uploaded", total=len(sources), rate="")
        indexing = progress.add_task("indexed", total=len(sources), rate="")

        def upload(source: Source) -> None:
            with source.path.open("rb") as handle:
                source.file_id = client.files.create(file=(source.name, handle), purpose="assistants").id
            progress.advance(uploading)
            if plain:
                console.print(f"uploaded {source.name}")

        with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
            list(pool.map(upload, sources))
        by_id = {s.file_id: s for s in sources}
        done = 0
        for start in range(0, len(sources), BATCH_FILES):
            part = sources[start:start + BATCH_FILES]
            files = [{"file_id": s.file_id, "attributes": {**attributes, PATH_KEY: s.name, HASH_KEY: s.sha256},
                      **({"chunking_strategy": chunking} if (chunking := _chunking(args)) else {})} for s in part]
            batch = client.vector_stores.file_batches.create(vector_store_id=store.id, files=files)  # type: ignore[arg-type]
            while batch.status == "in_progress":
                time.sleep(0.5)
                batch = client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id)
                counts = batch.file_counts
                finished = done + counts.completed + counts.failed + counts.cancelled
                rate = finished / max(1e-9, time.monotonic() - started)
                progress.update(indexing, completed=finished, rate=f"{rate:.1f} files/s, {counts.failed} failed")
            for item in client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id, limit=100):
                source = by_id.get(item.id)
                if source is not None:
                    source.status = item.status
                    source.error = f"{item.last_error.code}: {item.last_error.message}" if item.last_error else ""
            done += len(part)
            progress.update(indexing, completed=done)
            if plain:
                console.print(f"indexed {done}/{len(sources)}")
    failed = [s for s in sources if s.status != "completed"]
    _summary(console, store, len(found), skipped, sources, failed, time.monotonic() - started)
    return 1 if failed else 0


def _summary(console: Console, store: Any, found: int, skipped: int, sources: list[Source], failed: list[Source],
             elapsed: float) -> None:
    table = Table(title=f"ingested into {store.name or store.id} ({store.id})")
    for column in ("found", "unchanged (skipped)", "uploaded", "completed", "failed", "seconds"):
        table.add_column(column, justify="right")
    table.add_row(str(found), str(skipped), str(len(sources)), str(len(sources) - len(failed)), str(len(failed)),
                  f"{elapsed:.1f}")
    console.print(table)
    if failed:
        errors = Table(title="failed files")
        errors.add_column("file")
        errors.add_column("status")
        errors.add_column("last_error")
        for source in failed:
            errors.add_row(source.name, source.status, source.error)
        console.print(errors)


def add_commands(commands: Any) -> None:
    from vectorhouse.remote import connection_arguments

    parser = commands.add_parser("ingest", help="upload files and folders into a store of a running server")
    parser.add_argument("paths", nargs="+", metavar="PATH")
    parser.add_argument("--store", required=True, help="the store's name or id")
    parser.add_argument("--create", action="store_true", help="make the store when no store has that name")
    parser.add_argument("--attr", action="append", metavar="KEY=VALUE", help="an attribute for every file")
    parser.add_argument("--glob", help="in folders, only files matching this pattern (e.g. '*.pdf')")
    parser.add_argument("--chunk-size", type=int, help="max_chunk_size_tokens of a static chunking strategy")
    parser.add_argument("--chunk-overlap", type=int, help="chunk_overlap_tokens (default a quarter of the size)")
    parser.add_argument("--parallel", type=int, default=4, help="uploads at once (default 4)")
    connection_arguments(parser)
    parser.set_defaults(handler=guarded(_ingest))
