"""What the command line needs from the server's configuration, without the server.

``spyglass api --workers N`` prints its start-up summary and checks the database
before it starts the workers; importing ``api.app`` for that (every use case,
SQLAlchemy's ORM, httpx, jsonschema...) cost the parent seconds that each worker
then pays again. ``api.app`` re-exports these.
"""

from __future__ import annotations

from pathlib import Path

from spyglass.config import Settings
from spyglass.errors import ConfigError
from spyglass.stores.registry import StoreSet, build_store_set


def build_stores(settings: Settings, data_dir: Path) -> StoreSet:
    """The configured stores (``enabled_backends``, or the classic single-store options)."""
    return build_store_set(settings, data_dir)


def database_url(settings: Settings, data_dir: Path) -> str:
    """The configured database, or the embedded SQLite file under ``data_dir``."""
    return settings.sql_connection or f"sqlite:///{data_dir / 'spyglass.sqlite'}"


def auth_mode(settings: Settings) -> str:
    """``noauth``, ``trusted-auth`` or ``keystone``, from the paste flavor or auth_strategy.

    Upstream picks its pipeline by ``[paste_deploy] flavor`` (``keystone``,
    ``keystone+cachemanagement``...); the part before ``+`` names the identity mode.
    """
    flavor = (settings.flavor or "").split("+", 1)[0].strip()
    mode = flavor or str(settings.option("DEFAULT", "auth_strategy") or "noauth")
    if mode not in ("noauth", "trusted-auth", "keystone", "caching", "cachemanagement"):
        raise ConfigError(f"[paste_deploy] flavor: unknown identity mode {mode!r}")
    return "noauth" if mode in ("caching", "cachemanagement") else mode
