"""Image members: the projects a ``shared`` image is shared with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class MemberStatus(StrEnum):
    """The member's answer; only ``accepted`` puts the image in its default listing."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(slots=True)
class ImageMember:
    image_id: str
    member_id: str
    status: MemberStatus
    created_at: datetime
    updated_at: datetime
    can_share: bool = False
    """v1's sharing flag: a member holding it may change the image's member list."""
