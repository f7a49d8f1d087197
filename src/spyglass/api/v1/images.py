"""Handlers for ``/v1/images``: metadata in ``x-image-meta-*`` headers, the same services.

Creating is ``ImageService.create`` with a v2-shaped document; updating is
``ImageService.update`` with the changes a v1 PUT amounts to; bytes go through
``UploadService.upload`` (failing as ``killed``, v1's way) and come back through
``DownloadService``. Visibility, quotas, protections and policy are therefore the
v2 ones: v1 only maps ``is_public`` onto visibility.
"""

from __future__ import annotations

import contextlib
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from spyglass.api.data_response import DataResponse
from spyglass.api.v1.headers import (
    V1Meta,
    brief_view,
    detail_view,
    lenient_bool,
    meta_from_document,
    parse_meta,
    render_headers,
)
from spyglass.api.v1.params import parse_v1_query
from spyglass.api.v1.sources import (
    RemoteSource,
    check_location,
    copy_client,
    copy_task,
    register_location,
    remote_source,
)
from spyglass.api.v2.common import context, json_body, require_no_body, services
from spyglass.api.v2.image_data import body_stream, content_length
from spyglass.domain import properties as props
from spyglass.domain.image import Image, ImageStatus, Visibility
from spyglass.domain.patch import Change, PatchOp
from spyglass.domain.properties import RESERVED_PREFIX
from spyglass.errors import BadRequest, Conflict, Forbidden, NotFound, SpyglassError
from spyglass.net.outbound import OutboundClient

_AMAZON = ("aki", "ari", "ami")
_SETTABLE = ("name", "disk_format", "container_format", "min_disk", "min_ram", "protected")


# -- reading a request ---------------------------------------------------------------------


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length", "")
    return bool(request.headers.get("transfer-encoding")) or (length not in ("", "0"))


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _read_request(request: Request) -> tuple[V1Meta, bool, RemoteSource | None]:
    """The request's metadata, whether its body is image data, and its remote source
    (``x-image-meta-location`` or ``x-glance-api-copy-from``): one data source at most.

    A JSON body (openstacksdk's v1 proxy sends one) holds metadata; header values
    win over it. Data needs ``application/octet-stream`` (or no Content-Type).
    """
    headers = parse_meta(request.scope["headers"])
    media = _media_type(request)
    meta, has_data = headers, False
    if not _has_body(request):
        # upstream: an explicit size of 0 is an image with no data, active at once
        empty = headers.core.get("size") == 0 and media != "application/json"
        has_data = empty and bool(headers.core.get("disk_format") or request.method == "PUT")
    elif media == "application/json":
        meta = meta_from_document(await json_body(request))
        meta.core.update(headers.core)
        meta.properties.update(headers.properties)
    elif media in ("", "application/octet-stream"):
        has_data = True
    else:
        raise BadRequest("Content-Type must be application/octet-stream for image data.")
    source = remote_source(request, meta)
    if source is not None and _has_body(request) and has_data:
        raise BadRequest("Give the image data in the body, a location or a copy-from, not two.")
    return meta, has_data and source is None, source


def _check_store(request: Request, meta: V1Meta) -> None:
    store = meta.core.get("store")
    if store is not None and store not in services(request).images.stores.stores:
        raise BadRequest(f"Store for scheme {store} not found.")


def _check_declared_size(request: Request, meta: V1Meta) -> None:
    declared = content_length(request) or meta.core.get("size")
    cap = services(request).settings.image_size_cap
    if declared is not None and declared > cap:
        raise BadRequest(f"Denying attempt to upload image larger than {cap} bytes.")


def _formats(meta: V1Meta, current: Image | None = None) -> None:
    """Upstream's rule for the Amazon formats: aki, ari and ami go in pairs."""
    core = meta.core
    disk = core.get("disk_format") or (current.disk_format if current else None)
    container = core.get("container_format") or (current.container_format if current else None)
    if disk in _AMAZON or container in _AMAZON:
        if disk is None:
            core["disk_format"] = container
        elif container is None:
            core["container_format"] = disk
        elif disk != container:
            raise BadRequest(
                "Invalid mix of disk and container formats: when setting a disk or container "
                "format to one of 'aki', 'ari', or 'ami', the container and disk formats "
                "must match."
            )
    checksum = core.get("checksum")
    if checksum is not None and len(checksum) > 32:
        raise BadRequest("Invalid checksum: at most 32 characters.")


def _property_name(key: str) -> str:
    if key in props.BASE_PROPERTIES:
        raise BadRequest(f"Property {key} is a core image attribute, not a custom property.")
    return key


# -- answering -----------------------------------------------------------------------------


def _readable(request: Request, image: Image) -> Image:
    return services(request).images.readable(context(request), image, with_locations=False)


def _image_response(request: Request, image: Image, status: int = 200) -> Response:
    shown = _readable(request, image)
    response = JSONResponse({"image": detail_view(shown, shown.properties)}, status_code=status)
    if image.checksum:
        response.headers["ETag"] = image.checksum
    return response


async def _upload(request: Request, image: Image, meta: V1Meta) -> Image:
    return await services(request).uploads.upload(
        context(request),
        image.id,
        body_stream(request),
        size=meta.core.get("size"),
        length_hint=content_length(request),
        checksum=meta.core.get("checksum"),
        failed_status=ImageStatus.KILLED,
    )


# -- handlers ------------------------------------------------------------------------------


async def _list(request: Request) -> list[Image]:
    await require_no_body(request)
    svc = services(request)
    query = parse_v1_query(
        list(request.query_params.multi_items()),
        context(request),
        default_limit=svc.settings.limit_param_default,
        max_limit=svc.settings.api_limit_max,
    )
    images, _ = await svc.images.list(context(request), query)
    return [_readable(request, i) for i in images]


async def list_images(request: Request) -> Response:
    return JSONResponse({"images": [brief_view(i) for i in await _list(request)]})


async def v1_root(request: Request) -> Response:
    """``GET /v1/``: upstream's brief listing, plus this version's discovery entry.

    keystoneauth runs version discovery on the endpoint it is given; without a
    catalog (``auth_type none``) it ignores the version asked for on an unversioned
    endpoint, so v1 clients are pointed at ``.../v1/``, which must then describe itself.
    """
    base = services(request).settings.public_endpoint or str(request.base_url)
    version = {
        "id": "v1.1",
        "status": "SUPPORTED",
        "links": [{"rel": "self", "href": base.rstrip("/") + "/v1/"}],
    }
    images = [brief_view(i) for i in await _list(request)]
    return JSONResponse({"images": images, "version": version})


async def list_detail(request: Request) -> Response:
    return JSONResponse({"images": [detail_view(i, i.properties) for i in await _list(request)]})


async def create_image(request: Request) -> Response:
    svc = services(request)
    ctx = context(request)
    meta, has_data, source = await _read_request(request)
    _check_store(request, meta)
    _formats(meta)
    if has_data or source is not None:
        _check_declared_size(request, meta)
        if not meta.core.get("disk_format") or not meta.core.get("container_format"):
            raise BadRequest("Disk format and container format must be specified with data.")
    client = await _check_source(request, source, meta)
    document: dict[str, Any] = {
        k: meta.core[k] for k in (*_SETTABLE, "owner", "id") if meta.core.get(k) is not None
    }
    visibility = Visibility.PUBLIC if meta.core.get("is_public") else Visibility.SHARED
    document["visibility"] = visibility.value
    for key, value in meta.properties.items():
        document[_property_name(key)] = value or ""
    image = await svc.images.create(ctx, document)
    if has_data:
        image = await _upload(request, image, meta)
    if source is not None and not source.copy:
        try:
            image = await register_location(request, image, source.url)
        except BaseException:
            with anyio.CancelScope(shield=True), contextlib.suppress(SpyglassError):
                await svc.images.delete(ctx, image.id)  # no image without its data
            raise
    response = _image_response(request, image, status=201)
    response.headers["Location"] = str(request.url_for("v1_image", image_id=image.id))
    if client is not None and source is not None:
        response.background = copy_task(request, image, client, source.url, meta)
    return response


async def _check_source(
    request: Request, source: RemoteSource | None, meta: V1Meta
) -> OutboundClient | None:
    """What must hold before the image is touched; for a copy, the client to fetch with."""
    if source is None:
        return None
    if source.copy:
        return await copy_client(request, source.url)
    await check_location(request, source.url, meta.core.get("size"))
    return None


async def head_image(request: Request) -> Response:
    image = await services(request).images.get(context(request), request.path_params["image_id"])
    shown = _readable(request, image)
    response = Response(status_code=200)
    response.raw_headers.extend(render_headers(shown, shown.properties))
    return response


async def show_image(request: Request) -> Response:
    """The data, with the metadata in headers; only active images have data here."""
    await require_no_body(request)
    svc = services(request)
    ctx = context(request)
    image_id = request.path_params["image_id"]
    image = await svc.images.get(ctx, image_id)
    if image.status not in (ImageStatus.ACTIVE, ImageStatus.DEACTIVATED):
        raise NotFound(f"Image {image_id} is not active (status {image.status}).")
    if image.status is ImageStatus.DEACTIVATED:
        raise Forbidden(
            "The requested image has been deactivated. Image data download is forbidden."
        )
    result = await svc.downloads.download(ctx, image_id)
    shown = _readable(request, result.image)
    if result.data is None:
        response: Response = Response(b"", media_type="application/octet-stream")
    else:
        headers = {"Content-Length": str(result.data.size)}
        if result.image.checksum:
            headers["Content-MD5"] = result.image.checksum  # what openstacksdk verifies
        response = DataResponse(result.data, headers=headers)
    response.raw_headers.extend(render_headers(shown, shown.properties))
    return response


async def update_image(request: Request) -> Response:
    svc = services(request)
    ctx = context(request)
    image_id = request.path_params["image_id"]
    meta, has_data, source = await _read_request(request)
    current = await svc.images.get(ctx, image_id)
    _check_store(request, meta)
    _formats(meta, current)
    if source is not None and current.status is not ImageStatus.QUEUED:
        raise BadRequest("A location or copy-from can be given only for a queued image.")
    for key in ("status", "id"):
        if meta.has(key) and meta.core[key] != str(getattr(current, key)):
            raise Forbidden(f"Forbidden to modify '{key}' of image {image_id}.")
    if current.status in (ImageStatus.ACTIVE, ImageStatus.DEACTIVATED):
        for key in ("size", "checksum"):
            if meta.has(key) and meta.core[key] != getattr(current, key):
                raise Forbidden(f"Forbidden to modify '{key}' of an {current.status} image.")
    if has_data:
        if current.status is not ImageStatus.QUEUED:
            raise Conflict("Cannot upload to an unqueued image.")
        _check_declared_size(request, meta)
    # a JSON document (openstacksdk) names only what changes: it purges nothing unless
    # told to; headers replace the property set, as upstream's PUT did
    default_purge = "false" if _media_type(request) == "application/json" else "true"
    purge = not has_data and lenient_bool(
        request.headers.get("x-glance-registry-purge-props", default_purge)
    )
    client = await _check_source(request, source, meta)
    changes = _changes(meta, _readable(request, current), purge=purge)
    image = current
    if changes:
        image = await svc.images.update(ctx, image_id, changes)
    if has_data:
        image = await _upload(request, image, meta)
    if source is not None and not source.copy:
        image = await register_location(request, image, source.url)
    response = _image_response(request, image)
    if client is not None and source is not None:
        response.background = copy_task(request, image, client, source.url, meta)
    return response


def _changes(meta: V1Meta, current: Image, *, purge: bool) -> list[Change]:
    """What a v1 PUT asks for, as the PATCH changes ``ImageService.update`` applies.

    Only real changes are listed, so restating a value (a format of an active
    image, say) is no attempt to change it. ``current`` is the image as the
    caller may read it: properties it cannot read are never purged, nor the server's own
    ``os_glance_*`` bookkeeping (imports), which no client may remove.
    """
    changes: list[Change] = []
    for key in (*_SETTABLE, "owner"):
        if key not in meta.core:
            continue
        value = meta.core[key]
        if value is None and key != "name":
            continue
        if value != getattr(current, key):
            changes.append(Change(PatchOp.REPLACE, (key,), value))
    if "is_public" in meta.core:
        wanted = _visibility(bool(meta.core["is_public"]), current.visibility)
        if wanted is not current.visibility:
            changes.append(Change(PatchOp.REPLACE, ("visibility",), wanted.value))
    for key, raw in meta.properties.items():
        value = raw or ""
        if key not in current.properties:
            changes.append(Change(PatchOp.ADD, (_property_name(key),), value))
        elif current.properties[key] != value:
            changes.append(Change(PatchOp.REPLACE, (key,), value))
    if purge:
        changes.extend(
            Change(PatchOp.REMOVE, (key,))
            for key in current.properties
            if key not in meta.properties and not key.startswith(RESERVED_PREFIX)
        )
    return changes


def _visibility(public: bool, current: Visibility) -> Visibility:
    """``is_public=true`` is public; ``false`` makes a public image shared and leaves
    private, shared and community images as they are (all read as non-public)."""
    if public:
        return Visibility.PUBLIC
    return Visibility.SHARED if current is Visibility.PUBLIC else current


async def delete_image(request: Request) -> Response:
    await require_no_body(request)
    await services(request).images.delete(context(request), request.path_params["image_id"])
    return Response(status_code=200)
