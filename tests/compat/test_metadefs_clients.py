"""The metadata definitions catalog through the real clients: ``glance md-*`` and openstacksdk.

glanceclient downloads ``/v2/schemas/metadefs/*`` and validates what it sends and
what it shows against them, so these also check that the schemas fit the documents.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.compat.conftest import Cli, property_table, table_rows, unique
from tests.server import LiveServer

pytestmark = pytest.mark.compat

NS = "/v2/metadefs/namespaces"


@pytest.fixture
def namespace(client: httpx.Client) -> Iterator[str]:
    """A fresh namespace name, deleted over HTTP afterwards whatever happened."""
    name = unique("OS::Compat")
    yield name
    client.put(f"{NS}/{name}", json={"namespace": name, "protected": False})
    client.delete(f"{NS}/{name}")


def test_glance_md_commands(glance: Cli, client: httpx.Client, namespace: str) -> None:
    created = glance.run(
        "md-namespace-create",
        namespace,
        "--display-name",
        "Compat test",
        "--description",
        "made by glance md-namespace-create",
        "--visibility",
        "public",
        "--protected",
        "True",
    )
    shown = property_table(created.stdout)
    assert shown["namespace"] == namespace
    assert shown["protected"] == "True"
    assert namespace in glance.run("md-namespace-list").stdout

    schema = json.dumps({"type": "string", "enum": ["a", "b"], "description": "A choice"})
    glance.run(
        "md-property-create", namespace, "--name", "choice", "--title", "Choice",
        "--type", "string", "--schema", schema,
    )  # fmt: skip
    obj_schema = json.dumps(
        {
            "description": "CPU limits",
            "required": ["quota"],
            "properties": {"quota": {"type": "integer", "title": "Quota", "minimum": 0}},
        }
    )
    made = glance.run("md-object-create", namespace, "--name", "Limits", "--schema", obj_schema)
    assert property_table(made.stdout)["name"] == "Limits"
    tag = glance.run("md-tag-create", namespace, "--name", "fast")
    assert property_table(tag.stdout)["name"] == "fast"
    assoc = glance.run(
        "md-resource-type-associate", namespace, "--name", "OS::Glance::Image", "--prefix", "x_"
    )
    assert property_table(assoc.stdout)["name"] == "OS::Glance::Image"

    detail = property_table(glance.run("md-namespace-show", namespace).stdout)
    assert detail["display_name"] == "Compat test"
    assert "choice" in detail["properties"]
    assert "Limits" in detail["objects"]
    assert "fast" in detail["tags"]
    assert "OS::Glance::Image" in detail["resource_type_associations"]
    prefixed = glance.run("md-namespace-show", namespace, "--resource-type", "OS::Glance::Image")
    assert "x_choice" in property_table(prefixed.stdout)["properties"]
    listed = glance.run("md-namespace-list", "--resource-types", "OS::Glance::Image").stdout
    assert namespace in [cell for row in table_rows(listed) for cell in row]
    assert json.loads(
        property_table(glance.run("md-property-show", namespace, "choice").stdout)["enum"]
    ) == ["a", "b"]

    refused = glance.run("md-namespace-delete", namespace, check=False)
    assert refused.returncode != 0  # protected
    assert client.get(f"{NS}/{namespace}").status_code == 200
    glance.run("md-namespace-update", namespace, "--protected", "False")
    glance.run("md-namespace-delete", namespace)
    assert client.get(f"{NS}/{namespace}").status_code == 404


openstack = pytest.importorskip("openstack", reason="openstacksdk is not installed")
from openstack import exceptions as sdk_exceptions  # noqa: E402
from openstack.connection import Connection  # noqa: E402
from openstack.image.v2._proxy import Proxy as ImageProxy  # noqa: E402


@pytest.fixture(scope="module")
def conn(live_server: LiveServer, _clean_environ: None) -> Iterator[Connection]:
    connection: Connection = openstack.connect(
        auth_type="none",
        image_endpoint_override=live_server.url,
        load_yaml_config=False,
        load_envvars=False,
    )
    yield connection
    connection.close()


# openstacksdk's own deprecations, none about this server (see test_openstacksdk.py).
@pytest.mark.filterwarnings("ignore:Support for InfluxDB:PendingDeprecationWarning")
@pytest.mark.filterwarnings("ignore:The _compute_attributes method:PendingDeprecationWarning")
@pytest.mark.filterwarnings("ignore:The 'service_type' parameter:PendingDeprecationWarning")
@pytest.mark.filterwarnings(
    "ignore:The ignore_missing parameter of all find_:PendingDeprecationWarning"
)
def test_openstacksdk_metadef_calls(conn: Connection, namespace: str) -> None:
    image = conn.image
    assert isinstance(image, ImageProxy)
    created = image.create_metadef_namespace(
        namespace=namespace, display_name="SDK", visibility="public", protected=False
    )
    assert created.namespace == namespace
    assert namespace in [ns.namespace for ns in image.metadef_namespaces()]
    shown = image.get_metadef_namespace(namespace)
    assert shown.visibility == "public"
    updated = image.update_metadef_namespace(namespace, display_name="SDK renamed")
    assert updated.display_name == "SDK renamed"

    assoc = image.create_metadef_resource_type_association(
        namespace, name="OS::Nova::Flavor", prefix="sdk:"
    )
    assert assoc.name == "OS::Nova::Flavor"
    assert "OS::Nova::Flavor" in [t.name for t in image.metadef_resource_types()]
    assert [a.name for a in image.metadef_resource_type_associations(namespace)] == [
        "OS::Nova::Flavor"
    ]

    prop = image.create_metadef_property(
        namespace, name="speed", title="Speed", type="integer", minimum=1
    )
    assert prop.name == "speed"
    assert [p.name for p in image.metadef_properties(namespace)] == ["speed"]
    assert image.get_metadef_property("speed", namespace).title == "Speed"
    assert (
        image.update_metadef_property(
            "speed", namespace, name="speed", title="Fast", type="integer"
        ).title
        == "Fast"
    )

    obj = image.create_metadef_object(namespace, name="Box", description="a box")
    assert obj.name == "Box"
    assert [o.name for o in image.metadef_objects(namespace)] == ["Box"]
    assert image.get_metadef_object("Box", namespace).description == "a box"

    image.add_tag_to_metadef_namespace(namespace, "sdk-tag")
    assert "sdk-tag" in [t["name"] for t in image.get_metadef_namespace(namespace).tags or []]

    for schema in (
        image.get_metadef_namespace_schema(),
        image.get_metadef_namespaces_schema(),
        image.get_metadef_object_schema(),
        image.get_metadef_property_schema(),
        image.get_metadef_resource_type_schema(),
        image.get_metadef_tags_schema(),
    ):
        assert schema.properties

    image.delete_metadef_object("Box", namespace)
    image.delete_all_metadef_properties(namespace)
    assert list(image.metadef_properties(namespace)) == []
    image.delete_metadef_resource_type_association("OS::Nova::Flavor", namespace)
    image.delete_metadef_namespace(namespace)
    with pytest.raises(sdk_exceptions.NotFoundException):
        image.get_metadef_namespace(namespace)
