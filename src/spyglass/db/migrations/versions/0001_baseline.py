"""Baseline: Glance's image tables, with today's columns and index names.

Revision ID: 0001_baseline
Revises:

This is also the adoption point of a database made by upstream Glance (``db.adoption``):
such a database is stamped here, and never goes below it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None


def _soft_delete_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime()),
        sa.Column("deleted_at", sa.DateTime()),
        sa.Column("deleted", sa.Boolean(), nullable=False),
    ]


def _child(name: str, *columns: sa.Column[object] | sa.UniqueConstraint) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("image_id", sa.String(36), sa.ForeignKey("images.id"), nullable=False),
        *columns,
        *_soft_delete_columns(),
    )


def upgrade() -> None:
    op.create_table(
        "images",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255)),
        sa.Column("disk_format", sa.String(20)),
        sa.Column("container_format", sa.String(20)),
        sa.Column("size", sa.BigInteger()),
        sa.Column("virtual_size", sa.BigInteger()),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column(
            "visibility",
            sa.Enum("private", "public", "shared", "community", name="image_visibility"),
            nullable=False,
            server_default="shared",
        ),
        sa.Column("checksum", sa.String(32)),
        sa.Column("os_hash_algo", sa.String(64)),
        sa.Column("os_hash_value", sa.String(128)),
        sa.Column("min_disk", sa.Integer(), nullable=False),
        sa.Column("min_ram", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(255)),
        sa.Column("protected", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("os_hidden", sa.Boolean(), nullable=False, server_default="0"),
        *_soft_delete_columns(),
    )
    for index, column in (
        ("checksum_image_idx", "checksum"),
        ("visibility_image_idx", "visibility"),
        ("ix_images_deleted", "deleted"),
        ("owner_image_idx", "owner"),
        ("created_at_image_idx", "created_at"),
        ("updated_at_image_idx", "updated_at"),
        ("os_hidden_image_idx", "os_hidden"),
        ("os_hash_value_image_idx", "os_hash_value"),
    ):
        op.create_index(index, "images", [column])

    _child(
        "image_properties",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("value", sa.Text()),
        sa.UniqueConstraint("image_id", "name", name="ix_image_properties_image_id_name"),
    )
    op.create_index("ix_image_properties_image_id", "image_properties", ["image_id"])
    op.create_index("ix_image_properties_deleted", "image_properties", ["deleted"])
    op.create_index(
        "ix_image_properties_name_value",
        "image_properties",
        ["name", "value"],
        mysql_length={"value": 255},
    )

    _child("image_tags", sa.Column("value", sa.String(255), nullable=False))
    op.create_index("ix_image_tags_image_id", "image_tags", ["image_id"])
    op.create_index("ix_image_tags_image_id_tag_value", "image_tags", ["image_id", "value"])
    op.create_index("ix_image_tags_value", "image_tags", ["value"])

    _child(
        "image_locations",
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("meta_data", sa.Text()),
        sa.Column("status", sa.String(30), nullable=False, server_default="active"),
    )
    op.create_index("ix_image_locations_image_id", "image_locations", ["image_id"])
    op.create_index("ix_image_locations_deleted", "image_locations", ["deleted"])

    _child(
        "image_members",
        sa.Column("member", sa.String(255), nullable=False),
        sa.Column("can_share", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.UniqueConstraint(
            "image_id", "member", "deleted_at", name="image_members_image_id_member_deleted_at_key"
        ),
    )
    op.create_index("ix_image_members_deleted", "image_members", ["deleted"])
    op.create_index("ix_image_members_image_id", "image_members", ["image_id"])
    op.create_index("ix_image_members_image_id_member", "image_members", ["image_id", "member"])


def downgrade() -> None:
    for table in ("image_members", "image_locations", "image_tags", "image_properties", "images"):
        op.drop_table(table)
    sa.Enum(name="image_visibility").drop(op.get_bind(), checkfirst=True)
