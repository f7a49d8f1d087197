"""v1 and v2 on one image: consistent metadata and bytes for each visibility, v1 members
(``can_share``), ``/v1/shared-images`` and who sees what in a v1 listing (trusted-auth)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.functional.isolation import VISIBILITIES
from tests.functional.test_isolation_trusted import CAST
from tests.server import LiveServer

ADMIN = dict(CAST.admin.headers)
OWNER = dict(CAST.owner.headers)
MEMBER = dict(CAST.member.headers)
OUTSIDER = dict(CAST.outsider.headers)
OCTET = {"Content-Type": "application/octet-stream"}
FORMATS = {"x-image-meta-disk-format": "raw", "x-image-meta-container-format": "bare"}
DATA = b"".join(i.to_bytes(4, "big") for i in range(5000))


@pytest.fixture(scope="module")
def server(metadata_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    lines = ["[paste_deploy]", "flavor = trusted-auth", "[DEFAULT]", "image_member_quota = 4"]
    live = LiveServer(tmp_path_factory.mktemp("v1-sharing"), lines).start()
    yield live
    live.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        yield http


def v1_create(client: httpx.Client, headers: dict[str, Any], **meta: Any) -> dict[str, Any]:
    sent = {**headers, **FORMATS, **OCTET, **meta}
    response = client.post("/v1/images", headers=sent, content=DATA)
    assert response.status_code == 201, response.text
    image: dict[str, Any] = response.json()["image"]
    return image


def v2_create(client: httpx.Client, visibility: str, **body: Any) -> dict[str, Any]:
    """An image of the owner's project (made by an admin when public, as policy wants)."""
    document = {"disk_format": "raw", "container_format": "bare", "visibility": visibility}
    caller = OWNER
    if visibility == "public":
        caller, document["owner"] = ADMIN, CAST.owner.project_id
    response = client.post("/v2/images", json={**document, **body}, headers=caller)
    assert response.status_code == 201, response.text
    put = client.put(
        f"/v2/images/{response.json()['id']}/file", content=DATA, headers={**OWNER, **OCTET}
    )
    assert put.status_code == 204, put.text
    image: dict[str, Any] = client.get(f"/v2/images/{response.json()['id']}", headers=OWNER).json()
    return image


def assert_consistent(v1: dict[str, Any], v2: dict[str, Any]) -> None:
    """The v1 and v2 views of one image agree on everything both have."""
    for key in ("id", "name", "status", "size", "virtual_size", "checksum", "owner",
                "disk_format", "container_format", "min_disk", "min_ram", "protected"):  # fmt: skip
        assert v1[key] == v2[key], key
    assert v1["is_public"] == (v2["visibility"] == "public")
    assert v1["created_at"][:19] == v2["created_at"][:19]
    extra = {k: v for k, v in v2.items() if k not in _V2_BASE}
    assert v1["properties"] == extra


_V2_BASE = {
    "id", "name", "status", "visibility", "protected", "os_hidden", "checksum", "os_hash_algo",
    "os_hash_value", "owner", "size", "virtual_size", "container_format", "disk_format",
    "created_at", "updated_at", "tags", "min_ram", "min_disk", "self", "file", "schema",
}  # fmt: skip


@pytest.mark.parametrize("public", [True, False])
def test_v1_image_reads_the_same_through_v2(client: httpx.Client, public: bool) -> None:
    caller = ADMIN if public else OWNER  # publicizing is an admin's by default
    meta: dict[str, Any] = {
        "x-image-meta-is-public": str(public),
        "x-image-meta-owner": CAST.owner.project_id,
        "x-image-meta-property-os-distro": "débian".encode(),
        "x-image-meta-min-disk": "3",
    }
    made = v1_create(client, caller, **meta)
    v2 = client.get(f"/v2/images/{made['id']}", headers=OWNER).json()
    assert v2["visibility"] == ("public" if public else "shared")
    assert v2["os_distro"] == "débian" and v2["owner"] == CAST.owner.project_id
    assert_consistent(made, v2)
    assert v2["checksum"] == hashlib.md5(DATA).hexdigest()
    assert v2["os_hash_value"] == hashlib.sha512(DATA).hexdigest()
    assert client.get(f"/v2/images/{made['id']}/file", headers=OWNER).content == DATA
    head = client.head(f"/v1/images/{made['id']}", headers=OWNER)
    assert head.headers["x-image-meta-is_public"] == str(public)


@pytest.mark.parametrize("visibility", VISIBILITIES)
def test_v2_image_reads_the_same_through_v1(client: httpx.Client, visibility: str) -> None:
    v2 = v2_create(client, visibility, name=f"v2-{visibility}", hw_disk_bus="scsi", min_ram=64)
    head = client.head(f"/v1/images/{v2['id']}", headers=OWNER)
    assert head.status_code == 200
    assert head.headers["x-image-meta-is_public"] == str(visibility == "public")
    assert head.headers["x-image-meta-property-hw_disk_bus"] == "scsi"
    listed = client.get("/v1/images/detail", params={"name": v2["name"]}, headers=OWNER)
    (v1,) = listed.json()["images"]
    assert_consistent(v1, v2)
    got = client.get(f"/v1/images/{v2['id']}", headers=OWNER)
    assert got.content == DATA and got.headers["etag"] == v2["checksum"]

    # a v1 update that says nothing about is_public keeps the visibility...
    same_props = {"x-image-meta-min-ram": "128", "x-image-meta-property-hw-disk-bus": "scsi"}
    put = client.put(f"/v1/images/{v2['id']}", headers={**OWNER, **same_props})
    assert put.status_code == 200, put.text
    after = client.get(f"/v2/images/{v2['id']}", headers=OWNER).json()
    assert after["visibility"] == visibility and after["min_ram"] == 128
    # ...and is_public=false keeps non-public visibilities (public becomes shared)
    private = client.put(
        f"/v1/images/{v2['id']}", headers={**ADMIN, "x-image-meta-is-public": "false",
                                           "x-glance-registry-purge-props": "false"}
    )  # fmt: skip
    assert private.status_code == 200
    expected = "shared" if visibility == "public" else visibility
    assert client.get(f"/v2/images/{v2['id']}", headers=OWNER).json()["visibility"] == expected


def test_v1_listing_shows_what_the_caller_may_see(client: httpx.Client) -> None:
    tag = uuid.uuid4().hex[:8]
    made = {v: v2_create(client, v, batch=tag)["id"] for v in VISIBILITIES}
    shared = made["shared"]
    assert client.put(f"/v1/images/{shared}/members/{CAST.member.project_id}",
                      headers=OWNER).status_code == 204  # fmt: skip

    def listed(headers: dict[str, str], **params: str) -> set[str]:
        response = client.get("/v1/images/detail", params={"property-batch": tag, **params},
                              headers=headers)  # fmt: skip
        assert response.status_code == 200, response.text
        return {i["id"] for i in response.json()["images"]}

    assert listed(OWNER) == set(made.values())
    assert listed(MEMBER) == {made["public"], shared}  # no acceptance needed in v1
    assert listed(OUTSIDER) == {made["public"]}
    assert listed(OUTSIDER, is_public="none") == {made["public"]}  # ignored for non-admins
    assert listed(ADMIN) == {made["public"]}  # an admin sees what its own project sees
    assert listed(ADMIN, is_public="none") == set(made.values())
    assert listed(ADMIN, is_public="false") == set(made.values()) - {made["public"]}
    assert client.get(f"/v1/images/{shared}", headers=MEMBER).content == DATA
    assert client.head(f"/v1/images/{made['private']}", headers=OUTSIDER).status_code == 404


def test_v1_members_with_can_share(client: httpx.Client) -> None:
    image = v1_create(client, OWNER)
    url = f"/v1/images/{image['id']}/members"
    member, outsider = CAST.member.project_id, CAST.outsider.project_id
    assert client.get(url, headers=OWNER).json() == {"members": []}

    add = client.put(f"{url}/{member}", json={"member": {"can_share": True}}, headers=OWNER)
    assert add.status_code == 204, add.text
    assert client.get(url, headers=OWNER).json() == {
        "members": [{"member_id": member, "can_share": True}]
    }
    v2_members = client.get(f"/v2/images/{image['id']}/members", headers=OWNER).json()
    assert [(m["member_id"], m["status"]) for m in v2_members["members"]] == [(member, "accepted")]
    # a member holding can_share may share further; an outsider cannot even see the image
    assert client.put(f"{url}/third-project", headers=MEMBER).status_code == 204
    assert client.put(f"{url}/fourth", headers=OUTSIDER).status_code == 404
    assert client.get(f"{url}/{member}", headers=OWNER).status_code == 405

    shared = client.get(f"/v1/shared-images/{member}", headers=MEMBER)
    assert shared.status_code == 200
    assert {"image_id": image["id"], "can_share": True} in shared.json()["shared_images"]
    assert client.get(f"/v1/shared-images/{member}", headers=OUTSIDER).status_code == 403

    replaced = client.put(url, json={"memberships": [{"member_id": member},
                                                     {"member_id": outsider, "can_share": False}]},
                          headers=OWNER)  # fmt: skip
    assert replaced.status_code == 204, replaced.text
    assert client.get(url, headers=OWNER).json()["members"] == [
        {"member_id": member, "can_share": True},
        {"member_id": outsider, "can_share": False},
    ]
    # the outsider, now a member without can_share, may not change the list
    assert client.put(f"{url}/fifth", headers=OUTSIDER).status_code == 404
    assert client.delete(f"{url}/{outsider}", headers=OWNER).status_code == 204
    assert client.delete(f"{url}/{outsider}", headers=OWNER).status_code == 404
    assert client.head(f"/v1/images/{image['id']}", headers=OUTSIDER).status_code == 404

    too_many = [{"member_id": f"p{i}"} for i in range(5)]
    assert client.put(url, json={"memberships": too_many}, headers=OWNER).status_code == 413
    for bad in ({"memberships": "all"}, {"memberships": [{"can_share": True}]}, [1],
                {"memberships": [{"member_id": "x", "can_share": "yes"}]}):  # fmt: skip
        assert client.put(url, json=bad, headers=OWNER).status_code == 400, bad
    bad_one = client.put(f"{url}/{member}", json={"member": {"can_share": "no"}}, headers=OWNER)
    assert bad_one.status_code == 400


def test_v1_refusals_follow_the_v2_policy(client: httpx.Client) -> None:
    image = v1_create(client, OWNER)
    url = f"/v1/images/{image['id']}"
    assert client.put(url, headers={**MEMBER, "x-image-meta-name": "x"}).status_code == 404
    publicize = client.put(url, headers={**OWNER, "x-image-meta-is-public": "true"})
    assert publicize.status_code == 403
    create_public = client.post("/v1/images", headers={**OWNER, "x-image-meta-is-public": "1"})
    assert create_public.status_code == 403
    assert client.delete(url, headers=OUTSIDER).status_code == 404
    assert client.delete(url, headers=OWNER).status_code == 200
    no_identity = client.get("/v1/images")
    assert no_identity.status_code == 401
