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
from spyglass.errors import BadRequest, Forbidden, NotFound, TooLarge, Unauthorized
from spyglass.services.images import ImageService
from spyglass.services.ports import ListQuery, MemberRepository, SortKey
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

    # -- v1's model: no statuses, a ``can_share`` flag; refusals look like "not found" ----

    async def _manageable(self, ctx: RequestContext, image_id: str, action: str) -> Image:
        """The image, if the caller may change its member list: by policy (the owner,
        an admin) or as a member holding ``can_share``; anything else is 404."""
        if ctx.project_id is None and not ctx.is_admin:
            raise Unauthorized("Image membership requires an authenticated project.")
        try:
            image = await self._shared_image(ctx, image_id)
        except Forbidden as exc:
            raise NotFound(exc.message) from exc
        if self._sees_all(ctx, image) and self.images.access.allowed(ctx, image, action):
            return image
        if ctx.project_id is not None:
            own = await self.repo.find(image.id, ctx.project_id)
            if own is not None and own.can_share:
                return image
        raise NotFound(f"No image found with ID {image_id}")

    async def share(
        self, ctx: RequestContext, image_id: str, member_id: str, *, can_share: bool | None
    ) -> ImageMember:
        """Add ``member_id`` (accepted at once, as v1 members were), or change its
        ``can_share``; ``None`` keeps an existing member's flag (new ones get false)."""
        if not member_id.strip() or len(member_id) > 255:
            raise BadRequest("Member id must be 1 to 255 characters.")
        image = await self._manageable(ctx, image_id, "add_member")
        existing = await self.repo.find(image.id, member_id)
        if existing is not None:
            if can_share is None or existing.can_share == can_share:
                return existing
            existing.can_share = can_share
            return await self.repo.save(existing, events=("image.member.update",))
        now = utcnow()
        member = ImageMember(
            image.id, member_id, MemberStatus.ACCEPTED, now, now, can_share=bool(can_share)
        )
        return await self.repo.add(member, quota=self.quota, events=("image.member.create",))

    async def replace(
        self, ctx: RequestContext, image_id: str, wanted: Sequence[tuple[str, bool | None]]
    ) -> None:
        """Make the member list exactly ``wanted`` (member id, ``can_share`` or ``None``)."""
        image = await self._manageable(ctx, image_id, "add_member")
        if self.quota >= 0 and len({m for m, _ in wanted}) > self.quota:
            raise TooLarge(f"Maximum number of members ({self.quota}) reached for this image.")
        keep = {m for m, _ in wanted}
        for member in await self.repo.list(image.id):
            if member.member_id not in keep:
                await self.repo.remove(member, events=("image.member.delete",))
        for member_id, can_share in wanted:
            await self.share(ctx, image_id, member_id, can_share=can_share)

    async def unshare(self, ctx: RequestContext, image_id: str, member_id: str) -> None:
        image = await self._manageable(ctx, image_id, "delete_member")
        member = await self.repo.find(image.id, member_id)
        if member is None:
            raise NotFound(f"{member_id} not found in the member list of the image {image_id}.")
        await self.repo.remove(member, events=("image.member.delete",))

    async def shared_with(
        self, ctx: RequestContext, project_id: str, *, limit: int
    ) -> Sequence[ImageMember]:
        """The memberships of ``project_id`` (v1's ``/shared-images``): its own, or any
        project's for an admin."""
        if not ctx.is_admin and ctx.project_id != project_id:
            raise Forbidden("Only admins may list another project's shared images.")
        query = ListQuery(
            limit=limit,
            sort=(SortKey("created_at", True), SortKey("id", True)),
            visibility="shared",
            member_status="all",
            project_id=project_id,
            is_admin=False,
        )
        found = []
        for image in await self.images.repo.list(query):
            if image.owner == project_id:
                continue
            member = await self.repo.find(image.id, project_id)
            if member is not None:
                found.append(member)
        return found
