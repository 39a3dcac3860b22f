"""`vectorhouse bench search`: client-side latency of /search over a BEIR dataset's test queries, plus nDCG/recall."""

from __future__ import annotations

import argparse
import sys
import time

import httpx
from openai import OpenAI
from openai.types import VectorStore

from vectorhouse.bench.beir import Dataset, load_judged, store_name
from vectorhouse.bench.ingest import report_lines, run_ingest
from vectorhouse.bench.metrics import mean, ndcg_at_k, percentile, recall_at_k
from vectorhouse.bench.server import bench_server, client_for
from vectorhouse.index.factory import BACKENDS

QUALITY_K = 10


def find_store(client: OpenAI, name: str) -> VectorStore | None:
    """The newest store with this name (a re-run of ingest creates a fresh one rather than reusing)."""
    for store in client.vector_stores.list(limit=100, order="desc"):
        if store.name == name:
            return store
    return None


def store_for(client: OpenAI, base_url: str, dataset: Dataset, embedding_model: str | None, concurrency: int,
              ingest_limit: int | None = None, reuse: bool = True) -> VectorStore:
    """The dataset's bench store of this model: the newest one (with `reuse`), else ingested now."""
    name = store_name(dataset, embedding_model)
    store = find_store(client, name) if reuse else None
    if store is None:
        print(f"no store named {name}: ingesting first", file=sys.stderr)
        result = run_ingest(client, base_url, dataset, ingest_limit, concurrency, embedding_model=embedding_model)
        print("\n".join(report_lines(dataset, result)))
        print()
        store = client.vector_stores.retrieve(result.store_id)
    return store


def _search_ids(client: OpenAI, store_id: str, query: str, k: int, mode: str) -> list[str]:
    page = client.vector_stores.search(store_id, query=query, max_num_results=k, extra_body={"search_mode": mode})
    return [str((hit.attributes or {}).get("doc_id", "")) for hit in page.data]


def run_search(client: OpenAI, store_id: str, dataset: Dataset, mode: str, k: int, limit: int | None,
               warmup: int, warmup_seconds: float = 0.0) -> tuple[list[float], list[float], list[float]]:
    """Run each test query once, in order; return latencies (ms), and nDCG@10 / recall@10 per judged query."""
    queries = list(dataset.queries.items())[: limit if limit is not None else None]
    # Warm-up calls (model, caches, connection) are not measured; they reuse the first queries, and go
    # on for warmup_seconds so that a just-started server's background loading has finished.
    started = time.monotonic()
    done = 0
    while queries and (done < warmup or time.monotonic() - started < warmup_seconds):
        _search_ids(client, store_id, queries[done % len(queries)][1], k, mode)
        done += 1
    latencies: list[float] = []
    ndcgs: list[float] = []
    recalls: list[float] = []
    for i, (query_id, text) in enumerate(queries, 1):
        started = time.perf_counter()
        ranked = _search_ids(client, store_id, text, k, mode)
        latencies.append((time.perf_counter() - started) * 1000)
        relevant = dataset.relevant(query_id)
        if relevant:  # a query judged only non-relevant has no defined nDCG; it still counts for latency
            ndcgs.append(ndcg_at_k(ranked, relevant, QUALITY_K))
            recalls.append(recall_at_k(ranked, relevant, QUALITY_K))
        if sys.stderr.isatty():
            sys.stderr.write(f"\rquery {i}/{len(queries)}\x1b[K")
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    return latencies, ndcgs, recalls


def run_http(base_url: str, store_id: str, dataset: Dataset, mode: str, k: int, limit: int | None) -> list[float]:
    """The same queries as plain JSON over HTTP (keep-alive, body decoded): the service without the SDK's
    request building and response models, which cost the client about 1.5 ms per call here."""
    queries = list(dataset.queries.values())[: limit if limit is not None else None]
    latencies: list[float] = []
    with httpx.Client(base_url=base_url, timeout=60) as http:
        for text in queries:
            started = time.perf_counter()
            response = http.post(f"/v1/vector_stores/{store_id}/search",
                                 json={"query": text, "max_num_results": k, "search_mode": mode})
            response.raise_for_status()
            response.json()
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def search_command(args: argparse.Namespace) -> int:
    if args.backend:
        from vectorhouse.bench.index import index_command

        return index_command(args)
    if not args.dataset:
        print("DATASET_DIR is required unless --backend is given", file=sys.stderr)
        return 2
    dataset = load_judged(args.dataset)
    if dataset is None:
        return 2
    with bench_server(args.url, args.data_dir) as base_url:
        client = client_for(base_url)
        store = store_for(client, base_url, dataset, args.embedding_model, args.concurrency, args.ingest_limit)
        latencies, ndcgs, recalls = run_search(client, store.id, dataset, args.mode, args.k, args.limit, args.warmup,
                                               args.warmup_seconds)
        http_latencies = run_http(base_url, store.id, dataset, args.mode, args.k, args.limit)
    counts = store.file_counts
    lines = [
        f"dataset              {dataset.name}",
        f"store                {store.id} ({counts.completed} files completed, {counts.failed} failed)",
        f"mode                 {args.mode}",
        f"k                    {args.k}",
        f"queries              {len(latencies)}",
        f"p50 ms               {percentile(latencies, 50):.1f}",
        f"p90 ms               {percentile(latencies, 90):.1f}",
        f"p99 ms               {percentile(latencies, 99):.1f}",
        f"mean ms              {mean(latencies):.1f}",
        f"HTTP p50 ms          {percentile(http_latencies, 50):.1f} (plain JSON client, no SDK)",
        f"HTTP p99 ms          {percentile(http_latencies, 99):.1f}",
        f"nDCG@{QUALITY_K}              {mean(ndcgs):.4f}",
        f"recall@{QUALITY_K}            {mean(recalls):.4f}",
    ]
    print("\n".join(lines))
    if args.k < QUALITY_K:
        print(f"note: only {args.k} results per query, so the @{QUALITY_K} metrics see fewer than {QUALITY_K}")
    if counts.completed < len(dataset.corpus):
        # Relevant documents outside the ingested slice cannot be found: quality is a lower bound then.
        print(f"note: the store holds {counts.completed} of {len(dataset.corpus)} corpus documents; "
              "nDCG/recall are against the full qrels")
    return 0


def add_search_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("search", help="latency percentiles and nDCG/recall of /search over test queries")
    parser.add_argument("dataset", metavar="DATASET_DIR", nargs="?",
                        help="BEIR folder (corpus.jsonl[.gz], queries, qrels); not needed with --backend")
    parser.add_argument("--url", help="use this running server (http://host:port) instead of starting one")
    parser.add_argument("--data-dir", help="data dir for the started server, kept afterwards (default: temporary)")
    parser.add_argument("--backend", choices=BACKENDS,
                        help="instead: benchmark this index backend directly on --chunks synthetic chunks "
                             "(p50/p99 and recall@10 against exact search, with and without filters)")
    parser.add_argument("--chunks", type=int, default=100_000, help="synthetic chunks for --backend (100000)")
    parser.add_argument("--queries", type=int, default=300, help="queries for --backend (300)")
    parser.add_argument("--database-url", help="PostgreSQL for --backend pgvector (else VECTORHOUSE_DATABASE_URL)")
    parser.add_argument("--elasticsearch-url",
                        help="Elasticsearch for --backend elasticsearch (else VECTORHOUSE_ELASTICSEARCH_URL)")
    parser.add_argument("--mode", choices=("hybrid", "semantic", "full_text"), default="hybrid",
                        help="search_mode sent with each query (default hybrid)")
    parser.add_argument("--k", type=int, default=10, help="max_num_results per query, 1..50 (default 10)")
    parser.add_argument("--limit", type=int, help="only the first N test queries")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured queries first (default 10)")
    parser.add_argument("--warmup-seconds", type=float, default=3.0,
                        help="keep warming up at least this long (default 3): a just-started server loads "
                             "its keyword postings in the background (about 1 s per 5k chunks)")
    parser.add_argument("--ingest-limit", type=int,
                        help="if the store must be ingested first: only the first N documents (default all)")
    parser.add_argument("--concurrency", type=int, default=8, help="parallel uploads if ingesting (default 8)")
    parser.add_argument("--embedding-model",
                        help="search (or ingest first) a store of this embedding model (default: the server's)")
    parser.set_defaults(handler=search_command)
