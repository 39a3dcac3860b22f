"""Tests for vectorhouse.search.fusion: normalisation ranges, fusion formulas, ordering, determinism."""

from __future__ import annotations

import math
import random

import pytest

from vectorhouse.search.fusion import (
    BM25_SATURATION_K,
    RRF_K,
    bm25_to_unit,
    cosine_to_unit,
    fuse_hybrid,
    merge_queries,
    reciprocal_rank_fusion,
)


@pytest.mark.parametrize(
    ("cos", "expected"),
    [(-0.3, 0.0), (0.0, 0.0), (0.42, 0.42), (1.0, 1.0), (1.0000001, 1.0), (float("nan"), 0.0)],
)
def test_cosine_to_unit(cos: float, expected: float) -> None:
    assert cosine_to_unit(cos) == pytest.approx(expected)


def test_bm25_to_unit_saturates() -> None:
    k = BM25_SATURATION_K
    out = bm25_to_unit([0.0, k, 3 * k, -2.0, float("nan"), float("inf"), 1e9])
    assert out[:6] == pytest.approx([0.0, 0.5, 0.75, 0.0, 0.0, 1.0])
    assert 0.99 < out[6] <= 1.0
    assert bm25_to_unit([]) == []


def test_bm25_to_unit_is_per_score_and_monotonic() -> None:
    scores = [0.1, 1.0, 2.5, 7.0, 12.0, 40.0]
    out = bm25_to_unit(scores)
    assert out == sorted(out) and all(0.0 < u < 1.0 for u in out)
    # Same score, same meaning, whatever else the query returned (unlike max-normalisation).
    assert bm25_to_unit([7.0])[0] == bm25_to_unit([7.0, 100.0])[0]


def test_bm25_to_unit_custom_k() -> None:
    assert bm25_to_unit([2.0], k=2.0) == [0.5]
    with pytest.raises(ValueError):
        bm25_to_unit([1.0], k=0.0)


def test_rrf_formula_values() -> None:
    fused = dict(reciprocal_rank_fusion([["a", "b", "c"], ["b", "d"]], weights=[1.0, 2.0], k=60))
    assert fused == pytest.approx(
        {"a": 1 / 61, "b": 1 / 62 + 2 / 61, "c": 1 / 63, "d": 2 / 62},
    )


def test_rrf_ordering_and_ties() -> None:
    out = reciprocal_rank_fusion([["a", "b", "c"], ["b", "d"]], weights=[1.0, 2.0])
    assert [key for key, _ in out] == ["b", "d", "a", "c"]
    # Equal RRF scores: ascending key.
    out = reciprocal_rank_fusion([["z"], ["a"], ["m"]], weights=[1.0, 1.0, 1.0])
    assert [key for key, _ in out] == ["a", "m", "z"]


def test_rrf_duplicate_key_keeps_best_rank() -> None:
    assert dict(reciprocal_rank_fusion([["a", "b", "a"]], weights=[1.0], k=0)) == {"a": 1.0, "b": 0.5}


def test_rrf_default_k_and_bad_arguments() -> None:
    assert reciprocal_rank_fusion([["a"]], weights=[1.0]) == [("a", 1 / (RRF_K + 1))]
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"], ["b"]], weights=[1.0])
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"]], weights=[-1.0])
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"]], weights=[1.0], k=-1)


def _random_hits(rng: random.Random, n: int, lo: float, hi: float) -> list[tuple[str, float]]:
    keys = rng.sample([f"c{i:03d}" for i in range(200)], n)
    return sorted(((k, rng.uniform(lo, hi)) for k in keys), key=lambda h: -h[1])


@pytest.mark.parametrize("method", ["weighted", "rrf"])
@pytest.mark.parametrize("weights", [(0.5, 0.5), (1.0, 0.0), (0.0, 1.0), (0.9, 0.1), (3.0, 7.0)])
def test_fused_scores_are_in_unit_range_and_sorted(method: str, weights: tuple[float, float]) -> None:
    rng = random.Random(7)
    for _ in range(20):
        vec = _random_hits(rng, 30, -0.5, 1.0)
        text = _random_hits(rng, 30, 0.0, 60.0)
        out = fuse_hybrid(vec, text, *weights, method=method)  # type: ignore[arg-type]
        scores = [s for _, s in out]
        assert all(0.0 <= s <= 1.0 for s in scores)
        assert scores == sorted(scores, reverse=True)
        assert {k for k, _ in out} == {k for k, _ in vec} | {k for k, _ in text}


def test_weighted_formula() -> None:
    out = dict(fuse_hybrid([("both", 0.6), ("vec", 0.8)], [("both", 5.0), ("txt", 15.0)]))
    assert out["both"] == pytest.approx(0.5 * 0.6 + 0.5 * 0.5)
    assert out["vec"] == pytest.approx(0.5 * 0.8)
    assert out["txt"] == pytest.approx(0.5 * 0.75)
    skewed = dict(fuse_hybrid([("both", 0.6)], [("both", 5.0)], embedding_weight=3, text_weight=1))
    assert skewed["both"] == pytest.approx(0.75 * 0.6 + 0.25 * 0.5)


def test_weights_are_normalised() -> None:
    vec, text = [("a", 0.7), ("b", 0.2)], [("b", 9.0), ("c", 1.0)]
    assert fuse_hybrid(vec, text, 1, 1) == fuse_hybrid(vec, text, 0.5, 0.5) == fuse_hybrid(vec, text, 4, 4)


def test_text_weight_zero_is_pure_vector_search() -> None:
    vec = [("a", 0.91), ("b", 0.4), ("c", -0.2)]
    assert fuse_hybrid(vec, [], embedding_weight=1.0, text_weight=0.0) == [
        ("a", 0.91),
        ("b", 0.4),
        ("c", 0.0),
    ]


def test_perfect_match_scores_one() -> None:
    assert fuse_hybrid([("a", 1.0)], [("a", math.inf)]) == [("a", 1.0)]
    assert fuse_hybrid([("a", 0.3)], [("a", 2.0)], method="rrf") == [("a", 1.0)]


def test_weights_shift_ranking() -> None:
    vec = [("semantic", 0.9), ("keyword", 0.3)]
    text = [("keyword", 30.0)]
    by_embedding = fuse_hybrid(vec, text, embedding_weight=0.9, text_weight=0.1)
    by_text = fuse_hybrid(vec, text, embedding_weight=0.1, text_weight=0.9)
    assert [k for k, _ in by_embedding] == ["semantic", "keyword"]
    assert [k for k, _ in by_text] == ["keyword", "semantic"]
    # RRF: each key found by one signal only, so the weight alone decides.
    rrf_embedding = fuse_hybrid([("s", 0.9)], [("k", 30.0)], 0.9, 0.1, method="rrf")
    rrf_text = fuse_hybrid([("s", 0.9)], [("k", 30.0)], 0.1, 0.9, method="rrf")
    assert rrf_embedding[0][0] == "s" and rrf_text[0][0] == "k"


def test_rrf_method_values() -> None:
    out = dict(fuse_hybrid([("a", 0.9), ("b", 0.8)], [("b", 9.0)], method="rrf"))
    assert out["b"] == pytest.approx(61 * (0.5 / 62 + 0.5 / 61))
    assert out["a"] == pytest.approx(61 * 0.5 / 61)


def test_weighted_ties_broken_by_rrf_then_key() -> None:
    # Equal fused scores; "b" is ranked first by the vector list so RRF puts it ahead of "a".
    assert [k for k, _ in fuse_hybrid([("b", 0.5), ("a", 0.5)], [])] == ["b", "a"]
    # Equal fused score and equal RRF (each first in one list): ascending key.
    out = fuse_hybrid([("b", 0.5)], [("a", BM25_SATURATION_K)])
    assert out == [("a", 0.25), ("b", 0.25)]


def test_duplicate_hits_keep_best_score() -> None:
    out = dict(fuse_hybrid([("a", 0.2), ("a", 0.8)], [], 1, 0))
    assert out == {"a": 0.8}


def test_tuple_keys() -> None:
    out = fuse_hybrid([(("file-1", 0), 0.7), (("file-1", 1), 0.7)], [(("file-0", 3), 5.0)])
    assert [k for k, _ in out] == [("file-1", 0), ("file-1", 1), ("file-0", 3)]


def test_fuse_hybrid_bad_arguments() -> None:
    with pytest.raises(ValueError):
        fuse_hybrid([("a", 0.5)], [], 0, 0)
    with pytest.raises(ValueError):
        fuse_hybrid([("a", 0.5)], [], -1, 2)
    with pytest.raises(ValueError):
        fuse_hybrid([("a", 0.5)], [], 1, math.nan)
    with pytest.raises(ValueError):
        fuse_hybrid([("a", 0.5)], [], method="max")  # type: ignore[arg-type]


def test_merge_queries_takes_max_and_sorts() -> None:
    q1 = [("a", 0.9), ("b", 0.4)]
    q2 = [("b", 0.7), ("c", 0.4)]
    assert merge_queries([q1, q2]) == [("a", 0.9), ("b", 0.7), ("c", 0.4)]
    assert merge_queries([]) == []


def test_determinism() -> None:
    rng = random.Random(11)
    vec = _random_hits(rng, 40, 0.0, 1.0)
    text = _random_hits(rng, 40, 0.0, 20.0)
    first = fuse_hybrid(vec, text)
    assert all(fuse_hybrid(vec, text) == first for _ in range(5))
    # Tied scores come out in key order whatever order the queries or hits arrived in.
    tied = [("d", 0.5), ("b", 0.5), ("c", 0.5), ("a", 0.5)]
    for _ in range(10):
        shuffled = tied[:]
        rng.shuffle(shuffled)
        assert merge_queries([shuffled[:2], shuffled[2:]]) == sorted(tied)
