"""SQLAlchemy Core tables of the catalog; `seq` columns give a stable creation order for cursors."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, MetaData, String, Table, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()
# JSON in SQLite, JSONB in PostgreSQL. Columns change only through a migration in migrations/versions.
JSONType = JSON().with_variant(JSONB(), "postgresql")
# Requests without keys (auth off) and every row made before projects existed belong to this project.
DEFAULT_PROJECT_ID = "proj_default"
DEFAULT_PROJECT_NAME = "default"

projects = Table(
    "projects",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(80), nullable=False, unique=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
)

# Only a key's sha256 is kept: the secret is shown once, when it is made.
api_keys = Table(
    "api_keys",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(80), nullable=False, unique=True),
    Column("project_id", String(80), nullable=False),
    Column("name", String(256), nullable=False),
    Column("secret_sha256", String(64), nullable=False, unique=True),
    Column("redacted_value", String(64), nullable=False),
    Column("admin", Integer, nullable=False, default=0),
    Column("created_at", BigInteger, nullable=False),
    Column("last_used_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
)
Index("ix_api_keys_project", api_keys.c.project_id)

files = Table(
    "files",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(80), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("filename", Text, nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("project_id", String(80), nullable=False, default=DEFAULT_PROJECT_ID),
)
Index("ix_files_project", files.c.project_id)

vector_stores = Table(
    "vector_stores",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(80), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("name", Text, nullable=False, default=""),
    Column("description", Text, nullable=True),
    Column("metadata", JSONType, nullable=True),
    Column("expires_after_days", Integer, nullable=True),
    Column("last_active_at", BigInteger, nullable=False),
    Column("expired", Integer, nullable=False, default=0),
    Column("backend", String(32), nullable=False, default="embedded"),
    # NULL: made before stores chose models, embedded with the server's default model.
    Column("embedding_model", String(128), nullable=True),
    Column("project_id", String(80), nullable=False, default=DEFAULT_PROJECT_ID),
    # The collection API's name for the store (NULL: an ordinary store); unique within a project.
    Column("collection", String(256), nullable=True),
)
Index("ix_vector_stores_project", vector_stores.c.project_id)
Index("ux_vector_stores_collection", vector_stores.c.project_id, vector_stores.c.collection, unique=True)

vector_store_files = Table(
    "vector_store_files",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("store_id", String(80), nullable=False),
    Column("file_id", String(80), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("last_error", JSONType, nullable=True),
    Column("attributes", JSONType, nullable=True),
    # Per chunk position, once completed: offsets in the extracted text and page/slide/sheet/headings.
    Column("provenance", JSONType, nullable=True),
    Column("max_chunk_size_tokens", Integer, nullable=False),
    Column("chunk_overlap_tokens", Integer, nullable=False),
    Column("usage_bytes", BigInteger, nullable=False, default=0),
    Column("chunk_count", Integer, nullable=False, default=0),
    Column("batch_id", String(80), nullable=True),
    UniqueConstraint("store_id", "file_id", name="uq_store_file"),
)
Index("ix_vsf_file", vector_store_files.c.file_id)
Index("ix_vsf_store_status", vector_store_files.c.store_id, vector_store_files.c.status)

file_batches = Table(
    "file_batches",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(80), nullable=False, unique=True),
    Column("store_id", String(80), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("cancelled", Integer, nullable=False, default=0),
)
Index("ix_batches_store", file_batches.c.store_id)
Index("ix_vsf_batch", vector_store_files.c.batch_id)

# One row per attach waiting for (or being worked by) an ingestion worker. A claimed job carries
# its owner and a lease; a job whose lease ran out is free to claim again (its worker died).
jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("store_id", String(80), nullable=False),
    Column("file_id", String(80), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("owner", String(80), nullable=True),
    Column("lease_until", BigInteger, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    # Never reuse a finished job's id (SQLite would): a stale worker must not match a new job.
    sqlite_autoincrement=True,
)
Index("ix_jobs_lease", jobs.c.lease_until)
Index("ix_jobs_store_file", jobs.c.store_id, jobs.c.file_id)

# Stored Responses API responses (`store: true`): the whole response object as it was returned.
responses = Table(
    "responses",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(80), nullable=False, unique=True),
    Column("project_id", String(80), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("body", JSONType, nullable=False),
)
Index("ix_responses_project", responses.c.project_id)
