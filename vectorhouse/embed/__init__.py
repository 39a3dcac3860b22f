"""Embedding models: the Embedder protocol, ONNX models run here, OpenAI-compatible APIs, the registry of names."""

from vectorhouse.embed.base import Embedder
from vectorhouse.embed.factory import create_embedder

__all__ = ["Embedder", "create_embedder"]
