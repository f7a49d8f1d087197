"""Version discovery and the request id, over a real socket."""

from __future__ import annotations

import httpx


def test_root_lists_versions_with_300(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 300
    versions = response.json()["versions"]
    current = [v for v in versions if v["status"] == "CURRENT"]
    assert [v["id"] for v in current] == ["v2.17"]
    assert {"v2.0", "v2.1", "v2.9", "v2.15"} <= {v["id"] for v in versions}
    v2 = [v for v in versions if v["id"].startswith("v2")]
    assert all(v["links"][0]["href"] == f"{client.base_url}/v2/" for v in v2)


def test_versions_path_answers_200(client: httpx.Client) -> None:
    response = client.get("/versions")
    assert response.status_code == 200
    assert response.json() == client.get("/").json()


def test_unknown_version_gets_versions_document(client: httpx.Client) -> None:
    response = client.get("/v3/images")
    assert response.status_code == 300
    assert "versions" in response.json()


def test_minor_version_alias_is_routed_to_v2(client: httpx.Client) -> None:
    assert client.get("/v2.1/images").status_code == 200
    assert client.get("/v2.8/images").status_code == 300


def test_every_response_carries_a_request_id(client: httpx.Client) -> None:
    for response in (
        client.get("/"),
        client.get("/v2/images"),
        client.get("/v2/images/00000000-0000-0000-0000-000000000000"),
    ):
        request_id = response.headers["x-openstack-request-id"]
        assert request_id.startswith("req-") and len(request_id) == 40
    assert (
        client.get("/").headers["x-openstack-request-id"]
        != client.get("/").headers["x-openstack-request-id"]
    )
