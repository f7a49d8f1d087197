"""Build the API server's ASGI application from ``Settings``.

The middleware order is declared here, once: request id outermost (so even
errors carry it), then version negotiation, then the caller's context.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from spyglass.api.errors import EXCEPTION_HANDLERS
from spyglass.api.middleware import (
    ContextMiddleware,
    RequestIdMiddleware,
    VersionNegotiationMiddleware,
    unauthenticated_context,
)
from spyglass.api.state import Services
from spyglass.api.v2.routes import ROUTES
from spyglass.api.v2.views import ViewOptions
from spyglass.api.versions import VersionsApp, accepted_versions
from spyglass.config import Settings
from spyglass.db.engine import create_engine, session_factory
from spyglass.db.images import SqlImageRepository
from spyglass.services.download import DownloadService
from spyglass.services.images import ImageService
from spyglass.services.upload import UploadService
from spyglass.stores.registry import StoreSet, driver_class
from spyglass.streams.digest import check_algorithm
from spyglass.timeutils import utcnow


def build_stores(settings: Settings, data_dir: Path) -> StoreSet:
    """The classic single-store options, as one backend named after its driver."""
    name = settings.default_store
    cls = driver_class(name)
    datadir = settings.filesystem_store_datadir or str(data_dir / "images")
    store = cls(name, datadir=datadir)  # type: ignore[call-arg]
    return StoreSet(stores={name: store}, default_id=name)


def database_url(settings: Settings, data_dir: Path) -> str:
    """The configured database, or the embedded SQLite file under ``data_dir``."""
    return settings.sql_connection or f"sqlite:///{data_dir / 'spyglass.sqlite'}"


def build_app(settings: Settings, *, data_dir: Path = Path("data")) -> Starlette:
    """The API server; ``data_dir`` holds the embedded database and images by default."""
    check_algorithm(settings.hashing_algorithm)
    engine = create_engine(database_url(settings, data_dir))
    stores = build_stores(settings, data_dir)
    images = ImageService(
        SqlImageRepository(session_factory(engine)),
        stores,
        disk_formats=settings.disk_formats,
        container_formats=settings.container_formats,
        property_quota=settings.image_property_quota,
        tag_quota=settings.image_tag_quota,
        clock=utcnow,
    )
    services = Services(
        settings=settings,
        images=images,
        uploads=UploadService(
            images,
            hashing_algorithm=settings.hashing_algorithm,
            size_cap=settings.image_size_cap,
            require_format_match=settings.require_image_format_match,
            gpt_nonfatal=cast(
                "tuple[str, ...]", settings.option("image_format", "gpt_safety_checks_nonfatal")
            ),
        ),
        downloads=DownloadService(images),
        views=ViewOptions(
            show_direct_url=settings.show_image_direct_url,
            show_locations=settings.show_multiple_locations,
        ),
    )
    versions = VersionsApp(settings.public_endpoint)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await stores.open()
        try:
            yield
        finally:
            await stores.close()
            await engine.dispose()

    app = Starlette(
        routes=[
            Route("/", versions),
            Route("/versions", versions),
            Route("/healthcheck", healthcheck),
            *ROUTES,
        ],
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(
                VersionNegotiationMiddleware, accepted=accepted_versions, versions_app=versions
            ),
            Middleware(ContextMiddleware, make_context=unauthenticated_context),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.services = services
    app.router.redirect_slashes = False
    return app


async def healthcheck(request: Request) -> Response:
    """Load balancers' probe, as upstream's oslo.middleware healthcheck answers it."""
    return PlainTextResponse("OK")
