"""What the embedded index keeps beside SQLite: HNSW graphs and keyword postings, saved, reloaded, caught up."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from vectorhouse.index.base import Chunk
from vectorhouse.index.embedded import EmbeddedIndex

DIM, PER_FILE, STORE = 32, 10, "vs_graph"


def _vectors(n: int, seed: int) -> np.ndarray:
    """Points around 20 centres, so nearest neighbours are meaningful and the graph has work to do."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, DIM))
    points = centres[rng.integers(0, 20, n)] + rng.normal(size=(n, DIM)) * 0.5
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def _open(path: Path) -> EmbeddedIndex:
    # Every vector search above 50 chunks through the graph; a save only when asked (or at close).
    index = EmbeddedIndex(path, exact_search_max_chunks=50, graph_save_changes=10**9)
    index.keyword_postings(wait=0)
    assert index._cache.warm.wait(30)
    return index


def _fill(index: EmbeddedIndex, vectors: np.ndarray, first_file: int = 0) -> dict[str, np.ndarray]:
    files = {}
    for f in range(len(vectors) // PER_FILE):
        file_id = f"file-{first_file + f:04d}"
        rows = vectors[f * PER_FILE:(f + 1) * PER_FILE]
        index.upsert(STORE, file_id, [Chunk(p, f"{file_id} {p}", 2, v) for p, v in enumerate(rows)], None)
        files[file_id] = rows
    return files


def _filled(tmp_path: Path, n: int, seed: int) -> tuple[Path, EmbeddedIndex, dict[str, np.ndarray]]:
    path = tmp_path / "index.db"
    index = _open(path)
    return path, index, _fill(index, _vectors(n, seed))


def _recall(index: EmbeddedIndex, files: dict[str, np.ndarray], queries: np.ndarray, k: int = 10) -> float:
    keys = [(f, p) for f, rows in files.items() for p in range(len(rows))]
    matrix = np.concatenate(list(files.values()))
    found = 0
    for q in queries:
        truth = {keys[i] for i in np.argsort(-(matrix @ q))[:k]}
        hits = index.search_vector(STORE, q, k, None)
        assert all(h.file_id in files for h in hits)  # nothing deleted comes back
        found += len(truth & {h.key for h in hits})
    return found / (k * len(queries))


def test_the_graph_is_saved_at_close_and_loaded_not_rebuilt_on_restart(tmp_path: Path) -> None:
    path, index, files = _filled(tmp_path, 600, 0)
    assert index._cache.has_graph(STORE) and index._cache.graphs_built == 1  # built once, at 51 chunks
    before = [h.key for h in index.search_vector(STORE, _vectors(1, 9)[0], 10, None)]
    index.close()
    assert (tmp_path / "index.db.hnsw" / STORE / "graph.bin").is_file()
    assert (tmp_path / "index.db.hnsw" / STORE / "vectors.npy").is_file()
    restarted = _open(path)
    assert restarted._cache.has_graph(STORE)  # loaded by the warm-up, before any search
    assert (restarted._cache.graphs_loaded, restarted._cache.graphs_built) == (1, 0)
    assert [h.key for h in restarted.search_vector(STORE, _vectors(1, 9)[0], 10, None)] == before
    assert _recall(restarted, files, _vectors(30, 1)) >= 0.98
    restarted.close()


def test_a_restart_catches_the_saved_graph_up_with_writes_and_deletes_made_after_the_save(tmp_path: Path) -> None:
    path, index, files = _filled(tmp_path, 600, 2)
    index.save_graphs()
    # After the save: new files, deleted files, a replaced file; then the process dies (no close).
    files.update(_fill(index, _vectors(200, 3), first_file=100))
    for file_id in ["file-0001", "file-0002", "file-0101"]:
        index.delete_file(STORE, file_id)
        del files[file_id]
    replaced = _vectors(PER_FILE, 4)
    index.upsert(STORE, "file-0003", [Chunk(p, f"new {p}", 2, v) for p, v in enumerate(replaced)], None)
    files["file-0003"] = replaced
    restarted = _open(path)
    assert (restarted._cache.graphs_loaded, restarted._cache.graphs_built) == (1, 0)
    assert _recall(restarted, files, _vectors(30, 5)) >= 0.98
    for file_id, position in [("file-0105", 4), ("file-0010", 2)]:  # written after the save, and before it
        top = restarted.search_vector(STORE, files[file_id][position], 1, None)[0]
        assert (top.file_id, top.position) == (file_id, position) and top.score == pytest.approx(1.0, abs=1e-5)
    # The vectors read back (saved ones and SQLite's since) are exactly the ones written.
    view = restarted._cache.view(STORE)
    ids, file_ids, matrix = restarted._read_rows(STORE)
    assert np.array_equal(view.ids[view.alive], ids) and np.array_equal(view.matrix[view.alive], matrix)
    assert view.live == sum(len(rows) for rows in files.values())
    assert {h.text for h in restarted.search_vector(STORE, replaced[0], 3, None)} & {"new 0"}
    restarted.close()
    index.close()


def test_deletes_keep_recall_and_their_slots_are_reused(tmp_path: Path) -> None:
    index = _open(tmp_path / "index.db")
    files = _fill(index, _vectors(1000, 6))
    graph = index._cache.graph(STORE).index
    slots = graph.element_count
    for file_id in list(files)[::2]:  # half of every file, spread over the whole graph
        index.delete_file(STORE, file_id)
        del files[file_id]
    assert _recall(index, files, _vectors(40, 7)) >= 0.98
    files.update(_fill(index, _vectors(500, 8), first_file=500))
    assert graph.element_count == slots  # new chunks took the deleted chunks' places
    assert _recall(index, files, _vectors(40, 9)) >= 0.98
    index.close()


def test_chunk_ids_are_never_reused_after_the_newest_chunks_are_deleted(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    index = _open(path)
    _fill(index, _vectors(100, 10))
    with sqlite3.connect(path) as db:
        newest = db.execute("SELECT max(id) FROM chunks").fetchone()[0]
    index.delete_file(STORE, "file-0009")  # holds the newest ids
    _fill(index, _vectors(10, 11), first_file=50)
    with sqlite3.connect(path) as db:
        ids = [r[0] for r in db.execute("SELECT id FROM chunks WHERE file_id = 'file-0050'")]
    assert min(ids) > newest
    index.close()


def test_a_damaged_saved_graph_is_rebuilt_from_sqlite(tmp_path: Path) -> None:
    path, index, files = _filled(tmp_path, 300, 12)
    index.close()
    (tmp_path / "index.db.hnsw" / STORE / "graph.bin").write_bytes(b"not a graph")
    restarted = _open(path)
    assert (restarted._cache.graphs_loaded, restarted._cache.graphs_built) == (0, 1)
    assert _recall(restarted, files, _vectors(20, 13)) >= 0.98
    restarted.close()


def test_deleting_the_store_removes_its_saved_graph(tmp_path: Path) -> None:
    index = _open(tmp_path / "index.db")
    _fill(index, _vectors(200, 14))
    index.save_graphs()
    assert (tmp_path / "index.db.hnsw" / STORE).is_dir()
    index.delete_store(STORE)
    assert not (tmp_path / "index.db.hnsw" / STORE).exists()
    assert index.search_vector(STORE, _vectors(1, 15)[0], 5, None) == []
    index.close()


WORDS = "heron lantern orchard copper meadow glacier violin pepper canyon ember falcon quarry".split()


def _text(rng: np.random.Generator) -> str:
    return " ".join(rng.choice(WORDS, size=int(rng.integers(3, 12))))


def _matches(index: EmbeddedIndex, query: str) -> dict[int, float]:
    found = index.keyword_matches(STORE, query)
    assert found is not None
    return dict(zip(found.ids.tolist(), found.scores.tolist(), strict=True))


def test_keyword_postings_are_saved_and_a_restart_catches_them_up_exactly(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    rng = np.random.default_rng(0)
    index = EmbeddedIndex(path)
    vectors = _vectors(400, 20)
    for f in range(40):
        index.upsert(STORE, f"file-{f:04d}", [Chunk(p, _text(rng), 5, vectors[f * 10 + p]) for p in range(10)],
                     None)
    assert index.keyword_postings(wait=30) == "ready"
    index.close()
    assert (tmp_path / "index.db.postings.npz").is_file()
    # After the save: more files, deletes, a replaced file, and no close (the process dies).
    index = EmbeddedIndex(path)
    assert index.keyword_postings(wait=30) == "ready"
    for f in range(40, 50):
        index.upsert(STORE, f"file-{f:04d}", [Chunk(p, _text(rng), 5, vectors[p]) for p in range(10)], None)
    index.delete_file(STORE, "file-0003")
    index.upsert(STORE, "file-0004", [Chunk(0, "heron heron quarry", 3, vectors[0])], None)
    restarted = EmbeddedIndex(path)
    assert restarted.keyword_postings(wait=30) == "ready"
    queries = ["heron quarry", "violin", "ember falcon canyon"]
    caught_up = {q: _matches(restarted, q) for q in queries}
    restarted.close()
    (tmp_path / "index.db.postings.npz").unlink()
    from_fts5 = EmbeddedIndex(path)  # the postings read from the FTS5 index itself: the truth
    assert from_fts5.keyword_postings(wait=30) == "ready"
    for q in queries:
        truth = _matches(from_fts5, q)
        assert caught_up[q].keys() == truth.keys() and len(truth) > 0
        assert all(caught_up[q][i] == pytest.approx(truth[i], rel=1e-9) for i in truth)
    from_fts5.close()
    index.close()


def test_the_index_is_not_ready_until_its_postings_and_graphs_are_loaded(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    index = _open(path)
    _fill(index, _vectors(200, 21))
    index.close()
    restarted = EmbeddedIndex(path, exact_search_max_chunks=50)
    deadline = time.monotonic() + 30
    while True:
        try:
            restarted.ping()
            break
        except RuntimeError as exc:
            assert "loading" in str(exc) and time.monotonic() < deadline
            time.sleep(0.02)
    # Ready means loaded: the graph and the postings are in memory when ping first passes.
    assert restarted._cache.has_graph(STORE) and restarted.keyword_postings() == "ready"
    restarted.close()


@pytest.mark.parametrize("every", [5, 30])  # a filter keeping 20% and 3% of the files
def test_filtered_searches_through_the_graph_find_the_exact_top_k_of_the_allowed_rows(tmp_path: Path,
                                                                                      every: int) -> None:
    from vectorhouse.index.filters import Comparison

    index = EmbeddedIndex(tmp_path / "index.db", exact_search_max_chunks=0)  # even 30 candidates: the graph
    vectors = _vectors(3000, 16)
    for f in range(300):
        index.upsert(STORE, f"file-{f:04d}", [Chunk(p, "x", 1, v) for p, v in
                                              enumerate(vectors[f * PER_FILE:(f + 1) * PER_FILE])],
                     {"group": f % every})
    allowed = np.array([(i // PER_FILE) % every == 0 for i in range(3000)])
    found = 0
    queries = _vectors(30, 17)
    for q in queries:
        scores = np.where(allowed, vectors @ q, -np.inf)
        truth = {(f"file-{i // PER_FILE:04d}", int(i % PER_FILE)) for i in np.argsort(-scores)[:10]}
        hits = index.search_vector(STORE, q, 10, Comparison("group", "eq", 0))
        assert len(hits) == 10 and all(int(h.file_id[-4:]) % every == 0 for h in hits)
        found += len(truth & {h.key for h in hits})
    assert found / (10 * len(queries)) >= 0.98
    index.close()
