"""Alembic environment: runs on the connection that ``db.migrate`` hands over."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection, Table, event, text

from spyglass.db.models import Base

connection = context.config.attributes["connection"]


def _images_collation(bind: Connection) -> str | None:
    row = bind.execute(
        text(
            "SELECT TABLE_COLLATION FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'images'"
        )
    ).first()
    return str(row[0]) if row and row[0] else None


def _same_charset_as_images(table: Table, bind: Connection, **_: Any) -> None:
    """MySQL: new tables take the ``images`` table's character set and collation.

    A foreign key needs both columns in one character set; a database made by upstream
    Glance has utf8 (utf8mb3) tables while the server's default may be utf8mb4.
    """
    if bind.dialect.name != "mysql" or table.name == "images":
        return
    collation = _images_collation(bind)
    if collation is not None:
        options = table.dialect_options["mysql"]
        options["charset"] = collation.split("_", 1)[0]
        options["collate"] = collation


context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    version_table=context.config.attributes.get("version_table", "spyglass_alembic_version"),
)
event.listen(Table, "before_create", _same_charset_as_images)
try:
    with context.begin_transaction():
        context.run_migrations()
finally:
    event.remove(Table, "before_create", _same_charset_as_images)
