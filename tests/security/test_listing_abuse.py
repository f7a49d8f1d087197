"""Listing abuse: repeated sort keys behind a marker, and markers naming hidden images."""

from __future__ import annotations

import time

from tests.functional.helpers import create
from tests.security.conftest import ALICE, BOB, StartServer, caller, client_for

Params = list[tuple[str, str | int | float | bool | None]]


def test_repeated_sort_keys_are_refused_at_once(race_server: StartServer) -> None:
    """Hundreds of ``sort_key=name`` behind a marker built a WHERE clause quadratic in their
    number (200 took 4 s, 3,000 took the server's CPU and memory); without a marker a few
    thousand overflowed the database's ORDER BY (a 500)."""
    server = race_server()
    with client_for(server) as client:
        client.headers.update(ALICE)
        first = create(client, name="a", disk_format="raw", container_format="bare")
        create(client, name="b", disk_format="raw", container_format="bare")
        cases: list[Params] = [
            [("sort_key", "name")] * 200 + [("marker", first["id"])],
            [("sort", ",".join(["name:asc"] * 200)), ("marker", first["id"])],
            [("sort_key", "name")] * 1000,
        ]
        for params in cases:
            started = time.monotonic()
            response = client.get("/v2/images", params=params)
            assert time.monotonic() - started < 2
            assert response.status_code == 400, response.text[:300]
            assert "sort keys" in response.text


def test_duplicate_sort_keys_count_once(secure_server: StartServer) -> None:
    """A few repeats are accepted, as upstream does, and sort like the key given once."""
    server = secure_server()
    with client_for(server) as client:
        client.headers.update(ALICE)
        made = [
            create(client, name=name, disk_format="raw", container_format="bare")
            for name in ("c", "a", "b")
        ]
        by_name = sorted(made, key=lambda i: str(i["name"]))
        params = [("sort_key", "name")] * 5 + [("sort_key", "size")] * 3
        params += [("sort_dir", "asc")] * 8 + [("limit", "1")]
        ids: list[str] = []
        marker = None
        for _ in range(4):
            page = client.get(
                "/v2/images", params=[*params, *([("marker", marker)] if marker else [])]
            )
            assert page.status_code == 200, page.text
            found = page.json()["images"]
            if not found:
                break
            ids.extend(i["id"] for i in found)
            marker = found[-1]["id"]
        assert ids == [i["id"] for i in by_name]


def test_a_marker_the_caller_cannot_see_is_unknown(secure_server: StartServer) -> None:
    """Paging from another project's private image leaked its sort values (name, size...)."""
    server = secure_server()
    with client_for(server) as alice, client_for(server) as bob:
        alice.headers.update(ALICE)
        bob.headers.update(BOB)
        hidden = create(bob, name="secret-name", disk_format="raw", container_format="bare")
        create(alice, name="mine", disk_format="raw", container_format="bare")
        unknown = "00000000-0000-4000-8000-000000000000"
        refused = alice.get("/v2/images", params={"marker": unknown, "sort_key": "name"})
        assert refused.status_code == 400
        for sort_key in ("name", "status", "size", "created_at"):
            response = alice.get(
                "/v2/images", params={"marker": hidden["id"], "sort_key": sort_key}
            )
            assert response.status_code == 400, response.text[:300]
            assert response.text == refused.text.replace(unknown, hidden["id"])
        # the owner pages from it as before
        assert bob.get("/v2/images", params={"marker": hidden["id"]}).status_code == 200


def test_markers_the_caller_can_see_still_page(secure_server: StartServer) -> None:
    """Public, community and shared images (any member status) stay valid markers."""
    server = secure_server()
    admin_headers = caller("admin-project", "admin,member,reader")
    with client_for(server) as alice, client_for(server) as bob, client_for(server) as admin:
        alice.headers.update(ALICE)
        bob.headers.update(BOB)
        admin.headers.update(admin_headers)
        public = create(admin, name="p", visibility="public", disk_format="raw",
                        container_format="bare")  # fmt: skip
        community = create(bob, name="c", visibility="community", disk_format="raw",
                           container_format="bare")  # fmt: skip
        shared = create(bob, name="s", visibility="shared", disk_format="raw",
                        container_format="bare")  # fmt: skip
        added = bob.post(
            f"/v2/images/{shared['id']}/members", json={"member": ALICE["X-Project-Id"]}
        )
        assert added.status_code == 200, added.text
        for image in (public, community, shared):
            response = alice.get("/v2/images", params={"marker": image["id"]})
            assert response.status_code == 200, (image["name"], response.text[:300])
        # an administrator sees everything, so every image is a marker for it
        assert admin.get("/v2/images", params={"marker": shared["id"]}).status_code == 200
