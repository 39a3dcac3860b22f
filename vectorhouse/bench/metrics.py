"""Pure benchmark arithmetic: latency percentiles and ranking quality (nDCG@k, recall@k)."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence


def dedupe_keep_first(ids: Iterable[str]) -> list[str]:
    """Drop repeats, keeping each id at its first (best-ranked) position.

    Search returns chunks, so one document can appear several times; it counts once, where it ranked best.
    """
    seen: set[str] = set()
    out: list[str] = []
    for doc_id in ids:
        if doc_id not in seen:
            seen.add(doc_id)
            out.append(doc_id)
    return out


def ndcg_at_k(ranked_ids: Sequence[str], relevant_ids: Collection[str], k: int) -> float:
    """Binary-relevance nDCG@k with a log2(rank + 1) discount; 0.0 when nothing is relevant.

    Repeated ids are collapsed to their first occurrence so a document cannot earn gain twice.
    """
    if k <= 0 or not relevant_ids:
        return 0.0
    top = dedupe_keep_first(ranked_ids)[:k]
    dcg = sum(1.0 / math.log2(rank + 2) for rank, doc_id in enumerate(top) if doc_id in relevant_ids)
    # The ideal ranking puts every relevant document first, but only k of them fit.
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(len(relevant_ids), k)))
    return dcg / ideal


def recall_at_k(ranked_ids: Sequence[str], relevant_ids: Collection[str], k: int) -> float:
    """Share of the relevant documents found in the top k (repeats collapsed); 0.0 when nothing is relevant."""
    if k <= 0 or not relevant_ids:
        return 0.0
    top = dedupe_keep_first(ranked_ids)[:k]
    found = sum(1 for doc_id in top if doc_id in relevant_ids)
    return found / len(relevant_ids)


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) with linear interpolation between order statistics (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, got {p}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * p / 100
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    fraction = position - lower
    return ordered[lower] + (ordered[upper] - ordered[lower]) * fraction


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean; 0.0 for no values (an empty evaluation reports zero, not an error)."""
    return sum(values) / len(values) if values else 0.0
