"""Hand-computed checks of the benchmark metrics (nDCG@k, recall@k, percentiles) and the BEIR loader."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest

from vectorhouse.bench.beir import load_dataset, store_name
from vectorhouse.bench.metrics import dedupe_keep_first, mean, ndcg_at_k, percentile, recall_at_k

LOG2_3 = math.log2(3)  # discount at rank 2
LOG2_5 = math.log2(5)  # discount at rank 4


def test_ndcg_perfect_ranking_is_one() -> None:
    assert ndcg_at_k(["a", "b", "x"], {"a", "b"}, 10) == pytest.approx(1.0)


def test_ndcg_relevant_at_ranks_two_and_four() -> None:
    # DCG = 1/log2(3) + 1/log2(5) = 0.63093 + 0.43068; ideal = 1 + 1/log2(3) = 1.63093 → 0.65092
    expected = (1 / LOG2_3 + 1 / LOG2_5) / (1 + 1 / LOG2_3)
    assert ndcg_at_k(["a", "b", "c", "d"], {"b", "d"}, 10) == pytest.approx(expected)
    assert expected == pytest.approx(0.650921, abs=1e-6)


def test_ndcg_ideal_is_capped_at_k() -> None:
    # 3 relevant but k=2: ideal = 1 + 1/log2(3); found one at rank 2 → 0.63093 / 1.63093 = 0.38685
    assert ndcg_at_k(["x", "r1", "r2"], {"r1", "r2", "r3"}, 2) == pytest.approx(0.386853, abs=1e-6)


def test_ndcg_ignores_results_past_k() -> None:
    assert ndcg_at_k(["x", "y", "r"], {"r"}, 2) == 0.0


def test_ndcg_counts_a_repeated_document_once_at_its_best_rank() -> None:
    assert ndcg_at_k(["a", "a", "b"], {"a"}, 10) == pytest.approx(1.0)
    # [x, x, r] dedupes to [x, r]: r sits at rank 2 and is inside k=2.
    assert ndcg_at_k(["x", "x", "r"], {"r"}, 2) == pytest.approx(1 / LOG2_3)


def test_ndcg_without_relevant_documents_is_zero() -> None:
    assert ndcg_at_k(["a"], set(), 10) == 0.0
    assert ndcg_at_k([], {"a"}, 10) == 0.0


def test_recall_at_k() -> None:
    assert recall_at_k(["a", "b", "c"], {"a", "c", "z"}, 2) == pytest.approx(1 / 3)
    assert recall_at_k(["a", "b", "c"], {"a", "c", "z"}, 3) == pytest.approx(2 / 3)
    assert recall_at_k(["a", "a", "c"], {"a", "c"}, 2) == pytest.approx(1.0)  # repeat does not use a slot
    assert recall_at_k(["a"], set(), 10) == 0.0


def test_dedupe_keeps_first_occurrence_in_order() -> None:
    assert dedupe_keep_first(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]


def test_percentile_interpolates_linearly() -> None:
    values = [4.0, 1.0, 3.0, 2.0]  # unsorted on purpose
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == pytest.approx(2.5)
    assert percentile(values, 90) == pytest.approx(3.7)  # position 0.9 * 3 = 2.7 → 3 + 0.7 * (4 - 3)
    assert percentile(values, 100) == 4.0
    assert percentile([5.0], 99) == 5.0


def test_percentile_rejects_empty_and_out_of_range() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_mean() -> None:
    assert mean([1.0, 2.0, 6.0]) == pytest.approx(3.0)
    assert mean([]) == 0.0


def test_load_beir_folder(tmp_path: Path) -> None:
    root = tmp_path / "tiny"
    (root / "qrels").mkdir(parents=True)
    docs = [{"_id": "d1", "title": "Title", "text": "Body one."}, {"_id": "d2", "title": "", "text": "Body two."}]
    with gzip.open(root / "corpus.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(json.dumps(d) for d in docs) + "\n")
    queries = [{"_id": "q1", "text": "first"}, {"_id": "q2", "text": "unjudged"}, {"_id": "q3", "text": "third"}]
    (root / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries) + "\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq3\td2\t0\nq3\td1\t2\n")

    ds = load_dataset(root)

    assert ds.name == "tiny" and store_name(ds) == "bench-tiny"
    assert ds.corpus == {"d1": "Title\n\nBody one.", "d2": "Body two."}
    assert list(ds.queries) == ["q1", "q3"]  # q2 is not in qrels/test.tsv
    assert ds.relevant("q1") == {"d1"}
    assert ds.relevant("q3") == {"d1"}  # score 0 is not relevant
