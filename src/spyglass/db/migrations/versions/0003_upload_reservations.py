"""Upload reservations: bytes held against ``user_storage_quota`` while uploads stream.

Revision ID: 0003_upload_reservations
Revises: 0002_listing_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_upload_reservations"
down_revision = "0002_listing_indexes"

TABLE = "spyglass_upload_reservations"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("image_id", sa.String(36), sa.ForeignKey("images.id"), primary_key=True),
        sa.Column("owner", sa.String(255)),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index(f"ix_{TABLE}_owner", TABLE, ["owner"])


def downgrade() -> None:
    op.drop_index(f"ix_{TABLE}_owner", TABLE)
    op.drop_table(TABLE)
