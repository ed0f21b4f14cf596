"""tool_calls: every tool an agent called during a call (name, arguments,
status, latency), shown with the call.

Revision ID: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tool_calls",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "call_id",
            sa.String(36),
            sa.ForeignKey("calls.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at_s", sa.Float, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("arguments", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("detail", sa.String(256), nullable=False, server_default=""),
    )
    op.create_index("tool_calls_call", "tool_calls", ["call_id", "id"])


def downgrade() -> None:
    op.drop_index("tool_calls_call", "tool_calls")
    op.drop_table("tool_calls")
