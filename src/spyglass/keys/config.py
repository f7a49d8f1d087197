"""The signature service as ``[image_signature]`` configures it."""

from __future__ import annotations

from pathlib import Path

from spyglass.config.settings import Settings
from spyglass.errors import ConfigError
from spyglass.keys.directory import DirectoryCertificates, load_bundle
from spyglass.services.signatures import SignatureService


def signature_service(settings: Settings) -> SignatureService:
    """A missing trusted CA bundle is a start-up error: failing open would trust anyone."""
    directory = settings.option("image_signature", "certificate_dir")
    bundle = settings.option("image_signature", "trusted_ca_file")
    trusted = None
    if bundle:
        try:
            trusted = load_bundle(Path(str(bundle)))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"[image_signature] trusted_ca_file: cannot read {bundle}: {exc}"
            ) from None
    return SignatureService(
        DirectoryCertificates(Path(str(directory))) if directory else None,
        trusted_cas=trusted,
        check_validity=bool(settings.option("image_signature", "check_certificate_validity")),
    )
