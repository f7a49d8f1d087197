"""Image signature verification: the ``img_signature*`` properties, checked against the data.

The scheme is the one Nova, Cinder and upstream Glance share (the ``cursive`` library's): the
image's bytes are hashed with ``img_signature_hash_method``, and ``img_signature`` (base64) must
be a signature of that hash by the key in the X.509 certificate that the key manager holds under
``img_signature_certificate_uuid``, of type ``img_signature_key_type``.

Written here rather than through ``cursive`` because cursive reaches certificates only through
castellan's key-manager services; Spyglass takes them from a small :class:`CertificateSource`
port (a directory of certificates is the built-in backend), and it also refuses what upstream
accepts: a partial set of signature properties, a certificate outside its validity period, and,
when a trusted CA bundle is configured, a certificate that does not chain to it.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa, utils

from spyglass.errors import BadRequest
from spyglass.streams.tap import tap
from spyglass.types import ByteStream

SIGNATURE = "img_signature"
HASH_METHOD = "img_signature_hash_method"
KEY_TYPE = "img_signature_key_type"
CERTIFICATE = "img_signature_certificate_uuid"
PROPERTIES = (SIGNATURE, HASH_METHOD, KEY_TYPE, CERTIFICATE)

_HASHES: Mapping[str, type[hashes.HashAlgorithm]] = {
    "SHA-224": hashes.SHA224,
    "SHA-256": hashes.SHA256,
    "SHA-384": hashes.SHA384,
    "SHA-512": hashes.SHA512,
}
_CURVES: Mapping[str, type[ec.EllipticCurve]] = {
    "ECC_SECP256R1": ec.SECP256R1,
    "ECC_SECP384R1": ec.SECP384R1,
    "ECC_SECP521R1": ec.SECP521R1,
}
"""cursive's binary curves (``ECC_SECT409K1`` ...) are absent: cryptography 50 dropped them."""
KEY_TYPES = ("RSA-PSS", "DSA", *_CURVES)
_MAX_CHAIN = 8


class SignatureVerificationFailed(BadRequest):
    """The image's signature properties are unusable, or the data does not match them."""

    code = "signature_verification_failed"


class CertificateSource(Protocol):
    """Where signing certificates come from (upstream: castellan's key manager)."""

    async def certificate(self, certificate_id: str) -> x509.Certificate:
        """The certificate stored under ``certificate_id``; ``SignatureVerificationFailed``
        when there is none."""
        ...


@dataclass(frozen=True, slots=True)
class SignatureRequest:
    """The four signature properties of one image, parsed and checked for shape."""

    signature: bytes
    hash_method: str
    key_type: str
    certificate_id: str

    @classmethod
    def of(cls, properties: Mapping[str, object]) -> SignatureRequest | None:
        """``None`` for an unsigned image; refuses a partial or malformed set."""
        present = [name for name in PROPERTIES if properties.get(name) not in (None, "")]
        if not present:
            return None
        missing = [name for name in PROPERTIES if name not in present]
        if missing:
            raise SignatureVerificationFailed(
                "Signature verification failed: the image has "
                f"{', '.join(present)} but not {', '.join(missing)}; "
                "set all four signature properties or none."
            )
        hash_method = str(properties[HASH_METHOD])
        key_type = str(properties[KEY_TYPE])
        if hash_method not in _HASHES:
            raise SignatureVerificationFailed(
                f"Signature verification failed: invalid {HASH_METHOD} {hash_method!r} "
                f"(one of {', '.join(_HASHES)})."
            )
        if key_type not in KEY_TYPES:
            raise SignatureVerificationFailed(
                f"Signature verification failed: invalid {KEY_TYPE} {key_type!r} "
                f"(one of {', '.join(KEY_TYPES)})."
            )
        try:
            signature = base64.b64decode(str(properties[SIGNATURE]), validate=True)
        except (binascii.Error, ValueError):
            raise SignatureVerificationFailed(
                f"Signature verification failed: {SIGNATURE} is not valid base64."
            ) from None
        return cls(signature, hash_method, key_type, str(properties[CERTIFICATE]))


class SignatureVerifier:
    """Hashes the data as it streams (in a worker thread) and checks the signature at the end."""

    def __init__(self, request: SignatureRequest, certificate: x509.Certificate) -> None:
        self._request = request
        self._algorithm = _HASHES[request.hash_method]()
        self._hash = hashlib.new(self._algorithm.name)
        self._key = _public_key(certificate, request.key_type)

    async def wrap(self, source: ByteStream) -> ByteStream:
        async for chunk in tap(source, self._hash.update):
            yield chunk

    def verify(self) -> None:
        """Raise ``SignatureVerificationFailed`` unless the signature matches the data."""
        digest = self._hash.digest()
        prehashed = utils.Prehashed(self._algorithm)
        signature = self._request.signature
        try:
            if isinstance(self._key, rsa.RSAPublicKey):
                pss = padding.PSS(
                    mgf=padding.MGF1(self._algorithm), salt_length=padding.PSS.MAX_LENGTH
                )
                self._key.verify(signature, digest, pss, prehashed)
            elif isinstance(self._key, dsa.DSAPublicKey):
                self._key.verify(signature, digest, prehashed)
            else:
                self._key.verify(signature, digest, ec.ECDSA(prehashed))
        except InvalidSignature:
            raise SignatureVerificationFailed(
                "Signature verification failed: the signature does not match the image data."
            ) from None


PublicKey = rsa.RSAPublicKey | dsa.DSAPublicKey | ec.EllipticCurvePublicKey


def _public_key(certificate: x509.Certificate, key_type: str) -> PublicKey:
    key = certificate.public_key()
    if key_type == "RSA-PSS" and isinstance(key, rsa.RSAPublicKey):
        return key
    if key_type == "DSA" and isinstance(key, dsa.DSAPublicKey):
        return key
    curve = _CURVES.get(key_type)
    if (
        curve is not None
        and isinstance(key, ec.EllipticCurvePublicKey)
        and isinstance(key.curve, curve)
    ):
        return key
    raise SignatureVerificationFailed(
        f"Signature verification failed: the certificate's key is not of {KEY_TYPE} {key_type}."
    )


class SignatureService:
    """Builds a verifier for a signed image, after checking its certificate."""

    def __init__(
        self,
        certificates: CertificateSource | None,
        *,
        trusted_cas: list[x509.Certificate] | None = None,
        check_validity: bool = True,
    ) -> None:
        self.certificates = certificates
        self.trusted_cas = trusted_cas
        self.check_validity = check_validity

    async def verifier_for(self, properties: Mapping[str, object]) -> SignatureVerifier | None:
        """``None`` for an unsigned image; raises before any byte is read if the
        signature can never verify (unknown certificate, expired, untrusted)."""
        request = SignatureRequest.of(properties)
        if request is None:
            return None
        if self.certificates is None:
            raise SignatureVerificationFailed(
                "Signature verification failed: this server has no key manager for "
                "signing certificates ([image_signature] certificate_dir)."
            )
        certificate = await self.certificates.certificate(request.certificate_id)
        now = datetime.datetime.now(datetime.UTC)
        if self.check_validity:
            _check_period(certificate, now)
        if self.trusted_cas is not None:
            _check_chain(certificate, self.trusted_cas, now)
        return SignatureVerifier(request, certificate)


def _check_period(certificate: x509.Certificate, now: datetime.datetime) -> None:
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise SignatureVerificationFailed(
            "Signature verification failed: the signing certificate is valid from "
            f"{certificate.not_valid_before_utc.isoformat()} to "
            f"{certificate.not_valid_after_utc.isoformat()}, not now."
        )


def _check_chain(
    certificate: x509.Certificate, bundle: list[x509.Certificate], now: datetime.datetime
) -> None:
    """Walk issuers in ``bundle`` up to a self-signed one (which is the trust anchor).

    Every certificate on the way must be inside its validity period and be a CA
    (basicConstraints). A plain walk is enough here: the bundle is the operator's own,
    and there is no host name or usage to match, which is what cryptography's
    verifier policies are built around.
    """
    current = certificate
    for _ in range(_MAX_CHAIN):
        issuer = next((ca for ca in bundle if _issued_by(current, ca)), None)
        if issuer is None:
            break
        _check_period(issuer, now)
        if not _is_ca(issuer):
            break
        if issuer.issuer == issuer.subject:
            return
        current = issuer
    raise SignatureVerificationFailed(
        "Signature verification failed: the signing certificate does not chain to a "
        "trusted certificate authority."
    )


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    if certificate.issuer != issuer.subject:
        return False
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False
