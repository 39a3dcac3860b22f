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
    """The rare terms' chunks ranked first bound every chunk by its length band (keywords.top_chunks): the same
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
    # Per search: -1 when not cut, else the longest band (its lower edge) asked for chunks of common terms only.
    cuts: list[int] = []
    precut, bands = keywords._precut, keywords._bands

    def spy(*args: Any) -> Any:
        cut = precut(*args)
        if cut is None:
            cuts.append(-1)
        return cut

    def bands_spy(query: Any, *args: Any) -> Any:
        matches = bands(query, *args)
        common_only = [keywords.LENGTH_BANDS[band] for band, sets in matches for found in sets
                       if all(query.chunks[i] > 40 for i in found)]
        cuts.append(max(common_only, default=0))
        return matches

    monkeypatch.setattr(keywords, "_bands", bands_spy)

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
    assert sorted(fired)[len(fired) // 2] < 60, fired  # rare chunks to fill k), mostly asking only short
    # chunks (they hold up to 125 lexemes) for common terms alone


def test_keyword_search_asks_long_chunks_for_several_terms(index: PgvectorIndex, store: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk holding one common term cannot reach the rare terms' k-th score, so the bands ask for
    chunks holding several terms at once (keywords.term_sets): the answer is still the full ranking's,
    hits and scores."""
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
    smallest: list[int] = []  # per band asked: the fewest terms a chunk of it must hold
    term_sets, precut = keywords.term_sets, keywords._precut

    def spy(idfs: Any, need: float) -> list[tuple[int, ...]]:
        sets = term_sets(idfs, need)
        if sets:
            smallest.append(min(len(found) for found in sets))
        return sets

    queries = [" ".join([*common, r]) for r in rare] + [" ".join([*common[:4], *rare[:2]]), " ".join(common + rare)]
    for filter in (None, Comparison("half", "eq", 1)):
        for k in (1, 5, 10):
            for query in queries:
                monkeypatch.setattr(keywords, "term_sets", spy)
                cut = index.search_text(store, query, k, filter)
                monkeypatch.setattr(keywords, "_precut", lambda *args: None)
                full = index.search_text(store, query, k, filter)
                monkeypatch.setattr(keywords, "_precut", precut)
                assert [(h.file_id, h.position) for h in cut] == [(h.file_id, h.position) for h in full], query
                assert [h.score for h in cut] == pytest.approx([h.score for h in full], rel=1e-12)
                assert len(full) == k
    assert sum(1 for n in smallest if n > 1) >= len(smallest) / 2, smallest  # bands asking for several terms


@pytest.mark.parametrize("most", [64, 5])
def test_term_sets_cover_every_set_of_terms_that_reaches_the_need(most: int) -> None:
    """Every set of terms whose idfs reach the need contains one of term_sets' sets; none of its sets
    is needed for a set that falls short when all the terms together fall short."""
    from itertools import combinations

    from vectorhouse.index.pgvector.keywords import term_sets

    rng = np.random.default_rng(3)
    several = 0
    for _ in range(300):
        idfs = [float(x) for x in rng.uniform(0.1, 8.0, size=int(rng.integers(1, 9)))]
        need = float(rng.uniform(0.0, sum(idfs) * 1.2))
        sets = term_sets(idfs, need, most)
        several += any(len(found) > 1 for found in sets)
        if sum(idfs) < need:
            assert sets == []
        for size in range(1, len(idfs) + 1):
            for chosen in combinations(range(len(idfs)), size):
                if sum(idfs[i] for i in chosen) >= need:
                    assert any(set(found) <= set(chosen) for found in sets), (idfs, need, chosen, sets)
    assert several > 50  # most needs take more than one term
