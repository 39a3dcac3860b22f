"""`vectorhouse bench embed`: one embedding model alone on a corpus' chunks, the floor for `bench ingest`."""

from __future__ import annotations

import argparse
import time

from vectorhouse.bench.beir import load_dataset
from vectorhouse.config import Settings
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
    embedder = models.get(models.default)
    embedder.embed(texts[:64])  # load the model and any lazily built sessions outside the timing
    group = args.group or len(texts)
    started = time.perf_counter()
    for start in range(0, len(texts), group):
        embedder.embed(texts[start : start + group])
    seconds = time.perf_counter() - started
    print(f"dataset              {dataset.name} ({len(docs)} documents)")
    print(f"embedding model      {embedder.name}")
    print(f"chunks               {len(texts)}")
    print(f"calls of             {group} chunks")
    print(f"embed seconds        {seconds:.2f}")
    print(f"chunks/s             {len(texts) / seconds:.1f}")
    return 0


def add_embed_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("embed", help="time the configured embedder alone on a BEIR corpus' chunks")
    parser.add_argument("dataset", metavar="DATASET_DIR", help="BEIR folder (corpus.jsonl[.gz], queries, qrels)")
    parser.add_argument("--limit", type=int, help="only the first N documents")
    parser.add_argument("--group", type=int, help="chunks per embed call (default: all in one call)")
    parser.add_argument("--embedding-model", help="a name from `vectorhouse models list` (default: the server's)")
    parser.set_defaults(handler=embed_command)
