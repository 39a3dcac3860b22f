"""The domain services; `Vectorhouse` wires them to one catalog, blob store, index and embedder."""

from vectorhouse.service.core import Vectorhouse

__all__ = ["Vectorhouse"]
