"""`vectorhouse bench embed`: a model alone on a corpus' chunks (the floor for `bench ingest`), or two side by side."""

from __future__ import annotations

import argparse
import time

import numpy as np

from vectorhouse.bench.beir import load_dataset
from vectorhouse.config import Settings
from vectorhouse.embed.base import Embedder
from vectorhouse.ingest.chunking import AUTO_CHUNKING, chunk_text


def embed_command(args: argparse.Namespace) -> int:
    # Imported here: building the service layer is not needed to parse `vectorhouse --help`.
    from vectorhouse.service.core import build_models

    settings = Settings.from_env(embedding_model=args.embedding_model)
    dataset = load_dataset(args.dataset)
    docs = list(dataset.corpus.values())[: args.limit]
    # The same chunks ingestion would embed (auto chunking), so the two benchmarks compare.
    texts = [c.text for doc in docs for c in chunk_text(doc, AUTO_CHUNKING, settings.tokenizer)]
    models = build_models(settings)
    embedders = [models.get(models.default)] + ([models.get(models.check(args.compare))] if args.compare else [])
    for embedder in embedders:
        embedder.embed(texts[:64])  # load the model and any lazily built sessions outside the timing
    group = args.group or (len(texts) if len(embedders) == 1 else 256)
    seconds, vectors = _timed(embedders, texts, group)
    print(f"dataset              {dataset.name} ({len(docs)} documents)")
    print(f"chunks               {len(texts)}")
    print(f"calls of             {group} chunks" + (", the models alternating" if len(embedders) > 1 else ""))
    for embedder, spent in zip(embedders, seconds, strict=True):
        print(f"embedding model      {embedder.name}")
        print(f"embed seconds        {spent:.2f}")
        print(f"chunks/s             {len(texts) / spent:.1f}")
    if len(embedders) > 1:
        print(f"time ratio           {seconds[1] / seconds[0]:.3f} ({embedders[1].name} / {embedders[0].name})")
        if vectors[0].shape == vectors[1].shape:
            cosines = (vectors[0] * vectors[1]).sum(axis=1)
            print(f"cosine mean          {cosines.mean():.4f}")
            print(f"cosine min           {cosines.min():.4f}")
            print(f"cosine p1            {np.percentile(cosines, 1):.4f}")
    return 0


def _timed(embedders: list[Embedder], texts: list[str], group: int) -> tuple[list[float], list[np.ndarray]]:
    """Seconds each embedder spent on all texts, and its vectors. Calls alternate between the models
    so that a slower stretch of this machine falls on both (times here drift within one run)."""
    seconds = [0.0] * len(embedders)
    parts: list[list[np.ndarray]] = [[] for _ in embedders]
    for start in range(0, len(texts), group):
        for i, embedder in enumerate(embedders):
            began = time.perf_counter()
            parts[i].append(embedder.embed(texts[start : start + group]))
            seconds[i] += time.perf_counter() - began
    return seconds, [np.concatenate(p) if p else np.zeros((0, 0), np.float32) for p in parts]


def add_embed_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("embed", help="time the configured embedder alone on a BEIR corpus' chunks")
    parser.add_argument("dataset", metavar="DATASET_DIR", help="BEIR folder (corpus.jsonl[.gz], queries, qrels)")
    parser.add_argument("--limit", type=int, help="only the first N documents")
    parser.add_argument("--group", type=int,
                        help="chunks per embed call (default: all in one call; 256 with --compare)")
    parser.add_argument("--embedding-model", help="a name from `vectorhouse models list` (default: the server's)")
    parser.add_argument("--compare", metavar="MODEL",
                        help="a second model, timed in alternating calls: prints the time ratio and, for equal "
                             "dimensions, the cosine between the two models' vectors of each chunk")
    parser.set_defaults(handler=embed_command)
