"""Image cache tables of the ``centralized_db`` cache driver (upstream's 2024.1 schema).

Revision ID: 0005_image_cache
Revises: 0004_notification_outbox

A database adopted from a Glance that already has them keeps its own tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from spyglass.db.adoption import adopted_from

revision = "0005_image_cache"
down_revision = "0004_notification_outbox"

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "node_reference" not in existing:
        op.create_table(
            "node_reference",
            sa.Column("node_reference_id", _ID, primary_key=True, autoincrement=True),
            sa.Column("node_reference_url", sa.String(255), nullable=False),
            sa.UniqueConstraint("node_reference_url", name="uq_node_reference_node_reference_url"),
        )
    if "cached_images" not in existing:
        op.create_table(
            "cached_images",
            sa.Column("id", _ID, primary_key=True, autoincrement=True),
            sa.Column("image_id", sa.String(36), nullable=False),
            sa.Column("last_accessed", sa.DateTime, nullable=False),
            sa.Column("last_modified", sa.DateTime, nullable=False),
            sa.Column("size", sa.BigInteger, nullable=False),
            sa.Column("hits", sa.Integer, nullable=False),
            sa.Column("checksum", sa.String(32)),
            sa.Column(
                "node_reference_id",
                _ID,
                sa.ForeignKey("node_reference.node_reference_id"),
                nullable=False,
            ),
            sa.UniqueConstraint(
                "image_id",
                "node_reference_id",
                name="ix_cached_images_image_id_node_reference_id",
            ),
        )


def downgrade() -> None:
    if adopted_from(op.get_bind()):
        return  # upstream Glance's tables, kept for it
    op.drop_table("cached_images")
    op.drop_table("node_reference")
