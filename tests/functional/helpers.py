"""Small helpers for driving the API in tests."""

from __future__ import annotations

from typing import Any

import httpx

PATCH_V21 = "application/openstack-images-v2.1-json-patch"
PATCH_V20 = "application/openstack-images-v2.0-json-patch"
OCTET = {"Content-Type": "application/octet-stream"}


def create(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/v2/images", json=body)
    assert response.status_code == 201, response.text
    image: dict[str, Any] = response.json()
    return image


def patch(client: httpx.Client, image_id: str, ops: Any, media: str = PATCH_V21) -> httpx.Response:
    return client.patch(f"/v2/images/{image_id}", json=ops, headers={"Content-Type": media})


def upload(client: httpx.Client, image_id: str, data: bytes, **headers: str) -> httpx.Response:
    return client.put(f"/v2/images/{image_id}/file", content=data, headers={**OCTET, **headers})
