"""calls.amd, amd_decision_s, amd_beep: what answering-machine detection made
of an outbound call's answer (human | machine | unknown), how many seconds
after the answer it decided, and whether it heard a beep.

Revision ID: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("amd", sa.String(16)))
        batch.add_column(sa.Column("amd_decision_s", sa.Float))
        batch.add_column(sa.Column("amd_beep", sa.Boolean))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("amd_beep")
        batch.drop_column("amd_decision_s")
        batch.drop_column("amd")
