"""`vectorhouse bench quality`: nDCG@10 and recall@10 of every search mode on a BEIR dataset."""

from __future__ import annotations

import argparse

from vectorhouse.bench.beir import load_judged, store_name
from vectorhouse.bench.ingest import report_lines, run_ingest
from vectorhouse.bench.metrics import mean
from vectorhouse.bench.search import QUALITY_K, find_store, run_search
from vectorhouse.bench.server import bench_server, client_for

MODES = ("hybrid", "semantic", "full_text")


def quality_command(args: argparse.Namespace) -> int:
    dataset = load_judged(args.dataset)
    if dataset is None:
        return 2
    with bench_server(args.url, args.data_dir) as base_url:
        client = client_for(base_url)
        store = find_store(client, store_name(dataset)) if args.reuse else None
        if store is None:
            result = run_ingest(client, base_url, dataset, None, args.concurrency)
            print("\n".join(report_lines(dataset, result)))
            print()
            store = client.vector_stores.retrieve(result.store_id)
        rows = []
        for mode in MODES:
            _, ndcgs, recalls = run_search(client, store.id, dataset, mode, QUALITY_K, None, warmup=0)
            rows.append((mode, mean(ndcgs), mean(recalls), len(ndcgs)))
    print(f"dataset {dataset.name}: {len(dataset.corpus)} documents, {rows[0][3]} judged test queries")
    print(f"| mode | nDCG@{QUALITY_K} | recall@{QUALITY_K} |")
    print("|---|---|---|")
    for mode, ndcg, recall, _ in rows:
        print(f"| {mode}{' (default)' if mode == 'hybrid' else ''} | {ndcg:.4f} | {recall:.4f} |")
    return 0


def add_quality_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("quality", help="nDCG@10 and recall@10 per search mode on a BEIR dataset")
    parser.add_argument("dataset", metavar="DATASET_DIR", help="BEIR folder (corpus.jsonl[.gz], queries, qrels)")
    parser.add_argument("--url", help="use this running server (http://host:port) instead of starting one")
    parser.add_argument("--data-dir", help="data dir for the started server, kept afterwards (default: temporary)")
    parser.add_argument("--reuse", action="store_true",
                        help="search the newest existing bench store of this dataset instead of ingesting anew")
    parser.add_argument("--concurrency", type=int, default=8, help="parallel uploads while ingesting (default 8)")
    parser.set_defaults(handler=quality_command)
