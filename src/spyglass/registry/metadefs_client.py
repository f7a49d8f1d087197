"""``MetadefRepository`` implemented by calls to the registry (one call per method)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from spyglass.domain.metadefs import (
    Association,
    MetadefTag,
    Namespace,
    NamespaceContents,
    ResourceType,
)
from spyglass.registry.connection import RegistryConnection
from spyglass.services.metadef_ports import Child, ChildKind, LoadOptions, NamespaceQuery, TagQuery

Listed = Sequence[tuple[Namespace, Sequence[Association]]]


class RemoteMetadefRepository:
    def __init__(self, rpc: RegistryConnection) -> None:
        self.rpc = rpc

    async def list_namespaces(self, query: NamespaceQuery) -> Listed:
        return cast("Listed", await self.rpc.call("metadefs.list_namespaces", query=query))

    async def get_namespace(self, name: str) -> Namespace | None:
        return cast("Namespace | None", await self.rpc.call("metadefs.get_namespace", name=name))

    async def contents(self, name: str) -> NamespaceContents | None:
        found = await self.rpc.call("metadefs.contents", name=name)
        return cast("NamespaceContents | None", found)

    async def create_namespace(self, contents: NamespaceContents) -> NamespaceContents:
        made = await self.rpc.call("metadefs.create_namespace", contents=contents)
        return cast("NamespaceContents", made)

    async def update_namespace(self, name: str, namespace: Namespace) -> Namespace:
        saved = await self.rpc.call("metadefs.update_namespace", name=name, namespace=namespace)
        return cast("Namespace", saved)

    async def delete_namespace(self, name: str) -> None:
        await self.rpc.call("metadefs.delete_namespace", name=name)

    async def list_children(self, namespace: str, kind: ChildKind) -> Sequence[Child]:
        found = await self.rpc.call("metadefs.list_children", namespace=namespace, kind=kind)
        return cast("Sequence[Child]", found)

    async def list_tags(self, namespace: str, query: TagQuery) -> Sequence[MetadefTag]:
        found = await self.rpc.call("metadefs.list_tags", namespace=namespace, query=query)
        return cast("Sequence[MetadefTag]", found)

    async def get_child(self, namespace: str, kind: ChildKind, name: str) -> Child | None:
        found = await self.rpc.call("metadefs.get_child", namespace=namespace, kind=kind, name=name)
        return cast("Child | None", found)

    async def add_child(self, namespace: str, child: Child) -> Child:
        added = await self.rpc.call("metadefs.add_child", namespace=namespace, child=child)
        return cast("Child", added)

    async def add_tags(
        self, namespace: str, tags: Sequence[MetadefTag], *, append: bool
    ) -> Sequence[MetadefTag]:
        added = await self.rpc.call(
            "metadefs.add_tags", namespace=namespace, tags=tags, append=append
        )
        return cast("Sequence[MetadefTag]", added)

    async def replace_child(self, namespace: str, name: str, child: Child) -> Child:
        saved = await self.rpc.call(
            "metadefs.replace_child", namespace=namespace, name=name, child=child
        )
        return cast("Child", saved)

    async def delete_child(self, namespace: str, kind: ChildKind, name: str) -> None:
        await self.rpc.call("metadefs.delete_child", namespace=namespace, kind=kind, name=name)

    async def delete_children(self, namespace: str, kind: ChildKind) -> None:
        await self.rpc.call("metadefs.delete_children", namespace=namespace, kind=kind)

    async def list_resource_types(self) -> Sequence[ResourceType]:
        found = await self.rpc.call("metadefs.list_resource_types")
        return cast("Sequence[ResourceType]", found)

    async def list_associations(self, namespace: str) -> Sequence[Association]:
        found = await self.rpc.call("metadefs.list_associations", namespace=namespace)
        return cast("Sequence[Association]", found)

    async def add_association(self, namespace: str, association: Association) -> Association:
        added = await self.rpc.call(
            "metadefs.add_association", namespace=namespace, association=association
        )
        return cast("Association", added)

    async def remove_association(self, namespace: str, resource_type: str) -> None:
        await self.rpc.call(
            "metadefs.remove_association", namespace=namespace, resource_type=resource_type
        )

    async def load(self, contents: NamespaceContents, options: LoadOptions) -> str:
        said = await self.rpc.call("metadefs.load", contents=contents, options=options)
        return cast("str", said)

    async def export(self) -> Sequence[NamespaceContents]:
        return cast("Sequence[NamespaceContents]", await self.rpc.call("metadefs.export"))

    async def unload(self) -> None:
        await self.rpc.call("metadefs.unload")
