"""`vectorhouse bench search --backend NAME`: an index backend on synthetic chunks, p50/p99 and recall@10."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from vectorhouse.bench.metrics import percentile
from vectorhouse.config import Settings
from vectorhouse.index.base import Chunk
from vectorhouse.index.factory import create_index
from vectorhouse.index.filters import Comparison, Filter

DIM, FILES, CLUSTERS, K = 384, 1000, 1000, 10
STORE = "vs_benchindex"


def _unit(m: np.ndarray) -> np.ndarray:
    return (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)


def clustered(n: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points around 1000 centroids (cosine to their centre ~0.7), so nearest neighbours are meaningful."""
    rng = np.random.default_rng(seed)
    centroids = _unit(rng.normal(size=(CLUSTERS, DIM)))
    noise = 1.0 / np.sqrt(DIM)
    data = _unit(centroids[rng.integers(0, CLUSTERS, n)] + rng.normal(size=(n, DIM)) * noise)
    qs = _unit(centroids[rng.integers(0, CLUSTERS, queries)] + rng.normal(size=(queries, DIM)) * noise)
    return data, qs


def run_index_bench(backend: str, settings: Settings, n: int, queries: int) -> list[str]:
    data, qs = clustered(n, queries)
    per_file = n // FILES
    index = create_index(backend, settings)
    lines = [f"backend              {backend}", f"chunks               {n} in {FILES} files, dim {DIM}"]
    try:
        index.delete_store(STORE)
        started = time.perf_counter()
        for f in range(FILES):
            rows = range(f * per_file, (f + 1) * per_file)
            chunks = [Chunk(position=p, text=f"chunk {i}", tokens=2, vector=data[i]) for p, i in enumerate(rows)]
            index.upsert(STORE, f"file-{f:04d}", chunks, {"bucket": f % 100, "tenth": f % 10})
        lines.append(f"load seconds         {time.perf_counter() - started:.1f}")
        file_of = np.repeat(np.arange(FILES), per_file)
        cases: list[tuple[str, Filter | None, np.ndarray]] = [
            ("no filter", None, np.ones(len(file_of), bool)),
            ("10% of files", Comparison("tenth", "eq", 3), file_of % 10 == 3),
            ("1% of files", Comparison("bucket", "eq", 7), file_of % 100 == 7),
        ]
        started = time.perf_counter()
        index.search_vector(STORE, qs[0], K, None)  # builds lazy structures (e.g. the embedded HNSW graph)
        lines.append(f"first query seconds  {time.perf_counter() - started:.1f}")
        for name, filter, mask in cases:
            allowed = np.flatnonzero(mask)
            latencies, recalls = [], []
            for q in qs:
                started = time.perf_counter()
                hits = index.search_vector(STORE, q, K, filter)
                latencies.append((time.perf_counter() - started) * 1000)
                exact = allowed[np.argsort(-(data[allowed] @ q))[:K]]
                truth = {(f"file-{i // per_file:04d}", int(i % per_file)) for i in exact}
                recalls.append(len(truth & {h.key for h in hits}) / K)
            lines.append(f"{name:20s} p50 {percentile(latencies, 50):.2f} ms  p99 {percentile(latencies, 99):.2f} ms"
                         f"  recall@{K} {float(np.mean(recalls)):.3f}")
    finally:
        index.delete_store(STORE)
        index.close()
    return lines


def index_command(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="vectorhouse-bench-") as tmp:
        settings = Settings.from_env(data_dir=Path(args.data_dir or tmp), database_url=args.database_url,
                                     elasticsearch_url=args.elasticsearch_url)
        print("\n".join(run_index_bench(args.backend, settings, args.chunks, args.queries)))
    return 0
