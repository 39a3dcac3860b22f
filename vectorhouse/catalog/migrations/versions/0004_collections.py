"""A vector store may be a named collection of the /v1/api collection API: names unique per project."""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vector_stores") as batch:
        batch.add_column(sa.Column("collection", sa.String(256), nullable=True))
    # NULLs are distinct in both SQLite and PostgreSQL, so only collections are held to one name.
    op.create_index("ux_vector_stores_collection", "vector_stores", ["project_id", "collection"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_vector_stores_collection", "vector_stores")
    with op.batch_alter_table("vector_stores") as batch:
        batch.drop_column("collection")
