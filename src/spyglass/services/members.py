"""Sharing: the owner adds and removes members; a member accepts or rejects.

Members exist only on ``shared`` images. A member sees its own record only;
asking about someone else's is "not found".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spyglass.context import RequestContext
from spyglass.domain.image import Image, Visibility
from spyglass.domain.members import ImageMember, MemberStatus
from spyglass.errors import BadRequest, Forbidden, NotFound
from spyglass.services.images import ImageService
from spyglass.services.ports import MemberRepository
from spyglass.timeutils import utcnow


class MemberService:
    def __init__(self, images: ImageService, repo: MemberRepository, *, quota: int) -> None:
        self.images = images
        self.repo = repo
        self.quota = quota

    async def _shared_image(self, ctx: RequestContext, image_id: str) -> Image:
        image = await self.images.get(ctx, image_id)
        if image.visibility is not Visibility.SHARED:
            raise Forbidden("Only shared images have members.")
        return image

    def _sees_all(self, ctx: RequestContext, image: Image) -> bool:
        return ctx.is_admin or (ctx.project_id is not None and ctx.project_id == image.owner)

    async def add(self, ctx: RequestContext, image_id: str, body: Any) -> ImageMember:
        member_id = body.get("member") if isinstance(body, dict) else None
        if not isinstance(member_id, str) or not member_id.strip():
            raise BadRequest('Request body must be an object with a "member" string.')
        if len(member_id) > 255:
            raise BadRequest("Member id is too long: maximum length is 255 characters.")
        image = await self._shared_image(ctx, image_id)
        self.images.access.authorize(ctx, image, "add_member")
        now = utcnow()
        member = ImageMember(image_id, member_id, MemberStatus.PENDING, now, now)
        return await self.repo.add(member, quota=self.quota, events=("image.member.create",))

    async def list(self, ctx: RequestContext, image_id: str) -> Sequence[ImageMember]:
        image = await self._shared_image(ctx, image_id)
        self.images.access.authorize(ctx, image, "get_members")
        members = await self.repo.list(image_id)
        if self._sees_all(ctx, image):
            return members
        return [m for m in members if m.member_id == ctx.project_id]

    async def _lookup(self, ctx: RequestContext, image: Image, member_id: str) -> ImageMember:
        member = await self.repo.find(image.id, member_id)
        visible = self._sees_all(ctx, image) or member_id == ctx.project_id
        if (
            member is None
            or not visible
            or not self.images.access.allowed(ctx, image, "get_member")
        ):
            raise NotFound(f"{member_id} not found in the member list of the image {image.id}.")
        return member

    async def show(self, ctx: RequestContext, image_id: str, member_id: str) -> ImageMember:
        try:
            image = await self._shared_image(ctx, image_id)
            return await self._lookup(ctx, image, member_id)
        except Forbidden as exc:  # upstream hides every refusal here as 404
            raise NotFound(exc.message) from exc

    async def update(
        self, ctx: RequestContext, image_id: str, member_id: str, body: Any
    ) -> ImageMember:
        status = body.get("status") if isinstance(body, dict) else None
        try:
            new_status = MemberStatus(str(status))
        except ValueError:
            raise BadRequest(
                f"Invalid status {status!r}: it must be pending, accepted or rejected."
            ) from None
        image = await self._shared_image(ctx, image_id)
        member = await self._lookup(ctx, image, member_id)
        self.images.access.authorize(
            ctx, image, "modify_member", "Only the member can change its status."
        )
        member.status = new_status
        return await self.repo.save(member, events=("image.member.update",))

    async def delete(self, ctx: RequestContext, image_id: str, member_id: str) -> None:
        image = await self._shared_image(ctx, image_id)
        member = await self._lookup(ctx, image, member_id)
        self.images.access.authorize(ctx, image, "delete_member")
        await self.repo.remove(member, events=("image.member.delete",))
