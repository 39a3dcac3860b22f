"""The embedded backend's SQLite tables (chunks, FTS5 index, owners, id counter, file attributes) and FTS5 queries."""

from __future__ import annotations

from collections.abc import Sequence

SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    store_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_store_file ON chunks(store_id, file_id, position);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, content='chunks', content_rowid='id', tokenize='{tokenize}'
);
-- Each chunk's store and file again, in narrow rows: the keyword search joins every match to its
-- owner, and reading them from the wide chunks rows (text and vector) took twice as long as the
-- search itself (5.9 ms against 3.1 ms per query at SciFact size).
CREATE TABLE IF NOT EXISTS chunk_owners (id INTEGER PRIMARY KEY, store_id TEXT NOT NULL, file_id TEXT NOT NULL);
-- The last chunk id handed out: ids are never reused, since the HNSW graphs label nodes by id.
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS file_attributes (
    store_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    attributes TEXT,
    PRIMARY KEY (store_id, file_id)
);
"""


def fts_match(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression ORing the terms, each a quoted string: no user text is query syntax."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
