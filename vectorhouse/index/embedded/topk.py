"""MaxScore over the keyword postings: a short query's best k rows without scoring every posting of its common terms.

Most postings a query reads at a million chunks are its common words'. The rarest terms' rows (at
most ESSENTIAL_POSTINGS postings between them) are scored in full first, each row's other terms
found by binary search in their postings; the k-th of those scores, theta, bounds the rest: a row
holding only terms whose largest contributions (IDF x the term's largest BM25 weight in the store)
sum below theta cannot reach the top k. When a term outside that set is not among the scored ones
yet, its rows are added (up to EXTENSION_POSTINGS) and the k best are taken again. The answer is the
plain pass's, bit for bit: each row's terms are summed in query order, as there. Longer queries take
the plain pass (MAXSCORE_MAX_TERMS: measured slower for them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Postings of the rarest terms scored before the bound is known; below it in all, the plain pass runs.
ESSENTIAL_POSTINGS = 20_000
# Postings a second round may add when the first theta leaves terms unscored; more: the plain pass.
EXTENSION_POSTINGS = 40_000
# Longer queries take the plain pass: at 1M chunks (SciFact claims cut to their first n words, with
# the scale and 50 other rows' scores a hybrid search asks), MaxScore against the plain pass p50:
# 3 words 3.36 / 5.63 ms, 5 words 8.50 / 7.84 ms, whole claims 14.76 / 13.53 ms.
MAXSCORE_MAX_TERMS = 3


@dataclass(frozen=True)
class SegmentTerms:
    """One segment's rows of a query: each term's (row positions ascending, BM25 weight without the IDF)."""

    ids: np.ndarray  # the segment's chunk row ids
    allowed: np.ndarray | None  # rows the filter keeps, None: all
    terms: list[tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class WeighedQuery:
    """A query's terms over a store's segments, with their IDF, row counts and largest contributions."""

    idfs: list[float]
    rows_with: list[int]
    upper: list[float]  # per term: IDF x its largest weight in the store
    segments: list[SegmentTerms]


def scores_at(query: WeighedQuery, segment: SegmentTerms, rows: np.ndarray) -> np.ndarray:
    """BM25 of the segment's rows at `rows` (0 for a row holding no term), terms added in query order."""
    scores = np.zeros(len(rows))
    for idf, (positions, weights) in zip(query.idfs, segment.terms, strict=True):
        if not len(positions):
            continue
        at = np.minimum(np.searchsorted(positions, rows), len(positions) - 1)
        held = positions[at] == rows
        scores = scores + np.where(held, idf * weights[at], 0.0)
    return scores


def top_k(query: WeighedQuery, k: int) -> list[tuple[int, float]] | None:
    """The best k (row id, BM25), ties by id; None when the plain pass over every posting is as cheap."""
    count = len(query.idfs)
    if count > MAXSCORE_MAX_TERMS:
        return None
    essential: set[int] = set()
    held = 0
    for term in sorted(range(count), key=lambda t: query.rows_with[t]):
        if essential and held + query.rows_with[term] > ESSENTIAL_POSTINGS:
            break
        essential.add(term)
        held += query.rows_with[term]
    if len(essential) == count:
        return None
    ids, scores = _candidates(query, essential)
    while len(ids) >= k > 0:
        theta = -np.partition(-scores, k - 1)[k - 1]
        # The terms with the smallest largest-contributions, as many as stay below theta together
        # (widened for rounding): a row holding nothing else scores less than the k-th candidate.
        passive: set[int] = set()
        total = 0.0
        for term in sorted(range(count), key=lambda t: query.upper[t]):
            if (total + query.upper[term]) * (1 + 1e-9) >= theta:
                break
            total += query.upper[term]
            passive.add(term)
        needed = set(range(count)) - passive
        if needed <= essential:
            return best(ids, scores, k)
        extra = sum(query.rows_with[t] for t in needed - essential)
        if not passive or extra > EXTENSION_POSTINGS:
            return None  # no bound, or one that leaves most postings to score: the plain pass is cheaper
        essential |= needed  # theta can only rise with more candidates, so one more round settles it
        ids, scores = _candidates(query, essential)
    return None


def _candidates(query: WeighedQuery, terms: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """Every row holding one of `terms` (and allowed), with its full score."""
    found_ids: list[np.ndarray] = []
    found_scores: list[np.ndarray] = []
    for segment in query.segments:
        parts = [segment.terms[t][0] for t in terms if len(segment.terms[t][0])]
        if not parts:
            continue
        rows = np.unique(np.concatenate(parts))
        if segment.allowed is not None:
            rows = rows[segment.allowed[rows]]
        found_ids.append(segment.ids[rows])
        found_scores.append(scores_at(query, segment, rows))
    if not found_ids:
        return np.empty(0, np.int64), np.empty(0)
    return np.concatenate(found_ids), np.concatenate(found_scores)


def best(ids: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k highest scores, ties by row id."""
    if len(ids) > k:
        # Everything tied with the k-th score stays in, so the id tie-break below is exact.
        kth = np.partition(-scores, k - 1)[k - 1]
        keep = -scores <= kth
        ids, scores = ids[keep], scores[keep]
    order = np.lexsort((ids, -scores))[:k]
    return [(int(ids[i]), float(scores[i])) for i in order]


def scores_of(query: WeighedQuery, ids: Sequence[int] | np.ndarray) -> dict[int, float]:
    """BM25 of the given row ids that hold a query term (allowed or not), by binary search."""
    wanted = np.asarray(ids, dtype=np.int64)
    out: dict[int, float] = {}
    for segment in query.segments:
        if not len(segment.ids) or not len(wanted):
            continue
        at = np.minimum(np.searchsorted(segment.ids, wanted), len(segment.ids) - 1)
        rows = at[segment.ids[at] == wanted]
        if not len(rows):
            continue
        scores = scores_at(query, segment, rows)
        hit = scores > 0
        out.update(zip(segment.ids[rows[hit]].tolist(), scores[hit].tolist(), strict=True))
    return out
