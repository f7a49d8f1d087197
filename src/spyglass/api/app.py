"""Build the API server's ASGI application from ``Settings``.

The middleware order is declared here, once: request id outermost (so even
errors carry it), then version negotiation, then the caller's context.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import cast

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from spyglass.api.access_log import AccessLogMiddleware
from spyglass.api.basics import auth_mode as auth_mode  # re-exported: the CLI, the registry
from spyglass.api.basics import build_stores as build_stores
from spyglass.api.basics import database_url as database_url
from spyglass.api.errors import EXCEPTION_HANDLERS
from spyglass.api.health import (
    Check,
    Healthcheck,
    database_check,
    probe_check,
    stores_check,
)
from spyglass.api.middleware import (
    ContextMiddleware,
    RequestIdMiddleware,
    VersionNegotiationMiddleware,
)
from spyglass.api.openapi import BodySchemas, openapi_endpoint
from spyglass.api.path_guard import PathGuardMiddleware
from spyglass.api.state import Services
from spyglass.api.v1.routes import ROUTES as V1_ROUTES
from spyglass.api.v2.cache_legacy import LegacyCachePaths
from spyglass.api.v2.routes import ROUTES
from spyglass.api.v2.views import ViewOptions
from spyglass.api.versions import VersionsApp, accepted_versions
from spyglass.auth.headers import context_from_headers, unauthenticated
from spyglass.auth.policy_file import load_policy
from spyglass.auth.protections_file import load_protections
from spyglass.config import Settings
from spyglass.db.engine import Database, PoolOptions, create_database
from spyglass.db.outbox import Outbox
from spyglass.imports.wiring import build_imports
from spyglass.keys.config import signature_service
from spyglass.notify.base import NotifyConfig, build_notifier, notify_config
from spyglass.notify.events import EventFilter
from spyglass.notify.publisher import Publisher
from spyglass.registry.connection import RegistryConnection
from spyglass.registry.repositories import (
    Repositories,
    configured_repositories,
    sql_repositories,
    uses_registry,
)
from spyglass.services.access import Access
from spyglass.services.download import DownloadService
from spyglass.services.images import ImageService
from spyglass.services.members import MemberService
from spyglass.services.metadefs import MetadefService
from spyglass.services.quotas import parse_storage_quota
from spyglass.services.recovery import Recovery
from spyglass.services.stores import StoreService, store_ids
from spyglass.services.upload import UploadService
from spyglass.stores.registry import StoreSet
from spyglass.streams.digest import check_algorithm
from spyglass.timeutils import utcnow

log = logging.getLogger(__name__)


def build_outbox(config: NotifyConfig, database: Database) -> Outbox | None:
    """Where events are recorded, unless notifications are off (``noop``)."""
    if not config.enabled:
        return None
    return Outbox(database, publisher_id=config.publisher_id, events=EventFilter(config.disabled))


def build_services(
    settings: Settings,
    database: Database,
    stores: StoreSet,
    outbox: Outbox | None = None,
    *,
    repositories: Repositories | None = None,
) -> Services:
    """Every use case, wired to the repositories (the database's unless given), the
    stores, the policy and the outbox."""
    repos = repositories or sql_repositories(database, outbox)
    lease = cast("float", settings.option("recovery", "upload_lease"))
    member_repo = repos.members
    policy = load_policy(settings)
    images = ImageService(
        repos.images,
        stores,
        Access(policy, member_repo),
        disk_formats=settings.disk_formats,
        container_formats=settings.container_formats,
        property_quota=settings.image_property_quota,
        tag_quota=settings.image_tag_quota,
        clock=utcnow,
        delayed_delete=settings.delayed_delete,
        protections=load_protections(settings, policy),
        show_locations=settings.show_multiple_locations,
        location_quota=settings.image_location_quota,
        events=repos.events,
    )
    return Services(
        settings=settings,
        images=images,
        members=MemberService(images, member_repo, quota=settings.image_member_quota),
        uploads=UploadService(
            images,
            hashing_algorithm=settings.hashing_algorithm,
            size_cap=settings.image_size_cap,
            require_format_match=settings.require_image_format_match,
            storage_quota=parse_storage_quota(settings.user_storage_quota),
            gpt_nonfatal=cast(
                "tuple[str, ...]", settings.option("image_format", "gpt_safety_checks_nonfatal")
            ),
            signatures=signature_service(settings),
            leases=repos.leases,
            lease_seconds=lease,
        ),
        downloads=DownloadService(images),
        views=ViewOptions(
            show_direct_url=settings.show_image_direct_url,
            show_locations=settings.show_multiple_locations,
            stores_of=functools.partial(store_ids, stores) if stores.multiple else None,
        ),
        metadefs=MetadefService(repos.metadefs, policy),
        stores=StoreService(images, types=dict(settings.enabled_backends or {})),
        recovery=Recovery(images, repos.leases, lease=lease),
    )


def v1_enabled(settings: Settings) -> bool:
    """``enable_v1_api`` (on by default, as upstream's was while it served v1)."""
    return bool(settings.option("DEFAULT", "enable_v1_api"))


def build_middleware(settings: Settings, services: Services, versions: ASGIApp) -> list[Middleware]:
    """The pipeline, outermost first: request id, version routing, identity, context."""
    mode = auth_mode(settings)
    policy = services.images.access.policy
    cache_on = services.cache is not None
    stack = [
        Middleware(
            RequestIdMiddleware,
            reuse_caller_id=mode != "noauth",
            max_length=settings.max_request_id_length,
        ),
        Middleware(AccessLogMiddleware),
        Middleware(PathGuardMiddleware),
    ]
    if services.cache is not None and services.cache.legacy_routes:
        stack.append(Middleware(LegacyCachePaths))
    stack.append(
        Middleware(
            VersionNegotiationMiddleware,
            accepted=lambda: accepted_versions(cache_on, bool(settings.enabled_backends)),
            versions_app=versions,
            v1=v1_enabled(settings),
            v2=bool(settings.option("DEFAULT", "enable_v2_api")),
        )
    )
    if mode == "keystone":
        from spyglass.auth.keystone import KeystoneAuthMiddleware
        from spyglass.auth.keystone_config import KeystoneAuthConfig

        stack.append(
            Middleware(
                KeystoneAuthMiddleware,
                config=KeystoneAuthConfig.from_settings(settings),
                exempt_paths={"/", "/versions", "/healthcheck"},
            )
        )
    make_context = unauthenticated if mode == "noauth" else context_from_headers(policy.is_admin)
    stack.append(Middleware(ContextMiddleware, make_context=make_context))
    return stack


def build_app(settings: Settings, *, data_dir: Path = Path("data")) -> Starlette:
    """The API server; ``data_dir`` holds the embedded database and images by default."""
    check_algorithm(settings.hashing_algorithm)
    pool = PoolOptions.from_settings(settings)
    database = create_database(database_url(settings, data_dir), pool)
    stores = build_stores(settings, data_dir)
    notifications = notify_config(settings)
    # through a registry, the registry's outbox records the events and its publisher sends them
    outbox = None if uses_registry(settings) else build_outbox(notifications, database)
    repositories, registry = configured_repositories(
        settings, database, outbox, events=notifications.enabled
    )
    services = build_services(settings, database, stores, outbox, repositories=repositories)
    imports = build_imports(settings, repositories.tasks, services.uploads)
    services.imports, services.tasks = imports.imports, imports.tasks
    cache = None
    if settings.image_cache_dir:  # the cache's code (and prometheus_client) loads only then
        from spyglass.api import caching

        cache = caching.build_cache(settings, database, services, clock=time.time)
    versions = VersionsApp(
        settings.public_endpoint,
        cache=cache is not None,
        v1=v1_enabled(settings),
        v2=bool(settings.option("DEFAULT", "enable_v2_api")),
        multi_store=bool(settings.enabled_backends),
    )

    @contextlib.asynccontextmanager
    async def serving(app: Starlette) -> AsyncIterator[None]:
        await stores.open()
        if registry is not None:
            await warn_if_down(registry)
        try:
            async with (
                publishing(notifications, database, outbox),
                imports.running(),
                services.recovery.running() if services.recovery else contextlib.nullcontext(),
            ):
                yield
        finally:
            await stores.close()
            await database.dispose()
            if registry is not None:
                await registry.aclose()

    lifespan = serving if cache is None else caching.with_cache(serving, settings, cache)
    app = Starlette(
        routes=[
            Route("/", versions),
            Route("/versions", versions),
            Route(
                "/healthcheck",
                Healthcheck(settings, health_checks(database, registry, stores)).answer,
                methods=["GET", "HEAD"],
            ),
            Route("/openapi.json", openapi_route(settings), methods=["GET"]),
            *ROUTES,
            *(V1_ROUTES if v1_enabled(settings) else []),
        ],
        middleware=[
            *metrics_middleware(settings, database if outbox is not None else None),
            *build_middleware(settings, services, versions),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.services = services
    app.router.redirect_slashes = False
    return app


@contextlib.asynccontextmanager
async def publishing(
    config: NotifyConfig, database: Database, outbox: Outbox | None
) -> AsyncIterator[Publisher | None]:
    """This worker's notification publisher, running in the background while serving."""
    if outbox is None:
        yield None
        return
    publisher = Publisher(
        database,
        build_notifier(config),
        retry_backoff=config.retry_backoff,
        retry_max_backoff=config.retry_max_backoff,
    )
    outbox.on_commit(publisher.wake)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(publisher.run)
        try:
            yield publisher
        finally:
            tasks.cancel_scope.cancel()
    with anyio.CancelScope(shield=True):
        await publisher.drain(2.0)
        await publisher.close()


async def warn_if_down(registry: RegistryConnection) -> None:
    """Start without the registry (start order should not matter) but say so, once."""
    reason = await registry.probe()
    if reason is not None:
        log.error(
            "the registry at %s is unreachable (%s); requests answer 503 until it is back",
            registry.address.url, reason,
        )  # fmt: skip


def metrics_middleware(settings: Settings, outbox_database: Database | None) -> list[Middleware]:
    """``[metrics] enabled``: count every request and answer ``/metrics`` (off by default)."""
    if not settings.option("metrics", "enabled"):
        return []
    from spyglass.api.metrics import MetricsMiddleware

    return [Middleware(MetricsMiddleware, outbox_database=outbox_database)]


def openapi_route(settings: Settings) -> Callable[[Request], Awaitable[Response]]:
    """``/openapi.json``: the routes of this app, with the schemas it validates with."""
    metrics = ["/metrics"] if settings.option("metrics", "enabled") else []
    bodies = functools.partial(BodySchemas, settings.disk_formats, settings.container_formats)
    return openapi_endpoint(bodies, metrics)


def health_checks(
    database: Database, registry: RegistryConnection | None, stores: StoreSet
) -> list[Check]:
    """What ``/healthcheck`` asks: where the metadata lives, and the stores' state."""
    metadata = (
        database_check(database) if registry is None else probe_check("registry", registry.probe)
    )
    return [metadata, stores_check(stores)]
