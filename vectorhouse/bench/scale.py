"""`vectorhouse bench scale`: a store of N chunks written as the workers write them, then load, restart, memory,
disk and search latency through HTTP (semantic, full_text, hybrid; with and without filters), recall@10."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import select

from vectorhouse.bench.beir import load_judged
from vectorhouse.bench.metrics import percentile
from vectorhouse.bench.server import api_key, start_server, stop_server
from vectorhouse.bench.synthetic import SyntheticChunks
from vectorhouse.catalog import files, vector_store_files, vector_stores
from vectorhouse.catalog.tables import DEFAULT_PROJECT_ID
from vectorhouse.config import Settings
from vectorhouse.index.base import Chunk, FileWrite
from vectorhouse.index.factory import BACKENDS
from vectorhouse.schemas.requests import VectorStoreCreate
from vectorhouse.service.core import Vectorhouse
from vectorhouse.service.ingestion import EMBED_CALL_CHUNKS

K = 10
BUCKETS = 1000  # each file's `bucket` attribute is its number mod 1000: a filter share is a bucket range
MODES = ("semantic", "full_text", "hybrid")
READY_TIMEOUT_S = 900.0


@dataclass
class Filled:
    """What the fill wrote and how long it took."""

    store_id: str
    file_ids: list[str]
    per_file: int
    load_seconds: float
    first_search_seconds: float
    build_seconds: float | None = None  # --index-after-load: the HNSW build after the rows were in
    queries: list[str] = field(default_factory=list)
    query_vectors: np.ndarray = field(default_factory=lambda: np.empty((0, 0), np.float32))


def _settings(args: argparse.Namespace, data_dir: Path) -> Settings:
    given = {"database_url": args.database_url, "elasticsearch_url": args.elasticsearch_url}
    return Settings.from_env(data_dir=data_dir, **{k: v for k, v in given.items() if v})


def fill(settings: Settings, args: argparse.Namespace, chunks_out: list[SyntheticChunks]) -> Filled:
    """Write args.chunks chunks into a new store, file by file, the way the ingestion workers do."""
    dataset = load_judged(args.dataset)
    if dataset is None:
        raise SystemExit(2)
    service = Vectorhouse(settings)
    try:
        embedder = service.models.get(service.models.default)
        started = time.perf_counter()
        chunks = SyntheticChunks.build(dataset, embedder, args.chunks, args.pool)
        _ = chunks.vectors  # mixed now, timed with the pool, not with the load
        print(f"{len(chunks.sentences)} pool sentences embedded, {len(chunks)} vectors mixed in "
              f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
        chunks_out.append(chunks)
        queries = list(dataset.queries.values())[: args.queries]
        # One at a time, as the server embeds a search's query: an int8 model's vectors depend on the
        # batch they are embedded in (activations are quantised per call).
        query_vectors = np.vstack([embedder.embed_queries([q]) for q in queries]).astype(np.float32)
        name = f"bench-scale-{args.chunks}-{args.chunks_per_file}"
        per_file = args.chunks_per_file
        count = (len(chunks) + per_file - 1) // per_file
        if args.reuse:
            with service.catalog.read() as conn:
                row = conn.execute(select(vector_stores.c.id).where(vector_stores.c.name == name)
                                   .order_by(vector_stores.c.seq.desc())).first()
            if row is None:
                raise SystemExit(f"--reuse: no store named {name} in {settings.data_dir}")
            return Filled(row[0], _file_ids(row[0], count), per_file, float("nan"), float("nan"), queries=queries,
                          query_vectors=query_vectors)
        store = service.stores.create(DEFAULT_PROJECT_ID, VectorStoreCreate(name=name, backend=args.backend))
        file_ids = _file_ids(store.id, count)
        _catalog_rows(service, store.id, file_ids, chunks, per_file)
        started = time.perf_counter()
        build: float | None = None
        if args.index_after_load:
            from vectorhouse.index.pgvector import PgvectorIndex  # an optional extra

            backend = service.index.backend(args.backend)
            assert isinstance(backend, PgvectorIndex)
            # A rough size of pgvector's in-memory graph (vector, neighbour lists, overhead per chunk).
            with backend.bulk_load(maintenance_work_mem_mb=len(chunks) * (chunks.dimension * 4 + 600) // 2**20 + 64):
                _write_all(service, store.id, file_ids, chunks, per_file, args.writers)
                load_seconds = time.perf_counter() - started
                print(f"  rows in after {load_seconds:.1f} s; building the HNSW index", file=sys.stderr)
            build = time.perf_counter() - started - load_seconds
        else:
            _write_all(service, store.id, file_ids, chunks, per_file, args.writers)
            load_seconds = time.perf_counter() - started
        started = time.perf_counter()
        service.index.search_vector(store.id, query_vectors[0], K, None)  # whatever is built lazily
        first = time.perf_counter() - started
        return Filled(store.id, file_ids, per_file, load_seconds, first, build_seconds=build, queries=queries,
                      query_vectors=query_vectors)
    finally:
        service.close()


def _write_all(service: Vectorhouse, store_id: str, file_ids: list[str], chunks: SyntheticChunks, per_file: int,
               writers: int) -> None:
    """Every file through Index.upsert_files, from `writers` threads at once, as the ingestion workers
    write: the files of one embedding call (EMBED_CALL_CHUNKS chunks) together."""
    done = [0]
    started = time.perf_counter()
    files_per_call = max(1, EMBED_CALL_CHUNKS // per_file)

    def write_file(number: int) -> FileWrite:
        rows = range(number * per_file, min((number + 1) * per_file, len(chunks)))
        return FileWrite(store_id, file_ids[number], [
            Chunk(position=p, text=text, tokens=len(text.split()), vector=chunks.vectors[i])
            for p, (i, text) in enumerate(zip(rows, (chunks.text(i) for i in rows), strict=True))
        ], {"bucket": number % BUCKETS})

    def write(first: int) -> None:
        for call in range(first * files_per_call, len(file_ids), writers * files_per_call):
            writes = [write_file(n) for n in range(call, min(call + files_per_call, len(file_ids)))]
            failed = [e for e in service.index.upsert_files(writes) if e is not None]
            if failed:
                raise failed[0]
            done[0] += sum(len(w.chunks) for w in writes)

    with ThreadPoolExecutor(writers) as pool:
        futures = [pool.submit(write, w) for w in range(writers)]
        # Progress every 15 s; the wait returns as the writers end (a sleep here once added up to 15 s
        # to the load's time).
        while wait(futures, timeout=15, return_when=FIRST_EXCEPTION).not_done:
            elapsed = time.perf_counter() - started
            print(f"  {done[0]} chunks, {done[0] / elapsed:.0f}/s", file=sys.stderr)
        for future in futures:
            future.result()


def _memory_line(label: str, rss: float, peak: float, n: int, dim: int, backend: str, note: str) -> str:
    """The server's resident memory; per chunk beyond the raw vectors where the vectors live in it."""
    if backend != "embedded":  # the vectors are in PostgreSQL or Elasticsearch, not in this process
        return f"{label} {rss:.0f} MiB (peak {peak:.0f}); the vectors are in the {backend} server"
    return (f"{label} {rss:.0f} MiB (peak {peak:.0f}); {(rss * 2**20 - n * dim * 4) / n:.0f} bytes per chunk "
            f"beyond the raw vectors ({note})")


def _file_ids(store_id: str, count: int) -> list[str]:
    return [f"file-bench{store_id[3:15]}{i:09d}" for i in range(count)]


def _catalog_rows(service: Vectorhouse, store_id: str, file_ids: list[str], chunks: SyntheticChunks,
                  per_file: int) -> None:
    """The file and store-file rows a worker leaves behind for a completed file."""
    now = int(time.time())
    with service.catalog.transaction() as conn:
        for start in range(0, len(file_ids), 5000):
            batch = list(enumerate(file_ids[start:start + 5000], start))
            conn.execute(files.insert(), [
                {"id": fid, "created_at": now, "filename": f"scale-{n}.txt", "purpose": "assistants",
                 "bytes": 0, "sha256": "0" * 64, "project_id": DEFAULT_PROJECT_ID} for n, fid in batch])
            conn.execute(vector_store_files.insert(), [
                {"store_id": store_id, "file_id": fid, "created_at": now, "status": "completed",
                 "attributes": {"bucket": n % BUCKETS}, "max_chunk_size_tokens": 800,
                 "chunk_overlap_tokens": 400, "usage_bytes": 0,
                 "chunk_count": min(per_file, len(chunks) - n * per_file)} for n, fid in batch])


def _rss_mib(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) of a process in MiB, from /proc."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def _disk_bytes(backend: str, settings: Settings, store_id: str) -> int:
    """Bytes the store's chunks take where the backend keeps them (the catalog and blobs left out)."""
    if backend == "embedded":
        return sum(p.stat().st_size for p in Path(settings.data_dir).rglob("*") if p.is_file()
                   and not p.name.startswith("catalog"))
    if backend == "pgvector":
        import psycopg

        with psycopg.connect(settings.database_url) as conn:
            row = conn.execute("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                               "WHERE c.relkind = 'r' AND c.relname LIKE 'index\\_%'").fetchone()
            return int(row[0] or 0) if row else 0
    from vectorhouse.index.elasticsearch import index_name

    name = index_name(store_id)
    stats = httpx.get(f"{settings.elasticsearch_url.rstrip('/')}/{name}/_stats/store,segments", timeout=60).json()
    print(f"Elasticsearch segments of {name}: {stats['_all']['primaries']['segments']['count']}", file=sys.stderr)
    return int(stats["_all"]["primaries"]["store"]["size_in_bytes"])


def _wait_ready(base_url: str, started: float) -> float:
    while time.monotonic() - started < READY_TIMEOUT_S:
        try:
            if httpx.get(base_url + "/ready", timeout=5).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"not ready after {READY_TIMEOUT_S:.0f} s")


def _start_measured(data_dir: Path, log_path: Path,
                    filled: Filled) -> tuple[subprocess.Popen[bytes], str, float, float]:
    """A server on data_dir: (process, URL, seconds from start to /ready 200, first hybrid search ms)."""
    started = time.monotonic()
    process, base_url = start_server(data_dir, log_path)
    try:
        ready = _wait_ready(base_url, started)
        t0 = time.perf_counter()
        httpx.post(f"{base_url}/v1/vector_stores/{filled.store_id}/search", timeout=300,
                   headers={"Authorization": f"Bearer {api_key()}"},
                   json={"query": filled.queries[0], "search_mode": "hybrid"}).raise_for_status()
        return process, base_url, ready, (time.perf_counter() - t0) * 1000
    except BaseException:
        stop_server(process)
        raise


def exact_top(chunks: SyntheticChunks, query_vectors: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """Exact top-K chunk numbers per query (rows of `allowed` only), by brute force over every vector."""
    best = np.empty((len(query_vectors), K), np.int64)
    for start in range(0, len(query_vectors), 16):
        scores = chunks.vectors @ query_vectors[start:start + 16].T
        if allowed is not None:
            scores[~allowed] = -np.inf
        top = np.argpartition(-scores, K - 1, axis=0)[:K].T
        for row, picked in enumerate(top):
            best[start + row] = picked[np.argsort(-scores[picked, row])]
    return best


def measure(base_url: str, filled: Filled, chunks: SyntheticChunks, shares: list[float]) -> list[str]:
    """p50/p99 per mode and filter share through HTTP; recall@10 of semantic against exact search."""
    lines = []
    bucket_of_chunk = (np.arange(len(chunks)) // filled.per_file) % BUCKETS
    headers = {"Authorization": f"Bearer {api_key()}"}
    with httpx.Client(base_url=base_url, timeout=120, headers=headers) as http:
        for share in [1.0, *shares]:
            limit = round(share * BUCKETS)
            body_filter = None if share >= 1.0 else {"type": "lt", "key": "bucket", "value": limit}
            truth = exact_top(chunks, filled.query_vectors, None if body_filter is None else bucket_of_chunk < limit)
            for mode in MODES:
                latencies, recalls = [], []
                for q, text in enumerate(filled.queries):
                    body: dict[str, object] = {"query": text, "max_num_results": K, "search_mode": mode}
                    if body_filter is not None:
                        body["filters"] = body_filter
                    started = time.perf_counter()
                    response = http.post(f"/v1/vector_stores/{filled.store_id}/search", json=body)
                    response.raise_for_status()
                    data = response.json()["data"]
                    latencies.append((time.perf_counter() - started) * 1000)
                    if mode == "semantic":
                        want = {(filled.file_ids[i // filled.per_file], chunks.text(i)) for i in truth[q]}
                        got = {(hit["file_id"], hit["content"][0]["text"]) for hit in data}
                        recalls.append(len(want & got) / K)
                where = "no filter" if body_filter is None else f"filter {share:g}"
                recall = f"  recall@{K} {float(np.mean(recalls)):.3f}" if recalls else ""
                lines.append(f"{mode:9s} {where:14s} p50 {percentile(latencies, 50):7.1f} ms  "
                             f"p99 {percentile(latencies, 99):7.1f} ms{recall}")
    return lines


def scale_command(args: argparse.Namespace) -> int:
    if args.index_after_load and (args.backend != "pgvector" or args.reuse):
        raise SystemExit("--index-after-load is for a new pgvector load")
    temp = None if args.data_dir else Path(tempfile.mkdtemp(prefix="vectorhouse-scale-"))
    data_dir = Path(args.data_dir).resolve() if args.data_dir else temp / "data"  # type: ignore[operator]
    settings = _settings(args, data_dir)
    if args.database_url:
        os.environ["VECTORHOUSE_DATABASE_URL"] = args.database_url
    if args.elasticsearch_url:
        os.environ["VECTORHOUSE_ELASTICSEARCH_URL"] = args.elasticsearch_url
    try:
        made: list[SyntheticChunks] = []
        filled = fill(settings, args, made)
        chunks = made[0]
        n, dim = len(chunks), chunks.dimension
        lines = [f"backend              {args.backend}",
                 f"chunks               {n} in {len(filled.file_ids)} files, dim {dim}",
                 f"load                 {filled.load_seconds:.1f} s, {n / filled.load_seconds:.0f} chunks/s "
                 "(Index.upsert_files per embedding call, " + (
                     "HNSW index built afterwards)" if filled.build_seconds is not None
                     else "index maintained as it goes)"),
                 *([f"index build          {filled.build_seconds:.1f} s (pgvector CREATE INDEX over the loaded rows)"]
                   if filled.build_seconds is not None else []),
                 f"first search         {filled.first_search_seconds * 1000:.0f} ms in-process after the load "
                 "(lazy builds)"]
        disk = _disk_bytes(args.backend, settings, filled.store_id)
        lines.append(f"disk                 {disk / 2**20:.0f} MiB, {disk / n:.0f} bytes per chunk "
                     f"(raw vectors {dim * 4})")
        log_path = data_dir.parent / f"{data_dir.name}-scale-server.log"
        process, base_url, ready, first = _start_measured(data_dir, log_path, filled)
        try:
            lines.append(f"first start to ready {ready:.1f} s (process start to /ready 200, index loaded from "
                         f"what the load left); first hybrid search {first:.0f} ms")
            lines.extend(measure(base_url, filled, chunks, args.filter_share))
            lines.append(_memory_line("server RSS          ", *_rss_mib(process.pid), n, dim, args.backend,
                                      "the whole process"))
        finally:
            stop_server(process)
        process, base_url, ready, first = _start_measured(data_dir, log_path, filled)
        try:
            rss, peak = _rss_mib(process.pid)
        finally:
            stop_server(process)
        lines.append(f"restart to ready     {ready:.1f} s (after a clean stop); first hybrid search {first:.0f} ms")
        lines.append(_memory_line("restarted RSS       ", rss, peak, n, dim, args.backend,
                                  "at ready: postings and graph read back from disk"))
        print("\n".join(lines))
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
    return 0


def add_scale_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("scale", help="N chunks through Index.upsert_files, then load/restart/memory/disk, "
                                               "search latency through HTTP and recall@10")
    parser.add_argument("dataset", metavar="DATASET_DIR", help="BEIR folder: sentences for texts, test queries")
    parser.add_argument("--chunks", type=int, default=100_000, help="chunks to write (default 100000)")
    parser.add_argument("--backend", choices=BACKENDS, default="embedded", help="index backend (embedded)")
    parser.add_argument("--filter-share", type=lambda v: [float(x) for x in v.split(",") if x],
                        default=[0.1, 0.01], help="filters selecting these shares of the files (0.1,0.01)")
    parser.add_argument("--queries", type=int, default=200, help="test queries per case (200)")
    parser.add_argument("--pool", type=int, default=4000, help="real sentences embedded for the mix (4000)")
    parser.add_argument("--chunks-per-file", type=int, default=10, help="chunks per file (10)")
    parser.add_argument("--writers", type=int, default=2, help="threads writing files at once, as workers (2)")
    parser.add_argument("--data-dir", help="data dir (kept afterwards; default temporary)")
    parser.add_argument("--reuse", action="store_true",
                        help="measure the store an earlier run with the same --chunks left in --data-dir")
    parser.add_argument("--index-after-load", action="store_true",
                        help="pgvector: build the HNSW index once the rows are in (pgvector's advice for bulk loads)")
    parser.add_argument("--database-url", help="PostgreSQL for pgvector (else VECTORHOUSE_DATABASE_URL)")
    parser.add_argument("--elasticsearch-url", help="Elasticsearch (else VECTORHOUSE_ELASTICSEARCH_URL)")
    parser.set_defaults(handler=scale_command)
