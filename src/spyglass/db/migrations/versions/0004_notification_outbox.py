"""The notification outbox: events written with the changes they describe.

Revision ID: 0004_notification_outbox
Revises: 0003_upload_reservations
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_notification_outbox"
down_revision = "0003_upload_reservations"

TABLE = "spyglass_notifications"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(36), nullable=False, unique=True),
        sa.Column("event_type", sa.String(255), nullable=False),
        sa.Column("priority", sa.String(10), nullable=False),
        sa.Column("publisher_id", sa.String(255), nullable=False),
        sa.Column("ordering_key", sa.String(255), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("timestamp", sa.DateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("available_at", sa.DateTime, nullable=False),
        sa.Column("claimed_by", sa.String(64)),
        sa.Column("claimed_until", sa.DateTime),
        sa.Column("last_error", sa.Text),
    )
    op.create_index(f"ix_{TABLE}_ordering_key", TABLE, ["ordering_key", "id"])
    op.create_index(f"ix_{TABLE}_available_at", TABLE, ["available_at"])


def downgrade() -> None:
    op.drop_index(f"ix_{TABLE}_available_at", TABLE)
    op.drop_index(f"ix_{TABLE}_ordering_key", TABLE)
    op.drop_table(TABLE)
