"""The policy evaluator and upstream's default rules."""

from __future__ import annotations

from datetime import datetime

import pytest

from spyglass.context import RequestContext
from spyglass.domain.image import Image, Visibility
from spyglass.domain.policy import Policy, image_target
from spyglass.domain.policy_rules import compile_rule
from spyglass.errors import ConfigError


def ctx(project: str | None, *roles: str) -> RequestContext:
    return RequestContext(request_id="r", project_id=project, roles=frozenset(roles))


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("", True),
        ("@", True),
        ("!", False),
        ("role:member", True),
        ("role:MEMBER", True),
        ("role:admin", False),
        ("not role:admin", True),
        ("role:admin or role:member", True),
        ("role:admin and role:member", False),
        ("(role:admin or role:member) and project_id:%(owner)s", True),
        ("project_id:%(project_id)s", True),
        ("project_id:other", False),
        ("project_id:p1", True),
        ("'shared':%(visibility)s", True),
        ("'public':%(visibility)s", False),
        ("project_id:%(missing)s", False),
        ("rule:yes", True),
        ("rule:undefined_falls_back_to_default", True),
        ([["role:admin"], ["role:member", "project_id:%(owner)s"]], True),
        ([["role:admin"]], False),
        ([], True),
    ],
)
def test_rules(rule: object, expected: bool) -> None:
    target = {"owner": "p1", "project_id": "p1", "visibility": "shared"}
    policy = Policy({"x": rule, "yes": "@"})
    assert policy.allowed("x", ctx("p1", "member"), target) is expected


@pytest.mark.parametrize("rule", ["(role:a", "role:a or", "and", "nonsense", 5])
def test_bad_rules_are_config_errors(rule: object) -> None:
    with pytest.raises(ConfigError):
        compile_rule(rule)


def _image(owner: str, visibility: Visibility) -> Image:
    now = datetime(2026, 1, 1)
    return Image(id="i", created_at=now, updated_at=now, owner=owner, visibility=visibility)


@pytest.mark.parametrize(
    ("action", "caller", "visibility", "expected"),
    [
        ("modify_image", ctx("p1", "member"), Visibility.PRIVATE, True),
        ("modify_image", ctx("p1", "reader"), Visibility.PRIVATE, False),
        ("modify_image", ctx("p2", "member"), Visibility.PUBLIC, False),
        ("modify_image", ctx("p2", "admin"), Visibility.PRIVATE, True),
        ("download_image", ctx("p2", "member"), Visibility.SHARED, True),
        ("download_image", ctx("p1", "reader"), Visibility.PRIVATE, False),
        ("get_image", ctx("p2", "reader"), Visibility.PRIVATE, False),
        ("get_image", ctx("p2", "reader"), Visibility.COMMUNITY, True),
        ("publicize_image", ctx("p1", "member"), Visibility.PRIVATE, False),
        ("communitize_image", ctx("p1", "member"), Visibility.PRIVATE, True),
        ("modify_member", ctx("p2", "member"), Visibility.SHARED, True),
        ("modify_member", ctx("p1", "member"), Visibility.SHARED, False),
    ],
)
def test_default_rules(
    action: str, caller: RequestContext, visibility: Visibility, expected: bool
) -> None:
    image = _image("p1", visibility)
    assert Policy().allowed(action, caller, image_target(image, caller)) is expected


def test_overrides_replace_defaults() -> None:
    member = ctx("p1", "member")
    image = _image("p1", Visibility.PRIVATE)
    assert not Policy().allowed("publicize_image", member, image_target(image, member))
    relaxed = Policy({"publicize_image": "role:member"})
    assert relaxed.allowed("publicize_image", member, image_target(image, member))
    assert Policy({"context_is_admin": "role:superuser"}).is_admin(ctx(None, "superuser"))
