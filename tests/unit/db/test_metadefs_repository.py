"""The SQL metadefs repository on SQLite, PostgreSQL and MySQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from spyglass.db.engine import create_database
from spyglass.db.metadefs import SqlMetadefRepository
from spyglass.db.migrate import sync_schema
from spyglass.domain.metadefs import (
    Association,
    MetadefObject,
    MetadefProperty,
    MetadefTag,
    Namespace,
    NamespaceContents,
    NamespaceVisibility,
)
from spyglass.errors import Duplicate, Forbidden, NotFound
from spyglass.services.metadef_ports import ChildKind, LoadOptions, NamespaceQuery, TagQuery
from tests.databases import BACKENDS, drop_database, fresh_database

PUBLIC = NamespaceVisibility.PUBLIC


@pytest.fixture(params=BACKENDS)
async def repo(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[SqlMetadefRepository]:
    url, name = await fresh_database(request.param, tmp_path)
    database = create_database(url)
    try:
        await sync_schema(database)
        yield SqlMetadefRepository(database)
    finally:
        await database.dispose()
        await drop_database(request.param, name)


def _contents(name: str = "OS::A", **namespace: object) -> NamespaceContents:
    return NamespaceContents(
        Namespace(name, "p1", **namespace),  # type: ignore[arg-type]
        associations=(Association("OS::Glance::Image", prefix="hw_"),),
        properties=(MetadefProperty("cpu", {"title": "CPU", "type": "integer", "minimum": 1}),),
        objects=(MetadefObject("o", "d", ("cpu",), {"cpu": {"title": "C", "type": "string"}}),),
        tags=(MetadefTag("t1"), MetadefTag("t2")),
    )


async def test_create_reads_back_whole_and_duplicates_change_nothing(
    repo: SqlMetadefRepository,
) -> None:
    created = await repo.create_namespace(_contents())
    assert created.properties[0].schema == {"title": "CPU", "type": "integer", "minimum": 1}
    assert created.objects[0].required == ("cpu",)
    assert [t.name for t in created.tags] == ["t1", "t2"]
    assert created.associations[0].prefix == "hw_"
    with pytest.raises(Duplicate):
        await repo.create_namespace(_contents())
    clash = NamespaceContents(Namespace("OS::B", "p1"), tags=(MetadefTag("x"), MetadefTag("x")))
    with pytest.raises(Duplicate):
        await repo.create_namespace(clash)
    assert await repo.get_namespace("OS::B") is None
    types = await repo.list_resource_types()
    assert [(t.name, t.protected) for t in types] == [("OS::Glance::Image", False)]


async def test_children_rename_clash_and_delete(repo: SqlMetadefRepository) -> None:
    await repo.create_namespace(_contents())
    await repo.add_child("OS::A", MetadefObject("p"))
    with pytest.raises(Duplicate):
        await repo.add_child("OS::A", MetadefObject("p"))
    with pytest.raises(Duplicate):
        await repo.replace_child("OS::A", "p", MetadefObject("o"))
    renamed = await repo.replace_child("OS::A", "p", MetadefObject("q", required=("x", "y")))
    assert isinstance(renamed, MetadefObject)
    assert renamed.required == ("x", "y")
    with pytest.raises(NotFound):
        await repo.replace_child("OS::A", "p", MetadefObject("p"))
    await repo.delete_child("OS::A", ChildKind.OBJECTS, "q")
    assert [o.name for o in await repo.list_children("OS::A", ChildKind.OBJECTS)] == ["o"]
    await repo.delete_children("OS::A", ChildKind.PROPERTIES)
    assert await repo.list_children("OS::A", ChildKind.PROPERTIES) == []
    with pytest.raises(NotFound):
        await repo.list_children("OS::Missing", ChildKind.TAGS)


async def test_tags_replace_append_and_pages(repo: SqlMetadefRepository) -> None:
    await repo.create_namespace(_contents())
    with pytest.raises(Duplicate):
        await repo.add_tags("OS::A", [MetadefTag("t1")], append=True)
    await repo.add_tags("OS::A", [MetadefTag("a"), MetadefTag("b")], append=False)
    query = TagQuery(sort_key="name", sort_dir="asc")
    assert [t.name for t in await repo.list_tags("OS::A", query)] == ["a", "b"]
    await repo.add_tags("OS::A", [MetadefTag("c")], append=True)
    page = TagQuery(limit=1, marker="a", sort_key="name", sort_dir="asc")
    assert [t.name for t in await repo.list_tags("OS::A", page)] == ["b"]
    with pytest.raises(NotFound):
        await repo.list_tags("OS::A", TagQuery(marker="zzz"))


async def test_listing_visibility_marker_and_filters(repo: SqlMetadefRepository) -> None:
    await repo.create_namespace(_contents("OS::A"))
    await repo.create_namespace(NamespaceContents(Namespace("OS::B", "p2")))
    await repo.create_namespace(NamespaceContents(Namespace("OS::C", "p2", visibility=PUBLIC)))

    async def names(**changes: Any) -> list[str]:
        query = NamespaceQuery(limit=10, viewer=None, sort_key="namespace", sort_dir="asc")
        found = await repo.list_namespaces(replace(query, **changes))
        return [ns.namespace for ns, _ in found]

    assert await names(sees_all=True) == ["OS::A", "OS::B", "OS::C"]
    assert await names(viewer="p1") == ["OS::A", "OS::C"]
    assert await names(viewer=None) == ["OS::C"]
    assert await names(sees_all=True, marker="OS::A", limit=1) == ["OS::B"]
    assert await names(sees_all=True, resource_types=("OS::Glance::Image", "OS::X")) == ["OS::A"]
    assert await names(sees_all=True, visibility="public") == ["OS::C"]
    with pytest.raises(Forbidden):
        await names(viewer="p1", marker="OS::B")
    with pytest.raises(NotFound):
        await names(sees_all=True, marker="OS::Nope")


async def test_associations_and_cascading_delete(repo: SqlMetadefRepository) -> None:
    await repo.create_namespace(_contents())
    added = await repo.add_association("OS::A", Association("OS::Nova::Flavor", "hw:", "t"))
    assert added.properties_target == "t"
    with pytest.raises(Duplicate):
        await repo.add_association("OS::A", Association("OS::Nova::Flavor"))
    await repo.remove_association("OS::A", "OS::Nova::Flavor")
    with pytest.raises(NotFound):
        await repo.remove_association("OS::A", "OS::Nova::Flavor")
    await repo.delete_namespace("OS::A")
    assert await repo.contents("OS::A") is None
    assert len(await repo.list_resource_types()) == 2  # types outlive their namespaces


async def test_update_renames_and_clashes(repo: SqlMetadefRepository) -> None:
    await repo.create_namespace(_contents("OS::A"))
    await repo.create_namespace(NamespaceContents(Namespace("OS::B", "p1")))
    with pytest.raises(Duplicate):
        await repo.update_namespace("OS::B", Namespace("OS::A", "p1"))
    renamed = await repo.update_namespace("OS::B", Namespace("OS::C", "p2", protected=True))
    assert (renamed.namespace, renamed.owner, renamed.protected) == ("OS::C", "p2", True)
    assert renamed.updated_at is not None


async def test_loader_merge_prefer_new_overwrite_export_unload(
    repo: SqlMetadefRepository,
) -> None:
    assert await repo.load(_contents(), LoadOptions()) == "created"
    loaded = await repo.contents("OS::A")
    assert loaded is not None
    assert loaded.namespace.updated_at is None
    assert (await repo.list_resource_types())[0].protected is True
    assert "skipped" in await repo.load(_contents(), LoadOptions())
    newer = NamespaceContents(
        Namespace("OS::A", "admin", description="new"),
        properties=(MetadefProperty("cpu", {"title": "new", "type": "string"}),),
        tags=(MetadefTag("t3"),),
    )
    assert await repo.load(newer, LoadOptions(merge=True)) == "merged"
    merged = await repo.contents("OS::A")
    assert merged is not None
    assert merged.namespace.description is None
    assert merged.properties[0].schema["title"] == "CPU"
    assert [t.name for t in merged.tags] == ["t1", "t2", "t3"]
    await repo.load(newer, LoadOptions(merge=True, prefer_new=True))
    preferred = await repo.contents("OS::A")
    assert preferred is not None
    assert preferred.namespace.description == "new"
    assert preferred.properties[0].schema["title"] == "new"
    await repo.load(newer, LoadOptions(merge=True, overwrite=True))
    replaced = await repo.contents("OS::A")
    assert replaced is not None
    assert (replaced.objects, [t.name for t in replaced.tags]) == ((), ["t3"])
    assert [c.namespace.namespace for c in await repo.export()] == ["OS::A"]
    await repo.unload()
    assert await repo.export() == []
    assert await repo.list_resource_types() == []
