"""pgvector's keyword pre-cut (keywords.top_chunks) against the full ranking, on a real PostgreSQL."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("psycopg")
pytest.importorskip("pgvector")

from tests import test_index_pgvector as backend_tests  # noqa: E402
from tests.chunks import chunks_of  # noqa: E402
from vectorhouse.index.filters import Comparison  # noqa: E402
from vectorhouse.index.pgvector import PgvectorIndex  # noqa: E402

index, store = backend_tests.index, backend_tests.store  # the same fixtures


def test_keyword_search_precut_gives_the_full_ranking(index: PgvectorIndex, store: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The rare terms' chunks ranked first bound the rest by length (keywords.top_chunks): the same
    hits and scores, ties and filters included, as ranking every chunk holding a term."""
    from vectorhouse.index.pgvector import keywords

    rng = np.random.default_rng(7)
    common = ["cell", "protein", "patient", "study", "effect"]
    rare = ["otter", "granite", "zeolite", "walrus", "quasar", "lichen"]
    filler = [f"filler{i}" for i in range(300)]
    texts_of: dict[tuple[str, int], str] = {}
    common_only = 0
    for f in range(60):
        texts = []
        for _ in range(6):
            words = list(rng.choice(filler, size=int(rng.integers(2, 120))))
            words += [c for c in common if rng.random() < 0.2]
            if len(words) > 60 and rng.random() < 0.4:  # rare terms in long chunks: low scores
                words.append(str(rng.choice(rare)))
            rng.shuffle(words)
            texts.append(" ".join(words))
        texts.append("cell protein")  # the same short text in every file: ties on score
        # Short chunks dense in common terms, outscoring the long rare ones: only the length bound
        # keeps them among the candidates.
        dense = [str(rng.choice(common))] * int(rng.integers(2, 5)) + list(rng.choice(filler, size=f % 4))
        texts.append(" ".join(dense))
        index.upsert(store, f"file-{f:02d}", chunks_of(texts, seed=f), {"half": f % 2})
        texts_of.update({(f"file-{f:02d}", i): text for i, text in enumerate(texts)})
    monkeypatch.setattr(keywords, "PRECUT_ROWS", 40)  # this small store then has rare and common terms
    cuts: list[int] = []
    precut = keywords._precut

    def spy(*args: Any) -> Any:
        cut = precut(*args)
        cuts.append(-1 if cut is None else 10**9 if cut[2] is None else cut[2])
        return cut

    queries = [f"{c} {r}" for c in common for r in rare] + ["cell protein patient walrus lichen", "study quasar"]
    for filter in (None, Comparison("half", "eq", 1)):
        for k in (1, 5, 10, 30):
            for query in queries:
                monkeypatch.setattr(keywords, "_precut", spy)
                cut = index.search_text(store, query, k, filter)
                monkeypatch.setattr(keywords, "_precut", lambda *args: None)
                full = index.search_text(store, query, k, filter)
                assert [(h.file_id, h.position) for h in cut] == [(h.file_id, h.position) for h in full], query
                common_only += any(not any(r in texts_of[(h.file_id, h.position)] for r in rare) for h in full)
                assert [h.score for h in cut] == pytest.approx([h.score for h in full], rel=1e-12)
    assert common_only > 20  # answers holding chunks with common terms only, which the bound must keep
    fired = [longest for longest in cuts if longest >= 0]
    assert len(fired) >= len(cuts) / 4, cuts  # the cut was taken for many queries (the others: too few
    assert sorted(fired)[len(fired) // 2] < 60, fired  # rare chunks to fill k), mostly leaving out the long
    # common-only chunks (the chunks hold up to 125 lexemes)


def test_keyword_search_leaves_out_terms_too_common_to_matter(index: PgvectorIndex, store: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A long query's most common terms, which together cannot lift even the store's shortest chunk to
    the rare terms' k-th score, are left out of the match (keywords._essential): the answer is still
    the full ranking's, hits and scores."""
    from vectorhouse.index.pgvector import keywords

    rng = np.random.default_rng(11)
    common = ["cell", "protein", "patient", "study", "effect", "level"]
    rare = ["otter", "granite", "zeolite"]
    filler = [f"filler{i}" for i in range(200)]
    for f in range(40):
        texts = []
        for _ in range(8):
            words = list(rng.choice(filler, size=int(rng.integers(20, 80))))
            words += [c for c in common if rng.random() < 0.3]
            if rng.random() < 0.1:
                words += [str(rng.choice(rare))] * int(rng.integers(1, 4))
            rng.shuffle(words)
            texts.append(" ".join(words))
        index.upsert(store, f"file-{f:02d}", chunks_of(texts, seed=f), {"half": f % 2})
    monkeypatch.setattr(keywords, "PRECUT_ROWS", 40)  # the rare terms are ranked first, the common not
    left_out: list[int] = []
    essential, precut = keywords._essential, keywords._precut

    def spy(query: Any, common_terms: list[int], theta: float, shortest: int) -> list[int]:
        kept = essential(query, common_terms, theta, shortest)
        left_out.append(len(common_terms) - len(kept))
        return kept

    queries = [" ".join([*common, r]) for r in rare] + [" ".join([*common[:4], *rare[:2]]), " ".join(common + rare)]
    for filter in (None, Comparison("half", "eq", 1)):
        for k in (1, 5, 10):
            for query in queries:
                monkeypatch.setattr(keywords, "_essential", spy)
                cut = index.search_text(store, query, k, filter)
                monkeypatch.setattr(keywords, "_precut", lambda *args: None)
                full = index.search_text(store, query, k, filter)
                monkeypatch.setattr(keywords, "_precut", precut)
                assert [(h.file_id, h.position) for h in cut] == [(h.file_id, h.position) for h in full], query
                assert [h.score for h in cut] == pytest.approx([h.score for h in full], rel=1e-12)
                assert len(full) == k
    assert sum(1 for n in left_out if n) >= len(left_out) / 2, left_out  # common terms were left out
