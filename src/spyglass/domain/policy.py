"""Default authorization rules, as plain functions of the caller and the image.

Hiding comes first: a caller who may not see an image is told it does not
exist (404) by the services; these rules answer 403 for images the caller can
see but may not change.
"""

from __future__ import annotations

from spyglass.context import RequestContext
from spyglass.domain.image import Image, Visibility
from spyglass.errors import Forbidden


def can_modify(ctx: RequestContext, image: Image) -> bool:
    """Admins, and the owning project (an image without owner is admin-only)."""
    return ctx.is_admin or (image.owner is not None and image.owner == ctx.project_id)


def check_can_modify(ctx: RequestContext, image: Image) -> None:
    if not can_modify(ctx, image):
        raise Forbidden("You are not permitted to modify this image.")


def check_visibility_change(ctx: RequestContext, visibility: Visibility) -> None:
    """Publishing to everyone is an admin's decision (``publicize_image``)."""
    if visibility is Visibility.PUBLIC and not ctx.is_admin:
        raise Forbidden("You are not authorized to set image visibility to public.")
