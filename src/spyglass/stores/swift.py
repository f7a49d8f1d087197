"""Image data as objects in an OpenStack Swift container.

Our own small async driver on httpx (a core dependency) rather than
python-swiftclient: swiftclient is synchronous, so every chunk would cross a
thread, its retries cannot replay a streamed body, and cancellation of a
client's upload could not reach a request in flight. A Swift store needs only
a handful of calls (object PUT/GET/HEAD/DELETE, container HEAD/PUT and
listing), made on one connection pool (``swift_client``); large object bodies
are read straight off the socket (``swift_read``, which says why).

Below ``swift_store_large_object_size`` (and with a known size) an image is one
object. Above it, or when the size is unknown, it is written as segments of
``swift_store_large_object_chunk_size`` named ``<image>-00001``... next to it,
then a Dynamic Large Object manifest (``X-Object-Manifest: <container>/<image>-``),
exactly as upstream Glance writes them, so either reads and deletes the other's
objects. Segments stream straight from the upload pipeline (no disk buffer, one
pipeline chunk in memory); whatever a failed upload wrote is deleted, and if
Swift is unreachable then, deleted in the background once it is back.

Tokens are refreshed before they expire (``swift_store_expire_soon_interval``)
and before every segment, and a request refused with 401 whose body can be
sent again is retried once with a new token. A download broken off mid-way
resumes from the byte it reached, ``swift_store_retry_get_count`` times.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar, Self
from urllib.parse import quote

import anyio
import httpx

from spyglass.errors import (
    BadStoreUri,
    ConfigError,
    Duplicate,
    NotFound,
    RangeNotSatisfiable,
    SizeMismatch,
    StorageFull,
    StoreMisconfigured,
    StoreUnavailable,
)
from spyglass.stores.base import (
    IMAGE_ID,
    ByteRange,
    Capability,
    InventoryUnsupported,
    ReadResult,
    Store,
    StoredObject,
    StoreOptions,
    WriteResult,
)
from spyglass.stores.swift_auth import Catalog, Credentials
from spyglass.stores.swift_client import SwiftClient, object_path
from spyglass.stores.swift_read import BrokenBody, open_body
from spyglass.stores.swift_refs import (
    SCHEMES,
    SwiftLocation,
    format_location,
    load_references,
    parse_location,
)
from spyglass.stores.swift_stream import Pushback
from spyglass.types import ByteStream

MiB = 1024 * 1024
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}\Z")
CLEANUP_TIMEOUT = 30.0
"""Seconds a failed upload's cleanup may take before it is left to the background."""
SWEEP_DELAYS = (0.5, 1.0, 2.0, 3.0, 5.0)
"""Pauses between background attempts to delete what failed uploads left (the last repeats)."""
RESUME_PAUSE = 1.0
"""Seconds between attempts to resume a download while Swift does not answer."""
log = logging.getLogger(__name__)


class SwiftStore(Store):
    driver: ClassVar[str] = "swift"
    schemes: ClassVar[tuple[str, ...]] = SCHEMES

    def __init__(
        self,
        backend_id: str,
        *,
        references: Mapping[str, Credentials],
        reference: str = "ref1",
        container: str = "glance",
        create_container: bool = False,
        large_object_size: int = 5120 * MiB,
        segment_size: int = 200 * MiB,
        catalog: Catalog | None = None,
        retry_get_count: int = 0,
        expire_soon: float = 60.0,
        containers_seed: int = 0,
        snet: bool = False,
        verify: bool | str = True,
        timeout: float = 120.0,
    ) -> None:
        super().__init__(backend_id)
        self.references = dict(references)
        self.reference = reference
        self.container = container
        self.create_container = create_container
        self.large_object_size = large_object_size
        self.segment_size = segment_size
        self.retry_get_count = retry_get_count
        self.containers_seed = containers_seed
        self.swift = SwiftClient(
            backend_id,
            catalog=catalog or Catalog(),
            expire_soon=expire_soon,
            snet=snet,
            verify=verify,
            timeout=timeout,
        )
        self._orphans: set[tuple[Credentials, str, str]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    @classmethod
    def from_options(cls, backend_id: str, options: StoreOptions) -> Self:
        def text(name: str) -> str | None:
            value = options.get(name)
            return str(value) if value not in (None, "") else None

        def number(name: str) -> int:
            value = options.get(name)
            return value if isinstance(value, int) else int(str(value))

        version = text("swift_store_auth_version") or "2"
        reference = text("default_swift_reference") or "ref1"
        if options.get("swift_store_multi_tenant"):
            raise ConfigError(
                f"store {backend_id}: swift_store_multi_tenant is not supported "
                "(images go to the configured account)"
            )
        config_file = text("swift_store_config_file")
        if config_file:
            references = load_references(config_file, version)
        else:
            address, user, key = (
                text("swift_store_auth_address"),
                text("swift_store_user"),
                text("swift_store_key"),
            )
            missing = [
                name
                for name, value in (
                    ("swift_store_auth_address", address),
                    ("swift_store_user", user),
                    ("swift_store_key", key),
                )
                if not value
            ]
            if missing:
                raise ConfigError(f"store {backend_id}: set {', '.join(missing)}")
            assert address and user and key
            references = {reference: Credentials(address, user, key, version)}
        if reference not in references:
            raise ConfigError(
                f"store {backend_id}: default_swift_reference {reference!r} is not a "
                f"section of {config_file}"
            )
        cacert = text("swift_store_cacert")
        return cls(
            backend_id,
            references=references,
            reference=reference,
            container=text("swift_store_container") or "glance",
            create_container=bool(options.get("swift_store_create_container_on_put")),
            large_object_size=number("swift_store_large_object_size") * MiB,
            segment_size=number("swift_store_large_object_chunk_size") * MiB,
            catalog=Catalog(
                service_type=text("swift_store_service_type") or "object-store",
                endpoint_type=text("swift_store_endpoint_type") or "publicURL",
                region=text("swift_store_region"),
                endpoint=text("swift_store_endpoint"),
            ),
            retry_get_count=number("swift_store_retry_get_count"),
            expire_soon=float(number("swift_store_expire_soon_interval")),
            containers_seed=number("swift_store_multiple_containers_seed"),
            snet=bool(options.get("swift_enable_snet")),
            verify=False if options.get("swift_store_auth_insecure") else (cacert or True),
        )

    def properties(self) -> Mapping[str, object]:
        """Upstream's keys; both sizes in bytes, as upstream shows them."""
        return {
            "container": self.container,
            "large_object_size": self.large_object_size,
            "large_object_chunk_size": self.segment_size,
        }

    @property
    def capabilities(self) -> Capability:
        return Capability.READ | Capability.READ_RANGE | Capability.WRITE | Capability.DELETE

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        """Authenticate, and check (or create) the container new images go to."""
        creds = self.references[self.reference]
        await self.swift.token(creds, renew=True)
        if self.containers_seed == 0:
            await self._ensure_container(creds, self.container)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._orphans:
            log.error(
                "Swift store %s: %d segments of failed uploads could not be deleted: %s",
                self.backend_id,
                len(self._orphans),
                ", ".join(sorted(f"{c}/{n}" for _, c, n in self._orphans)),
            )
        await self.swift.aclose()

    # -- locations ------------------------------------------------------------------------

    def container_for(self, image_id: str) -> str:
        """``swift_store_container``, or with ``swift_store_multiple_containers_seed``
        that name plus ``_`` and the id's first characters (dashes not counted)."""
        if self.containers_seed <= 0:
            return self.container
        lowered = image_id.lower()
        prefix = lowered[: self.containers_seed + lowered[: self.containers_seed].count("-")]
        return f"{self.container}_{prefix}"

    def parse(self, location: str) -> SwiftLocation:
        return parse_location(location, self.references)

    def image_of(self, location: str) -> str | None:
        try:
            where = self.parse(location)
        except BadStoreUri:
            return None
        if where.reference is None or not _SAFE_ID.match(where.obj):
            return None
        return where.obj if where.container == self.container_for(where.obj) else None

    # -- the store interface --------------------------------------------------------------

    async def add(self, image_id: str, data: ByteStream, *, size: int | None) -> WriteResult:
        if not _SAFE_ID.match(image_id):
            raise BadStoreUri(f"Invalid image id for the Swift store: {image_id!r}")
        creds = self.references[self.reference]
        container = self.container_for(image_id)
        await self._ensure_container(creds, container)
        existing = await self.swift.call(creds, "HEAD", container, image_id)
        if existing.status_code < 300:
            raise Duplicate(f"Image data for {image_id} already exists in the Swift store.")
        stream = Pushback(data)
        if size is not None and size < self.large_object_size:
            written = await self._put_single(creds, container, image_id, stream, size)
        else:
            written = await self._put_segmented(creds, container, image_id, stream, size)
        return WriteResult(
            location=format_location(self.reference, container, image_id), size=written
        )

    async def get(self, location: str, *, byte_range: ByteRange | None = None) -> ReadResult:
        where = self.parse(location)
        start = byte_range.start if byte_range else 0
        end = byte_range.end if byte_range else None
        opened = await self._open_read(where, start, end)
        length = opened.length
        if length is None:
            size = await self.get_size(location)
            length = size - start if end is None else min(end + 1, size) - start
        return ReadResult(stream=self._body(where, opened, start, end), size=length)

    async def get_size(self, location: str) -> int:
        where = self.parse(location)
        response = await self.swift.call(where.credentials, "HEAD", where.container, where.obj)
        _check(response, self.backend_id, "read")
        return int(response.headers.get("Content-Length", 0))

    async def delete(self, location: str) -> None:
        """The object, and for a large object its segments first (a manifest left
        by an interrupted delete still leads a retry to them)."""
        where = self.parse(location)
        creds, container = where.credentials, where.container
        head = await self.swift.call(creds, "HEAD", container, where.obj)
        if head.status_code == 404:
            await self._delete_segments(creds, container, f"{where.obj}-")  # orphans
            raise NotFound("Image data not found in the Swift store.")
        _check(head, self.backend_id, "delete")
        if head.headers.get("X-Static-Large-Object", "").lower() == "true":
            response = await self.swift.call(
                creds, "DELETE", container, where.obj, params={"multipart-manifest": "delete"}
            )
            _check(response, self.backend_id, "delete")
            return
        manifest = head.headers.get("X-Object-Manifest")
        if manifest:
            segment_container, _, prefix = manifest.partition("/")
            await self._delete_segments(creds, segment_container, prefix)
        response = await self.swift.call(creds, "DELETE", container, where.obj)
        _check(response, self.backend_id, "delete")

    async def discard_partial(self, image_id: str) -> None:
        """A killed server's upload: its segments and a manifest it may have written
        before the database heard of it (an image still ``saving`` has no location)."""
        if not _SAFE_ID.match(image_id):
            return
        creds = self.references[self.reference]
        container = self.container_for(image_id)
        try:
            await self._delete_segments(creds, container, f"{image_id}-")
            response = await self.swift.call(creds, "DELETE", container, image_id)
        except StoreUnavailable:
            log.warning(
                "Swift store %s: cannot remove image %s's partial upload now",
                self.backend_id,
                image_id,
            )
            return
        if response.status_code >= 300 and response.status_code != 404:
            _check(response, self.backend_id, "delete")

    async def inventory(self) -> AsyncIterator[StoredObject]:
        """The container's objects named as image ids: whole objects and manifests, a
        manifest's size being that of its segments (``<id>-NNNNN``, listed right after it;
        ``delete`` removes them with it). Segments without a manifest are a killed upload's
        (``discard_partial``). With
        ``swift_store_multiple_containers_seed`` the data is spread over many containers,
        which this does not enumerate."""
        if self.containers_seed > 0:
            raise InventoryUnsupported(
                f"the swift store {self.backend_id} spreads images over several containers"
            )
        creds = self.references[self.reference]
        pending: StoredObject | None = None
        async for entry in self._entries(creds, self.container):
            name = str(entry["name"])
            size = int(str(entry.get("bytes", 0)))
            if pending is not None and name.startswith(f"{self.image_of(pending.location)}-"):
                # a segment, listed right after its manifest: the image's size is theirs
                pending = StoredObject(pending.location, pending.size + size, pending.modified)
                continue
            if pending is not None:
                yield pending
                pending = None
            if IMAGE_ID.match(name):
                location = format_location(self.reference, self.container, name)
                modified = _listed_time(str(entry.get("last_modified", "")))
                pending = StoredObject(location, size, modified)
        if pending is not None:
            yield pending

    # -- writing --------------------------------------------------------------------------

    async def _ensure_container(self, creds: Credentials, container: str) -> None:
        """HEAD the container (which also proves the token right before data is
        streamed); create it when missing and allowed."""
        response = await self.swift.call(creds, "HEAD", container)
        if response.status_code == 404:
            if not self.create_container:
                raise StoreMisconfigured(
                    f"Swift store {self.backend_id}: container {container!r} does not exist; "
                    "create it or set swift_store_create_container_on_put = True."
                )
            log.info("Swift store %s: creating container %s", self.backend_id, container)
            response = await self.swift.call(creds, "PUT", container)
        _check(response, self.backend_id, "write")

    async def _put_single(
        self, creds: Credentials, container: str, obj: str, stream: Pushback, size: int
    ) -> int:
        try:
            written = await self._put_streamed(
                creds, container, obj, stream.take(size, exact=True), size
            )
            if await stream.next() is not None:
                raise SizeMismatch("The image data is longer than its declared size.")
            return written
        except Duplicate:
            raise  # someone else's object: not ours to delete
        except BaseException:
            await self._discard(creds, container, [obj])
            raise

    async def _put_segmented(
        self, creds: Credentials, container: str, obj: str, stream: Pushback, size: int | None
    ) -> int:
        names: list[str] = []
        written = 0
        try:
            while size is None or written < size:
                want = self.segment_size if size is None else min(self.segment_size, size - written)
                first = await stream.next()
                if first is None:
                    break
                stream.push(first)
                names.append(f"{obj}-{len(names) + 1:05d}")
                if names[1:]:
                    await self._ensure_container(creds, container)  # a fresh token, if need be
                length = None if size is None else want
                got = await self._put_streamed(
                    creds,
                    container,
                    names[-1],
                    stream.take(want, exact=length is not None),
                    length,
                    segment=True,
                )
                written += got
                if got < want:
                    break
            if size is not None and written < size:
                raise SizeMismatch("The image data is shorter than its declared size.")
            if await stream.next() is not None:
                raise SizeMismatch("The image data is longer than its declared size.")
            names.append(obj)
            headers = {"X-Object-Manifest": f"{quote(container)}/{quote(obj)}-"}
            response = await self.swift.call(
                creds, "PUT", container, obj, headers={**headers, "If-None-Match": "*"}
            )
            if response.status_code == 412:
                names.pop()
            _check(response, self.backend_id, "write")
            await self._verify_manifest(creds, container, obj, written)
            return written
        except BaseException:
            await self._discard(creds, container, names)
            raise

    async def _put_streamed(
        self,
        creds: Credentials,
        container: str,
        obj: str,
        body: AsyncIterator[bytes],
        length: int | None,
        *,
        segment: bool = False,
    ) -> int:
        """PUT ``body``; a segment may replace what a crashed upload left at its name."""
        counted = _Counted(body)
        headers = {"Content-Type": "application/octet-stream"}
        if not segment:
            headers["If-None-Match"] = "*"  # image data is never overwritten
        if length is not None:
            headers["Content-Length"] = str(length)
        response = await self.swift.call(
            creds, "PUT", container, obj, headers=headers, content=counted, replayable=False
        )
        if response.status_code == 404:
            raise StoreUnavailable(
                f"Swift store {self.backend_id}: container {container!r} disappeared."
            )
        _check(response, self.backend_id, "write")
        return counted.count

    async def _verify_manifest(
        self, creds: Credentials, container: str, obj: str, size: int
    ) -> None:
        """A manifest's length comes from the container listing, which a loaded
        cluster may update late: wait until it accounts for every segment."""
        for delay in (0.0, 0.2, 0.5, 1.0, 2.0, 4.0):
            await anyio.sleep(delay)
            head = await self.swift.call(creds, "HEAD", container, obj)
            if head.status_code < 300 and int(head.headers.get("Content-Length", -1)) == size:
                return
        raise StoreUnavailable(
            f"Swift store {self.backend_id}: the container listing does not show every segment "
            "of the new large object."
        )

    async def _discard(self, creds: Credentials, container: str, names: list[str]) -> None:
        """Delete what a failed upload wrote, even while it is being cancelled; what
        cannot be deleted now is left to the background sweeper."""
        if not names:
            return
        left = list(names)
        with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_TIMEOUT):
            for name in names:
                try:
                    response = await self.swift.call(creds, "DELETE", container, name)
                except StoreUnavailable:
                    break
                if response.status_code < 300 or response.status_code == 404:
                    left.remove(name)
        if left:
            log.warning(
                "Swift store %s: %d objects of a failed upload will be deleted once Swift "
                "answers again",
                self.backend_id,
                len(left),
            )
            self._orphans.update((creds, container, name) for name in left)
            if self._sweeper is None or self._sweeper.done():
                self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        attempt = 0
        while self._orphans:
            await asyncio.sleep(SWEEP_DELAYS[min(attempt, len(SWEEP_DELAYS) - 1)])
            attempt += 1
            for orphan in list(self._orphans):
                creds, container, name = orphan
                try:
                    response = await self.swift.call(creds, "DELETE", container, name)
                except StoreUnavailable:
                    break
                except Exception:  # a sweeper must not die
                    log.exception("Swift store %s: deleting %s failed", self.backend_id, name)
                    continue
                if response.status_code < 300 or response.status_code == 404:
                    self._orphans.discard(orphan)
        log.info("Swift store %s: the failed uploads' objects are deleted", self.backend_id)

    async def _delete_segments(self, creds: Credentials, container: str, prefix: str) -> None:
        for name in await self._list(creds, container, prefix):
            response = await self.swift.call(creds, "DELETE", container, name)
            if response.status_code >= 300 and response.status_code != 404:
                _check(response, self.backend_id, "delete")

    async def _list(self, creds: Credentials, container: str, prefix: str) -> list[str]:
        return [str(entry["name"]) async for entry in self._entries(creds, container, prefix)]

    async def _entries(
        self, creds: Credentials, container: str, prefix: str = ""
    ) -> AsyncIterator[dict[str, object]]:
        """The container's listing (JSON entries: name, bytes, last_modified...), a page at
        a time; nothing for a container that does not exist."""
        marker = ""
        while True:
            params = {"prefix": prefix, "format": "json", "marker": marker}
            response = await self.swift.call(creds, "GET", container, params=params)
            if response.status_code == 404:
                return
            _check(response, self.backend_id, "read")
            page = response.json()
            if not page:
                return
            for entry in page:
                yield entry
            marker = page[-1]["name"]

    # -- reading --------------------------------------------------------------------------

    async def _open_read(self, where: SwiftLocation, start: int, end: int | None) -> _Opened:
        """The object's bytes from ``start``: read off the socket when Swift answers
        plainly (``swift_read``), else through httpx, which also renews tokens."""
        headers = {}
        if start or end is not None:
            headers["Range"] = f"bytes={start}-{'' if end is None else end}"
        token = await self.swift.token(where.credentials)
        url = token.storage_url + object_path(where.container, where.obj)
        try:
            with anyio.fail_after(self.swift.read_timeout):
                direct = await open_body(
                    url,
                    {**headers, "X-Auth-Token": token.value},
                    ssl_context=self.swift.ssl,
                    read_timeout=self.swift.read_timeout,
                )
        except (OSError, TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError, BrokenBody):
            direct = None  # httpx tells unreachable from refused, with its own errors
        if direct is not None:
            return _Opened(direct.length, direct.chunks(), direct.aclose)
        response = await self.swift.call(
            where.credentials, "GET", where.container, where.obj, headers=headers, stream=True
        )
        if response.status_code >= 300:
            await response.aread()
            await response.aclose()
            if response.status_code == 416:
                raise RangeNotSatisfiable("The requested range is not satisfiable.")
            _check(response, self.backend_id, "read")
        length = response.headers.get("Content-Length")
        return _Opened(int(length) if length else None, response.aiter_raw(), response.aclose)

    async def _body(
        self, where: SwiftLocation, opened: _Opened, start: int, end: int | None
    ) -> ByteStream:
        """The object's bytes; a broken transfer resumes where it stopped."""
        retries = self.retry_get_count
        offset = start
        try:
            while True:
                try:
                    async for chunk in opened.chunks:
                        offset += len(chunk)
                        yield chunk
                    return
                except (httpx.HTTPError, BrokenBody) as exc:
                    await opened.aclose()
                    broken: Exception = exc
                    while True:  # each attempt, successful or not, uses up one retry
                        if retries <= 0:
                            raise StoreUnavailable(
                                f"Swift store {self.backend_id}: the download broke off "
                                f"({type(broken).__name__})."
                            ) from None
                        retries -= 1
                        log.info(
                            "Swift store %s: resuming a download at byte %d (%d retries left)",
                            self.backend_id,
                            offset,
                            retries,
                        )
                        try:
                            opened = await self._open_read(where, offset, end)
                            break
                        except StoreUnavailable as exc:
                            broken = exc
                            await anyio.sleep(RESUME_PAUSE)
        finally:
            await opened.aclose()


def _check(response: httpx.Response, store: str, doing: str) -> None:
    status = response.status_code
    if status < 300:
        return
    if status == 404:
        raise NotFound("Image data not found in the Swift store.")
    if status == 412:
        raise Duplicate("Swift already has image data at this location.")
    if status in (413, 507):
        raise StorageFull(f"Swift store {store} has no room for the image (quota or space).")
    if status in (401, 403):
        raise StoreMisconfigured(f"Swift store {store}: Swift refused to {doing} ({status}).")
    raise StoreUnavailable(f"Swift store {store} failed to {doing} ({status}).")


class _Counted:
    """An async byte iterator that counts what it yields."""

    def __init__(self, source: AsyncIterator[bytes]) -> None:
        self.source = source
        self.count = 0

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.source.__anext__()
        self.count += len(chunk)
        return chunk


@dataclass(frozen=True, slots=True)
class _Opened:
    """A download under way, whichever client reads it."""

    length: int | None
    chunks: AsyncIterator[bytes]
    aclose: Callable[[], Awaitable[None]]


def _listed_time(text: str) -> datetime:
    """A listing's ``last_modified`` (ISO 8601 in UTC, without a zone); unparseable
    counts as now, so ``spyglass gc`` keeps it."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return datetime.now(UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
