"""Stored responses of the Responses API (`store: true`), each readable back by its project."""

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


def downgrade() -> None:
    op.drop_table("responses")
