"""Embedding providers: the Embedder protocol, local MiniLM on onnxruntime, and OpenAI-compatible APIs."""

from vectorhouse.embed.base import Embedder
from vectorhouse.embed.factory import create_embedder

__all__ = ["Embedder", "create_embedder"]
