"""EmbeddedIndex on a real SQLite file: keyword search scoped by store and file, and its schema upgrade."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from vectorhouse.index.base import Chunk
from vectorhouse.index.embedded import EmbeddedIndex
from vectorhouse.index.filters import Comparison

DIM = 8


def _chunk(position: int, text: str) -> Chunk:
    vector = np.zeros(DIM, np.float32)
    vector[position % DIM] = 1.0
    return Chunk(position, text, len(text.split()), vector)


def _owners(path: Path) -> list[tuple[int, str, str]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT id, store_id, file_id FROM chunk_owners ORDER BY id").fetchall()


def test_keyword_search_is_scoped_to_the_store_and_filter(tmp_path: Path) -> None:
    index = EmbeddedIndex(tmp_path / "index.db")
    index.upsert("vs_a", "file-1", [_chunk(0, "kingfishers dive for fish")], {"group": "x"})
    index.upsert("vs_a", "file-2", [_chunk(0, "kingfishers nest in riverbanks")], {"group": "y"})
    index.upsert("vs_b", "file-3", [_chunk(0, "kingfishers everywhere kingfishers")], None)
    assert {h.file_id for h in index.search_text("vs_a", "kingfishers", 10, None)} == {"file-1", "file-2"}
    only_y = index.search_text("vs_a", "kingfishers", 10, Comparison("group", "eq", "y"))
    assert [h.file_id for h in only_y] == ["file-2"]
    index.delete_file("vs_a", "file-1")
    assert [h.file_id for h in index.search_text("vs_a", "kingfishers", 10, None)] == ["file-2"]
    index.delete_store("vs_b")
    assert [(store, file) for _, store, file in _owners(tmp_path / "index.db")] == [("vs_a", "file-2")]
    index.close()


def test_an_index_written_before_chunk_owners_is_upgraded_on_open(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    old = EmbeddedIndex(path)
    old.upsert("vs_a", "file-1", [_chunk(0, "herons stand still"), _chunk(1, "herons strike fast")], None)
    old.close()
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE chunk_owners")  # the layout of an index written by an older vectorhouse
    upgraded = EmbeddedIndex(path)
    assert len(_owners(path)) == 2
    assert {h.position for h in upgraded.search_text("vs_a", "herons", 10, None)} == {0, 1}
    upgraded.close()
