"""Who may see and do what to an image: visibility first, then policy.

Upstream splits this between its database layer (which images a project can
see at all) and oslo.policy (which actions it may take). Both live here so
every service asks the same way: an image the caller may not see is "not
found" (404); an action it may not take on an image it sees is 403.
"""

from __future__ import annotations

from spyglass.context import RequestContext
from spyglass.domain.image import Image, Visibility
from spyglass.domain.policy import Policy, image_target
from spyglass.errors import Forbidden, ImageNotFound
from spyglass.services.ports import MemberRepository


class Access:
    def __init__(self, policy: Policy, members: MemberRepository) -> None:
        self.policy = policy
        self.members = members

    async def visible(self, ctx: RequestContext, image: Image) -> bool:
        """Upstream's database rule: admins, owners, public/community, and members of shared."""
        if (
            ctx.is_admin
            or image.owner is None
            or image.visibility in (Visibility.PUBLIC, Visibility.COMMUNITY)
            or (ctx.project_id is not None and image.owner == ctx.project_id)
        ):
            return True
        if image.visibility is not Visibility.SHARED or ctx.project_id is None:
            return False
        return await self.members.find(image.id, ctx.project_id) is not None

    async def check_visible(self, ctx: RequestContext, image: Image) -> None:
        if not await self.visible(ctx, image) or not self.allowed(ctx, image, "get_image"):
            raise ImageNotFound(f"No image found with ID {image.id}")

    def allowed(self, ctx: RequestContext, image: Image, action: str) -> bool:
        return self.policy.allowed(action, ctx, image_target(image, ctx))

    def authorize(self, ctx: RequestContext, image: Image, action: str, message: str = "") -> None:
        """403 for a refused action on a visible image (visibility was checked on load)."""
        if not self.allowed(ctx, image, action):
            raise Forbidden(message or f"You are not authorized to complete {action} action.")

    def check_visibility(self, ctx: RequestContext, image: Image, visibility: Visibility) -> None:
        """Making an image public or community has a policy of its own."""
        rule = {Visibility.PUBLIC: "publicize_image", Visibility.COMMUNITY: "communitize_image"}
        action = rule.get(visibility)
        if action is not None and not self.allowed(ctx, image, action):
            raise Forbidden(f"You are not authorized to set image visibility to {visibility}.")
