"""Tests for vectorhouse.ingest.chunking: token bounds, overlap, positions, coverage, validation."""

from __future__ import annotations

import random
import re

import pytest

from vectorhouse.errors import InvalidRequest
from vectorhouse.ingest.chunking import (
    AUTO_CHUNK_OVERLAP_TOKENS,
    AUTO_CHUNKING,
    AUTO_MAX_CHUNK_SIZE_TOKENS,
    MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
    ChunkingParams,
    TextChunk,
    chunk_text,
    validate_static,
)
from vectorhouse.ingest.tokenizer import get_encoding

_VOCAB = (
    "alpha beta gamma delta epsilon the quick brown fox jumps over lazy dog "
    "über naïve café 数据 東京 λόγος 🙂 https://example.com/a/b?c=d"
).split()


def make_text(words: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    parts: list[str] = []
    for i in range(words):
        parts.append(rng.choice(_VOCAB) + str(i))  # numbered, so every word is unique
        if rng.random() < 0.05:
            parts.append("\n\n")
    return " ".join(parts)


def count(text: str) -> int:
    return len(get_encoding().encode_ordinary(text))


@pytest.mark.parametrize(
    "params",
    [ChunkingParams(800, 400), ChunkingParams(100, 0), ChunkingParams(100, 50), ChunkingParams(4096, 2048)],
)
def test_bounds_counts_positions_and_coverage(params: ChunkingParams) -> None:
    text = make_text(6000)
    chunks = chunk_text(text, params)
    assert len(chunks) > 1
    assert [c.position for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert isinstance(chunk, TextChunk)
        assert 0 < chunk.token_count <= params.max_chunk_size_tokens
        assert chunk.token_count == count(chunk.text)  # the true count of the chunk's own text
        assert chunk.text in text  # exact substrings, nothing invented
        assert chunk.text.strip()
    # Every word of the input appears whole in some chunk.
    covered = set()
    for chunk in chunks:
        covered.update(chunk.text.split())
    assert set(text.split()) <= covered


def test_windows_advance_by_max_minus_overlap() -> None:
    text = make_text(5000, seed=1)
    size, overlap = 200, 80
    chunks = chunk_text(text, ChunkingParams(size, overlap))
    n = count(text)
    # Roughly n / (size - overlap) windows; pulled-back ends only ever add a little.
    expected = (n - overlap) / (size - overlap)
    assert expected - 1 <= len(chunks) <= expected * 1.15 + 1
    # Full windows (all but the last) are close to the maximum: at most ~10% pulled back.
    assert all(c.token_count >= size * 0.85 for c in chunks[:-1])


def test_consecutive_chunks_overlap() -> None:
    text = make_text(3000, seed=2)
    chunks = chunk_text(text, ChunkingParams(300, 150))
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        start_prev, start_next = text.index(prev.text), text.index(nxt.text)
        assert start_prev < start_next < start_prev + len(prev.text)
        shared = start_prev + len(prev.text) - start_next
        assert count(text[start_next : start_next + shared]) >= 100  # ~150 tokens, minus the pull-back


def test_zero_overlap_is_a_partition() -> None:
    text = make_text(4000, seed=3)
    chunks = chunk_text(text, ChunkingParams(150, 0))
    assert "".join(c.text for c in chunks) == text


def test_chunks_start_and_end_on_word_boundaries() -> None:
    text = " ".join(f"word{i}" for i in range(5000))
    chunks = chunk_text(text, ChunkingParams(100, 20))
    for chunk in chunks:
        at = text.index(chunk.text)
        # Never inside "word123": whitespace (or the text's edge) on both sides of the cut.
        assert at == 0 or text[at - 1] == " " or chunk.text[0] == " ", chunk.text[:20]
        end = at + len(chunk.text)
        assert end == len(text) or text[end] == " ", chunk.text[-20:]
        assert re.search(r"word\d+$", chunk.text)


def test_text_without_whitespace_never_splits_characters() -> None:
    text = "数据東京🙂𝔘𝔫𝔦" * 3000
    chunks = chunk_text(text, ChunkingParams(100, 0))
    assert "".join(c.text for c in chunks) == text
    assert all("\ufffd" not in c.text and c.token_count <= 100 for c in chunks)


def test_short_text_is_one_chunk() -> None:
    text = "A short note about capybaras."
    assert chunk_text(text, AUTO_CHUNKING) == [TextChunk(position=0, text=text, token_count=count(text))]


def test_empty_and_whitespace_give_no_chunks() -> None:
    assert chunk_text("", AUTO_CHUNKING) == []
    assert chunk_text(" \n\t  \n", AUTO_CHUNKING) == []


def test_whitespace_only_windows_are_dropped() -> None:
    text = "start " + " \n" * 3000 + " end"
    chunks = chunk_text(text, ChunkingParams(100, 0))
    assert all(c.text.strip() for c in chunks)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    joined = " ".join(c.text for c in chunks)
    assert "start" in joined and "end" in joined


def test_special_token_text_is_ordinary_text() -> None:
    chunks = chunk_text("before <|endoftext|> after", AUTO_CHUNKING)
    assert chunks[0].text == "before <|endoftext|> after"


def test_cl100k_encoding() -> None:
    text = make_text(2000, seed=4)
    chunks = chunk_text(text, ChunkingParams(100, 50), encoding_name="cl100k_base")
    enc = get_encoding("cl100k_base")
    assert all(c.token_count == len(enc.encode_ordinary(c.text)) <= 100 for c in chunks)


def test_one_megabyte_of_text() -> None:
    text = make_text(170_000, seed=5)
    assert len(text.encode()) > 1_000_000
    chunks = chunk_text(text, AUTO_CHUNKING)
    assert len(chunks) > 100
    assert all(c.token_count <= AUTO_MAX_CHUNK_SIZE_TOKENS for c in chunks)
    assert text.endswith(chunks[-1].text)


def test_invalid_params_rejected_by_chunk_text() -> None:
    for params in (ChunkingParams(0, 0), ChunkingParams(100, 100), ChunkingParams(100, -1)):
        with pytest.raises(ValueError):
            chunk_text("text", params)


def test_constants() -> None:
    assert (AUTO_MAX_CHUNK_SIZE_TOKENS, AUTO_CHUNK_OVERLAP_TOKENS) == (800, 400)
    assert (MIN_CHUNK_SIZE, MAX_CHUNK_SIZE) == (100, 4096)
    assert AUTO_CHUNKING == ChunkingParams(800, 400)


@pytest.mark.parametrize(
    ("size", "overlap"),
    [(100, 0), (100, 50), (800, 400), (4096, 2048), (4096, 0), (257, 128)],
)
def test_validate_static_accepts(size: int, overlap: int) -> None:
    validate_static(size, overlap)


@pytest.mark.parametrize(
    ("size", "overlap", "param", "code"),
    [
        (99, 0, "chunking_strategy.static.max_chunk_size_tokens", "chunk_size_invalid"),
        (4097, 0, "chunking_strategy.static.max_chunk_size_tokens", "chunk_size_invalid"),
        (0, 0, "chunking_strategy.static.max_chunk_size_tokens", "chunk_size_invalid"),
        (-5, 0, "chunking_strategy.static.max_chunk_size_tokens", "chunk_size_invalid"),
        (True, 0, "chunking_strategy.static.max_chunk_size_tokens", "chunk_size_invalid"),
        (50, 400, "chunking_strategy.static.max_chunk_size_tokens", "chunk_size_invalid"),
        (800, -1, "chunking_strategy.static.chunk_overlap_tokens", "chunk_overlap_invalid"),
        (800, 401, "chunking_strategy.static.chunk_overlap_tokens", "chunk_overlap_invalid"),
        (100, 51, "chunking_strategy.static.chunk_overlap_tokens", "chunk_overlap_invalid"),
        (101, 51, "chunking_strategy.static.chunk_overlap_tokens", "chunk_overlap_invalid"),
        (800, 800, "chunking_strategy.static.chunk_overlap_tokens", "chunk_overlap_invalid"),
    ],
)
def test_validate_static_rejects(size: int, overlap: int, param: str, code: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        validate_static(size, overlap)
    err = info.value
    assert (err.param, err.code, err.status_code) == (param, code, 400)
    field = param.rsplit(".", 1)[-1]
    assert field in err.message
    if code == "chunk_size_invalid":
        assert "100" in err.message and "4096" in err.message
    else:
        assert f"0..{size // 2}" in err.message
