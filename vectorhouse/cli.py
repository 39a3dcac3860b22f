"""The `vectorhouse` command: `serve`, and `bench` (ingest, search) that print measured numbers."""

from __future__ import annotations

import argparse
import logging
import sys

from vectorhouse.config import Settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from vectorhouse.api import create_app

    settings = Settings.from_env(host=args.host, port=args.port, data_dir=args.data_dir, workers=args.workers,
                                 database_url=args.database_url, index=args.index,
                                 elasticsearch_url=args.elasticsearch_url)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vectorhouse", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP service (embedded backend by default)")
    serve.add_argument("--host", help="bind address (default 127.0.0.1, env VECTORHOUSE_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8000, env VECTORHOUSE_PORT)")
    serve.add_argument("--data-dir", help="data directory (default ./vectorhouse-data, env VECTORHOUSE_DATA_DIR)")
    serve.add_argument("--workers", type=int, help="ingestion worker threads (default 2, env VECTORHOUSE_WORKERS)")
    serve.add_argument("--database-url",
                       help="postgresql://… keeps the catalog and job queue in PostgreSQL, shared by several "
                            "processes (env VECTORHOUSE_DATABASE_URL)")
    serve.add_argument("--index", choices=("embedded", "pgvector", "elasticsearch"),
                       help="default index backend for new stores (default: pgvector with --database-url, "
                            "else embedded; env VECTORHOUSE_INDEX)")
    serve.add_argument("--elasticsearch-url",
                       help="http://host:port of an Elasticsearch 8.x cluster for the elasticsearch backend "
                            "(env VECTORHOUSE_ELASTICSEARCH_URL)")
    serve.set_defaults(handler=_serve)
    try:
        from vectorhouse.bench import add_bench_commands
    except ImportError:  # pragma: no cover - bench is part of the package
        pass
    else:
        add_bench_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
