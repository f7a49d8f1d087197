"""Transfer leases: which live server is writing an image's data right now.

Revision ID: 0008_transfer_leases
Revises: 0007_tasks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_transfer_leases"
down_revision = "0007_tasks"

TABLE = "spyglass_transfer_leases"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("image_id", sa.String(36), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table(TABLE)
