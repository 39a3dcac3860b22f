"""Chunks at any scale for `bench scale`: real sentences, and vectors mixed from their real embeddings.

Embedding a million chunks would take hours here, and the benchmark is about the index, not the
model. So a pool of real sentences is embedded once with the store's model, and chunk i is three
pool sentences: its text is theirs joined, its vector the normalised sum of their embeddings plus a
little noise. Chunks that share sentences are neighbours, as passages on one topic are, and real
queries embedded by the server's model land among them as they would among real chunks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from vectorhouse.bench.beir import Dataset
from vectorhouse.embed.base import Embedder

SENTENCES_PER_CHUNK = 3
BLOCK = 50_000
NOISE = 0.15  # noise norm relative to the summed embedding's norm: cosine to the noiseless mix ~0.99
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def sentence_pool(dataset: Dataset, size: int) -> list[str]:
    """Up to `size` distinct sentences of 6..60 words from the dataset's documents, in corpus order."""
    seen: dict[str, None] = {}
    for text in dataset.corpus.values():
        for sentence in _SENTENCE_END.split(text.replace("\n", " ")):
            words = sentence.split()
            if 6 <= len(words) <= 60:
                seen.setdefault(" ".join(words))
                if len(seen) >= size:
                    return list(seen)
    return list(seen)


@dataclass
class SyntheticChunks:
    """Chunk i = pool sentences picks[i]; texts and vectors computed from that on demand."""

    sentences: list[str]
    embeddings: np.ndarray  # (pool, dim) float32, unit rows
    picks: np.ndarray  # (n, SENTENCES_PER_CHUNK) int32
    seed: int = 0

    @classmethod
    def build(cls, dataset: Dataset, embedder: Embedder, n: int, pool: int, seed: int = 0) -> SyntheticChunks:
        sentences = sentence_pool(dataset, pool)
        if len(sentences) < SENTENCES_PER_CHUNK:
            raise ValueError(f"{dataset.name} has too few sentences for synthetic chunks")
        embeddings = np.asarray(embedder.embed_documents(sentences), dtype=np.float32)
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, len(sentences), size=(n, SENTENCES_PER_CHUNK), dtype=np.int32)
        return cls(sentences, embeddings, picks, seed)

    def __len__(self) -> int:
        return len(self.picks)

    @property
    def dimension(self) -> int:
        return int(self.embeddings.shape[1])

    def text(self, i: int) -> str:
        return " ".join(self.sentences[j] for j in self.picks[i])

    @cached_property
    def vectors(self) -> np.ndarray:
        """Every chunk's unit vector, (n, dim) float32, computed once in blocks (the same numbers every run)."""
        out = np.empty((len(self), self.dimension), np.float32)
        rng = np.random.default_rng(self.seed + 1)
        for start in range(0, len(self), BLOCK):
            mixed = self.embeddings[self.picks[start:start + BLOCK]].sum(axis=1)
            noise = rng.normal(size=mixed.shape).astype(np.float32)
            noise *= (NOISE * np.linalg.norm(mixed, axis=1, keepdims=True)
                      / np.linalg.norm(noise, axis=1, keepdims=True))
            mixed += noise
            out[start:start + BLOCK] = mixed / np.linalg.norm(mixed, axis=1, keepdims=True)
        return out
