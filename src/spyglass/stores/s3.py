"""Image data as objects in one S3 bucket (AWS, Ceph RGW, Swift's s3api, MinIO, moto...).

The client is Spyglass's own small one over httpx (``s3_client``; why not botocore is said
there): async, so no blocking call runs on the event loop and no thread holds an upload.
Objects are named by image id, as upstream names them, so a bucket written by upstream
Glance is read unchanged. Uploads below ``s3_store_large_object_size`` are one streamed
PUT; larger ones, or ones whose size is unknown and outgrows a part, are multipart uploads
(``s3_multipart``).

Locations are ``s3://HOST/BUCKET/KEY`` (``s3+https://`` for HTTPS): upstream's form without
the credentials (``s3_location``). Every request is signed with the configured
credentials and goes to the configured endpoint; a location naming another endpoint or
bucket is refused, so an image can never be pointed at objects the operator did not give
Glance.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar, Self

import httpx

from spyglass.errors import (
    BadStoreUri,
    ConfigError,
    Duplicate,
    NotFound,
    RangeNotSatisfiable,
    SpyglassError,
    StorageFull,
    StoreMisconfigured,
    StoreUnavailable,
)
from spyglass.stores import s3_location
from spyglass.stores.base import (
    IMAGE_ID,
    ByteRange,
    Capability,
    ReadResult,
    Store,
    StoredObject,
    StoreOptions,
    UnfinishedWrite,
    WriteResult,
)
from spyglass.stores.s3_client import Credentials, S3Client
from spyglass.stores.s3_location import S3Location
from spyglass.stores.s3_multipart import (
    Leftovers,
    MultipartUpload,
    StreamBody,
    abort_upload,
    base_part_size,
    error_code,
    gather,
    parts,
)
from spyglass.streams.chunking import rechunk
from spyglass.types import ByteStream

log = logging.getLogger(__name__)

MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB
"""S3 refuses smaller parts (all but the last)."""
PART_MEMORY = 10 * MIB
"""Bytes of parts an upload may have in flight besides the one filling:
``s3_store_thread_pools`` parts at most, fewer when parts are large (one of the default
10 MiB, two of 5 MiB), so that a server streaming an image stays well under 150 MiB
(upstream holds one part per thread, 100 MiB by default). One part uploads while the next
fills from the client, which is what overlaps on a loaded host."""
READ_CHUNK = 1024 * 1024

_DENIED = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"}
    | {"ExpiredToken", "AuthorizationHeaderMalformed", "403", "401"}
)
_FULL = frozenset({"EntityTooLarge", "QuotaExceeded", "InsufficientStorage", "413", "507"})
_MISSING = frozenset({"NoSuchKey", "NotFound", "404"})
_URL_FORMATS = {"auto": "auto", "path": "path", "subdomain": "auto", "virtual": "virtual"}
"""``s3_store_bucket_url_format`` to botocore's addressing style; the seed's ``subdomain``
(boto 2's calling format: virtual hosts, path style for names that cannot be one) is
botocore's ``auto``."""


@dataclass(frozen=True, slots=True)
class S3Settings:
    """The store's options, sizes in bytes."""

    host: str
    access_key: str
    secret_key: str
    bucket: str
    region: str = ""
    create_bucket: bool = False
    addressing_style: str = "auto"
    large_object_size: int = 100 * MIB
    part_size: int = 10 * MIB
    thread_pools: int = 10
    cacert: str = ""
    connect_timeout: float = 10.0
    read_timeout: float = 120.0

    @property
    def parallel(self) -> int:
        """Parts uploaded at once: the thread pool size, within ``PART_MEMORY``."""
        return max(1, min(self.thread_pools, PART_MEMORY // self.part_size))


class S3Store(Store):
    driver: ClassVar[str] = "s3"
    schemes: ClassVar[tuple[str, ...]] = s3_location.SCHEMES

    def __init__(self, backend_id: str, settings: S3Settings) -> None:
        super().__init__(backend_id)
        self.settings = settings
        self.service, self.secure = s3_location.service_of(settings.host)
        self.scheme = "s3+https" if self.secure else "s3"
        self.endpoint = f"{'https' if self.secure else 'http'}://{self.service}"
        self._client: S3Client | None = None
        self._bucket_ready = False
        self.leftovers = Leftovers(self._abort_leftover)

    @classmethod
    def from_options(cls, backend_id: str, options: StoreOptions) -> Self:
        """Upstream's ``s3_store_*`` options; sizes are in MiB there."""

        def text(name: str) -> str:
            value = options.get(name)
            return value.strip() if isinstance(value, str) else ""

        def number(name: str) -> int:
            value = options.get(name)
            return value if isinstance(value, int) else 0

        required = ("s3_store_host", "s3_store_access_key", "s3_store_secret_key")
        missing = [name for name in (*required, "s3_store_bucket") if not text(name)]
        if missing:
            raise ConfigError(f"store {backend_id}: {', '.join(missing)} must be set")
        chunk = number("s3_store_large_object_chunk_size")
        if chunk * MIB < MIN_PART_SIZE:
            raise ConfigError(
                f"store {backend_id}: s3_store_large_object_chunk_size must be at least 5 (MiB)"
            )
        threads = number("s3_store_thread_pools")
        if threads <= 0:
            raise ConfigError(f"store {backend_id}: s3_store_thread_pools must be positive")
        style = _URL_FORMATS.get(text("s3_store_bucket_url_format") or "auto")
        if style is None:
            raise ConfigError(
                f"store {backend_id}: s3_store_bucket_url_format must be auto, virtual or path"
            )
        if text("s3_store_object_buffer_dir"):
            log.info(
                "store %s: s3_store_object_buffer_dir is not needed; uploads stream", backend_id
            )
        return cls(
            backend_id,
            S3Settings(
                host=text("s3_store_host"),
                access_key=text("s3_store_access_key"),
                secret_key=text("s3_store_secret_key"),
                bucket=text("s3_store_bucket"),
                region=text("s3_store_region_name"),
                create_bucket=options.get("s3_store_create_bucket_on_put") is True,
                addressing_style=style,
                large_object_size=number("s3_store_large_object_size") * MIB,
                part_size=chunk * MIB,
                thread_pools=threads,
                cacert=text("s3_store_cacert"),
            ),
        )

    @property
    def capabilities(self) -> Capability:
        return Capability.READ | Capability.READ_RANGE | Capability.WRITE | Capability.DELETE

    # -- lifecycle --------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and check the bucket: wrong credentials or a missing bucket (that
        ``s3_store_create_bucket_on_put`` may not create) leave the store read-only."""
        client = await self._connected()
        bucket = self.settings.bucket
        try:
            await client.head_bucket(bucket)
        except Exception as exc:
            code = error_code(exc)
            if code in ("404", "NoSuchBucket"):
                if not self.settings.create_bucket:
                    raise StoreMisconfigured(
                        f"Store {self.backend_id}: the S3 bucket {bucket!r} does not exist "
                        "and s3_store_create_bucket_on_put is off."
                    ) from None
                return  # created by the first upload, as upstream does
            raise self._error(exc, "check the bucket") from exc
        self._bucket_ready = True

    async def close(self) -> None:
        await self.leftovers.close()
        if self._client is not None:
            await self._client.close()
        self._client = None

    async def _connected(self) -> S3Client:
        if self._client is None:
            s = self.settings
            self._client = S3Client(
                self.endpoint,
                Credentials(s.access_key, s.secret_key, s.region or "us-east-1"),
                addressing_style=s.addressing_style,
                verify=s.cacert or True,
                connect_timeout=s.connect_timeout,
                read_timeout=s.read_timeout,
                connections=s.parallel + 8,
            )
        return self._client

    # -- locations --------------------------------------------------------------------------

    def _resolve(self, location: str) -> S3Location:
        loc = s3_location.parse(location)
        if loc.service != self.service or loc.bucket != self.settings.bucket:
            raise BadStoreUri(
                f"Location is outside store {self.backend_id}'s S3 endpoint and bucket."
            )
        return loc

    def image_of(self, location: str) -> str | None:
        try:
            return self._resolve(location).key
        except BadStoreUri:
            return None

    # -- reads ------------------------------------------------------------------------------

    async def get(self, location: str, *, byte_range: ByteRange | None = None) -> ReadResult:
        loc = self._resolve(location)
        client = await self._connected()
        wanted = None
        if byte_range is not None:
            end = "" if byte_range.end is None else str(byte_range.end)
            wanted = f"bytes={byte_range.start}-{end}"
        try:
            response = await client.get_object(loc.bucket, loc.key, wanted)
        except Exception as exc:
            raise self._error(exc, "read", missing_bucket_is_gone=True) from exc
        size = int(response.headers.get("Content-Length", "0"))
        return ReadResult(stream=self._body(response), size=size)

    async def _body(self, response: httpx.Response) -> ByteStream:
        """The object's bytes, gathered into 1 MiB chunks (httpx reads 64 KiB at a time,
        and every later stage costs per chunk); the connection is released however the
        read ends."""
        try:
            async for chunk in rechunk(response.aiter_raw(), READ_CHUNK):
                yield chunk
        except (httpx.HTTPError, OSError) as exc:
            raise self._error(exc, "read") from exc
        finally:
            await response.aclose()

    async def get_size(self, location: str) -> int:
        loc = self._resolve(location)
        client = await self._connected()
        try:
            return await client.head_object(loc.bucket, loc.key)
        except Exception as exc:
            raise self._error(exc, "read", missing_bucket_is_gone=True) from exc

    async def delete(self, location: str) -> None:
        """S3 deletes answer success for missing keys, so look first: data already gone
        is ``NotFound``, as the interface says."""
        loc = self._resolve(location)
        client = await self._connected()
        try:
            await client.head_object(loc.bucket, loc.key)
            await client.delete_object(loc.bucket, loc.key)
        except Exception as exc:
            raise self._error(exc, "delete", missing_bucket_is_gone=True) from exc

    async def discard_partial(self, image_id: str) -> None:
        """An object a killed server finished writing before the database heard of it (an
        image still ``saving`` has no location). Multipart uploads it left unfinished hold
        no object; ``spyglass gc`` aborts them (``unfinished_writes``)."""
        loc = S3Location(self.scheme, self.service, self.settings.bucket, image_id)
        try:
            s3_location.parse(loc.uri())
        except BadStoreUri:
            return
        try:
            await self.delete(loc.uri())
        except NotFound:
            pass
        except StoreUnavailable:
            log.warning(
                "store %s: cannot remove image %s's partial upload now", self.backend_id, image_id
            )

    async def inventory(self) -> AsyncIterator[StoredObject]:
        """The bucket's objects named as image ids (ListObjectsV2, a page at a time); other
        keys of a shared bucket are not this store's, and unfinished multipart uploads are
        ``unfinished_writes``."""
        client = await self._connected()
        s = self.settings
        token: str | None = None
        while True:
            try:
                page, token = await client.list_objects(s.bucket, token)
            except Exception as exc:
                raise self._error(exc, "read", missing_bucket_is_gone=True) from exc
            for key, size, modified in page:
                if IMAGE_ID.match(key):
                    location = S3Location(self.scheme, self.service, s.bucket, key).uri()
                    yield StoredObject(location, size, _timestamp(modified))
            if token is None:
                return

    async def unfinished_writes(self) -> AsyncIterator[UnfinishedWrite]:
        """Multipart uploads of image keys never completed nor aborted: a server killed
        mid-upload (or whose aborts kept failing until it stopped) leaves their parts, which
        cost storage and which nothing else removes without a bucket lifecycle rule."""
        client = await self._connected()
        marker: tuple[str, str] | None = None
        while True:
            try:
                page, marker = await client.list_multipart_uploads(self.settings.bucket, marker)
            except Exception as exc:
                raise self._error(exc, "read", missing_bucket_is_gone=True) from exc
            for key, upload_id, initiated in page:
                if IMAGE_ID.match(key) and upload_id:
                    modified = await self._last_written(client, key, upload_id, initiated)
                    yield UnfinishedWrite(key, upload_id, modified)
            if marker is None:
                return

    async def _last_written(
        self, client: S3Client, key: str, upload_id: str, initiated: str
    ) -> datetime:
        """The upload's start or its latest part, whichever is later: an upload that
        began long ago but still receives parts is alive (and some servers, moto, report
        a made-up start)."""
        try:
            listed = await client.list_parts(self.settings.bucket, key, upload_id)
        except Exception as exc:
            if error_code(exc) in ("NoSuchUpload", "404"):
                listed = []  # finished or aborted meanwhile: abort finds nothing
            else:
                raise self._error(exc, "read") from exc
        return max([_timestamp(initiated), *(_timestamp(when) for _, when in listed)])

    async def abort_unfinished(self, write: UnfinishedWrite) -> None:
        client = await self._connected()
        try:
            await abort_upload(client, self.settings.bucket, write.image_id, write.handle)
        except Exception as exc:
            if error_code(exc) in ("NoSuchUpload", "404"):
                return  # finished or aborted meanwhile
            raise self._error(exc, "abort an unfinished upload") from exc

    # -- writes -----------------------------------------------------------------------------

    async def add(self, image_id: str, data: ByteStream, *, size: int | None) -> WriteResult:
        loc = S3Location(self.scheme, self.service, self.settings.bucket, image_id)
        try:
            s3_location.parse(loc.uri())
        except BadStoreUri:
            raise BadStoreUri(f"Invalid image id for the S3 store: {image_id!r}") from None
        client = await self._connected()
        try:
            await self._ensure_bucket(client)
            if await self._exists(client, image_id):
                raise Duplicate(f"Image data for {image_id} already exists in the store.")
            written = await self._write(client, image_id, data, size)
        except SpyglassError:
            raise
        except Exception as exc:
            raise self._error(exc, "write") from exc
        return WriteResult(location=loc.uri(), size=written)

    async def _write(self, client: S3Client, key: str, data: ByteStream, size: int | None) -> int:
        s = self.settings
        if size is not None and size < s.large_object_size:
            return await self._put(client, key, [], data, size)
        head: list[bytes] = []
        if size is None:  # decide once a part's worth (or the threshold) has arrived
            head, held, ended = await gather(data, min(s.large_object_size, s.part_size))
            if ended and (held < s.large_object_size or held == 0):
                return await self._put(client, key, head, data, held)
        elif size == 0:
            return await self._put(client, key, [], data, 0)
        upload = MultipartUpload(
            client, s.bucket, key, parallel=s.parallel, leftovers=self.leftovers
        )
        numbered = parts(head, data, base_part_size(s.part_size, size), growing=size is None)
        written = await upload.run(numbered)
        if written == 0:  # an empty stream makes no parts: store the empty object
            return await self._put(client, key, [], data, 0)
        if size is not None and written != size:
            await self.delete(S3Location(self.scheme, self.service, s.bucket, key).uri())
            raise StoreUnavailable(f"Store {self.backend_id}: wrote {written} of {size} bytes.")
        return written

    async def _put(
        self, client: S3Client, key: str, head: list[bytes], rest: ByteStream, size: int
    ) -> int:
        """One PUT whose body streams from the pipeline."""
        body = StreamBody(head, rest, size)
        try:
            await client.put_object(self.settings.bucket, key, body, size)
        except Exception:
            if isinstance(body.error, Exception):  # the pipeline's own error, not the HTTP one
                raise body.error  # noqa: B904 - the HTTP failure is its context
            raise
        return body.sent

    async def _exists(self, client: S3Client, key: str) -> bool:
        try:
            await client.head_object(self.settings.bucket, key)
        except Exception as exc:
            if error_code(exc) in _MISSING:
                return False
            raise
        return True

    async def _ensure_bucket(self, client: S3Client) -> None:
        if self._bucket_ready:
            return
        s = self.settings
        try:
            await client.head_bucket(s.bucket)
        except Exception as exc:
            if error_code(exc) not in ("404", "NoSuchBucket"):
                raise
            if not s.create_bucket:
                raise StoreMisconfigured(
                    f"Store {self.backend_id}: the S3 bucket {s.bucket!r} does not exist "
                    "and s3_store_create_bucket_on_put is off."
                ) from None
            try:
                await client.create_bucket(s.bucket)
            except Exception as created:
                if error_code(created) not in ("BucketAlreadyOwnedByYou", "409"):
                    raise
            log.info("store %s: created the S3 bucket %s", self.backend_id, s.bucket)
        self._bucket_ready = True

    async def _abort_leftover(self, key: str, upload_id: str) -> None:
        await abort_upload(await self._connected(), self.settings.bucket, key, upload_id)

    # -- errors -----------------------------------------------------------------------------

    def _error(
        self, exc: BaseException, action: str, *, missing_bucket_is_gone: bool = False
    ) -> SpyglassError:
        """The error the API reports for a failed S3 call; never with credentials."""
        if isinstance(exc, SpyglassError):
            return exc
        name = self.backend_id
        code = error_code(exc)
        if code:
            if code in _MISSING or (code == "NoSuchBucket" and missing_bucket_is_gone):
                return NotFound("Image data not found in the S3 store.")
            if code in _DENIED:
                return StoreMisconfigured(
                    f"Store {name}: the S3 endpoint refused the store's credentials ({code}); "
                    "check s3_store_access_key and s3_store_secret_key."
                )
            if code == "NoSuchBucket":
                return StoreMisconfigured(
                    f"Store {name}: the S3 bucket {self.settings.bucket!r} does not exist."
                )
            if code in _FULL:
                return StorageFull(f"Store {name}: the S3 endpoint has no room ({code}).")
            if code in ("InvalidRange", "416"):
                return RangeNotSatisfiable()
            log.warning("store %s: S3 refused to %s: %s", name, action, code)
            return StoreUnavailable(f"Store {name}: the S3 endpoint could not {action} ({code}).")
        log.warning("store %s: cannot %s on %s: %s", name, action, self.endpoint, exc)
        return StoreUnavailable(f"Store {name}: the S3 endpoint cannot be reached.")


def _timestamp(text: str) -> datetime:
    """S3's ``LastModified`` (ISO 8601, UTC); unparseable counts as now (kept by gc)."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
