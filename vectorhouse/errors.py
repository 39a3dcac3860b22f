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


class Unauthorized(VectorhouseError):
    """A missing, unknown or revoked API key (401)."""

    status_code = 401
    default_code = "invalid_api_key"


class PermissionDenied(VectorhouseError):
    """A valid key that may not do this, e.g. manage keys without being an admin key (403)."""

    status_code = 403
    default_code = "insufficient_permissions"


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


class QuotaExceeded(VectorhouseError):
    """The project is at one of its quotas (429)."""

    status_code = 429
    default_code = "vector_store_limit_exceeded"


class InsufficientStorage(VectorhouseError):
    """The server's disk is full; nothing of the request was kept (507)."""

    status_code = 507
    error_type = "server_error"
    default_code = "insufficient_storage"


class Unavailable(VectorhouseError):
    """A backend (the catalog database, Elasticsearch) cannot be reached right now; retry (503)."""

    status_code = 503
    error_type = "server_error"
    default_code = "service_unavailable"


class Timeout(VectorhouseError):
    """A server-side wait ran out before the object finished (504)."""

    status_code = 504
    error_type = "timeout_error"


class UpstreamFailure(VectorhouseError):
    """The chat model's endpoint failed or answered an error; its message is passed on (502)."""

    status_code = 502
    error_type = "server_error"
    default_code = "chat_upstream_error"


class UpstreamTimeout(VectorhouseError):
    """The chat model's endpoint did not answer in time (504)."""

    status_code = 504
    error_type = "timeout_error"
    default_code = "chat_upstream_timeout"


class BackendFailure(VectorhouseError):
    """A genuine fault in a storage or embedding backend (500); never used for bad input."""

    status_code = 500
    error_type = "server_error"
    default_code = "server_error"


# The public error-code table: code → (HTTP status, one-line hint for the caller).
ERROR_CODES: dict[str, tuple[int, str]] = {
    "vector_store_not_found": (404, "Check the vector store id; list stores with GET /v1/vector_stores."),
    "vector_store_expired": (410, "The store passed its expires_after policy; create a new store."),
    "file_not_found": (404, "Check the file id; upload files with POST /v1/files."),
    "file_already_attached": (409, "The file is already in this store; update its attributes instead."),
    "file_not_in_vector_store": (404, "Attach the file first with POST /v1/vector_stores/{id}/files."),
    "file_indexing_failed": (400, "Read last_error on the vector store file; fix the file and attach it again."),
    "file_indexing_timeout": (504, "Indexing is still running; poll again later."),
    "invalid_chunking_strategy": (400, "Use {'type': 'auto'} or {'type': 'static', 'static': {...}}."),
    "chunk_size_invalid": (400, "max_chunk_size_tokens must be between 100 and 4096."),
    "chunk_overlap_invalid": (400, "chunk_overlap_tokens must be between 0 and half of max_chunk_size_tokens."),
    "batch_not_found": (404, "Check the batch id and the vector store it belongs to."),
    "batch_too_large": (400, "Split the files into several batches."),
    "batch_not_cancellable": (400, "Only an in-progress batch can be cancelled."),
    "invalid_search_query": (400, "Send a non-empty query string or list of strings."),
    "invalid_search_filter": (400, "Filters are {key, type, value} comparisons or {type: and|or, filters: [...]}."),
    "metadata_too_large": (400, "At most 16 keys are allowed."),
    "metadata_key_too_long": (400, "Keys may have at most 64 characters."),
    "metadata_value_too_long": (400, "String values may have at most 512 characters."),
    "invalid_metadata": (400, "Metadata values must be strings."),
    "invalid_attributes": (400, "Attribute values must be strings, finite numbers or booleans."),
    "invalid_request_body": (400, "Send a JSON object as the request body."),
    "invalid_vector_store_id": (400, "Vector store ids are 'vs_' followed by letters and digits."),
    "invalid_file_id": (400, "File ids are 'file-' followed by letters and digits."),
    "vector_store_creation_failed": (400, "Create the store with at most 500 file_ids, then add files in batches."),
    "invalid_embedding_model": (400, "Choose an installed model: `vectorhouse models list`."),
    "collection_not_found": (404, "Check the collection name; list them with GET /v1/api/collection."),
    "collection_exists": (409, "Collection names are unique: index into it, or delete it first."),
    "chat_model_not_configured": (400, "Set VECTORHOUSE_CHAT_BASE_URL and VECTORHOUSE_CHAT_MODEL (and the API key)."),
    "invalid_chat_model": (400, "Name the configured chat model, or one listed in VECTORHOUSE_CHAT_MODELS."),
    "unsupported_tool": (400, "vectorhouse runs the file_search tool only."),
    "response_not_found": (404, "Check the response id; only stored responses (store: true) can be read back."),
    "chat_upstream_error": (502, "The chat model's endpoint failed; its message says why."),
    "chat_upstream_timeout": (504, "The chat model's endpoint did not answer in time; retry, or raise the timeout."),
    "invalid_api_key": (401, "Send 'Authorization: Bearer <key>' with a key from `vectorhouse keys create`."),
    "insufficient_permissions": (403, "Managing keys and projects takes an admin key (`keys create --admin`)."),
    "vector_store_limit_exceeded": (429, "The project is at its quota; delete stores or files, or raise the quota."),
    "insufficient_storage": (507, "The server's disk is full; free space and retry."),
    "service_unavailable": (503, "A backend is unreachable; retry shortly."),
    "search_failed": (500, "The search backend failed; retry, and report the request id if it persists."),
}


def hint_for(code: str | None) -> str | None:
    entry = ERROR_CODES.get(code or "")
    return entry[1] if entry else None
