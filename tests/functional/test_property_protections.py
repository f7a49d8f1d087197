"""Property protections from ``property_protection_file`` (roles format)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.functional.test_isolation_trusted import CAST
from tests.server import LiveServer

RULES = """
[^x_billing_.*]
create = admin
read = admin,billing
update = admin
delete = admin

[^x_frozen$]
create = @
read = @
update = !
delete = !

[.*]
create = @
read = @
update = @
delete = @
"""
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


def _server(factory: Callable[..., LiveServer], tmp_path: Path, rules: str) -> LiveServer:
    path = tmp_path / "protections.conf"
    path.write_text(rules)
    return factory(
        "property_protection_file = " + str(path), "[paste_deploy]", "flavor = trusted-auth"
    )


def test_roles_decide_each_action(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = _server(server_factory, tmp_path, RULES)
    owner, admin = dict(CAST.owner.headers), dict(CAST.admin.headers)
    billing = {**owner, "X-Roles": "member,reader,billing"}
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        refused = client.post("/v2/images", json={"x_billing_code": "1"}, headers=owner)
        assert refused.status_code == 403
        created = client.post(
            "/v2/images",
            json={"x_billing_code": "42", "x_frozen": "ice", "color": "red", "owner": "p1"},
            headers=admin,
        )
        assert created.status_code == 201
        url = f"/v2/images/{created.json()['id']}"
        assert "x_billing_code" not in client.get(url, headers=owner).json()
        assert client.get(url, headers=billing).json()["x_billing_code"] == "42"
        listed = client.get("/v2/images", headers=owner).json()["images"]
        assert all("x_billing_code" not in i for i in listed)

        def patch(headers: dict[str, str], op: str, path: str, value: str = "v") -> int:
            body = (
                [{"op": op, "path": path, "value": value}]
                if op != "remove"
                else [{"op": op, "path": path}]
            )
            return client.patch(url, json=body, headers={**headers, **PATCH}).status_code

        assert patch(owner, "replace", "/x_billing_code") == 403
        assert patch(owner, "remove", "/x_billing_code") == 403
        assert patch(owner, "replace", "/x_frozen") == 403
        assert patch(admin, "replace", "/x_frozen") == 403
        assert patch(owner, "replace", "/color", "blue") == 200
        assert patch(admin, "replace", "/x_billing_code", "43") == 200
        assert client.get(url, headers=billing).json()["x_billing_code"] == "43"


def test_unmatched_properties_are_protected(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    rules = "[^allowed_.*]\ncreate = @\nread = @\nupdate = @\ndelete = @\n"
    server = _server(server_factory, tmp_path, rules)
    owner = dict(CAST.owner.headers)
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        assert client.post("/v2/images", json={"other": "x"}, headers=owner).status_code == 403
        assert client.post("/v2/images", json={"allowed_a": "x"}, headers=owner).status_code == 201


def test_a_broken_rules_file_stops_the_server(tmp_path: Path) -> None:
    path = tmp_path / "bad.conf"
    path.write_text("[.*]\ncreate = @\n")
    server = LiveServer(tmp_path / "s", [f"property_protection_file = {path}"])
    with pytest.raises(RuntimeError, match="missing 'read'"):
        server.start(timeout=15)
