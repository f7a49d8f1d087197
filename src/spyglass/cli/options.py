"""The options every ``spyglass`` command that reads a configuration takes.

Declared once so that ``api``, ``db``, ``scrub``, ``cache``, ``notifications``...
spell and document them the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

ConfigFiles = Annotated[
    Optional[list[Path]],  # noqa: UP045 - typer needs Optional here
    typer.Option("--config-file", help="A Glance-style INI file; repeat to layer several."),
]
ConfigDir = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--config-dir", help="A directory whose *.conf files are read after the files."),
]
DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="SPYGLASS_DATA_DIR",
        help="Where the embedded SQLite database and file store live by default.",
    ),
]
