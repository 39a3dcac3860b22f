"""The `vectorhouse bench` commands (ingest, embed, search, quality, fusion, load, scale): measured numbers, printed."""

from __future__ import annotations

import argparse

from vectorhouse.bench.embed import add_embed_command
from vectorhouse.bench.fusion import add_fusion_command
from vectorhouse.bench.ingest import add_ingest_command
from vectorhouse.bench.load import add_load_command
from vectorhouse.bench.quality import add_quality_command
from vectorhouse.bench.scale import add_scale_command
from vectorhouse.bench.search import add_search_command


def add_bench_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `bench` subcommands under the CLI's subparsers."""
    bench = commands.add_parser("bench", help="measure ingestion throughput and search latency on a BEIR dataset")
    bench_commands = bench.add_subparsers(dest="bench_command", required=True)
    add_ingest_command(bench_commands)
    add_embed_command(bench_commands)
    add_search_command(bench_commands)
    add_quality_command(bench_commands)
    add_fusion_command(bench_commands)
    add_load_command(bench_commands)
    add_scale_command(bench_commands)


__all__ = ["add_bench_commands"]
