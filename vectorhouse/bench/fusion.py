"""`vectorhouse bench fusion`: hybrid fusion variants replayed offline over an ingested embedded index.

Ranking experiments need both signals for every chunk and every query, which /search never returns.
This reads a data dir that `bench search` or `bench quality` filled (`--data-dir`) and prints
document nDCG@10 per qrels split: first as /search ranks, by search/hybrid.py over the embedded index
itself; then for a fixed set of fusions of each judged query's cosine (with the store's own
embedding model) and BM25 (FTS5's formula over the store's rows, from the index's own postings)
against every chunk of the dataset's store. Choose on one split or collection, report the others.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vectorhouse.bench.beir import load_dataset, load_qrels, load_queries, store_name
from vectorhouse.bench.metrics import mean, ndcg_at_k
from vectorhouse.config import Settings
from vectorhouse.index.embedded import EmbeddedIndex
from vectorhouse.search.fusion import RRF_K, cosine_floor
from vectorhouse.search.hybrid import candidates_for, keyword_signal, rank_query

K = 10

SERVED = "served (search/hybrid.py over the index): cosine from the store's mean, s/(s+all idf), 0.5/0.5"


@dataclass(frozen=True)
class Signals:
    """One query's signals over every chunk of the store."""

    cosine: np.ndarray  # raw cosine per chunk
    bm25: np.ndarray  # BM25 per chunk, 0 where no term matches
    held_idf: float  # summed IDF of the query terms the store holds (the previous keyword scale)
    all_idf: float  # ... and of those it lacks, at the largest IDF (Index.keyword_scale)
    mean_cosine: float  # the query's mean cosine over the store (Index.mean_vector . query)


def _saturated(s: np.ndarray, scale: float) -> np.ndarray:
    return s / (s + scale) if scale > 0 else np.zeros_like(s)


def _centred(x: Signals) -> np.ndarray:
    floor = cosine_floor(x.mean_cosine)
    return np.clip((x.cosine - floor) / (1 - floor), 0.0, 1.0)


def _rrf(x: Signals) -> np.ndarray:
    out = np.zeros(len(x.cosine))
    for scores, rows in ((x.cosine, np.arange(len(x.cosine))), (x.bm25, np.flatnonzero(x.bm25 > 0))):
        order = rows[np.argsort(-scores[rows], kind="stable")]
        out[order] += 1.0 / (RRF_K + np.arange(1, len(order) + 1))
    return out


# (name, fused score of every chunk); every chunk is scored by both signals.
VARIANTS: list[tuple[str, Callable[[Signals], np.ndarray]]] = [
    ("vectors only", lambda x: x.cosine),
    ("BM25 only", lambda x: x.bm25),
    ("RRF (k=60) of the two rankings", _rrf),
    ("before: cosine, s/(s+held idf), 0.5/0.5",
     lambda x: 0.5 * np.clip(x.cosine, 0, 1) + 0.5 * _saturated(x.bm25, x.held_idf)),
    ("cosine, s/(s+all idf), 0.5/0.5",
     lambda x: 0.5 * np.clip(x.cosine, 0, 1) + 0.5 * _saturated(x.bm25, x.all_idf)),
    ("cosine from the store's mean, s/(s+held idf), 0.5/0.5",
     lambda x: 0.5 * _centred(x) + 0.5 * _saturated(x.bm25, x.held_idf)),
    *[(f"cosine from the store's mean, s/(s+all idf), {w:.1f}/{1 - w:.1f}",
       lambda x, w=w: w * _centred(x) + (1 - w) * _saturated(x.bm25, x.all_idf)) for w in (0.4, 0.5, 0.6)],
]


def _store_rows(data_dir: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[str, int]], str,
                                                    str] | None:
    """(chunk ids, their document ids, their vectors, their (file, position) keys, store id, its model)
    of the newest store so named."""
    if not (data_dir / "catalog.db").is_file() or not (data_dir / "index.db").is_file():
        return None
    with sqlite3.connect(data_dir / "catalog.db") as catalog:
        row = None
        # A catalog from before stores chose models has no embedding_model column (its stores: the default).
        for model in ("embedding_model", "NULL"):
            try:
                row = catalog.execute(f"SELECT id, {model} FROM vector_stores WHERE name = ? "
                                      "ORDER BY created_at DESC LIMIT 1", (name,)).fetchone()
                break
            except sqlite3.OperationalError:  # not a vectorhouse catalog, or an older one
                continue
    if row is None:
        return None
    with sqlite3.connect(data_dir / "index.db") as index:
        rows = index.execute(
            "SELECT c.id, json_extract(a.attributes, '$.doc_id'), c.vector, c.file_id, c.position "
            "FROM chunks c JOIN file_attributes a "
            "ON a.store_id = c.store_id AND a.file_id = c.file_id WHERE c.store_id = ? ORDER BY c.id",
            (row[0],),
        ).fetchall()
    ids = np.array([r[0] for r in rows], np.int64)
    docs = np.array([str(r[1]) for r in rows], object)
    vectors = np.frombuffer(b"".join(r[2] for r in rows), np.float32).reshape(len(rows), -1)
    keys = [(str(r[3]), int(r[4])) for r in rows]
    return ids, docs, vectors, keys, row[0], row[1] or Settings().default_embedding_model


def _ndcg(scores: np.ndarray, docs: np.ndarray, relevant: set[str]) -> float:
    ranked = list(dict.fromkeys(docs[np.argsort(-scores, kind="stable")[: 6 * K]]))
    return ndcg_at_k(ranked, relevant, K)


def fusion_command(args: argparse.Namespace) -> int:
    from vectorhouse.service.core import build_models

    data_dir = Path(args.data_dir).expanduser()
    dataset = load_dataset(args.dataset)
    found = _store_rows(data_dir, store_name(dataset, args.embedding_model))
    if found is None:
        print(f"no store {store_name(dataset, args.embedding_model)} in {data_dir}: run `vectorhouse bench search "
              f"{args.dataset} --data-dir {args.data_dir}` first", file=sys.stderr)
        return 2
    ids, docs, vectors, keys, store_id, model = found
    index = EmbeddedIndex(data_dir / "index.db")
    # Rank from the in-memory postings, as a warm server does; the variants read the same postings.
    if index.keyword_postings(wait=120) != "ready":
        print(f"the keyword postings of {data_dir} did not load (over keyword_postings_max_chunks?)", file=sys.stderr)
        return 2
    store_mean = index.mean_vector(store_id)
    assert store_mean is not None
    doc_of = dict(zip(keys, docs, strict=True))
    queries = load_queries(args.dataset)
    embedder = build_models(Settings.from_env(embedding_model=model)).get(model)
    print(f"store {store_id}: {len(ids)} chunks, embedding model {model}")
    splits = sorted(p.stem for p in (Path(args.dataset) / "qrels").glob("*.tsv"))
    table: dict[str, dict[str, float]] = {}
    for split in splits:
        qrels = load_qrels(Path(args.dataset) / "qrels" / f"{split}.tsv")
        judged = [q for q in qrels if q in queries and any(r > 0 for r in qrels[q].values())]
        # One at a time, as /search embeds them: an int8 model's vectors depend on the batch they are in.
        vectors_q = [embedder.embed_queries([queries[q]])[0] for q in judged]
        per_variant: dict[str, list[float]] = {}
        for query_id, query_vector in zip(judged, vectors_q, strict=True):
            relevant = {d for d, r in qrels[query_id].items() if r > 0}
            text = queries[query_id]
            served, _ = rank_query(index, store_id, text, "hybrid", query_vector,
                                   keyword_signal(index, store_id, text, candidates_for(K), None),
                                   store_mean, candidates_for(K), None)
            ranked = list(dict.fromkeys(doc_of[key] for key, _ in served))
            per_variant.setdefault(SERVED, []).append(ndcg_at_k(ranked, relevant, K))
            signals = _signals(index, store_id, ids, vectors, store_mean, text, query_vector)
            for name, fuse in VARIANTS:
                per_variant.setdefault(name, []).append(_ndcg(fuse(signals), docs, relevant))
        for name, values in per_variant.items():
            table.setdefault(name, {})[f"{split} ({len(judged)})"] = mean(values)
    index.close()
    columns = list(next(iter(table.values())))
    width = max(len(name) for name in table)
    print(f"{'fusion':{width}s} " + " ".join(f"{c:>14s}" for c in columns))
    for name, row in table.items():
        print(f"{name:{width}s} " + " ".join(f"{row[c]:14.4f}" for c in columns))
    return 0


def _signals(index: EmbeddedIndex, store_id: str, ids: np.ndarray, vectors: np.ndarray, store_mean: np.ndarray,
             query: str, query_vector: np.ndarray) -> Signals:
    text = np.zeros(len(ids))
    held = every = 0.0
    matches = index.keyword_matches(store_id, query)
    if matches is not None and any(matches.rows_with):
        text[np.searchsorted(ids, matches.ids)] = matches.scores
        held = sum(i for i, n in zip(matches.idfs, matches.rows_with, strict=True) if n)
        every = sum(matches.idfs)
    return Signals(vectors @ query_vector, text, held, every, float(store_mean @ query_vector))


def add_fusion_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "fusion", help="nDCG@10 of hybrid fusion variants, replayed offline over an ingested embedded data dir"
    )
    parser.add_argument("dataset", metavar="DATASET_DIR", help="BEIR folder; every qrels/*.tsv split is scored")
    parser.add_argument("--data-dir", required=True,
                        help="embedded data dir holding the dataset's store (from bench search/quality --data-dir)")
    parser.add_argument("--embedding-model",
                        help="the store that bench search/quality --embedding-model made (default: the plain one)")
    parser.set_defaults(handler=fusion_command)
