"""``GET /openapi.json``: an OpenAPI 3.1 document of the routes this server has.

It is built from the application's own route table, so a route that exists is
described and one that does not is not; the request and response bodies use the
very JSON schemas the server validates with (``domain/schemas.py``,
``domain/task_schemas.py``), so a fuzzer that follows the document tests the
real rules. Routes without a body schema get a minimal operation: their path
parameters and a default response.

OpenAPI 3.1 schemas are JSON Schema 2020-12, a superset of the draft-4 schemas
Glance publishes (``"type": ["null", "string"]`` and ``"enum": [null, ...]``
keep their meaning), so they are used as they are, with Glance's non-schema
keys (``name``, ``links``) left out.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from spyglass import __version__
from spyglass.domain import schemas, task_schemas
from spyglass.domain.patch import ACCEPT_PATCH

_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")
_NOT_SCHEMA_KEYS = frozenset({"name", "links"})
_DEFAULT_METHODS = ("GET",)

Schema = dict[str, Any]


def _plain(schema: Mapping[str, Any]) -> Schema:
    """A Glance schema document as a JSON Schema: its non-schema keys left out."""
    out: Schema = {}
    for key, value in schema.items():
        if key in _NOT_SCHEMA_KEYS:
            continue
        if key == "items" and isinstance(value, Mapping):
            value = _plain(value)
        elif key == "properties" and isinstance(value, Mapping):
            value = {k: _plain(v) if isinstance(v, Mapping) else v for k, v in value.items()}
        out[key] = value
    return out


def _writable(schema: Mapping[str, Any]) -> Schema:
    """The part of a document a client may send: ``readOnly`` properties left out."""
    plain = _plain(schema)
    plain["properties"] = {
        k: v for k, v in plain.get("properties", {}).items() if not v.get("readOnly")
    }
    plain["type"] = "object"
    return plain


def _json(schema: Mapping[str, Any], media_type: str = "application/json") -> Schema:
    return {"content": {media_type: {"schema": dict(schema)}}}


_PATCH_SCHEMA: Schema = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "op": {"type": "string", "enum": ["add", "remove", "replace"]},
            "path": {"type": "string"},
            "value": {},
        },
        "required": ["op", "path"],
    },
}


class BodySchemas:
    """The request and response bodies of the routes that have a schema, by
    ``(method, path)``."""

    def __init__(self, disk_formats: Iterable[str], container_formats: Iterable[str]) -> None:
        disks, containers = list(disk_formats), list(container_formats)
        image = schemas.image_schema(disks, containers)
        self.requests: dict[tuple[str, str], Schema] = {
            ("POST", "/v2/images"): _json(_writable(image)),
            ("PATCH", "/v2/images/{image_id}"): _json(
                _PATCH_SCHEMA, "application/openstack-images-v2.1-json-patch"
            ),
            ("POST", "/v2/images/{image_id}/members"): _json(
                {
                    "type": "object",
                    "properties": {"member": {"type": "string", "maxLength": 255}},
                    "required": ["member"],
                }
            ),
            ("PUT", "/v2/images/{image_id}/members/{member_id}"): _json(
                {
                    "type": "object",
                    "properties": {"status": {"enum": ["pending", "accepted", "rejected"]}},
                    "required": ["status"],
                }
            ),
            ("POST", "/v2/tasks"): _json(_writable(task_schemas.task_schema())),
            ("PUT", "/v2/images/{image_id}/file"): _json(
                {"type": "string", "contentMediaType": "application/octet-stream"},
                "application/octet-stream",
            ),
        }
        member = _plain(schemas.member_schema())
        self.responses: dict[tuple[str, str], tuple[str, Schema]] = {
            ("POST", "/v2/images"): ("201", _plain(image)),
            ("GET", "/v2/images"): ("200", _plain(schemas.images_schema(disks, containers))),
            ("GET", "/v2/images/{image_id}"): ("200", _plain(image)),
            ("PATCH", "/v2/images/{image_id}"): ("200", _plain(image)),
            ("GET", "/v2/images/{image_id}/members"): ("200", _plain(schemas.members_schema())),
            ("POST", "/v2/images/{image_id}/members"): ("200", member),
            ("GET", "/v2/images/{image_id}/members/{member_id}"): ("200", member),
            ("PUT", "/v2/images/{image_id}/members/{member_id}"): ("200", member),
            ("GET", "/v2/tasks"): ("200", _plain(task_schemas.tasks_schema())),
        }


def route_methods(route: Route) -> tuple[str, ...]:
    """The methods a route really serves.

    ``api/v2/routes.py`` registers every method on each path and answers 405 itself
    (so the answer lists what is allowed); the methods it dispatches are the keys of
    the handler table its ``dispatch`` closes over.
    """
    try:
        handlers = inspect.getclosurevars(route.endpoint).nonlocals.get("handlers")
    except TypeError:  # a class instance or builtin: not one of ours
        handlers = None
    if isinstance(handlers, Mapping):
        return tuple(str(m) for m in handlers)
    methods = sorted(route.methods or _DEFAULT_METHODS)
    return tuple(m for m in methods if m != "HEAD") or _DEFAULT_METHODS


def _operation(method: str, path: str, bodies: BodySchemas) -> Schema:
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(path)
    ]
    responses: Schema = {"default": {"description": "An answer (errors: 4xx with a reason)."}}
    key = (method, path)
    if key in bodies.responses:
        status, schema = bodies.responses[key]
        responses[status] = {"description": "Success.", **_json(schema)}
    operation: Schema = {
        "operationId": f"{method.lower()}{re.sub(r'[^A-Za-z0-9]+', '_', path)}",
        "responses": responses,
    }
    if params:
        operation["parameters"] = params
    if key in bodies.requests:
        operation["requestBody"] = {"required": True, **bodies.requests[key]}
    return operation


def build_document(
    routes: Iterable[BaseRoute], bodies: BodySchemas, *, extra_paths: Iterable[str] = ()
) -> Schema:
    """The OpenAPI document of ``routes`` (plus plain GET operations for ``extra_paths``,
    answered by middleware rather than a route)."""
    paths: dict[str, Schema] = {}
    for route in routes:
        if not isinstance(route, Route):
            continue
        item = paths.setdefault(_PARAM.sub(r"{\1}", route.path), {})
        for method in route_methods(route):
            item[method.lower()] = _operation(method, route.path, bodies)
    for path in extra_paths:
        paths.setdefault(path, {"get": _operation("GET", path, bodies)})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Spyglass (OpenStack Images API)",
            "version": __version__,
            "description": f"JSON patch media types: {ACCEPT_PATCH}.",
        },
        "paths": dict(sorted(paths.items())),
    }


def openapi_endpoint(
    bodies: Callable[[], BodySchemas], extra_paths: Iterable[str] = ()
) -> Callable[[Request], Awaitable[Response]]:
    """The ``/openapi.json`` handler: the document of the app it is mounted in, built once."""
    extras = tuple(extra_paths)
    cached: list[Schema] = []

    async def answer(request: Request) -> Response:
        if not cached:
            cached.append(build_document(request.app.routes, bodies(), extra_paths=extras))
        return JSONResponse(cached[0])

    return answer
