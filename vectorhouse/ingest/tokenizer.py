"""Offline tiktoken encodings: seeds tiktoken's cache from the BPE files bundled in `bpe_openai`."""

# Why seed the cache rather than build `tiktoken.Encoding` from parsed ranks ourselves: tiktoken's own
# constructor (tiktoken_ext.openai_public) then supplies the split pattern, the special tokens and,
# crucially, the sha256 it expects for each BPE file. `read_file_cached` checks that hash before using
# a cached blob, so a load that succeeds proves the bundled files are byte-identical to OpenAI's. Copying
# the pattern/special tokens into this module would duplicate tiktoken and verify nothing.

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import tempfile
import threading
from pathlib import Path

import tiktoken

SUPPORTED_ENCODINGS: tuple[str, ...] = ("o200k_base", "cl100k_base")

# Must equal the URLs in tiktoken_ext.openai_public: tiktoken keys its cache by sha1 of the URL.
_BLOB_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"

_lock = threading.Lock()
_encodings: dict[str, tiktoken.Encoding] = {}


def get_encoding(name: str = "o200k_base") -> tiktoken.Encoding:
    """Return the named tiktoken encoding, loaded without network access; cached per name."""
    if name not in SUPPORTED_ENCODINGS:
        raise ValueError(f"unsupported encoding {name!r}; expected one of {', '.join(SUPPORTED_ENCODINGS)}")
    enc = _encodings.get(name)
    if enc is not None:
        return enc
    with _lock:
        enc = _encodings.get(name)
        if enc is None:
            _seed_cache(name, _cache_dir())
            enc = tiktoken.get_encoding(name)
            _encodings[name] = enc
        return enc


def _cache_dir() -> Path:
    """The directory tiktoken reads its cache from, choosing (and exporting) ours if none is configured."""
    # Honour a cache dir the operator configured, exactly as tiktoken resolves it.
    if os.environ.get("TIKTOKEN_CACHE_DIR"):
        return Path(os.environ["TIKTOKEN_CACHE_DIR"])
    if "TIKTOKEN_CACHE_DIR" not in os.environ and os.environ.get("DATA_GYM_CACHE_DIR"):
        return Path(os.environ["DATA_GYM_CACHE_DIR"])
    # Otherwise (unset, or "" which would disable caching and force a download) use our own.
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    fallback = Path(tempfile.gettempdir()) / "vectorhouse-tiktoken"
    for candidate in (base / "vectorhouse" / "tiktoken", fallback):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            os.environ["TIKTOKEN_CACHE_DIR"] = str(candidate)
            return candidate
    raise RuntimeError("no writable directory for the tiktoken cache; set TIKTOKEN_CACHE_DIR")


def _bundled_bpe_path(name: str) -> Path:
    """Locate bpe_openai's gzipped BPE file without importing the package.

    Importing bpe_openai parses its own tokenizers eagerly (slow, and noisy with warnings); we only
    want its data files, so find the package directory through its import spec instead.
    """
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the bpe-openai package (bundled BPE files) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / f"{name}.tiktoken.gz"


def _seed_cache(name: str, cache_dir: Path) -> None:
    """Write the bundled BPE file for `name` where tiktoken's read_file_cached will look for it."""
    contents = gzip.decompress(_bundled_bpe_path(name).read_bytes())
    target = cache_dir / hashlib.sha1(_BLOB_URL.format(name=name).encode()).hexdigest()
    try:
        if target.read_bytes() == contents:
            return
    except OSError:
        pass  # missing or unreadable: (re)write it below
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Write-then-rename so a concurrent process never reads a half-written file.
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=target.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(contents)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
