"""Remote embedder: any OpenAI-compatible `POST {base_url}/embeddings` endpoint, called with httpx."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from vectorhouse.errors import BackendFailure


class OpenAIEmbedder:
    """Embeds through an OpenAI-compatible API (OpenAI itself, vLLM, Ollama, LiteLLM, ...).

    Vectors are re-normalised here because not every compatible server returns unit vectors.
    Thread-safe: httpx.Client may be shared between threads, and the dimension is learnt under a lock.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        dimension: int | None = None,
        batch_size: int = 256,
        timeout: float = 60,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if dimension is not None and dimension < 1:
            raise ValueError("dimension must be at least 1")
        self.name = model
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.batch_size = batch_size
        # The model's token window is unknown here; callers fall back to their own limits.
        self.max_tokens: int | None = None
        self._dimension = dimension
        self._lock = threading.Lock()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # One client for the embedder's lifetime: keeps connections alive between batches.
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    @property
    def dimension(self) -> int:
        """Vector length: as configured, else learnt from the first response (probing once if needed)."""
        if self._dimension is None:
            self._request(["dimension probe"])
        assert self._dimension is not None
        return self._dimension

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """The endpoint sees each whole text (its own window is the server's business)."""
        return self.embed(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Queries and passages are embedded alike by OpenAI's models."""
        return self.embed(texts)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        parts = [self._request(list(texts[i : i + self.batch_size])) for i in range(0, len(texts), self.batch_size)]
        out = np.concatenate(parts, axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def _request(self, batch: list[str]) -> np.ndarray:
        where = f"{self.base_url}/embeddings"
        try:
            response = self._client.post("/embeddings", json={"model": self.model, "input": batch})
        except httpx.HTTPError as exc:
            raise BackendFailure(f"embedding request to {where} failed: {exc!r}") from exc
        if response.status_code != 200:
            raise BackendFailure(
                f"embedding request to {where} failed with HTTP {response.status_code}: {_excerpt(response)}"
            )
        try:
            items: list[dict[str, Any]] = sorted(response.json()["data"], key=lambda item: item["index"])
            vectors = np.asarray([item["embedding"] for item in items], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendFailure(f"embedding response from {where} is malformed: {exc!r}") from exc
        if vectors.ndim != 2 or vectors.shape[0] != len(batch):
            raise BackendFailure(
                f"embedding response from {where} has {vectors.shape[0] if vectors.ndim else 0} vectors "
                f"for {len(batch)} inputs"
            )
        with self._lock:
            if self._dimension is None:
                self._dimension = int(vectors.shape[1])
        if vectors.shape[1] != self._dimension:
            raise BackendFailure(
                f"embedding model {self.model!r} at {where} returned {vectors.shape[1]}-dimensional vectors, "
                f"expected {self._dimension}"
            )
        return vectors


def _excerpt(response: httpx.Response, limit: int = 300) -> str:
    # OpenAI-style servers put the useful text in error.message; otherwise show the start of the body.
    try:
        body = response.json()
        message = body["error"]["message"] if isinstance(body.get("error"), dict) else body
        text = str(message)
    except (ValueError, KeyError, TypeError, AttributeError):
        text = response.text
    return text[:limit] or "(empty body)"
