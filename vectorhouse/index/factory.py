"""Maps backend names and Settings to Index instances; a new backend is one package plus one entry here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vectorhouse.config import Settings, postgres_conninfo
from vectorhouse.index.base import Index

BACKENDS = ("embedded", "pgvector", "elasticsearch")


def _embedded(settings: Settings) -> Index:
    from vectorhouse.index.embedded import EmbeddedIndex

    return EmbeddedIndex(settings.data_dir / "index.db", exact_search_max_chunks=settings.exact_search_max_chunks,
                         keyword_postings_max_chunks=settings.keyword_postings_max_chunks)


def _pgvector(settings: Settings) -> Index:
    from vectorhouse.index.pgvector import PgvectorIndex

    return PgvectorIndex(postgres_conninfo(settings), exact_search_max_chunks=settings.pgvector_exact_search_max_chunks)


def elasticsearch_connection(settings: Settings) -> dict[str, Any]:
    """The Elasticsearch client's options for reaching the cluster: who we are, and which certificates we trust."""
    options: dict[str, Any] = {}
    if settings.elasticsearch_cloud_id:
        options["cloud_id"] = settings.elasticsearch_cloud_id
    if settings.elasticsearch_api_key:
        options["api_key"] = settings.elasticsearch_api_key
    elif settings.elasticsearch_username:
        options["basic_auth"] = (settings.elasticsearch_username, settings.elasticsearch_password)
    # Certificates only mean something over TLS (https, or a cloud id, which is always https).
    if settings.elasticsearch_cloud_id or settings.elasticsearch_url.startswith("https://"):
        options["verify_certs"] = settings.elasticsearch_verify_certs
        if settings.elasticsearch_ca_certs:
            options["ca_certs"] = settings.elasticsearch_ca_certs
    return options


def _elasticsearch(settings: Settings) -> Index:
    from vectorhouse.index.elasticsearch import ElasticsearchIndex

    return ElasticsearchIndex(settings.elasticsearch_url, prefix=settings.elasticsearch_index_prefix,
                              **elasticsearch_connection(settings))


_FACTORIES: dict[str, Callable[[Settings], Index]] = {
    "embedded": _embedded,
    "pgvector": _pgvector,
    "elasticsearch": _elasticsearch,
}


def available_backends(settings: Settings) -> tuple[str, ...]:
    """Backends this process can serve: pgvector needs a PostgreSQL database_url, elasticsearch its URL."""
    needs = {"pgvector": settings.database_url,
             "elasticsearch": settings.elasticsearch_url or settings.elasticsearch_cloud_id}
    return tuple(name for name in BACKENDS if needs.get(name, "embedded"))


def create_index(name: str, settings: Settings) -> Index:
    """A backend; every one holds stores of any vector dimension side by side (one model per store)."""
    if name not in _FACTORIES:
        raise ValueError(f"unknown index backend {name!r}: expected one of {', '.join(BACKENDS)}")
    return _FACTORIES[name](settings)
