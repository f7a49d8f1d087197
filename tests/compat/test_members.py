"""Image members (sharing) through ``glance``, ``openstack`` and openstacksdk.

In the default noauth mode every caller is an admin without a project, so one client plays
both sides: the owner (adding and removing members) and the member (accepting, rejecting).
The trusted-auth test at the end has two SDK connections, one per project, each sending its
identity headers.

``openstack`` resolves every project argument through Keystone before it touches the image
API (``image add project``, ``image remove project``, ``image set --accept --project``).
Without authentication its identity endpoint is ``--os-endpoint`` too, so the lookup would go
to the image server itself (``GET /v2/tenants/...``: 404 there, as from upstream Glance) and
the command stops with a bare ``CommandError``. Its runs therefore get one ``OS_*`` variable,
``OS_IDENTITY_ENDPOINT_OVERRIDE``, pointing at a tiny stand-in identity endpoint that knows
every project id. ``image set --accept`` without ``--project`` cannot work in noauth mode at
all: the client takes the caller's own project from a token it does not have.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.compat.conftest import Cli, MakeImage, property_table, table_rows, unique
from tests.server import LiveServer

if TYPE_CHECKING:
    from openstack.connection import Connection
    from openstack.image.v2._proxy import Proxy as ImageProxy

pytestmark = [
    pytest.mark.compat,
    # openstacksdk's own deprecations, as in test_openstacksdk.py; none is about this server.
    pytest.mark.filterwarnings("ignore:Support for InfluxDB:PendingDeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The _compute_attributes method:PendingDeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'service_type' parameter:PendingDeprecationWarning"),
    pytest.mark.filterwarnings(
        "ignore:The ignore_missing parameter of all find_:PendingDeprecationWarning"
    ),
]

FORMATS = ("--disk-format", "raw", "--container-format", "bare")
MEMBER_HEADER = ["Image ID", "Member ID", "Status"]


def held_members(
    client: httpx.Client, image_id: str, headers: dict[str, str] | None = None
) -> dict[str, str]:
    """``{member_id: status}`` as the server holds the image's members now."""
    response = client.get(f"/v2/images/{image_id}/members", headers=headers)
    assert response.status_code == 200, response.text
    members: list[dict[str, Any]] = response.json()["members"]
    assert all(m["image_id"] == image_id for m in members)
    return {m["member_id"]: m["status"] for m in members}


# --- a stand-in identity endpoint for ``openstack``'s project lookups ---------------------


@dataclasses.dataclass
class Identity:
    url: str
    paths: list[str]


class _IdentityHandler(BaseHTTPRequestHandler):
    """Keystone v3 just enough for ``find_project``: every project id exists."""

    paths: list[str]

    def do_GET(self) -> None:
        self.paths.append(self.path)
        path = self.path.split("?", 1)[0].rstrip("/")
        base = f"http://{self.headers['Host']}"
        body: dict[str, Any]
        if path in ("", "/v3"):
            link = {"rel": "self", "href": f"{base}/v3/"}
            body, status = {"version": {"id": "v3.14", "status": "stable", "links": [link]}}, 200
        elif path.startswith("/v3/projects/") and path.count("/") == 3:
            project = path.rsplit("/", 1)[1]
            body = {"project": {"id": project, "name": project, "domain_id": "default"}}
            status = 200
        else:
            body, status = {"error": {"code": 404, "message": "not here"}}, 404
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def identity() -> Iterator[Identity]:
    paths: list[str] = []
    handler = type("Handler", (_IdentityHandler,), {"paths": paths})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Identity(f"http://127.0.0.1:{server.server_port}", paths)
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def osc(openstack_cli: Cli, identity: Identity) -> Cli:
    """``openstack`` without authentication, resolving projects at the stand-in identity."""
    env = {**openstack_cli.env, "OS_IDENTITY_ENDPOINT_OVERRIDE": f"{identity.url}/v3"}
    return dataclasses.replace(openstack_cli, env=env)


def _json(cli: Cli, *args: str) -> Any:
    return json.loads(cli.run(*args, "-f", "json").stdout)


# --- glance ----------------------------------------------------------------------------


def test_glance_member_lifecycle(glance: Cli, client: httpx.Client, cleanup: list[str]) -> None:
    created = glance.run(
        "image-create", "--name", unique("glance-shared"), *FORMATS, "--visibility", "shared"
    )
    image_id = property_table(created.stdout)["id"]
    cleanup.append(image_id)
    first, second = unique("project"), unique("project")

    added = glance.run("member-create", image_id, first)
    assert table_rows(added.stdout) == [MEMBER_HEADER, [image_id, first, "pending"]]
    assert held_members(client, image_id) == {first: "pending"}
    glance.run("member-create", image_id, second)
    assert held_members(client, image_id) == {first: "pending", second: "pending"}

    listed = glance.run("member-list", "--image-id", image_id)
    rows = table_rows(listed.stdout)
    assert rows[0] == MEMBER_HEADER
    assert sorted(rows[1:]) == sorted([[image_id, first, "pending"], [image_id, second, "pending"]])

    updated = glance.run("member-update", image_id, first, "accepted")
    assert table_rows(updated.stdout)[1:] == [[image_id, first, "accepted"]]
    assert held_members(client, image_id) == {first: "accepted", second: "pending"}
    glance.run("member-update", image_id, second, "rejected")
    assert held_members(client, image_id) == {first: "accepted", second: "rejected"}

    shown = property_table(glance.run("member-get", image_id, first).stdout)
    assert (shown["image_id"], shown["member_id"], shown["status"]) == (
        image_id,
        first,
        "accepted",
    )

    glance.run("member-delete", image_id, first)
    assert held_members(client, image_id) == {second: "rejected"}
    glance.run("member-delete", image_id, second)
    assert held_members(client, image_id) == {}
    assert table_rows(glance.run("member-list", "--image-id", image_id).stdout) == [MEMBER_HEADER]


def test_glance_member_refusals(glance: Cli, client: httpx.Client, make_image: MakeImage) -> None:
    private = make_image(visibility="private")["id"]
    refused = glance.run("member-create", private, "someone", check=False)
    assert refused.returncode == 1, refused.stderr[-2000:]
    assert "HTTP 403 Forbidden" in refused.stderr
    assert "Only shared images have members." in refused.stderr
    assert client.get(f"/v2/images/{private}/members").status_code == 403

    shared = make_image(visibility="shared")["id"]
    project = unique("project")
    glance.run("member-create", shared, project)
    twice = glance.run("member-create", shared, project, check=False)
    assert twice.returncode == 1, twice.stderr[-2000:]
    assert "HTTP 409 Conflict" in twice.stderr
    assert "already exists" in twice.stderr
    assert held_members(client, shared) == {project: "pending"}


# --- openstack -------------------------------------------------------------------------


def test_openstack_member_lifecycle(
    osc: Cli, identity: Identity, client: httpx.Client, cleanup: list[str]
) -> None:
    created = _json(osc, "image", "create", *FORMATS, "--shared", unique("osc-shared"))
    image_id = created["id"]
    cleanup.append(image_id)
    assert created["visibility"] == "shared"
    project = unique("project")

    added = _json(osc, "image", "add", "project", image_id, project)
    assert (added["image_id"], added["member_id"], added["status"]) == (
        image_id,
        project,
        "pending",
    )
    assert f"/v3/projects/{project}" in identity.paths
    assert held_members(client, image_id) == {project: "pending"}

    listed = _json(osc, "image", "member", "list", image_id)
    assert listed == [{"Image ID": image_id, "Member ID": project, "Status": "pending"}]

    for flag, status in (
        ("--accept", "accepted"),
        ("--reject", "rejected"),
        ("--pending", "pending"),
    ):
        osc.run("image", "set", flag, "--project", project, image_id)
        assert held_members(client, image_id) == {project: status}
    osc.run("image", "set", "--accept", "--project", project, image_id)
    assert held_members(client, image_id) == {project: "accepted"}

    osc.run("image", "remove", "project", image_id, project)
    assert held_members(client, image_id) == {}
    assert _json(osc, "image", "member", "list", image_id) == []


def test_openstack_member_refusals(osc: Cli, client: httpx.Client, make_image: MakeImage) -> None:
    private = make_image(visibility="private")["id"]
    refused = osc.run("image", "add", "project", private, "someone", check=False)
    assert refused.returncode == 1, refused.stderr[-2000:]
    assert "ForbiddenException: 403" in refused.stderr
    assert f"/v2/images/{private}/members" in refused.stderr

    shared = make_image(visibility="shared")["id"]
    project = unique("project")
    osc.run("image", "add", "project", shared, project)
    twice = osc.run("image", "add", "project", shared, project, check=False)
    assert twice.returncode == 1, twice.stderr[-2000:]
    assert "ConflictException: 409" in twice.stderr
    assert held_members(client, shared) == {project: "pending"}


# --- openstacksdk ----------------------------------------------------------------------


Connect = Callable[..., "ImageProxy"]


@pytest.fixture(scope="module")
def connect(_clean_environ: None) -> Iterator[Connect]:
    """Open SDK connections to a server, each with its own extra request headers;
    hand back each one's image proxy (``conn.image``)."""
    openstack = pytest.importorskip("openstack", reason="openstacksdk is not installed")
    from openstack.image.v2._proxy import Proxy as V2Proxy

    opened: list[Connection] = []

    def open_connection(url: str, headers: dict[str, str] | None = None) -> ImageProxy:
        connection: Connection = openstack.connect(
            auth_type="none",
            image_endpoint_override=url,
            load_yaml_config=False,
            load_envvars=False,
        )
        opened.append(connection)
        # Every request of this connection's keystoneauth session carries these.
        connection.session.additional_headers.update(headers or {})
        proxy = connection.image
        assert isinstance(proxy, V2Proxy)
        return proxy

    yield open_connection
    for connection in opened:
        connection.close()


@pytest.fixture(scope="module")
def images(connect: Connect, live_server: LiveServer) -> ImageProxy:
    return connect(live_server.url)


def test_sdk_member_lifecycle(images: ImageProxy, client: httpx.Client, cleanup: list[str]) -> None:
    from openstack import exceptions as sdk_exceptions

    image = images.create_image(
        unique("sdk-shared"),
        disk_format="raw",
        container_format="bare",
        visibility="shared",
        allow_duplicates=True,
    )
    cleanup.append(image.id)
    assert image.visibility == "shared"
    project = unique("project")

    added = images.add_member(image, member_id=project)
    assert (added.member_id, added.image_id, added.status) == (project, image.id, "pending")
    assert held_members(client, image.id) == {project: "pending"}

    listed = [(m.member_id, m.image_id, m.status) for m in images.members(image)]
    assert listed == [(project, image.id, "pending")]

    updated = images.update_member(project, image, status="accepted")
    assert (updated.member_id, updated.status) == (project, "accepted")
    assert held_members(client, image.id) == {project: "accepted"}

    fetched = images.get_member(project, image)
    assert (fetched.member_id, fetched.image_id, fetched.status) == (project, image.id, "accepted")
    found = images.find_member(project, image, ignore_missing=False)
    assert found.status == "accepted"

    images.update_member(project, image.id, status="rejected")
    assert held_members(client, image.id) == {project: "rejected"}

    images.remove_member(project, image, ignore_missing=False)
    assert held_members(client, image.id) == {}
    assert list(images.members(image)) == []
    with pytest.raises(sdk_exceptions.NotFoundException):
        images.get_member(project, image)
    with pytest.raises(sdk_exceptions.NotFoundException):
        images.remove_member(project, image, ignore_missing=False)
    images.remove_member(project, image)  # ignore_missing=True by default


def test_sdk_member_refusals(
    images: ImageProxy, client: httpx.Client, make_image: MakeImage
) -> None:
    from openstack import exceptions as sdk_exceptions

    private = make_image(visibility="private")["id"]
    with pytest.raises(sdk_exceptions.ForbiddenException) as refused:
        images.add_member(private, member_id="someone")
    assert refused.value.status_code == 403

    shared = make_image(visibility="shared")["id"]
    project = unique("project")
    images.add_member(shared, member_id=project)
    with pytest.raises(sdk_exceptions.ConflictException) as twice:
        images.add_member(shared, member_id=project)
    assert twice.value.status_code == 409
    assert held_members(client, shared) == {project: "pending"}


def _identity(project: str) -> dict[str, str]:
    return {"X-Identity-Status": "Confirmed", "X-Project-Id": project, "X-Roles": "member,reader"}


def test_sdk_sharing_between_projects_with_trusted_headers(
    connect: Connect, server_factory: Callable[..., LiveServer]
) -> None:
    """The owner project shares, the member project accepts: two connections, two identities."""
    from openstack import exceptions as sdk_exceptions

    server = server_factory("[paste_deploy]", "flavor = trusted-auth")
    owner_headers, member_headers = _identity("p1"), _identity("p2")
    owner = connect(server.url, owner_headers)
    member = connect(server.url, member_headers)
    outsider = connect(server.url, _identity("p3"))

    image = owner.create_image(
        unique("sdk-trusted"),
        disk_format="raw",
        container_format="bare",
        visibility="shared",
        allow_duplicates=True,
    )
    assert image.owner == "p1"
    assert image.id not in {i.id for i in member.images(member_status="all")}

    added = owner.add_member(image, member_id="p2")
    assert added.status == "pending"
    assert image.id not in {i.id for i in member.images()}
    assert image.id in {i.id for i in member.images(member_status="pending")}
    # Only the member may answer for itself, not the owner.
    with pytest.raises(sdk_exceptions.ForbiddenException):
        owner.update_member("p2", image, status="accepted")

    accepted = member.update_member("p2", image.id, status="accepted")
    assert accepted.status == "accepted"
    assert image.id in {i.id for i in member.images()}
    assert member.get_image(image.id).id == image.id
    assert member.get_member("p2", image.id).status == "accepted"
    assert [(m.member_id, m.status) for m in owner.members(image)] == [("p2", "accepted")]

    with pytest.raises(sdk_exceptions.NotFoundException):
        outsider.get_member("p2", image.id)
    assert image.id not in {i.id for i in outsider.images(member_status="all")}

    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        assert held_members(client, image.id, owner_headers) == {"p2": "accepted"}
        assert held_members(client, image.id, member_headers) == {"p2": "accepted"}
        assert client.get(f"/v2/images/{image.id}/members").status_code == 401
