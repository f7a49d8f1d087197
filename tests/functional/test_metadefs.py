"""The metadata definitions catalog over a real socket, as four kinds of caller.

Identity comes from trusted proxy headers: an admin, a member of the owning
project ``p1``, a member of another project ``p2``, and a reader-only user of
``p1``. Upstream's default rules: admins write; readers read public namespaces
and their own project's; what a caller cannot see is 404, what it sees but may
not change is 403.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.server import LiveServer


def _headers(project: str, roles: str) -> dict[str, str]:
    return {
        "X-Identity-Status": "Confirmed",
        "X-Project-Id": project,
        "X-User-Id": f"user-{project}",
        "X-Roles": roles,
        "Accept": "application/json",
    }


ADMIN = _headers("admin-project", "admin,member,reader")
OWNER = _headers("p1", "member,reader")
OTHER = _headers("p2", "member,reader")
READER = _headers("p1", "reader")
NS = "/v2/metadefs/namespaces"


@pytest.fixture(scope="module")
def server(metadata_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("metadefs"), ["[paste_deploy]", "flavor = trusted-auth"]
    ).start()
    yield live
    live.stop()


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False, headers=ADMIN) as http:
        yield http


def _name(prefix: str = "OS::Test") -> str:
    return f"{prefix}::{uuid.uuid4().hex[:10]}"


def _create(api: httpx.Client, **body: Any) -> dict[str, Any]:
    body.setdefault("namespace", _name())
    response = api.post(NS, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_every_schema_has_upstreams_name_for_every_caller(api: httpx.Client) -> None:
    names = {
        "namespace": "namespace",
        "namespaces": "namespaces",
        "object": "object",
        "objects": "objects",
        "property": "property",
        "properties": "properties",
        "tag": "tag",
        "tags": "tags",
        "resource_type": "resource_type_association",
        "resource_types": "resource_type_associations",
    }
    for caller in (ADMIN, READER, OTHER):
        for path, name in names.items():
            response = api.get(f"/v2/schemas/metadefs/{path}", headers=caller)
            assert response.status_code == 200, path
            assert response.json()["name"] == name
    namespaces = api.get("/v2/schemas/metadefs/namespaces").json()
    assert [link["rel"] for link in namespaces["links"]] == ["first", "next", "describedby"]
    assert "property" in namespaces["definitions"]
    assert "definitions" not in namespaces["properties"]["namespaces"]["items"]
    properties = api.get("/v2/schemas/metadefs/properties").json()
    item = properties["properties"]["properties"]["additionalProperties"]
    assert item["required"] == ["type", "title"]
    assert api.get("/v2/schemas/metadefs/property").json()["required"] == ["type", "title", "name"]
    assert api.post("/v2/schemas/metadefs/tag").status_code == 405


def test_namespace_lifecycle_as_admin(api: httpx.Client) -> None:
    """Tempest's basic namespace test, plus nested content made in one request."""
    name = _name()
    body = {
        "namespace": name,
        "display_name": "Test namespace",
        "description": "Tempest",
        "visibility": "public",
        "protected": True,
        "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "hw_"}],
        "properties": {"cpu_policy": {"title": "CPU policy", "type": "string", "enum": ["a"]}},
        "objects": [
            {
                "name": "Limits",
                "required": ["quota"],
                "properties": {"quota": {"title": "Q", "type": "integer"}},
            }
        ],
        "tags": [{"name": "fast"}],
    }
    created = api.post(NS, json=body)
    assert created.status_code == 201, created.text
    assert created.headers["location"].endswith(f"{NS}/{name}")
    assert created.json()["owner"] == "admin-project"
    assert name in [n["namespace"] for n in api.get(NS).json()["namespaces"]]
    shown = api.get(f"{NS}/{name}").json()
    assert shown["visibility"] == "public"
    assert shown["properties"]["cpu_policy"]["title"] == "CPU policy"
    assert shown["objects"][0]["required"] == ["quota"]
    assert shown["tags"] == [{"name": "fast"}]
    prefixed = api.get(f"{NS}/{name}", params={"resource_type": "OS::Glance::Image"}).json()
    assert list(prefixed["properties"]) == ["hw_cpu_policy"]
    assert prefixed["objects"][0]["required"] == ["hw_quota"]
    assert list(prefixed["objects"][0]["properties"]) == ["hw_quota"]
    assert api.delete(f"{NS}/{name}").status_code == 403  # protected, even for admins
    for kind in ("objects", "properties", "tags"):
        assert api.delete(f"{NS}/{name}/{kind}").status_code == 403
    assert api.delete(f"{NS}/{name}/resource_types/OS::Glance::Image").status_code == 403
    update = {
        "namespace": name,
        "description": "Tempest",
        "visibility": "private",
        "display_name": "Test namespace",
        "protected": False,
    }
    updated = api.put(f"{NS}/{name}", json=update)
    assert updated.status_code == 200, updated.text
    assert updated.json()["visibility"] == "private"
    assert updated.json()["protected"] is False
    assert "properties" not in updated.json()
    deleted = api.delete(f"{NS}/{name}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert api.get(f"{NS}/{name}").status_code == 404


def test_create_is_atomic_and_duplicates_are_409(api: httpx.Client) -> None:
    name = _name()
    clash = api.post(NS, json={"namespace": name, "tags": [{"name": "a"}, {"name": "a"}]})
    assert clash.status_code == 409
    assert api.get(f"{NS}/{name}").status_code == 404
    protected = {"namespace": name, "protected": True, "objects": [{"name": "o"}, {"name": "o"}]}
    assert api.post(NS, json=protected).status_code == 409
    assert api.get(f"{NS}/{name}").status_code == 404
    _create(api, namespace=name)
    assert api.post(NS, json={"namespace": name}).status_code == 409
    other = _create(api)["namespace"]
    assert api.put(f"{NS}/{other}", json={"namespace": name}).status_code == 409
    renamed = api.put(f"{NS}/{other}", json={"namespace": other + "-new"})
    assert renamed.status_code == 200
    assert api.get(f"{NS}/{other}-new").status_code == 200
    for gone in (name, other + "-new"):
        assert api.delete(f"{NS}/{gone}").status_code == 204


def test_bad_input_has_upstreams_status_codes(api: httpx.Client) -> None:
    name = _create(api)["namespace"]
    cases: list[tuple[str, str, Any, int]] = [
        ("POST", NS, {"namespace": "x" * 81}, 400),
        ("POST", NS, {"namespace": _name(), "description": "d" * 501}, 400),
        ("POST", NS, {"namespace": _name(), "visibility": "shared"}, 400),
        ("POST", NS, {"namespace": _name(), "created_at": "2020-01-01T00:00:00Z"}, 403),
        ("POST", NS, {"namespace": _name(), "self": "/x"}, 403),
        ("POST", NS, {"namespace": "\U0001f600" + _name()}, 400),
        ("POST", NS, {"display_name": "no namespace"}, 400),
        ("POST", NS, ["not", "an", "object"], 400),
        (
            "POST",
            NS,
            {"namespace": _name(), "properties": {"p": {"title": "P", "type": "str"}}},
            400,
        ),
        (
            "POST",
            NS,
            {
                "namespace": _name(),
                "properties": {"p": {"title": "P", "type": "string", "bogus": 1}},
            },
            400,
        ),
        ("POST", f"{NS}/{name}/properties", {"name": "p", "title": "P", "type": "float"}, 400),
        ("POST", f"{NS}/{name}/properties", {"name": "p", "type": "string"}, 400),
        (
            "POST",
            f"{NS}/{name}/properties",
            {"name": "p", "title": "P", "type": "string", "minLength": -1},
            400,
        ),
        (
            "POST",
            f"{NS}/{name}/properties",
            {"name": "p", "title": "P", "type": "string", "unknown": 1},
            400,
        ),
        (
            "POST",
            f"{NS}/{name}/properties",
            {"name": "p" * 81, "title": "P", "type": "string"},
            400,
        ),
        ("POST", f"{NS}/{name}/objects", {"name": "o" * 81}, 400),
        (
            "POST",
            f"{NS}/{name}/objects",
            {"name": "o", "properties": {"p": {"title": "P", "type": "string", "x": 1}}},
            400,
        ),
        ("POST", f"{NS}/{name}/objects", {"name": "o", "updated_at": "2020-01-01T00:00:00Z"}, 403),
        ("POST", f"{NS}/{name}/tags/{'t' * 81}", None, 400),
        ("POST", f"{NS}/{name}/tags", {"tags": [{"name": "t", "extra": 1}]}, 400),
        ("POST", f"{NS}/{name}/tags", {"not_tags": []}, 400),
        ("POST", f"{NS}/{name}/resource_types", {"name": "r" * 81}, 400),
        ("POST", f"{NS}/{name}/resource_types", {"prefix": "no_name_"}, 400),
        ("POST", f"{NS}/missing-{name}/objects", {"name": "o"}, 404),
        ("PUT", f"{NS}/{name}/objects/missing", {"name": "missing"}, 404),
        ("DELETE", f"{NS}/{name}/properties/missing", None, 404),
        ("DELETE", f"{NS}/{name}/resource_types/OS::Nowhere", None, 404),
    ]
    for method, path, body, status in cases:
        response = api.request(method, path, json=body)
        assert response.status_code == status, (method, path, body, response.text)
    assert (
        api.post(NS, content=b"{not json", headers={"Content-Type": "application/json"}).status_code
        == 400
    )
    assert api.request("GET", f"{NS}/{name}", content=b"{}").status_code == 400
    for query, status in [
        ({"limit": "-1"}, 400),
        ({"limit": "ten"}, 400),
        ({"sort_dir": "up"}, 400),
        ({"sort_key": "nonsense"}, 400),
        ({"visibility": "shared"}, 400),
        ({"marker": "no-such-namespace"}, 404),
    ]:
        assert api.get(NS, params=query).status_code == status, query
    assert api.get(f"{NS}/{name}/objects", params={"limit": "0"}).status_code == 400
    assert api.get(f"{NS}/{name}/tags", params={"limit": "-2"}).status_code == 400
    assert api.get(f"{NS}/{name}/tags", params={"marker": "nope"}).status_code == 404
    not_allowed = api.patch(f"{NS}/{name}", json={})
    assert not_allowed.status_code == 405
    assert not_allowed.headers["allow"] == "GET, PUT, DELETE"
    assert api.get(f"{NS}/{name}/resource_types/x").headers["allow"] == "DELETE"
    assert api.delete(f"{NS}/{name}").status_code == 204


def test_objects(api: httpx.Client) -> None:
    name = _create(api)["namespace"]
    base = f"{NS}/{name}/objects"
    obj = {
        "name": "CPU Limits",
        "description": "d",
        "required": ["quota"],
        "properties": {
            "quota": {"title": "Quota", "type": "integer", "minimum": 1.7, "default": 4}
        },
    }
    created = api.post(base, json=obj)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["self"] == f"{base}/CPU Limits"
    assert body["properties"]["quota"] == {
        "title": "Quota",
        "type": "integer",
        "minimum": 1,
        "default": "4",
    }
    assert api.post(base, json={"name": "CPU Limits"}).status_code == 409
    assert api.post(base, json={"name": "Other"}).status_code == 201
    listed = api.get(base).json()
    assert listed["schema"] == "v2/schemas/metadefs/objects"
    assert [o["name"] for o in listed["objects"]] == ["CPU Limits", "Other"]
    shown = api.get(f"{base}/CPU Limits").json()
    assert shown["required"] == ["quota"]
    bare = api.get(f"{base}/Other").json()
    assert bare["required"] == [] and bare["properties"] == {}
    assert api.put(f"{base}/Other", json={"name": "CPU Limits"}).status_code == 409
    renamed = api.put(f"{base}/CPU Limits", json={"name": "Limits"})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Limits"
    assert renamed.json()["properties"] == {}  # a full replacement
    assert renamed.json()["updated_at"] >= body["updated_at"]
    assert api.delete(f"{base}/Limits").status_code == 204
    assert [o["name"] for o in api.get(base).json()["objects"]] == ["Other"]
    assert api.delete(base).status_code == 204
    assert api.get(base).json()["objects"] == []
    assert api.delete(base).status_code == 204
    assert api.delete(f"{NS}/{name}").status_code == 204


def test_properties(api: httpx.Client) -> None:
    """Tempest's property test, names with ``::`` in the path, and the prefix lookup."""
    name = _create(api)["namespace"]
    rtype = "OS::Nova::Server"
    assoc = api.post(f"{NS}/{name}/resource_types", json={"name": rtype, "prefix": "hw:"})
    assert assoc.status_code == 201
    base = f"{NS}/{name}/properties"
    enum = ["xen", "qemu", "kvm", "lxc", "uml", "vmware", "hyperv"]
    created = api.post(base, json={"title": "T", "name": rtype, "type": "string", "enum": enum})
    assert created.status_code == 201, created.text
    assert created.json()["title"] == "T"
    assert api.post(base, json={"title": "T", "name": rtype, "type": "string"}).status_code == 409
    assert api.get(f"{base}/{rtype}").json()["name"] == rtype
    via_prefix = api.get(f"{base}/hw:{rtype}", params={"resource_type": rtype})
    assert via_prefix.status_code == 200
    assert via_prefix.json()["name"] == rtype
    assert api.get(f"{base}/{rtype}", params={"resource_type": rtype}).status_code == 404
    assert api.get(f"{base}/hw:{rtype}", params={"resource_type": "OS::Other"}).status_code == 404
    updated = api.put(
        f"{base}/{rtype}", json={"title": "T2", "type": "string", "enum": enum, "name": rtype}
    )
    assert updated.status_code == 200
    assert updated.json()["title"] == "T2"
    listed = api.get(base).json()["properties"]
    assert listed[rtype]["title"] == "T2"
    assert api.post(base, json={"title": "B", "name": "b", "type": "boolean"}).status_code == 201
    assert (
        api.put(f"{base}/b", json={"title": "B", "name": rtype, "type": "boolean"}).status_code
        == 409
    )
    assert api.delete(f"{base}/{rtype}").status_code == 204
    assert api.delete(base).status_code == 204
    assert api.get(base).json() == {"properties": {}}
    assert api.delete(f"{NS}/{name}").status_code == 204


def test_tags(api: httpx.Client) -> None:
    name = _create(api)["namespace"]
    base = f"{NS}/{name}/tags"
    three = {"tags": [{"name": "sample-tag1"}, {"name": "sample-tag2"}, {"name": "sample-tag3"}]}
    bulk = api.post(base, json=three)
    assert bulk.status_code == 201
    assert bulk.json() == three
    assert sorted(t["name"] for t in api.get(base).json()["tags"]) == [
        "sample-tag1",
        "sample-tag2",
        "sample-tag3",
    ]
    appended = api.post(
        base, json={"tags": [{"name": "extra"}]}, headers={"X-Openstack-Append": "True"}
    )
    assert appended.status_code == 201
    assert len(api.get(base).json()["tags"]) == 4
    clash = api.post(
        base, json={"tags": [{"name": "extra"}]}, headers={"X-Openstack-Append": "yes"}
    )
    assert clash.status_code == 409
    inner = api.post(base, json={"tags": [{"name": "n"}, {"name": "n"}]})
    assert inner.status_code == 409
    assert len(api.get(base).json()["tags"]) == 4  # nothing changed
    assert api.post(base, json={"tags": []}).status_code == 201
    assert len(api.get(base).json()["tags"]) == 4
    replaced = api.post(base, json={"tags": [{"name": "only"}]})
    assert replaced.status_code == 201
    assert api.get(base).json()["tags"] == [{"name": "only"}]
    single = api.post(f"{base}/new tag")
    assert single.status_code == 201
    assert set(single.json()) == {"name", "created_at", "updated_at"}
    assert api.post(f"{base}/new tag").status_code == 409
    assert api.get(f"{base}/new tag").json()["name"] == "new tag"
    assert api.put(f"{base}/new tag", json={"name": "only"}).status_code == 409
    renamed = api.put(f"{base}/new tag", json={"name": "renamed"})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "renamed"
    page = api.get(base, params={"sort_key": "name", "sort_dir": "asc", "limit": "1"}).json()
    assert page["tags"] == [{"name": "only"}]
    after = api.get(base, params={"sort_key": "name", "sort_dir": "asc", "marker": "only"}).json()
    assert after["tags"] == [{"name": "renamed"}]
    assert api.delete(f"{base}/renamed").status_code == 204
    assert api.get(f"{base}/renamed").status_code == 404
    assert api.delete(base).status_code == 204
    assert api.get(base).json() == {"tags": []}
    assert api.delete(base).status_code == 204
    assert api.delete(f"{NS}/{name}").status_code == 204


def test_resource_type_associations(api: httpx.Client) -> None:
    name = _create(api)["namespace"]
    base = f"{NS}/{name}/resource_types"
    assert api.get(base).json() == {"resource_type_associations": []}
    new_type = f"OS::Test::{uuid.uuid4().hex[:8]}"
    created = api.post(base, json={"name": new_type, "prefix": "t_", "properties_target": "image"})
    assert created.status_code == 201
    assert created.json()["name"] == new_type
    assert created.json()["properties_target"] == "image"
    assert api.post(base, json={"name": new_type}).status_code == 409
    assert new_type in [
        t["name"] for t in api.get("/v2/metadefs/resource_types").json()["resource_types"]
    ]
    assert [a["name"] for a in api.get(base).json()["resource_type_associations"]] == [new_type]
    filtered = api.get(NS, params={"resource_types": f"OS::None,{new_type}"}).json()
    assert [n["namespace"] for n in filtered["namespaces"]] == [name]
    assert api.get(NS, params={"resource_types": "OS::None"}).json()["namespaces"] == []
    assert api.delete(f"{base}/{new_type}").status_code == 204
    assert api.get(base).json()["resource_type_associations"] == []
    assert api.delete(f"{base}/{new_type}").status_code == 404
    # the type itself stays
    assert new_type in [
        t["name"] for t in api.get("/v2/metadefs/resource_types").json()["resource_types"]
    ]
    assert api.delete(f"{NS}/{name}").status_code == 204


def test_listing_pages_sorts_and_filters(api: httpx.Client) -> None:
    prefix = f"OS::Page::{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}::{i}" for i in range(5)]
    for i, name in enumerate(names):
        _create(
            api,
            namespace=name,
            visibility="public" if i % 2 else "private",
            resource_type_associations=[{"name": prefix}],
        )
    query = {"resource_types": prefix, "limit": "2", "sort_key": "namespace", "sort_dir": "asc"}
    first = api.get(NS, params=query).json()
    assert [n["namespace"] for n in first["namespaces"]] == names[:2]
    assert "marker" not in first["first"]
    seen = [n["namespace"] for n in first["namespaces"]]
    link = first.get("next")
    while link:
        page = api.get(link).json()
        seen += [n["namespace"] for n in page["namespaces"]]
        link = page.get("next")
    assert seen == names
    public = api.get(NS, params={"resource_types": prefix, "visibility": "public"}).json()
    assert sorted(n["namespace"] for n in public["namespaces"]) == [names[1], names[3]]
    newest = api.get(NS, params={"resource_types": prefix}).json()["namespaces"]
    assert [n["namespace"] for n in newest] == names[::-1]  # created_at desc, then id desc
    assert api.get(NS, params={"limit": "0"}).json()["namespaces"] == []
    for name in names:
        assert api.delete(f"{NS}/{name}").status_code == 204


def test_visibility_and_policy_for_each_caller(api: httpx.Client) -> None:
    """p1's private namespace, p2's private one, and a public one owned by p1."""
    p1_private = _create(api, owner="p1", visibility="private")["namespace"]
    p2_private = _create(api, owner="p2", visibility="private")["namespace"]
    public = _create(api, owner="p1", visibility="public")["namespace"]
    for ns in (p1_private, p2_private, public):
        assert api.post(f"{NS}/{ns}/tags/t").status_code == 201
        assert api.post(f"{NS}/{ns}/objects", json={"name": "o"}).status_code == 201
        prop = {"name": "p", "title": "P", "type": "string"}
        assert api.post(f"{NS}/{ns}/properties", json=prop).status_code == 201
        assert (
            api.post(f"{NS}/{ns}/resource_types", json={"name": "OS::Glance::Image"}).status_code
            == 201
        )
    sees = {
        "admin": {p1_private, p2_private, public},
        "owner": {p1_private, public},
        "other": {p2_private, public},
        "reader": {p1_private, public},
    }
    callers = {"admin": ADMIN, "owner": OWNER, "other": OTHER, "reader": READER}
    ours = {p1_private, p2_private, public}
    for who, headers in callers.items():
        listed = {
            n["namespace"]
            for n in api.get(NS, headers=headers, params={"limit": "1000"}).json()["namespaces"]
        }
        assert listed & ours == sees[who], who
        for ns in ours:
            visible = ns in sees[who]
            read = 200 if visible else 404
            for path in (
                "",
                "/objects",
                "/objects/o",
                "/properties",
                "/properties/p",
                "/tags",
                "/tags/t",
                "/resource_types",
            ):
                assert api.get(f"{NS}/{ns}{path}", headers=headers).status_code == read, (
                    who,
                    ns,
                    path,
                )
            write = (201 if who == "admin" else 403) if visible else 404
            if who == "admin":
                continue  # the admin's writes are the rest of this module
            attempts = [
                api.post(f"{NS}/{ns}/objects", json={"name": "x"}, headers=headers),
                api.post(
                    f"{NS}/{ns}/properties",
                    json={"name": "x", "title": "X", "type": "string"},
                    headers=headers,
                ),
                api.post(f"{NS}/{ns}/tags/x", headers=headers),
                api.post(f"{NS}/{ns}/tags", json={"tags": [{"name": "x"}]}, headers=headers),
                api.post(
                    f"{NS}/{ns}/resource_types", json={"name": "OS::Nova::Flavor"}, headers=headers
                ),
                api.put(f"{NS}/{ns}", json={"namespace": ns}, headers=headers),
                api.put(f"{NS}/{ns}/objects/o", json={"name": "o"}, headers=headers),
                api.put(f"{NS}/{ns}/tags/t", json={"name": "t2"}, headers=headers),
                api.delete(f"{NS}/{ns}/objects/o", headers=headers),
                api.delete(f"{NS}/{ns}/properties/p", headers=headers),
                api.delete(f"{NS}/{ns}/tags/t", headers=headers),
                api.delete(f"{NS}/{ns}/tags", headers=headers),
                api.delete(f"{NS}/{ns}/objects", headers=headers),
                api.delete(f"{NS}/{ns}/resource_types/OS::Glance::Image", headers=headers),
                api.delete(f"{NS}/{ns}", headers=headers),
            ]
            assert [r.status_code for r in attempts] == [write] * len(attempts), (who, ns)
    for who in ("owner", "other", "reader"):
        refused = api.post(NS, json={"namespace": _name()}, headers=callers[who])
        assert refused.status_code == 403, who
    marker = api.get(NS, headers=OTHER, params={"marker": p1_private})
    assert marker.status_code == 403
    assert api.get("/v2/metadefs/resource_types", headers=READER).status_code == 200
    nobody = _headers("p1", "")
    assert api.get(NS, headers=nobody).status_code == 404
    for ns in ours:
        assert api.delete(f"{NS}/{ns}").status_code == 204
