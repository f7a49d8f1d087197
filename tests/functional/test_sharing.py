"""Members and the listings they change, with identity from trusted headers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.functional.test_isolation_trusted import CAST
from tests.server import LiveServer

OWNER = dict(CAST.owner.headers)
MEMBER = dict(CAST.member.headers)
OUTSIDER = dict(CAST.outsider.headers)


@pytest.fixture(scope="module")
def server(metadata_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    lines = ["[paste_deploy]", "flavor = trusted-auth", "[DEFAULT]", "image_member_quota = 3"]
    live = LiveServer(tmp_path_factory.mktemp("sharing"), lines).start()
    yield live
    live.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        yield http


def _shared(client: httpx.Client, **extra: object) -> str:
    response = client.post("/v2/images", json={"visibility": "shared", **extra}, headers=OWNER)
    assert response.status_code == 201
    return str(response.json()["id"])


def _listed(client: httpx.Client, headers: dict[str, str], **params: str) -> set[str]:
    response = client.get("/v2/images", params=params, headers=headers)
    assert response.status_code == 200
    return {i["id"] for i in response.json()["images"]}


def test_member_status_decides_the_members_listing(client: httpx.Client) -> None:
    image = _shared(client)
    url = f"/v2/images/{image}/members"
    added = client.post(url, json={"member": "p2"}, headers=OWNER)
    assert added.status_code == 200
    body: dict[str, object] = added.json()
    assert body["status"] == "pending"
    assert body["member_id"] == "p2"
    assert body["image_id"] == image
    assert body["schema"] == "/v2/schemas/member"
    assert image not in _listed(client, MEMBER)
    assert image in _listed(client, MEMBER, member_status="pending")
    assert image in _listed(client, MEMBER, member_status="all")
    assert client.get(f"/v2/images/{image}", headers=MEMBER).status_code == 200
    for status in ("accepted", "rejected"):
        update = client.put(f"{url}/p2", json={"status": status}, headers=MEMBER)
        assert update.json()["status"] == status
        assert (image in _listed(client, MEMBER)) is (status == "accepted")
        assert image in _listed(client, MEMBER, member_status=status)
    assert image not in _listed(client, OUTSIDER, member_status="all")


def test_member_refusals(client: httpx.Client) -> None:
    image = _shared(client)
    url = f"/v2/images/{image}/members"
    assert client.post(url, json={"member": "p2"}, headers=OWNER).status_code == 200
    assert client.post(url, json={"member": "p2"}, headers=OWNER).status_code == 409
    bodies: list[object] = [{}, {"member": ""}, {"member": 5}, [], {"member": "x" * 256}]
    for body in bodies:
        assert client.post(url, json=body, headers=OWNER).status_code == 400, body
    assert client.put(f"{url}/p2", json={"status": "bogus"}, headers=MEMBER).status_code == 400
    assert client.put(f"{url}/p2", json={}, headers=MEMBER).status_code == 400
    assert client.put(f"{url}/p2", json={"status": "accepted"}, headers=OWNER).status_code == 403
    assert client.get(f"{url}/nobody", headers=OWNER).status_code == 404
    assert client.delete(f"{url}/nobody", headers=OWNER).status_code == 404
    assert client.delete(f"{url}/p2", headers=MEMBER).status_code == 403
    assert client.delete(f"{url}/p2", headers=OWNER).status_code == 204
    assert client.get(f"/v2/images/{image}", headers=MEMBER).status_code == 404


def test_member_quota(client: httpx.Client) -> None:
    url = f"/v2/images/{_shared(client)}/members"
    for n in range(3):
        assert client.post(url, json={"member": f"q{n}"}, headers=OWNER).status_code == 200
    assert client.post(url, json={"member": "q3"}, headers=OWNER).status_code == 413


@pytest.mark.parametrize("visibility", ["private", "public", "community"])
def test_only_shared_images_have_members(client: httpx.Client, visibility: str) -> None:
    headers = dict(CAST.admin.headers) if visibility == "public" else OWNER
    image = client.post("/v2/images", json={"visibility": visibility}, headers=headers).json()
    url = f"/v2/images/{image['id']}/members"
    assert client.post(url, json={"member": "p2"}, headers=headers).status_code == 403
    assert client.get(url, headers=headers).status_code == 403


def test_making_a_shared_image_private_hides_it_from_members(client: httpx.Client) -> None:
    image = _shared(client)
    client.post(f"/v2/images/{image}/members", json={"member": "p2"}, headers=OWNER)
    patch = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
    ops = [{"op": "replace", "path": "/visibility", "value": "private"}]
    assert client.patch(f"/v2/images/{image}", json=ops, headers={**OWNER, **patch}).is_success
    assert client.get(f"/v2/images/{image}", headers=MEMBER).status_code == 404
    assert client.get(f"/v2/images/{image}/members", headers=OWNER).status_code == 403


def test_owner_filter_and_creating_for_another_project(client: httpx.Client) -> None:
    mine = _shared(client, name="mine")
    assert _listed(client, OWNER, owner="p1") >= {mine}
    assert _listed(client, OWNER, owner="p9") == set()
    refused = client.post("/v2/images", json={"owner": "p9"}, headers=OWNER)
    assert refused.status_code == 403
    admin = client.post("/v2/images", json={"owner": "p9"}, headers=dict(CAST.admin.headers))
    assert admin.status_code == 201
    assert admin.json()["owner"] == "p9"
    ops = [{"op": "replace", "path": "/owner", "value": "p9"}]
    patch = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
    assert (
        client.patch(f"/v2/images/{mine}", json=ops, headers={**OWNER, **patch}).status_code == 403
    )
