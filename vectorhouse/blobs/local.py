"""Blob store on a local (or shared) directory: bytes kept once per sha256, written atomically."""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

_CHUNK = 1024 * 1024
# errno values that mean "no room": the disk is full, or the user's quota is.
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


class BlobTooLarge(Exception):
    """The stream went past the size limit; nothing was kept."""


class BlobStorageFull(Exception):
    """The disk (or quota) filled while writing; nothing was kept."""


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put_stream(self, stream: BinaryIO, max_bytes: int) -> tuple[str, int]:
        """Copy a stream in, hashing as it goes; returns (sha256, size). Raises BlobTooLarge past max_bytes,
        BlobStorageFull when the disk or quota fills; either way the partial file is gone."""
        try:
            return self._put_stream(stream, max_bytes)
        except OSError as exc:
            if exc.errno in _FULL:
                raise BlobStorageFull(f"no space left for the upload in {self.root}: {exc.strerror}") from exc
            raise

    def _put_stream(self, stream: BinaryIO, max_bytes: int) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                while block := stream.read(_CHUNK):
                    size += len(block)
                    if size > max_bytes:
                        raise BlobTooLarge(size)
                    digest.update(block)
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            target = self._path(sha)
            target.parent.mkdir(exist_ok=True)
            os.replace(tmp_name, target)
            return sha, size
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def read(self, sha256: str) -> bytes:
        return self._path(sha256).read_bytes()

    def path(self, sha256: str) -> Path:
        return self._path(sha256)

    def delete(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)
