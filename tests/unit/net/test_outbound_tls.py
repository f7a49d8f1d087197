"""HTTPS with the connection pinned to the checked address: the certificate is still
verified against the URL's host name (TLS SNI and hostname check), not the address."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from spyglass.errors import ConfigError, RemoteUnavailable
from spyglass.net.outbound import OutboundClient
from spyglass.net.rules import OutboundRules
from tests.http_origin import HttpOrigin

LOOPBACK = OutboundRules.build(allowed_ports=(), allowed_networks=("127.0.0.0/8",))


def _certificate(tmp: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` (its own CA), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / f"{name}.pem", tmp / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_origin(tmp_path: Path) -> Iterator[tuple[HttpOrigin, Path]]:
    cert, key = _certificate(tmp_path, "images.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with HttpOrigin(tls=context) as origin:
        yield origin, cert


async def _loopback(host: str, port: int) -> list[str]:
    return [str(ipaddress.ip_address("127.0.0.1"))]


async def test_the_certificate_is_checked_against_the_name(
    tls_origin: tuple[HttpOrigin, Path],
) -> None:
    origin, ca = tls_origin
    origin.put("/a.img", b"secure bytes")
    client = OutboundClient(LOOPBACK, verify=str(ca), resolver=_loopback)
    try:
        info = await client.head(origin.url("/a.img", host="images.test"))
        assert info.size == len(b"secure bytes")
        # the same server by another name (or by its address) fails verification
        with pytest.raises(RemoteUnavailable):
            await client.head(origin.url("/a.img", host="other.test"))
        with pytest.raises(RemoteUnavailable):
            await client.head(origin.url("/a.img"))
    finally:
        await client.aclose()
    assert [s.host for s in origin.seen] == [f"images.test:{origin.port}"]


async def test_https_insecure_skips_the_check(tls_origin: tuple[HttpOrigin, Path]) -> None:
    origin, _ = tls_origin
    origin.put("/a.img", b"bytes")
    client = OutboundClient(LOOPBACK, verify=False, resolver=_loopback)
    try:
        size, stream = await client.open(origin.url("/a.img", host="other.test"))
        assert (size, b"".join([c async for c in stream])) == (5, b"bytes")
    finally:
        await client.aclose()


def test_an_unreadable_ca_bundle_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="https_ca_certificates_file"):
        OutboundClient(LOOPBACK, verify=str(tmp_path / "missing.pem"))
