"""Signature verification: every key type, and every way a signature can be unusable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from spyglass.keys.directory import DirectoryCertificates
from spyglass.services.signatures import (
    SignatureRequest,
    SignatureService,
    SignatureVerificationFailed,
)
from tests.signing import DAY, NOW, Signer, authority, signer

DATA = b"a disk image, in two chunks " * 1000


async def _stream(data: bytes) -> AsyncIterator[bytes]:
    yield data[:1000]
    yield data[1000:]


async def _verify(service: SignatureService, properties: dict[str, str], data: bytes) -> None:
    verifier = await service.verifier_for(properties)
    assert verifier is not None
    assert b"".join([chunk async for chunk in verifier.wrap(_stream(data))]) == data
    verifier.verify()


def _service(tmp_path: Path, *signers: Signer, **kw: object) -> SignatureService:
    for s in signers:
        s.save(tmp_path / "certs")
    return SignatureService(DirectoryCertificates(tmp_path / "certs"), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("key_type", ["RSA-PSS", "DSA", "ECC_SECP256R1", "ECC_SECP384R1"])
@pytest.mark.parametrize("hash_method", ["SHA-256", "SHA-512"])
async def test_a_valid_signature_verifies(tmp_path: Path, key_type: str, hash_method: str) -> None:
    s = signer(key_type)
    await _verify(_service(tmp_path, s), s.properties(DATA, hash_method), DATA)


async def test_other_data_does_not_verify(tmp_path: Path) -> None:
    s = signer()
    with pytest.raises(SignatureVerificationFailed, match="does not match the image data"):
        await _verify(_service(tmp_path, s), s.properties(DATA), DATA + b"!")


async def test_another_keys_signature_does_not_verify(tmp_path: Path) -> None:
    s, other = signer(), signer()
    properties = {**s.properties(DATA), "img_signature": other.sign(DATA)}
    with pytest.raises(SignatureVerificationFailed):
        await _verify(_service(tmp_path, s), properties, DATA)


def test_unsigned_images_need_no_verification() -> None:
    assert SignatureRequest.of({"os_distro": "debian"}) is None


@pytest.mark.parametrize(
    "drop", ["img_signature", "img_signature_hash_method", "img_signature_certificate_uuid"]
)
def test_a_partial_set_of_properties_is_refused(drop: str) -> None:
    properties = signer().properties(DATA)
    del properties[drop]
    with pytest.raises(SignatureVerificationFailed, match=f"but not {drop}"):
        SignatureRequest.of(properties)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("img_signature", "not base64!", "not valid base64"),
        ("img_signature_hash_method", "MD5", "invalid img_signature_hash_method"),
        ("img_signature_key_type", "ECC_SECT571K1", "invalid img_signature_key_type"),
    ],
)
def test_malformed_properties_are_refused(name: str, value: str, message: str) -> None:
    properties = {**signer().properties(DATA), name: value}
    with pytest.raises(SignatureVerificationFailed, match=message):
        SignatureRequest.of(properties)


async def test_the_key_type_must_be_the_certificates(tmp_path: Path) -> None:
    s = signer("RSA-PSS")
    properties = {**s.properties(DATA), "img_signature_key_type": "ECC_SECP256R1"}
    with pytest.raises(SignatureVerificationFailed, match="not of img_signature_key_type"):
        await _service(tmp_path, s).verifier_for(properties)


async def test_an_unknown_certificate_is_refused(tmp_path: Path) -> None:
    s = signer()
    service = _service(tmp_path, signer())
    with pytest.raises(SignatureVerificationFailed, match="no certificate"):
        await service.verifier_for(s.properties(DATA))


@pytest.mark.parametrize("certificate_id", ["../../etc/passwd", "a/b", ".hidden", "x" * 300])
async def test_certificate_ids_cannot_leave_the_directory(
    tmp_path: Path, certificate_id: str
) -> None:
    properties = {**signer().properties(DATA), "img_signature_certificate_uuid": certificate_id}
    with pytest.raises(SignatureVerificationFailed, match="invalid certificate id"):
        await _service(tmp_path).verifier_for(properties)


async def test_a_server_without_a_key_manager_refuses_signed_images() -> None:
    with pytest.raises(SignatureVerificationFailed, match="no key manager"):
        await SignatureService(None).verifier_for(signer().properties(DATA))


@pytest.mark.parametrize(
    ("not_before", "not_after"), [(NOW - 30 * DAY, NOW - DAY), (NOW + DAY, NOW + 30 * DAY)]
)
async def test_certificates_outside_their_validity_are_refused(
    tmp_path: Path, not_before: object, not_after: object
) -> None:
    s = signer(not_before=not_before, not_after=not_after)  # type: ignore[arg-type]
    with pytest.raises(SignatureVerificationFailed, match="not now"):
        await _service(tmp_path, s).verifier_for(s.properties(DATA))
    lenient = _service(tmp_path, s, check_validity=False)
    await _verify(lenient, s.properties(DATA), DATA)


async def test_a_chain_to_a_trusted_ca_is_accepted(tmp_path: Path) -> None:
    ca = authority()
    s = signer("ECC_SECP384R1", issuer=ca)
    await _verify(_service(tmp_path, s, trusted_cas=[ca[1]]), s.properties(DATA), DATA)


async def test_certificates_not_issued_by_a_trusted_ca_are_refused(tmp_path: Path) -> None:
    trusted, other = authority(), authority()
    for s in (signer(), signer(issuer=other)):
        service = _service(tmp_path, s, trusted_cas=[trusted[1]])
        with pytest.raises(SignatureVerificationFailed, match="does not chain"):
            await service.verifier_for(s.properties(DATA))
