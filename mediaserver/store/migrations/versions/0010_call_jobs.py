"""POST /calls runs as a one-lead campaign: campaigns.kind ("campaign", or
"call" for those, hidden from GET /campaigns unless asked); a lead's phone
may be the SIP URI such a call names (up to 320 characters); and
campaign_attempts.amd keeps answering-machine detection's decision.

Revision ID: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(16), nullable=False, server_default="campaign")
        )
    with op.batch_alter_table("campaign_leads") as batch:
        batch.alter_column(
            "phone", existing_type=sa.String(32), type_=sa.String(320), existing_nullable=False
        )
    with op.batch_alter_table("campaign_attempts") as batch:
        batch.add_column(sa.Column("amd", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("campaign_attempts") as batch:
        batch.drop_column("amd")
    with op.batch_alter_table("campaign_leads") as batch:
        batch.alter_column(
            "phone", existing_type=sa.String(320), type_=sa.String(32), existing_nullable=False
        )
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("kind")
