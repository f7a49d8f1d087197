"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from spyglass.db.engine import create_database
from spyglass.db.migrate import VERSION_TABLE, sync_schema
from spyglass.db.models import Base


async def test_models_and_migrations_agree(tmp_path: Path) -> None:
    database = create_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    differences: list[object] = []

    def compare(connection: Connection) -> None:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        differences.extend(compare_metadata(context, Base.metadata))

    try:
        await sync_schema(database)
        await database.run_on_connection(compare)
    finally:
        await database.dispose()
    assert differences == []
