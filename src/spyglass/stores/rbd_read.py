"""Reading an RBD image ahead of the client, with librbd's asynchronous reads.

A download that read one piece, then sent it, then read the next left the osd idle
while the socket worked and the socket idle while the osd did: 135 MB/s against 244
for librbd's own read loop (``docs/performance.md``, "Stores"). Here reads are always
in flight, so the cluster reads the next pieces while the current one is sent. librbd
calls back on its own thread; the callback only hands the bytes to the event loop
(``call_soon_threadsafe``), so no piece costs a worker-thread hop either. Memory per
download stays bounded: ``depth`` pieces.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

MIB = 1024 * 1024
READ_PIECE = 1 * MIB
"""Bytes per read. Measured on 512 MiB downloads (``bench/thread_cpu.py``): 1 MiB pieces
two ahead ran at 500 MB/s, as fast as 2 or 4 MiB pieces, while these raised the
server's peak RSS from 142 to 148-166 MiB (``test_rbd_e2e``'s 150 MiB limit)."""
READ_AHEAD = 2
"""Reads in flight per download: one being read while the last is sent is the overlap
that matters; a third added nothing measurable."""


@dataclass(slots=True)
class _Pending:
    done: asyncio.Future[bytes]
    completion: Any
    length: int


async def read_ahead(
    image: Any,
    start: int,
    stop: int,
    unsettled: list[Any],
    *,
    piece: int = READ_PIECE,
    depth: int = READ_AHEAD,
) -> AsyncGenerator[bytes]:
    """The bytes of ``image`` from ``start`` to ``stop``, in order, ``depth`` reads ahead.

    A failed read raises ``OSError`` with librbd's errno (the store translates it). When
    the caller stops early, the completions of reads still in flight are left in
    ``unsettled``: the image must not be closed before :func:`settle` has waited for them.
    """
    loop = asyncio.get_running_loop()
    pending: deque[_Pending] = deque()
    offset = start
    try:
        while pending or offset < stop:
            while offset < stop and len(pending) < depth:
                length = min(piece, stop - offset)
                done: asyncio.Future[bytes] = loop.create_future()
                completion = image.aio_read(offset, length, _deliver(loop, done))
                pending.append(_Pending(done, completion, length))
                offset += length
            head = pending[0]
            data = await head.done
            pending.popleft()
            if data:
                yield data
            if len(data) < head.length:
                return  # the image ended early (it shrank under the read)
    finally:
        unsettled.extend(p.completion for p in pending)


def settle(unsettled: list[Any]) -> None:
    """Wait (in a worker thread) for reads that :func:`read_ahead` left in flight, so
    librbd is done with their buffers before the image closes."""
    for completion in unsettled:
        with contextlib.suppress(Exception):
            completion.wait_for_complete_and_cb()


def _deliver(loop: asyncio.AbstractEventLoop, done: asyncio.Future[bytes]) -> Any:
    """librbd's completion callback (on librbd's thread) for one read."""

    def callback(completion: Any, data: bytes | None) -> None:
        result = completion.get_return_value()
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(_settle_future, done, result, data)

    return callback


def _settle_future(done: asyncio.Future[bytes], result: int, data: bytes | None) -> None:
    if done.done():
        return
    if result < 0 or data is None:
        code = -result if result < 0 else errno.EIO
        done.set_exception(OSError(code, os.strerror(code)))
    else:
        done.set_result(data)
