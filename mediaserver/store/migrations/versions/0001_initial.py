"""The first schema: settings, agents and their versions, calls, turns,
call events, API keys.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "agents",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
    )
    op.create_table(
        "agent_versions",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
    )
    op.create_table(
        "calls",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("transport", sa.String(16), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("from_uri", sa.String(256), nullable=False),
        sa.Column("to_uri", sa.String(256), nullable=False),
        sa.Column("trunk", sa.String(64), nullable=False),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("agent_version", sa.Integer, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("answered_at", WHEN),
        sa.Column("ended_at", WHEN),
        sa.Column("end_reason", sa.String(32)),
        sa.Column("sip_code", sa.Integer),
        sa.Column("transfer_target", sa.String(256)),
        sa.Column("transfer_outcome", sa.String(16)),
        sa.Column("recording_path", sa.String(512)),
    )
    op.create_index("calls_created_at", "calls", ["created_at"])
    op.create_index("calls_agent", "calls", ["agent"])
    for name, columns in (
        (
            "turns",
            [
                sa.Column("speaker", sa.String(8), nullable=False),
                sa.Column("text", sa.Text, nullable=False),
                sa.Column("start_s", sa.Float),
                sa.Column("end_s", sa.Float),
                sa.Column("interrupted", sa.Boolean, nullable=False),
                sa.Column("timings_ms", sa.JSON),
            ],
        ),
        (
            "call_events",
            [
                sa.Column("at_s", sa.Float, nullable=False),
                sa.Column("kind", sa.String(16), nullable=False),
                sa.Column("value", sa.String(256), nullable=False),
            ],
        ),
    ):
        op.create_table(
            name,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column(
                "call_id",
                sa.String(36),
                sa.ForeignKey("calls.id", ondelete="CASCADE"),
                nullable=False,
            ),
            *columns,
        )
        op.create_index(f"{name}_call", name, ["call_id", "id"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("revoked_at", WHEN),
    )


def downgrade() -> None:
    for name in ("api_keys", "call_events", "turns", "calls", "agent_versions", "agents"):
        op.drop_table(name)
    op.drop_table("settings")
