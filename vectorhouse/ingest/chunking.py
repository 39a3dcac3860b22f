"""Token-window chunking of extracted text, and validation of the static chunking strategy."""

from __future__ import annotations

from dataclasses import dataclass

import tiktoken

from vectorhouse.errors import InvalidRequest
from vectorhouse.ingest.tokenizer import get_encoding

# OpenAI's "auto" strategy and the bounds it documents for "static".
AUTO_MAX_CHUNK_SIZE_TOKENS = 800
AUTO_CHUNK_OVERLAP_TOKENS = 400
MIN_CHUNK_SIZE = 100
MAX_CHUNK_SIZE = 4096

_SIZE_PARAM = "chunking_strategy.static.max_chunk_size_tokens"
_OVERLAP_PARAM = "chunking_strategy.static.chunk_overlap_tokens"

# Bytes that make a token boundary a "word" boundary when they start or end a token.
_WHITESPACE_BYTES = frozenset(b" \t\n\r\x0b\x0c")


@dataclass(frozen=True)
class ChunkingParams:
    """Window size and overlap, both in tokens."""

    max_chunk_size_tokens: int
    chunk_overlap_tokens: int


AUTO_CHUNKING = ChunkingParams(AUTO_MAX_CHUNK_SIZE_TOKENS, AUTO_CHUNK_OVERLAP_TOKENS)


@dataclass(frozen=True)
class TextChunk:
    """One chunk: its 0-based order in the file, its exact text, that text's token count, and where the
    text starts in the chunked text (a character offset: ``text == source[start:start + len(text)]``)."""

    position: int
    text: str
    token_count: int
    start: int = 0


def validate_static(max_chunk_size_tokens: int, chunk_overlap_tokens: int) -> None:
    """Check a static chunking strategy against OpenAI's rules; raise InvalidRequest naming the field."""
    size = max_chunk_size_tokens
    if not _is_int(size) or not MIN_CHUNK_SIZE <= size <= MAX_CHUNK_SIZE:
        raise InvalidRequest(
            f"{_SIZE_PARAM} must be an integer between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE} "
            f"(inclusive); got {size!r}.",
            param=_SIZE_PARAM,
            code="chunk_size_invalid",
        )
    overlap = chunk_overlap_tokens
    if not _is_int(overlap) or not 0 <= overlap <= size // 2:
        raise InvalidRequest(
            f"{_OVERLAP_PARAM} must be an integer between 0 and half of max_chunk_size_tokens "
            f"(0..{size // 2} for max_chunk_size_tokens={size}); got {overlap!r}.",
            param=_OVERLAP_PARAM,
            code="chunk_overlap_invalid",
        )


def _is_int(value: object) -> bool:
    # bool is an int subclass, but `true` is not a chunk size.
    return isinstance(value, int) and not isinstance(value, bool)


def chunk_text(text: str, params: ChunkingParams, encoding_name: str = "o200k_base") -> list[TextChunk]:
    """Split text into overlapping windows of at most params.max_chunk_size_tokens tokens.

    Window k nominally starts (max - overlap) tokens after window k-1. So that words are not cut, a
    window that is not the last ends at the last whitespace boundary within its final ~10% when there
    is one, and a window's start moves back (by at most ~10%) to a whitespace boundary. A window never
    starts after the previous one ended, so no text is skipped even with overlap 0. Chunk text is an
    exact substring of the input; whitespace-only chunks are dropped.
    """
    size, overlap = params.max_chunk_size_tokens, params.chunk_overlap_tokens
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"invalid chunking params: max={size}, overlap={overlap}")
    enc = get_encoding(encoding_name)
    # encode_ordinary: documents may legitimately contain text like "<|endoftext|>".
    tokens = enc.encode_ordinary(text)
    n = len(tokens)
    step = size - overlap
    tail = max(1, size // 10)
    tok_bytes = _TokenBytes(enc, tokens)

    chunks: list[TextChunk] = []
    start = 0
    offset = _Offsets(enc, tokens, text)
    while start < n:
        end = min(start + size, n)
        if end < n:
            end = _word_end(tok_bytes, start, end, tail)
        piece, count, end = _fit(enc, tokens, tok_bytes, start, end, size)
        if piece.strip():
            chunks.append(TextChunk(position=len(chunks), text=piece, token_count=count,
                                    start=offset.of(start, piece)))
        if end >= n:
            break
        start = _next_start(tok_bytes, start, min(start + step, end), end, tail)
    return chunks


class _Offsets:
    """Character offsets of token positions, walked forward once (windows start in increasing order)."""

    def __init__(self, enc: tiktoken.Encoding, tokens: list[int], text: str) -> None:
        self._enc, self._tokens, self._text = enc, tokens, text
        self._token, self._char = 0, 0

    def of(self, token: int, piece: str) -> int:
        self._char += len(self._enc.decode_bytes(self._tokens[self._token:token]).decode("utf-8", "replace"))
        self._token = token
        if not self._text.startswith(piece, self._char):  # a window began inside a character: find it exactly
            found = self._text.find(piece, max(0, self._char - 4))
            self._char = found if found >= 0 else self._char
        return self._char


class _TokenBytes:
    """Lazy per-token byte lookup; only tokens near window edges are ever inspected."""

    def __init__(self, enc: tiktoken.Encoding, tokens: list[int]) -> None:
        self._enc = enc
        self._tokens = tokens

    def __getitem__(self, i: int) -> bytes:
        return self._enc.decode_single_token_bytes(self._tokens[i])

    def is_char_boundary(self, i: int) -> bool:
        """True if a cut before token i does not split a UTF-8 character."""
        if i <= 0 or i >= len(self._tokens):
            return True
        return not 0x80 <= self[i][0] <= 0xBF  # continuation bytes are 10xxxxxx

    def is_word_boundary(self, i: int) -> bool:
        """True if whitespace sits right at the cut before token i."""
        return self[i][0] in _WHITESPACE_BYTES or self[i - 1][-1] in _WHITESPACE_BYTES


def _word_end(tb: _TokenBytes, start: int, end: int, tail: int) -> int:
    """Pull a non-final window's end back to a whitespace boundary in its last `tail` tokens, if any."""
    for cut in range(end, max(start + 1, end - tail) - 1, -1):
        if tb.is_word_boundary(cut):
            return cut
    # No whitespace nearby (e.g. CJK or a long URL): at least avoid splitting a character.
    for cut in range(end, max(start + 1, end - 4) - 1, -1):
        if tb.is_char_boundary(cut):
            return cut
    return end


def _fit(
    enc: tiktoken.Encoding, tokens: list[int], tb: _TokenBytes, start: int, end: int, size: int
) -> tuple[str, int, int]:
    """Decode tokens[start:end] and count the text's own tokens; shrink in the rare case count > size."""
    while True:
        piece = enc.decode(tokens[start:end])
        # Re-encoding only this chunk gives its true count (a substring can tokenize differently).
        count = len(enc.encode_ordinary(piece))
        if count <= size or end - start <= 1:
            return piece, count, end
        end -= 1
        while end - start > 1 and not tb.is_char_boundary(end):
            end -= 1


def _next_start(tb: _TokenBytes, prev_start: int, candidate: int, prev_end: int, tail: int) -> int:
    """Move the next window's start back to a word (else character) boundary, always making progress.

    Moving back only adds overlap, so coverage is kept; it never goes back to prev_start or before.
    """
    for cut in range(candidate, max(prev_start, candidate - tail), -1):
        if tb.is_word_boundary(cut):
            return cut
    for cut in range(candidate, max(prev_start, candidate - 4), -1):
        if tb.is_char_boundary(cut):
            return cut
    for cut in range(prev_start + 1, prev_end + 1):
        if tb.is_char_boundary(cut):
            return cut
    return prev_start + 1
