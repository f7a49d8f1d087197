"""The S3 store without a server: its options, locations, part cutting and error mapping.

What it does against real servers (moto, Swift's s3api) is in
``tests/integration/stores/test_s3.py``.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import anyio
import httpx
import pytest

from spyglass.errors import (
    BadStoreUri,
    ConfigError,
    NotFound,
    RangeNotSatisfiable,
    SizeMismatch,
    StorageFull,
    StoreMisconfigured,
    StoreUnavailable,
)
from spyglass.stores import s3_location
from spyglass.stores.s3 import MIB, S3Settings, S3Store
from spyglass.stores.s3_client import Credentials, S3Error, sign
from spyglass.stores.s3_multipart import (
    PartBody,
    StreamBody,
    base_part_size,
    first_error,
    gather,
    parts,
)
from spyglass.types import ByteStream

OPTIONS: dict[str, object] = {
    "s3_store_host": "http://S3.Example.com:8443/",
    "s3_store_access_key": "AKIDEXAMPLE",
    "s3_store_secret_key": "wJalr/K7MDENG+bPxRfiCY",
    "s3_store_bucket": "glance",
    "s3_store_region_name": "",
    "s3_store_create_bucket_on_put": False,
    "s3_store_bucket_url_format": "subdomain",
    "s3_store_large_object_size": 100,
    "s3_store_large_object_chunk_size": 10,
    "s3_store_thread_pools": 10,
    "s3_store_cacert": "",
    "s3_store_object_buffer_dir": None,
}


class Options:
    def __init__(self, **changes: object) -> None:
        self.values = {**OPTIONS, **changes}
        self.data_dir = Path("/nonexistent")

    def get(self, name: str) -> object:
        return self.values.get(name)

    def server_option(self, section: str, name: str) -> object:
        raise KeyError(f"[{section}] {name}")


def _store(**changes: object) -> S3Store:
    return S3Store.from_options("cheap", Options(**changes))


def test_options_map_onto_settings() -> None:
    store = _store()
    s = store.settings
    assert (s.bucket, s.access_key, s.secret_key) == (
        "glance",
        "AKIDEXAMPLE",
        OPTIONS["s3_store_secret_key"],
    )
    assert s.large_object_size == 100 * MIB and s.part_size == 10 * MIB
    assert s.addressing_style == "auto"  # the seed's "subdomain": virtual where it can be
    assert store.endpoint == "http://s3.example.com:8443"
    assert store.scheme == "s3"
    assert s.parallel == 1, "ten 10 MiB parts in flight would be 100 MiB of memory"


def test_https_host_writes_s3_https_locations() -> None:
    store = _store(s3_store_host="https://s3.example.com")
    assert store.scheme == "s3+https"
    assert store.endpoint == "https://s3.example.com"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("s3_store_host", None, "s3_store_host must be set"),
        ("s3_store_bucket", "", "s3_store_bucket must be set"),
        ("s3_store_secret_key", None, "s3_store_secret_key must be set"),
        ("s3_store_large_object_chunk_size", 4, "at least 5"),
        ("s3_store_thread_pools", 0, "must be positive"),
    ],
)
def test_unusable_options_are_config_errors(name: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as failed:
        _store(**{name: value})
    assert "cheap" in failed.value.message
    assert str(OPTIONS["s3_store_secret_key"]) not in failed.value.message


@pytest.mark.parametrize(
    ("url", "service", "bucket", "key"),
    [
        ("s3://s3.example.com:8443/glance/abc-1", "s3.example.com:8443", "glance", "abc-1"),
        ("s3+https://S3.Example.com/glance/abc-1", "s3.example.com", "glance", "abc-1"),
        # upstream's legacy form, with a secret that holds "/" and "@"
        (
            "s3://AKID:se/cr@et@s3.example.com:8443/glance/abc-1",
            "s3.example.com:8443",
            "glance",
            "abc-1",
        ),
        ("s3+http://AKID:x@host/sub/path/bucket/key", "host/sub/path", "bucket", "key"),
    ],
)
def test_locations_parse(url: str, service: str, bucket: str, key: str) -> None:
    loc = s3_location.parse(url)
    assert (loc.service, loc.bucket, loc.key) == (service, bucket, key)


@pytest.mark.parametrize(
    "url",
    [
        "s3://AKID:secret@https://s3.example.com/glance/abc",
        "s3://s3.example.com/abc",
        "s3://s3.example.com//abc",
        "swift://s3.example.com/glance/abc",
        "s3://s3.example.com/glance/../etc",
    ],
)
def test_bad_locations_are_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(BadStoreUri) as failed:
        s3_location.parse(url)
    assert "secret" not in failed.value.message and "AKID" not in failed.value.message


def test_legacy_location_resolves_with_configured_credentials() -> None:
    store = _store()
    legacy = "s3://OLDKEY:old/secret@s3.example.com:8443/glance/0b5b-image"
    assert store.image_of(legacy) == "0b5b-image"
    assert store.image_of("s3://s3.example.com:8443/glance/0b5b-image") == "0b5b-image"


@pytest.mark.parametrize(
    "url",
    [
        "s3://elsewhere.example.com/glance/img",  # another endpoint gets no signed request
        "s3://s3.example.com:8443/other-bucket/img",  # nor does another bucket
    ],
)
async def test_locations_outside_the_bucket_are_refused(url: str) -> None:
    store = _store()
    assert store.image_of(url) is None
    with pytest.raises(BadStoreUri):
        await store.get(url)
    with pytest.raises(BadStoreUri):
        await store.delete(url)


def test_written_locations_carry_no_credentials() -> None:
    store = _store()
    uri = s3_location.S3Location(store.scheme, store.service, "glance", "img").uri()
    assert uri == "s3://s3.example.com:8443/glance/img"
    assert "AKID" not in uri and "wJalr" not in uri


def _client_error(code: str, status: int = 400) -> S3Error:
    return S3Error(code, status)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_client_error("NoSuchKey", 404), NotFound),
        (_client_error("404", 404), NotFound),
        (_client_error("SignatureDoesNotMatch", 403), StoreMisconfigured),
        (_client_error("InvalidAccessKeyId", 403), StoreMisconfigured),
        (_client_error("NoSuchBucket", 404), StoreMisconfigured),
        (_client_error("EntityTooLarge", 400), StorageFull),
        (_client_error("QuotaExceeded", 403), StorageFull),
        (_client_error("InvalidRange", 416), RangeNotSatisfiable),
        (_client_error("SlowDown", 503), StoreUnavailable),
        (httpx.ConnectError("Connection refused"), StoreUnavailable),
    ],
)
def test_errors_map_to_the_api_error_tree(exc: Exception, expected: type[Exception]) -> None:
    error = _store()._error(exc, "write")
    assert type(error) is expected
    assert "cheap" in error.message or expected in (NotFound, RangeNotSatisfiable)
    assert "wJalr" not in error.message and "AKIDEXAMPLE" not in error.message
    assert error.http_status in (404, 413, 416, 503)


def test_missing_bucket_on_read_is_missing_data() -> None:
    error = _store()._error(_client_error("NoSuchBucket", 404), "read", missing_bucket_is_gone=True)
    assert isinstance(error, NotFound)


async def _stream(*chunks: bytes) -> ByteStream:
    for chunk in chunks:
        yield chunk


async def _collect(numbered: AsyncIterator[tuple[int, PartBody]]) -> list[tuple[int, int]]:
    return [(number, body.size) async for number, body in numbered]


async def test_parts_are_cut_at_chunk_boundaries_and_the_last_is_short() -> None:
    chunks = [b"a" * 3, b"b" * 3, b"c" * 3, b"d" * 2]
    got = await _collect(parts([], _stream(*chunks), 5, growing=False))
    assert got == [(1, 6), (2, 5)]


async def test_parts_start_with_the_gathered_head() -> None:
    head, held, ended = await gather(_stream(b"x" * 4, b"y" * 4, b"z" * 4), 5)
    assert (held, ended) == (8, False)
    rest = _stream(b"w" * 4)
    numbered = [b"".join(body.chunks) async for _, body in parts(head, rest, 5, growing=False)]
    assert b"".join(numbered) == b"x" * 4 + b"y" * 4 + b"w" * 4, "z was still in the stream"


async def test_gather_stops_at_the_end() -> None:
    assert await gather(_stream(b"ab", b"c"), 10) == ([b"ab", b"c"], 3, True)


def test_part_size_fits_a_known_size_in_ten_thousand_parts() -> None:
    assert base_part_size(10 * MIB, 50 * MIB) == 10 * MIB
    assert base_part_size(5 * MIB, 100_000 * MIB) == 10 * MIB
    assert base_part_size(5 * MIB, None) == 5 * MIB


async def test_unknown_sizes_grow_parts_every_thousand() -> None:
    numbered = parts([], _stream(*[b"p"] * 1002), 1, growing=True)
    sizes = [body.size async for _, body in numbered]
    assert sizes[:1000] == [1] * 1000
    assert sizes[1000] == 2


async def test_stream_body_enforces_the_declared_size() -> None:
    body = StreamBody([b"ab"], _stream(b"cd"), 3)
    with pytest.raises(SizeMismatch):
        _ = [chunk async for chunk in body]
    assert isinstance(body.error, SizeMismatch)
    short = StreamBody([], _stream(b"ab"), 3)
    with pytest.raises(SizeMismatch):
        _ = [chunk async for chunk in short]


async def test_first_error_skips_cancellations() -> None:
    cancelled = anyio.get_cancelled_exc_class()()
    real = ValueError("part 3 failed")
    group = BaseExceptionGroup("parts", [cancelled, ExceptionGroup("inner", [real])])
    assert first_error(group) is real
    assert first_error(real) is real


def test_settings_parallel_stays_within_memory() -> None:
    base = S3Settings(host="h", access_key="a", secret_key="s", bucket="b")
    assert base.parallel == 1
    assert (
        S3Settings(
            host="h", access_key="a", secret_key="s", bucket="b", part_size=100 * MIB
        ).parallel
        == 1
    )
    assert (
        S3Settings(
            host="h", access_key="a", secret_key="s", bucket="b", part_size=5 * MIB, thread_pools=3
        ).parallel
        == 2
    )


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("PUT", "/glance/0b5b-image", {}),
        ("PUT", "/glance/0b5b-image", {"partNumber": "3", "uploadId": "a/b+c=="}),
        ("POST", "/prefix/glance/0b5b-image", {"uploads": ""}),
        ("HEAD", "/glance", {}),
    ],
)
def test_signatures_are_the_ones_botocore_makes(
    method: str, path: str, query: dict[str, str]
) -> None:
    """Our SigV4 signer against botocore's, for the requests the store sends."""
    import botocore.auth
    import botocore.awsrequest
    import botocore.config
    import botocore.credentials

    url = f"http://s3.example.com:8443{path}"
    if query:
        url += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    request = botocore.awsrequest.AWSRequest(method=method, url=url, data=b"")
    request.context["client_config"] = botocore.config.Config(s3={"payload_signing_enabled": False})
    signer = botocore.auth.S3SigV4Auth(
        botocore.credentials.Credentials("AKIDEXAMPLE", "wJalr/K7MDENG+bPxRfiCY"),
        "s3",
        "eu-west-3",
    )
    signer.add_auth(request)
    when = datetime.datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    credentials = Credentials("AKIDEXAMPLE", "wJalr/K7MDENG+bPxRfiCY", "eu-west-3")
    ours = sign(credentials, method, "s3.example.com:8443", path, query, when)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["x-amz-content-sha256"] == request.headers["X-Amz-Content-SHA256"]


def test_credentials_never_show_their_secret() -> None:
    shown = repr(Credentials("AKIDEXAMPLE", "wJalr/K7MDENG+bPxRfiCY", "us-east-1"))
    assert "wJalr" not in shown and "AKIDEXAMPLE" not in shown
