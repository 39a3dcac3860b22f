"""Chunk indexes: one protocol, one module per backend, a factory that picks by name."""

from vectorhouse.index.base import Chunk, Hit, Index
from vectorhouse.index.factory import create_index

__all__ = ["Chunk", "Hit", "Index", "create_index"]
