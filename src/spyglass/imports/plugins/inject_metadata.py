"""``inject_image_metadata``: operator-chosen properties added to every imported image,
unless the importing user has one of ``ignore_user_roles`` (upstream's plugin)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, cast

from spyglass.config import Settings
from spyglass.imports.plugins.base import ImportPlugin, PluginJob

_SECTION = "inject_metadata_properties"


class InjectMetadata:
    name: ClassVar[str] = "inject_image_metadata"
    changes_data: ClassVar[bool] = False

    def __init__(self, properties: Mapping[str, str], ignore_roles: frozenset[str]) -> None:
        self.properties = dict(properties)
        self.ignore_roles = ignore_roles

    @classmethod
    def from_settings(cls, settings: Settings) -> ImportPlugin:
        inject = cast("Mapping[str, str] | None", settings.option(_SECTION, "inject")) or {}
        roles = cast("tuple[str, ...]", settings.option(_SECTION, "ignore_user_roles"))
        return cls(inject, frozenset(r.lower() for r in roles))

    async def run(self, job: PluginJob) -> None:
        if {r.lower() for r in job.roles} & self.ignore_roles:
            return
        job.image.properties.update(self.properties)
