"""Bring a database's schema up to date (``spyglass db sync``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from spyglass.db.engine import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def sync_schema(database: Database) -> None:
    """Run every pending migration; a no-op on an up-to-date database."""
    await database.run_on_connection(_upgrade)
