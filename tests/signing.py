"""Keys, certificates and signatures made by the tests, in the scheme Nova and Glance share."""

from __future__ import annotations

import base64
import datetime
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from cryptography.x509.oid import NameOID

PrivateKey = rsa.RSAPrivateKey | dsa.DSAPrivateKey | ec.EllipticCurvePrivateKey
NOW = datetime.datetime.now(datetime.UTC)
DAY = datetime.timedelta(days=1)


@dataclass
class Signer:
    key: PrivateKey
    certificate: x509.Certificate
    key_type: str
    certificate_id: str

    def sign(self, data: bytes, hash_method: str = "SHA-256") -> str:
        algorithm = {"SHA-224": hashes.SHA224(), "SHA-256": hashes.SHA256()}.get(
            hash_method, hashes.SHA512() if hash_method == "SHA-512" else hashes.SHA384()
        )
        if isinstance(self.key, rsa.RSAPrivateKey):
            pss = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.MAX_LENGTH)
            signature = self.key.sign(data, pss, algorithm)
        elif isinstance(self.key, dsa.DSAPrivateKey):
            signature = self.key.sign(data, algorithm)
        else:
            signature = self.key.sign(data, ec.ECDSA(algorithm))
        return base64.b64encode(signature).decode()

    def properties(self, data: bytes, hash_method: str = "SHA-256") -> dict[str, str]:
        return {
            "img_signature": self.sign(data, hash_method),
            "img_signature_hash_method": hash_method,
            "img_signature_key_type": self.key_type,
            "img_signature_certificate_uuid": self.certificate_id,
        }

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        pem = self.certificate.public_bytes(serialization.Encoding.PEM)
        (directory / f"{self.certificate_id}.pem").write_bytes(pem)


def new_key(key_type: str) -> PrivateKey:
    if key_type == "RSA-PSS":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "DSA":
        return dsa.generate_private_key(key_size=2048)
    curves = {"ECC_SECP256R1": ec.SECP256R1(), "ECC_SECP384R1": ec.SECP384R1()}
    return ec.generate_private_key(curves.get(key_type, ec.SECP521R1()))


def certificate(
    key: PrivateKey,
    name: str,
    *,
    issuer: tuple[PrivateKey, x509.Certificate] | None = None,
    ca: bool = False,
    not_before: datetime.datetime = NOW - DAY,
    not_after: datetime.datetime = NOW + 30 * DAY,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signing_key, issuer_name = (key, subject) if issuer is None else (issuer[0], issuer[1].subject)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(signing_key, hashes.SHA256())


def signer(
    key_type: str = "RSA-PSS",
    *,
    issuer: tuple[PrivateKey, x509.Certificate] | None = None,
    not_before: datetime.datetime = NOW - DAY,
    not_after: datetime.datetime = NOW + 30 * DAY,
) -> Signer:
    key = new_key(key_type)
    cert = certificate(
        key, "image signer", issuer=issuer, not_before=not_before, not_after=not_after
    )
    return Signer(key, cert, key_type, str(uuid.uuid4()))


def authority() -> tuple[PrivateKey, x509.Certificate]:
    key = new_key("ECC_SECP256R1")
    return key, certificate(key, "image signing CA", ca=True)


def pem(*certificates: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)
