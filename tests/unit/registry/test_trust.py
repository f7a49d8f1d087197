"""What the registry trusts, from glance-registry.conf, and what its TLS options mean."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from starlette.datastructures import Headers

from spyglass.cli.registry import tls_options
from spyglass.config import load_settings
from spyglass.errors import ConfigError
from spyglass.registry.trust import Trust


def _settings(tmp_path: Path, *lines: str) -> Trust:
    conf = tmp_path / "glance-registry.conf"
    conf.write_text("[DEFAULT]\n" + "\n".join(lines) + "\n")
    return Trust.from_settings(load_settings([conf]))


def test_a_registry_must_trust_something(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="trusts no caller"):
        _settings(tmp_path)


def test_the_shared_token_is_required_exactly(tmp_path: Path) -> None:
    trust = _settings(tmp_path, "registry_auth_token = s3cret")
    assert trust.refusal(Headers({"X-Registry-Auth-Token": "s3cret"})) is None
    assert trust.refusal(Headers({"X-Registry-Auth-Token": "s3cre"})) is not None
    assert trust.refusal(Headers({})) is not None


def test_keystone_needs_a_confirmed_admin_or_service_token(tmp_path: Path) -> None:
    trust = _settings(tmp_path, "[paste_deploy]", "flavor = keystone")
    confirmed = {"X-Identity-Status": "Confirmed"}
    assert trust.refusal(Headers({**confirmed, "X-Roles": "member,service"})) is None
    assert trust.refusal(Headers({**confirmed, "X-Roles": "Admin"})) is None
    assert trust.refusal(Headers({**confirmed, "X-Roles": "member"})) is not None
    assert trust.refusal(Headers({"X-Roles": "admin"})) is not None


def test_every_configured_check_must_pass(tmp_path: Path) -> None:
    trust = _settings(tmp_path, "registry_auth_token = t", "[paste_deploy]", "flavor = keystone")
    service = {"X-Identity-Status": "Confirmed", "X-Roles": "service"}
    assert trust.refusal(Headers(service)) is not None
    assert trust.refusal(Headers({**service, "X-Registry-Auth-Token": "t"})) is None


def test_ca_file_requires_client_certificates(tmp_path: Path) -> None:
    for name in ("cert.pem", "ca.pem"):
        (tmp_path / name).write_text("x")
    conf = tmp_path / "r.conf"
    conf.write_text(
        f"[DEFAULT]\ncert_file = {tmp_path / 'cert.pem'}\nca_file = {tmp_path / 'ca.pem'}\n"
    )
    settings = load_settings([conf])
    options = tls_options(settings)
    assert options["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    assert options["ssl_ca_certs"] == str(tmp_path / "ca.pem")
    assert Trust.from_settings(settings).certificates


def test_tls_files_must_exist(tmp_path: Path) -> None:
    conf = tmp_path / "r.conf"
    conf.write_text(f"[DEFAULT]\ncert_file = {tmp_path / 'missing.pem'}\n")
    with pytest.raises(ConfigError, match="cert_file"):
        tls_options(load_settings([conf]))
