"""Each vector store names the embedding model its chunks and queries are embedded with."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for stores made before the column: they keep the server's configured default model.
    with op.batch_alter_table("vector_stores") as batch:
        batch.add_column(sa.Column("embedding_model", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vector_stores") as batch:
        batch.drop_column("embedding_model")
