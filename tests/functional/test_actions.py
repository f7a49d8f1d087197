"""Deactivate and reactivate, over a real socket (noauth: the caller is admin)."""

from __future__ import annotations

import httpx

from tests.functional.helpers import create, upload


def _action(client: httpx.Client, image_id: str, name: str) -> int:
    return client.post(f"/v2/images/{image_id}/actions/{name}").status_code


def test_deactivate_and_reactivate_round_trip(client: httpx.Client) -> None:
    image = create(client, disk_format="raw", container_format="bare")
    upload(client, image["id"], b"payload")
    assert _action(client, image["id"], "deactivate") == 204
    assert client.get(f"/v2/images/{image['id']}").json()["status"] == "deactivated"
    assert _action(client, image["id"], "deactivate") == 204
    assert client.get(f"/v2/images/{image['id']}/file").content == b"payload"  # admin may
    assert _action(client, image["id"], "reactivate") == 204
    assert _action(client, image["id"], "reactivate") == 204
    assert client.get(f"/v2/images/{image['id']}").json()["status"] == "active"


def test_actions_on_a_queued_image_are_403(client: httpx.Client) -> None:
    image = create(client)
    assert _action(client, image["id"], "deactivate") == 403
    assert _action(client, image["id"], "reactivate") == 403
    assert client.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


def test_action_refusals(client: httpx.Client) -> None:
    image = create(client)
    url = f"/v2/images/{image['id']}/actions/deactivate"
    assert client.get(url).status_code == 405
    assert client.post(url, content=b"{}").status_code == 400
    assert _action(client, "00000000-0000-0000-0000-000000000000", "deactivate") == 404
