"""What only the embedded backend does: its SQLite schema upgrade (postings: test_index_keywords; rest: contract)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from vectorhouse.index.base import Chunk
from vectorhouse.index.embedded import EmbeddedIndex

DIM = 8


def _chunk(position: int, text: str) -> Chunk:
    vector = np.zeros(DIM, np.float32)
    vector[position % DIM] = 1.0
    return Chunk(position, text, len(text.split()), vector)


def _owners(path: Path) -> list[tuple[int, str, str]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT id, store_id, file_id FROM chunk_owners ORDER BY id").fetchall()


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


def test_a_remembered_filter_selection_follows_every_write(tmp_path: Path) -> None:
    from vectorhouse.index.filters import Comparison

    index = EmbeddedIndex(tmp_path / "index.db")
    index.upsert("vs_a", "file-1", [_chunk(0, "herons")], {"team": "a"})
    index.upsert("vs_a", "file-2", [_chunk(1, "herons")], {"team": "b"})
    team_a = Comparison("team", "eq", "a")

    def files() -> set[str]:
        return {h.file_id for h in index.search_vector("vs_a", _chunk(0, "").vector, 10, team_a)}

    assert files() == {"file-1"}
    index.set_attributes("vs_a", "file-2", {"team": "a"})
    assert files() == {"file-1", "file-2"}
    index.upsert("vs_a", "file-3", [_chunk(2, "herons")], {"team": "a"})
    assert files() == {"file-1", "file-2", "file-3"}
    index.delete_file("vs_a", "file-1")
    assert files() == {"file-2", "file-3"}
    index.set_attributes("vs_a", "file-9", {"team": "a"})  # a file the store does not hold: nothing changes
    assert files() == {"file-2", "file-3"}
    assert {h.file_id for h in index.search_vector("vs_a", _chunk(0, "").vector, 10, Comparison("team", "eq", 1))} \
        == set()
    index.close()
