"""The metadata definitions catalog: upstream's six ``metadef_*`` tables.

Revision ID: 0006_metadefs
Revises: 0005_image_cache

A database adopted from Glance already has them, with its definitions; they are kept.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from spyglass.db.adoption import adopted_from

revision = "0006_metadefs"
down_revision = "0005_image_cache"


def _times() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime),
    ]


def _child(table: str, *columns: sa.Column[object]) -> None:
    op.create_table(
        table,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "namespace_id", sa.Integer, sa.ForeignKey("metadef_namespaces.id"), nullable=False
        ),
        sa.Column("name", sa.String(80), nullable=False),
        *columns,
        *_times(),
        sa.UniqueConstraint("namespace_id", "name", name=f"uq_{table}_namespace_id_name"),
    )
    op.create_index(f"ix_{table}_name", table, ["name"])


def upgrade() -> None:
    if "metadef_namespaces" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "metadef_namespaces",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("namespace", sa.String(80), nullable=False),
        sa.Column("display_name", sa.String(80)),
        sa.Column("description", sa.Text),
        sa.Column("visibility", sa.String(32)),
        sa.Column("protected", sa.Boolean),
        sa.Column("owner", sa.String(255), nullable=False),
        *_times(),
        sa.UniqueConstraint("namespace", name="uq_metadef_namespaces_namespace"),
    )
    op.create_index("ix_metadef_namespaces_owner", "metadef_namespaces", ["owner"])
    _child(
        "metadef_objects",
        sa.Column("description", sa.Text),
        sa.Column("required", sa.Text),
        sa.Column("json_schema", sa.Text, nullable=False),
    )
    _child("metadef_properties", sa.Column("json_schema", sa.Text, nullable=False))
    _child("metadef_tags")
    op.create_table(
        "metadef_resource_types",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("protected", sa.Boolean, nullable=False),
        *_times(),
        sa.UniqueConstraint("name", name="uq_metadef_resource_types_name"),
    )
    op.create_table(
        "metadef_namespace_resource_types",
        sa.Column(
            "resource_type_id",
            sa.Integer,
            sa.ForeignKey("metadef_resource_types.id"),
            primary_key=True,
        ),
        sa.Column(
            "namespace_id", sa.Integer, sa.ForeignKey("metadef_namespaces.id"), primary_key=True
        ),
        sa.Column("properties_target", sa.String(80)),
        sa.Column("prefix", sa.String(80)),
        *_times(),
    )
    op.create_index(
        "ix_metadef_ns_res_types_namespace_id", "metadef_namespace_resource_types", ["namespace_id"]
    )


def downgrade() -> None:
    if adopted_from(op.get_bind()):
        return  # upstream Glance's tables and definitions, kept for it
    for table in (
        "metadef_namespace_resource_types",
        "metadef_resource_types",
        "metadef_tags",
        "metadef_properties",
        "metadef_objects",
        "metadef_namespaces",
    ):
        op.drop_table(table)
