"""The metadata definitions catalog's use cases: visibility first, then policy.

A namespace the caller cannot see (not admin, not public, not its project's) is
"not found", and so is everything in it. A refused action answers 404 when the
caller would not even be allowed ``get_metadef_namespace`` on that namespace,
else 403, as upstream decides. Deletes in a ``protected`` namespace are 403 for
everyone, admins too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from spyglass.context import RequestContext
from spyglass.domain.metadefs import (
    Association,
    MetadefObject,
    MetadefProperty,
    MetadefTag,
    Namespace,
    NamespaceContents,
    ResourceType,
    duplicates,
    policy_target,
    visible,
    with_prefix,
)
from spyglass.domain.policy import Policy
from spyglass.errors import Duplicate, Forbidden, NotFound
from spyglass.services.metadef_ports import (
    Child,
    ChildKind,
    MetadefRepository,
    NamespaceQuery,
    TagQuery,
)

_READ = {ChildKind.OBJECTS: "object", ChildKind.PROPERTIES: "property", ChildKind.TAGS: "tag"}
_ADD = {
    ChildKind.OBJECTS: "add_metadef_object",
    ChildKind.PROPERTIES: "add_metadef_property",
    ChildKind.TAGS: "add_metadef_tag",
}
_MODIFY = {
    ChildKind.OBJECTS: "modify_metadef_object",
    ChildKind.PROPERTIES: "modify_metadef_property",
    ChildKind.TAGS: "modify_metadef_tag",
}
_DELETE = {
    ChildKind.OBJECTS: "delete_metadef_object",
    ChildKind.PROPERTIES: "remove_metadef_property",
    ChildKind.TAGS: "delete_metadef_tag",
}


@dataclass(frozen=True, slots=True)
class NamespacePage:
    namespaces: Sequence[tuple[Namespace, Sequence[Association]]]
    full: bool


class MetadefService:
    def __init__(self, repo: MetadefRepository, policy: Policy) -> None:
        self.repo = repo
        self.policy = policy

    # -- checks ---------------------------------------------------------------------------

    def _authorize(self, ctx: RequestContext, action: str, target: dict[str, Any]) -> None:
        if self.policy.allowed(action, ctx, target):
            return
        message = f"You are not authorized to complete {action} action."
        if not self.policy.allowed("get_metadef_namespace", ctx, target):
            raise NotFound(message)
        raise Forbidden(message)

    async def check_namespace(self, ctx: RequestContext, name: str) -> Namespace:
        """The namespace, if the caller may see it at all (else 404); no policy yet."""
        namespace = await self.repo.get_namespace(name)
        if namespace is None or not visible(
            namespace, is_admin=ctx.is_admin, project_id=ctx.project_id
        ):
            raise NotFound(f"Metadata definition namespace={name} was not found.")
        return namespace

    async def _namespace(self, ctx: RequestContext, name: str, action: str) -> Namespace:
        namespace = await self.check_namespace(ctx, name)
        self._authorize(ctx, action, policy_target(namespace))
        return namespace

    async def _writable(self, ctx: RequestContext, name: str, action: str) -> Namespace:
        namespace = await self._namespace(ctx, name, action)
        if namespace.protected:
            raise Forbidden(f"Namespace {name} is protected and cannot be deleted.")
        return namespace

    def _collection(self, ctx: RequestContext, *actions: str) -> None:
        for action in actions:
            self._authorize(ctx, action, {"project_id": ctx.project_id})

    # -- namespaces -----------------------------------------------------------------------

    async def list_namespaces(self, ctx: RequestContext, query: NamespaceQuery) -> NamespacePage:
        self._collection(ctx, "get_metadef_namespaces", "list_metadef_resource_types")
        query = replace(query, viewer=ctx.project_id, sees_all=ctx.is_admin)
        found = await self.repo.list_namespaces(query)
        kept = [
            (ns, assocs)
            for ns, assocs in found
            if self.policy.allowed("get_metadef_namespace", ctx, policy_target(ns))
        ]
        return NamespacePage(kept, full=len(kept) == query.limit and query.limit > 0)

    async def show_namespace(
        self, ctx: RequestContext, name: str, *, resource_type: str | None = None
    ) -> NamespaceContents:
        namespace = await self._namespace(ctx, name, "get_metadef_namespace")
        target = policy_target(namespace)
        for action in (
            "list_metadef_resource_types",
            "get_metadef_objects",
            "get_metadef_properties",
            "get_metadef_tags",
        ):
            self._authorize(ctx, action, target)
        contents = await self.repo.contents(name)
        if contents is None:
            raise NotFound(f"Metadata definition namespace={name} was not found.")
        if resource_type is not None:
            prefix = next(
                (a.prefix for a in contents.associations if a.name == resource_type), None
            )
            if prefix:
                contents = with_prefix(contents, prefix)
        return contents

    async def create_namespace(
        self, ctx: RequestContext, contents: NamespaceContents
    ) -> NamespaceContents:
        self._collection(ctx, "add_metadef_namespace")
        target = policy_target(contents.namespace)
        kinds: list[tuple[list[str], str]] = [
            ([a.name for a in contents.associations], "add_metadef_resource_type_association"),
            ([p.name for p in contents.properties], "add_metadef_property"),
            ([o.name for o in contents.objects], "add_metadef_object"),
            ([t.name for t in contents.tags], "add_metadef_tag"),
        ]
        for names, action in kinds:
            if names:
                self._authorize(ctx, action, target)
            if duplicates(names):
                raise Duplicate(f"Duplicate names in the request: {', '.join(duplicates(names))}")
        return await self.repo.create_namespace(contents)

    async def update_namespace(
        self, ctx: RequestContext, name: str, namespace: Namespace
    ) -> Namespace:
        await self._namespace(ctx, name, "modify_metadef_namespace")
        return await self.repo.update_namespace(name, namespace)

    async def delete_namespace(self, ctx: RequestContext, name: str) -> None:
        await self._writable(ctx, name, "delete_metadef_namespace")
        await self.repo.delete_namespace(name)

    # -- objects, properties, tags ---------------------------------------------------------

    async def list_children(
        self, ctx: RequestContext, namespace: str, kind: ChildKind
    ) -> Sequence[Child]:
        ns = await self._namespace(ctx, namespace, f"get_metadef_{kind.value}")
        if kind is ChildKind.OBJECTS:  # upstream filters each object by its own rule
            self._authorize(ctx, "get_metadef_object", policy_target(ns))
        return await self.repo.list_children(namespace, kind)

    async def list_tags(
        self, ctx: RequestContext, namespace: str, query: TagQuery
    ) -> Sequence[MetadefTag]:
        await self._namespace(ctx, namespace, "get_metadef_tags")
        return await self.repo.list_tags(namespace, query)

    async def show_child(
        self,
        ctx: RequestContext,
        namespace: str,
        kind: ChildKind,
        name: str,
        *,
        resource_type: str | None = None,
    ) -> Child:
        ns = await self._namespace(ctx, namespace, f"get_metadef_{_READ[kind]}")
        lookup = name
        if resource_type is not None:
            self._authorize(ctx, "get_metadef_resource_type", policy_target(ns))
            assoc = next(
                (
                    a
                    for a in await self.repo.list_associations(namespace)
                    if a.name == resource_type
                ),
                None,
            )
            if assoc is None or not assoc.prefix or not name.startswith(assoc.prefix):
                raise NotFound(f"Property {name} was not found for resource type {resource_type}.")
            lookup = name[len(assoc.prefix) :]
        found = await self.repo.get_child(namespace, kind, lookup)
        if found is None:
            raise NotFound(f"{_READ[kind].capitalize()} {name} not found in namespace {namespace}.")
        return found

    async def add_child(self, ctx: RequestContext, namespace: str, value: Child) -> Child:
        kind = _kind(value)
        await self._namespace(ctx, namespace, _ADD[kind])
        return await self.repo.add_child(namespace, value)

    async def add_tags(
        self, ctx: RequestContext, namespace: str, tags: Sequence[MetadefTag], *, append: bool
    ) -> Sequence[MetadefTag]:
        ns = await self._namespace(ctx, namespace, "add_metadef_tags")
        if not append and tags:
            self._authorize(ctx, "delete_metadef_tags", policy_target(ns))
        names = [t.name for t in tags]
        if duplicates(names):
            raise Duplicate(f"Duplicate tags in the request: {', '.join(duplicates(names))}")
        return await self.repo.add_tags(namespace, tags, append=append)

    async def replace_child(
        self, ctx: RequestContext, namespace: str, name: str, value: Child
    ) -> Child:
        kind = _kind(value)
        await self._namespace(ctx, namespace, _MODIFY[kind])
        if await self.repo.get_child(namespace, kind, name) is None:
            raise NotFound(f"{_READ[kind].capitalize()} {name} not found in namespace {namespace}.")
        return await self.repo.replace_child(namespace, name, value)

    async def delete_child(
        self, ctx: RequestContext, namespace: str, kind: ChildKind, name: str
    ) -> None:
        ns = await self._namespace(ctx, namespace, _DELETE[kind])
        if await self.repo.get_child(namespace, kind, name) is None:
            raise NotFound(f"{_READ[kind].capitalize()} {name} not found in namespace {namespace}.")
        if ns.protected:
            raise Forbidden(
                f"Namespace {namespace} is protected; its definitions cannot be deleted."
            )
        await self.repo.delete_child(namespace, kind, name)

    async def delete_children(self, ctx: RequestContext, namespace: str, kind: ChildKind) -> None:
        ns = await self._namespace(ctx, namespace, "delete_metadef_namespace")
        if kind is ChildKind.TAGS:
            self._authorize(ctx, "delete_metadef_tags", policy_target(ns))
        if ns.protected:
            raise Forbidden(
                f"Namespace {namespace} is protected; its definitions cannot be deleted."
            )
        await self.repo.delete_children(namespace, kind)

    # -- resource types --------------------------------------------------------------------

    async def list_resource_types(self, ctx: RequestContext) -> Sequence[ResourceType]:
        self._collection(ctx, "list_metadef_resource_types")
        return await self.repo.list_resource_types()

    async def list_associations(self, ctx: RequestContext, namespace: str) -> Sequence[Association]:
        ns = await self._namespace(ctx, namespace, "list_metadef_resource_types")
        self._authorize(ctx, "get_metadef_resource_type", policy_target(ns))
        return await self.repo.list_associations(namespace)

    async def add_association(
        self, ctx: RequestContext, namespace: str, association: Association
    ) -> Association:
        await self._namespace(ctx, namespace, "add_metadef_resource_type_association")
        return await self.repo.add_association(namespace, association)

    async def remove_association(
        self, ctx: RequestContext, namespace: str, resource_type: str
    ) -> None:
        ns = await self._namespace(ctx, namespace, "remove_metadef_resource_type_association")
        if not any(a.name == resource_type for a in await self.repo.list_associations(namespace)):
            raise NotFound(f"The resource type {resource_type} is not associated with {namespace}.")
        if ns.protected:
            raise Forbidden(f"Namespace {namespace} is protected; its associations stay.")
        await self.repo.remove_association(namespace, resource_type)


def _kind(value: Child) -> ChildKind:
    if isinstance(value, MetadefObject):
        return ChildKind.OBJECTS
    if isinstance(value, MetadefProperty):
        return ChildKind.PROPERTIES
    return ChildKind.TAGS
