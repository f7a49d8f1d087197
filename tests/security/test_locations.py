"""Locations: no image may be pointed at another image's data, by any path, and
no image's deletion removes data another image still uses (defect 1); location
policies are enforced where locations are shown (defect 7); credentials in a
location are never shown (defect 8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.conftest import ADMIN, ALICE, BOB, StartServer, client_for
from tests.security.helpers import OCTET, add_location_row, new_image, patch
from tests.server import LiveServer

SECRET = b"project A's private bytes"
SHOWN = ("show_multiple_locations = true", "show_image_direct_url = true")


def _alice_image(server: LiveServer) -> str:
    with client_for(server) as client:
        image_id = new_image(client, ALICE, visibility="private")
        up = client.put(f"/v2/images/{image_id}/file", content=SECRET, headers={**ALICE, **OCTET})
        assert up.status_code == 204
    return image_id


def _file_urls(server: LiveServer, image_id: str) -> list[str]:
    path = (server.data_dir / "images" / image_id).resolve()
    return [
        path.as_uri(),
        f"filesystem://{path}",
        f"FILE://{path}",
        f" {path.as_uri()}",
        f"file://localhost{path}",
        f"file://{path.parent}/../images/{image_id}",
    ]


def test_no_one_can_point_an_image_at_another_images_data(secure_server: StartServer) -> None:
    server = secure_server(*SHOWN)
    victim = _alice_image(server)
    with client_for(server) as client:
        for headers in (BOB, ADMIN):
            thief = new_image(client, headers)
            for url in _file_urls(server, victim):
                value = [{"url": url, "metadata": {}}]
                replaced = patch(
                    client, thief, headers, {"op": "replace", "path": "/locations", "value": value}
                )
                assert replaced.status_code == 400, (url, replaced.text)
                added = patch(
                    client, thief, headers,
                    {"op": "add", "path": "/locations/-", "value": {"url": url, "metadata": {}}},
                )  # fmt: skip
                assert added.status_code == 400, (url, added.text)
                posted = client.post(
                    f"/v2/images/{thief}/locations", json={"url": url}, headers=headers
                )
                assert posted.status_code in (400, 403), (url, posted.text)
            shown = client.get(f"/v2/images/{thief}", headers=headers).json()
            assert (shown["status"], shown["locations"]) == ("queued", [])
            assert client.get(f"/v2/images/{thief}/file", headers=headers).status_code == 204
            assert client.delete(f"/v2/images/{thief}", headers=headers).status_code == 204
        mine = client.get(f"/v2/images/{victim}/file", headers=ALICE)
        assert (mine.status_code, mine.content) == (200, SECRET)


def test_deleting_an_image_keeps_data_another_image_refers_to(
    secure_server: StartServer,
) -> None:
    server = secure_server(*SHOWN)
    victim = _alice_image(server)
    data = server.data_dir / "images" / victim
    with client_for(server) as client:
        other = new_image(client, BOB)
        add_location_row(server, other, data.resolve().as_uri())
        assert client.delete(f"/v2/images/{other}", headers=BOB).status_code == 204
        assert data.read_bytes() == SECRET
        mine = client.get(f"/v2/images/{victim}/file", headers=ALICE)
        assert (mine.status_code, mine.content) == (200, SECRET)

        sharer = new_image(client, ALICE)
        add_location_row(server, sharer, data.resolve().as_uri())
        assert client.delete(f"/v2/images/{victim}", headers=ALICE).status_code == 204
        assert data.read_bytes() == SECRET  # ``sharer`` still refers to it
        assert client.delete(f"/v2/images/{sharer}", headers=ALICE).status_code == 204
        assert not data.exists()  # the last reference went, and the data with it


def test_get_image_location_policy_hides_locations(
    secure_server: StartServer, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text('"get_image_location": "role:admin"\n"set_image_location": "role:admin"\n')
    server = secure_server(*SHOWN, "[oslo_policy]", f"policy_file = {policy}")
    image_id = _alice_image(server)
    with client_for(server) as client:
        shared = {"op": "replace", "path": "/visibility", "value": "shared"}
        assert patch(client, image_id, ALICE, shared).status_code == 200
        member = {"member": "project-b"}
        assert client.post(f"/v2/images/{image_id}/members", json=member,
                           headers=ALICE).status_code == 200  # fmt: skip
        accept = {"status": "accepted"}
        assert client.put(f"/v2/images/{image_id}/members/project-b", json=accept,
                          headers=BOB).status_code == 200  # fmt: skip
        for headers in (ALICE, BOB):
            shown = client.get(f"/v2/images/{image_id}", headers=headers).json()
            assert shown["locations"] == []
            assert "direct_url" not in shown
            listed = client.get("/v2/images", headers=headers).json()["images"]
            [entry] = [i for i in listed if i["id"] == image_id]
            assert entry["locations"] == []
            assert "direct_url" not in entry
        seen = client.get(f"/v2/images/{image_id}", headers=ADMIN).json()
        assert len(seen["locations"]) == 1
        assert seen["direct_url"] == seen["locations"][0]["url"]
        url = seen["locations"][0]["url"]
        edit = {"op": "replace", "path": "/locations", "value": [{"url": url, "metadata": {}}]}
        assert patch(client, image_id, ALICE, edit).status_code == 403
        assert patch(client, image_id, ADMIN, edit).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "swift://account:user:s3cr3t@auth.example.com/v3/container/object",
        "swift+https://account:user:s3/cr3t@auth.example.com/v3/container/object",
        "s3://AKIAEXAMPLE:s3cr3t/key@s3.example.com/bucket/object",
        "http://user:s3cr3t@images.example.com/disk.img",
    ],
)
def test_credentials_in_locations_are_never_shown(secure_server: StartServer, url: str) -> None:
    server = secure_server(*SHOWN)
    with client_for(server) as client:
        image_id = new_image(client, ALICE)
        add_location_row(server, image_id, url)
        bodies = [
            client.get(f"/v2/images/{image_id}", headers=headers).text for headers in (ALICE, ADMIN)
        ]
        bodies.append(client.get("/v2/images", headers=ALICE).text)
        located = client.get(f"/v2/images/{image_id}/locations", headers=ADMIN)
        assert located.status_code == 200
        bodies.append(located.text)
        for body in bodies:
            assert "s3cr3t" not in body
            assert "cr3t" not in body
        shown = client.get(f"/v2/images/{image_id}", headers=ALICE).json()
        assert shown["locations"][0]["url"] == url.split("://")[0] + "://" + url.rsplit("@")[-1]
