"""The Embedder protocol: the one interface every embedding provider implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors.

    Implementations must be safe to call from several threads at once: the service embeds
    uploads and queries concurrently from its worker threads.
    """

    #: Stable model name, recorded with the vectors so a store never mixes two models.
    name: str
    #: Length of every vector returned by `embed`.
    dimension: int
    #: The model's own input window in its own tokens (256 for MiniLM); None when unknown.
    max_tokens: int | None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return a float32 array of shape (len(texts), dimension), each row of unit L2 norm.

        An empty sequence gives shape (0, dimension).
        """
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Like `embed`, for search queries: a model trained with a query prefix gets it here."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Like `embed`, for stored chunks: a model with a short window may cover long texts in several
        windows (queries always go through `embed_queries`)."""
        ...
