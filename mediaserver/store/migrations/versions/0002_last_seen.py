"""calls.last_seen_at: the last moment a live call was known alive (a turn,
an event, or the writer's heartbeat), so a call a killed server left open is
ended then, not at the next start.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("last_seen_at")
