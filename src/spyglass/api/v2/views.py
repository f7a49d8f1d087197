"""Images as JSON: the response shapes of the v2 API."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from spyglass.domain.image import Image, Location
from spyglass.domain.properties import is_hidden_property
from spyglass.stores.location import redact


@dataclass(frozen=True, slots=True)
class ViewOptions:
    show_direct_url: bool = False
    show_locations: bool = False
    stores_of: Callable[[Sequence[Location]], list[str]] | None = None
    """Multi-store: the backends holding data at these locations (the ``stores`` field)."""


def isotime(when: datetime | None) -> str | None:
    """Upstream's timestamp format: UTC, no fraction, ``Z``. (``isoformat`` rather than
    ``strftime``: a list page renders two per image, and strftime was a third of it.)"""
    if when is None:
        return None
    if when.tzinfo is not None:
        when = when.replace(tzinfo=None)  # as strftime wrote it: the clock is UTC already
    return when.isoformat(timespec="seconds") + "Z"


def image_view(image: Image, options: ViewOptions) -> dict[str, Any]:
    """Every base field (null when unset), then the additional properties."""
    body: dict[str, Any] = {k: v for k, v in image.properties.items() if not is_hidden_property(k)}
    body.update(
        id=image.id,
        name=image.name,
        status=image.status.value,
        visibility=image.visibility.value,
        protected=image.protected,
        os_hidden=image.os_hidden,
        checksum=image.checksum,
        os_hash_algo=image.os_hash_algo,
        os_hash_value=image.os_hash_value,
        owner=image.owner,
        size=image.size,
        virtual_size=image.virtual_size,
        container_format=image.container_format,
        disk_format=image.disk_format,
        created_at=isotime(image.created_at),
        updated_at=isotime(image.updated_at),
        tags=sorted(image.tags),
        min_ram=image.min_ram,
        min_disk=image.min_disk,
        self=f"/v2/images/{image.id}",
        file=f"/v2/images/{image.id}/file",
        schema="/v2/schemas/image",
    )
    if options.show_direct_url and image.locations:
        body["direct_url"] = redact(image.locations[0].url)
    if options.show_locations:
        body["locations"] = [location_view(loc) for loc in image.locations]
    if options.stores_of is not None:
        held = options.stores_of(image.locations)
        if held:
            body["stores"] = ",".join(held)
    return body


def location_view(location: Location) -> dict[str, Any]:
    """A location as every response shows it: credentials never included."""
    return {"url": redact(location.url), "metadata": location.metadata}
