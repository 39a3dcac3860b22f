"""Domain errors raised below the API layer; the API maps each to OpenAI's error envelope."""

from __future__ import annotations


class VectorhouseError(Exception):
    """Base error: an HTTP status, a message that names the problem, the offending field, a code."""

    status_code: int = 400
    error_type: str = "invalid_request_error"
    default_code: str | None = None

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code


class InvalidRequest(VectorhouseError):
    """The request is malformed or out of range (400)."""

    status_code = 400


class NotFound(VectorhouseError):
    """An id names nothing this caller can see (404)."""

    status_code = 404
    default_code = "not_found"


class Conflict(VectorhouseError):
    """The request clashes with the current state (409)."""

    status_code = 409
    default_code = "conflict"


class Gone(VectorhouseError):
    """The object exists but can no longer be used, e.g. an expired store (410)."""

    status_code = 410


class PayloadTooLarge(VectorhouseError):
    """The upload exceeds the configured limit (413)."""

    status_code = 413
    default_code = "file_too_large"


class BackendFailure(VectorhouseError):
    """A genuine fault in a storage or embedding backend (500); never used for bad input."""

    status_code = 500
    error_type = "server_error"
    default_code = "server_error"
