"""`vectorhouse bench quality`: nDCG@10 and recall@10 of every search mode on a BEIR dataset, and an RRF reference."""

from __future__ import annotations

import argparse

from openai import OpenAI

from vectorhouse.bench.beir import Dataset, load_judged
from vectorhouse.bench.metrics import mean, ndcg_at_k, recall_at_k
from vectorhouse.bench.search import QUALITY_K, run_search, store_for
from vectorhouse.bench.server import bench_server, client_for
from vectorhouse.search.fusion import RRF_K, reciprocal_rank_fusion

MODES = ("hybrid", "semantic", "full_text")
# Each single mode's ranking this deep (the most one search returns) feeds the RRF reference.
RRF_DEPTH = 50
RRF_ROW = "rrf (reference)"


def _doc_ids(client: OpenAI, store_id: str, query: str, mode: str) -> list[str]:
    page = client.vector_stores.search(store_id, query=query, max_num_results=RRF_DEPTH,
                                       extra_body={"search_mode": mode})
    return list(dict.fromkeys(str((hit.attributes or {}).get("doc_id", "")) for hit in page.data))


def rrf_reference(client: OpenAI, store_id: str, dataset: Dataset) -> tuple[list[float], list[float]]:
    """nDCG@10 / recall@10 of plain reciprocal-rank fusion (k=60, equal weights) of the server's own
    semantic and full_text rankings: what fusing the same two signals by rank alone gives."""
    ndcgs: list[float] = []
    recalls: list[float] = []
    for query_id, text in dataset.queries.items():
        relevant = dataset.relevant(query_id)
        if not relevant:
            continue
        lists = [_doc_ids(client, store_id, text, mode) for mode in ("semantic", "full_text")]
        ranked = [doc for doc, _ in reciprocal_rank_fusion(lists, (1.0, 1.0), RRF_K)]
        ndcgs.append(ndcg_at_k(ranked, relevant, QUALITY_K))
        recalls.append(recall_at_k(ranked, relevant, QUALITY_K))
    return ndcgs, recalls


def quality_command(args: argparse.Namespace) -> int:
    dataset = load_judged(args.dataset)
    if dataset is None:
        return 2
    with bench_server(args.url, args.data_dir) as base_url:
        client = client_for(base_url)
        store = store_for(client, base_url, dataset, args.embedding_model, args.concurrency, reuse=args.reuse)
        rows = []
        for mode in MODES:
            _, ndcgs, recalls = run_search(client, store.id, dataset, mode, QUALITY_K, None, warmup=0)
            rows.append((mode, mean(ndcgs), mean(recalls), len(ndcgs)))
        ndcgs, recalls = rrf_reference(client, store.id, dataset)
        rows.append((RRF_ROW, mean(ndcgs), mean(recalls), len(ndcgs)))
    model = getattr(store, "embedding_model", None) or args.embedding_model or "the server's default"
    print(f"dataset {dataset.name}: {len(dataset.corpus)} documents, {rows[0][3]} judged test queries, "
          f"embedding model {model}")
    print(f"| mode | nDCG@{QUALITY_K} | recall@{QUALITY_K} |")
    print("|---|---|---|")
    for mode, ndcg, recall, _ in rows:
        print(f"| {mode}{' (default)' if mode == 'hybrid' else ''} | {ndcg:.4f} | {recall:.4f} |")
    hybrid, semantic, full_text, rrf = (row[1] for row in rows)
    print(f"hybrid - best single mode {hybrid - max(semantic, full_text):+.4f}; hybrid - rrf {hybrid - rrf:+.4f}")
    return 0


def add_quality_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("quality", help="nDCG@10 and recall@10 per search mode on a BEIR dataset")
    parser.add_argument("dataset", metavar="DATASET_DIR", help="BEIR folder (corpus.jsonl[.gz], queries, qrels)")
    parser.add_argument("--url", help="use this running server (http://host:port) instead of starting one")
    parser.add_argument("--data-dir", help="data dir for the started server, kept afterwards (default: temporary)")
    parser.add_argument("--reuse", action="store_true",
                        help="search the newest existing bench store of this dataset instead of ingesting anew")
    parser.add_argument("--concurrency", type=int, default=8, help="parallel uploads while ingesting (default 8)")
    parser.add_argument("--embedding-model",
                        help="embed the store with this model (`vectorhouse models list`; default: the server's)")
    parser.set_defaults(handler=quality_command)
