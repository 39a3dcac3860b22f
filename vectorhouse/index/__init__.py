"""Chunk indexes: one protocol, the filter model and keyword analysis they share, a package per backend, a factory."""

from vectorhouse.index.base import Chunk, Hit, Index
from vectorhouse.index.factory import create_index

__all__ = ["Chunk", "Hit", "Index", "create_index"]
