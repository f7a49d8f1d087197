"""Listing indexes: equality columns first, then each sort order with the id tie-break;
and (image_id, deleted) on the child tables.

A listing filters ``deleted`` and ``os_hidden`` by equality and orders by a sort
key then ``id``; with these the database walks one index in order and stops
after a page, instead of sorting every row.

Revision ID: 0002_listing_indexes
Revises: 0001_baseline
"""

from __future__ import annotations

from alembic import op

revision = "0002_listing_indexes"
down_revision = "0001_baseline"

LISTING_INDEXES = {
    "ix_images_list_created_at": ["deleted", "os_hidden", "created_at", "id"],
    "ix_images_list_updated_at": ["deleted", "os_hidden", "updated_at", "created_at", "id"],
    "ix_images_list_name": ["deleted", "os_hidden", "name", "created_at", "id"],
    "ix_images_list_size": ["deleted", "os_hidden", "size", "created_at", "id"],
}


CHILD_TABLES = ("image_properties", "image_tags", "image_locations")
"""Their single-column ``deleted`` indexes would otherwise tempt planners without
statistics (SQLite) into scanning every row of a table to find one image's."""


def upgrade() -> None:
    for name, columns in LISTING_INDEXES.items():
        op.create_index(name, "images", columns)
    op.create_index(
        "ix_image_members_image_id_member_deleted", "image_members",
        ["image_id", "member", "deleted"],
    )  # fmt: skip
    for table in CHILD_TABLES:
        op.create_index(f"ix_{table}_image_id_deleted", table, ["image_id", "deleted"])


def downgrade() -> None:
    for table in CHILD_TABLES:
        op.drop_index(f"ix_{table}_image_id_deleted", table)
    op.drop_index("ix_image_members_image_id_member_deleted", "image_members")
    for name in LISTING_INDEXES:
        op.drop_index(name, "images")
