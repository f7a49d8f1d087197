"""The image status state machine, as one transition table."""

from __future__ import annotations

from collections.abc import Mapping

from spyglass.domain.image import Image, ImageStatus
from spyglass.errors import InvalidTransition, MissingFormat

S = ImageStatus

TRANSITIONS: Mapping[ImageStatus, frozenset[ImageStatus]] = {
    S.QUEUED: frozenset({S.SAVING, S.UPLOADING, S.IMPORTING, S.ACTIVE, S.DELETED}),
    S.SAVING: frozenset({S.ACTIVE, S.KILLED, S.DELETED, S.QUEUED}),
    S.UPLOADING: frozenset({S.IMPORTING, S.QUEUED, S.DELETED}),
    S.IMPORTING: frozenset({S.ACTIVE, S.DELETED, S.QUEUED}),
    S.ACTIVE: frozenset({S.PENDING_DELETE, S.DELETED, S.DEACTIVATED}),
    S.KILLED: frozenset({S.DELETED}),
    S.PENDING_DELETE: frozenset({S.DELETED, S.ACTIVE}),
    S.DEACTIVATED: frozenset({S.ACTIVE, S.DELETED}),
    S.DELETED: frozenset(),
}

_NEEDS_FORMATS_FROM = frozenset({S.QUEUED, S.UPLOADING})
_NEEDS_FORMATS_TO = frozenset({S.SAVING, S.ACTIVE, S.IMPORTING})


def transition(image: Image, to: ImageStatus) -> Image:
    """Return a copy of ``image`` moved to ``to``, or raise if the move is not allowed.

    Leaving ``queued``/``uploading`` for a state that holds data needs both formats,
    so that no image ever becomes usable without them. Returning to ``queued``
    forgets the size, since the data is gone.
    """
    if to not in TRANSITIONS[image.status]:
        raise InvalidTransition(
            f"Image status transition from {image.status} to {to} is not allowed"
        )
    if (
        image.status in _NEEDS_FORMATS_FROM
        and to in _NEEDS_FORMATS_TO
        and (image.disk_format is None or image.container_format is None)
    ):
        raise MissingFormat(
            "Properties disk_format, container_format must be set prior to saving data."
        )
    moved = image.copy()
    moved.status = to
    if to is S.QUEUED:
        moved.size = None
        moved.virtual_size = None
    return moved
