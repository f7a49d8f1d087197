"""Taking over a database made by upstream Glance, in place, and handing it back.

Spyglass's tables carry upstream's names, columns and indexes (``db/models.py``),
so an upstream database *is* Spyglass's baseline schema (``0001_baseline``) plus
tables Spyglass leaves alone (``tasks``, ``task_info``) and tables later
Spyglass migrations recognise and keep (``node_reference``, ``cached_images``,
``metadef_*``). Adopting one therefore changes no row and no column:

1. Spyglass keeps its revision in its own table, ``spyglass_alembic_version``;
   upstream's ``alembic_version`` stays as upstream wrote it. Its presence is
   how the migrations know the database was adopted (they then never drop
   upstream's tables).
2. The two baseline indexes upstream's schema lacks are created.
3. The database is stamped ``0001_baseline`` (the *adoption point*) and the
   usual upgrade runs from there: Spyglass's indexes and ``spyglass_*`` tables.

The way back (``spyglass db downgrade glance``) undoes 3, 2 and 1: downgrade to
the adoption point, drop the two indexes and Spyglass's version table. What is
left is exactly the schema upstream's ``glance-manage db_sync`` made, with the
rows Spyglass wrote in it.
"""

from __future__ import annotations

from sqlalchemy import Connection, Table, inspect, text

from spyglass.db.models import Base

UPSTREAM_VERSION_TABLE = "alembic_version"
ADOPTION_POINT = "0001_baseline"

_ADDED_INDEXES: dict[str, Table] = {
    "ix_image_tags_value": Base.metadata.tables["image_tags"],
    "ix_image_properties_name_value": Base.metadata.tables["image_properties"],
}
"""Indexes of Spyglass's baseline that upstream's schema (glance 33) does not have."""

REQUIRED_COLUMNS = {
    "images": {
        "id", "name", "size", "virtual_size", "status", "visibility", "checksum",
        "os_hash_algo", "os_hash_value", "min_disk", "min_ram", "owner", "protected",
        "os_hidden", "disk_format", "container_format", "created_at", "updated_at",
        "deleted_at", "deleted",
    },
    "image_properties": {"id", "image_id", "name", "value", "deleted"},
    "image_tags": {"id", "image_id", "value", "deleted"},
    "image_locations": {"id", "image_id", "value", "meta_data", "status", "deleted"},
    "image_members": {"id", "image_id", "member", "can_share", "status", "deleted"},
}  # fmt: skip
"""What Spyglass reads and writes; upstream has all of it since Rocky (17.0.0)."""


def upstream_revision(connection: Connection, spyglass_revisions: set[str]) -> str | None:
    """Upstream Glance's alembic revision, when ``alembic_version`` holds one."""
    if not inspect(connection).has_table(UPSTREAM_VERSION_TABLE):
        return None
    rows = connection.execute(text(f"SELECT version_num FROM {UPSTREAM_VERSION_TABLE}"))
    versions = [row[0] for row in rows]
    upstream = [version for version in versions if version not in spyglass_revisions]
    return upstream[0] if upstream else None


def adopted_from(connection: Connection) -> str | None:
    """For migrations: upstream's revision if this database came from upstream Glance."""
    if not inspect(connection).has_table(UPSTREAM_VERSION_TABLE):
        return None
    row = connection.execute(text(f"SELECT version_num FROM {UPSTREAM_VERSION_TABLE}")).first()
    if row is None or str(row[0]).startswith("00"):
        return None
    return str(row[0])


def missing_columns(connection: Connection) -> list[str]:
    """``table.column`` names Spyglass needs that the database lacks."""
    inspector = inspect(connection)
    missing = []
    for table, columns in REQUIRED_COLUMNS.items():
        if not inspector.has_table(table):
            missing.append(f"{table} (table)")
            continue
        present = {column["name"] for column in inspector.get_columns(table)}
        missing.extend(f"{table}.{name}" for name in sorted(columns - present))
    return missing


def add_indexes(connection: Connection) -> None:
    """Step 2: the baseline's indexes upstream lacks (skipping any already there)."""
    inspector = inspect(connection)
    for name, table in _ADDED_INDEXES.items():
        existing = {index["name"] for index in inspector.get_indexes(table.name)}
        if name not in existing:
            next(index for index in table.indexes if index.name == name).create(connection)


def drop_indexes(connection: Connection) -> None:
    """The way back: remove what :func:`add_indexes` made."""
    inspector = inspect(connection)
    for name, table in _ADDED_INDEXES.items():
        existing = {index["name"] for index in inspector.get_indexes(table.name)}
        if name in existing:
            next(index for index in table.indexes if index.name == name).drop(connection)
