"""The storage port of the metadata definitions catalog.

Namespaces are addressed by name; children (objects, properties, tags) by their
namespace's name, their kind and their own name. Writes raise ``Duplicate`` on a
unique clash and ``NotFound`` when the namespace or child has gone; a write that
fails changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from spyglass.domain.metadefs import (
    Association,
    MetadefObject,
    MetadefProperty,
    MetadefTag,
    Namespace,
    NamespaceContents,
    ResourceType,
)

Child = MetadefObject | MetadefProperty | MetadefTag


class ChildKind(StrEnum):
    OBJECTS = "objects"
    PROPERTIES = "properties"
    TAGS = "tags"


@dataclass(frozen=True, slots=True)
class NamespaceQuery:
    """One page of namespaces, as the caller may see them: all of them (``sees_all``),
    or the public ones and those ``viewer`` (a project) owns."""

    limit: int
    viewer: str | None
    sees_all: bool = False
    marker: str | None = None
    sort_key: str = "created_at"
    sort_dir: str = "desc"
    visibility: str | None = None
    resource_types: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class TagQuery:
    limit: int | None = None
    marker: str | None = None
    sort_key: str = "created_at"
    sort_dir: str = "desc"


@dataclass(frozen=True, slots=True)
class LoadOptions:
    merge: bool = False
    prefer_new: bool = False
    overwrite: bool = False


class MetadefRepository(Protocol):
    async def list_namespaces(
        self, query: NamespaceQuery
    ) -> Sequence[tuple[Namespace, Sequence[Association]]]: ...

    async def get_namespace(self, name: str) -> Namespace | None: ...

    async def contents(self, name: str) -> NamespaceContents | None: ...

    async def create_namespace(self, contents: NamespaceContents) -> NamespaceContents: ...

    async def update_namespace(self, name: str, namespace: Namespace) -> Namespace: ...

    async def delete_namespace(self, name: str) -> None: ...

    async def list_children(self, namespace: str, kind: ChildKind) -> Sequence[Child]: ...

    async def list_tags(self, namespace: str, query: TagQuery) -> Sequence[MetadefTag]: ...

    async def get_child(self, namespace: str, kind: ChildKind, name: str) -> Child | None: ...

    async def add_child(self, namespace: str, child: Child) -> Child: ...

    async def add_tags(
        self, namespace: str, tags: Sequence[MetadefTag], *, append: bool
    ) -> Sequence[MetadefTag]: ...

    async def replace_child(self, namespace: str, name: str, child: Child) -> Child: ...

    async def delete_child(self, namespace: str, kind: ChildKind, name: str) -> None: ...

    async def delete_children(self, namespace: str, kind: ChildKind) -> None: ...

    async def list_resource_types(self) -> Sequence[ResourceType]: ...

    async def list_associations(self, namespace: str) -> Sequence[Association]: ...

    async def add_association(self, namespace: str, association: Association) -> Association: ...

    async def remove_association(self, namespace: str, resource_type: str) -> None: ...

    async def load(self, contents: NamespaceContents, options: LoadOptions) -> str:
        """Load one definition file's namespace; says what was done."""
        ...

    async def export(self) -> Sequence[NamespaceContents]: ...

    async def unload(self) -> None: ...
