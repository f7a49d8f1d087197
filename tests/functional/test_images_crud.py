"""Create, show, update, delete and tags through ``/v2/images``, over a real socket."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.functional.helpers import PATCH_V20, create, patch

BASE_FIELDS = {
    "id",
    "name",
    "status",
    "visibility",
    "protected",
    "os_hidden",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "owner",
    "size",
    "virtual_size",
    "container_format",
    "disk_format",
    "created_at",
    "updated_at",
    "tags",
    "min_ram",
    "min_disk",
    "self",
    "file",
    "schema",
}


def test_create_minimal_image_has_every_base_field(client: httpx.Client) -> None:
    response = client.post("/v2/images", json={})
    assert response.status_code == 201
    image = response.json()
    assert set(image) == BASE_FIELDS
    assert image["status"] == "queued"
    assert image["visibility"] == "shared"
    assert image["protected"] is False and image["os_hidden"] is False
    assert image["size"] is None and image["checksum"] is None and image["name"] is None
    assert image["min_disk"] == 0 and image["tags"] == []
    assert image["self"] == f"/v2/images/{image['id']}"
    assert image["file"] == f"/v2/images/{image['id']}/file"
    assert image["created_at"].endswith("Z") and len(image["created_at"]) == 20
    uuid.UUID(image["id"])
    assert response.headers["Location"] == f"{client.base_url}/v2/images/{image['id']}"
    offered = response.headers.get("OpenStack-image-import-methods")
    assert offered == "glance-direct,web-download,copy-image"  # through a registry too


def test_create_full_image_round_trips(client: httpx.Client) -> None:
    image_id = str(uuid.uuid4())
    body = {
        "id": image_id,
        "name": "cirros",
        "disk_format": "qcow2",
        "container_format": "bare",
        "visibility": "private",
        "tags": ["a", "b", "a"],
        "min_disk": 1,
        "min_ram": 64,
        "protected": False,
        "hw_disk_bus": "scsi",
    }
    created = create(client, **body)
    shown = client.get(f"/v2/images/{image_id}").json()
    assert shown == created
    assert shown["name"] == "cirros" and shown["visibility"] == "private"
    assert sorted(shown["tags"]) == ["a", "b"]
    assert shown["hw_disk_bus"] == "scsi" and shown["min_ram"] == 64


def test_duplicate_id_is_409_even_after_delete(client: httpx.Client) -> None:
    image = create(client)
    assert client.post("/v2/images", json={"id": image["id"]}).status_code == 409
    assert client.delete(f"/v2/images/{image['id']}").status_code == 204
    assert client.post("/v2/images", json={"id": image["id"]}).status_code == 409


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": 123}, 400),
        ({"name": "x" * 256}, 400),
        ({"min_disk": -1}, 400),
        ({"min_disk": "x"}, 400),
        ({"min_ram": 2**31}, 400),
        ({"protected": "yes"}, 400),
        ({"tags": "x"}, 400),
        ({"tags": ["x" * 256]}, 400),
        ({"visibility": "bogus"}, 400),
        ({"disk_format": "bogus"}, 400),
        ({"id": "not-a-uuid"}, 400),
        ({"foo": 1}, 400),
        ({"x" * 256: "v"}, 400),
        ({"status": "active"}, 403),
        ({"checksum": "abc"}, 403),
        ({"size": 5}, 403),
        ({"created_at": "2020-01-01T00:00:00Z"}, 403),
        ({"self": "/x"}, 403),
        ({"location": "file:///etc/passwd"}, 403),
        ({"locations": []}, 403),
        ({"deleted": True}, 400),
        ({"deleted": "x"}, 403),
        ({"os_glance_foo": "x"}, 403),
    ],
)
def test_create_refuses_bad_bodies(
    client: httpx.Client, body: dict[str, object], status: int
) -> None:
    before = len(client.get("/v2/images", params={"limit": 1000}).json()["images"])
    response = client.post("/v2/images", json=body, headers={"Accept": "application/json"})
    assert response.status_code == status, response.text
    assert response.json()["message"]
    assert len(client.get("/v2/images", params={"limit": 1000}).json()["images"]) == before


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b""])
def test_create_refuses_non_object_json(client: httpx.Client, raw: bytes) -> None:
    response = client.post("/v2/images", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400


def test_show_missing_malformed_and_long_ids_are_404(client: httpx.Client) -> None:
    for image_id in (str(uuid.uuid4()), "not-a-uuid", "a" * 40):
        assert client.get(f"/v2/images/{image_id}").status_code == 404


def test_error_body_is_json_when_asked_and_text_otherwise(client: httpx.Client) -> None:
    missing = f"/v2/images/{uuid.uuid4()}"
    as_json = client.get(missing, headers={"Accept": "application/json"})
    assert as_json.headers["content-type"].startswith("application/json")
    assert as_json.json()["code"] == "404 Not Found"
    assert as_json.json()["title"] == "Not Found"
    as_text = client.get(missing)
    assert "404 Not Found" in as_text.text


def test_patch_replace_add_remove_properties(client: httpx.Client) -> None:
    image = create(client, name="old")
    response = patch(
        client,
        image["id"],
        [
            {"op": "replace", "path": "/name", "value": "new"},
            {"op": "add", "path": "/color", "value": "blue"},
            {"op": "add", "path": "/tags", "value": ["t1", "t2"]},
            {"op": "replace", "path": "/min_disk", "value": 3},
        ],
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["name"] == "new" and updated["color"] == "blue"
    assert sorted(updated["tags"]) == ["t1", "t2"] and updated["min_disk"] == 3
    response = patch(client, image["id"], [{"op": "remove", "path": "/color"}])
    assert "color" not in response.json()
    assert "color" not in client.get(f"/v2/images/{image['id']}").json()


def test_patch_property_can_be_removed_and_added_again(client: httpx.Client) -> None:
    image = create(client, color="red")
    assert patch(client, image["id"], [{"op": "remove", "path": "/color"}]).status_code == 200
    response = patch(client, image["id"], [{"op": "add", "path": "/color", "value": "green"}])
    assert response.json()["color"] == "green"


def test_patch_legacy_media_type(client: httpx.Client) -> None:
    image = create(client, name="a")
    ok = patch(client, image["id"], [{"replace": "/name", "value": "b"}], PATCH_V20)
    assert ok.status_code == 200 and ok.json()["name"] == "b"
    added = patch(client, image["id"], [{"add": "/color", "value": "x"}], PATCH_V20)
    assert added.status_code == 200
    again = patch(client, image["id"], [{"add": "/color", "value": "y"}], PATCH_V20)
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("ops", "status"),
    [
        ([{"op": "replace", "path": "/missing", "value": "x"}], 409),
        ([{"op": "remove", "path": "/missing"}], 409),
        ([{"op": "remove", "path": "/name"}], 403),
        ([{"op": "replace", "path": "/status", "value": "active"}], 403),
        ([{"op": "replace", "path": "/id", "value": str(uuid.uuid4())}], 403),
        ([{"op": "add", "path": "/os_glance_x", "value": "x"}], 403),
        ([{"op": "add", "path": "/deleted", "value": "x"}], 403),
        ([{"op": "replace", "path": "name", "value": "x"}], 400),
        ([{"op": "replace", "path": "/a/b", "value": "x"}], 400),
        ([{"op": "move", "path": "/name", "value": "x"}], 400),
        ([{"op": "replace", "path": "/name"}], 400),
        ([{"path": "/name", "value": "x"}], 400),
        ({"op": "replace", "path": "/name", "value": "x"}, 400),
        (["not an object"], 400),
        ([{"op": "replace", "path": "/min_disk", "value": -1}], 400),
        ([{"op": "replace", "path": "/name", "value": "x" * 256}], 400),
        ([{"op": "add", "path": "/color", "value": 5}], 400),
        ([{"op": "replace", "path": "/visibility", "value": "bogus"}], 400),
        ([{"op": "add", "path": "/tags", "value": "notalist"}], 400),
    ],
)
def test_patch_refusals(client: httpx.Client, ops: object, status: int) -> None:
    image = create(client, name="keep", color="red")
    response = patch(client, image["id"], ops)
    assert response.status_code == status, response.text
    assert client.get(f"/v2/images/{image['id']}").json() == image


def test_patch_is_all_or_nothing(client: httpx.Client) -> None:
    image = create(client, name="keep")
    response = patch(
        client,
        image["id"],
        [
            {"op": "replace", "path": "/name", "value": "changed"},
            {"op": "add", "path": "/color", "value": "blue"},
            {"op": "remove", "path": "/absent"},
        ],
    )
    assert response.status_code == 409
    assert client.get(f"/v2/images/{image['id']}").json() == image


def test_patch_needs_a_patch_media_type(client: httpx.Client) -> None:
    image = create(client)
    response = client.patch(
        f"/v2/images/{image['id']}", json=[], headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 415
    assert "openstack-images-v2.1-json-patch" in response.headers["Accept-Patch"]


def test_patch_malformed_json_is_400(client: httpx.Client) -> None:
    image = create(client)
    response = client.patch(
        f"/v2/images/{image['id']}",
        content=b"[{",
        headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
    )
    assert response.status_code == 400


def test_patch_missing_image_is_404(client: httpx.Client) -> None:
    assert patch(client, str(uuid.uuid4()), []).status_code == 404


def test_delete_then_gone(client: httpx.Client) -> None:
    image = create(client)
    assert client.delete(f"/v2/images/{image['id']}").status_code == 204
    assert client.get(f"/v2/images/{image['id']}").status_code == 404
    assert client.delete(f"/v2/images/{image['id']}").status_code == 404


def test_protected_image_cannot_be_deleted_until_unprotected(client: httpx.Client) -> None:
    image = create(client, protected=True)
    assert client.delete(f"/v2/images/{image['id']}").status_code == 403
    assert client.get(f"/v2/images/{image['id']}").status_code == 200
    patch(client, image["id"], [{"op": "replace", "path": "/protected", "value": False}])
    assert client.delete(f"/v2/images/{image['id']}").status_code == 204


def test_tags_put_is_idempotent_and_delete_needs_the_tag(client: httpx.Client) -> None:
    image = create(client)
    url = f"/v2/images/{image['id']}/tags"
    assert client.put(f"{url}/blue").status_code == 204
    assert client.put(f"{url}/blue").status_code == 204
    assert client.get(f"/v2/images/{image['id']}").json()["tags"] == ["blue"]
    assert client.put(f"{url}/{'x' * 256}").status_code == 400
    assert client.delete(f"{url}/blue").status_code == 204
    assert client.delete(f"{url}/blue").status_code == 404
    assert client.put(f"/v2/images/{uuid.uuid4()}/tags/blue").status_code == 404


def test_methods_not_allowed_list_the_allowed_ones(client: httpx.Client) -> None:
    response = client.delete("/v2/images")
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert client.put(f"/v2/images/{uuid.uuid4()}").status_code == 405
    assert client.post("/v2/schemas/image").status_code == 405


def test_oversized_json_bodies_are_413(client: httpx.Client) -> None:
    huge = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = client.post("/v2/images", content=huge, headers={"Content-Type": "application/json"})
    assert response.status_code == 413

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    chunked = client.post(
        "/v2/images", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert chunked.status_code == 413
