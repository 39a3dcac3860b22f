"""The first catalog schema: files, vector stores, store-files, file batches, jobs."""

import sqlalchemy as sa
from alembic import op

from vectorhouse.catalog.tables import JSONType

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(80), nullable=False, unique=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "vector_stores",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(80), nullable=False, unique=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("metadata", JSONType, nullable=True),
        sa.Column("expires_after_days", sa.Integer, nullable=True),
        sa.Column("last_active_at", sa.BigInteger, nullable=False),
        sa.Column("expired", sa.Integer, nullable=False),
        sa.Column("backend", sa.String(32), nullable=False),
    )
    op.create_table(
        "vector_store_files",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("store_id", sa.String(80), nullable=False),
        sa.Column("file_id", sa.String(80), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_error", JSONType, nullable=True),
        sa.Column("attributes", JSONType, nullable=True),
        sa.Column("max_chunk_size_tokens", sa.Integer, nullable=False),
        sa.Column("chunk_overlap_tokens", sa.Integer, nullable=False),
        sa.Column("usage_bytes", sa.BigInteger, nullable=False),
        sa.Column("chunk_count", sa.Integer, nullable=False),
        sa.Column("batch_id", sa.String(80), nullable=True),
        sa.UniqueConstraint("store_id", "file_id", name="uq_store_file"),
    )
    op.create_index("ix_vsf_file", "vector_store_files", ["file_id"])
    op.create_index("ix_vsf_store_status", "vector_store_files", ["store_id", "status"])
    op.create_index("ix_vsf_batch", "vector_store_files", ["batch_id"])
    op.create_table(
        "file_batches",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(80), nullable=False, unique=True),
        sa.Column("store_id", sa.String(80), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("cancelled", sa.Integer, nullable=False),
    )
    op.create_index("ix_batches_store", "file_batches", ["store_id"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("store_id", sa.String(80), nullable=False),
        sa.Column("file_id", sa.String(80), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("owner", sa.String(80), nullable=True),
        sa.Column("lease_until", sa.BigInteger, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_jobs_lease", "jobs", ["lease_until"])
    op.create_index("ix_jobs_store_file", "jobs", ["store_id", "file_id"])


def downgrade() -> None:
    for table in ("jobs", "file_batches", "vector_store_files", "vector_stores", "files"):
        op.drop_table(table)
