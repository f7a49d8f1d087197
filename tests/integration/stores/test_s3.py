"""The S3 store passes the store contract on two real S3 servers: moto and Swift's s3api.

moto comes from ``scripts/moto.sh`` and Swift (with s3api) from ``scripts/swift.sh``; a test
module starts what is not running and stops only what it started. The store talks to each
server through a TCP relay of the test's own, so that "the backend stops" can happen in the
middle of an upload without losing the server's data (moto keeps it in memory). What is
left on the backend is read with the backend's own API, not through the driver: objects and
unfinished multipart uploads, and for Swift the segments container that s3api keeps parts in.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Collection, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import aiobotocore.session
import httpx
import pytest
from aiobotocore.config import AioConfig

from spyglass.stores.base import Store
from spyglass.stores.s3 import S3Settings, S3Store
from spyglass.testing.store_contract import Misconfigured, StoreContract

if TYPE_CHECKING:
    from aiobotocore.session import ClientCreatorContext
    from types_aiobotocore_s3 import S3Client

ROOT = Path(__file__).resolve().parents[3]
MIB = 1024 * 1024
MOTO_PORT = int(os.environ.get("MOTO_PORT", "5000"))
SWIFT_PORT = int(os.environ.get("SWIFT_PORT", "8080"))
SWIFT_ACCESS, SWIFT_SECRET = "test:tester", "testing"


def _script(name: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / name), command],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _missing(reason: str) -> None:
    """A missing backend skips, except in CI, where every backend must be there."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _backend(script: str) -> Iterator[None]:
    if not (ROOT / "scripts" / script).exists():
        _missing(f"scripts/{script} is not there")
    was_up = _script(script, "status").returncode == 0
    if not was_up:
        for command in ("install", "start"):
            done = _script(script, command)
            if done.returncode != 0:
                _missing(f"scripts/{script} {command} failed: {done.stderr[-2000:]}")
    yield
    if not was_up:
        _script(script, "stop")


@pytest.fixture(scope="module")
def moto_server() -> Iterator[None]:
    yield from _backend("moto.sh")


@pytest.fixture(scope="module")
def swift_server() -> Iterator[None]:
    yield from _backend("swift.sh")


class Relay:
    """A TCP relay on 127.0.0.1 that can be stopped (refusing connections and cutting the
    open ones) and started again on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._relay, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(256 * 1024):
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            writer.transport.abort()


def s3_client(port: int, access: str, secret: str) -> ClientCreatorContext[S3Client]:
    """The test's own client, straight to the server (not through the relay)."""
    return aiobotocore.session.get_session().create_client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=AioConfig(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


async def _empty_bucket(client: S3Client, bucket: str) -> None:
    listed = await client.list_multipart_uploads(Bucket=bucket)
    for upload in listed.get("Uploads", []):
        await client.abort_multipart_upload(
            Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
        )
    for item in (await client.list_objects_v2(Bucket=bucket)).get("Contents", []):
        await client.delete_object(Bucket=bucket, Key=item["Key"])
    await client.delete_bucket(Bucket=bucket)


class S3Contract(StoreContract):
    """The contract on one S3 server; subclasses say which."""

    port: ClassVar[int]
    access_key: ClassVar[str]
    secret_key: ClassVar[str]
    secrets: ClassVar[tuple[str, ...]] = ()
    cleanup_seconds: ClassVar[float] = 15.0

    @pytest.fixture
    def threshold(self) -> int:
        return 5 * MIB  # S3's smallest part

    @pytest.fixture
    async def relay(self) -> AsyncIterator[Relay]:
        relay = Relay(self.port)
        await relay.start()
        yield relay
        if relay._server is not None:
            await relay.stop()

    @pytest.fixture
    async def store(self, relay: Relay, threshold: int) -> AsyncIterator[Store]:
        bucket = f"spyglass-{uuid.uuid4().hex[:12]}"
        store = S3Store("s3-test", self._settings(relay, bucket, threshold))
        await store.open()  # the bucket is made by the first upload
        self.current_relay = relay
        try:
            yield store
        finally:
            await store.close()
            async with s3_client(self.port, self.access_key, self.secret_key) as client:
                try:
                    await _empty_bucket(client, bucket)
                except Exception as exc:
                    if "NoSuchBucket" not in str(exc):
                        raise

    def _settings(self, relay: Relay, bucket: str, threshold: int, **changes: object) -> S3Settings:
        values: dict[str, object] = {
            "host": f"127.0.0.1:{relay.port}",
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "bucket": bucket,
            "region": "us-east-1",
            "create_bucket": True,
            "addressing_style": "path",
            "large_object_size": threshold,
            "part_size": threshold,
            "thread_pools": 3,
            "connect_timeout": 2.0,
            "read_timeout": 15.0,
        }
        values.update(changes)
        return S3Settings(**values)  # type: ignore[arg-type]

    async def backend_objects(self, store: Store) -> Collection[str]:
        assert isinstance(store, S3Store)
        bucket = store.settings.bucket
        async with s3_client(self.port, self.access_key, self.secret_key) as client:
            try:
                objects = await client.list_objects_v2(Bucket=bucket)
                uploads = await client.list_multipart_uploads(Bucket=bucket)
            except Exception as exc:
                if "NoSuchBucket" in str(exc):
                    return []
                raise
        names = {f"object:{item['Key']}" for item in objects.get("Contents", [])}
        names |= {f"upload:{u['Key']}:{u['UploadId']}" for u in uploads.get("Uploads", [])}
        return names | set(await self.hidden_parts(bucket))

    async def hidden_parts(self, bucket: str) -> Collection[str]:
        """Parts the server keeps where the S3 API does not list them."""
        return ()

    async def stop_backend(self, store: Store) -> None:
        await self.current_relay.stop()

    async def start_backend(self, store: Store) -> None:
        await self.current_relay.start()


@pytest.mark.usefixtures("moto_server")
class TestS3OnMoto(S3Contract):
    port = MOTO_PORT
    access_key = "moto-access"
    secret_key = "moto-secret-with/slash"
    secrets = (access_key, secret_key)

    async def misconfigured_store(self, store: Store) -> Misconfigured:
        """moto takes any credentials; what it can show is a bucket that is not there."""
        assert isinstance(store, S3Store)
        settings = self._settings(
            self.current_relay, f"missing-{uuid.uuid4().hex[:8]}", 5 * MIB, create_bucket=False
        )
        return Misconfigured(S3Store("s3-missing-bucket", settings), self.secrets)


@pytest.mark.usefixtures("swift_server")
class TestS3OnSwift(S3Contract):
    port = SWIFT_PORT
    access_key = SWIFT_ACCESS
    secret_key = SWIFT_SECRET
    secrets = (access_key, secret_key)

    async def misconfigured_store(self, store: Store) -> Misconfigured:
        assert isinstance(store, S3Store)
        wrong = "not-the-secret-0123"
        settings = self._settings(
            self.current_relay, store.settings.bucket, 5 * MIB, secret_key=wrong
        )
        return Misconfigured(S3Store("s3-wrong-secret", settings), (*self.secrets, wrong))

    async def hidden_parts(self, bucket: str) -> Collection[str]:
        """s3api keeps parts as objects of the ``<bucket>+segments`` container."""
        base = f"http://127.0.0.1:{self.port}"
        async with httpx.AsyncClient(timeout=10) as http:
            auth = await http.get(
                f"{base}/auth/v1.0",
                headers={"X-Auth-User": self.access_key, "X-Auth-Key": self.secret_key},
            )
            auth.raise_for_status()
            listing = await http.get(
                f"{auth.headers['X-Storage-Url']}/{bucket}+segments",
                headers={"X-Auth-Token": auth.headers["X-Auth-Token"]},
            )
        if listing.status_code == 404:
            return ()
        listing.raise_for_status()
        return {f"segment:{name}" for name in listing.text.split()}
