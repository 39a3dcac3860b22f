"""Score fusion: raw vector/BM25 scores to 0..1, weighted hybrid fusion, RRF, multi-query merge.

A hit is identified by a hashable, mutually orderable chunk key (e.g. ``(file_id, chunk_index)``
or a chunk id string); ranked inputs are ``[(key, raw_score), ...]`` best first. Every function
returns ``[(key, score), ...]`` best first and breaks exact ties by ascending key, so equal inputs
always give equal output.

Normalisation (each signal to 0..1, with the same meaning across queries, so a caller's
``score_threshold`` means something):

* vector: ``v = clamp((cosine - f) / (1 - f), 0, 1)`` (:func:`cosine_to_unit`), ``f`` the cosine an
  unrelated chunk gets. Semantic search passes ``f = 0`` (the cosine itself); hybrid search passes
  the query's mean cosine over the store (``Index.mean_vector`` · query), so every model's cosines
  are measured from its own floor: MiniLM's unrelated chunks score ~0.1, bge-small's ~0.55, and
  unmeasured from there bge's vector side spans half the range the keyword side does.
* text:   ``t = s / (s + K)`` for a BM25 score ``s > 0``, else 0 (:func:`bm25_to_unit`). Search
  passes the query's own ``K``: ``Index.keyword_scale``, the score of a chunk holding every query
  term once at average length, a term the store lacks counting at the largest IDF (with SQLite FTS5
  the sum of the terms' IDF), so such a chunk gets 0.5 whether the query has two words or ten, and
  a chunk matching only one ordinary word of a long question gets little.
  ``BM25_SATURATION_K`` is the fallback when no scale is known.

Hybrid score (:func:`fuse_hybrid`, ``method="weighted"``, the default)::

    w_v' = w_v / (w_v + w_t)        w_t' = w_t / (w_v + w_t)
    score(key) = w_v' * v(key) + w_t' * t(key)          # a signal that did not return key: 0

Ties in ``score`` are broken by the weighted reciprocal-rank fusion of the two rankings (below),
then by key. With ``w_t = 0`` the score is exactly the clamped cosine (pure vector search). Note
that a missing signal counts 0: a chunk with no keyword match scores at most ``w_v'``; callers
without a text index should pass ``text_weight=0`` rather than an empty ``text_hits``. Search
gives every candidate both signals (``Index.score_chunks``) before calling this.

``method="rrf"`` instead scores by weighted reciprocal-rank fusion (what OpenAI's ``hybrid_search``
weights describe), scaled into 0..1 by its maximum: ``score = (k + 1) * sum_i w_i' / (k + rank_i)``,
so a key ranked first by every signal scores 1. Rank-based scores ignore how good the matches are,
so they suit ordering better than ``score_threshold``.

Weighted RRF (:func:`reciprocal_rank_fusion`): ``rrf(key) = sum_i w_i / (k + rank_i(key))`` with
1-based ranks, lists where the key is absent contributing nothing, ``k = 60`` as in Cormack et al.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Literal, TypeVar

K = TypeVar("K", bound=Hashable)

RRF_K = 60

# BM25 score that maps to 0.5 when the query's own scale is unknown. With Lucene-style BM25 one
# distinctive query term (in ~1% of chunks) occurring once in an average-length chunk scores about
# 4.5-5. Saturation rather than max-normalisation because dividing by the query's best score would
# give the top hit 1.0 even when it matched only a common word.
BM25_SATURATION_K = 5.0

FusionMethod = Literal["weighted", "rrf"]


def cosine_to_unit(cos: float, floor: float = 0.0) -> float:
    """A cosine similarity measured up from `floor` (what unrelated chunks score), clamped to 0..1.

    Ordering among chunks at or below the floor carries no useful signal, so they all become 0.
    NaN (a degenerate zero vector) also becomes 0.
    """
    if math.isnan(cos):
        return 0.0
    return min(1.0, max(0.0, (cos - floor) / (1.0 - floor)))


def cosine_floor(mean_cosine: float | None) -> float:
    """The floor hybrid search measures cosines from: the query's mean cosine over the store, kept
    within 0..0.95 (a store whose chunks average below 0 needs none; a degenerate one must not
    divide by ~0)."""
    if mean_cosine is None or math.isnan(mean_cosine):
        return 0.0
    return min(0.95, max(0.0, mean_cosine))


def bm25_to_unit(scores: Sequence[float], k: float = BM25_SATURATION_K) -> list[float]:
    """Map BM25 scores (higher is better) to 0..1 by saturation ``s / (s + k)``; ``s <= 0`` gives 0.

    Element-wise, so a score means the same in every query. Backends whose text score is not
    Lucene-style BM25 (e.g. SQLite FTS5's negated ``bm25()``) must convert
    to "positive, higher is better" first and may pass a ``k`` suited to their scale.
    """
    if not k > 0:
        raise ValueError(f"saturation constant must be positive, got {k!r}")
    out: list[float] = []
    for s in scores:
        if math.isnan(s) or s <= 0:
            out.append(0.0)
        elif math.isinf(s):
            out.append(1.0)
        else:
            out.append(s / (s + k))
    return out


def _check_weights(weights: Sequence[float]) -> None:
    for w in weights:
        if not (math.isfinite(w) and w >= 0):
            raise ValueError(f"weights must be finite and non-negative, got {w!r}")


def _best_first(scores: dict[K, float]) -> list[tuple[K, float]]:
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def _rrf_scores(lists: Sequence[Sequence[K]], weights: Sequence[float], k: int) -> dict[K, float]:
    scores: dict[K, float] = {}
    for keys, w in zip(lists, weights, strict=True):
        seen: set[K] = set()
        for rank, key in enumerate(keys, start=1):
            if key in seen:  # a repeated key keeps its best (first) rank
                continue
            seen.add(key)
            scores[key] = scores.get(key, 0.0) + w / (k + rank)
    return scores


def reciprocal_rank_fusion(
    lists: Sequence[Sequence[K]], weights: Sequence[float], k: int = RRF_K
) -> list[tuple[K, float]]:
    """Weighted RRF: ``sum_i weights[i] / (k + rank_i(key))`` over 1-based ranks, best first.

    Weights are used as given (not normalised); a key absent from a list gets nothing from it.
    """
    if len(lists) != len(weights):
        raise ValueError(f"got {len(lists)} ranked lists but {len(weights)} weights")
    if k < 0:
        raise ValueError(f"RRF k must be non-negative, got {k!r}")
    _check_weights(weights)
    return _best_first(_rrf_scores(lists, weights, k))


def _max_by_key(hits: Sequence[tuple[K, float]]) -> dict[K, float]:
    best: dict[K, float] = {}
    for key, score in hits:
        if key not in best or score > best[key]:
            best[key] = score
    return best


def fuse_hybrid(
    vector_hits: Sequence[tuple[K, float]],
    text_hits: Sequence[tuple[K, float]],
    embedding_weight: float = 0.5,
    text_weight: float = 0.5,
    method: FusionMethod = "weighted",
    rrf_k: int = RRF_K,
    bm25_k: float = BM25_SATURATION_K,
    floor: float = 0.0,
) -> list[tuple[K, float]]:
    """Fuse vector hits ``(key, cosine)`` and text hits ``(key, bm25)`` into 0..1 scores, best first.

    See the module docstring for both methods' formulas. Weights need not sum to 1 (they are
    normalised) but must be non-negative with a positive sum.
    """
    _check_weights((embedding_weight, text_weight))
    total = embedding_weight + text_weight
    if total <= 0:
        raise ValueError("embedding_weight and text_weight must not both be 0")
    if method not in ("weighted", "rrf"):
        raise ValueError(f"unknown fusion method {method!r}: expected 'weighted' or 'rrf'")
    w_v, w_t = embedding_weight / total, text_weight / total

    rrf = _rrf_scores([[key for key, _ in vector_hits], [key for key, _ in text_hits]], (w_v, w_t), rrf_k)
    if method == "rrf":
        # Normalised weights sum to 1, so the best possible RRF is 1 / (k + 1).
        unit = {key: min(1.0, s * (rrf_k + 1)) for key, s in rrf.items()}
        return _best_first(unit)

    if not 0.0 <= floor < 1.0:
        raise ValueError(f"cosine floor must be in [0, 1), got {floor!r}")
    vec = {key: cosine_to_unit(c, floor) for key, c in _max_by_key(vector_hits).items()}
    raw_text = _max_by_key(text_hits)
    text = dict(zip(raw_text, bm25_to_unit(list(raw_text.values()), bm25_k), strict=True))
    fused: dict[K, float] = {}
    for key in rrf:  # every key of either list, in first-seen order
        # min() absorbs float round-off such as 0.5 * 1.0 + 0.5 * 1.0 drifting above 1.
        fused[key] = min(1.0, w_v * vec.get(key, 0.0) + w_t * text.get(key, 0.0))
    return sorted(fused.items(), key=lambda item: (-item[1], -rrf[item[0]], item[0]))


def merge_queries(lists_of_fused: Sequence[Sequence[tuple[K, float]]]) -> list[tuple[K, float]]:
    """Merge per-query results (multi-query search): each key keeps its best score, best first."""
    return _best_first(_max_by_key([hit for hits in lists_of_fused for hit in hits]))
