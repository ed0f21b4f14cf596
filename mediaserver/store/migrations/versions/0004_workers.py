"""calls.worker: the cluster's media worker that holds a call ("" in one
process), so a dead worker's calls alone are closed as unclean.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("worker", sa.String(32), nullable=False, server_default=""))
    op.create_index("calls_worker_open", "calls", ["worker", "ended_at"])


def downgrade() -> None:
    op.drop_index("calls_worker_open", "calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("worker")
