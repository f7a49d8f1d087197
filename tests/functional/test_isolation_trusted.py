"""Tenant isolation with identity from trusted proxy headers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.functional.isolation import Actor, Cast, Matrix
from tests.server import LiveServer


def _actor(name: str, project: str, roles: str) -> Actor:
    return Actor(
        name,
        project,
        {
            "X-Identity-Status": "Confirmed",
            "X-Project-Id": project,
            "X-User-Id": f"user-{name}",
            "X-Roles": roles,
        },
    )


CAST = Cast(
    admin=_actor("admin", "admin-project", "admin,member,reader"),
    owner=_actor("owner", "p1", "member,reader"),
    reader=_actor("reader", "p1", "reader"),
    member=_actor("member", "p2", "member,reader"),
    outsider=_actor("outsider", "p3", "member,reader"),
)


def test_isolation_matrix(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory("[paste_deploy]", "flavor = trusted-auth")
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        matrix = Matrix(client, CAST)
        failures = matrix.run()
    assert failures == []
    assert matrix.checks > 200


def test_requests_without_confirmed_identity_are_401(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = server_factory("[paste_deploy]", "flavor = trusted-auth")
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        assert client.get("/v2/images").status_code == 401
        invalid = {"X-Identity-Status": "Invalid", "X-Roles": "admin"}
        assert client.get("/v2/images", headers=invalid).status_code == 401
        assert client.get("/versions").status_code == 200
        ok = client.get("/v2/images", headers=dict(CAST.owner.headers))
        assert ok.status_code == 200


def test_caller_request_ids_are_kept_and_bounded(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = server_factory("[paste_deploy]", "flavor = trusted-auth")
    headers = dict(CAST.owner.headers)
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        response = client.get("/v2/images", headers={**headers, "X-Openstack-Request-ID": "abc"})
        assert response.headers["x-openstack-request-id"] == "req-abc"
        too_long = client.get("/v2/images", headers={**headers, "X-Openstack-Request-ID": "x" * 65})
        assert too_long.status_code == 431


def test_policy_file_overrides_defaults(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text('"publicize_image": "role:member"\n"delete_image": "!"\n')
    server = server_factory(
        "[paste_deploy]", "flavor = trusted-auth", "[oslo_policy]", f"policy_file = {policy}"
    )
    owner = dict(CAST.owner.headers)
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        created = client.post("/v2/images", json={"visibility": "public"}, headers=owner)
        assert created.status_code == 201
        image_url = f"/v2/images/{created.json()['id']}"
        assert client.delete(image_url, headers=owner).status_code == 403
        assert client.delete(image_url, headers=dict(CAST.admin.headers)).status_code == 403


def test_missing_named_policy_file_stops_the_server(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "s", ["[oslo_policy]", "policy_file = /nonexistent.yaml"])
    with pytest.raises(RuntimeError, match="policy_file"):
        server.start(timeout=15)
