"""Authorization: upstream's default rules, overridable by an operator's file.

The defaults are upstream's secure-RBAC rules (admin, project member, project
reader, image member, public/community/shared visibility). ``Policy.allowed``
answers one question: may these credentials take this action on this target?
Hiding (404 rather than 403) is decided by the services.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spyglass.context import RequestContext
from spyglass.domain.image import Image, Visibility
from spyglass.domain.policy_rules import Check, compile_rule

_ADMIN = "rule:context_is_admin"
_PROJECT_MEMBER = "role:member and project_id:%(project_id)s"
_PROJECT_READER = "role:reader and project_id:%(project_id)s"
_SEEN_BY = (
    "(project_id:%(project_id)s or project_id:%(member_id)s or 'community':%(visibility)s"
    " or 'public':%(visibility)s or 'shared':%(visibility)s)"
)
_ADMIN_OR_MEMBER = f"{_ADMIN} or ({_PROJECT_MEMBER})"
_ADMIN_OR_READER = f"{_ADMIN} or ({_PROJECT_READER})"

_METADEF_READ = (
    f"{_ADMIN} or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))"
)
_METADEF_RULES = {
    "metadef_default": "",
    "metadef_admin": _ADMIN,
    "get_metadef_namespaces": _ADMIN_OR_READER,
    **{
        name: _METADEF_READ
        for name in (
            "get_metadef_namespace",
            "get_metadef_object",
            "get_metadef_objects",
            "list_metadef_resource_types",
            "get_metadef_resource_type",
            "get_metadef_property",
            "get_metadef_properties",
            "get_metadef_tag",
            "get_metadef_tags",
        )
    },
    **{
        name: "rule:metadef_admin"
        for name in (
            "add_metadef_namespace",
            "modify_metadef_namespace",
            "delete_metadef_namespace",
            "add_metadef_object",
            "modify_metadef_object",
            "delete_metadef_object",
            "add_metadef_resource_type_association",
            "remove_metadef_resource_type_association",
            "add_metadef_property",
            "modify_metadef_property",
            "remove_metadef_property",
            "add_metadef_tag",
            "add_metadef_tags",
            "modify_metadef_tag",
            "delete_metadef_tag",
            "delete_metadef_tags",
        )
    },
}

DEFAULT_RULES: Mapping[str, str] = {
    "default": "",
    "context_is_admin": "role:admin",
    "service_api": "role:service or role:admin",
    "add_image": f"{_ADMIN} or ({_PROJECT_MEMBER} and project_id:%(owner)s)",
    "get_image": f"{_ADMIN} or (role:reader and {_SEEN_BY})",
    "get_images": _ADMIN_OR_READER,
    "modify_image": _ADMIN_OR_MEMBER,
    "delete_image": _ADMIN_OR_MEMBER,
    "upload_image": _ADMIN_OR_MEMBER,
    "download_image": f"{_ADMIN} or (role:member and {_SEEN_BY})",
    "publicize_image": _ADMIN,
    "communitize_image": _ADMIN_OR_MEMBER,
    "deactivate": _ADMIN_OR_MEMBER,
    "reactivate": _ADMIN_OR_MEMBER,
    "get_image_location": _ADMIN_OR_READER,
    "set_image_location": _ADMIN_OR_MEMBER,
    "delete_image_location": _ADMIN,
    "add_image_location": f"rule:service_api or ({_PROJECT_MEMBER} and project_id:%(owner)s)",
    "fetch_image_location": "rule:service_api",
    "add_member": _ADMIN_OR_MEMBER,
    "delete_member": _ADMIN_OR_MEMBER,
    "get_member": f"{_ADMIN} or role:reader and (project_id:%(project_id)s"
    " or project_id:%(member_id)s)",
    "get_members": f"{_ADMIN} or role:reader and (project_id:%(project_id)s"
    " or project_id:%(member_id)s)",
    "modify_member": f"{_ADMIN} or (role:member and project_id:%(member_id)s)",
    "manage_image_cache": _ADMIN,
    "cache_list": "rule:manage_image_cache",
    "cache_image": "rule:manage_image_cache",
    "cache_delete": "rule:manage_image_cache",
    "cache_clean": "rule:manage_image_cache",
    "cache_prune": "rule:manage_image_cache",
    "list_cached_nodes": "rule:manage_image_cache",
    "copy_image": _ADMIN,
    "stores_info_detail": _ADMIN,
    "tasks_api_access": _ADMIN,
    **_METADEF_RULES,
}


class Policy:
    """Compiled rules; unknown rule names fall back to ``default``, as oslo.policy does."""

    def __init__(self, overrides: Mapping[str, Any] | None = None) -> None:
        texts: dict[str, Any] = dict(DEFAULT_RULES)
        texts.update(overrides or {})
        self._rules: dict[str, Check] = {name: compile_rule(t) for name, t in texts.items()}

    def _lookup(self, name: str) -> Check:
        return self._rules.get(name) or self._rules["default"]

    def allowed(self, action: str, ctx: RequestContext, target: Mapping[str, Any]) -> bool:
        return self._lookup(action)(target, credentials(ctx), self._lookup)

    def is_admin(self, ctx: RequestContext) -> bool:
        """``context_is_admin``: who counts as an administrator."""
        return self.allowed("context_is_admin", ctx, {})


def credentials(ctx: RequestContext) -> dict[str, Any]:
    return {
        "roles": ctx.roles,
        "project_id": ctx.project_id,
        "user_id": ctx.user_id,
        "is_admin": ctx.is_admin,
    }


def image_target(image: Image, ctx: RequestContext) -> dict[str, Any]:
    """What rules may refer to: the image's fields, ``project_id`` = owner, and
    ``member_id`` = the caller's project when it sees a shared image it does not own."""
    target: dict[str, Any] = dict(image.properties)
    member = (
        ctx.project_id
        if image.visibility is Visibility.SHARED and ctx.project_id != image.owner
        else None
    )
    target.update(
        id=image.id, owner=image.owner, project_id=image.owner, member_id=member,
        visibility=image.visibility.value, protected=image.protected, status=image.status.value,
        name=image.name,
    )  # fmt: skip
    return target
