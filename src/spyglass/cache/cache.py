"""The image cache of one API server: serve hits from files, fill on misses.

``read`` is the only entry point of downloads, and it runs after the download
service has checked the caller's access, the image's status and the range, so
a hit is authorized exactly as a store read is. What it does:

* **Hit**: the entry and its file must agree with the image (size, checksum)
  and the file must not have changed since it was put in place (its ``ctime``
  is no later than the entry's ``last_modified``). Any disagreement moves the
  file to ``invalid/`` and the request becomes a miss, before a byte is sent.
  With ``verify_hits`` the MD5 of a whole-image hit is also computed while it
  streams, and the last chunk is held back until it matches: on a mismatch the
  connection is aborted (the client sees a short body, never a complete 200 of
  wrong bytes) and the entry is invalidated, so the next request re-fetches.
* **Miss** (whole image): one fill task per image copies the store's stream
  into ``incomplete/<id>``; every concurrent download of that image, the first
  included, reads the growing file, so the store is read once however many
  clients wait. When every byte is there the file's MD5 and ``os_hash_value``
  are computed; only if both (and the size) match is it renamed into place and
  indexed. Otherwise it goes to ``invalid/``. If every client leaves before the
  copy ends, the fill is cancelled and its file removed (a prefetch keeps it).
* Ranged requests of uncached images go to the store and are never cached.

A hit (unless ``verify_hits`` checks it as it streams) also hands the HTTP layer
the open file, which it sends with ``sendfile`` where the server allows
(``api/data_response.py``); otherwise the file is read with ``pread`` in worker
threads and streamed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread

from spyglass.cache.index import CacheEntry, CacheIndex
from spyglass.cache.layout import CacheLayout, valid_id
from spyglass.domain.image import Image, ImageStatus
from spyglass.metrics import CACHE
from spyglass.stores.base import ByteRange, LocalFile, ReadResult
from spyglass.types import ByteStream

log = logging.getLogger(__name__)

READ_CHUNK = 4 * 1024 * 1024
"""Bytes per read of a cache file: fewer thread hops and ASGI messages per GiB."""
_HASH_CHUNK = 4 * 1024 * 1024

Source = Callable[[ByteRange | None], Awaitable[ReadResult]]
"""Opens the image in its store: whole, or from an offset to its end."""
_TEE_CHUNKS = 16
"""Store chunks a miss's first client may be ahead of the cache file before the fill
stops taking its copy and reads the rest from the store itself."""
Progress = Callable[[int], None]


class CacheCorrupted(Exception):
    """A cached file's bytes did not match its checksum while being served."""


@dataclass(eq=False)
class _Fill:
    image: Image
    fd: int = -1
    written: int = 0
    complete: bool = False
    """Every byte is in the file (verification may still be running)."""
    failed: bool = False
    readers: int = 0
    keep: bool = False
    """A prefetch: finish even if nobody is reading."""
    progress: list[Progress] = field(default_factory=list)
    queue: asyncio.Queue[bytes] | None = None
    """The first client's chunks, teed to the writer; ``None`` once it reads the store."""
    teed: bool = False
    """A miss's first client reads the store and the fill copies its chunks."""
    tee_done: bool = False
    delivered: bool = False
    """The first client received every byte: the fill goes on without it."""
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    cached: bool = False
    task: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def changed(self) -> asyncio.Event:
        return self._changed


def cacheable(image: Image) -> bool:
    """Only active images with a known size and checksum are ever cached or served."""
    return (
        image.status is ImageStatus.ACTIVE
        and bool(image.checksum)
        and image.size is not None
        and valid_id(image.id)
    )


class ImageCache:
    def __init__(
        self,
        layout: CacheLayout,
        index: CacheIndex,
        *,
        node: str,
        verify_hits: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.layout = layout
        self.index = index
        self.node = node
        self.verify_hits = verify_hits
        self.clock = clock
        self._fills: dict[str, _Fill] = {}
        self._background: set[asyncio.Task[Any]] = set()

    async def open(self) -> None:
        await anyio.to_thread.run_sync(self.layout.create)
        await self.index.open()

    async def close(self) -> None:
        for fill in list(self._fills.values()):
            if fill.task is not None:
                fill.task.cancel()
        await self.idle()
        await self.index.close()

    async def idle(self) -> None:
        """Wait until no fill or hit bookkeeping is running."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- downloads ------------------------------------------------------------------------

    async def read(
        self, image: Image, byte_range: ByteRange | None, source: Source
    ) -> ReadResult | None:
        """The image's bytes (``byte_range`` already resolved) from the cache, or
        ``None`` when the caller should read the store itself."""
        if not cacheable(image):
            return None
        assert image.size is not None
        start = byte_range.start if byte_range else 0
        end = image.size - 1 if byte_range is None or byte_range.end is None else byte_range.end
        length = max(0, end - start + 1)
        hit = await self._open_hit(image)
        CACHE.labels("hit" if hit is not None else "miss").inc()
        if hit is not None:
            self._spawn(self._record_hit(image.id))
            if self.verify_hits and byte_range is None:
                return ReadResult(stream=self._read_verified(hit, image), size=length)
            path = self.layout.path(image.id)
            local = LocalFile(path, hit, offset=start, length=length, file_size=image.size)
            return ReadResult(stream=_read_file(local), size=length, local=local)
        fill = self._fills.get(image.id)
        if fill is None:
            if byte_range is not None:
                return None
            return await self._lead(image, source)
        fd = await self._attach(fill)
        if fd is None:
            return None
        return ReadResult(stream=self._follow(fill, fd, start, length), size=length)

    async def _open_hit(self, image: Image) -> int | None:
        entry = await self.index.get(image.id)
        if entry is None:
            return None
        path = self.layout.path(image.id)
        try:
            fd, stat = await anyio.to_thread.run_sync(_open_with_stat, path)
        except FileNotFoundError:
            await self.index.remove(image.id)
            return None
        problem = None
        if entry.size != image.size or stat.st_size != image.size:
            problem = f"size {stat.st_size} instead of {image.size}"
        elif entry.checksum != image.checksum:
            problem = "an entry for other data"
        elif stat.st_ctime > entry.last_modified:
            problem = "a file changed after it was cached"
        if problem is None:
            return fd
        os.close(fd)
        log.warning("image cache: %s has %s; invalidated, fetching it again", image.id, problem)
        await self.invalidate(image.id)
        return None

    async def _record_hit(self, image_id: str) -> None:
        try:
            await self.index.hit(image_id, self.clock())
        except Exception:
            log.exception("image cache: could not count a hit of %s", image_id)

    async def invalidate(self, image_id: str) -> None:
        """Forget an entry and move its file to ``invalid/`` (for ``clean`` to remove).

        A fill whose copy is complete may still be finishing (its entry indexed, its file
        still open): it is forgotten too, so that the next reader fetches the image again
        instead of following the fill into the file being invalidated."""
        fill = self._fills.get(image_id)
        if fill is not None and fill.complete:
            del self._fills[image_id]
        await self.index.remove(image_id)
        await anyio.to_thread.run_sync(self.layout.invalidate, image_id)

    async def _read_verified(self, fd: int, image: Image) -> ByteStream:
        """The whole file, MD5-checked; the last chunk waits for the verdict."""
        assert image.size is not None
        digest = hashlib.md5(usedforsecurity=False)
        held: bytes | None = None
        try:
            offset = 0
            while offset < image.size:
                n = min(READ_CHUNK, image.size - offset)
                chunk = await anyio.to_thread.run_sync(_pread_hashed, fd, n, offset, digest)
                if not chunk:
                    break
                offset += len(chunk)
                if held is not None:
                    yield held
                held = chunk
        finally:
            os.close(fd)
        if offset != image.size or digest.hexdigest() != image.checksum:
            log.error(
                "image cache: %s does not match its checksum; aborting the response", image.id
            )
            await self.invalidate(image.id)
            raise CacheCorrupted(f"cached data of image {image.id} is corrupted")
        if held is not None:
            yield held

    # -- filling --------------------------------------------------------------------------

    def _start_fill(
        self, image: Image, source: Source, *, keep: bool = False, tee: bool = False
    ) -> _Fill:
        """Register the fill at once, so concurrent misses of this image join it."""
        fill = _Fill(image=image, keep=keep)
        if tee:
            fill.teed = True
            fill.queue = asyncio.Queue(maxsize=_TEE_CHUNKS)
        self._fills[image.id] = fill
        fill.task = asyncio.ensure_future(self._run_fill(fill, source))
        self._background.add(fill.task)
        fill.task.add_done_callback(self._background.discard)
        return fill

    async def _lead(self, image: Image, source: Source) -> ReadResult:
        """The first miss: the client reads the store; the fill takes a copy of each chunk.

        The client never waits for the cache's disk: if the writer falls more than a few
        chunks behind, it lets go of the client's stream and reads the rest from the store.
        """
        fill = self._start_fill(image, source, tee=True)
        fill.readers += 1
        try:
            data = await source(None)
        except BaseException:
            fill.queue = None
            fill.tee_done = True
            self._detach(fill)
            raise
        return ReadResult(stream=self._tee(fill, data.stream), size=data.size)

    async def _tee(self, fill: _Fill, stream: ByteStream) -> ByteStream:
        try:
            async for chunk in stream:
                queue = fill.queue
                if queue is not None and not fill.failed:
                    try:
                        queue.put_nowait(chunk)
                    except asyncio.QueueFull:
                        fill.queue = None
                        log.info(
                            "image cache: the cache disk is slower than the client of %s; "
                            "the fill reads the rest from the store",
                            fill.image.id,
                        )
                    fill.notify()
                yield chunk
            fill.delivered = True
        finally:
            fill.tee_done = True
            self._detach(fill)

    async def _attach(self, fill: _Fill) -> int | None:
        """A reader's own descriptor on the fill's file, once the fill has started."""
        fill.readers += 1
        fill.notify()
        try:
            await fill.ready.wait()
        except BaseException:
            self._detach(fill)
            raise
        if fill.failed or fill.fd < 0:
            self._detach(fill)
            return None
        return os.dup(fill.fd)

    def _detach(self, fill: _Fill) -> None:
        fill.readers -= 1
        fill.notify()
        going_on = fill.complete or fill.delivered or fill.keep
        if fill.readers == 0 and not going_on and fill.task is not None:
            log.info("image cache: every client of %s left; fill abandoned", fill.image.id)
            fill.failed = True
            if self._fills.get(fill.image.id) is fill:
                del self._fills[fill.image.id]
            fill.task.cancel()

    async def _follow(self, fill: _Fill, fd: int, start: int, length: int) -> ByteStream:
        """Read the growing file as the fill writes it."""
        try:
            offset, end = start, start + length
            while offset < end:
                if offset < fill.written:
                    n = min(READ_CHUNK, fill.written - offset, end - offset)
                    chunk = await anyio.to_thread.run_sync(os.pread, fd, n, offset)
                    offset += len(chunk)
                    yield chunk
                    continue
                if fill.failed or fill.complete:
                    raise CacheCorrupted(f"the store's data of image {fill.image.id} ended early")
                await fill.changed().wait()
        finally:
            os.close(fd)
            self._detach(fill)

    async def _run_fill(self, fill: _Fill, source: Source) -> None:
        image = fill.image
        try:
            fd = await anyio.to_thread.run_sync(self.layout.start_fill, image.id)
            if fd is None:  # another process is filling it; read the store meanwhile
                fill.failed = True
                return
            fill.fd = fd
            fill.ready.set()
            log.info("image cache: filling %s from the store", image.id)
            await self._copy(fill, source)
            await self._finish(fill)
        except asyncio.CancelledError:
            fill.failed = True
            with contextlib.suppress(OSError):
                await asyncio.shield(
                    anyio.to_thread.run_sync(self.layout.fail_fill, image.id, False)
                )
            raise
        except OSError as exc:  # the cache disk refused (full, read-only): the client reads on
            fill.failed = True
            log.warning("image cache: cannot fill %s: %s", image.id, exc.strerror or exc)
            with contextlib.suppress(OSError):  # a truncated copy is worth nothing: free the disk
                await anyio.to_thread.run_sync(self.layout.fail_fill, image.id, False)
        except Exception:
            fill.failed = True
            log.exception("image cache: filling %s failed", image.id)
            with contextlib.suppress(OSError):
                await anyio.to_thread.run_sync(self.layout.fail_fill, image.id, fill.written > 0)
        finally:
            fill.ready.set()
            fill.notify()
            if fill.fd >= 0:
                os.close(fill.fd)
            if self._fills.get(image.id) is fill:
                del self._fills[image.id]
            fill.done.set()

    async def _copy(self, fill: _Fill, source: Source) -> None:
        """Write the first client's chunks while it is teed, then the store's own."""
        while (queue := fill.queue) is not None:
            if not queue.empty():
                await self._write(fill, queue.get_nowait())
            elif fill.tee_done:
                break
            else:
                await fill.changed().wait()
        fill.queue = None
        # Let go of the first client: with nobody else reading the file, the rest is read
        # from the store once it is done, so the two never compete for the CPU.
        while fill.teed and not fill.tee_done and fill.readers <= 1:
            await fill.changed().wait()
        assert fill.image.size is not None
        if fill.written < fill.image.size:
            data = await source(ByteRange(fill.written) if fill.written else None)
            async for chunk in data.stream:
                await self._write(fill, chunk)
        fill.complete = True
        fill.notify()

    async def _write(self, fill: _Fill, chunk: bytes) -> None:
        await anyio.to_thread.run_sync(_write_all, fill.fd, chunk)
        fill.written += len(chunk)
        fill.notify()
        for progress in fill.progress:
            progress(fill.written)

    async def _finish(self, fill: _Fill) -> None:
        """Verify the whole file, then move it into place and index it."""
        image = fill.image
        problem = None
        if fill.written != image.size:
            problem = f"{fill.written} bytes instead of {image.size}"
        else:
            # Hashing takes CPU the transfers need: let the clients finish first.
            while fill.readers > 0:
                await fill.changed().wait()
            md5, secure = await _digests(fill.fd, fill.written, image.os_hash_algo)
            if md5 != image.checksum:
                problem = "an MD5 that is not the image's checksum"
            elif image.os_hash_value and secure != image.os_hash_value:
                problem = f"a {image.os_hash_algo} that is not the image's os_hash_value"
        if problem is not None:
            log.error("image cache: the store sent %s for %s; moved to invalid/", problem, image.id)
            await anyio.to_thread.run_sync(self.layout.fail_fill, image.id, True)
            return
        ctime = await anyio.to_thread.run_sync(self.layout.finish_fill, image.id, fill.fd)
        now = self.clock()
        await self.index.add(
            CacheEntry(
                image_id=image.id,
                size=fill.written,
                checksum=image.checksum,
                last_modified=ctime,
                last_accessed=now,
            )
        )
        fill.cached = True
        log.info("image cache: %s cached (%d bytes)", image.id, fill.written)

    async def fill(self, image: Image, source: Source, progress: Progress | None = None) -> bool:
        """Cache an image now and wait (the prefetcher); ``True`` once it is cached."""
        if not cacheable(image):
            return False
        if await self.index.get(image.id) is not None:
            return True
        fill = self._fills.get(image.id)
        if fill is None:
            fill = self._start_fill(image, source, keep=True)
        fill.keep = True
        if progress is not None:
            fill.progress.append(progress)
        await fill.done.wait()
        return fill.cached or await self.index.get(image.id) is not None

    # -- management -----------------------------------------------------------------------

    async def entries(self) -> list[CacheEntry]:
        return await self.index.entries()

    async def is_cached(self, image_id: str) -> bool:
        return await self.index.get(image_id) is not None

    async def evict(self, image_id: str) -> bool:
        """Remove an image from the cache and the queue; ``True`` if it was in either."""
        cached = await self.uncache(image_id)
        queued = await self.dequeue(image_id) if valid_id(image_id) else False
        return cached or queued

    async def uncache(self, image_id: str) -> bool:
        """Remove an image from the cache only; ``True`` if it was cached."""
        if not valid_id(image_id):
            return False
        fill = self._fills.get(image_id)
        if fill is not None and fill.task is not None:
            fill.task.cancel()
        removed = await self.index.remove(image_id)
        freed = await anyio.to_thread.run_sync(self.layout.remove, image_id)
        return removed or freed > 0

    async def dequeue(self, image_id: str) -> bool:
        return await anyio.to_thread.run_sync(self.layout.dequeue, image_id)

    async def clear(self) -> int:
        """Remove every cached image; returns how many."""
        count = 0
        for entry in await self.index.entries():
            await self.index.remove(entry.image_id)
            await anyio.to_thread.run_sync(self.layout.remove, entry.image_id)
            count += 1
        return count

    def queued(self) -> list[str]:
        return self.layout.queued_ids()

    async def queued_ids(self) -> list[str]:
        """``queued`` off the event loop: it lists and stats a directory."""
        return await anyio.to_thread.run_sync(self.layout.queued_ids)

    async def queue(self, image_id: str) -> None:
        await anyio.to_thread.run_sync(self.layout.queue, image_id)

    async def clear_queue(self) -> int:
        count = 0
        for image_id in await self.queued_ids():
            count += await anyio.to_thread.run_sync(self.layout.dequeue, image_id)
        return count


def _open_with_stat(path: os.PathLike[str]) -> tuple[int, os.stat_result]:
    fd = os.open(path, os.O_RDONLY)
    return fd, os.fstat(fd)


def _write_all(fd: int, chunk: bytes) -> None:
    view = memoryview(chunk)
    while view:
        view = view[os.write(fd, view) :]


def _pread_hashed(fd: int, n: int, offset: int, digest: Any) -> bytes:
    chunk = os.pread(fd, n, offset)
    digest.update(chunk)
    return chunk


def _hash_file(fd: int, size: int, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    offset = 0
    while offset < size:
        chunk = os.pread(fd, min(_HASH_CHUNK, size - offset), offset)
        if not chunk:
            break
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()


async def _digests(fd: int, size: int, secure_algo: str | None) -> tuple[str, str | None]:
    """MD5 and the secure hash of the file, on two threads at once."""
    md5 = asyncio.ensure_future(anyio.to_thread.run_sync(_hash_file, fd, size, "md5"))
    secure = None
    if secure_algo:
        secure = await anyio.to_thread.run_sync(_hash_file, fd, size, secure_algo)
    return await md5, secure


async def _read_file(local: LocalFile) -> ByteStream:
    """The span's bytes; the next chunk is read while this one is sent."""
    fd, offset, end = local.fd, local.offset, local.offset + local.length

    def read_next() -> asyncio.Future[bytes] | None:
        nonlocal offset
        if offset >= end:
            return None
        n = min(READ_CHUNK, end - offset)
        future = asyncio.ensure_future(anyio.to_thread.run_sync(os.pread, fd, n, offset))
        offset += n
        return future

    pending = read_next()
    try:
        while pending is not None:
            chunk = await pending
            pending = read_next()
            if not chunk:
                raise CacheCorrupted("a cached file ended early")
            yield chunk
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        local.close()
