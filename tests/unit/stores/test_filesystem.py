"""The filesystem store: atomic writes, ranges, and no escape from its directory."""

from __future__ import annotations

import errno
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from spyglass.errors import (
    BadStoreUri,
    Duplicate,
    NotFound,
    StorageFull,
    StorageWriteDenied,
    StoreUnavailable,
)
from spyglass.stores.base import ByteRange
from spyglass.stores.filesystem import FilesystemStore

IMAGE = "5d054d62-652b-4fc3-98f3-032a71483c46"


async def _data(*pieces: bytes) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def _read(store: FilesystemStore, location: str, rng: ByteRange | None = None) -> bytes:
    result = await store.get(location, byte_range=rng)
    data = b"".join([chunk async for chunk in result.stream])
    assert len(data) == result.size
    return data


@pytest.fixture
async def store(tmp_path: Path) -> FilesystemStore:
    fs = FilesystemStore("file", datadir=tmp_path / "images")
    await fs.open()
    return fs


async def test_add_get_delete(store: FilesystemStore) -> None:
    written = await store.add(IMAGE, _data(b"hello ", b"world"), size=None)
    assert written.size == 11
    assert written.location == (store.datadir / IMAGE).as_uri()
    assert await _read(store, written.location) == b"hello world"
    assert await store.get_size(written.location) == 11
    assert await _read(store, written.location, ByteRange(6, 10)) == b"world"
    assert await _read(store, written.location, ByteRange(6)) == b"world"
    await store.delete(written.location)
    with pytest.raises(NotFound):
        await store.get(written.location)
    with pytest.raises(NotFound):
        await store.delete(written.location)
    assert os.listdir(store.datadir) == []


async def test_existing_data_is_never_overwritten(store: FilesystemStore) -> None:
    await store.add(IMAGE, _data(b"first"), size=None)
    with pytest.raises(Duplicate):
        await store.add(IMAGE, _data(b"second"), size=None)
    assert (store.datadir / IMAGE).read_bytes() == b"first"
    assert os.listdir(store.datadir) == [IMAGE]


async def test_failed_stream_leaves_nothing(store: FilesystemStore) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"partial"
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError):
        await store.add(IMAGE, broken(), size=None)
    assert os.listdir(store.datadir) == []


@pytest.mark.parametrize(
    "location",
    [
        "file:///etc/passwd",
        "file://{datadir}/../secret",
        "file://{datadir}/sub/x",
        "file://{datadir}/.hidden.partial",
        "swift://x/y",
        "file://",
    ],
)
async def test_locations_outside_the_datadir_are_refused(
    store: FilesystemStore, location: str
) -> None:
    with pytest.raises(BadStoreUri):
        await store.get(location.format(datadir=store.datadir))
    with pytest.raises(BadStoreUri):
        await store.delete(location.format(datadir=store.datadir))


@pytest.mark.parametrize("image_id", ["../escape", "a/b", "", ".hidden"])
async def test_unsafe_image_ids_are_refused(store: FilesystemStore, image_id: str) -> None:
    with pytest.raises(BadStoreUri):
        await store.add(image_id, _data(b"x"), size=None)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (errno.ENOSPC, StorageFull),
        (errno.EFBIG, StorageFull),
        (errno.EACCES, StorageWriteDenied),
        (errno.EROFS, StoreUnavailable),
    ],
)
async def test_write_errors_are_mapped(
    store: FilesystemStore, monkeypatch: pytest.MonkeyPatch, code: int, error: type[Exception]
) -> None:
    def failing_write(fd: int, data: object) -> int:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr("spyglass.stores.filesystem.os.write", failing_write)
    with pytest.raises(error):
        await store.add(IMAGE, _data(b"x"), size=None)
    assert os.listdir(store.datadir) == []
