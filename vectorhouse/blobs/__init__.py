"""Raw file bytes, content-addressed by sha256."""

from vectorhouse.blobs.local import LocalBlobStore

__all__ = ["LocalBlobStore"]
