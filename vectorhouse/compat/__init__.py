"""Older API shapes kept alive as thin adapters over the same services, as extensions of the HTTP layer."""

from vectorhouse.api.extensions import Extension
from vectorhouse.compat.collection_api import CollectionApi
from vectorhouse.compat.vector_stores_api import VectorStoresApi


def extensions() -> list[Extension]:
    """Every adapter, for `create_app(..., extensions=...)`."""
    return [VectorStoresApi(), CollectionApi()]


__all__ = ["extensions"]
