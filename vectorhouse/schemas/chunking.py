"""Parsing a request's ``chunking_strategy`` (OpenAI's auto/static shapes) into the chunking window, once."""

from __future__ import annotations

from typing import Any

from vectorhouse.errors import InvalidRequest
from vectorhouse.ingest.chunking import AUTO_CHUNKING, ChunkingParams, validate_static


def resolve_chunking(raw: dict[str, Any] | None, param: str = "chunking_strategy") -> ChunkingParams:
    """OpenAI's chunking_strategy request → the effective static window (auto = 800/400)."""
    if raw is None:
        return AUTO_CHUNKING
    kind = raw.get("type")
    if kind == "auto" and set(raw) <= {"type"}:
        return AUTO_CHUNKING
    if kind == "static":
        static = raw.get("static")
        if set(raw) - {"type", "static"} or not isinstance(static, dict) or set(static) != {
            "max_chunk_size_tokens", "chunk_overlap_tokens"
        }:
            raise InvalidRequest(
                "static chunking_strategy needs exactly 'static': {'max_chunk_size_tokens': int, "
                "'chunk_overlap_tokens': int}",
                param=f"{param}.static",
                code="invalid_chunking_strategy",
            )
        validate_static(static["max_chunk_size_tokens"], static["chunk_overlap_tokens"])
        return ChunkingParams(static["max_chunk_size_tokens"], static["chunk_overlap_tokens"])
    raise InvalidRequest(
        "chunking_strategy must be {'type': 'auto'} or {'type': 'static', 'static': {...}}",
        param=f"{param}.type",
        code="invalid_chunking_strategy",
    )
