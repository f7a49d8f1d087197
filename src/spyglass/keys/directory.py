"""Signing certificates from a directory: ``<certificate id>.pem``, ``.der`` or no suffix.

Upstream Glance fetches certificates from Barbican through castellan. A directory the
operator (or a test) fills is enough for a single site and needs no extra service; a
Barbican adapter can implement the same :class:`~spyglass.services.signatures.CertificateSource`.
"""

from __future__ import annotations

import re
from pathlib import Path

import anyio.to_thread
from cryptography import x509

from spyglass.services.signatures import SignatureVerificationFailed

_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
_SUFFIXES = (".pem", ".der", ".crt", "")


def load_certificate(data: bytes) -> x509.Certificate:
    """PEM or DER, whichever ``data`` is."""
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def load_bundle(path: Path) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle (the trusted CAs)."""
    return x509.load_pem_x509_certificates(path.read_bytes())


class DirectoryCertificates:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def certificate(self, certificate_id: str) -> x509.Certificate:
        # The id comes from an image property: it must name a file inside the directory.
        if not _SAFE_ID.fullmatch(certificate_id) or ".." in certificate_id:
            raise SignatureVerificationFailed(
                f"Signature verification failed: invalid certificate id {certificate_id!r}."
            )
        return await anyio.to_thread.run_sync(self._read, certificate_id)

    def _read(self, certificate_id: str) -> x509.Certificate:
        for suffix in _SUFFIXES:
            path = self.directory / f"{certificate_id}{suffix}"
            if path.is_file():
                try:
                    return load_certificate(path.read_bytes())
                except ValueError:
                    raise SignatureVerificationFailed(
                        f"Signature verification failed: certificate {certificate_id} "
                        "cannot be read."
                    ) from None
        raise SignatureVerificationFailed(
            f"Signature verification failed: no certificate {certificate_id} in the key manager."
        )
