"""ONNX sentence-embedding models on onnxruntime: tokenise, batch by length, run, pool (cls or mean), normalise."""

from __future__ import annotations

import json
import os
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vectorhouse.heap import release_freed_heap

# Rows per onnxruntime call, capped further by a padded-token budget. Measured on SciFact (2 cores,
# one single-threaded session per core, 1500 documents in groups of 128): a 512-token budget takes
# 32.7 s, 1024 tokens 37.2 s, 2048 tokens 40.8 s; a small batch's activations stay in the core's cache.
DEFAULT_BATCH_SIZE = 32
DEFAULT_MAX_BATCH_TOKENS = 512
_DEVICES = ("cpu", "cuda")
# What a directory model says about itself, next to its model.onnx and tokenizer.json.
CONFIG_FILE = "vectorhouse-model.json"
Pooling = Literal["cls", "mean"]


@dataclass(frozen=True)
class ModelConfig:
    """How a model's token states become one vector, and how queries are told from passages."""

    pooling: Pooling = "mean"
    normalize: bool = True
    # Prepended to every query (never to stored chunks): models such as bge are trained that way.
    query_prefix: str = ""
    # The model's input window in its own tokens, [CLS] and [SEP] included.
    max_tokens: int = 512

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], where: str) -> ModelConfig:
        unknown = set(raw) - {"pooling", "normalize", "query_prefix", "max_tokens"}
        if unknown:
            raise ValueError(f"{where}: unknown settings {', '.join(sorted(unknown))}")
        pooling = raw.get("pooling", "mean")
        if pooling not in ("cls", "mean"):
            raise ValueError(f"{where}: pooling must be 'cls' or 'mean', got {pooling!r}")
        max_tokens = raw.get("max_tokens", 512)
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or not 8 <= max_tokens <= 8192:
            raise ValueError(f"{where}: max_tokens must be an integer from 8 to 8192, got {max_tokens!r}")
        normalize, prefix = raw.get("normalize", True), raw.get("query_prefix", "")
        if not isinstance(normalize, bool) or not isinstance(prefix, str):
            raise ValueError(f"{where}: normalize must be true/false and query_prefix a string")
        return cls(pooling=pooling, normalize=normalize, query_prefix=prefix, max_tokens=max_tokens)

    def to_json(self) -> dict[str, Any]:
        return {"pooling": self.pooling, "normalize": self.normalize, "query_prefix": self.query_prefix,
                "max_tokens": self.max_tokens}


def read_config(directory: Path) -> ModelConfig:
    path = directory / CONFIG_FILE
    return ModelConfig.from_json(json.loads(path.read_text()), str(path))


def parse_device(device: str) -> tuple[str, int]:
    kind, _, index = device.partition(":")
    if kind not in _DEVICES or (index and not index.isdigit()) or (kind == "cpu" and index):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return kind, int(index or 0)


def available_cpus() -> int:
    # The CPUs this process may run on (a container's cpuset), else the machine's count.
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class Runtime:
    """Tokenizer + onnxruntime sessions for one (model, device, threads) setting; shared by the process."""

    def __init__(self, model: bytes, tokenizer_json: str, max_tokens: int, device: str, threads: int) -> None:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_str(tokenizer_json)
        # Some tokenizer.json files ship fixed padding and a short truncation; we pad per sorted batch
        # ourselves and never touch the tokenizer again, so concurrent encode calls are safe.
        tokenizer.no_padding()
        # Untruncated, for embedding long documents as several windows.
        self.full_tokenizer = Tokenizer.from_str(tokenizer.to_str())
        self.full_tokenizer.no_truncation()
        tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.cls_id = tokenizer.token_to_id("[CLS]")
        self.sep_id = tokenizer.token_to_id("[SEP]")
        self._model = model
        self._threads = threads
        self._kind, self._device_index = parse_device(device)
        self.session = self._session(threads)
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.hidden = int(self.session.get_outputs()[0].shape[-1])
        self._replicas: queue.SimpleQueue[Any] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._replicas_lock = threading.Lock()
        if self._kind == "cuda" or threads == 1:
            self._model = b""  # this session is the only one: free the serialized graph

    def _session(self, threads: int) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Intra-op threads spin between operators (switching them off made a query 3.4 -> 5.4 ms), but
        # by default they go on spinning after the run and take the core from the index search that
        # follows (vector scan 1.1 -> 3.6 ms): stop them when the run returns.
        options.add_session_config_entry("session.force_spinning_stop", "1")
        options.log_severity_level = 3  # errors only: its warnings are noise for a fixed, known graph
        providers: list[Any] = ["CPUExecutionProvider"]
        if self._kind == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise RuntimeError(
                    "device='cuda' needs onnxruntime with CUDA: pip uninstall onnxruntime && "
                    "pip install onnxruntime-gpu"
                )
            providers = [("CUDAExecutionProvider", {"device_id": self._device_index}), "CPUExecutionProvider"]
        session = ort.InferenceSession(self._model, options, providers=providers)
        if self._kind == "cuda" and session.get_providers()[0] != "CUDAExecutionProvider":
            # onnxruntime silently falls back to CPU when the CUDA libraries fail to load.
            raise RuntimeError("onnxruntime could not start its CUDA provider (check the CUDA/cuDNN libraries)")
        return session

    def run_batches(self, batches: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
        """The first output (token states, or already pooled vectors) of each batch, in order.

        One batch (a query) runs on the main session, whose intra-op threads split each matrix
        product: lowest latency. Several batches on CPU run on one single-threaded replica session
        per core instead: intra-op threads meet at a barrier after every operator, so one thread
        preempted by the HTTP side stalls the others; measured on SciFact with a light competing
        load, replicas embed 1500 documents in 44.5 s against 47.4 s (32.4 s against 35.0 s idle).
        """
        if self._kind == "cuda" or self._threads == 1 or len(batches) == 1:
            return [self.session.run(None, feeds)[0] for feeds in batches]
        pool, replicas = self._replica_pool()

        def run(f: dict[str, np.ndarray]) -> np.ndarray:
            session = replicas.get()
            try:
                return session.run(None, f)[0]
            finally:
                replicas.put(session)

        return list(pool.map(run, batches))

    def _replica_pool(self) -> tuple[ThreadPoolExecutor, queue.SimpleQueue[Any]]:
        # Built on first bulk use (about 100 MB each), so a process that only embeds queries never pays.
        with self._replicas_lock:
            if self._pool is None or self._replicas is None:
                replicas: queue.SimpleQueue[Any] = queue.SimpleQueue()
                for _ in range(self._threads):
                    replicas.put(self._session(1))
                self._replicas = replicas
                self._model = b""
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="vectorhouse-embed")
            return self._pool, self._replicas


_RUNTIMES: dict[tuple[str, str, int], Runtime] = {}
_RUNTIMES_LOCK = threading.Lock()


def shared_runtime(key: str, load: Callable[[], tuple[bytes, str]], max_tokens: int, device: str,
                   threads: int) -> Runtime:
    """The process's one Runtime for this model and setting; `load` gives (ONNX bytes, tokenizer JSON)
    the first time. Building a session takes about a second and ~100 MB, so it happens once."""
    with _RUNTIMES_LOCK:
        runtime = _RUNTIMES.get((key, device, threads))
        if runtime is None:
            model, tokenizer = load()
            runtime = _RUNTIMES[(key, device, threads)] = Runtime(model, tokenizer, max_tokens, device, threads)
            # Building the graph (the fp32 one first, for int8) frees far more than the session keeps:
            # 313 MB resident for the int8 MiniLM without this, 156 MB with it.
            release_freed_heap()
        return runtime


class OnnxEmbedder:
    """A sentence-embedding model as ONNX: tokens in, one pooled (by default unit) vector per text out.

    Thread-safe: the tokenizer is never reconfigured after loading and onnxruntime sessions allow
    concurrent `run` calls. device="cuda" uses onnxruntime's CUDA provider (needs `onnxruntime-gpu`).
    """

    def __init__(
        self,
        name: str,
        key: str,
        load: Callable[[], tuple[bytes, str]],
        config: ModelConfig,
        device: str = "cpu",
        batch_size: int = DEFAULT_BATCH_SIZE,
        threads: int | None = None,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
    ) -> None:
        if batch_size < 1 or max_batch_tokens < 1:
            raise ValueError("batch_size and max_batch_tokens must be at least 1")
        if threads is not None and threads < 1:
            raise ValueError("threads must be at least 1")
        parse_device(device)
        self.name = name
        self.config = config
        self.device = device
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.threads = threads or available_cpus()
        self._runtime = shared_runtime(key, load, config.max_tokens, device, self.threads)
        self.dimension: int = self._runtime.hidden
        self.max_tokens: int | None = config.max_tokens

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Each text as the model sees it (sentence-transformers' behaviour): truncated to its window."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # sentence-transformers strips each text before tokenising.
        encodings = self._runtime.tokenizer.encode_batch([str(text).strip() for text in texts])
        return self._finish(self._encode([e.ids for e in encodings]))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Search queries: with the model's query prefix, when it has one."""
        prefix = self.config.query_prefix
        return self.embed([prefix + str(text).strip() for text in texts] if prefix else texts)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Texts longer than the model's window are embedded as overlapping windows, then averaged.

        Truncation would leave the end of a long chunk unseen by the vector side; averaging the
        windows' unit vectors keeps the whole text in one vector of the same space. Only models
        with BERT's [CLS]/[SEP] framing are windowed; others are truncated.
        """
        runtime = self._runtime
        if not texts or runtime.cls_id is None or runtime.sep_id is None:
            return self.embed(texts)
        body = runtime.max_tokens - 2
        stride = max(1, body * 3 // 4)
        windows: list[list[int]] = []
        owners: list[int] = []
        for owner, encoding in enumerate(runtime.full_tokenizer.encode_batch([str(t).strip() for t in texts])):
            ids = encoding.ids[1:-1]  # without [CLS] and [SEP]; each window gets its own
            starts = range(0, max(1, len(ids) - body + stride), stride) if len(ids) > body else [0]
            for start in starts:
                piece = ids[start : start + body]
                if start and len(piece) < body // 4:
                    continue  # a short tail already lies inside the previous window's overlap
                windows.append([runtime.cls_id, *piece, runtime.sep_id])
                owners.append(owner)
        pooled = np.zeros((len(texts), self.dimension), dtype=np.float32)
        np.add.at(pooled, owners, normalise(self._encode(windows)))
        return normalise(pooled)

    def _finish(self, vectors: np.ndarray) -> np.ndarray:
        return normalise(vectors) if self.config.normalize else vectors

    def _encode(self, ids: list[list[int]]) -> np.ndarray:
        """Pooled (not yet normalised) vectors of token id sequences, in input order."""
        out = np.zeros((len(ids), self.dimension), dtype=np.float32)
        # Sorting by length keeps each batch's padding small; the result is put back in input order.
        order = np.argsort([-len(seq) for seq in ids], kind="stable")
        batches: list[dict[str, np.ndarray]] = []
        batch_rows: list[np.ndarray] = []
        start = 0
        while start < len(order):
            # Longest text first, so the batch's width is its first row's length.
            width = len(ids[order[start]])
            count = max(1, min(self.batch_size, self.max_batch_tokens // width))
            rows = order[start : start + count]
            start += count
            input_ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                input_ids[r, : len(ids[i])] = ids[i]
                mask[r, : len(ids[i])] = 1
            feeds = {"input_ids": input_ids, "attention_mask": mask}
            if "token_type_ids" in self._runtime.inputs:  # BERT exports that take it: one segment, all 0
                feeds["token_type_ids"] = np.zeros_like(input_ids)
            batches.append(feeds)
            batch_rows.append(rows)
        for rows, feeds, output in zip(batch_rows, batches, self._runtime.run_batches(batches), strict=True):
            out[rows] = self._pool(output, feeds["attention_mask"])
        return out

    def _pool(self, output: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if output.ndim == 2:  # the graph pools itself
            return output
        if self.config.pooling == "cls":
            return output[:, 0, :]
        weights = mask[:, :, None].astype(np.float32)
        return (output * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)


def normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def directory_embedder(name: str, directory: Path, **options: Any) -> OnnxEmbedder:
    """A model in a directory: model.onnx, tokenizer.json and vectorhouse-model.json (ModelConfig)."""
    for required in ("model.onnx", "tokenizer.json", CONFIG_FILE):
        if not (directory / required).is_file():
            raise FileNotFoundError(f"embedding model {name!r}: {directory / required} is missing")
    config = read_config(directory)

    def load() -> tuple[bytes, str]:
        return (directory / "model.onnx").read_bytes(), (directory / "tokenizer.json").read_text()

    return OnnxEmbedder(name, str(directory.resolve()), load, config, **options)
