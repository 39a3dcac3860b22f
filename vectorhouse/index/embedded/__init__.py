"""The embedded backend (zero services): SQLite + FTS5 on disk, vectors, HNSW graphs and BM25 postings in memory."""

from vectorhouse.index.embedded.index import EmbeddedIndex

__all__ = ["EmbeddedIndex"]
