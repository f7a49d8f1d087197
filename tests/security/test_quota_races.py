"""Quotas hold under parallel requests: ``user_storage_quota`` across concurrent
uploads (defect 2) and ``image_member_quota`` across concurrent member adds
(defect 6). Real concurrent requests, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.security.conftest import ALICE, StartServer, client_for
from tests.security.helpers import OCTET, Call, new_image, together

MIB = 1024 * 1024
UPLOADS = 4


def _chunks(size: int) -> Iterator[bytes]:
    for _ in range(size // (256 * 1024)):
        yield b"q" * (256 * 1024)


@pytest.mark.parametrize("sized", [True, False], ids=["content-length", "chunked"])
def test_parallel_uploads_stay_within_the_storage_quota(
    race_server: StartServer, sized: bool
) -> None:
    server = race_server("user_storage_quota = 10MB")
    with client_for(server) as client:
        ids = [new_image(client, ALICE) for _ in range(UPLOADS)]

    def upload(image_id: str) -> Call:
        def call(http: httpx.Client) -> int:
            body = b"q" * 8 * MIB if sized else _chunks(8 * MIB)
            url = f"/v2/images/{image_id}/file"
            return http.put(url, content=body, headers={**ALICE, **OCTET}).status_code

        return call

    statuses = together(server, [upload(i) for i in ids])
    assert sorted(statuses) == [204] + [413] * (UPLOADS - 1)
    with client_for(server) as client:
        images = [client.get(f"/v2/images/{i}", headers=ALICE).json() for i in ids]
        usage = client.get("/v2/info/usage", headers=ALICE).json()["usage"]
    assert sum(i["size"] or 0 for i in images if i["status"] == "active") <= 10 * MIB
    assert sorted(i["status"] for i in images) == ["active"] + ["queued"] * (UPLOADS - 1)
    assert usage["image_size_total"]["usage"] <= 10
    kept = [p.name for p in (server.data_dir / "images").iterdir()]
    assert kept == [i["id"] for i in images if i["status"] == "active"]


def test_a_finished_upload_frees_its_reservation(race_server: StartServer) -> None:
    server = race_server("user_storage_quota = 10MB")
    with client_for(server) as client:
        first, second = new_image(client, ALICE), new_image(client, ALICE)
        url = f"/v2/images/{first}/file"
        up = client.put(url, content=_chunks(4 * MIB), headers={**ALICE, **OCTET})
        assert up.status_code == 204
        # the first reserved a step ahead while streaming; only its 4 MiB count now
        url = f"/v2/images/{second}/file"
        up = client.put(url, content=_chunks(6 * MIB), headers={**ALICE, **OCTET})
        assert up.status_code == 204
        third = new_image(client, ALICE)
        url = f"/v2/images/{third}/file"
        assert client.put(url, content=b"x", headers={**ALICE, **OCTET}).status_code == 413


def test_parallel_member_adds_stay_within_the_member_quota(race_server: StartServer) -> None:
    server = race_server("image_member_quota = 2")
    with client_for(server) as client:
        image_id = new_image(client, ALICE, visibility="shared")

    def add(n: int) -> Call:
        def call(http: httpx.Client) -> int:
            body = {"member": f"project-{n}"}
            return http.post(f"/v2/images/{image_id}/members", json=body, headers=ALICE).status_code

        return call

    statuses = together(server, [add(n) for n in range(8)])
    assert sorted(statuses) == [200, 200] + [413] * 6
    with client_for(server) as client:
        members = client.get(f"/v2/images/{image_id}/members", headers=ALICE).json()["members"]
    assert len(members) == 2
