"""Notifications remember the request that caused them (the message's ``_context_request_id``).

Revision ID: 0009_notification_request_ids
Revises: 0008_transfer_leases
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_notification_request_ids"
down_revision = "0008_transfer_leases"

TABLE = "spyglass_notifications"


def upgrade() -> None:
    # nullable: rows written before the upgrade, and events of no request, have none
    op.add_column(TABLE, sa.Column("request_id", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column("request_id")
