"""Lost updates (defect 5): every read-modify-write of an image is atomic, so
parallel tag and property changes all survive, and a member's parallel edits
never undo an admin's change to a protected property. Real concurrent requests
against a real server, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.security.conftest import ADMIN, ALICE, StartServer, client_for
from tests.security.helpers import Call, new_image, patch, together

PARALLEL = 8


def test_parallel_tag_adds_all_survive(race_server: StartServer) -> None:
    server = race_server()
    with client_for(server) as client:
        image_id = new_image(client, ALICE)

    def tag(n: int) -> Call:
        def call(http: httpx.Client) -> int:
            return http.put(f"/v2/images/{image_id}/tags/t{n}", headers=ALICE).status_code

        return call

    statuses = together(server, [tag(n) for n in range(PARALLEL)])
    assert statuses == [204] * PARALLEL
    with client_for(server) as client:
        tags = client.get(f"/v2/images/{image_id}", headers=ALICE).json()["tags"]
    assert sorted(tags) == sorted(f"t{n}" for n in range(PARALLEL))


def test_parallel_property_adds_all_survive(race_server: StartServer) -> None:
    server = race_server()
    with client_for(server) as client:
        image_id = new_image(client, ALICE)

    def add(n: int) -> Call:
        def call(http: httpx.Client) -> int:
            op = {"op": "add", "path": f"/p{n}", "value": str(n)}
            return patch(http, image_id, ALICE, op).status_code

        return call

    statuses = together(server, [add(n) for n in range(PARALLEL)])
    assert statuses == [200] * PARALLEL
    with client_for(server) as client:
        shown = client.get(f"/v2/images/{image_id}", headers=ALICE).json()
    assert {f"p{n}": str(n) for n in range(PARALLEL)}.items() <= shown.items()


PROTECTIONS = """\
[^x_admin_only$]
create = admin
read = admin,member
update = admin
delete = admin

[.*]
create = admin,member
read = admin,member
update = admin,member
delete = admin,member
"""


def test_member_edits_never_undo_an_admins_protected_change(
    race_server: StartServer, tmp_path: Path
) -> None:
    rules = tmp_path / "protections.conf"
    rules.write_text(PROTECTIONS)
    server = race_server(f"property_protection_file = {rules}")
    for trial in range(4):
        with client_for(server) as client:
            image_id = new_image(client, ADMIN, owner="project-a", x_admin_only="before")
        calls = [_edit(image_id, ALICE, f"/m{n}", "add", "x") for n in range(PARALLEL - 1)]
        calls.insert(
            PARALLEL // 2, _edit(image_id, ADMIN, "/x_admin_only", "replace", f"after-{trial}")
        )
        statuses = together(server, calls)
        assert statuses == [200] * PARALLEL
        with client_for(server) as client:
            shown = client.get(f"/v2/images/{image_id}", headers=ADMIN).json()
        assert shown["x_admin_only"] == f"after-{trial}"
        assert all(shown[f"m{n}"] == "x" for n in range(PARALLEL - 1))


def _edit(image_id: str, headers: dict[str, str], path: str, op: str, value: str) -> Call:
    def call(http: httpx.Client) -> int:
        return patch(http, image_id, headers, {"op": op, "path": path, "value": value}).status_code

    return call
