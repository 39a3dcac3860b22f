"""`vectorhouse bench fusion`: hybrid fusion variants replayed offline over an ingested embedded index.

Ranking experiments need both signals for every chunk and every query, which /search never returns.
This reads a data dir that `bench search` or `bench quality` filled (`--data-dir`), computes each
judged query's cosine and BM25 (FTS5's formula, from the index's own postings) against every chunk
of the dataset's store, and prints document nDCG@10 per qrels split for a fixed set of fusions, the
served one first. Choose on one split (train), report the other (test).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vectorhouse.bench.beir import load_dataset, load_qrels, load_queries, store_name
from vectorhouse.bench.metrics import mean, ndcg_at_k
from vectorhouse.embed.factory import create_embedder
from vectorhouse.index.keywords import KeywordPostings
from vectorhouse.search.fusion import BM25_SATURATION_K, fuse_hybrid
from vectorhouse.search.text import keyword_terms
from vectorhouse.service.search import MIN_CANDIDATES

K = 10

SERVED = "served: top 50 of each, both signals, s/(s+sum idf), 0.5/0.5"
BEFORE = "before: top 50 of each, missing signal 0, s/(s+5), 0.5/0.5"

# (name, fused score from clamped cosine v, BM25 s, and the query's summed IDF; every chunk scored by both)
Fusion = Callable[[np.ndarray, np.ndarray, float], np.ndarray]
VARIANTS: list[tuple[str, Fusion]] = [
    ("vectors only", lambda v, s, idf: v),
    ("BM25 only", lambda v, s, idf: s),
    ("s/(s+5), 0.5/0.5, both signals for every chunk", lambda v, s, idf: 0.5 * v + 0.5 * s / (s + BM25_SATURATION_K)),
    ("s/(s+5), 0.4/0.6, both signals for every chunk", lambda v, s, idf: 0.4 * v + 0.6 * s / (s + BM25_SATURATION_K)),
    # A chunk holding every (present) query term once, at average length, scores the summed IDF: 0.5.
    ("s/(s+sum idf), 0.5/0.5, both signals for every chunk",
     lambda v, s, idf: 0.5 * v + 0.5 * s / (s + max(idf, 1e-9))),
]


def _store_rows(data_dir: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, str] | None:
    """(chunk ids, their document ids, their vectors, store id) of the newest store with this name."""
    if not (data_dir / "catalog.db").is_file() or not (data_dir / "index.db").is_file():
        return None
    with sqlite3.connect(data_dir / "catalog.db") as catalog:
        try:
            row = catalog.execute(
                "SELECT id FROM vector_stores WHERE name = ? ORDER BY created_at DESC LIMIT 1", (name,)
            ).fetchone()
        except sqlite3.OperationalError:  # not a vectorhouse catalog
            return None
    if row is None:
        return None
    with sqlite3.connect(data_dir / "index.db") as index:
        rows = index.execute(
            "SELECT c.id, json_extract(a.attributes, '$.doc_id'), c.vector FROM chunks c JOIN file_attributes a "
            "ON a.store_id = c.store_id AND a.file_id = c.file_id WHERE c.store_id = ? ORDER BY c.id",
            (row[0],),
        ).fetchall()
    ids = np.array([r[0] for r in rows], np.int64)
    docs = np.array([str(r[1]) for r in rows], object)
    vectors = np.frombuffer(b"".join(r[2] for r in rows), np.float32).reshape(len(rows), -1)
    return ids, docs, vectors, row[0]


def _ndcg(scores: np.ndarray, docs: np.ndarray, relevant: set[str]) -> float:
    ranked = list(dict.fromkeys(docs[np.argsort(-scores, kind="stable")[: 6 * K]]))
    return ndcg_at_k(ranked, relevant, K)


def fusion_command(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).expanduser()
    dataset = load_dataset(args.dataset)
    found = _store_rows(data_dir, store_name(dataset))
    if found is None:
        print(f"no store {store_name(dataset)} in {data_dir}: run `vectorhouse bench search "
              f"{args.dataset} --data-dir {args.data_dir}` first", file=sys.stderr)
        return 2
    ids, docs, vectors, store_id = found
    postings = KeywordPostings()
    postings.start_loading()
    with sqlite3.connect(data_dir / "index.db", isolation_level=None) as index:
        postings.finish_loading(postings.load(index))
    queries = load_queries(args.dataset)
    embedder = create_embedder("local")
    splits = sorted(p.stem for p in (Path(args.dataset) / "qrels").glob("*.tsv"))
    table: dict[str, dict[str, float]] = {}
    for split in splits:
        qrels = load_qrels(Path(args.dataset) / "qrels" / f"{split}.tsv")
        judged = [q for q in qrels if q in queries and any(r > 0 for r in qrels[q].values())]
        vectors_q = embedder.embed([queries[q] for q in judged])
        per_variant: dict[str, list[float]] = {}
        for query_id, query_vector in zip(judged, vectors_q, strict=True):
            relevant = {d for d, r in qrels[query_id].items() if r > 0}
            cosine = vectors @ query_vector
            text = np.zeros(len(ids))
            idf = 0.0
            matches = postings.matches(store_id, keyword_terms(queries[query_id]))
            if matches is not None:
                text[np.searchsorted(ids, matches.ids)] = matches.scores
                # Terms no chunk holds cannot be matched: they are left out of the "full match" score.
                idf = sum(i for i, n in zip(matches.idfs, matches.rows_with, strict=True) if n)
            for name, fill, scale in ((SERVED, True, idf), (BEFORE, False, BM25_SATURATION_K)):
                ranked = _served(ids, cosine, text, fill, scale if scale > 0 else BM25_SATURATION_K)
                per_variant.setdefault(name, []).append(_ndcg(ranked, docs, relevant))
            clamped = np.clip(cosine, 0.0, 1.0)
            for name, fuse in VARIANTS:
                per_variant.setdefault(name, []).append(_ndcg(fuse(clamped, text, idf), docs, relevant))
        for name, values in per_variant.items():
            table.setdefault(name, {})[f"{split} ({len(judged)})"] = mean(values)
    columns = list(next(iter(table.values())))
    print(f"{'fusion':62s} " + " ".join(f"{c:>14s}" for c in columns))
    for name, row in table.items():
        print(f"{name:62s} " + " ".join(f"{row[c]:14.4f}" for c in columns))
    return 0


def _served(ids: np.ndarray, cosine: np.ndarray, text: np.ndarray, fill: bool, scale: float) -> np.ndarray:
    """What /search ranks: each signal's top candidates (with both signals, when `fill`), fused by
    the product's own fuse_hybrid; a rank order as scores."""
    top_v = np.argsort(-cosine, kind="stable")[:MIN_CANDIDATES]
    matched = np.flatnonzero(text > 0)
    top_t = matched[np.argsort(-text[matched], kind="stable")[:MIN_CANDIDATES]]
    rows_v, rows_t = top_v.tolist(), top_t.tolist()
    if fill:
        # As SearchService._missing_signals: a full list's missing candidates get their signal.
        if len(top_v) >= MIN_CANDIDATES:
            rows_v += [i for i in rows_t if i not in set(top_v.tolist())]
        if len(top_t) >= MIN_CANDIDATES:
            rows_t += [i for i in top_v.tolist() if i not in set(top_t.tolist()) and text[i] > 0]
    fused = fuse_hybrid([(int(ids[i]), float(cosine[i])) for i in rows_v],
                        [(int(ids[i]), float(text[i])) for i in rows_t], bm25_k=scale)
    scores = np.full(len(ids), -1.0)
    for rank, (key, _) in enumerate(fused):
        scores[np.searchsorted(ids, key)] = len(fused) - rank  # rank order, ties as fuse_hybrid broke them
    return scores


def add_fusion_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "fusion", help="nDCG@10 of hybrid fusion variants, replayed offline over an ingested embedded data dir"
    )
    parser.add_argument("dataset", metavar="DATASET_DIR", help="BEIR folder; every qrels/*.tsv split is scored")
    parser.add_argument("--data-dir", required=True,
                        help="embedded data dir holding the dataset's store (from bench search/quality --data-dir)")
    parser.set_defaults(handler=fusion_command)
