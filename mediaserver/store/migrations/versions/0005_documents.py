"""Knowledge base: documents per agent, their chunks with embedding vectors
(float32 blobs), and turns.chunks (the chunks an agent's answer used).

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("content_type", sa.String(16), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("chunk_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("embedder", sa.String(64), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("documents_agent", "documents", ["agent", "name"])
    op.create_table(
        "chunks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "document_id",
            sa.String(32),
            sa.ForeignKey("documents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
    )
    op.create_index("chunks_agent", "chunks", ["agent", "id"])
    op.create_index("chunks_document", "chunks", ["document_id"])
    with op.batch_alter_table("turns") as batch:
        batch.add_column(sa.Column("chunks", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("chunks")
    op.drop_index("chunks_document", "chunks")
    op.drop_index("chunks_agent", "chunks")
    op.drop_table("chunks")
    op.drop_index("documents_agent", "documents")
    op.drop_table("documents")
