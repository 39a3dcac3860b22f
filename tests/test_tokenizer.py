"""Tests for vectorhouse.ingest.tokenizer: offline loading from bpe_openai and known token ids."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path
from typing import Any

import pytest
import tiktoken
import tiktoken.registry

from vectorhouse.ingest import tokenizer
from vectorhouse.ingest.tokenizer import get_encoding


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise OSError("network access attempted in an offline test")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any DNS lookup or socket connection fail, as on a machine without internet."""
    monkeypatch.setattr(socket, "getaddrinfo", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)


@pytest.fixture
def fresh_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Forget every loaded encoding and point tiktoken at an empty cache directory."""
    monkeypatch.setattr(tokenizer, "_encodings", {})
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    cache = tmp_path / "tiktoken-cache"
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    return cache


@pytest.mark.parametrize(
    ("name", "ids"),
    [("o200k_base", [24912, 2375]), ("cl100k_base", [15339, 1917])],
)
def test_known_token_ids(name: str, ids: list[int]) -> None:
    enc = get_encoding(name)
    assert enc.name == name
    assert enc.encode("hello world") == ids
    assert enc.decode(ids) == "hello world"


@pytest.mark.parametrize(
    ("name", "ids"),
    [("o200k_base", [24912, 2375]), ("cl100k_base", [15339, 1917])],
)
def test_loads_fresh_without_network(no_network: None, fresh_state: Path, name: str, ids: list[int]) -> None:
    enc = get_encoding(name)
    assert enc.encode("hello world") == ids
    # The file landed where tiktoken's read_file_cached looks, and tiktoken accepted it (hash verified).
    url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
    assert (fresh_state / hashlib.sha1(url.encode()).hexdigest()).is_file()


def test_repairs_a_corrupted_cache_file(no_network: None, fresh_state: Path) -> None:
    url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    fresh_state.mkdir(parents=True)
    (fresh_state / hashlib.sha1(url.encode()).hexdigest()).write_bytes(b"garbage")
    assert get_encoding("cl100k_base").encode("hello world") == [15339, 1917]


def test_uses_own_cache_dir_when_caching_is_disabled(
    no_network: None, fresh_state: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # TIKTOKEN_CACHE_DIR="" would make tiktoken download; we substitute our own directory instead.
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert get_encoding("o200k_base").encode("hello world") == [24912, 2375]
    assert (tmp_path / "xdg" / "vectorhouse" / "tiktoken").is_dir()


def test_cached_per_name() -> None:
    assert get_encoding() is get_encoding("o200k_base")
    assert get_encoding("cl100k_base") is get_encoding("cl100k_base")
    assert get_encoding("cl100k_base") is not get_encoding("o200k_base")
    assert isinstance(get_encoding(), tiktoken.Encoding)


def test_rejects_unknown_encoding() -> None:
    with pytest.raises(ValueError, match="unsupported encoding"):
        get_encoding("r50k_base")
