"""S3 location URIs, as upstream Glance writes them and as Spyglass writes them.

Upstream's form is ``s3://ACCESS:SECRET@HOST[:PORT][/PATH]/BUCKET/KEY`` (``s3+https://`` for an
HTTPS endpoint): the credentials travel in every location, so anyone who may read locations
could read them. Spyglass writes the same URI without the ``ACCESS:SECRET@`` part, which
upstream's parser accepts as well, and reads both forms with the store's configured
credentials: whatever credentials a legacy location carries are ignored, and never shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from spyglass.errors import BadStoreUri

SCHEMES = ("s3", "s3+http", "s3+https")
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,1023}\Z")
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}\Z")


@dataclass(frozen=True, slots=True)
class S3Location:
    """Where an object lives: ``service`` is the endpoint without scheme or credentials
    (``host[:port][/path]``, lowercase host), then bucket and key."""

    scheme: str
    service: str
    bucket: str
    key: str

    def uri(self) -> str:
        return f"{self.scheme}://{self.service}/{self.bucket}/{self.key}"


def service_of(host: str) -> tuple[str, bool]:
    """The ``service`` part of a configured ``s3_store_host`` and whether it is HTTPS.

    ``s3.example.com``, ``http://127.0.0.1:5000/`` and ``https://s3.example.com`` are all
    accepted, as upstream does (no scheme means HTTP).
    """
    text = host.strip()
    secure = text.lower().startswith("https://")
    _, sep, rest = text.partition("://")
    return _normal_service(rest if sep else text), secure


def parse(url: str) -> S3Location:
    """Split an S3 location; the error never repeats the URL, which may hold a secret."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        raise BadStoreUri("Invalid location for the S3 store: not an s3:// URI.")
    if "://" in rest:
        raise BadStoreUri(
            "Invalid S3 location: it holds a second scheme (use s3+https://HOST/... "
            "rather than s3://...@https://HOST/...)."
        )
    cut = rest.rfind("@")  # secret keys may hold "/", so credentials end at the last "@"
    path = rest[cut + 1 :].strip("/")
    parts = path.split("/")
    if len(parts) < 3 or not all(parts):
        raise BadStoreUri("Invalid S3 location: expected s3://HOST/BUCKET/KEY.")
    *service, bucket, key = parts
    if not _BUCKET.match(bucket) or any(part in (".", "..") for part in service):
        raise BadStoreUri("Invalid S3 location: bad bucket or endpoint path.")
    if not _KEY.match(key):
        raise BadStoreUri("Invalid S3 location: the object key is not an image id.")
    return S3Location(scheme, _normal_service("/".join(service)), bucket, key)


def _normal_service(service: str) -> str:
    host, slash, path = service.strip().strip("/").partition("/")
    return f"{host.lower()}{slash}{path}"
