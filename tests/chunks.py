"""Chunks with random unit vectors, for the index tests of every backend."""

from __future__ import annotations

from typing import Any

import numpy as np

from vectorhouse.index.base import Chunk

DIM = 16


def unit(v: Any) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


def rand_unit(rng: np.random.Generator, n: int | None = None, dim: int = DIM) -> np.ndarray:
    """One unit vector (n None), or n of them as rows."""
    if n is None:
        return unit(rng.normal(size=dim))
    m = rng.normal(size=(n, dim)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def chunks_of(texts: list[str], vectors: np.ndarray | None = None, seed: int = 0) -> list[Chunk]:
    """One chunk per text, in position order; random vectors (from `seed`) unless given."""
    if vectors is None:
        vectors = rand_unit(np.random.default_rng(seed), len(texts))
    return [Chunk(position=i, text=t, tokens=len(t.split()), vector=vectors[i]) for i, t in enumerate(texts)]
