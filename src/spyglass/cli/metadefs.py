"""``spyglass db load-metadefs``, ``export-metadefs`` and ``unload-metadefs``.

Upstream's ``glance-manage db load_metadefs`` and friends: they read and write
the definition files operators keep in ``/etc/glance/metadefs`` (one namespace
per ``*.json`` file), straight into the database, without the API's checks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from spyglass.cli.options import ConfigDir, ConfigFiles, DataDir
from spyglass.config import load_settings
from spyglass.domain.metadefs import NamespaceContents, from_file, to_file
from spyglass.errors import ConfigError
from spyglass.services.metadef_ports import LoadOptions, MetadefRepository

T = TypeVar("T")
log = logging.getLogger("spyglass.metadefs")

DEFAULT_PATH = Path("/etc/glance/metadefs")


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"spyglass: error: {message}", err=True)
    return typer.Exit(code)


def _run(
    config_file: list[Path] | None,
    config_dir: Path | None,
    data_dir: Path,
    work: Callable[[MetadefRepository], Awaitable[T]],
) -> T:
    """Run ``work`` on the configured database (an embedded SQLite one is brought up to date)."""
    from spyglass.api.app import database_url
    from spyglass.db.engine import create_database
    from spyglass.db.metadefs import SqlMetadefRepository
    from spyglass.db.migrate import sync_schema

    try:
        url = database_url(load_settings(config_file or (), config_dir, {}), data_dir)
    except ConfigError as exc:
        raise _fail(exc.message) from None

    async def run() -> T:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        database = create_database(url)
        try:
            if database.dialect == "sqlite":
                await sync_schema(database)
            return await work(SqlMetadefRepository(database))
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    except OSError as exc:
        raise _fail(f"cannot reach the database: {exc}", 1) from None


def read_files(path: Path) -> list[tuple[Path, NamespaceContents]]:
    """A file, or a directory's top-level ``*.json`` files; unreadable ones are reported."""
    files = [path] if path.is_file() else sorted(path.glob("*.json"))
    found = []
    for file in files:
        try:
            found.append((file, from_file(json.loads(file.read_text(encoding="utf-8")))))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            typer.echo(f"skipped {file.name}: {exc}", err=True)
    return found


def export_name(contents: NamespaceContents) -> str:
    """Upstream's file name: the display name's letters and digits, then ``.json``."""
    label = contents.namespace.display_name or contents.namespace.namespace
    return re.sub(r"[^A-Za-z0-9]", "", label) + ".json"


def register(db_app: typer.Typer) -> None:
    """Add the three commands to ``spyglass db``."""

    @db_app.command("load-metadefs")
    def load_metadefs(
        path: Annotated[
            Path, typer.Argument(help="A definition file or a directory of *.json files.")
        ] = DEFAULT_PATH,
        merge: Annotated[
            bool, typer.Option("--merge", help="Add to namespaces that exist already.")
        ] = False,
        prefer_new: Annotated[
            bool, typer.Option("--prefer-new", help="With --merge: the files' values win.")
        ] = False,
        overwrite: Annotated[
            bool,
            typer.Option("--overwrite", help="With --merge: replace existing namespaces whole."),
        ] = False,
        config_file: ConfigFiles = None,
        config_dir: ConfigDir = None,
        data_dir: DataDir = Path("data"),
    ) -> None:
        """Load upstream-format metadata definition files into the catalog."""
        if (prefer_new or overwrite) and not merge:
            raise _fail("--prefer-new and --overwrite need --merge")
        if prefer_new and overwrite:
            raise _fail("--prefer-new and --overwrite cannot be used together")
        if not path.exists():
            raise _fail(f"{path} does not exist")
        documents = read_files(path)
        options = LoadOptions(merge=merge, prefer_new=prefer_new, overwrite=overwrite)

        async def work(repo: MetadefRepository) -> list[str]:
            return [
                f"{contents.namespace.namespace}: {await repo.load(contents, options)}"
                for _, contents in documents
            ]

        for line in _run(config_file, config_dir, data_dir, work):
            typer.echo(line)
        typer.echo(f"loaded {len(documents)} definition file(s) from {path}")

    @db_app.command("export-metadefs")
    def export_metadefs(
        path: Annotated[Path, typer.Argument(help="The directory to write the files to.")],
        config_file: ConfigFiles = None,
        config_dir: ConfigDir = None,
        data_dir: DataDir = Path("data"),
    ) -> None:
        """Write every namespace to PATH as upstream-format definition files (overwriting)."""
        found = _run(config_file, config_dir, data_dir, lambda repo: repo.export())
        path.mkdir(parents=True, exist_ok=True)
        for contents in found:
            target = path / export_name(contents)
            target.write_text(json.dumps(to_file(contents), indent=4, ensure_ascii=False) + "\n")
        typer.echo(f"exported {len(found)} namespace(s) to {path}")

    @db_app.command("unload-metadefs")
    def unload_metadefs(
        config_file: ConfigFiles = None,
        config_dir: ConfigDir = None,
        data_dir: DataDir = Path("data"),
    ) -> None:
        """Delete every metadata definition and resource type."""
        _run(config_file, config_dir, data_dir, lambda repo: repo.unload())
        typer.echo("metadata definitions unloaded")
