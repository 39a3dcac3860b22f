"""The keyword postings' best k without ranking every match: a block-max cut over each segment's scores.

A question of ten words matches half of a large store. Every posting of its terms is scored into one
array per segment (`bincount`, cheap), and only the rows at or above the k-th largest block maximum
are ranked (`contenders`). The rows of the other signal in a hybrid search are scored by binary
search in each term's postings (`scores_of`). Each row's terms are summed in query order, as FTS5
does, so every answer is FTS5's, bit for bit.

MaxScore (the rarest terms' rows scored first, their k-th score bounding the rest) ran here for
queries of up to 3 terms until this cut; at 1M chunks the cut alone measured p50 within 0.2 ms of it
and about half its p90 (docs/performance.md), so it went.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Rows per block of the top-k cut: the maxima of blocks this long take 0.9 ms over a million scores
# (numpy reduces short rows slowly: 16 rows per block took 3.7 ms), and a store still has thousands.
CUT_BLOCK = 128


def contenders(scores: np.ndarray, excluded: np.ndarray | None, k: int, floor: float) -> tuple[np.ndarray, float]:
    """The rows (not excluded, score above 0) whose score can be among the best k (k <= 0: every such
    row), and the raised floor.

    Ranking every match was most of a long question's keyword search (partitioning 300k scores at a
    million chunks). The k-th largest of the block maxima is a score that k rows reach (one in each of
    k blocks), so no row below it, nor below the floor an earlier segment set, is among the best k;
    ties with the k-th score all stay in.
    """
    if excluded is not None:
        scores = np.where(excluded, 0.0, scores)
    blocks = len(scores) // CUT_BLOCK
    if k > 0 and blocks >= 4 * k:  # else a small segment, whose rows are cheap to rank
        maxima = scores[: blocks * CUT_BLOCK].reshape(blocks, CUT_BLOCK).max(axis=1)
        floor = max(floor, float(np.partition(maxima, blocks - k)[blocks - k]))
    if floor > 0.0:
        return np.flatnonzero(scores >= floor), floor
    return np.flatnonzero(scores > 0), floor  # every held term adds at least 1e-6 * a positive weight


@dataclass(frozen=True)
class SegmentTerms:
    """One segment's rows of a query: each term's (row positions ascending, BM25 weight without the IDF)."""

    ids: np.ndarray  # the segment's chunk row ids
    allowed: np.ndarray | None  # rows the filter keeps, None: all
    terms: list[tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class WeighedQuery:
    """A query's terms over a store's segments, with their IDF and row counts."""

    idfs: list[float]
    rows_with: list[int]
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
