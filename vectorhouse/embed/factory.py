"""Embedder factory: maps a provider name (the packaged local model, or an endpoint) and its options to an Embedder."""

from __future__ import annotations

from typing import Any

from vectorhouse.embed.base import Embedder

PROVIDERS = ("local", "openai")


def create_embedder(provider: str = "local", **options: Any) -> Embedder:
    """Build an embedder.

    local:  device ("cpu" | "cuda" | "cuda:N"), batch_size, threads, precision ("fp32" | "int8")
            (and max_batch_tokens).
    openai: base_url, model, api_key, dimension (and batch_size, timeout).
    """
    # Imports are per provider so a remote-only deployment never loads onnxruntime and the weights.
    if provider == "local":
        from vectorhouse.embed.local import LocalEmbedder

        return LocalEmbedder(**options)
    if provider == "openai":
        from vectorhouse.embed.openai import OpenAIEmbedder

        return OpenAIEmbedder(**options)
    raise ValueError(f"unknown embedding provider {provider!r}; choose one of: {', '.join(PROVIDERS)}")
