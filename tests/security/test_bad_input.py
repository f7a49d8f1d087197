"""Malformed input is a clear 4xx, never a 500, on every database."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from spyglass.errors import BadStoreUri
from spyglass.stores.filesystem import FilesystemStore
from tests.functional.helpers import PATCH_V21, create, upload
from tests.security.conftest import ALICE, BOB, StartServer, caller, client_for

JSON = {"Content-Type": "application/json"}
Params = list[tuple[str, str | int | float | bool | None]]
SURROGATE = '"\\ud800"'
"""Put for ``@`` in the bodies below: a JSON escape that decodes to a lone surrogate,
which no database can store."""


def _new(client: httpx.Client) -> dict[str, object]:
    return create(client, name="ok", disk_format="raw", container_format="bare")


def test_deeply_nested_json_is_a_400(secure_server: StartServer) -> None:
    server = secure_server()
    deep = "[" * 100_000 + "]" * 100_000
    with client_for(server) as client:
        client.headers.update(ALICE)
        image = _new(client)
        created = client.post("/v2/images", content=deep, headers=JSON)
        assert created.status_code == 400, created.text
        patched = client.patch(
            f"/v2/images/{image['id']}", content=deep, headers={"Content-Type": PATCH_V21}
        )
        assert patched.status_code == 400, patched.text
        nested_object = '{"a":' * 50_000 + "1" + "}" * 50_000
        assert client.post("/v2/images", content=nested_object, headers=JSON).status_code == 400


def test_lone_surrogates_are_a_400(race_server: StartServer) -> None:
    server = race_server()
    with client_for(server) as client:
        client.headers.update(ALICE)
        image = _new(client)
        path = f"/v2/images/{image['id']}"
        bodies = [
            ("/v2/images", '{"name": @}'),
            ("/v2/images", '{"kind": @}'),
            ("/v2/images", '{@: "value"}'),
            ("/v2/images", '{"tags": [@]}'),
            (f"{path}/members", '{"member": @}'),
            ("/v2/images", '{"name": "a\\u0000b"}'),  # NUL: PostgreSQL's text cannot hold it
        ]
        client.patch(path, json=[{"op": "replace", "path": "/visibility", "value": "shared"}],
                     headers={"Content-Type": PATCH_V21})  # fmt: skip
        for url, template in bodies:
            body = template.replace("@", SURROGATE)
            response = client.post(url, content=body, headers=JSON)
            assert response.status_code == 400, (body, response.text[:300])
        for op in (
            '[{"op": "replace", "path": "/name", "value": @}]',
            '[{"op": "add", "path": "/x", "value": @}]',
            '[{"op": "add", "path": "/\\udfff", "value": "v"}]',
        ):
            op = op.replace("@", SURROGATE)
            response = client.patch(path, content=op, headers={"Content-Type": PATCH_V21})
            assert response.status_code == 400, (op, response.text[:300])
        # nothing was stored, and the server still answers
        assert client.get(path).json()["name"] == "ok"
        # text outside the BMP is text, and is kept
        emoji = create(client, name="\U0001f680", disk_format="raw", container_format="bare")
        assert client.get(f"/v2/images/{emoji['id']}").json()["name"] == "\U0001f680"


def test_too_many_tag_or_property_filters_are_a_400(race_server: StartServer) -> None:
    server = race_server()
    with client_for(server) as client:
        client.headers.update(ALICE)
        _new(client)
        tags: Params = [("tag", f"t{i}") for i in range(1000)]
        properties: Params = [(f"p{i}", "v") for i in range(1000)]
        for params in (tags, properties):
            response = client.get("/v2/images", params=params)
            assert response.status_code == 400, response.text[:300]
            assert "at most" in response.text
        for name in ("size", "min_disk", "size_min", "size_max", "limit"):  # past 64 bits
            response = client.get("/v2/images", params={name: "9" * 30})
            assert response.status_code == 400, (name, response.text[:300])
        # a handful is still a filter
        assert client.get("/v2/images", params=tags[:50]).status_code == 200
        assert client.get("/v2/images", params=properties[:50]).status_code == 200


def test_an_id_with_a_trailing_newline_is_refused(secure_server: StartServer) -> None:
    """``$`` matched before a final newline: the 37-character image could not be handled."""
    server = secure_server()
    with client_for(server) as client:
        client.headers.update(ALICE)
        for image_id in (
            "8f6a3c2e-5d4b-4a1f-9e7c-0b1a2c3d4e5f\n",
            "8f6a3c2e-5d4b-4a1f-9e7c-0b1a2c3d4e5f\r\n",
        ):
            response = client.post(
                "/v2/images",
                json={"id": image_id, "disk_format": "raw", "container_format": "bare"},
            )
            assert response.status_code == 400, response.text[:300]
        assert client.get("/v2/images").json()["images"] == []
        # nor does a path: /v2/images/<id>%0A is not /v2/images/<id>
        image = _new(client)
        assert client.get(f"/v2/images/{image['id']}%0A").status_code == 404
        assert client.get(f"/v2/images/{image['id']}").status_code == 200


def test_store_paths_are_matched_whole(tmp_path: Path) -> None:
    """The filesystem store's name check also ended at a final newline."""
    store = FilesystemStore("file", datadir=tmp_path)
    name = "8f6a3c2e-5d4b-4a1f-9e7c-0b1a2c3d4e5f"
    assert store.path_for(f"file://{tmp_path}/{name}") == tmp_path / name
    with pytest.raises(BadStoreUri):
        store.path_for(f"file://{tmp_path}/{name}%0A")


def test_a_suffix_range_of_zero_bytes_is_416(secure_server: StartServer) -> None:
    server = secure_server()
    with client_for(server) as client:
        client.headers.update(ALICE)
        image = _new(client)
        assert upload(client, str(image["id"]), b"0123456789").status_code == 204
        response = client.get(f"/v2/images/{image['id']}/file", headers={"Range": "bytes=-0"})
        assert response.status_code == 416, response.text[:300]
        ok = client.get(f"/v2/images/{image['id']}/file", headers={"Range": "bytes=-3"})
        assert (ok.status_code, ok.content) == (206, b"789")


def test_image_size_header_takes_digits_only(secure_server: StartServer) -> None:
    """``int()`` reads ``5_0`` as 50; the header must be plain digits."""
    server = secure_server()
    with client_for(server) as client:
        client.headers.update(ALICE)
        for raw in ("5_0", "+50", "-0", "0x32"):
            image = _new(client)
            response = upload(
                client, str(image["id"]), b"x" * 50, **{"x-openstack-image-size": raw}
            )
            assert response.status_code == 400, (raw, response.text[:300])
        image = _new(client)
        response = upload(client, str(image["id"]), b"x" * 50, **{"x-openstack-image-size": "50"})
        assert response.status_code == 204, response.text[:300]


def test_roles_come_only_from_x_roles(secure_server: StartServer) -> None:
    """With an empty ``X-Roles`` a client-sent ``X-Role: admin`` once made the caller admin."""
    server = secure_server()
    with client_for(server) as bob, client_for(server) as intruder:
        bob.headers.update(BOB)
        hidden = _new(bob)
        intruder.headers.update({**caller("project-a", ""), "X-Role": "admin"})
        response = intruder.get(f"/v2/images/{hidden['id']}")
        assert response.status_code in (403, 404), response.text[:300]
        listed = intruder.get("/v2/images")
        assert listed.status_code == 403 or listed.json()["images"] == []
