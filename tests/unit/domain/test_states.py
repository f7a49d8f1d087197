"""The status state machine: every pair of statuses, allowed or not."""

from __future__ import annotations

from datetime import datetime

import pytest

from spyglass.domain.image import Image, ImageStatus
from spyglass.domain.states import TRANSITIONS, transition
from spyglass.errors import InvalidTransition, MissingFormat

S = ImageStatus
ALLOWED = {
    (S.QUEUED, S.SAVING), (S.QUEUED, S.UPLOADING), (S.QUEUED, S.IMPORTING),
    (S.QUEUED, S.ACTIVE), (S.QUEUED, S.DELETED),
    (S.SAVING, S.ACTIVE), (S.SAVING, S.KILLED), (S.SAVING, S.DELETED), (S.SAVING, S.QUEUED),
    (S.UPLOADING, S.IMPORTING), (S.UPLOADING, S.QUEUED), (S.UPLOADING, S.DELETED),
    (S.IMPORTING, S.ACTIVE), (S.IMPORTING, S.DELETED), (S.IMPORTING, S.QUEUED),
    (S.ACTIVE, S.PENDING_DELETE), (S.ACTIVE, S.DELETED), (S.ACTIVE, S.DEACTIVATED),
    (S.KILLED, S.DELETED),
    (S.PENDING_DELETE, S.DELETED), (S.PENDING_DELETE, S.ACTIVE),
    (S.DEACTIVATED, S.ACTIVE), (S.DEACTIVATED, S.DELETED),
}  # fmt: skip


def _image(status: ImageStatus, *, formats: bool = True) -> Image:
    now = datetime(2026, 1, 1)
    return Image(
        id="i", created_at=now, updated_at=now, status=status, size=10, virtual_size=20,
        disk_format="raw" if formats else None, container_format="bare" if formats else None,
    )  # fmt: skip


def test_table_has_every_status() -> None:
    assert set(TRANSITIONS) == set(ImageStatus)
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == ALLOWED


@pytest.mark.parametrize("source", list(ImageStatus))
@pytest.mark.parametrize("target", list(ImageStatus))
def test_transition(source: ImageStatus, target: ImageStatus) -> None:
    image = _image(source)
    if (source, target) in ALLOWED:
        moved = transition(image, target)
        assert moved.status is target
        assert image.status is source  # the original is untouched
    else:
        with pytest.raises(InvalidTransition):
            transition(image, target)


@pytest.mark.parametrize(
    ("source", "target"),
    [(S.QUEUED, S.SAVING), (S.QUEUED, S.ACTIVE), (S.QUEUED, S.IMPORTING),
     (S.UPLOADING, S.IMPORTING)],
)  # fmt: skip
def test_data_states_need_both_formats(source: ImageStatus, target: ImageStatus) -> None:
    with pytest.raises(MissingFormat):
        transition(_image(source, formats=False), target)


def test_deleting_needs_no_formats() -> None:
    assert transition(_image(S.QUEUED, formats=False), S.DELETED).status is S.DELETED


def test_back_to_queued_forgets_sizes() -> None:
    moved = transition(_image(S.SAVING), S.QUEUED)
    assert moved.size is None
    assert moved.virtual_size is None
