"""Locations: hidden by default; with ``show_multiple_locations`` editable by PATCH."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.functional.helpers import create, patch, upload
from tests.functional.test_isolation_trusted import CAST
from tests.server import LiveServer


def _active(client: httpx.Client) -> str:
    image = create(client, disk_format="raw", container_format="bare")
    assert upload(client, image["id"], b"data").status_code == 204
    return str(image["id"])


def test_locations_are_hidden_by_default(client: httpx.Client) -> None:
    image_id = _active(client)
    shown = client.get(f"/v2/images/{image_id}").json()
    assert "locations" not in shown
    assert "direct_url" not in shown
    ops = [{"op": "replace", "path": "/locations", "value": []}]
    assert patch(client, image_id, ops).status_code == 403


def test_location_edits(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory("show_multiple_locations = true", "show_image_direct_url = true")
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        image_id = _active(client)
        shown = client.get(f"/v2/images/{image_id}").json()
        [location] = shown["locations"]
        assert location["url"].startswith("file://")
        assert location["url"].endswith(image_id)
        assert shown["direct_url"] == location["url"]

        def edit(*ops: dict[str, object]) -> int:
            return patch(client, image_id, list(ops)).status_code

        new_meta = [{"url": location["url"], "metadata": {"store": "file", "k": "v"}}]
        assert edit({"op": "replace", "path": "/locations", "value": new_meta}) == 200
        assert client.get(f"/v2/images/{image_id}").json()["locations"] == new_meta
        moved = [{"url": "file:///elsewhere", "metadata": {}}]
        assert edit({"op": "replace", "path": "/locations", "value": moved}) == 400
        assert edit({"op": "replace", "path": "/locations", "value": []}) == 403
        assert edit({"op": "replace", "path": "/locations", "value": "x"}) == 400
        local = {"url": "file:///etc/passwd", "metadata": {}}
        assert edit({"op": "add", "path": "/locations/-", "value": local}) == 400
        unknown = {"url": "gopher://host/x", "metadata": {}}
        assert edit({"op": "add", "path": "/locations/-", "value": unknown}) == 400
        assert edit({"op": "add", "path": "/locations/9", "value": local}) == 400
        assert edit({"op": "remove", "path": "/locations/0"}) == 403
        assert client.get(f"/v2/images/{image_id}/file").content == b"data"

        listed = client.get(f"/v2/images/{image_id}/locations")
        assert listed.status_code == 200
        assert listed.json() == new_meta
        queued = create(client)["id"]
        assert client.post(f"/v2/images/{image_id}/locations", json=local).status_code == 409
        assert client.post(f"/v2/images/{queued}/locations", json=local).status_code == 400
        assert client.post(f"/v2/images/{queued}/locations", json={}).status_code == 400


def test_location_api_is_for_services(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory("[paste_deploy]", "flavor = trusted-auth")
    owner = dict(CAST.owner.headers)
    service = {**owner, "X-Roles": "service,reader"}
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        image = client.post("/v2/images", json={}, headers=owner).json()
        url = f"/v2/images/{image['id']}/locations"
        assert client.get(url, headers=owner).status_code == 403
        other = {"url": "swift://example.org/v1/AUTH_x/glance/image.raw"}
        assert client.post(url, json=other, headers=owner).status_code == 403
        # an http(s) URL (the HTTP store is on) gets past the policy; the default
        # outbound rules refuse this one (loopback, port 1)
        web = {"url": "http://127.0.0.1:1/image.raw"}
        assert client.post(url, json=web, headers=owner).status_code == 400
        assert client.get(url, headers=service).status_code == 200
