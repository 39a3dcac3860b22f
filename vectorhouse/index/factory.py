"""Maps backend names to Index classes; a new backend is one module plus one entry here."""

from __future__ import annotations

from vectorhouse.config import Settings
from vectorhouse.index.base import Index

BACKENDS = ("embedded",)


def create_index(name: str, settings: Settings, dimension: int) -> Index:
    if name == "embedded":
        from vectorhouse.index.embedded import EmbeddedIndex

        return EmbeddedIndex(
            settings.data_dir / "index.db", dimension, exact_search_max_chunks=settings.exact_search_max_chunks
        )
    raise ValueError(f"unknown index backend {name!r}: expected one of {', '.join(BACKENDS)}")
