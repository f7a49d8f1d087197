"""Who may do what with imports and tasks (trusted-auth identities): the tasks API is
for administrators, an image's tasks for whoever sees the image, and imports into
another project's image are refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from tests.functional.helpers import OCTET, create
from tests.functional.test_import import DATA, wait_for
from tests.server import LiveServer


def who(project: str, roles: str) -> dict[str, str]:
    return {"X-Identity-Status": "Confirmed", "X-Project-Id": project, "X-Roles": roles}


ADMIN = who("admins", "admin,member,reader")
ALICE = who("alice", "member,reader")
BOB = who("bob", "member,reader")


def test_tasks_and_imports_respect_projects(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = server_factory(
        f"node_staging_uri = file://{tmp_path}/staging", "[paste_deploy]", "flavor = trusted-auth"
    )
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as api:
        api.headers.update(ALICE)
        image_id = create(api, name="a", disk_format="raw", container_format="bare")["id"]
        as_bob = {**OCTET, **BOB}
        assert (
            api.put(f"/v2/images/{image_id}/stage", content=DATA, headers=as_bob).status_code == 404
        )
        assert (
            api.put(f"/v2/images/{image_id}/stage", content=DATA, headers=OCTET).status_code == 204
        )
        body = {"method": {"name": "glance-direct"}}
        assert api.post(f"/v2/images/{image_id}/import", json=body, headers=BOB).status_code == 404
        assert api.post(f"/v2/images/{image_id}/import", json=body).status_code == 202
        wait_for(api, image_id, "active")
        mine = api.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
        assert [t["owner"] for t in mine] == ["alice"]
        assert "spyglass_roles" not in mine[0]["input"]
        assert api.get(f"/v2/images/{image_id}/tasks", headers=BOB).status_code == 404
        assert api.get("/v2/tasks").status_code == 403
        assert api.get(f"/v2/tasks/{mine[0]['id']}").status_code == 403
        legacy = {"type": "import", "input": {}}
        assert api.post("/v2/tasks", json=legacy).status_code == 403
        listed = api.get("/v2/tasks", headers=ADMIN).json()["tasks"]
        assert [t["id"] for t in listed] == [mine[0]["id"]]
        copy = {"method": {"name": "copy-image"}}
        assert api.post(f"/v2/images/{image_id}/import", json=copy).status_code == 403
