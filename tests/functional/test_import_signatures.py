"""Signed images through stage + glance-direct: the signature is checked on what the
import stores; a wrong one fails the import with nothing kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.backends import DATA_PATH
from tests.functional.helpers import OCTET, create
from tests.functional.test_import import wait_for
from tests.server import LiveServer
from tests.signing import authority, pem, signer

pytestmark = pytest.mark.backends(*DATA_PATH)  # what they check is not where tasks live

DATA = b"signed import bytes " * 4096


@pytest.fixture
def server(server_factory: Callable[..., LiveServer], tmp_path: Path) -> LiveServer:
    ca = authority()
    (tmp_path / "ca.pem").write_bytes(pem(ca[1]))
    (tmp_path / "certs").mkdir()
    server = server_factory(
        f"node_staging_uri = file://{tmp_path}/staging",
        "[image_signature]",
        f"certificate_dir = {tmp_path / 'certs'}",
        f"trusted_ca_file = {tmp_path / 'ca.pem'}",
    )
    server.ca = ca  # type: ignore[attr-defined]
    return server


@pytest.mark.parametrize("good", [True, False])
def test_signed_import(server: LiveServer, tmp_path: Path, good: bool) -> None:
    s = signer(issuer=server.ca)  # type: ignore[attr-defined]
    s.save(tmp_path / "certs")
    properties = s.properties(DATA)
    if not good:
        properties["img_signature"] = s.sign(b"other bytes")
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as api:
        image_id = create(api, disk_format="raw", container_format="bare", **properties)["id"]
        assert api.put(f"/v2/images/{image_id}/stage", content=DATA, headers=OCTET).is_success
        body = {"method": {"name": "glance-direct"}}
        assert api.post(f"/v2/images/{image_id}/import", json=body).status_code == 202
        image = wait_for(api, image_id, "active", "queued")
        if good:
            assert image["status"] == "active"
            assert api.get(f"/v2/images/{image_id}/file").content == DATA
            return
        assert image["status"] == "queued"
        task = api.get(f"/v2/images/{image_id}/tasks").json()["tasks"][0]
        assert "Signature verification failed" in task["message"]
    assert sorted(p.name for p in (server.data_dir / "images").iterdir()) == []
    assert list((tmp_path / "staging").iterdir()) == []
