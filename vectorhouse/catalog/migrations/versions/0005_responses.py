"""Stored responses of the Responses API (`store: true`), readable back by their project; chunk provenance."""

import sqlalchemy as sa
from alembic import op

from vectorhouse.catalog.tables import JSONType

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "responses",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(80), nullable=False, unique=True),
        sa.Column("project_id", sa.String(80), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("body", JSONType, nullable=False),
    )
    op.create_index("ix_responses_project", "responses", ["project_id"])
    with op.batch_alter_table("vector_store_files") as batch:
        batch.add_column(sa.Column("provenance", JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vector_store_files") as batch:
        batch.drop_column("provenance")
    op.drop_table("responses")
