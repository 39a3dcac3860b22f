"""Projects and their API keys; files and vector stores belong to a project (existing ones to `default`)."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DEFAULT_PROJECT_ID = "proj_default"


def upgrade() -> None:
    projects = op.create_table(
        "projects",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(80), nullable=False, unique=True),
        sa.Column("name", sa.String(256), nullable=False, unique=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(projects, [{"id": DEFAULT_PROJECT_ID, "name": "default", "created_at": 0}])
    op.create_table(
        "api_keys",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(80), nullable=False, unique=True),
        sa.Column("project_id", sa.String(80), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("redacted_value", sa.String(64), nullable=False),
        sa.Column("admin", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_used_at", sa.BigInteger, nullable=True),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_api_keys_project", "api_keys", ["project_id"])
    for table in ("files", "vector_stores"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("project_id", sa.String(80), nullable=False,
                                       server_default=DEFAULT_PROJECT_ID))
        op.create_index(f"ix_{table}_project", table, ["project_id"])


def downgrade() -> None:
    for table in ("files", "vector_stores"):
        op.drop_index(f"ix_{table}_project", table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("project_id")
    op.drop_index("ix_api_keys_project", "api_keys")
    op.drop_table("api_keys")
    op.drop_table("projects")
