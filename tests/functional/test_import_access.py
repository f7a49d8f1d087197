"""Who may do what with imports and tasks (trusted-auth identities): the tasks API is
for administrators, an image's tasks for whoever sees the image, and imports into
another project's image are refused."""

from __future__ import annotations

import time
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


def test_a_legacy_task_creates_its_image_as_its_caller(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    """With the tasks API opened to members, a task's image_properties cannot do
    what its caller may not: make a public image, or one owned by another project."""
    policy = tmp_path / "policy.yaml"
    policy.write_text('"tasks_api_access": "role:member"\n')
    server = server_factory(
        f"node_staging_uri = file://{tmp_path}/staging",
        "[paste_deploy]",
        "flavor = trusted-auth",
        "[oslo_policy]",
        f"policy_file = {policy}",
    )
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as api:
        api.headers.update(ALICE)
        for properties in ({"visibility": "public"}, {"owner": "bob"}):
            task = {
                "type": "import",
                "input": {
                    "import_from": "http://127.0.0.1/image.raw",
                    "import_from_format": "raw",
                    "image_properties": {
                        "name": "t", "disk_format": "raw", "container_format": "bare",
                        **properties,
                    },
                },
            }  # fmt: skip
            created = api.post("/v2/tasks", json=task)
            assert created.status_code == 201, created.text
            deadline = time.monotonic() + 30
            shown = created.json()
            while shown["status"] in ("pending", "processing") and time.monotonic() < deadline:
                time.sleep(0.2)
                shown = api.get(f"/v2/tasks/{shown['id']}").json()
            assert shown["status"] == "failure"
            assert "authorized" in shown["message"] or "permitted" in shown["message"], shown
        everything = api.get("/v2/images", headers=ADMIN).json()["images"]
        assert everything == []
