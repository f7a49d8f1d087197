"""Uploading one object to S3 from a byte stream, in one PUT or in parts.

Both ways stream: a single PUT sends the pipeline's chunks as the request body as they
arrive, and a multipart upload cuts the stream into parts that go up in parallel while
the next part fills. At most ``parallel + 1`` parts are in memory (the ones in flight and
the one filling), never the whole image, and no temporary file is written (upstream
buffers parts in memory with ``s3_store_thread_pools`` threads; its seed-era driver
spooled the whole image to ``s3_store_object_buffer_dir``).

A multipart upload that fails or is cancelled is aborted, so that no part is left to
cost storage; when the endpoint is unreachable the abort is retried in the background
(:class:`Leftovers`) until it succeeds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio

from spyglass.errors import SizeMismatch
from spyglass.stores.s3_client import S3Client, S3Error
from spyglass.types import ByteStream

log = logging.getLogger(__name__)

MAX_PARTS = 10_000
"""S3's limit on the parts of one upload."""
PARTS_PER_STEP = 1000
"""With the size unknown, parts grow by one ``part_size`` every this many parts, so that
10,000 parts hold 55,000 of them (550 GB with the default 10 MiB)."""


class StreamBody:
    """A request body that aiohttp streams from the pipeline's chunks.

    It is sent as an async iterable, with the ``Content-Length`` the caller declared. The
    stream's own error (size cap, quota, bad format) is kept in ``error``, so that it is
    reported as itself, not as the broken request it causes.
    """

    def __init__(self, head: list[bytes], rest: ByteStream, size: int) -> None:
        self._head = head
        self._rest = rest
        self.size = size
        self.sent = 0
        self.error: BaseException | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            for chunk in self._head:
                yield self._count(chunk)
            self._head = []
            async for chunk in self._rest:
                if chunk:
                    yield self._count(chunk)
            if self.sent != self.size:
                raise SizeMismatch(
                    f"Image data is {self.sent} bytes long, but {self.size} were declared."
                )
        except BaseException as exc:
            self.error = exc
            raise

    def _count(self, chunk: bytes) -> bytes:
        self.sent += len(chunk)
        if self.sent > self.size:
            raise SizeMismatch(f"Image data is longer than the {self.size} bytes declared.")
        return chunk


async def gather(stream: ByteStream, limit: int) -> tuple[list[bytes], int, bool]:
    """Read chunks until more than ``limit`` bytes are held or the stream ends:
    ``(chunks, bytes, ended)``."""
    chunks: list[bytes] = []
    held = 0
    async for chunk in stream:
        chunks.append(chunk)
        held += len(chunk)
        if held > limit:
            return chunks, held, False
    return chunks, held, True


def base_part_size(part_size: int, size: int | None) -> int:
    """Parts of at least ``part_size``, large enough that a known size fits in 10,000."""
    if size is None:
        return part_size
    return max(part_size, -(-size // MAX_PARTS))


class PartBody:
    """One part's chunks, sent as they are: never joined into one buffer, which the
    socket transport would copy again when the kernel does not take it at once.

    Each iteration starts from the first chunk, so the part can be sent again.
    """

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.size = sum(len(chunk) for chunk in chunks)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


async def parts(
    head: list[bytes], rest: ByteStream, base: int, *, growing: bool
) -> AsyncIterator[tuple[int, PartBody]]:
    """``(number, body)`` of each part: at least the part size (cut at chunk boundaries,
    so no byte is copied), the last one whatever is left."""
    number = 1
    pending: list[bytes] = []
    held = 0

    def target() -> int:
        return base * (1 + (number - 1) // PARTS_PER_STEP) if growing else base

    async def source() -> AsyncIterator[bytes]:
        for chunk in head:
            yield chunk
        head.clear()
        async for chunk in rest:
            yield chunk

    async for chunk in source():
        pending.append(chunk)
        held += len(chunk)
        if held >= target():
            body = PartBody(pending)
            pending, held = [], 0
            yield number, body
            del body
            number += 1
    if pending:
        yield number, PartBody(pending)


class MultipartUpload:
    """One object uploaded in parts, ``parallel`` of them at a time."""

    def __init__(
        self, client: S3Client, bucket: str, key: str, *, parallel: int, leftovers: Leftovers
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.parallel = parallel
        self.leftovers = leftovers
        self.upload_id: str | None = None

    async def run(self, numbered: AsyncIterator[tuple[int, PartBody]]) -> int:
        """Upload every part and complete the object; abort on any failure."""
        etags: dict[int, str] = {}
        total = 0
        try:
            slots = anyio.Semaphore(self.parallel)
            async with anyio.create_task_group() as tasks:
                async for number, body in numbered:
                    if number > MAX_PARTS:
                        raise SizeMismatch(f"Image data needs more than {MAX_PARTS} parts.")
                    if self.upload_id is None:
                        self.upload_id = await self.client.create_multipart_upload(
                            self.bucket, self.key
                        )
                    await slots.acquire()
                    total += body.size
                    tasks.start_soon(self._part, number, body, etags, slots)
                    del body
            if self.upload_id is None:
                raise RuntimeError("a multipart upload needs at least one part")
            await self.client.complete_multipart_upload(
                self.bucket, self.key, self.upload_id, etags
            )
        except BaseException as exc:
            if self.upload_id is not None:
                with anyio.CancelScope(shield=True):
                    await self.abort()
            error = first_error(exc)
            if error is exc:
                raise
            raise error  # noqa: B904 - the group is its context
        return total

    async def _part(
        self, number: int, body: PartBody, etags: dict[int, str], slots: anyio.Semaphore
    ) -> None:
        assert self.upload_id is not None
        try:
            etags[number] = await self.client.upload_part(
                self.bucket, self.key, self.upload_id, number, body, body.size
            )
        finally:
            # httpx's request and response refer to each other, so the request (and this
            # body) would otherwise live until the garbage collector runs
            body.chunks = []
            slots.release()

    async def abort(self) -> None:
        assert self.upload_id is not None
        try:
            await abort_upload(self.client, self.bucket, self.key, self.upload_id)
        except Exception as exc:
            log.warning(
                "multipart upload of %s in bucket %s not aborted yet (%s); retrying in the "
                "background",
                self.key,
                self.bucket,
                type(exc).__name__,
            )
            self.leftovers.add(self.key, self.upload_id)


async def abort_upload(client: S3Client, bucket: str, key: str, upload_id: str) -> None:
    """Abort an upload and make sure no part survived it.

    A part still arriving while the abort runs can be stored after it; S3 says to list the
    parts afterwards and abort again until none remain.
    """
    for _ in range(5):
        await client.abort_multipart_upload(bucket, key, upload_id)
        try:
            listed = await client.list_parts(bucket, key, upload_id)
        except S3Error as exc:
            if exc.code in ("NoSuchUpload", "404"):
                return
            raise
        if not listed:
            return
        await anyio.sleep(0.2)


def error_code(exc: BaseException) -> str:
    """The S3 error code of an error answer (``""`` for anything else)."""
    return exc.code if isinstance(exc, S3Error) else ""


def first_error(exc: BaseException) -> BaseException:
    """The error that ended a task group: the first one that is not a cancellation."""
    if isinstance(exc, BaseExceptionGroup):
        leaves = [first_error(inner) for inner in exc.exceptions]
        for leaf in leaves:
            if not isinstance(leaf, anyio.get_cancelled_exc_class()):
                return leaf
        return leaves[0]
    return exc


class Leftovers:
    """Multipart uploads whose abort failed, aborted again in the background.

    The retries back off from half a second to a minute and stop after an hour; the store
    runs them until it is closed.
    """

    FIRST_DELAY = 0.5
    MAX_DELAY = 60.0
    GIVE_UP_AFTER = 3600.0

    def __init__(self, abort: Callable[[str, str], Awaitable[None]]) -> None:
        self._abort = abort
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, key: str, upload_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._retry(key, upload_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def _retry(self, key: str, upload_id: str) -> None:
        delay, waited = self.FIRST_DELAY, 0.0
        while waited < self.GIVE_UP_AFTER:
            await asyncio.sleep(delay)
            waited += delay
            try:
                await self._abort(key, upload_id)
            except Exception as exc:
                log.debug("abort of the upload of %s failed again: %s", key, type(exc).__name__)
                delay = min(delay * 2, self.MAX_DELAY)
                continue
            log.info("aborted the interrupted multipart upload of %s", key)
            return
        log.error(
            "gave up aborting the multipart upload %s of %s; abort it by hand", upload_id, key
        )

    async def close(self) -> None:
        if self._tasks:
            log.warning("%d interrupted multipart uploads are left to abort", len(self._tasks))
        for task in list(self._tasks):
            task.cancel()
        with anyio.CancelScope(shield=True):
            await asyncio.gather(*self._tasks, return_exceptions=True)
