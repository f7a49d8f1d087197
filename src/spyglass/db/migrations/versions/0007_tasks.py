"""Tasks: upstream's ``tasks`` and ``task_info``, and Spyglass's queue of tasks to run.

Revision ID: 0007_tasks
Revises: 0006_metadefs

A database adopted from Glance already has ``tasks`` and ``task_info``; they are kept.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from spyglass.db.adoption import adopted_from

revision = "0007_tasks"
down_revision = "0006_metadefs"

QUEUE = "spyglass_task_queue"


def upgrade() -> None:
    if "tasks" not in sa.inspect(op.get_bind()).get_table_names():  # adopted from Glance
        _upstream_tables()
    op.create_table(
        QUEUE,
        sa.Column("task_id", sa.String(36), sa.ForeignKey("tasks.id"), primary_key=True),
        sa.Column("available_at", sa.DateTime, nullable=False),
        sa.Column("claimed_by", sa.String(64)),
        sa.Column("claimed_until", sa.DateTime),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("node", sa.String(255)),
    )
    op.create_index(f"ix_{QUEUE}_available_at", QUEUE, ["available_at"])


def _upstream_tables() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("type", sa.String(30), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("owner", sa.String(255)),
        sa.Column("expires_at", sa.DateTime),
        sa.Column("image_id", sa.String(36)),
        sa.Column("request_id", sa.String(64)),
        sa.Column("user_id", sa.String(64)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime),
        sa.Column("deleted_at", sa.DateTime),
        sa.Column("deleted", sa.Boolean, nullable=False),
    )
    for column in ("type", "status", "owner", "deleted", "updated_at", "image_id"):
        op.create_index(f"ix_tasks_{column}", "tasks", [column])
    op.create_table(
        "task_info",
        sa.Column("task_id", sa.String(36), sa.ForeignKey("tasks.id"), primary_key=True),
        sa.Column("input", sa.Text),
        sa.Column("result", sa.Text),
        sa.Column("message", sa.Text),
    )


def downgrade() -> None:
    op.drop_index(f"ix_{QUEUE}_available_at", QUEUE)
    op.drop_table(QUEUE)
    if adopted_from(op.get_bind()):
        return  # upstream Glance's tables, kept for it
    op.drop_table("task_info")
    for column in ("type", "status", "owner", "deleted", "updated_at", "image_id"):
        op.drop_index(f"ix_tasks_{column}", "tasks")
    op.drop_table("tasks")
