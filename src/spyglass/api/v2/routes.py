"""The v2 route table, on one screen."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from spyglass.api.errors import error_response
from spyglass.api.v2 import (
    cache,
    cache_legacy,
    discovery,
    image_data,
    images,
    imports,
    locations,
    members,
    schemas,
    stores,
    tasks,
)
from spyglass.api.v2.metadefs.routes import metadef_routes

Handler = Callable[[Request], Awaitable[Response]]
_EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def resource(path: str, *, name: str | None = None, **handlers: Handler) -> Route:
    """One route per path, dispatching on the method, so 405 lists every allowed one.

    HEAD is not implied by GET: upstream answers it with 405 too.
    """
    allow = ", ".join(handlers)

    async def dispatch(request: Request) -> Response:
        handler = handlers.get(request.method)
        if handler is None:
            if request.method == "OPTIONS":
                return Response(status_code=200, headers={"Allow": allow})
            return error_response(request, 405, "", {"Allow": allow})
        return await handler(request)

    return Route(path, dispatch, methods=_EVERY_METHOD, name=name)


ROUTES = [
    resource("/v2/images", GET=images.list_images, POST=images.create_image),
    resource(
        "/v2/images/{image_id}",
        name="image",
        GET=images.show_image,
        PATCH=images.update_image,
        DELETE=images.delete_image,
    ),
    resource("/v2/images/{image_id}/actions/deactivate", POST=images.deactivate),
    resource("/v2/images/{image_id}/actions/reactivate", POST=images.reactivate),
    resource("/v2/images/{image_id}/file", PUT=image_data.upload, GET=image_data.download),
    resource("/v2/images/{image_id}/stage", PUT=imports.stage),
    resource("/v2/images/{image_id}/import", POST=imports.import_image),
    resource("/v2/images/{image_id}/tasks", GET=tasks.image_tasks),
    resource("/v2/tasks", GET=tasks.list_tasks, POST=tasks.create_task),
    resource("/v2/tasks/{task_id}", GET=tasks.show_task, DELETE=tasks.delete_task),
    resource("/v2/images/{image_id}/tags/{tag}", PUT=images.add_tag, DELETE=images.delete_tag),
    resource(
        "/v2/images/{image_id}/locations",
        GET=locations.list_locations,
        POST=locations.add_location,
    ),
    resource("/v2/images/{image_id}/members", GET=members.list_members, POST=members.add_member),
    resource(
        "/v2/images/{image_id}/members/{member_id}",
        GET=members.show_member,
        PUT=members.update_member,
        DELETE=members.delete_member,
    ),
    resource("/v2/info/import", GET=discovery.import_methods),
    resource("/v2/info/stores", GET=discovery.stores),
    resource("/v2/info/stores/detail", GET=discovery.stores_detail),
    resource("/v2/stores/{store_id}/{image_id}", DELETE=stores.delete_from_store),
    resource("/v2/info/usage", GET=discovery.usage),
    resource("/v2/cache", GET=cache.list_cache, DELETE=cache.clear),
    resource("/v2/cache/clean", POST=cache.clean),
    resource("/v2/cache/prune", POST=cache.prune),
    resource("/v2/cache/nodes/{image_id}", GET=cache.list_nodes),
    resource("/v2/cache/{image_id}", PUT=cache.queue_image, DELETE=cache.delete_image),
    resource(
        "/v2/cached_images",
        GET=cache_legacy.list_cached,
        DELETE=cache_legacy.delete_all_cached,
    ),
    resource("/v2/cached_images/{image_id}", DELETE=cache_legacy.delete_cached),
    resource(
        "/v2/queued_images",
        GET=cache_legacy.list_queued,
        DELETE=cache_legacy.delete_all_queued,
    ),
    resource(
        "/v2/queued_images/{image_id}",
        PUT=cache_legacy.queue_image,
        DELETE=cache_legacy.delete_queued,
    ),
    resource("/v2/schemas/image", GET=schemas.image_schema),
    resource("/v2/schemas/images", GET=schemas.images_schema),
    resource("/v2/schemas/member", GET=schemas.member_schema),
    resource("/v2/schemas/members", GET=schemas.members_schema),
    resource("/v2/schemas/task", GET=tasks.task_schema),
    resource("/v2/schemas/tasks", GET=tasks.tasks_schema),
    *metadef_routes(resource),
]
