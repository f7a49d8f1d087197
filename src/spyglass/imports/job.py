"""An import task's input, as upstream records it: ``image_id``, the request body
(``import_req``) and the target stores (``backend``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spyglass.stores.location import redact

ROLES_KEY = "spyglass_roles"
"""The importing user's roles (``inject_image_metadata`` needs them); never shown."""


@dataclass(frozen=True, slots=True)
class ImportJob:
    image_id: str
    method: str
    stores: tuple[str, ...]
    all_stores_must_succeed: bool
    uri: str | None
    region: str | None
    remote_image_id: str | None
    roles: frozenset[str]

    @classmethod
    def from_input(cls, data: dict[str, Any]) -> ImportJob:
        request = data.get("import_req") or {}
        method = request.get("method") or {}
        return cls(
            image_id=str(data["image_id"]),
            method=str(method.get("name")),
            stores=tuple(str(s) for s in data.get("backend") or ()),
            all_stores_must_succeed=bool(request.get("all_stores_must_succeed", True)),
            uri=method.get("uri"),
            region=method.get("glance_region"),
            remote_image_id=method.get("glance_image_id"),
            roles=frozenset(data.get(ROLES_KEY) or ()),
        )


def task_input(
    image_id: str, body: dict[str, Any], stores: list[str], roles: frozenset[str]
) -> dict[str, Any]:
    return {"image_id": image_id, "import_req": body, "backend": stores, ROLES_KEY: sorted(roles)}


def shown_input(data: dict[str, Any]) -> dict[str, Any]:
    """The input as responses show it: no roles, and no ``user:password@`` in the URLs
    (web-download's ``uri``, a legacy task's ``import_from``)."""
    shown = {k: v for k, v in data.items() if k != ROLES_KEY}
    if isinstance(shown.get("import_from"), str):
        shown["import_from"] = redact(shown["import_from"])
    request = shown.get("import_req")
    if isinstance(request, dict):
        method = request.get("method")
        if isinstance(method, dict) and isinstance(method.get("uri"), str):
            shown["import_req"] = {**request, "method": {**method, "uri": redact(method["uri"])}}
    return shown
