"""The image entity and its value types. Pure: no I/O, no configuration."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class ImageStatus(StrEnum):
    """Upstream's nine image statuses."""

    QUEUED = "queued"
    SAVING = "saving"
    UPLOADING = "uploading"
    IMPORTING = "importing"
    ACTIVE = "active"
    KILLED = "killed"
    DEACTIVATED = "deactivated"
    PENDING_DELETE = "pending_delete"
    DELETED = "deleted"


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    SHARED = "shared"
    COMMUNITY = "community"


@dataclass(frozen=True, slots=True)
class Location:
    """Where an image's bytes live. ``url`` is internal and never rendered by default."""

    url: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Image:
    """An image's metadata as the API sees it.

    ``properties`` holds the additional (custom) string properties; base fields are
    attributes. Instances are mutated only by services on a private copy and saved
    through the repository, which compares-and-swaps on ``status``.
    """

    id: str
    created_at: datetime
    updated_at: datetime
    status: ImageStatus = ImageStatus.QUEUED
    name: str | None = None
    visibility: Visibility = Visibility.SHARED
    protected: bool = False
    os_hidden: bool = False
    owner: str | None = None
    disk_format: str | None = None
    container_format: str | None = None
    size: int | None = None
    virtual_size: int | None = None
    checksum: str | None = None
    os_hash_algo: str | None = None
    os_hash_value: str | None = None
    min_disk: int = 0
    min_ram: int = 0
    tags: set[str] = field(default_factory=set)
    properties: dict[str, str] = field(default_factory=dict)
    locations: list[Location] = field(default_factory=list)
    deleted_at: datetime | None = None

    def copy(self) -> Image:
        """A deep-enough copy for applying changes before a save."""
        return dataclasses.replace(
            self,
            tags=set(self.tags),
            properties=dict(self.properties),
            locations=list(self.locations),
        )
