"""The domain services; `Vectorhouse` wires them to one catalog, blob store, index router and model registry."""

from vectorhouse.service.core import Vectorhouse

__all__ = ["Vectorhouse"]
