"""The embedded index's in-memory BM25 postings give exactly SQLite FTS5's answers over each store's own rows."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from vectorhouse.index.base import Chunk
from vectorhouse.index.embedded import EmbeddedIndex, keywords, topk
from vectorhouse.index.text import keyword_terms

DIM = 8
# Stems that collide (run/running/runs), diacritics, digits, stop words and rare words: the cases
# where a tokenizer of our own would drift from FTS5's.
WORDS = (
    "run running runs runner café cafe naïve naive protein proteins cell cells cellular kinase "
    "the of and a to in is it vitamin d3 covid-19 t-cell mrna mRNA élan zebrafish zebra fish "
    "signal signalling signaling p53 tumour tumor suppressor 2019 2020 beta β ω delta"
).split()


def _chunk(position: int, text: str) -> Chunk:
    vector = np.zeros(DIM, np.float32)
    vector[position % DIM] = 1.0
    return Chunk(position, text, len(text.split()), vector)


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 40)))


def _ready(index: EmbeddedIndex) -> None:
    assert index.keyword_postings(wait=30) == "ready"


def _assert_same_as_sqlite(index: EmbeddedIndex, rng: random.Random, stores: list[str],
                           files: dict[str, list[str]], own: dict[str, EmbeddedIndex] | None = None) -> None:
    """Postings of `index` against FTS5's bm25(): of `index` itself when it holds one store, else of an
    index holding only that store's rows (`own`), whose statistics are that store's alone."""
    checked = 0
    for _ in range(60):
        store = rng.choice(stores)
        reference = own[store] if own is not None else index
        terms = keyword_terms(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8))))
        allowed = None
        if files.get(store) and rng.random() < 0.3:
            allowed = set(rng.sample(files[store], max(1, len(files[store]) // 2)))
        k = rng.choice([1, 5, 50])
        found = index._keywords.search(store, terms, k, allowed)
        expected = reference._hits(reference._search_text_sql(store, terms, k, allowed))
        if found is None:  # a word FTS5 splits into a phrase ("covid-19" is not one: \w+ splits it first)
            continue
        hits = index._hits(found)
        assert [h.key for h in hits] == [h.key for h in expected], terms
        assert [h.score for h in hits] == pytest.approx([h.score for h in expected], rel=1e-12)
        checked += 1
    assert checked >= 50


@pytest.mark.parametrize("cut_block", [None, 1, 3])
def test_postings_rank_exactly_as_fts5_through_upserts_and_deletes(tmp_path: Path, cut_block: int | None,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """cut_block: the top-k cut (index/embedded/topk.py) with blocks that short, else a store this
    small is too small for it to leave out any row: the same hits and scores, bit for bit."""
    cut: list[bool] = []  # per segment ranked: fewer rows left than matched
    if cut_block is not None:
        monkeypatch.setattr(topk, "CUT_BLOCK", cut_block)

        def cut_spy(scores: np.ndarray, excluded: np.ndarray | None, k: int,
                    floor: float) -> tuple[np.ndarray, float]:
            rows, raised = topk.contenders(scores, excluded, k, floor)
            matched = (scores > 0) if excluded is None else (scores > 0) & ~excluded
            cut.append(len(rows) < int(matched.sum()))
            return rows, raised

        monkeypatch.setattr(keywords, "contenders", cut_spy)
    rng = random.Random(11)
    index = EmbeddedIndex(tmp_path / "index.db")
    stores = ["vs_a", "vs_b", "vs_c"]
    files: dict[str, list[str]] = {s: [] for s in stores}
    # Every write of a store again into an index of its own, keyword_postings_max_chunks=0: FTS5 scores.
    own = {s: EmbeddedIndex(tmp_path / f"{s}.db", keyword_postings_max_chunks=0) for s in stores}

    def upsert(store: str, file_id: str) -> None:
        chunks = [_chunk(p, _text(rng)) for p in range(rng.randint(1, 4))]
        for target in (index, own[store]):
            target.upsert(store, file_id, chunks, None)
        if file_id not in files[store]:
            files[store].append(file_id)

    for i in range(40):
        upsert(rng.choice(stores), f"file-{i}")
    _ready(index)
    _assert_same_as_sqlite(index, rng, stores, files, own)

    for i in range(40, 120):  # enough single-file segments to merge several times
        upsert(rng.choice(stores), f"file-{i}")
    for store in stores:  # re-ingesting replaces a file's chunks
        for file_id in rng.sample(files[store], 3):
            upsert(store, file_id)
    for store in stores:
        for file_id in rng.sample(files[store], 4):
            index.delete_file(store, file_id)
            own[store].delete_file(store, file_id)
            files[store].remove(file_id)
    _assert_same_as_sqlite(index, rng, stores, files, own)
    assert len(index._keywords._snapshot.segments) < 10  # merged, not one per file

    index.delete_store("vs_b")
    own["vs_b"].delete_store("vs_b")
    files["vs_b"] = []
    upsert("vs_b", "file-new")
    _assert_same_as_sqlite(index, rng, stores, files, own)
    if cut_block is not None:
        assert sum(cut) >= 30, cut  # the cut left out rows that could not be among the best k
    for store in stores:  # what hybrid search asks besides the top k: the scale, and given rows' scores
        for _ in range(10):
            terms = keyword_terms(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8))))
            full = index._keywords.matches(store, terms)
            if full is None:
                continue
            assert index._keywords.scale(store, terms) == (sum(full.idfs) if any(full.rows_with) else 0.0)
            asked = np.array(rng.sample(range(1, 400), 60), np.int64)
            expected = {int(i): float(v) for i, v in zip(full.ids, full.scores, strict=True) if i in set(asked)}
            assert index._keywords.scores_of(store, terms, asked) == expected
    for target in (index, *own.values()):
        target.close()


def test_a_store_scores_by_its_own_rows(tmp_path: Path) -> None:
    """A word common in one store and rare in another weighs what it does in the store searched."""
    index = EmbeddedIndex(tmp_path / "index.db")
    for i in range(30):  # a big store where "kinase" is everywhere
        index.upsert("vs_big", f"file-{i}", [_chunk(0, f"kinase protein {i} cell")], None)
    index.upsert("vs_small", "file-a", [_chunk(0, "kinase signal")], None)
    for i, text in enumerate(["zebrafish fish", "tumour suppressor", "vitamin delta"]):
        index.upsert("vs_small", f"file-{i + 1}", [_chunk(0, text)], None)
    _ready(index)
    small = index._keywords.matches("vs_small", ["kinase"])
    assert small is not None and small.rows == 4 and small.rows_with == [1]
    assert small.idfs == [pytest.approx(np.log((4 - 1 + 0.5) / (1 + 0.5)))]
    assert index.keyword_scale("vs_small", "kinase zebra") == pytest.approx(
        np.log(3.5 / 1.5) + np.log(4.5 / 0.5))  # "zebra" is in no chunk: the largest IDF
    assert index.keyword_scale("vs_small", "nothing here") == 0.0
    index.close()


def test_writes_made_while_the_postings_load_are_replayed(tmp_path: Path) -> None:
    rng = random.Random(5)
    index = EmbeddedIndex(tmp_path / "index.db")
    files: dict[str, list[str]] = {"vs_a": [f"file-{i}" for i in range(20)]}
    for file_id in files["vs_a"]:
        index.upsert("vs_a", file_id, [_chunk(0, _text(rng))], None)
    with index._lock:
        index._keywords.start_loading()
    # Written before the load reads the table: in the loaded rows and replayed (idempotent).
    index.upsert("vs_a", "file-0", [_chunk(0, "kingfisher kingfisher kinase"), _chunk(1, _text(rng))], None)
    index.delete_file("vs_a", "file-1")
    snapshot = index._keywords.load(index._conn())
    # Written after the read: only in the replay.
    index.upsert("vs_a", "file-2", [_chunk(0, "kingfisher café")], None)
    index.upsert("vs_a", "file-20", [_chunk(0, "kingfisher p53")], None)
    index.delete_file("vs_a", "file-3")
    assert index._keywords.search("vs_a", ["kingfisher"], 10, None) is None  # SQLite answers until done
    with index._lock:
        index._keywords.finish_loading(snapshot)
        index._keywords_state = "ready"
    files["vs_a"] = [f for f in files["vs_a"] if f not in ("file-1", "file-3")] + ["file-20"]
    _assert_same_as_sqlite(index, rng, ["vs_a"], files)
    found = index._keywords.search("vs_a", ["kingfisher"], 10, None)
    assert found is not None
    assert len(found) == 3
    index.close()


def test_a_word_fts5_reads_as_a_phrase_is_answered_by_sqlite(tmp_path: Path) -> None:
    index = EmbeddedIndex(tmp_path / "index.db")
    index.upsert("vs_a", "file-1", [_chunk(0, "e coli strains grow"), _chunk(1, "coli e strains")], None)
    _ready(index)
    assert index._keywords.search("vs_a", ["e_coli"], 10, None) is None  # "e_coli" is the phrase "e coli"
    hits = index.search_text("vs_a", "e_coli", 10, None)
    assert [(h.file_id, h.position) for h in hits] == [("file-1", 0)]
    assert index._keywords.search("vs_a", ["strains"], 10, None) is not None
    index.close()


def test_above_the_size_limit_sqlite_scores_until_deletes_make_room(tmp_path: Path) -> None:
    index = EmbeddedIndex(tmp_path / "index.db", keyword_postings_max_chunks=3)
    for i in range(5):
        index.upsert("vs_a", f"file-{i}", [_chunk(0, f"heron number {i}")], None)
    assert index.keyword_postings(wait=30) == "too_big"
    assert len(index.search_text("vs_a", "heron", 10, None)) == 5  # SQLite still answers
    index.delete_file("vs_a", "file-0")
    index.delete_file("vs_a", "file-1")
    _ready(index)
    assert {h.file_id for h in index.search_text("vs_a", "heron", 10, None)} == {"file-2", "file-3", "file-4"}
    index.upsert("vs_a", "file-9", [_chunk(0, "heron again")], None)  # 4 chunks: over the limit again
    assert index.keyword_postings() == "too_big"
    assert len(index.search_text("vs_a", "heron", 10, None)) == 4
    index.close()


def test_deleted_rows_are_dropped_from_memory_once_they_are_most_of_a_segment(tmp_path: Path) -> None:
    rng = random.Random(3)
    index = EmbeddedIndex(tmp_path / "index.db")
    for i in range(30):
        index.upsert("vs_a", f"file-{i}", [_chunk(0, _text(rng)), _chunk(1, _text(rng))], None)
    _ready(index)  # one segment of 60 rows, read from the table
    for i in range(25):
        index.delete_file("vs_a", f"file-{i}")
    assert index._keywords.rows == 10
    held = sum(len(s.ids) for s in index._keywords._snapshot.segments)
    assert held <= 2 * 10, held  # at most twice the live rows, not all 60 rows with 50 of them dead
    _assert_same_as_sqlite(index, rng, ["vs_a"], {"vs_a": [f"file-{i}" for i in range(25, 30)]})
    index.close()
