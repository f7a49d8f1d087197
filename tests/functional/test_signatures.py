"""Signed images over a real server: verified on upload, refused with nothing kept otherwise."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.functional.helpers import create, upload
from tests.server import LiveServer
from tests.signing import DAY, NOW, authority, pem, signer

DATA = b"signed image bytes " * 4096


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    return tmp_path / "certs"


@pytest.fixture
def server(server_factory: Callable[..., LiveServer], certs: Path, tmp_path: Path) -> LiveServer:
    ca = authority()
    (tmp_path / "ca.pem").write_bytes(pem(ca[1]))
    certs.mkdir()
    server = server_factory(
        "[image_signature]",
        f"certificate_dir = {certs}",
        f"trusted_ca_file = {tmp_path / 'ca.pem'}",
    )
    server.ca = ca  # type: ignore[attr-defined]
    return server


def _client(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30, trust_env=False)


def _stored(server: LiveServer) -> list[str]:
    return sorted(p.name for p in (server.data_dir / "images").iterdir())


def test_a_valid_signature_is_accepted(server: LiveServer, certs: Path) -> None:
    s = signer(issuer=server.ca)  # type: ignore[attr-defined]
    s.save(certs)
    with _client(server) as client:
        image = create(client, disk_format="raw", container_format="bare", **s.properties(DATA))
        assert upload(client, image["id"], DATA).status_code == 204
        shown = client.get(f"/v2/images/{image['id']}").json()
        assert shown["status"] == "active"
        assert client.get(f"/v2/images/{image['id']}/file").content == DATA


@pytest.mark.parametrize("case", ["wrong signature", "partial", "expired", "untrusted"])
def test_unusable_signatures_are_refused(server: LiveServer, certs: Path, case: str) -> None:
    ca = server.ca  # type: ignore[attr-defined]
    if case == "expired":
        s = signer(issuer=ca, not_before=NOW - 30 * DAY, not_after=NOW - DAY)
    elif case == "untrusted":
        s = signer()
    else:
        s = signer(issuer=ca)
    s.save(certs)
    properties = s.properties(DATA)
    if case == "wrong signature":
        properties["img_signature"] = s.sign(b"other data")
    if case == "partial":
        del properties["img_signature_key_type"]
    with _client(server) as client:
        image = create(client, disk_format="raw", container_format="bare", **properties)
        response = upload(client, image["id"], DATA)
        assert response.status_code == 400, response.text
        assert "Signature verification failed" in response.text
        assert client.get(f"/v2/images/{image['id']}").json()["status"] == "queued"
    assert _stored(server) == []
