"""Storage quota enforced while streaming, and ``/v2/info/usage``."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.functional.test_isolation_trusted import CAST
from tests.server import LiveServer

OCTET = {"Content-Type": "application/octet-stream"}


def _image(client: httpx.Client, headers: dict[str, str]) -> str:
    body = {"disk_format": "raw", "container_format": "bare"}
    return str(client.post("/v2/images", json=body, headers=headers).json()["id"])


def test_storage_quota_counts_each_projects_bytes(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = server_factory("user_storage_quota = 3MB", "[paste_deploy]", "flavor = trusted-auth")
    owner, other = dict(CAST.owner.headers), dict(CAST.outsider.headers)
    mib = 1024 * 1024
    with httpx.Client(base_url=server.url, timeout=60, trust_env=False) as client:
        first = _image(client, owner)
        up = client.put(
            f"/v2/images/{first}/file", content=b"a" * 2 * mib, headers={**owner, **OCTET}
        )
        assert up.status_code == 204
        second = _image(client, owner)
        over = client.put(
            f"/v2/images/{second}/file", content=b"b" * (mib + 1), headers={**owner, **OCTET}
        )
        assert over.status_code == 413
        assert client.get(f"/v2/images/{second}", headers=owner).json()["status"] == "queued"
        assert sorted(p.name for p in (server.data_dir / "images").iterdir()) == [first]
        fits = client.put(
            f"/v2/images/{second}/file", content=b"b" * mib, headers={**owner, **OCTET}
        )
        assert fits.status_code == 204
        third = _image(client, owner)
        full = client.put(f"/v2/images/{third}/file", content=b"c", headers={**owner, **OCTET})
        assert full.status_code == 413
        elsewhere = _image(client, other)
        ok = client.put(
            f"/v2/images/{elsewhere}/file", content=b"d" * mib, headers={**other, **OCTET}
        )
        assert ok.status_code == 204

        usage = client.get("/v2/info/usage", headers=owner).json()["usage"]
        assert usage["image_size_total"] == {"limit": 3, "usage": 3}
        assert usage["image_count_total"]["usage"] == 3
        assert usage["image_count_uploading"]["usage"] == 0
        client.delete(f"/v2/images/{first}", headers=owner)
        after = client.get("/v2/info/usage", headers=owner).json()["usage"]
        assert after["image_size_total"]["usage"] == 1


def test_info_routes(client: httpx.Client) -> None:
    methods = client.get("/v2/info/import").json()["import-methods"]
    assert methods["value"] == ["glance-direct", "web-download", "copy-image"]
    assert client.get("/v2/info/stores").status_code == 404
    assert client.get("/v2/info/usage").json()["usage"]["image_size_total"]["limit"] == -1


def test_property_and_tag_quotas(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory("image_property_quota = 2", "image_tag_quota = 2")
    patch = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        assert client.post("/v2/images", json={"a": "1", "b": "2", "c": "3"}).status_code == 413
        assert client.post("/v2/images", json={"tags": ["x", "y", "z"]}).status_code == 413
        image = client.post("/v2/images", json={"a": "1", "b": "2", "tags": ["x", "y"]}).json()
        url = f"/v2/images/{image['id']}"
        add = [{"op": "add", "path": "/c", "value": "3"}]
        assert client.patch(url, json=add, headers=patch).status_code == 413
        assert client.put(f"{url}/tags/z").status_code == 413
        assert client.put(f"{url}/tags/x").status_code == 204
        swap = [{"op": "remove", "path": "/a"}, *add]
        assert client.patch(url, json=swap, headers=patch).status_code == 200
