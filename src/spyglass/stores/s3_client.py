"""The dozen S3 calls the S3 store makes, over httpx, signed with AWS Signature Version 4.

Why not botocore (boto3, aiobotocore)? Memory. botocore's models, endpoint rules and
aiohttp add about 32 MiB to every API server process before the first byte moves, a fifth
of the 150 MiB a server may use while it streams an image; httpx is already loaded, and
these calls need only a signer and a little XML. Payloads are sent unsigned
(``UNSIGNED-PAYLOAD``, as botocore does over HTTPS): the upload pipeline hashes every byte
already, and signing would mean hashing each part a second time before sending it.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import ipaddress
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

import httpx

UNSIGNED = "UNSIGNED-PAYLOAD"
MAX_XML = 1024 * 1024
"""Bytes of an XML answer read at most (listings of one upload's parts, errors)."""
_DNS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]\Z")


@dataclass(frozen=True, slots=True)
class Answer:
    """A read S3 answer (no body is larger than ``MAX_XML``)."""

    status: int
    headers: httpx.Headers
    content: bytes


class S3Error(Exception):
    """An S3 error answer: its ``code`` (``NoSuchKey``...; the status for bodiless answers)."""

    def __init__(self, code: str, status: int, message: str = "") -> None:
        super().__init__(f"{code} ({status}){': ' + message if message else ''}")
        self.code = code
        self.status = status


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key: str
    secret_key: str
    region: str

    def __repr__(self) -> str:  # never show the secret, not even in a traceback
        return f"Credentials(access_key=..., region={self.region!r})"


def sign(
    credentials: Credentials,
    method: str,
    host: str,
    path: str,
    query: Mapping[str, str],
    now: datetime.datetime,
) -> dict[str, str]:
    """The headers that authenticate one request (``Host``, ``x-amz-date``,
    ``x-amz-content-sha256``, ``Authorization``)."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    headers = {"host": host, "x-amz-content-sha256": UNSIGNED, "x-amz-date": stamp}
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        [
            method,
            quote(path, safe="/-_.~"),
            "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(query.items())),
            "".join(f"{name}:{headers[name]}\n" for name in sorted(headers)),
            signed,
            UNSIGNED,
        ]
    )
    scope = f"{day}/{credentials.region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{credentials.secret_key}".encode()
    for part in (day, credentials.region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "Host": host,
        "x-amz-content-sha256": UNSIGNED,
        "x-amz-date": stamp,
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}"
        ),
    }


def _enc(text: str) -> str:
    return quote(text, safe="-_.~")


class S3Client:
    """One endpoint, one set of credentials; the calls return plain values."""

    def __init__(
        self,
        endpoint: str,
        credentials: Credentials,
        *,
        addressing_style: str = "auto",
        verify: str | bool = True,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        connections: int = 16,
    ) -> None:
        url = httpx.URL(endpoint)
        self.scheme = url.scheme
        self.netloc = url.netloc.decode("ascii")
        self.prefix = url.path.rstrip("/")
        self.credentials = credentials
        self.addressing_style = addressing_style
        self.http = httpx.AsyncClient(
            verify=verify,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout, pool=read_timeout),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            trust_env=False,
            follow_redirects=False,
        )

    async def close(self) -> None:
        await self.http.aclose()

    # -- requests ---------------------------------------------------------------------------

    def _virtual(self, bucket: str) -> bool:
        if self.addressing_style == "path" or not _DNS_BUCKET.match(bucket) or "." in bucket:
            return False
        if self.addressing_style == "virtual":
            return True
        host = self.netloc.rsplit(":", 1)[0].strip("[]")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return host.endswith(".amazonaws.com")  # "auto": virtual hosts where AWS wants them
        return False

    def build(
        self,
        method: str,
        bucket: str,
        key: str = "",
        query: Mapping[str, str] | None = None,
        *,
        content: bytes | AsyncIterable[bytes] | None = None,
        length: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Request:
        query = dict(query or {})
        if self._virtual(bucket):
            host, path = f"{bucket}.{self.netloc}", f"{self.prefix}/{key}"
        else:
            host, path = self.netloc, f"{self.prefix}/{bucket}" + (f"/{key}" if key else "")
        now = datetime.datetime.now(datetime.UTC)
        signed = sign(self.credentials, method, host, path, query, now)
        all_headers = {**(headers or {}), **signed, "Accept-Encoding": "identity"}
        if length is not None:
            all_headers["Content-Length"] = str(length)
        url = httpx.URL(
            scheme=self.scheme,
            netloc=host.encode("ascii"),
            path=path,
            query="&".join(f"{_enc(k)}={_enc(v)}" for k, v in query.items()).encode() or None,
        )
        return self.http.build_request(method, url, headers=all_headers, content=content)

    async def call(self, request: httpx.Request, *, retries: int = 2) -> Answer:
        """Send, read the (small) answer, raise ``S3Error`` for error answers.

        Requests whose body can be sent again are retried on a broken connection.
        """
        for attempt in range(retries + 1):
            try:
                response = await self.http.send(request, stream=True)
                try:
                    body = await _read_limited(response)
                finally:
                    await response.aclose()
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
                if attempt == retries:
                    raise
                continue
            _raise_for(response.status_code, body)
            return Answer(response.status_code, response.headers, body)
        raise AssertionError("unreachable")

    async def open_stream(self, request: httpx.Request) -> httpx.Response:
        """Send and return the answer unread (the caller closes it); errors raise."""
        response = await self.http.send(request, stream=True)
        if response.status_code >= 300:
            try:
                body = await _read_limited(response)
            finally:
                await response.aclose()
            _raise_for(response.status_code, body)
        return response

    # -- the calls --------------------------------------------------------------------------

    async def head_bucket(self, bucket: str) -> None:
        await self.call(self.build("HEAD", bucket))

    async def create_bucket(self, bucket: str) -> None:
        region = self.credentials.region
        xml = b""
        if region and region != "us-east-1":
            xml = (
                b"<CreateBucketConfiguration><LocationConstraint>"
                + region.encode()
                + b"</LocationConstraint></CreateBucketConfiguration>"
            )
        await self.call(self.build("PUT", bucket, content=xml, length=len(xml)))

    async def head_object(self, bucket: str, key: str) -> int:
        response = await self.call(self.build("HEAD", bucket, key))
        return int(response.headers.get("Content-Length", "0"))

    async def get_object(self, bucket: str, key: str, byte_range: str | None) -> httpx.Response:
        headers = {"Range": byte_range} if byte_range else None
        return await self.open_stream(self.build("GET", bucket, key, headers=headers))

    async def put_object(
        self, bucket: str, key: str, body: AsyncIterable[bytes], length: int
    ) -> None:
        request = self.build("PUT", bucket, key, content=body, length=length)
        await self.call(request, retries=0)  # a streamed body cannot be sent twice

    async def delete_object(self, bucket: str, key: str) -> None:
        await self.call(self.build("DELETE", bucket, key))

    async def create_multipart_upload(self, bucket: str, key: str) -> str:
        response = await self.call(
            self.build("POST", bucket, key, {"uploads": ""}, content=b"", length=0), retries=0
        )
        upload_id = _text(_xml(response.content), "UploadId")
        if not upload_id:
            raise S3Error("InvalidResponse", response.status, "no UploadId")
        return upload_id

    async def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        number: int,
        body: AsyncIterable[bytes],
        length: int,
    ) -> str:
        query = {"partNumber": str(number), "uploadId": upload_id}
        request = self.build("PUT", bucket, key, query, content=body, length=length)
        response = await self.call(request)  # a part's chunks are kept: it can be sent again
        return str(response.headers.get("ETag", ""))

    async def complete_multipart_upload(
        self, bucket: str, key: str, upload_id: str, etags: Mapping[int, str]
    ) -> None:
        parts = "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{_escape(etags[n])}</ETag></Part>"
            for n in sorted(etags)
        )
        xml = f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode()
        request = self.build(
            "POST", bucket, key, {"uploadId": upload_id}, content=xml, length=len(xml)
        )
        response = await self.call(request, retries=0)
        root = _xml(response.content)  # S3 may answer 200 and an error, after a while
        if root is not None and _local(root.tag) == "Error":
            raise S3Error(_text(root, "Code") or "InternalError", 200, _text(root, "Message"))

    async def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        await self.call(self.build("DELETE", bucket, key, {"uploadId": upload_id}))

    async def list_parts(self, bucket: str, key: str, upload_id: str) -> list[tuple[int, str]]:
        """The parts an unfinished upload holds: (number, LastModified)."""
        response = await self.call(self.build("GET", bucket, key, {"uploadId": upload_id}))
        root = _xml(response.content)
        if root is None:
            return []
        return [
            (int(_text(part, "PartNumber") or 0), _text(part, "LastModified"))
            for part in root.iter()
            if _local(part.tag) == "Part"
        ]

    async def list_objects(
        self, bucket: str, token: str | None = None
    ) -> tuple[list[tuple[str, int, str]], str | None]:
        """One page of ListObjectsV2: (key, size, LastModified) and the next page's token."""
        query = {"list-type": "2", "max-keys": "1000"}
        if token:
            query["continuation-token"] = token
        root = _xml((await self.call(self.build("GET", bucket, "", query))).content)
        if root is None:
            return [], None
        found = [
            (_text(item, "Key"), int(_text(item, "Size") or 0), _text(item, "LastModified"))
            for item in root
            if _local(item.tag) == "Contents"
        ]
        truncated = _text(root, "IsTruncated") == "true"
        return found, (_text(root, "NextContinuationToken") or None) if truncated else None

    async def list_multipart_uploads(
        self, bucket: str, marker: tuple[str, str] | None = None
    ) -> tuple[list[tuple[str, str, str]], tuple[str, str] | None]:
        """One page of ListMultipartUploads: (key, upload id, Initiated) of each unfinished
        upload, and the (key, upload id) markers of the next page."""
        query = {"uploads": "", "max-uploads": "1000"}
        if marker is not None:
            query["key-marker"], query["upload-id-marker"] = marker
        root = _xml((await self.call(self.build("GET", bucket, "", query))).content)
        if root is None:
            return [], None
        found = [
            (_text(item, "Key"), _text(item, "UploadId"), _text(item, "Initiated"))
            for item in root
            if _local(item.tag) == "Upload"
        ]
        if _text(root, "IsTruncated") != "true":
            return found, None
        following = (_text(root, "NextKeyMarker"), _text(root, "NextUploadIdMarker"))
        return found, following if any(following) else None


async def _read_limited(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    held = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        held += len(chunk)
        if held > MAX_XML:
            break
    return b"".join(chunks)


def _raise_for(status: int, body: bytes) -> None:
    if status < 300:
        return
    root = _xml(body)
    code = _text(root, "Code") if root is not None else ""
    message = _text(root, "Message") if root is not None else ""
    raise S3Error(code or str(status), status, message)


def _xml(body: bytes) -> ET.Element | None:
    if not body.strip():
        return None
    try:
        return ET.fromstring(body)
    except ET.ParseError:
        return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(root: ET.Element | None, name: str) -> str:
    if root is None:
        return ""
    for element in root.iter():
        if _local(element.tag) == name:
            return (element.text or "").strip()
    return ""


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
