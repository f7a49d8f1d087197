"""What an import plugin is, and how the configured ones are found.

A plugin gets the staged file and a private copy of the image. It may
rewrite the file (atomically: write beside it, then rename over it) and
change the image's metadata; the import saves both only if every later step
succeeds. Plugins run in the order configured, on every method but
``copy-image`` (whose data is already an image's), as upstream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import ClassVar, Protocol

from spyglass.config import Settings
from spyglass.domain.image import Image
from spyglass.errors import ConfigError, SpyglassError

ENTRY_POINT_GROUP = "spyglass.import_plugins"


class ImportFailed(SpyglassError):
    """An import step could not finish; the task fails with this message."""

    code = "import_failed"
    http_status = 400


@dataclass(slots=True)
class PluginJob:
    image: Image
    """The image being imported: a copy the plugin may change."""
    path: Path
    """The staged data."""
    roles: frozenset[str]
    """Roles of the user who asked for the import."""
    size_cap: int
    """The most bytes any file the plugin writes may hold (``image_size_cap``)."""


class ImportPlugin(Protocol):
    name: ClassVar[str]
    changes_data: ClassVar[bool]
    """Whether the staged bytes may be replaced (then staging does not judge their
    format: the import does, after the plugins ran)."""

    async def run(self, job: PluginJob) -> None: ...


class PluginFactory(Protocol):
    name: ClassVar[str]

    @classmethod
    def from_settings(cls, settings: Settings) -> ImportPlugin: ...


def load_plugins(settings: Settings) -> list[ImportPlugin]:
    """The plugins ``image_import_plugins`` names, in its order; an unknown name stops
    the server at start (upstream would fail every import instead)."""
    names: Sequence[str] = tuple(
        str(n)
        for n in settings.option("image_import_opts", "image_import_plugins")  # type: ignore[attr-defined]
    )
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    plugins: list[ImportPlugin] = []
    for name in names:
        if name not in found:
            known = ", ".join(sorted(found)) or "none"
            raise ConfigError(
                f"[image_import_opts] image_import_plugins: unknown plugin {name!r} "
                f"(installed: {known})"
            )
        factory: PluginFactory = found[name].load()
        plugins.append(factory.from_settings(settings))
    return plugins
