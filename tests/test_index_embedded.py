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
