"""`vectorhouse bench load`: concurrent SDK clients in several projects, mixed traffic, then: was anything lost?"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openai
from openai import AsyncOpenAI

from vectorhouse.bench.metrics import percentile
from vectorhouse.bench.server import bench_server

# Share of each kind of request in the mix; uploads are followed by an attach of the same file.
MIX = (("search", 0.5), ("upload", 0.15), ("list", 0.25), ("retrieve", 0.1))
WORDS = ("harbour lantern orchard copper meadow glacier violin pepper canyon ember falcon quarry ribbon "
         "saddle tundra walnut beacon cobalt dune fern granite hollow island jasmine kettle lagoon").split()
SETTLE_SECONDS = 600.0  # how long accepted files may take to finish after the traffic stops


@dataclass
class Outcome:
    """What the clients saw: latencies per kind, and every answer that was not a 2xx or an expected 4xx."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    server_errors: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    accepted: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # file id -> (key, store, token)

    def record(self, kind: str, started: float) -> None:
        self.latencies[kind].append((time.perf_counter() - started) * 1000)


@dataclass(frozen=True)
class Tenant:
    key: str
    store_id: str


def _make_key(data_dir: Path, project: str) -> str:
    result = subprocess.run([sys.executable, "-m", "vectorhouse", "keys", "create", "--project", project,
                             "--data-dir", str(data_dir)], capture_output=True, text=True, check=True,
                            env=dict(os.environ))
    return result.stdout.strip().splitlines()[-1]


def _text(rng: random.Random, token: str) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(40, 160))]
    words.insert(rng.randrange(len(words)), token)
    return " ".join(words)


async def _call(outcome: Outcome, kind: str, make: object) -> object | None:
    started = time.perf_counter()
    try:
        result = await make  # type: ignore[misc]
    except openai.APIStatusError as exc:
        line = f"{kind}: {exc.status_code} {exc.message[:160]}"
        (outcome.server_errors if exc.status_code >= 500 else outcome.unexpected).append(line)
        return None
    except (openai.APIConnectionError, httpx.HTTPError) as exc:
        outcome.dropped.append(f"{kind}: {type(exc).__name__}: {exc}"[:200])
        return None
    outcome.record(kind, started)
    return result


async def _client_loop(number: int, tenant: Tenant, base_url: str, deadline: float, outcome: Outcome,
                       think_seconds: float) -> None:
    rng = random.Random(number)
    kinds, weights = zip(*MIX, strict=True)
    async with AsyncOpenAI(base_url=base_url + "/v1", api_key=tenant.key, max_retries=0, timeout=120) as client:
        serial = 0
        while time.monotonic() < deadline:
            if think_seconds:  # a person between requests; 0: each client sends the next at once
                await asyncio.sleep(rng.uniform(0, 2 * think_seconds))
            kind = rng.choices(kinds, weights)[0]
            if kind == "search":
                await _call(outcome, kind, client.vector_stores.search(tenant.store_id, query=" ".join(
                    rng.sample(WORDS, 3)), max_num_results=5))
            elif kind == "upload":
                serial += 1
                token = f"tok{number}x{serial}q{rng.randrange(10**9)}"
                uploaded = await _call(outcome, "upload", client.files.create(
                    file=(f"c{number}-{serial}.txt", _text(rng, token).encode()), purpose="assistants"))
                if uploaded is not None:
                    attached = await _call(outcome, "attach", client.vector_stores.files.create(
                        vector_store_id=tenant.store_id, file_id=uploaded.id))  # type: ignore[attr-defined]
                    if attached is not None:
                        outcome.accepted[uploaded.id] = (tenant.key, tenant.store_id, token)  # type: ignore[attr-defined]
            elif kind == "list":
                choice = rng.randrange(3)
                if choice == 0:
                    await _call(outcome, kind, client.vector_stores.list(limit=20))
                elif choice == 1:
                    await _call(outcome, kind, client.files.list(limit=20))
                else:
                    await _call(outcome, kind, client.vector_stores.files.list(tenant.store_id, limit=20))
            else:
                await _call(outcome, kind, client.vector_stores.retrieve(tenant.store_id))


async def _settle(base_url: str, outcome: Outcome, tenants: list[Tenant]) -> dict[str, int]:
    """Wait for every accepted file to finish, then look each one up by its unique word."""
    counts = {"completed": 0, "failed": 0, "in_progress": 0, "not_found_by_search": 0}
    clients = {t.key: AsyncOpenAI(base_url=base_url + "/v1", api_key=t.key, max_retries=2, timeout=120)
               for t in tenants}
    deadline = time.monotonic() + SETTLE_SECONDS
    for tenant in tenants:
        while time.monotonic() < deadline:
            store = await clients[tenant.key].vector_stores.retrieve(tenant.store_id)
            if store.file_counts.in_progress == 0:
                break
            await asyncio.sleep(1)
    gate = asyncio.Semaphore(8)

    async def check(file_id: str, key: str, store_id: str, token: str) -> None:
        async with gate:
            client = clients[key]
            status = (await client.vector_stores.files.retrieve(vector_store_id=store_id, file_id=file_id)).status
            counts[status] = counts.get(status, 0) + 1
            if status == "completed":
                page = await client.vector_stores.search(store_id, query=token, max_num_results=3,
                                                         extra_body={"search_mode": "full_text"})
                if file_id not in [hit.file_id for hit in page.data]:
                    counts["not_found_by_search"] += 1

    await asyncio.gather(*(check(f, *info) for f, info in outcome.accepted.items()))
    for client in clients.values():
        await client.close()
    return counts


async def _setup(base_url: str, keys: list[str], seed_files: int) -> list[Tenant]:
    tenants = []
    for i, key in enumerate(keys):
        async with AsyncOpenAI(base_url=base_url + "/v1", api_key=key, max_retries=2, timeout=300) as client:
            rng = random.Random(-1 - i)
            ids = [(await client.files.create(file=(f"seed{j}.txt", _text(rng, f"seed{j}").encode()),
                                              purpose="assistants")).id for j in range(seed_files)]
            store = await client.vector_stores.create(name=f"load-{i}", file_ids=ids)
            tenants.append(Tenant(key, store.id))
    return tenants


async def run_load(base_url: str, keys: list[str], clients: int, seconds: float, seed_files: int,
                   think_seconds: float = 0.0) -> list[str]:
    """Drive the traffic, settle, verify; return the report's lines."""
    tenants = await _setup(base_url, keys, seed_files)
    outcome = Outcome()
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(*(_client_loop(n, tenants[n % len(tenants)], base_url, deadline, outcome, think_seconds)
                           for n in range(clients)))
    elapsed = time.monotonic() - started
    counts = await _settle(base_url, outcome, tenants)
    total = sum(len(v) for v in outcome.latencies.values())
    lines = [f"clients {clients}  projects {len(keys)}  seconds {elapsed:.1f}  think {think_seconds * 1000:.0f} ms",
             f"requests/s {total / elapsed:.1f}  (ok {total})"]
    for kind, values in sorted(outcome.latencies.items()):
        lines.append(f"{kind:9s} n {len(values):6d}  p50 {percentile(values, 50):8.1f} ms  "
                     f"p99 {percentile(values, 99):8.1f} ms")
    lost = counts["failed"] + counts["in_progress"] + counts["not_found_by_search"]
    lines += [f"5xx {len(outcome.server_errors)}",
              f"unexpected 4xx {len(outcome.unexpected)}",
              f"dropped connections {len(outcome.dropped)}",
              f"files accepted {len(outcome.accepted)}  completed {counts['completed']}  failed {counts['failed']}  "
              f"still in progress {counts['in_progress']}  not found by search {counts['not_found_by_search']}",
              f"lost files {lost}"]
    for label, items in (("5xx", outcome.server_errors), ("unexpected", outcome.unexpected),
                         ("dropped", outcome.dropped)):
        lines += [f"  {label}: {item}" for item in items[:20]]
    return lines


def _run(args: argparse.Namespace) -> int:
    if args.url:
        keys = [k for k in (args.keys or "").split(",") if k] or ["bench"]
        with bench_server(args.url, None) as base_url:
            lines = asyncio.run(run_load(base_url, keys, args.clients, args.seconds, args.seed_files,
                                         args.think_ms / 1000))
    else:
        root = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="vectorhouse-load-")) / "data"
        root.mkdir(parents=True, exist_ok=True)
        try:
            keys = [_make_key(root, f"load-{i}") for i in range(args.projects)]
            with bench_server(None, str(root)) as base_url:
                lines = asyncio.run(run_load(base_url, keys, args.clients, args.seconds, args.seed_files,
                                         args.think_ms / 1000))
        finally:
            if not args.data_dir:
                shutil.rmtree(root.parent, ignore_errors=True)
    print("\n".join(lines))
    return 0


def add_load_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    load = commands.add_parser("load", help="concurrent SDK clients in several projects: throughput, p50/p99, "
                                            "errors, and whether every accepted file ended searchable")
    load.add_argument("--clients", type=int, default=100)
    load.add_argument("--seconds", type=float, default=60.0)
    load.add_argument("--projects", type=int, default=3, help="projects (one key and one store each)")
    load.add_argument("--seed-files", type=int, default=20, help="files each project's store starts with")
    load.add_argument("--think-ms", type=float, default=0.0,
                      help="mean pause of each client between requests (default 0: the next is sent at once)")
    load.add_argument("--url", help="an already running server (then --keys names its keys, one per project)")
    load.add_argument("--keys", help="comma-separated API keys of the --url server, one per project")
    load.add_argument("--data-dir", help="data directory of the started server (default: a temporary one); "
                                         "VECTORHOUSE_DATABASE_URL puts it on PostgreSQL")
    load.set_defaults(handler=_run)
